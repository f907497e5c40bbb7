"""Ferry in-script API.

Log metrics and tags from a training script::

    from ferry import Run

    run = Run.get_context()
    run.log("mse", 3.2)

Inside a Ferry run (``FERRY_METRICS_FILE`` is set) records are appended to the
metrics file that the Ferry agent tails; anywhere else the run is *offline*:
values are kept in memory and echoed to stderr, so scripts run unchanged.

Importing this package does no file or network I/O and imports no heavy
modules.
"""

from .run import Run, _reset_context  # noqa: F401  (_reset_context: tests)

__all__ = ["Run", "__version__"]
__version__ = "0.1.0"
