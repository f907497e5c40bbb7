"""Azure ML SDK v1's ``azureml.pipeline`` as ``ferry.pipeline``. Published pipelines, pipeline
endpoints and schedules live in ``ferry.pipeline._published`` (exported here and, once the SDK's
``ferry.pipeline.core`` exists, from it)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "PublishedPipeline": "ferry.pipeline._published",
    "PipelineEndpoint": "ferry.pipeline._published",
    "Schedule": "ferry.pipeline._published",
    "ScheduleRecurrence": "ferry.pipeline._published",
    "TimeZone": "ferry.pipeline._published",
})
