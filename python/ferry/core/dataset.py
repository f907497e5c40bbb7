"""``azureml.core.dataset``: the :class:`Dataset` factories and registry.

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "Dataset": "ferry.dataset",
})
