"""``azureml.core.experiment``: the :class:`Experiment`.

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "Experiment": "ferry.experiment",
    "ViewType": "ferry.experiment",
    "DEFAULT_GPU_IMAGE": "ferry.run_configuration",
})
