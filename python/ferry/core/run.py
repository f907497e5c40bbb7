"""``azureml.core.run``: the :class:`Run`.

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "Run": "ferry.run",
    "Environment": "ferry.environment",  # Azure imports it into this module too
    "Datastore": "ferry.datastore",  # Azure imports it into this module too
    "get_run": "ferry.run",
    "OUTPUTS_DIR": "ferry._azure_constants",
})
