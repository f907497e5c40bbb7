"""Azure ML SDK v1's ``azureml.core`` as ``ferry.core``: the workspace, experiments, runs,
run configurations, environments, compute targets, datastores, datasets and models.

The names load on first use (``ferry._lazy``)."""

from .._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "Workspace": "ferry.workspace",
    "Experiment": "ferry.experiment",
    "Run": "ferry.run",
    "ScriptRun": "ferry.run:Run",
    "ScriptRunConfig": "ferry.script_run_config",
    "RunConfiguration": "ferry.run_configuration",
    "Environment": "ferry.environment",
    "ComputeTarget": "ferry.compute",
    "Datastore": "ferry.datastore",
    "Dataset": "ferry.dataset",
    "Model": "ferry.model",
    "Keyvault": "ferry.keyvault",
    "VERSION": "ferry._version:__version__",
    "get_run": "ferry.run",
})
