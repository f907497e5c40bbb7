"""``azureml.core.workspace``: the :class:`Workspace`.

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "Workspace": "ferry.workspace",
    "VERSION": "ferry._version:__version__",
})
