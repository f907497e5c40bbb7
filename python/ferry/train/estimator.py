"""``azureml.train.estimator``: the generic :class:`Estimator` and the distributed backends
(deprecated in Azure ML; they build a ScriptRunConfig).

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "Estimator": "ferry._estimators",
    "Mpi": "ferry._estimators",
    "Gloo": "ferry._estimators",
    "Nccl": "ferry._estimators",
    "ParameterServer": "ferry._estimators",
})
