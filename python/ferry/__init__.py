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

Importing this package does no file or network I/O and imports no heavy
modules (the SDK's modules load on first use).
"""

from .run import Run, _reset_context  # noqa: F401  (_reset_context: tests)

__all__ = ["Run", "Workspace", "Experiment", "FerryError", "__version__"]


def __getattr__(name: str):  # the SDK's classes, imported on first use (import ferry stays cheap)
    if name == "Workspace":
        from .workspace import Workspace

        return Workspace
    if name == "Experiment":
        from .experiment import Experiment

        return Experiment
    if name == "FerryError":
        from ._client import FerryError

        return FerryError
    raise AttributeError(f"module 'ferry' has no attribute {name!r}")
__version__ = "0.1.0"
