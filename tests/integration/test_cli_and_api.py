"""Bad input, CLI auto-start and compute targets."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import Workspace, kill_home_processes, pid_alive, wait_until


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def ok_src(src):
    write(src / "ok.py", "print('ok')\n")
    return src


def test_submit_missing_script(workspace, ok_src):
    before = workspace.run_count()
    _, r = workspace.submit(ok_src, "nope_script.py", check=False)
    assert r.returncode == 1
    assert "nope_script.py" in r.stderr and "does not exist" in r.stderr, r.stderr
    assert workspace.run_count() == before


def test_submit_missing_source_dir(workspace, tmp_path):
    before = workspace.run_count()
    missing = tmp_path / "no_such_dir"
    _, r = workspace.submit(missing, "ok.py", check=False)
    assert r.returncode == 1
    assert str(missing) in r.stderr, r.stderr
    assert workspace.run_count() == before


def test_submit_unknown_target(workspace, ok_src):
    before = workspace.run_count()
    _, r = workspace.submit(ok_src, "ok.py", extra=("-t", "nope"), check=False)
    assert r.returncode == 1
    assert "'nope'" in r.stderr, r.stderr
    assert workspace.run_count() == before


@pytest.mark.parametrize("verb", ["show", "logs", "cancel", "metrics"])
def test_unknown_run_id(workspace, verb):
    r = workspace.cli("run", verb, "no_such_run_123", check=False)
    assert r.returncode == 1, r
    assert "no_such_run_123" in r.stderr, r.stderr


def test_symlink_outside_source_dir(workspace, ok_src, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    os.symlink(outside, ok_src / "escape_link")
    before = workspace.run_count()
    _, r = workspace.submit(ok_src, "ok.py", check=False)
    assert r.returncode == 1
    assert "escape_link" in r.stderr and "outside" in r.stderr, r.stderr
    assert workspace.run_count() == before


def test_malformed_json_post(workspace):
    before = workspace.run_count()
    status, body, _ = workspace.api("POST", "/runs", data=b"{not json", headers={"Content-Type": "application/json"})
    assert status == 400
    assert "malformed JSON" in body["error"]["message"], body
    status, body, _ = workspace.api("POST", "/runs", json={"script": "x.py"})
    assert status == 400 and "snapshot_id" in body["error"]["message"], body
    assert workspace.run_count() == before


@pytest.mark.parametrize("bad,why", [("../evil", ".."), ("/etc/evil", "absolute")])
def test_snapshot_manifest_bad_path(workspace, bad, why):
    h = "a" * 64
    manifest = f"644 3 {h} a.txt\n644 3 {h} {bad}\n"
    status, body, _ = workspace.api("POST", "/snapshots", data=manifest, headers={"Content-Type": "text/plain"})
    assert status == 400, body
    msg = body["error"]["message"]
    assert f"'{bad}'" in msg and "line 2" in msg and why in msg, msg


def test_artifacts_auth(workspace):
    path = "/runs/some_run/artifacts"
    status, body, _ = workspace.api("POST", path, json={"files": []}, auth=False)
    assert status == 401, body
    assert "Authorization" in body["error"]["message"]
    status, body, _ = workspace.api("POST", path, json={"files": []}, headers={"Authorization": "Bearer wrong"})
    assert status == 403, body


def test_experiment_names(workspace):
    r = workspace.cli("experiment", "create", "-n", "x" * 501, check=False)
    assert r.returncode == 1 and "500" in r.stderr, r.stderr
    r = workspace.cli("experiment", "create", "-n", "", check=False)
    assert r.returncode == 1 and "empty" in r.stderr, r.stderr
    workspace.cli("experiment", "create", "-n", "exp-1")
    r = workspace.cli("experiment", "create", "-n", "exp-1", check=False)
    assert r.returncode == 1 and "exp-1" in r.stderr and "already exists" in r.stderr, r.stderr
    names = [e["name"] for e in workspace.cli_json("experiment", "list")["experiments"]]
    assert names.count("exp-1") == 1 and "x" * 501 not in names


def test_compute_targets(workspace):
    computes = workspace.cli_json("compute", "list")["computes"]
    local = [c for c in computes if c["name"] == "local"]
    assert len(local) == 1 and local[0]["kind"] == "local", computes
    assert local[0]["max_concurrent_runs"] == workspace.max_runs
    show = workspace.cli_json("compute", "show", "local")
    assert show["name"] == "local" and show["kind"] == "local"
    text = workspace.cli("compute", "show", "local").stdout
    assert "local" in text
    r = workspace.cli("compute", "show", "nope", check=False)
    assert r.returncode == 1 and "'nope'" in r.stderr, r.stderr


@pytest.fixture
def bare_home(ferry_bin, tmp_path):
    home = tmp_path / "h2"
    ws = Workspace(ferry_bin, home)  # no server started
    yield ws
    info = home / "server.json"
    if info.exists():
        try:
            pid = json.loads(info.read_text())["pid"]
            if pid_alive(pid):
                os.kill(pid, 9)
        except (ValueError, KeyError, OSError):
            pass
    kill_home_processes(home)


def test_cli_autostarts_server(bare_home, src):
    write(src / "ok.py", "print('auto ok')\n")
    assert not (bare_home.home / "server.json").exists()
    _, r = bare_home.submit(src, "ok.py", wait=True)
    assert "auto ok" in r.stdout
    info = json.loads((bare_home.home / "server.json").read_text())
    pid = info["pid"]
    assert pid_alive(pid)
    runs = bare_home.cli_json("run", "list")["runs"]
    assert len(runs) == 1 and runs[0]["status"] == "Completed"
    assert json.loads((bare_home.home / "server.json").read_text())["pid"] == pid
    r = bare_home.cli("server", "stop")
    assert "stopped" in r.stdout
    wait_until(lambda: not pid_alive(pid), 30, f"server pid {pid} to exit")
    assert not (bare_home.home / "server.json").exists()


def run_token(ws: Workspace, run_id: str) -> str:
    return ws.agent_token(run_id)


def test_agent_over_http_without_the_blob_store(make_workspace, src):
    """An agent that cannot use the home's blob store fetches the snapshot and uploads its
    outputs through the API, with the run's own token."""
    ws = make_workspace(env={"FERRY_AGENT_BLOBS": "http"})
    write(src / "pkg" / "data.txt", "payload\n")
    write(src / "job.py", """
        import os
        print(open("pkg/data.txt").read().strip())
        os.makedirs("outputs", exist_ok=True)
        open("outputs/result.txt", "w").write("result-over-http")
    """)
    run_id, r = ws.submit(src, "job.py", wait=True)
    assert r.returncode == 0, r.stderr
    assert "payload" in ws.log(run_id)
    out = src.parent / "dl"
    ws.cli("run", "download", run_id, "--output-dir", out)
    assert (out / "outputs" / "result.txt").read_text() == "result-over-http"


