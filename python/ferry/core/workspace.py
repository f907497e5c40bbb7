"""``azureml.core.workspace``: the :class:`Workspace`.

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "Workspace": "ferry.workspace",
    "VERSION": "ferry._version:__version__",
    "ComputeTarget": "ferry.compute",  # Azure imports it into this module too
    "AmlCompute": "ferry.compute",  # Azure imports it into this module too
    "Model": "ferry.model",  # Azure imports it into this module too
    "Dataset": "ferry.dataset",  # Azure imports it into this module too
    "WORKSPACE_DEFAULT_BLOB_STORE_NAME": "ferry._azure_constants",
})
