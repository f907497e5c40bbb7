"""``azureml.core.environment``: the :class:`Environment` and its sections.

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "Environment": "ferry.environment",
    "PythonSection": "ferry.environment",
    "DockerSection": "ferry.environment",
    "PythonEnvironment": "ferry.environment",
    "DockerEnvironment": "ferry.environment",
    "DEFAULT_CPU_IMAGE": "ferry.environment",
    "DEFAULT_GPU_IMAGE": "ferry.environment",
    "CondaDependencies": "ferry.conda_dependencies",  # Azure imports it into this module too
})
