"""``azureml.train.hyperdrive.policy``.

The names load on first use (``ferry._lazy``)."""

from ..._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "EarlyTerminationPolicy": "ferry.hyperdrive",
    "BanditPolicy": "ferry.hyperdrive",
    "MedianStoppingPolicy": "ferry.hyperdrive",
    "TruncationSelectionPolicy": "ferry.hyperdrive",
    "NoTerminationPolicy": "ferry.hyperdrive",
})
