"""``azureml.train`` as ``ferry.train``: hyperparameter sweeps (``ferry.train.hyperdrive``) and estimators.

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {})
