"""Azure ML SDK v1's ``azureml.pipeline`` as ``ferry.pipeline``: ``ferry.pipeline.core`` (Pipeline,
PipelineData, PipelineParameter, PipelineRun, StepRun, PublishedPipeline, PipelineEndpoint,
Schedule, ScheduleRecurrence, TimeZone) and ``ferry.pipeline.steps`` (PythonScriptStep,
CommandStep, ParallelRunStep). The implementation lives in ``ferry.pipelines``,
``ferry.pipeline_steps``, ``ferry.pipeline_run``, ``ferry.parallel_run_step`` and
``ferry.pipeline._published``; these modules map Azure's paths onto it."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "PublishedPipeline": "ferry.pipeline._published",
    "PipelineEndpoint": "ferry.pipeline._published",
    "Schedule": "ferry.pipeline._published",
    "ScheduleRecurrence": "ferry.pipeline._published",
    "TimeZone": "ferry.pipeline._published",
})
