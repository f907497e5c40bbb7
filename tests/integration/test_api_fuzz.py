"""Schema-driven fuzzing of the REST API (issue 17, item 13): every operation of docs/openapi.yaml
with inputs generated from its schema, plus inputs that break it, against a real server; no
answer may be a 5xx.

Generated with Hypothesis through schemathesis, derandomised (the same cases on every run, so
CI does not flake); set FERRY_FUZZ_SEED=<n> to explore others and FERRY_FUZZ_EXAMPLES to go
deeper. Bounded: a fixed number of examples per operation and a per-request timeout."""

from __future__ import annotations

import os
import time

import pytest

schemathesis = pytest.importorskip("schemathesis")  # requirements-dev.txt pins it
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402

from conftest import REPO  # noqa: E402

EXAMPLES = int(os.environ.get("FERRY_FUZZ_EXAMPLES", "12"))
SEED = os.environ.get("FERRY_FUZZ_SEED")
# Never fuzzed: stopping the server ends the test; event streams do not end.
SKIP = {("POST", "/api/v1/shutdown"), ("GET", "/api/v1/stream"), ("GET", "/api/v1/runs/{run_id}/stream")}


def load_schema(ws, parameters: dict | None = None):
    schema = schemathesis.openapi.from_path(str(REPO / "docs/openapi.yaml"))
    schema.config.update(base_url=ws.url, headers={"Authorization": f"Bearer {ws.token}"}, request_timeout=30,
                         parameters=parameters or None)
    return schema


def fuzz(ws, schema, modes) -> list[str]:
    """Runs every operation; returns the 5xx answers found (method, path, status, body)."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        op = result.ok()
        if (op.method.upper(), op.path) in SKIP:
            continue
        for mode in modes:
            strategy = op.as_strategy(generation_mode=mode)

            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=SEED is None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def run(case):
                if case.query and "wait_ms" in case.query:
                    case.query["wait_ms"] = 0  # a long poll would only make the test slow
                try:
                    response = case.call(headers={"Authorization": f"Bearer {ws.token}"}, timeout=30)
                except Exception as e:  # noqa: BLE001  (a dropped connection is a failure too)
                    failures.append(f"{case.method} {case.formatted_path}: {type(e).__name__}: {e}")
                    return
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} query={case.query} "
                                    f"body={str(case.body)[:200]!r}: {response.status_code} {response.text[:300]}")

            if SEED is not None:
                run = hypothesis_seed(int(SEED))(run)
            try:
                run()
            except Unsatisfiable:
                pass  # nothing in this operation to break (e.g. no parameters for negative cases)
    return failures


def test_no_operation_answers_a_server_error(workspace, src):
    from schemathesis import GenerationMode

    # Something real to find: a completed run (its id fixed for the run routes below).
    (src / "ok.py").write_text("print('ok')\n")
    run_id, _ = workspace.submit(src, "ok.py", wait=True)
    started = time.monotonic()
    failures = fuzz(workspace, load_schema(workspace), [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    failures += fuzz(workspace, load_schema(workspace, {"run_id": run_id}), [GenerationMode.POSITIVE])
    status, body, _ = workspace.api("GET", "/health")
    assert status == 200, "the server did not survive the fuzzing"
    assert not failures, f"{len(failures)} server errors in {time.monotonic() - started:.0f} s:\n" + "\n".join(failures[:30])


def test_the_openapi_file_is_valid():
    from openapi_spec_validator import validate
    from openapi_spec_validator.readers import read_from_filename

    spec, _ = read_from_filename(str(REPO / "docs/openapi.yaml"))
    validate(spec)
