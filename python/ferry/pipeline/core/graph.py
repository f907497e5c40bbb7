"""``azureml.pipeline.core.graph``: PipelineParameter (Azure's other graph classes are not built).

The names load on first use (``ferry._lazy``)."""

from ..._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "PipelineParameter": "ferry.pipelines",
})