def test_run_token_is_confined_to_its_run(workspace, src):
    write(src / "a.py", "print('a')\n")
    write(src / "secret.txt", "only in the first snapshot\n")
    run_a, _ = workspace.submit(src, "a.py", wait=True)
    (src / "secret.txt").unlink()
    write(src / "b.py", "print('b')\n")
    run_b, _ = workspace.submit(src, "b.py", wait=True)
    token_b = run_token(workspace, run_b)
    hdr = {"Authorization": f"Bearer {token_b}", "X-Ferry-Run": run_b}
    snap_a = workspace.run(run_a)["snapshot_id"]
    snap_b = workspace.run(run_b)["snapshot_id"]
    # Its own snapshot's manifest: readable with its own token.
    status, body, _ = workspace.api("GET", f"/blobs/{snap_b}", headers=hdr, auth=False)
    assert status == 200 and b"b.py" in body
    # Another run's snapshot: refused, naming the blob.
    status, body, _ = workspace.api("GET", f"/blobs/{snap_a}", headers=hdr, auth=False)
    assert status == 403 and snap_a in body["error"]["message"], body
    # Another run's endpoints and the run list: refused.
    hdr_b = {"Authorization": f"Bearer {token_b}"}
    status, body, _ = workspace.api("GET", f"/runs/{run_a}/plan", headers=hdr_b, auth=False)
    assert status == 403, body
    status, body, _ = workspace.api("GET", "/runs", headers=hdr_b, auth=False)
    assert status == 403, body
    # Its own plan: allowed.
    status, body, _ = workspace.api("GET", f"/runs/{run_b}/plan", headers=hdr_b, auth=False)
    assert status == 200 and body["run"]["id"] == run_b


def test_workspace_home_inside_the_source_dir_is_not_snapshotted(bare_home):
    """Submitting from a directory that contains the workspace home (e.g. from ~ with
    ~/.ferry) must not snapshot the home itself (its database, blobs, stat cache)."""
    src = bare_home.home.parent
    write(src / "ls.py", "import os\nprint('entries:', sorted(os.listdir('.')))\n")
    r = bare_home.cli("run", "submit", "--wait", "--python", sys.executable, "--source-dir", src, src / "ls.py")
    assert r.returncode == 0, r.stderr
    line = next(l for l in r.stdout.splitlines() if l.startswith("entries:"))
    assert "ls.py" in line and bare_home.home.name not in line, line
    # Twice: the second submit finds nothing new (the home changed, but it is excluded).
    r = bare_home.cli("run", "submit", "--wait", "--python", sys.executable, "--source-dir", src, src / "ls.py")
    assert "uploaded 0 files" in r.stderr, r.stderr


def test_api_refuses_a_script_outside_the_snapshot(workspace, src):
    write(src / "real.py", "print('real')\n")
    run_id, _ = workspace.submit(src, "real.py", wait=True)
    snap = workspace.run(run_id)["snapshot_id"]
    before = workspace.run_count()
    for script, why in [("nope.py", "is not in the snapshot"), ("../real.py", "'..'"), ("/etc/passwd", "absolute")]:
        status, body, _ = workspace.api("POST", "/runs", json={"script": script, "snapshot_id": snap})
        assert status == 400 and why in body["error"]["message"], (script, body)
    status, body, _ = workspace.api("POST", "/runs", json={"script": "real.py", "snapshot_id": "0" * 64})
    assert status == 404 and "0" * 64 in body["error"]["message"], body
    assert workspace.run_count() == before
