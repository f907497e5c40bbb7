"""Security regressions from the hostile probe (issue 17): who may stop the server, bodies refused
before they are read, one Authorization header, Studio's files, writes to ended runs."""

from __future__ import annotations

import os
import socket
import time
import urllib.parse

import pytest

from conftest import wait_until


def add_user(ws, name: str, role: str) -> str:
    status, body, _ = ws.api("POST", "/users", json={"name": name, "role": role})
    assert status == 201, body
    assert body["role"] == role
    return body["token"]


def as_user(token: str, extra: dict | None = None) -> dict:
    h = {"Authorization": f"Bearer {token}"}
    h.update(extra or {})
    return h


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def raw_request(ws, head: str, body_bytes: int = 0, read_timeout: float = 30) -> bytes:
    """Sends `head`, then up to body_bytes of body while reading the answer; returns what came back."""
    u = urllib.parse.urlsplit(ws.url)
    s = socket.create_connection((u.hostname, u.port), timeout=read_timeout)
    try:
        s.sendall(head.encode())
        got = b""
        chunk = b"x" * (1 << 20)
        sent = 0
        s.setblocking(False)
        deadline = time.monotonic() + read_timeout
        while time.monotonic() < deadline:
            try:
                data = s.recv(65536)
                if not data:
                    break
                got += data
                if b"\r\n\r\n" in got and b"}" in got.split(b"\r\n\r\n", 1)[1]:
                    break
            except BlockingIOError:
                pass
            if sent < body_bytes:
                try:
                    sent += s.send(chunk[: min(len(chunk), body_bytes - sent)])
                except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                    time.sleep(0.01)
            else:
                time.sleep(0.01)
        return got
    finally:
        s.close()


def test_only_the_workspace_token_stops_the_server(workspace):
    for role in ("admin", "contributor", "reader"):
        token = add_user(workspace, f"u_{role}", role)
        status, body, _ = workspace.api("POST", "/shutdown", headers=as_user(token), auth=False)
        assert status == 403, body
        assert "workspace token" in body["error"]["message"]
    status, body, _ = workspace.api("GET", "/health", auth=False)
    assert status == 200, body
    pid = body["pid"]
    status, body, _ = workspace.api("POST", "/shutdown")
    assert status == 202, body
    wait_until(lambda: workspace.proc.poll() is not None, 30, f"server pid {pid} to exit")


def test_unauthenticated_bodies_are_refused_before_they_are_read(workspace):
    status, body, _ = workspace.api("GET", "/health", auth=False)
    pid = body["pid"]
    before = rss_kib(pid)
    for _ in range(3):
        # 1 GiB announced; the client keeps sending while it waits: the 401 comes first.
        got = raw_request(workspace, "POST /api/v1/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Content-Length: 1073741824\r\n\r\n", body_bytes=64 << 20)
        assert got.startswith(b"HTTP/1.1 401"), got[:200]
        assert b"Authorization" in got
    # The same for MLflow's API and for a wrong token on an upload route.
    got = raw_request(workspace, "POST /api/2.0/mlflow/runs/log-batch HTTP/1.1\r\nHost: x\r\n"
                      "Content-Length: 1073741824\r\n\r\n", body_bytes=16 << 20)
    assert got.startswith(b"HTTP/1.1 401") and b"UNAUTHENTICATED" in got, got[:300]
    got = raw_request(workspace, "POST /api/v1/blobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n"
                      "Content-Length: 1073741824\r\n\r\n", body_bytes=16 << 20)
    assert got.startswith(b"HTTP/1.1 403"), got[:300]
    # Nothing of those bodies was buffered.
    assert rss_kib(pid) - before < 48 * 1024, (before, rss_kib(pid))


def test_json_bodies_have_a_limit_answered_before_the_body(workspace):
    got = raw_request(workspace, f"POST /api/v1/experiments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {workspace.token}"
                      "\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 413"), got[:300]
    assert b"bytes" in got
    # Just under the limit is read and judged on its content.
    status, body, _ = workspace.api("POST", "/experiments", data=b" " * (3 << 20) + b"{}",
                                    headers={"Content-Type": "application/json"})
    assert status == 400 and "'name'" in body["error"]["message"], body


def test_two_authorization_headers_are_refused(workspace):
    token = add_user(workspace, "reader1", "reader")
    # Either order: neither the first nor the last header wins.
    for first, second in ((token, workspace.token), (workspace.token, token)):
        got = raw_request(workspace, f"GET /api/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {first}\r\n"
                          f"Authorization: Bearer {second}\r\nConnection: close\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 400"), got[:300]
        assert b"more than one Authorization" in got


