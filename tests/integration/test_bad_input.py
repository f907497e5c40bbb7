"""Malformed requests are answered 400 naming the field, never 500 (issue 17, items 13 and 15)."""

from __future__ import annotations

import hashlib
import json

import pytest


def ended_run(ws, src):
    (src / "done.py").write_text("print('done')\n")
    run_id, _ = ws.submit(src, "done.py", wait=True)
    return run_id


# Bodies with a number that overflows a double: every JSON route must answer 400.
OVERFLOW_ROUTES = [
    ("POST", "/experiments"),
    ("POST", "/users"),
    ("PUT", "/quota"),
    ("POST", "/blobs/missing"),
    ("POST", "/environments"),
    ("POST", "/runconfigs/parse"),
    ("POST", "/runs"),
    ("POST", "/sweeps"),
    ("POST", "/computes"),
    ("POST", "/api/2.0/mlflow/experiments/create"),
]


@pytest.mark.parametrize("method,path", OVERFLOW_ROUTES)
def test_numbers_that_overflow_a_double_are_400(workspace, method, path):
    status, body, _ = workspace.api(method, path, data='{"a":1e309}', headers={"Content-Type": "application/json"})
    assert status == 400, (path, status, body)


def test_run_routes_with_overflowing_numbers_are_400(workspace, src):
    run_id = ended_run(workspace, src)
    agent = {"Authorization": f"Bearer {workspace.agent_token(run_id)}", "Content-Type": "application/json"}
    for path in ("blobs/fetch", "artifacts", "tags", "status", "metrics"):
        status, body, _ = workspace.api("POST", f"/runs/{run_id}/{path}", data='{"a":1e309}', headers=agent, auth=False)
        assert status == 400, (path, status, body)


def test_artifact_fields_of_the_wrong_type_are_400_naming_the_field(workspace, src):
    run_id = ended_run(workspace, src)
    agent = {"Authorization": f"Bearer {workspace.agent_token(run_id)}"}
    for files in ([{"path": "a.txt", "size": 1, "hash": 5}], [{"path": 7, "size": 1, "hash": "x"}],
                  [{"path": "a.txt", "size": "big", "hash": "0" * 64}]):
        status, body, _ = workspace.api("POST", f"/runs/{run_id}/artifacts", json={"files": files}, headers=agent,
                                        auth=False)
        assert status == 400, (files, status, body)
        assert "files[0]" in body["error"]["message"], body
        status, body, _ = workspace.api("POST", f"/runs/{run_id}/status", headers=agent, auth=False,
                                        json={"status": "Completed", "artifacts": files})
        assert status == 400, (files, status, body)
        assert "artifacts[0]" in body["error"]["message"], body


def metrics_body(*points) -> str:
    return json.dumps({"points": list(points)})


def test_metric_points_are_checked(workspace, src):
    (src / "wait.py").write_text("import time\ntime.sleep(60)\n")
    run_id, _ = workspace.submit(src, "wait.py")
    agent = {"Authorization": f"Bearer {workspace.agent_token(run_id)}"}
    good = {"q": 1, "k": "loss", "v": 1.0, "s": 0, "t": 1.0}
    cases = [
        ({**good, "k": "k" * 10_000}, "at most 250"),
        ({**good, "k": "a\u0000b"}, "control character"),
        ({**good, "k": ""}, "empty"),
        ({**good, "q": -5}, "negative sequence"),
    ]
    for point, why in cases:
        status, body, _ = workspace.api("POST", f"/runs/{run_id}/metrics", data=metrics_body(point), headers=agent,
                                        auth=False)
        assert status == 400 and why in body["error"]["message"], (point["k"][:20], body)
    status, body, _ = workspace.api("POST", f"/runs/{run_id}/metrics", data=metrics_body(good), headers=agent,
                                    auth=False)
    assert status == 200, body
    # Tag keys follow the same rule.
    status, body, _ = workspace.api("POST", f"/runs/{run_id}/tags", json={"tags": {"x" * 300: "v"}})
    assert status == 400 and "at most 250" in body["error"]["message"], body
    workspace.api("POST", f"/runs/{run_id}/cancel")
    workspace.wait_status(run_id, "Canceled")


