"""Ferry in-script API.

Log metrics and tags from a training script::

    from ferry import Run

    run = Run.get_context()
    run.log("mse", 3.2)

Inside a Ferry run (``FERRY_METRICS_FILE`` is set) records are appended to the
metrics file that the Ferry agent tails; anywhere else the run is *offline*:
values are kept in memory and echoed to stderr, so scripts run unchanged.

From a notebook or any Python process, the SDK: ``Workspace``, ``Experiment``, and
``Run.get(workspace, run_id)`` (wait_for_completion, get_metrics, files, cancel, tags).
Its errors are :class:`FerryError` and its subclasses (``ferry.exceptions``: NotFoundError,
PermissionDeniedError...).

Importing this package does no file or network I/O and imports no heavy
modules (the SDK's modules load on first use).
"""

from ._version import __version__  # noqa: F401  (written in _version.py only)
from .run import Run, _reset_context  # noqa: F401  (_reset_context: tests)

# The SDK's classes, imported on first use (import ferry stays cheap): name -> module.
_LAZY = {
    "Workspace": "workspace",
    "Experiment": "experiment",
    "Environment": "environment",
    "Datastore": "datastore",
    "Dataset": "dataset",
    "FileDataset": "dataset",
    "TabularDataset": "dataset",
    "Model": "model",
    "Keyvault": "keyvault",
    "ComputeTarget": "compute",
    "ComputeTargetException": "exceptions",
    "RemoteCompute": "compute",
    "ComputeInstance": "compute",
    "SlurmCompute": "compute",
    "AmlCompute": "compute",
    "FerryError": "exceptions",
    "InvalidArgumentError": "exceptions",
    "AuthenticationError": "exceptions",
    "PermissionDeniedError": "exceptions",
    "NotFoundError": "exceptions",
    "ConflictError": "exceptions",
    "PayloadTooLargeError": "exceptions",
    "ServerUnavailableError": "exceptions",
    "FerryConnectionError": "exceptions",
    "ScriptRunConfig": "script_run_config",
    "MpiConfiguration": "script_run_config",
    "PyTorchConfiguration": "script_run_config",
    "TensorflowConfiguration": "script_run_config",
    "RunConfiguration": "run_configuration",
    "HyperDriveConfig": "hyperdrive",
    "RandomParameterSampling": "hyperdrive",
    "GridParameterSampling": "hyperdrive",
    "BayesianParameterSampling": "hyperdrive",
    "BanditPolicy": "hyperdrive",
    "MedianStoppingPolicy": "hyperdrive",
    "TruncationSelectionPolicy": "hyperdrive",
    "NoTerminationPolicy": "hyperdrive",
    "AshaPolicy": "hyperdrive",
    "PrimaryMetricGoal": "hyperdrive",
}

__all__ = ["Run", *_LAZY, "__version__"]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ferry' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module("." + module, __name__), name)