def test_a_users_token_stops_working_when_the_user_is_removed(workspace):
    token = add_user(workspace, "leaver", "contributor")
    status, _, _ = workspace.api("GET", "/runs", headers=as_user(token), auth=False)
    assert status == 200
    r = workspace.cli("user", "remove", "leaver")
    assert "removed" in r.stdout
    status, body, _ = workspace.api("GET", "/runs", headers=as_user(token), auth=False)
    assert status == 403 and "not valid" in body["error"]["message"], body


def test_cli_user_roles(workspace):
    r = workspace.cli("user", "add", "carol", "--role", "reader")
    token = r.stdout.strip()
    assert token.startswith("fu_")
    users = workspace.cli_json("user", "list")["users"]
    assert {"name": "carol", "role": "reader"}.items() <= users[0].items()
    status, body, _ = workspace.api("POST", "/experiments", json={"name": "e1"}, headers=as_user(token), auth=False)
    assert status == 403 and "contributor" in body["error"]["message"], body
    workspace.cli("user", "set-role", "carol", "contributor")
    status, body, _ = workspace.api("POST", "/experiments", json={"name": "e1"}, headers=as_user(token), auth=False)
    assert status == 201, body
    r = workspace.cli("user", "set-role", "carol", "boss", check=False)
    assert r.returncode != 0 and "boss" in r.stderr


def test_studio_does_not_follow_symlinked_directories(make_workspace, tmp_path):
    web = tmp_path / "web"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>Ferry</title>")
    (web / "assets" / "app.js").write_text("console.log(1)")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("do not serve me")
    os.symlink(outside, web / "leak")
    os.symlink(outside / "secret.txt", web / "assets" / "direct.txt")
    ws = make_workspace(env={"FERRY_WEB_DIR": str(web)})

    def get(path):
        got = raw_request(ws, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return int(got.split(b" ", 2)[1]), got

    status, got = get("/assets/app.js")
    assert status == 200 and got.endswith(b"console.log(1)"), got
    for path in ("/leak/secret.txt", "/assets/direct.txt", "/assets/../leak/secret.txt"):
        status, got = get(path)
        assert status in (400, 404), (path, got)
        assert b"do not serve me" not in got


@pytest.mark.parametrize("path", ["/api/nope", "/api/v2/runs", "/ajax-api/2.0/mlflow/runs/search", "/api"])
def test_unknown_api_paths_are_404_json_not_studio(workspace, path):
    status, body, hdrs = workspace.api("GET", path, auth=False)
    assert status == 404, (path, status)
    assert "json" in hdrs.get("Content-Type", ""), hdrs


def test_mlflow_artifacts_without_a_token_are_401_and_name_nothing(workspace, tmp_path):
    status, body, _ = workspace.api("POST", "/api/2.0/mlflow/experiments/create", json={"name": "secret-exp"})
    assert status == 200, body
    eid = body["experiment_id"]
    status, body, _ = workspace.api("POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": eid})
    run_id = body["run"]["info"]["run_id"]
    for method in ("GET", "PUT"):
        for exp in (eid, "0"):
            status, body, _ = workspace.api(method, f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{run_id}/artifacts/x.txt",
                                            data=b"x" if method == "PUT" else None, auth=False)
            assert status == 401, (method, exp, status, body)
            assert "secret-exp" not in str(body), body


def ended_run(ws, src):
    (src / "done.py").write_text("print('done')\n")
    run_id, _ = ws.submit(src, "done.py", wait=True)
    assert ws.run(run_id)["status"] == "Completed"
    return run_id


def test_writes_to_an_ended_run_are_refused(workspace, src):
    run_id = ended_run(workspace, src)
    attempts = [
        ("POST", f"/runs/{run_id}/tags", {"json": {"tags": {"late": "1"}}}),
        ("POST", f"/runs/{run_id}/metrics", {"data": '{"points":[{"q":1,"k":"late","v":1,"s":0,"t":1}]}'}),
        ("POST", f"/runs/{run_id}/logs?offset=0", {"data": "late bytes\n"}),
        ("POST", f"/runs/{run_id}/artifacts", {"json": {"files": []}}),
    ]
    for method, path, kw in attempts:
        status, body, _ = workspace.api(method, path, **kw)
        assert status == 409, (path, status, body)
        assert body["error"]["status"] == "Completed" and run_id in body["error"]["message"], body
    run = workspace.run(run_id)
    assert "late" not in run["tags"] and "late" not in run["metrics"]
    assert "late bytes" not in workspace.log(run_id)
    # The agent's final flush, just after the end, is still taken.
    agent = {"Authorization": f"Bearer {workspace.agent_token(run_id)}"}
    status, body, _ = workspace.api("POST", f"/runs/{run_id}/metrics", auth=False, headers=agent,
                                    data='{"points":[{"q":7,"k":"flushed","v":1,"s":0,"t":1}]}')
    assert status == 200, body
