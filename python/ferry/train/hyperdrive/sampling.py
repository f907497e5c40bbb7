"""``azureml.train.hyperdrive.sampling``.

The names load on first use (``ferry._lazy``)."""

from ..._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "HyperParameterSampling": "ferry.hyperdrive",
    "RandomParameterSampling": "ferry.hyperdrive",
    "GridParameterSampling": "ferry.hyperdrive",
    "BayesianParameterSampling": "ferry.hyperdrive",
})
