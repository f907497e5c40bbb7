"""``azureml.data.tabular_dataset``: the :class:`TabularDataset`.

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "TabularDataset": "ferry.data._dataset",
})
