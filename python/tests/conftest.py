"""Make ``python/`` importable so the tests run without installing ferry-ml; the in-script Run's
fresh-context fixture."""

import os
import sys

import pytest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)

# What makes a process an in-script run (set by the agent): removed for the tests that use
# fresh_run_context, so a test sees only what it sets itself.
RUN_ENV_VARS = ("FERRY_METRICS_FILE", "FERRY_RUN_ID", "FERRY_EXPERIMENT", "MLFLOW_TRACKING_URI",
                "MLFLOW_TRACKING_TOKEN", "MLFLOW_RUN_ID")


@pytest.fixture
def fresh_run_context(monkeypatch):
    """No run environment, and Run.get_context() made again before and after the test."""
    from ferry.run import _reset_context

    for var in RUN_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    _reset_context()
    yield
    _reset_context()
