"""The ssh compute target against real OpenSSH servers in network namespaces
(tests/support/sshd.py): attach with a key or a password, host key trust, runs with live
logs, metrics and outputs, cancel, a cut connection, queues, unreachable hosts."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from sshd import SshLab  # noqa: E402

from conftest import wait_until  # noqa: E402
from test_runconfig import write  # noqa: E402


@pytest.fixture
def lab(tmp_path):
    reason = SshLab.unavailable_reason()
    if reason:
        pytest.fail(f"real sshd hosts are required (scripts/setup.sh installs openssh-server): {reason}")
    with SshLab(tmp_path / "ssh", hosts=2) as lab:
        yield lab


def attach(ws, host, name, *extra, check=True):
    return ws.cli("compute", "attach", "ssh", name, "--host", host.ip, "--port", host.port, "--user", host.user,
                  *extra, check=check, timeout=120)


def wait_ready(ws, name, timeout=60):
    def ready():
        t = ws.cli_json("compute", "show", name)
        return t if t["state"] == "ready" else None
    return wait_until(ready, timeout, f"target {name} to be ready")


def submit(ws, src, target, script, *args, wait=False):
    cmd = ["run", "submit", "--source-dir", src, "-t", target]
    if wait:
        cmd.append("--wait")
    cmd.append(script)
    if args:
        cmd += ["--", *args]
    r = ws.cli(*cmd, check=False, timeout=180)
    run_id = r.stdout.strip().splitlines()[-1] if not wait and r.returncode == 0 else None
    if wait:
        import re
        m = re.search(r"Run (\S+) submitted", r.stderr)
        run_id = m.group(1) if m else None
    return run_id, r


TRAIN = """
import sys, time
from ferry import Run
run = Run.get_context()
n = int(sys.argv[1]); dt = float(sys.argv[2])
for i in range(n):
    print(f"line {i}", flush=True)
    run.log("loss", 1.0 / (i + 1))
    time.sleep(dt)
import os
os.makedirs("outputs", exist_ok=True)
open("outputs/model.txt", "w").write("trained on " + os.uname().nodename + "\\n")
print("done", flush=True)
"""


def test_key_attach_and_a_run_like_a_local_one(make_workspace, src, tmp_path, lab):
    ws = make_workspace()
    host = lab.hosts[0]
    r = attach(ws, host, "box", "--key", lab.client_key)
    assert "attached box" in r.stdout and "Linux" in r.stdout, r.stdout + r.stderr
    show = wait_ready(ws, "box")
    facts = show["details"]["facts"]
    assert facts["arch"] and facts["cpus"] >= 1 and facts["pythons"], facts
    # Secrets and keys never come back; the host key is pinned.
    assert "known_hosts" not in json.dumps(show) or "ssh-ed25519" not in json.dumps(show)
    write(src / "train.py", TRAIN)
    run_id, r = submit(ws, src, "box", "train.py", "20", "0.05", wait=True)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [l for l in r.stdout.splitlines() if l.startswith("line ")]
    assert lines == [f"line {i}" for i in range(20)], r.stdout
    status, body, _ = ws.api("GET", f"/runs/{run_id}/metrics")
    assert [p["value"] for p in body["metrics"]["loss"]] == [1.0 / (i + 1) for i in range(20)]
    out = tmp_path / "dl"
    ws.cli("run", "download", run_id, "--output-dir", out)
    hostname = host.run("uname -n").stdout.strip()
    assert hostname.startswith("node")  # the namespace's own hostname, not this machine's
    assert (out / "outputs" / "model.txt").read_text() == f"trained on {hostname}\n"
    log = ws.log(run_id)
    assert "snapshot: 1 files; fetched 2 blobs" in log, log  # the manifest and train.py
    # A second run reuses the host's agent and blob cache: nothing of the snapshot is sent.
    run2, r = submit(ws, src, "box", "train.py", "2", "0", wait=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "fetched 0 blobs (0 bytes)" in ws.log(run2), ws.log(run2)
    agents = list((host.home / ".ferry-agent" / "agent").iterdir())
    assert len(agents) == 1, agents


def test_cancel_reaches_the_remote_script(make_workspace, src, lab):
    ws = make_workspace()
    host = lab.hosts[0]
    attach(ws, host, "box", "--key", lab.client_key)
    wait_ready(ws, "box")
    write(src / "slow.py", """
        import signal, sys, time
        def stop(sig, frame):
            print("got SIGTERM", flush=True)
            sys.exit(3)
        signal.signal(signal.SIGTERM, stop)
        print("started", flush=True)
        time.sleep(120)
    """)
    run_id, r = submit(ws, src, "box", "slow.py")
    assert run_id, r.stderr
    wait_until(lambda: "started" in ws.log(run_id), 60, "the remote script to start")
    ws.cli("run", "cancel", run_id)
    assert ws.wait_status(run_id, ["Canceled", "Failed", "Completed"], timeout=60)["status"] == "Canceled"
    assert "got SIGTERM" in ws.log(run_id)
