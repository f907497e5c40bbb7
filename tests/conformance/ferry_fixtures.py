"""Pytest plugin for the MLflow conformance run: the server fixtures of MLflow's
tests/tracking/test_rest_tracking.py, replaced by ones that start `ferry server --port 0` in a
fresh FERRY_HOME (loaded with `-p ferry_fixtures`; the driver renames the test module's own
fixtures of these names so that these are the ones its tests get).

MLflow's tests assume an open server: besides the client (which sends MLFLOW_TRACKING_TOKEN as
a bearer token), they call the REST API with plain `requests`. Those calls get the workspace
token too, added only to requests aimed at this test's server that carry no credentials of
their own - what any authenticated client of Ferry does.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import requests
from mlflow import MlflowClient
from mlflow.tracking._tracking_service.utils import _use_tracking_uri


def _ferry_bin() -> str:
    ferry = os.environ.get("FERRY_BIN", "")
    if not ferry or not os.access(ferry, os.X_OK):
        raise RuntimeError(f"FERRY_BIN must name the ferry binary to test (got {ferry!r})")
    return ferry


@contextlib.contextmanager
def ferry_server(home: Path, artifact_root: str = ""):
    """Starts `ferry server --port 0` with its own home; yields (url, workspace token).
    artifact_root: its --default-artifact-root (MLflow's fixture gives its server the test's
    tmp_path, and test_artifacts checks that experiments' locations lie under it)."""
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "conformance-server.log", "ab")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    extra = ["--default-artifact-root", artifact_root] if artifact_root else []
    proc = subprocess.Popen([_ferry_bin(), "--home", str(home), "server", "--port", "0", *extra], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 30
        url = ""
        while not url:
            if proc.poll() is not None:
                raise RuntimeError(f"ferry server exited with {proc.returncode}: "
                                   f"{(home / 'conformance-server.log').read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError("ferry server did not answer /api/v1/health within 30 s")
            try:
                info = json.loads((home / "server.json").read_text())
                if info.get("pid") == proc.pid:
                    with urllib.request.urlopen(info["url"] + "/api/v1/health", timeout=2) as r:
                        url = info["url"] if r.status == 200 else ""
            except (OSError, ValueError, urllib.error.URLError):
                pass
            if not url:
                time.sleep(0.05)  # polling the server's start-up, bounded by the deadline above
        yield url, (home / "token").read_text().strip()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


def _authorize_plain_requests(monkeypatch, server_url: str, token: str) -> None:
    original = requests.Session.request

    def request(self, method, url, *args, **kwargs):  # requests.get() passes method= and url= by name
        if str(url).startswith(server_url) and kwargs.get("auth") is None and self.auth is None:
            headers = dict(kwargs.get("headers") or {})
            if not any(k.lower() == "authorization" for k in [*headers, *self.headers]):
                headers["Authorization"] = f"Bearer {token}"
                kwargs["headers"] = headers
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)


@contextlib.contextmanager
def _ferry_client(tmp_path: Path, monkeypatch):
    # The process's tracking URI is the server too: MLflow's conftest points it at the same
    # SQLite database its own fixture's server uses, and tests that log through the fluent API
    # or MLflow's CLI (in process) rely on reaching that server.
    with ferry_server(tmp_path / "ferry-home", tmp_path.as_uri()) as (url, token), _use_tracking_uri(url):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
        # A request Ferry refuses is not retried with back-off (up to minutes per failing test,
        # e.g. trace exports flushed after the server is gone); a healthy server needs no retry.
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        _authorize_plain_requests(monkeypatch, url, token)
        yield MlflowClient(url)


@pytest.fixture
def mlflow_client(store_type: str, tmp_path: Path, monkeypatch):
    """MLflow's fixture of this name, served by Ferry (store_type kept: it parametrizes the ids
    exactly as MLflow's own fixture does, its "file" variant skipped)."""
    with _ferry_client(tmp_path, monkeypatch) as c:
        yield c


@pytest.fixture
def mlflow_client_with_secrets(tmp_path: Path, monkeypatch):
    with _ferry_client(tmp_path, monkeypatch) as c:
        yield c


def pytest_collection_modifyitems(config, items):
    """Deselects the tests that start MLflow's own server rather than use a server fixture:
    they test MLflow, not the server under test. Their ids go to $FERRY_CONFORMANCE_NA."""
    keep, na = [], []
    for item in items:
        uses_server = set(REPLACED) & set(getattr(item, "fixturenames", ()))
        (keep if uses_server else na).append(item)
    if na:
        config.hook.pytest_deselected(items=na)
        items[:] = keep
    if out := os.environ.get("FERRY_CONFORMANCE_NA"):
        Path(out).write_text(json.dumps([item.name for item in na]))


REPLACED = ("mlflow_client", "mlflow_client_with_secrets")
