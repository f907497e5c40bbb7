"""What a hostile or careless training script must not be able to do to its run or its node
(issue 17): reach outside its run through symlinked outputs, see the server's environment,
kill its agent with bytes that are not UTF-8, outlive a killed agent; and what a command line
that is not UTF-8 must get from the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from conftest import pid_alive, wait_until
from test_runconfig import write

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from ferry import Run, Workspace  # noqa: E402


def artifacts(ws, run_id) -> set[str]:
    status, body, _ = ws.api("GET", f"/runs/{run_id}/artifacts")
    assert status == 200, body
    return {a["path"] for a in body["artifacts"]}


def raw_log(ws, run_id) -> bytes:
    status, body, _ = ws.api("GET", f"/runs/{run_id}/logs")
    assert status == 200, body
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def content(ws, run_id, path) -> bytes:
    status, body, _ = ws.api("GET", f"/runs/{run_id}/artifacts/content?path=" + urllib.parse.quote(path))
    assert status == 200, (path, body)
    return body if isinstance(body, bytes) else json.dumps(body).encode()


# ------------------------------------------------------------------ item 4: symlinks


def test_symlinked_outputs_and_logs_reach_nothing_outside_the_run(workspace, src):
    write(src / "escape.py", """
        import os
        os.rmdir("outputs")
        os.symlink("/etc", "outputs")                    # the whole directory
        os.symlink("/etc/passwd", "logs/passwd")         # a file inside logs/
        os.makedirs("logs/sub")
        os.symlink("/etc", "logs/sub/etc")               # a directory deeper down
        os.symlink("../../..", "logs/sub/up")            # upwards, relative
        os.mkfifo("logs/fifo")                           # not a regular file either
        with open("logs/sub/real.txt", "w") as f:
            f.write("mine\\n")
        print("done", flush=True)
    """)
    run_id, _ = workspace.submit(src, "escape.py")
    run = workspace.wait_status(run_id, ("Completed", "Failed"), timeout=60)
    assert run["status"] == "Completed", run
    paths = artifacts(workspace, run_id)
    assert "logs/sub/real.txt" in paths
    assert content(workspace, run_id, "logs/sub/real.txt") == b"mine\n"
    assert not [p for p in paths if p.startswith("outputs") or "passwd" in p or "/etc" in p or "/up/" in p], paths
    assert paths <= {"logs/sub/real.txt", "logs/std_log.txt", "logs/ferry-agent.txt"}, paths
    log = raw_log(workspace, run_id).decode()
    assert "[ferry agent] not collecting outputs: a symbolic link (to /etc); symbolic links are never followed" in log
    assert "[ferry agent] not collecting logs/passwd: a symbolic link (to /etc/passwd)" in log
    assert "[ferry agent] not collecting logs/sub/etc: a symbolic link (to /etc)" in log
    assert "[ferry agent] not collecting logs/fifo: a named pipe, not a regular file" in log


# ------------------------------------------------------------------ item 7: environment

ENV_SCRIPT = """
import json, os
json.dump(dict(os.environ), open("outputs/env.json", "w"))
"""

ENV_RUNCONFIG = """\
script: envdump.py
target: local
environment:
  environmentVariables:
    RUN_CONFIG_VAR: from the run configuration
  python:
    userManagedDependencies: true
    interpreterPath: {python}
