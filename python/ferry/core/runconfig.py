"""``azureml.core.runconfig``: run configurations, the distributed job configurations, the
container settings and the default images.

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "RunConfiguration": "ferry.run_configuration",
    "MpiConfiguration": "ferry.run_configuration",
    "PyTorchConfiguration": "ferry.run_configuration",
    "TensorflowConfiguration": "ferry.run_configuration",
    "DockerConfiguration": "ferry.run_configuration",
    "DEFAULT_CPU_IMAGE": "ferry.run_configuration",
    "DEFAULT_GPU_IMAGE": "ferry.run_configuration",
    "MPI_CPU_IMAGE": "ferry.run_configuration",
    "MPI_GPU_IMAGE": "ferry.run_configuration",
    "HistoryConfiguration": "ferry.run_configuration",
    "AmlComputeConfiguration": "ferry.run_configuration",
    "LOCAL_RUNCONFIG_NAME": "ferry.run_configuration",
    "RUNCONFIGURATION_EXTENSION": "ferry.run_configuration",
    "COMPUTECONTEXT_EXTENSION": "ferry.run_configuration",
    "AML_CONFIG_DIR": "ferry.run_configuration",
    "AZUREML_DIR": "ferry.run_configuration",
    "CondaDependencies": "ferry.conda_dependencies",  # Azure imports it into this module too
    "Environment": "ferry.environment",  # Azure imports it into this module too
    "EnvironmentDefinition": "ferry.environment:Environment",  # Azure's deprecated subclass of Environment
    "PythonSection": "ferry.environment",  # Azure imports it into this module too
    "DockerSection": "ferry.environment",  # Azure imports it into this module too
    "DatasetConsumptionConfig": "ferry.data.dataset_consumption_config",  # Azure imports it into this module too
    "ComputeTarget": "ferry.compute",  # Azure imports it into this module too
})
