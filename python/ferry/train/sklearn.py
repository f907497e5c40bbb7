"""``azureml.train.sklearn``: the :class:`SKLearn` estimator (deprecated in Azure ML).

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "SKLearn": "ferry._estimators",
})
