"""Run lifecycle end to end: statuses, logs, metrics, outputs, failure, cancel, concurrency."""

from __future__ import annotations

import hashlib
import os
import select
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import REPO, pid_alive, pids_in_group, wait_until


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_statuses_in_order_and_wait_streams_output(workspace, src):
    write(src / "hello.py", """
        import sys
        for i in range(5):
            print(f"hello line {i}", flush=True)
    """)
    run_id, r = workspace.submit(src, "hello.py", wait=True)
    assert r.returncode == 0
    assert run_id, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.startswith("hello line")]
    assert lines == [f"hello line {i}" for i in range(5)], r.stdout
    hist = workspace.history(run_id)
    assert [h["status"] for h in hist] == ["Queued", "Preparing", "Running", "Finalizing", "Completed"], hist
    times = [h["time"] for h in hist]
    assert times == sorted(times), hist
    assert times[3] == times[4], hist  # small outputs: Finalizing and Completed in one report
    run = workspace.run(run_id)
    assert run["status"] == "Completed" and run["exit_code"] == 0
    # The working copy is freed once everything is on the server.
    wait_until(lambda: not (workspace.home / "work" / run_id).exists(), 30, "the work dir to be removed")


def test_large_outputs_are_collected_while_the_run_is_finalizing(workspace, src):
    # Small outputs go with the final status in one report; past 8 MiB the agent reports
    # Finalizing first and collects them while the run shows it. Same history, same artifacts.
    write(src / "big.py", """
        import os
        os.makedirs("outputs", exist_ok=True)
        with open("outputs/big.bin", "wb") as f:
            f.write(os.urandom(9 << 20))
        print("wrote it")
    """)
    run_id, r = workspace.submit(src, "big.py", wait=True)
    assert r.returncode == 0, r.stdout + r.stderr
    hist = workspace.history(run_id)
    assert [h["status"] for h in hist] == ["Queued", "Preparing", "Running", "Finalizing", "Completed"], hist
    assert hist[3]["reason"] == "script exited with code 0", hist
    assert hist[4]["time"] > hist[3]["time"], hist  # two reports: Finalizing came first
    status, body, _ = workspace.api("GET", f"/runs/{run_id}/artifacts")
    assert status == 200, body
    sizes = {a["path"]: a["size"] for a in body["artifacts"]}
    assert sizes["outputs/big.bin"] == 9 << 20 and sizes["logs/std_log.txt"] == len("wrote it\n"), sizes


