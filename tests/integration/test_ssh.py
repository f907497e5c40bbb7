"""The ssh compute target against real OpenSSH servers in network namespaces
(tests/support/sshd.py): attach with a key or a password, host key trust, runs with live
logs, metrics and outputs, cancel, a cut connection, queues, unreachable hosts."""

from __future__ import annotations

import json
import os
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
    info = ws.agent_info(run_id)
    assert "snapshot: 1 files; fetched 2 blobs" in info, info  # the manifest and train.py
    assert "[ferry" not in ws.log(run_id)  # the log is the script's output only
    # A second run reuses the host's agent and blob cache: nothing of the snapshot is sent.
    run2, r = submit(ws, src, "box", "train.py", "2", "0", wait=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "fetched 0 blobs (0 bytes)" in ws.agent_info(run2), ws.agent_info(run2)
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


def test_password_and_passphrase_auth_and_sealed_secrets(make_workspace, tmp_path, lab):
    ws = make_workspace()
    host = lab.hosts[0]
    pw = tmp_path / "pw"
    pw.write_text(lab.password + "\n")
    r = attach(ws, host, "bypw", "--password-file", pw)
    assert "attached bypw" in r.stdout, r.stdout + r.stderr
    assert "SSH keys are preferred" in r.stderr, r.stderr
    wait_ready(ws, "bypw")
    # A wrong password is refused at attach time, saying what failed; nothing is stored.
    bad = tmp_path / "bad"
    bad.write_text("not-the-password\n")
    r = attach(ws, host, "wrong", "--password-file", bad, check=False)
    assert r.returncode == 1 and "authentication to" in r.stderr and "failed" in r.stderr, r.stderr
    assert "wrong" not in [t["name"] for t in ws.cli_json("compute", "list")["computes"]]
    # A passphrase-protected key, with its passphrase from a file.
    pp = tmp_path / "pp"
    pp.write_text(lab.key_passphrase + "\n")
    r = attach(ws, host, "bykey", "--key", lab.client_key_pp, "--passphrase-file", pp)
    assert "attached bykey" in r.stdout, r.stdout + r.stderr
    wait_ready(ws, "bykey")
    # Both key and password, or neither: refused.
    r = attach(ws, host, "both", "--key", lab.client_key, "--password-file", pw, check=False)
    assert r.returncode == 1 and "exactly one of" in r.stderr
    # Secrets are sealed at rest and never returned.
    db = (ws.home / "ferry.db").read_bytes() + (ws.home / "ferry.db-wal").read_bytes() \
        if (ws.home / "ferry.db-wal").exists() else (ws.home / "ferry.db").read_bytes()
    assert lab.password.encode() not in db and lab.key_passphrase.encode() not in db
    shown = json.dumps(ws.cli_json("compute", "show", "bypw"))
    assert lab.password not in shown and "sealed:" not in shown
    assert lab.password not in (ws.home / "test-server.log").read_text()


def test_changed_host_key_is_refused_until_trusted(make_workspace, src, lab):
    ws = make_workspace()
    host = lab.hosts[0]
    attach(ws, host, "box", "--key", lab.client_key)
    wait_ready(ws, "box")
    # The host is reinstalled: same address, new host key; open sessions die with it.
    host.stop()
    host.regenerate_host_key()
    host.start()

    def refused():
        t = ws.cli_json("compute", "show", "box")
        return t if t["state"] != "ready" and "CHANGED" in t.get("state_reason", "") else None
    t = wait_until(refused, 90, "the changed host key to be refused")
    assert "ferry compute trust" in t["state_reason"], t
    write(src / "job.py", "print('ran')\n")
    run_id, r = submit(ws, src, "box", "job.py")
    assert run_id, r.stderr
    time.sleep(2)
    run = ws.run(run_id)
    assert run["status"] == "Queued" and "CHANGED" in run["queue_reason"], run
    r = ws.cli("compute", "trust", "box")
    assert "host key updated" in r.stdout, r.stdout
    assert ws.wait_status(run_id, ["Completed", "Failed"], timeout=60)["status"] == "Completed"


def test_run_survives_a_10s_cut_with_logs_and_metrics_exact(make_workspace, src, lab):
    ws = make_workspace()
    host = lab.hosts[0]
    attach(ws, host, "box", "--key", lab.client_key)
    wait_ready(ws, "box")
    write(src / "train.py", TRAIN)
    run_id, r = submit(ws, src, "box", "train.py", "120", "0.15")  # ~18 s
    assert run_id, r.stderr
    wait_until(lambda: "line 10" in ws.log(run_id), 60, "the run to be under way")
    host.cut(10, wait=True)
    assert ws.wait_status(run_id, ["Completed", "Failed", "Canceled"], timeout=120)["status"] == "Completed", \
        ws.run(run_id)
    lines = [l for l in ws.log(run_id).splitlines() if l.startswith("line ")]
    assert lines == [f"line {i}" for i in range(120)]
    status, body, _ = ws.api("GET", f"/runs/{run_id}/metrics")
    assert [(p["step"], p["value"]) for p in body["metrics"]["loss"]] == [(i, 1.0 / (i + 1)) for i in range(120)]


def test_queue_limits_two_hosts_and_an_unreachable_host(make_workspace, src, lab):
    ws = make_workspace()
    a, b = lab.hosts
    attach(ws, a, "a", "--key", lab.client_key, "--max-concurrent-jobs", "1")
    attach(ws, b, "b", "--key", lab.client_key, "--max-concurrent-jobs", "1")
    wait_ready(ws, "a")
    wait_ready(ws, "b")
    write(src / "wait.py", """
        import os, sys, time
        while not os.path.exists(sys.argv[1]):
            time.sleep(0.05)
        print("released on", os.uname().nodename)
    """)
    # The release file is on each host's own disk (the test user's home).
    a1, _ = submit(ws, src, "a", "wait.py", "/home/ferrytest/release")
    a2, _ = submit(ws, src, "a", "wait.py", "/home/ferrytest/release")
    b1, _ = submit(ws, src, "b", "wait.py", "/home/ferrytest/release")
    ws.wait_status(a1, "Running", timeout=60)
    ws.wait_status(b1, "Running", timeout=60)
    time.sleep(1)
    queued = ws.run(a2)
    assert queued["status"] == "Queued" and "free slot on a (1 of 1" in queued["queue_reason"], queued
    (a.home / "release").write_text("go")
    (b.home / "release").write_text("go")
    for run_id in (a1, a2, b1):
        assert ws.wait_status(run_id, ["Completed", "Failed"], timeout=60)["status"] == "Completed", ws.log(run_id)
    # An unreachable host: runs wait with the reason and start once it is back.
    (b.home / "release").unlink()
    b.block()
    wait_until(lambda: ws.cli_json("compute", "show", "b")["state"] == "unreachable", 60, "b to be unreachable")
    b2, _ = submit(ws, src, "b", "wait.py", "/home/ferrytest/release")
    time.sleep(1.5)
    run = ws.run(b2)
    assert run["status"] == "Queued" and "retrying" in run["queue_reason"], run
    b.unblock()
    ws.wait_status(b2, "Running", timeout=90)
    (b.home / "release").write_text("go")
    assert ws.wait_status(b2, ["Completed", "Failed"], timeout=60)["status"] == "Completed"


def test_lost_host_fails_the_run_and_detach_rules(make_workspace, src, lab):
    ws = make_workspace()
    host = lab.hosts[0]
    attach(ws, host, "box", "--key", lab.client_key)
    wait_ready(ws, "box")
    write(src / "slow.py", "import time\nprint('up', flush=True)\ntime.sleep(300)\n")
    run_id, _ = submit(ws, src, "box", "slow.py")
    wait_until(lambda: "up" in ws.log(run_id), 60, "the remote script to start")
    # Detach is refused while a run is active.
    r = ws.cli("compute", "detach", "box", check=False)
    assert r.returncode == 1 and "active run" in r.stderr and "--force" in r.stderr, r.stderr
    # The VM is lost (every process on it killed) and comes back empty.
    host.stop()
    host.start()
    run = ws.wait_status(run_id, ["Failed", "Completed", "Canceled"], timeout=90)
    assert run["status"] == "Failed" and "exited without reporting a final status" in run["error"], run
    # Another run, then detach --force cancels it.
    run2, _ = submit(ws, src, "box", "slow.py")
    wait_until(lambda: "up" in ws.log(run2), 60, "the second run to start")
    r = ws.cli("compute", "detach", "box", "--force")
    assert "1 active run(s) canceled" in r.stdout, r.stdout
    assert ws.run(run2)["status"] == "Canceled"
    assert "box" not in [t["name"] for t in ws.cli_json("compute", "list")["computes"]]


def cli_as(ws, token, *args, check=False):
    import os
    import subprocess
    env = {**os.environ, "FERRY_TOKEN": token} if token else dict(os.environ)
    env.pop("FERRY_TOKEN", None) if not token else None
    return subprocess.run([str(ws.ferry), "--home", str(ws.home), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=120)


def test_compute_instances_have_one_owner_a_queue_and_stop_start(make_workspace, src, tmp_path, lab):
    ws = make_workspace()
    alice = ws.cli("user", "add", "alice").stdout.strip()
    bob = ws.cli("user", "add", "bob").stdout.strip()
    assert alice.startswith("fu_") and bob != alice
    assert [u["name"] for u in ws.cli_json("user", "list")["users"]] == ["alice", "bob"]
    # Users cannot manage users or targets.
    r = cli_as(ws, alice, "user", "add", "mallory")
    assert r.returncode == 1 and "needs the admin role" in r.stderr, r.stderr
    marks = tmp_path / "marks"
    marks.mkdir()
    h0, h1 = lab.hosts
    for host, name, owner in ((h0, "inst-a", "alice"), (h1, "inst-b", "bob")):
        r = ws.cli("compute", "create", "instance", name, "--host", host.ip, "--port", host.port, "--user", host.user,
                   "--key", lab.client_key, "--owner", owner, "--max-concurrent-jobs", "1",
                   "--stop-command", f"touch {marks}/{name}.stopped", "--start-command", f"touch {marks}/{name}.started")
        assert f"created instance {name}" in r.stdout, r.stdout + r.stderr
        wait_ready(ws, name)
    r = ws.cli("compute", "create", "instance", "x", "--host", h0.ip, "--user", h0.user, "--key", lab.client_key,
               "--owner", "nobody", check=False)
    assert r.returncode == 1 and "owner 'nobody' is not a user" in r.stderr
    write(src / "wait.py", """
        import os, sys, time
        while not os.path.exists(sys.argv[1]):
            time.sleep(0.05)
        print("ran as", os.environ.get("USER") or os.getuid())
    """)
    sub = ["run", "submit", "--source-dir", src, "-t", "inst-a", "wait.py", "--", "/home/ferrytest/go"]
    # Only the owner may submit: not bob, not even the workspace token.
    r = cli_as(ws, bob, *sub)
    assert r.returncode == 1 and "belongs to 'alice'" in r.stderr, r.stderr
    r = cli_as(ws, None, *sub)
    assert r.returncode == 1 and "belongs to 'alice'" in r.stderr, r.stderr
    a1 = cli_as(ws, alice, *sub).stdout.strip()
    a2 = cli_as(ws, alice, *sub).stdout.strip()
    b1 = cli_as(ws, bob, *[x if x != "inst-a" else "inst-b" for x in sub]).stdout.strip()
    ws.wait_status(a1, "Running", timeout=60)
    ws.wait_status(b1, "Running", timeout=60)  # the two instances run side by side
    time.sleep(1)
    assert ws.run(a2)["status"] == "Queued" and "free slot on inst-a" in ws.run(a2)["queue_reason"]
    assert ws.run(a1)["submitted_by"] == "alice" and ws.run(b1)["submitted_by"] == "bob"
    # Stop: new runs are refused, queued ones wait, the active one finishes, then the command runs.
    r = ws.cli("compute", "stop", "inst-a")
    assert "stopping" in r.stdout
    r = cli_as(ws, alice, *sub)
    assert r.returncode == 1 and "is stopping" in r.stderr, r.stderr
    (h0.home / "go").write_text("go")
    (h1.home / "go").write_text("go")
    assert ws.wait_status(a1, ["Completed", "Failed"], timeout=60)["status"] == "Completed"
    wait_until(lambda: ws.cli_json("compute", "show", "inst-a")["state"] == "stopped", 30, "inst-a to stop")
    assert (marks / "inst-a.stopped").exists()
    time.sleep(1)
    assert ws.run(a2)["status"] == "Queued" and "is stopped" in ws.run(a2)["queue_reason"], ws.run(a2)
    # Start: the command runs, then the queued run goes.
    ws.cli("compute", "start", "inst-a")
    wait_until(lambda: ws.cli_json("compute", "show", "inst-a")["state"] == "ready", 30, "inst-a to start")
    assert (marks / "inst-a.started").exists()
    assert ws.wait_status(a2, ["Completed", "Failed"], timeout=60)["status"] == "Completed"


def test_requeue_on_node_loss_runs_again_and_keeps_both_attempts(make_workspace, src, lab):
    ws = make_workspace()
    host = lab.hosts[0]
    attach(ws, host, "box", "--key", lab.client_key)
    wait_ready(ws, "box")
    write(src / "job.py", """
        import os, time
        from ferry import Run
        run = Run.get_context()
        marker = os.path.expanduser("~/attempted")
        if not os.path.exists(marker):
            open(marker, "w").write("1")
            run.log("attempt", 1)
            print("first attempt", flush=True)
            time.sleep(300)
        run.log("attempt", 2)
        print("second attempt", os.environ["FERRY_ATTEMPT"], flush=True)
    """)
    write(src / "rq.runconfig", "script: job.py\ntarget: box\nrequeueOnNodeLoss: true\n"
                                "environment:\n  python:\n    userManagedDependencies: true\n    interpreterPath: python3\n")
    run_id = ws.cli("run", "submit-script", "-d", src, "-c", str(src / "rq.runconfig")).stdout.strip()
    wait_until(lambda: "first attempt" in ws.log(run_id), 60, "the first attempt to start")
    wait_until(lambda: "attempt" in [k for k in ws.api("GET", f"/runs/{run_id}/metrics")[1]["metrics"]], 30,
               "the first attempt's metric")
    host.stop()   # the VM is lost...
    host.start()  # ...and comes back empty
    run = ws.wait_status(run_id, ["Completed", "Failed", "Canceled"], timeout=120)
    assert run["status"] == "Completed", run
    assert run["attempt"] == 2
    assert any("requeued (requeueOnNodeLoss)" in h["reason"] for h in ws.history(run_id))
    log = ws.log(run_id)
    assert log.index("first attempt") < log.index("second attempt 2"), log
    status, body, _ = ws.api("GET", f"/runs/{run_id}/metrics")
    assert [p["value"] for p in body["metrics"]["attempt"]] == [1, 2]  # neither lost nor overwritten


def test_environment_is_built_once_on_the_host_and_the_host_key_is_pinned(make_workspace, src, lab):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
    from wheels import make_wheel
    ws = make_workspace()
    host = lab.hosts[0]
    attach(ws, host, "box", "--key", lab.client_key)
    wait_ready(ws, "box")
    # Trusted on first use: the stored key is the host's.
    pinned = (ws.home / "ssh" / "box.known_hosts").read_text()
    assert host.host_key_line().split()[-1] in pinned
    # The host's own pip configuration (an offline wheel directory in the user's home).
    make_wheel(host.home / "wheels", "ferrytestpkg", "4.0")
    (host.home / ".config" / "pip").mkdir(parents=True)
    (host.home / ".config" / "pip" / "pip.conf").write_text(
        f"[global]\nno-index = true\nfind-links = {host.remote_home}/wheels\n")
    for p in (host.home / "wheels", host.home / ".config"):
        os.system(f"chown -R {lab.uid}:{lab.gid} {p}")
    write(src / "requirements.txt", "ferrytestpkg==4.0\n")
    write(src / "job.py", "import sys, ferrytestpkg\nprint('pkg', ferrytestpkg.VERSION, sys.prefix)\n")
    write(src / "m.runconfig", "script: job.py\ntarget: box\nrequirementsFile: requirements.txt\nenvironment:\n"
                               "  python:\n    userManagedDependencies: false\n    interpreterPath: python3\n")
    for expect in ("building environment", "reusing environment"):
        r = ws.cli("run", "submit-script", "-d", src, "-c", str(src / "m.runconfig"), "--wait", check=False, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"[ferry] {expect}" in r.stdout, r.stdout
        assert f"pkg 4.0 {host.remote_home}/.ferry-agent/envs/" in r.stdout, r.stdout


def test_sdk_attaches_a_host_runs_on_it_and_detaches(make_workspace, src, lab):
    """The Python SDK's ComputeTarget.attach / wait_for_completion / detach with a real host, and a
    ScriptRunConfig submitted to it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
    from ferry import ComputeTarget, ComputeTargetException, Experiment, RemoteCompute, ScriptRunConfig, Workspace

    ws = make_workspace()
    host = lab.hosts[0]
    w = Workspace(home=str(ws.home))
    cfg = RemoteCompute.attach_configuration(address=host.ip, ssh_port=int(host.port), username=host.user,
                                             private_key_file=str(lab.client_key))
    box = ComputeTarget.attach(w, "sdkbox", cfg)
    box.wait_for_completion()
    assert box.type == "VirtualMachine" and box.kind == "ssh" and box.provisioning_state == "Succeeded"
    write(src / "train.py", TRAIN)
    run = Experiment(w, "sdk-ssh").submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                                          arguments=[3, 0], compute_target=box))
    assert run.wait_for_completion()["status"] == "Completed"
    assert run.get_metrics()["loss"] == [1.0, 0.5, 1 / 3]
    assert ws.run(run.id)["target"] == "sdkbox"
    box.detach()
    with pytest.raises(ComputeTargetException):
        ComputeTarget(workspace=w, name="sdkbox")


def test_a_killed_agent_takes_its_script_along_on_the_host(make_workspace, src, lab):
    """Agent and its watchdog killed on the host: PR_SET_PDEATHSIG stops the script, and the
    server, finding the agent gone, stops the script's child over SSH (issue 17 item 9)."""
    from conftest import pid_alive
    from test_hardening_agent import ORPHAN, children_of

    ws = make_workspace()
    host = lab.hosts[0]
    attach(ws, host, "box", "--key", lab.client_key)
    wait_ready(ws, "box")
    write(src / "orphan.py", ORPHAN)
    run_id, r = submit(ws, src, "box", "orphan.py")
    assert run_id, r.stderr
    pids_file = host.home / ".ferry-agent" / "work" / run_id / "pids.json"
    wait_until(pids_file.exists, 90, "the remote script to record its pids")
    pids = json.loads(pids_file.read_text())
    watchdog = [p for p in children_of(pids["agent"]) if p != pids["script"]]
    assert len(watchdog) == 1, watchdog
    for p in [pids["agent"], *watchdog]:
        os.kill(p, 9)
    wait_until(lambda: not pid_alive(pids["script"]) and not pid_alive(pids["child"]), 60,
               "the remote script and its child to be stopped")
    run = ws.wait_status(run_id, "Failed", timeout=60)
    assert f"(pid {pids['agent']}) exited without reporting a final status (killed?)" in run["error"], run
    assert f"its script (process group {pids['script']}) was stopped" in run["error"], run
