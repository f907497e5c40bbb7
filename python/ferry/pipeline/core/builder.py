"""``azureml.pipeline.core.builder``: PipelineData, PipelineStep, StepSequence.

The names load on first use (``ferry._lazy``)."""

from ..._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "PipelineData": "ferry.pipelines",
    "StepSequence": "ferry.pipelines",
    "PipelineStep": "ferry.pipeline_steps",
})