def test_logs_equal_output_and_follow_streams(workspace, src, tmp_path):
    write(src / "mixed.py", """
        import sys
        for i in range(3):
            print(f"out {i}")
            sys.stdout.flush()
            print(f"err {i}", file=sys.stderr)
            sys.stderr.flush()
    """)
    run_id, _ = workspace.submit(src, "mixed.py")
    workspace.wait_status(run_id, "Completed")
    expected = "".join(f"out {i}\nerr {i}\n" for i in range(3))
    assert workspace.cli("run", "logs", run_id).stdout == expected

    release = tmp_path / "release"
    write(src / "gate.py", """
        import os, sys, time
        print("ready", flush=True)
        deadline = time.time() + 120
        while not os.path.exists(sys.argv[1]) and time.time() < deadline:
            time.sleep(0.05)
        print("done", flush=True)
    """)
    run_id, _ = workspace.submit(src, "gate.py", str(release))
    workspace.wait_status(run_id, "Running")
    follower = subprocess.Popen([str(workspace.ferry), "--home", str(workspace.home), "run", "logs", "-f", run_id],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([follower.stdout], [], [], 60)
        assert ready, "run logs -f printed nothing within 60 s"
        first = follower.stdout.readline()
        assert first == b"ready\n"
        # The run is still running (it waits for the release file) while we already read its output.
        assert workspace.run(run_id)["status"] == "Running"
        assert follower.poll() is None
        release.touch()
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert out == b"done\n", (out, err)
    assert follower.returncode == 0, err
    assert workspace.run(run_id)["status"] == "Completed"


def test_metrics_summaries_and_tags(workspace, src):
    write(src / "metrics.py", """
        from ferry import Run
        run = Run.get_context()
        for i in range(100):
            run.log("loss", 1.0 / (i + 1))
            run.log("acc", i * 0.01, step=i * 2)
        for r in range(3):
            run.log_row("tbl", a=r, b=r * 10)
        run.set_tags({"model": "ridge", "lr": 0.1})
        print("logged", flush=True)
    """)
    run_id, _ = workspace.submit(src, "metrics.py")
    workspace.wait_status(run_id, "Completed")
    status, body, _ = workspace.api("GET", f"/runs/{run_id}/metrics")
    assert status == 200
    m = body["metrics"]
    assert {k for k in m if not k.startswith("system/")} == {"loss", "acc", "tbl/a", "tbl/b"}
    assert [(p["step"], p["value"]) for p in m["loss"]] == [(i, 1.0 / (i + 1)) for i in range(100)]
    assert [(p["step"], p["value"]) for p in m["acc"]] == [(i * 2, i * 0.01) for i in range(100)]
    assert [(p["step"], p["value"]) for p in m["tbl/a"]] == [(r, r) for r in range(3)]
    assert [(p["step"], p["value"]) for p in m["tbl/b"]] == [(r, r * 10) for r in range(3)]

    show = workspace.cli_json("run", "show", run_id)
    loss = show["metrics"]["loss"]
    assert (loss["last"], loss["min"], loss["max"], loss["count"]) == (1.0 / 100, 1.0 / 100, 1.0, 100)
    acc = show["metrics"]["acc"]
    assert (acc["last"], acc["min"], acc["max"], acc["count"]) == (99 * 0.01, 0.0, 99 * 0.01, 100)
    assert show["metrics"]["tbl/b"]["count"] == 3
    assert show["tags"] == {"model": "ridge", "lr": "0.1"}
    assert [h["status"] for h in show["history"]][-1] == "Completed"


def test_outputs_downloaded_byte_exact(workspace, src, tmp_path):
    write(src / "out.py", """
        import hashlib, os
        os.makedirs("outputs/sub", exist_ok=True)
        data = os.urandom(300000)
        with open("outputs/model.bin", "wb") as f:
            f.write(data)
        with open("outputs/sub/a.txt", "w") as f:
            f.write("alpha\\nbeta\\n")
        print("sha", hashlib.sha256(data).hexdigest(), flush=True)
    """)
    run_id, _ = workspace.submit(src, "out.py")
    workspace.wait_status(run_id, "Completed")
    sha = workspace.log(run_id).split("sha ", 1)[1].split()[0]
    dest = tmp_path / "dl"
    workspace.cli("run", "download", run_id, "--output-dir", dest)
    model = (dest / "outputs/model.bin").read_bytes()
    assert len(model) == 300000 and hashlib.sha256(model).hexdigest() == sha
    assert (dest / "outputs/sub/a.txt").read_text() == "alpha\nbeta\n"
    assert (dest / "logs/std_log.txt").exists()
    assert (dest / "logs/std_log.txt").read_text() == workspace.log(run_id)
    paths = {a["path"] for a in workspace.cli_json("run", "show", run_id)["artifacts"]}
    assert {"outputs/model.bin", "outputs/sub/a.txt", "logs/std_log.txt"} <= paths
    # --prefix only downloads what it names.
    dest2 = tmp_path / "dl2"
    workspace.cli("run", "download", run_id, "--output-dir", dest2, "--prefix", "outputs/sub/")
    assert sorted(str(p.relative_to(dest2)) for p in dest2.rglob("*") if p.is_file()) == ["outputs/sub/a.txt"]


def test_failing_script(workspace, src):
    write(src / "fail.py", """
        for i in range(30):
            print(f"before failing {i}", flush=True)
        raise SystemExit(3)
    """)
    run_id, r = workspace.submit(src, "fail.py", wait=True, check=False)
    assert r.returncode == 1, (r.stdout, r.stderr)
    run = workspace.run(run_id)
    assert run["status"] == "Failed"
    assert run["exit_code"] == 3
    assert "before failing 29" in run["error"] and "before failing 28" in run["error"], run["error"]
    assert "before failing 29" in r.stderr  # --wait prints the error


SLEEPER = """
    import os, signal, subprocess, sys, time
    if sys.argv[2] == "ignore":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN) if %r == 'ignore' else None; time.sleep(300)" % sys.argv[2]])
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(f"{os.getpid()} {os.getpgid(0)} {child.pid}")
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    end = time.time() + 300
    i = 0
    while time.time() < end:
        print(f"tick {i}", flush=True)
        i += 1
        time.sleep(0.2)
"""


@pytest.mark.parametrize("mode", ["normal", "ignore"])
def test_cancel_running(workspace, src, tmp_path, mode):
    write(src / "sleeper.py", SLEEPER)
    pidfile = tmp_path / "pids"
    run_id, _ = workspace.submit(src, "sleeper.py", str(pidfile), mode)
    workspace.wait_status(run_id, "Running")
    wait_until(pidfile.exists, 60, "the script to write its pid file")
    pid, pgid, child = map(int, pidfile.read_text().split())
    assert pid_alive(pid) and pid_alive(child)
    r = workspace.cli("run", "cancel", run_id)
    assert "cancel requested" in r.stdout
    run = workspace.wait_status(run_id, "Canceled", timeout=60)
    assert run["status"] == "Canceled"
    wait_until(lambda: not pid_alive(pid) and not pid_alive(child) and not pids_in_group(pgid), 30,
               "the script's process group to be gone")
    statuses = [h["status"] for h in workspace.history(run_id)]
    assert statuses[:3] == ["Queued", "Preparing", "Running"] and statuses[-1] == "Canceled", statuses
    # Canceling again names the run and says it has ended.
    again = workspace.cli("run", "cancel", run_id, check=False)
    assert again.returncode == 1 and run_id in again.stderr


@pytest.mark.max_runs(1)
def test_cancel_queued(workspace, src, tmp_path):
    release = tmp_path / "release"
    write(src / "gate.py", """
        import os, sys, time
        deadline = time.time() + 120
        while not os.path.exists(sys.argv[1]) and time.time() < deadline:
            time.sleep(0.05)
    """)
    blocker, _ = workspace.submit(src, "gate.py", str(release))
    workspace.wait_status(blocker, "Running")
    queued, _ = workspace.submit(src, "gate.py", str(release))
    assert workspace.run(queued)["status"] == "Queued"
    workspace.cli("run", "cancel", queued)
    workspace.wait_status(queued, "Canceled", timeout=30)
    release.touch()
    workspace.wait_status(blocker, "Completed")
    statuses = [h["status"] for h in workspace.history(queued)]
    assert statuses == ["Queued", "Canceled"], statuses
    assert workspace.run(queued)["started_at"] in (None, 0, 0.0)


@pytest.mark.max_runs(2)
def test_concurrency_limit(workspace, src):
    write(src / "timed.py", """
        import time
        start = time.time()
        time.sleep(1.0)
        print(f"TIMES {start!r} {time.time()!r}", flush=True)
    """)
    ids = []
    for _ in range(5):
        run_id, _ = workspace.submit(src, "timed.py")
        ids.append(run_id)
    intervals = []
    for run_id in ids:
        workspace.wait_status(run_id, "Completed", timeout=120)
        line = [l for l in workspace.log(run_id).splitlines() if l.startswith("TIMES ")][0]
        intervals.append(tuple(map(float, line.split()[1:3])))
    for s, _ in intervals:
        overlapping = sum(1 for s2, e2 in intervals if s2 <= s < e2)
        assert overlapping <= 2, intervals
    # FIFO: the scheduler starts runs in submission order.
    prep = [next(h["time"] for h in workspace.history(i) if h["status"] == "Preparing") for i in ids]
    assert prep == sorted(prep), prep
    # With 2 slots, run k starts only after at least k-1 of the runs submitted before it ended.
    for k in range(2, 5):
        ends_before = sorted(e for _, e in intervals[:k])
        assert intervals[k][0] >= ends_before[k - 2], intervals


LISTER = """
    import os
    for root, dirs, files in os.walk("."):
        for f in files:
            print("FILE", os.path.relpath(os.path.join(root, f), "."))
"""


@pytest.mark.parametrize("upload", ["local", "http"])
def test_snapshot_dedup_and_ignore_files(workspace, src, upload, monkeypatch):
    # local: the CLI writes blobs into the workspace's store itself; http: it uploads them.
    monkeypatch.setenv("FERRY_UPLOAD", upload)
    for i in range(50):
        write(src / f"pkg/mod{i:02d}.py", f"X = {i}\n")
    write(src / "list.py", LISTER)
    # Root: .ferryignore shadows the root .gitignore.
    write(src / ".ferryignore", "*.log\nsecret/\n")
    write(src / ".gitignore", "kept_despite_gitignore.txt\n")
    write(src / "kept_despite_gitignore.txt", "x\n")
    write(src / "debug.log", "x\n")
    write(src / "secret/key.txt", "x\n")
    # sub/: its own .gitignore applies below it.
    write(src / "sub/.gitignore", "build/\n*.tmp\n")
    write(src / "sub/keep.txt", "x\n")
    write(src / "sub/a.tmp", "x\n")
    write(src / "sub/build/out.o", "x\n")

    first, r1 = workspace.submit(src, "list.py")
    assert "uploaded" in r1.stderr and "uploaded 0 files" not in r1.stderr, r1.stderr
    second, r2 = workspace.submit(src, "list.py")
    assert "uploaded 0 files" in r2.stderr, r2.stderr
    (src / "pkg/mod07.py").write_text("X = 'changed, and longer'\n")
    third, r3 = workspace.submit(src, "list.py")
    assert "uploaded 1 files" in r3.stderr, r3.stderr

    for run_id in (first, second, third):
        workspace.wait_status(run_id, "Completed")
    files = {l[5:] for l in workspace.log(first).splitlines() if l.startswith("FILE ")}
    assert {f"pkg/mod{i:02d}.py" for i in range(50)} <= files
    assert {"list.py", ".ferryignore", ".gitignore", "kept_despite_gitignore.txt", "sub/.gitignore",
            "sub/keep.txt"} <= files
    for excluded in ("debug.log", "secret/key.txt", "sub/a.tmp", "sub/build/out.o"):
        assert excluded not in files, (excluded, sorted(files))
    assert workspace.run(first)["snapshot_id"] == workspace.run(second)["snapshot_id"]
    assert workspace.run(third)["snapshot_id"] != workspace.run(first)["snapshot_id"]


def test_server_sigkill_mid_run(workspace, src, tmp_path):
    release = tmp_path / "release"
    write(src / "many.py", """
        import os, sys, time
        from ferry import Run
        run = Run.get_context()
        for chunk in range(20):
            if chunk == 10:
                deadline = time.time() + 120
                while not os.path.exists(sys.argv[1]) and time.time() < deadline:
                    time.sleep(0.05)
            for i in range(chunk * 500, (chunk + 1) * 500):
                run.log("m", i * 0.5, step=i)
            print(f"chunk {chunk}", flush=True)
            time.sleep(0.05)
    """)
    run_id, _ = workspace.submit(src, "many.py", str(release))
    workspace.wait_status(run_id, "Running")

    def some_points():
        return workspace.run(run_id).get("metrics", {}).get("m", {}).get("count", 0) > 0

    wait_until(some_points, 60, "some metric points to be stored")
    old_url = workspace.url
    workspace.kill_server()
    release.touch()  # the second half is written while no server is up
    workspace.start_server()
    assert workspace.url  # may differ from old_url: the agent re-reads server.json
    run = workspace.wait_status(run_id, "Completed", timeout=120)
    status, body, _ = workspace.api("GET", f"/runs/{run_id}/metrics?key=m")
    assert status == 200
    pts = body["metrics"]["m"]
    assert len(pts) == 10000
    assert sorted(p["step"] for p in pts) == list(range(10000))
    assert all(p["value"] == p["step"] * 0.5 for p in pts)
    assert run["metrics"]["m"]["count"] == 10000
    log_lines = workspace.log(run_id).splitlines()
    chunk_lines = [l for l in log_lines if l.startswith("chunk ")]
    assert chunk_lines == [f"chunk {c}" for c in range(20)], log_lines
    del old_url


def test_killed_server_port_is_not_held_by_runs(workspace, src, tmp_path):
    """The server's listening socket must not leak into agents/scripts: once the server is killed its
    port refuses connections, so agents reconnect at once instead of hanging in an unaccepted backlog."""
    release = tmp_path / "release"
    write(src / "gate.py", """
        import os, sys, time
        def link(fd):
            try:
                return os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                return ""
        print("socket fds:", sorted(l for l in map(link, os.listdir("/proc/self/fd")) if l.startswith("socket:")),
              flush=True)
        deadline = time.time() + 120
        while not os.path.exists(sys.argv[1]) and time.time() < deadline:
            time.sleep(0.05)
    """)
    run_id, _ = workspace.submit(src, "gate.py", str(release))
    workspace.wait_status(run_id, "Running")
    port = int(workspace.url.rsplit(":", 1)[1])
    workspace.kill_server()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            held = True
    except ConnectionRefusedError:
        held = False
    finally:
        release.touch()
        workspace.start_server()
    workspace.wait_status(run_id, "Completed", timeout=120)
    log = workspace.log(run_id)
    assert not held, f"port {port} still accepts connections after the server was SIGKILLed; run log:\n{log}"
    assert "socket fds: []" in log, log


def test_diabetes_example(workspace, tmp_path):
    probe = subprocess.run([sys.executable, "-c", "import sklearn, joblib"], capture_output=True, text=True)
    assert probe.returncode == 0, f"scikit-learn must be installed for {sys.executable}: {probe.stderr}"
    ex = REPO / "examples/diabetes"
    run_id, r = workspace.submit(ex, ex / "train.py", "--alpha", "0.1", wait=True, timeout=300)
    assert r.returncode == 0, (r.stdout, r.stderr)
    status, body, _ = workspace.api("GET", f"/runs/{run_id}/metrics")
    assert status == 200
    assert [p["value"] for p in body["metrics"]["alpha"]] == [0.1]
    assert len(body["metrics"]["mse"]) == 1 and body["metrics"]["mse"][0]["value"] > 0
    assert workspace.run(run_id)["params"].get("alpha") == "0.1"
    dest = tmp_path / "dl"
    workspace.cli("run", "download", run_id, "--output-dir", dest, "--prefix", "outputs/")
    assert (dest / "outputs/model.pkl").stat().st_size > 0


def test_submit_wait_survives_a_server_crash(workspace, src):
    """`submit --wait` reconnects when the server dies (starting the embedded workspace
    again) and streams the rest of the log from where it was, without repeating a line."""
    write(src / "slow.py", """
        import time
        for i in range(8):
            print("tick", i, flush=True)
            time.sleep(0.4)
    """)
    cmd = [str(workspace.ferry), "--home", str(workspace.home), "run", "submit", "--wait",
           "--python", sys.executable, "--source-dir", str(src), "slow.py"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def running():
            status, body, _ = workspace.api("GET", "/runs?status=Running")
            return body["runs"][0]["id"] if status == 200 and body["runs"] else None

        run_id = wait_until(running, 30, "the run to start")
        wait_until(lambda: "tick 1" in workspace.log(run_id), 30, "some output")
        workspace.kill_server()
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert "reconnecting" in err, err
    ticks = [l for l in out.splitlines() if l.startswith("tick")]
    assert ticks == [f"tick {i}" for i in range(8)], out


@pytest.fixture
def full_log_disk(workspace):
    """A tiny tmpfs over the server's log store (<home>/runs), so that writes there can be
    made to fail with ENOSPC while the agent's spool (<home>/work) keeps working."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    runs = workspace.home / "runs"
    runs.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(runs)], check=True)
    try:
        yield runs
    finally:
        subprocess.run(["umount", "-l", str(runs)], check=False)


def test_full_disk_on_the_server_loses_no_log_line(workspace, src, full_log_disk):
    filler = full_log_disk / "filler"
    with open(filler, "wb") as f:  # fill the log store's file system to the last byte
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    write(src / "talk.py", """
        for i in range(2000):
            print(f"line {i:04d} " + "x" * 40)
    """)
    run_id, _ = workspace.submit(src, "talk.py")
    # The script is done quickly, but the run cannot finish: the server refuses the log
    # (507) and the agent keeps it spooled and retries.
    wait_until(lambda: (workspace.home / "work" / f"{run_id}.agent" / "std_log.txt").exists()
               and (workspace.home / "work" / f"{run_id}.agent" / "std_log.txt").stat().st_size >= 2000 * 50,
               30, "the script's output in the agent's spool")
    time.sleep(1.0)  # let the agent retry a few times; nothing below depends on how many
    assert workspace.run(run_id)["status"] in ("Running", "Preparing"), workspace.run(run_id)
    expected = "".join(f"line {i:04d} " + "x" * 40 + "\n" for i in range(2000))
    assert len(workspace.log(run_id)) < len(expected)  # the disk really refused it
    filler.unlink()
    workspace.wait_status(run_id, "Completed", timeout=60)
    assert workspace.log(run_id) == expected
