"""``azureml.pipeline.core.run``: PipelineRun and StepRun.

The names load on first use (``ferry._lazy``)."""

from ..._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "PipelineRun": "ferry.pipeline_run",
    "StepRun": "ferry.pipeline_run",
})
