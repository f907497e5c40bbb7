"""``azureml.core.model``: the :class:`Model` registry.

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "Model": "ferry.model",
    "Dataset": "ferry.dataset",  # Azure imports it into this module too
    "Environment": "ferry.environment",  # Azure imports it into this module too
    "Experiment": "ferry.experiment",  # Azure imports it into this module too
})
