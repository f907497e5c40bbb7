"""``azureml.pipeline.core``: a pipeline, its data and parameters, and its runs.

The names load on first use (``ferry._lazy``)."""

from ..._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "Pipeline": "ferry.pipelines",
    "PipelineData": "ferry.pipelines",
    "PipelineParameter": "ferry.pipelines",
    "StepSequence": "ferry.pipelines",
    "PipelineStep": "ferry.pipeline_steps",
    "PipelineRun": "ferry.pipeline_run",
    "StepRun": "ferry.pipeline_run",
    "PublishedPipeline": "ferry.pipeline._published",
    "PipelineEndpoint": "ferry.pipeline._published",
    "Schedule": "ferry.pipeline._published",
    "ScheduleRecurrence": "ferry.pipeline._published",
    "TimeZone": "ferry.pipeline._published",
})
