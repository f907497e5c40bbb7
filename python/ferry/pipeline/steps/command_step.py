"""``azureml.pipeline.steps.command_step``: CommandStep.

The names load on first use (``ferry._lazy``)."""

from ..._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "CommandStep": "ferry.pipeline_steps",
})
