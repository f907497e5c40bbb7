"""``azureml.pipeline.steps.parallel_run_config``: ParallelRunConfig.

The names load on first use (``ferry._lazy``)."""

from ..._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "ParallelRunConfig": "ferry.parallel_run_step",
})
