"""``azureml.core.script_run_config``: the :class:`ScriptRunConfig`.

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "ScriptRunConfig": "ferry.script_run_config",
    "RunConfiguration": "ferry.run_configuration",  # Azure imports it into this module too
    "MpiConfiguration": "ferry.run_configuration",  # Azure imports it into this module too
    "PyTorchConfiguration": "ferry.run_configuration",  # Azure imports it into this module too
    "TensorflowConfiguration": "ferry.run_configuration",  # Azure imports it into this module too
    "DockerConfiguration": "ferry.run_configuration",  # Azure imports it into this module too
    "DataPath": "ferry.data.datapath",  # Azure imports it into this module too
    "DataPathComputeBinding": "ferry.data.datapath",  # Azure imports it into this module too
    "get_run_config_from_script_run": "ferry.script_run_config",
    "submit": "ferry.script_run_config",
})