"""


def test_the_script_sees_an_allow_list_of_the_servers_environment(make_workspace, src):
    ws = make_workspace(env={"FERRY_TEST_SECRET_XYZ": "do-not-leak", "FERRY_TOKEN": "a-users-token",
                             "AWS_SECRET_ACCESS_KEY": "cloud-key", "no_proxy": "example.internal",
                             "LC_TIME": "C", "PYTHONPATH": "/server/only"})
    write(src / "envdump.py", ENV_SCRIPT)
    write(src / "env.yml", ENV_RUNCONFIG.format(python=sys.executable))
    r = ws.cli("run", "submit-script", "-d", src, "-c", src / "env.yml", "--wait", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    run_id = ws.cli_json("run", "list")["runs"][0]["id"]
    env = json.loads(content(ws, run_id, "outputs/env.json"))
    for secret in ("FERRY_TEST_SECRET_XYZ", "FERRY_TOKEN", "AWS_SECRET_ACCESS_KEY", "FERRY_RUN_TOKEN"):
        assert secret not in env, (secret, sorted(env))
    assert not [v for v in env.values() if v in ("do-not-leak", "a-users-token", "cloud-key")]
    assert env["PATH"] == os.environ["PATH"] and env["HOME"] == os.environ["HOME"]
    assert env["no_proxy"] == "example.internal" and env["LC_TIME"] == "C"
    assert env["RUN_CONFIG_VAR"] == "from the run configuration"
    assert env["FERRY_RUN_ID"] == run_id and env["FERRY_METRICS_FILE"].endswith("metrics.jsonl")
    assert env["MLFLOW_RUN_ID"] == run_id and env["MLFLOW_TRACKING_TOKEN"]
    assert "/server/only" not in env["PYTHONPATH"]  # only Ferry's package directory
    allowed = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "RUN_CONFIG_VAR",
               "PYTHONPATH", "PYTHONUNBUFFERED"}
    prefixes = ("FERRY_", "MLFLOW_", "LC_", "CUDA_", "NVIDIA_", "SLURM_", "PMI_", "PMIX_", "OMPI_")
    extra = {k for k in env if k not in allowed and not k.startswith(prefixes) and "proxy" not in k.lower()}
    # What the interpreter adds itself (e.g. LC_CTYPE coercion) is not the node's.
    assert extra <= {"PWD", "SHLVL", "_"}, extra


# ------------------------------------------------------------------ item 8: bytes


def test_bytes_that_are_not_utf8_cost_the_run_nothing(workspace, src, tmp_path):
    write(src / "junk.py", r"""
        import os
        os.write(1, b"progress \xff\xfe\r50%\r100%\n")
        with open(os.environ["FERRY_METRICS_FILE"], "ab") as m:
            m.write(b'{"k":"bad\xff","v":1}\n{"tags":{"t\xfe":"v"}}\n{"k":"good","v":2}\n')
        os.makedirs(b"outputs/d\xe9j\xe0", exist_ok=True)
        for name, data in [(b"outputs/caf\xe9.bin", b"latin-1 name"), (b"outputs/back\\slash.txt", b"backslash"),
                           (b"outputs/d\xe9j\xe0/\xff", b"deep"), ("outputs/\u00fcn\u00efcode.txt".encode(), b"utf-8 name")]:
            with open(name, "wb") as f:
                f.write(data)
        os.write(2, b"last words \xc3\n")
        raise SystemExit(3)
    """)
    run_id, _ = workspace.submit(src, "junk.py")
    run = workspace.wait_status(run_id, ("Completed", "Failed", "Canceled"), timeout=60)
    # The script's own failure, with its exit code and output tail: not "agent lost".
    assert run["status"] == "Failed" and run["exit_code"] == 3, run
    assert "script exited with code 3" in run["error"] and "last words" in run["error"], run
    log = raw_log(workspace, run_id)
    assert b"progress \xff\xfe\r50%\r100%\n" in log and b"last words \xc3\n" in log  # the bytes, unchanged
    status, body, _ = workspace.api("GET", f"/runs/{run_id}/metrics")
    assert status == 200 and "good" in json.dumps(body), body
    expected = {"outputs/caf\\xe9.bin": b"latin-1 name", "outputs/back\\\\slash.txt": b"backslash",
                "outputs/d\\xe9j\\xe0/\\xff": b"deep", "outputs/ünïcode.txt": b"utf-8 name"}
    paths = artifacts(workspace, run_id)
    assert set(expected) <= paths, paths
    for path, data in expected.items():
        assert content(workspace, run_id, path) == data
    # Downloads give the names' exact bytes back: the CLI...
    dest = tmp_path / "dl"
    workspace.cli("run", "download", run_id, "--output-dir", dest, "--prefix", "outputs/")
    d = os.fsencode(dest / "outputs")
    assert sorted(os.listdir(d)) == sorted([b"caf\xe9.bin", b"back\\slash.txt", b"d\xe9j\xe0", "ünïcode.txt".encode()])
    assert open(os.path.join(d, b"d\xe9j\xe0", b"\xff"), "rb").read() == b"deep"
    # ... and the SDK.
    ws = Workspace(url=workspace.url, token=workspace.token)
    got = Run.get(ws, run_id).download_files(prefix="outputs/", output_directory=str(tmp_path / "sdk"))
    assert len(got) == 4
    s = os.fsencode(tmp_path / "sdk" / "outputs")
    assert open(os.path.join(s, b"caf\xe9.bin"), "rb").read() == b"latin-1 name"
    assert open(os.path.join(s, b"back\\slash.txt"), "rb").read() == b"backslash"
    assert open(os.path.join(s, b"d\xe9j\xe0", b"\xff"), "rb").read() == b"deep"


# ------------------------------------------------------------------ item 9: killed agents

ORPHAN = """
import json, os, subprocess, sys, time
child = subprocess.Popen(["sleep", "300"])  # the script's own child, in its process group
json.dump({"script": os.getpid(), "agent": os.getppid(), "child": child.pid}, open("pids.tmp", "w"))
os.rename("pids.tmp", "pids.json")
print("ready", flush=True)
time.sleep(300)
"""


def children_of(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat", "rb") as f:
                    fields = f.read().decode(errors="replace").rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                out.append(int(d))
    return out


def start_orphan_run(workspace, src):
    write(src / "orphan.py", ORPHAN)
    run_id, _ = workspace.submit(src, "orphan.py")
    pids_file = workspace.home / "work" / run_id / "pids.json"
    wait_until(pids_file.exists, 60, "the script to record its pids")
    return run_id, json.loads(pids_file.read_text())


@pytest.mark.parametrize("also_kill_watchdog", [False, True], ids=["agent", "agent-and-watchdog"])
def test_a_killed_agent_takes_its_script_and_the_scripts_children_along(workspace, src, also_kill_watchdog):
    run_id, pids = start_orphan_run(workspace, src)
    assert pid_alive(pids["script"]) and pid_alive(pids["child"])
    victims = [pids["agent"]]
    if also_kill_watchdog:
        # Then PR_SET_PDEATHSIG stops the script, and the server, reconciling, the rest.
        victims += [p for p in children_of(pids["agent"]) if p != pids["script"]]
        assert len(victims) == 2, victims
    for p in victims:
        os.kill(p, signal.SIGKILL)
    wait_until(lambda: not pid_alive(pids["script"]) and not pid_alive(pids["child"]), 30,
               "the script and its child to die with the agent")
    run = workspace.wait_status(run_id, "Failed", timeout=30)
    error = run["error"]
    assert f"the agent (pid {pids['agent']}) ended without reporting a final status (killed?)" in error, error
    assert f"its script (process group {pids['script']}) was stopped" in error, error


def test_the_script_leaves_nothing_running_after_a_normal_end(workspace, src):
    write(src / "leave.py", """
        import json, subprocess
        child = subprocess.Popen(["sleep", "300"])
        json.dump({"child": child.pid}, open("outputs/child.json", "w"))
    """)
    run_id, _ = workspace.submit(src, "leave.py")
    workspace.wait_status(run_id, "Completed", timeout=60)
    child = json.loads(content(workspace, run_id, "outputs/child.json"))["child"]
    wait_until(lambda: not pid_alive(child), 10, "the script's leftover child to be stopped")
    assert b"[ferry agent] stopped 1 process(es) that the script left running in its process group" in raw_log(
        workspace, run_id)


# ------------------------------------------------------------------ item 10: CLI argv


def cli_bytes(ws, *args: bytes, cwd=None):
    return subprocess.run([os.fsencode(ws.ferry), b"--home", os.fsencode(ws.home), *args],
                          capture_output=True, timeout=120, cwd=cwd)


def test_command_line_values_that_are_not_utf8_get_a_clear_error(workspace, src):
    write(src / "t.py", "print('hi')\n")
    base = [b"run", b"submit", b"--source-dir", os.fsencode(src), b"--python", os.fsencode(sys.executable)]
    r = cli_bytes(workspace, *base, b"--tag", b"x=ab\xff", b"t.py")
    assert r.returncode == 2, r
    assert b"ferry: tag 'x': value 'ab\\xff' is not valid UTF-8 (byte 0xff at offset 2)" in r.stderr, r.stderr
    r = cli_bytes(workspace, *base, b"-e", b"exp\xfe", b"t.py")
    assert r.returncode == 2 and b"experiment: value 'exp\\xfe' is not valid UTF-8 (byte 0xfe at offset 3)" in r.stderr, r
    r = cli_bytes(workspace, *base, b"t.py", b"--", b"--lr", b"0.1\xff")
    assert r.returncode == 2 and b"script argument 2: value '0.1\\xff' is not valid UTF-8" in r.stderr, r
    # Any other verb: the uncaught JSON error is turned into a message naming the argument.
    r = cli_bytes(workspace, b"experiment", b"create", b"-n", b"bad\xc3")
    assert r.returncode == 2, r
    assert b"command-line argument 6 (of -n): value 'bad\\xc3' is not valid UTF-8 (byte 0xc3 at offset 3)" in r.stderr, \
        r.stderr
    assert b"terminate called" not in r.stderr
    assert workspace.cli_json("run", "list")["runs"] == []  # nothing was submitted


# ------------------------------------------------------------------ item 12: full disk

FILL_AND_LOG = """
import os
from ferry import Run
run = Run.get_context()
run.log("before", 1)
fd = os.open("filler", os.O_WRONLY | os.O_CREAT, 0o644)
for size in (1 << 16, 1):  # to the last byte
    try:
        while True:
            os.write(fd, b"\\0" * size)
    except OSError:
        pass
