"""``azureml.pipeline.steps``: the steps a pipeline is made of (PythonScriptStep, CommandStep,
ParallelRunStep with its ParallelRunConfig).

The names load on first use (``ferry._lazy``)."""

from ..._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "PythonScriptStep": "ferry.pipeline_steps",
    "CommandStep": "ferry.pipeline_steps",
    "ParallelRunConfig": "ferry.parallel_run_step",
    "ParallelRunStep": "ferry.parallel_run_step",
})
