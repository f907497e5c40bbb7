"""``azureml.train.hyperdrive.runconfig``.

The names load on first use (``ferry._lazy``)."""

from ..._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "HyperDriveConfig": "ferry.hyperdrive",
    "PrimaryMetricGoal": "ferry.hyperdrive",
})
