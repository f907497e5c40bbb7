"""``azureml.data.file_dataset``: the :class:`FileDataset`.

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "FileDataset": "ferry.data._dataset",
})
