"""``azureml.train.hyperdrive.run``.

The names load on first use (``ferry._lazy``)."""

from ..._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "HyperDriveRun": "ferry.hyperdrive",
    "PrimaryMetricGoal": "ferry.hyperdrive",  # Azure imports it into this module too
    "HyperDriveConfig": "ferry.hyperdrive",  # Azure imports it into this module too
})