@pytest.mark.parametrize("offset", ["-1", "+3", " 1", "1e3", "18446744073709551616", "abc"])
def test_log_offsets_must_be_whole_numbers(workspace, src, offset):
    (src / "wait.py").write_text("import time\ntime.sleep(60)\n")
    run_id, _ = workspace.submit(src, "wait.py")
    agent = {"Authorization": f"Bearer {workspace.agent_token(run_id)}"}
    status, body, _ = workspace.api("POST", f"/runs/{run_id}/logs?offset={offset.replace(' ', '%20').replace('+', '%2B')}",
                                    data="x", headers=agent, auth=False)
    assert status == 400 and "offset" in body["error"]["message"], (offset, body)
    workspace.api("POST", f"/runs/{run_id}/cancel")
    workspace.wait_status(run_id, "Canceled")


@pytest.mark.parametrize("name", ["A\u0000B", "1ABC", "A B", "A=B", ""])
def test_environment_variable_names_are_checked(workspace, src, name):
    (src / "ok.py").write_text("print('ok')\n")
    # Through the API: a run whose options name a bad variable.
    status, body, _ = workspace.api("POST", "/runs", json={"script": "ok.py", "snapshot_id": "0" * 64,
                                                          "environment_variables": {name: "v"}})
    assert status == 400 and "environment_variables" in body["error"]["message"], (name, body)


def test_environment_variable_values_with_nul_are_refused(workspace):
    status, body, _ = workspace.api("POST", "/runs", json={"script": "ok.py", "snapshot_id": "0" * 64,
                                                          "environment_variables": {"GOOD": "a\u0000b"}})
    assert status == 400 and "NUL" in body["error"]["message"], body


def test_snapshot_manifest_sizes_must_match_their_blobs(workspace):
    content = b"print('hi')\n"
    h = hashlib.sha256(content).hexdigest()
    status, body, _ = workspace.api("POST", "/blobs", data=f"{h} {len(content)}\n".encode() + content,
                                    headers={"Content-Type": "application/octet-stream"})
    assert status == 200 and body["stored"] == 1, body
    lie = f"644 99999999 {h} main.py\n"
    status, body, _ = workspace.api("POST", "/snapshots", data=lie, headers={"Content-Type": "text/plain"})
    assert status == 400, body
    assert "main.py" in body["error"]["message"] and str(len(content)) in body["error"]["message"], body
    status, body, _ = workspace.api("POST", "/snapshots", data=f"644 {len(content)} {h} main.py\n",
                                    headers={"Content-Type": "text/plain"})
    assert status == 201, body


def test_blob_batches_are_checked_record_by_record(workspace):
    a, b = b"first blob", b"second blob"
    ha, hb = hashlib.sha256(a).hexdigest(), hashlib.sha256(b).hexdigest()
    # The second record lies about its content: the first is kept, the second refused.
    batch = f"{ha} {len(a)}\n".encode() + a + f"{hb} {len(b)}\n".encode() + b"SECOND BLOB"
    status, body, _ = workspace.api("POST", "/blobs", data=batch, headers={"Content-Type": "application/octet-stream"})
    assert status == 400 and hb in body["error"]["message"], body
    status, body, _ = workspace.api("POST", "/blobs/missing", json={"hashes": [ha, hb]})
    assert body["missing"] == [hb], body
    # A truncated batch and a header that is not one.
    for bad in (f"{hb} {len(b)}\n".encode() + b[:3], b"not a header\n", b"x" * 200):
        status, body, _ = workspace.api("POST", "/blobs", data=bad, headers={"Content-Type": "application/octet-stream"})
        assert status == 400, (bad[:40], body)


def test_large_blobs_stream_into_the_store(workspace):
    big = bytes(range(256)) * (12 << 12)  # 12 MiB
    h = hashlib.sha256(big).hexdigest()
    status, body, _ = workspace.api("POST", "/blobs", data=f"{h} {len(big)}\n".encode() + big,
                                    headers={"Content-Type": "application/octet-stream"})
    assert status == 200 and body["stored"] == 1, body
    status, body, _ = workspace.api("GET", f"/blobs/{h}")
    assert status == 200 and body == big
