"""``azureml.core.compute``: compute targets and their configurations.

The names load on first use (``ferry._lazy``)."""

from ..._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "ComputeTarget": "ferry.compute",
    "AmlCompute": "ferry.compute",
    "RemoteCompute": "ferry.compute",
    "ComputeInstance": "ferry.compute",
    "SlurmCompute": "ferry.compute",
})
