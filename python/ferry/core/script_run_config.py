"""``azureml.core.script_run_config``: the :class:`ScriptRunConfig`.

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "ScriptRunConfig": "ferry.script_run_config",
})
