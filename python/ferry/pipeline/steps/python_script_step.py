"""``azureml.pipeline.steps.python_script_step``: PythonScriptStep.

The names load on first use (``ferry._lazy``)."""

from ..._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "PythonScriptStep": "ferry.pipeline_steps",
})