for i in range(100):
    run.log("during", i)  # dropped (a few may still fit the metrics file's last page)
os.close(fd)
os.remove("filler")
run.log("after", 1)
"""


def test_a_full_disk_under_the_run_drops_points_not_the_script(make_workspace, src):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    # No system metrics: only the script appends to the metrics file while the disk is full.
    ws = make_workspace(env={"FERRY_SYSTEM_METRICS_INTERVAL": "0"})
    work = ws.home / "work"
    work.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(work)], check=True)
    try:
        write(src / "fill.py", FILL_AND_LOG)
        run_id, _ = ws.submit(src, "fill.py")
        run = ws.wait_status(run_id, ("Completed", "Failed"), timeout=60)
        assert run["status"] == "Completed", (run, raw_log(ws, run_id))
        metrics = run["metrics"]
        assert metrics["before"]["count"] == 1 and metrics["after"]["count"] == 1, metrics
        kept = metrics.get("during", {}).get("count", 0)
        dropped = int(run["tags"]["ferry.dropped_metric_points"])
        assert dropped > 0 and kept + dropped == 100, (kept, dropped)
    finally:
        subprocess.run(["umount", "-l", str(work)], check=False)


def test_the_agents_own_files_are_never_used_through_a_symlink(make_workspace, src, tmp_path):
    # The agent's directory is writable by the script, which knows FERRY_METRICS_FILE's path:
    # the agent must neither read (into the log) nor append (system metrics) through a symlink.
    victim = tmp_path / "victim.txt"
    victim.write_text("secret-line-1\nsecret-line-2\n")
    ws = make_workspace(env={"FERRY_SYSTEM_METRICS_INTERVAL": "0.05"})
    write(src / "swap.py", """
        import os, sys, time
        metrics = os.environ["FERRY_METRICS_FILE"]
        os.remove(metrics)
        os.symlink(sys.argv[1], metrics)
        print("swapped", flush=True)
        time.sleep(1)  # a few system-metrics samples
    """)
    run_id, _ = ws.submit(src, "swap.py", str(victim))
    run = ws.wait_status(run_id, ("Completed", "Failed"), timeout=60)
    assert run["status"] == "Completed", run
    assert victim.read_text() == "secret-line-1\nsecret-line-2\n"
    for log in (raw_log(ws, run_id), content(ws, run_id, "logs/std_log.txt")):
        assert b"swapped" in log and b"secret-line" not in log, log


def test_a_status_resent_after_a_lost_answer_is_taken_once(workspace, src):
    """The agent resends a status report whose answer it did not get (a dropped connection, a
    server restart): the server already applied it, so the resend is answered as a success and
    recorded once, instead of a 409 that made the agent stop a running script."""
    write(src / "sleep.py", "import time\ntime.sleep(60)\n")
    run_id, _ = workspace.submit(src, "sleep.py")
    workspace.wait_status(run_id, ["Running"])
    agent = {"Authorization": f"Bearer {workspace.agent_token(run_id)}"}
    before = [h["status"] for h in workspace.history(run_id)]
    status, body, _ = workspace.api("POST", f"/runs/{run_id}/status", auth=False, headers=agent,
                                    json={"status": "Running", "reason": "starting sleep.py"})
    assert status == 200, body
    assert body["status"] == "Running"
    assert [h["status"] for h in workspace.history(run_id)] == before
    # A status the run cannot take is still refused.
    status, body, _ = workspace.api("POST", f"/runs/{run_id}/status", auth=False, headers=agent,
                                    json={"status": "Preparing", "reason": "x"})
    assert status == 409, body
    workspace.cli("run", "cancel", run_id)
    workspace.wait_status(run_id, ["Canceled"])
