"""``azureml.core.conda_dependencies``: :class:`CondaDependencies`.

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "CondaDependencies": "ferry.conda_dependencies",
    "CONDA_FILE_NAME": "ferry.conda_dependencies",
})
