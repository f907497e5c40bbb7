"""``azureml.core.runconfig``: run configurations and the distributed job configurations.

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "RunConfiguration": "ferry.run_configuration",
    "MpiConfiguration": "ferry.script_run_config",
    "PyTorchConfiguration": "ferry.script_run_config",
    "TensorflowConfiguration": "ferry.script_run_config",
})
