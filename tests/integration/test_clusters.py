"""Managed clusters against real Slurm daemons: `ferry compute create cluster` starts its own
munged and slurmctld; the netns provider starts nodes as network namespaces running slurmd.
Needs root, slurm-wlm, munge and iproute2 (scripts/setup.sh installs them)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import sys
import time
from pathlib import Path

import pytest

from conftest import wait_until  # noqa: E402
from test_runconfig import write  # noqa: E402


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "managed clusters with the netns provider need root"
    for tool in ("slurmctld", "slurmd", "munged", "ip", "nsenter", "unshare"):
        if not (shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists()):
            return f"{tool} is not installed (scripts/setup.sh installs slurm-wlm, munge, iproute2)"
    return None


def _pid_alive(path: Path) -> bool:
    try:
        pid = int(path.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _netns(bridge: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(f"ferry-{bridge}-")]


def _force_cleanup(home: Path) -> None:
    """What a failed test may leave: the clusters' daemons, namespaces and bridges."""
    for conf in (home / "clusters").glob("*/cluster.json"):
        c = json.loads(conf.read_text())
        d = Path(c["dir"])
        for pid_file in (d / "run/slurmctld.pid", d / "munge/munged.pid"):
            if _pid_alive(pid_file):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        if c.get("bridge"):
            for ns in _netns(c["bridge"]):
                pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
                for p in pids:
                    try:
                        os.kill(int(p), signal.SIGKILL)
                    except OSError:
                        pass
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            subprocess.run(["ip", "link", "del", c["bridge"]], capture_output=True)


@pytest.fixture
def ws(make_workspace):
    why = _missing()
    if why:
        pytest.fail(why)
    w = make_workspace()
    yield w
    try:
        for t in w.cli_json("compute", "list")["computes"]:
            if t["kind"] == "cluster":
                w.cli("compute", "delete", t["name"], "--force", "--yes", check=False)
    finally:
        _force_cleanup(w.home)


def details(ws, name):
    return ws.cli_json("compute", "show", name)["details"]


def cluster_conf(ws, name) -> dict:
    return json.loads((ws.home / "clusters" / name / "cluster.json").read_text())


WHERE = """
import socket, sys, time
print("on", socket.gethostname(), flush=True)
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""


def test_cluster_grows_for_waiting_runs_and_shrinks_to_zero_when_idle(ws, src):
    r = ws.cli("compute", "create", "cluster", "burst", "--provider", "netns", "--min-nodes", "0", "--max-nodes", "2",
               "--idle-seconds-before-scaledown", "5", "--node-size", "1,1000", "--wait")
    assert "created cluster burst: 0-2 nodes" in r.stdout and "ready" in r.stdout, r.stdout
    d = details(ws, "burst")
    assert d["counts"]["current"] == 0 and len(d["nodes"]) == 2, d  # nothing runs while nothing waits
    text = ws.cli("compute", "show", "burst").stdout
    assert "Nodes:       0-2 of 1 CPUs, 1000 MB; scale down after 5 s idle" in text, text
    assert "0 up (0 busy, 0 idle), 0 starting" in text and "burst-2" in text, text
    bridge = cluster_conf(ws, "burst")["bridge"]
    assert _netns(bridge) == []
    write(src / "where.py", WHERE)
    ids = [ws.cli("run", "submit", "--source-dir", src, "-t", "burst", "where.py", "--", "2").stdout.strip()
           for _ in range(2)]
    hosts = set()
    for i in ids:
        assert ws.wait_status(i, ["Completed", "Failed", "Canceled"], timeout=120)["status"] == "Completed", ws.run(i)
        hosts.add(ws.log(i).split("on ")[1].split()[0])
    assert hosts == {"burst-1", "burst-2"}, hosts  # both nodes were started, one run on each
    assert details(ws, "burst")["scale_ups"] == 2
    # Idle for 5 s: both nodes are stopped, everything on them gone.
    d = wait_until(lambda: (lambda d: d if {n["provider_state"] for n in d["nodes"]} == {"stopped"} else None)(
        details(ws, "burst")), 60, "the idle nodes to be stopped")
    assert d["scale_downs"] == 2 and d["counts"]["current"] == 0 and not _netns(bridge), d
    # Work again: a node comes back.
    r = ws.cli("run", "submit", "--source-dir", src, "-t", "burst", "--wait", "where.py", check=False, timeout=120)
    assert r.returncode == 0 and "on burst-" in r.stdout, r.stdout + r.stderr
    # Delete: nodes, controller, network and directory are gone.
    d = Path(cluster_conf(ws, "burst")["dir"])
    r = ws.cli("compute", "delete", "burst", check=False)
    assert r.returncode == 1 and "confirm with --yes" in r.stderr, r.stderr  # not a terminal: never silently
    ws.cli("compute", "delete", "burst", "--yes")
    assert not d.exists() and not _netns(bridge)
    assert subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode != 0
    assert "burst" not in [t["name"] for t in ws.cli_json("compute", "list")["computes"]]


def test_minimum_nodes_stay_up(ws, src):
    r = ws.cli("compute", "create", "cluster", "warm", "--provider", "netns", "--min-nodes", "1", "--max-nodes", "2",
               "--idle-seconds-before-scaledown", "2", "--node-size", "1,1000", "--wait", timeout=120)
    assert "warm-1: started" in r.stdout and "ready: 1 node(s) up" in r.stdout, r.stdout
    time.sleep(4)  # longer than the idle time
    d = details(ws, "warm")
    assert d["counts"]["current"] == 1 and d["scale_downs"] == 0, d
    write(src / "where.py", WHERE)
    r = ws.cli("run", "submit", "--source-dir", src, "-t", "warm", "--wait", "where.py", check=False, timeout=60)
    assert r.returncode == 0 and "on warm-1" in r.stdout, r.stdout + r.stderr  # no start needed


def test_a_failing_provider_keeps_the_run_waiting_and_says_why(ws, src):
    r = ws.cli("compute", "create", "cluster", "flaky", "--provider", "command", "--max-nodes", "1",
               "--start-command", "echo 'quota exceeded in zone b' >&2; exit 3", "--stop-command", "true",
               "--controller-address", "127.0.0.1", "--server-url", "http://127.0.0.1:9")
    assert "created cluster flaky" in r.stdout
    write(src / "where.py", WHERE)
    run_id = ws.cli("run", "submit", "--source-dir", src, "-t", "flaky", "where.py").stdout.strip()
    node = wait_until(lambda: next((n for n in details(ws, "flaky")["nodes"] if n.get("error")), None), 30,
                      "the provider's error")
    assert node["provider_state"] == "failed" and "quota exceeded in zone b" in node["error"], node
    assert "exit code 3" in node["error"]
    time.sleep(2)
    assert ws.run(run_id)["status"] in ("Queued", "Preparing")  # never lost: it waits for a node
    ws.cli("run", "cancel", run_id)
    assert ws.wait_status(run_id, ["Canceled", "Failed", "Completed"], timeout=30)["status"] == "Canceled"


def test_update_keeps_the_running_run_and_refuses_to_remove_a_busy_node(ws, src):
    ws.cli("compute", "create", "cluster", "grow", "--provider", "netns", "--max-nodes", "1",
           "--idle-seconds-before-scaledown", "30", "--node-size", "1,1000")
    write(src / "long.py", """
        import os, time
        print("started", flush=True)
        while not os.path.exists(os.environ["STOP_FILE"]):
            time.sleep(0.2)
        print("finished", flush=True)
    """)
    stop = src.parent / "stop-file"
    write(src / "long.runconfig", f"script: long.py\ntarget: grow\nenvironment:\n  environmentVariables:\n"
                                  f"    STOP_FILE: {stop}\n  python:\n    userManagedDependencies: true\n")
    first = ws.cli("run", "submit-script", "-d", src, "-c", str(src / "long.runconfig")).stdout.strip()
    wait_until(lambda: "started" in ws.log(first), 60, "the first run to start")
    r = ws.cli("compute", "update", "grow", "--max-nodes", "2")
    assert "updated grow: 0-2 nodes" in r.stdout, r.stdout
    assert len(details(ws, "grow")["nodes"]) == 2
    second = ws.cli("run", "submit-script", "-d", src, "-c", str(src / "long.runconfig")).stdout.strip()
    wait_until(lambda: "started" in ws.log(second), 60, "the second run on the new node")
    r = ws.cli("compute", "update", "grow", "--max-nodes", "1", check=False)
    assert r.returncode == 1 and "node grow-2 runs Slurm job" in r.stderr, r.stderr
    stop.write_text("")
    for i in (first, second):
        assert ws.wait_status(i, ["Completed", "Failed", "Canceled"], timeout=60)["status"] == "Completed", ws.run(i)
        assert "finished" in ws.log(i)


def test_quota_refuses_a_cluster_that_would_exceed_it(ws):
    ws.cli("quota", "set", "--cores", "4")
    r = ws.cli("compute", "create", "cluster", "big", "--provider", "netns", "--max-nodes", "3",
               "--node-size", "2,1000", check=False)
    assert r.returncode == 1, r.stdout
    assert "quota is 4 cores" in r.stderr and "would make 6" in r.stderr, r.stderr
    assert "big" not in [t["name"] for t in ws.cli_json("compute", "list")["computes"]]
    r = ws.cli("compute", "create", "cluster", "bad", "--provider", "netns", "--min-nodes", "3", "--max-nodes", "2",
               check=False)
    assert r.returncode == 1 and "--min-nodes (3) is more than --max-nodes (2)" in r.stderr, r.stderr


def test_runs_and_nodes_survive_a_server_restart(ws, src):
    ws.cli("compute", "create", "cluster", "keep", "--provider", "netns", "--max-nodes", "1",
           "--idle-seconds-before-scaledown", "30", "--node-size", "1,1000")
    write(src / "steps.py", """
        import time
        for i in range(40):
            print("step", i, flush=True)
            time.sleep(0.1)
    """)
    run_id = ws.cli("run", "submit", "--source-dir", src, "-t", "keep", "steps.py").stdout.strip()
    wait_until(lambda: "step 3" in ws.log(run_id), 60, "the run to be under way")
    ctld = Path(cluster_conf(ws, "keep")["dir"]) / "run/slurmctld.pid"
    pid = ctld.read_text().split()[0]
    ws.kill_server()
    ws.start_server()  # the cluster is loaded from the store; its controller was never stopped
    assert ws.wait_status(run_id, ["Completed", "Failed", "Canceled"], timeout=60)["status"] == "Completed"
    assert [l for l in ws.log(run_id).splitlines() if l.startswith("step")] == [f"step {i}" for i in range(40)]
    assert ctld.read_text().split()[0] == pid and _pid_alive(ctld)
    assert details(ws, "keep")["counts"]["current"] == 1


def test_a_reclaimed_node_preempts_its_run_which_resumes_on_a_new_node(ws, src):
    from test_slurm import CHECKPOINTED
    ws.cli("compute", "create", "cluster", "spot", "--provider", "netns", "--priority", "low", "--max-nodes", "1",
           "--idle-seconds-before-scaledown", "60", "--node-size", "1,1000")
    write(src / "ckpt.py", CHECKPOINTED)
    run_id = ws.cli("run", "submit", "--source-dir", src, "-t", "spot", "ckpt.py", "--", "60").stdout.strip()
    wait_until(lambda: len(ws.api("GET", f"/runs/{run_id}/metrics")[1]["metrics"].get("step", [])) >= 10, 60,
               "10 steps")
    # The cloud takes the machine back: everything on it dies at once.
    bridge = cluster_conf(ws, "spot")["bridge"]
    for ns in _netns(bridge):
        for p in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split():
            os.kill(int(p), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", ns], check=True)
    run = ws.wait_status(run_id, ["Completed", "Failed", "Canceled"], timeout=180)
    assert run["status"] == "Completed" and run["attempt"] == 2, run
    assert "Preempted" in [h["status"] for h in ws.history(run_id)]
    assert details(ws, "spot")["lost_nodes"] == 1
    log = ws.log(run_id)
    assert "attempt 2 starts at step" in log and "attempt 2 starts at step 0" not in log, log
    steps = [int(p["value"]) for p in ws.api("GET", f"/runs/{run_id}/metrics")[1]["metrics"]["step"]]
    assert sorted(set(steps)) == list(range(60)) and steps.count(0) == 1, steps


def test_command_provider_boots_a_machine_through_the_users_command(make_workspace, src):
    """A stand-in cloud CLI (tests/support/fake_cloud.sh) boots "machines" on a bridge of the
    test's; the server listens there (--bind) and the nodes reach it and the controller."""
    why = _missing()
    if why:
        pytest.fail(why)
    bridge, subnet = "fercmd0", "10.77.19"
    script = Path(__file__).resolve().parents[1] / "support" / "fake_cloud.sh"
    subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    w = None
    try:
        subprocess.run(["ip", "addr", "add", f"{subnet}.1/24", "dev", bridge], check=True)
        subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
        w = make_workspace(bind=f"{subnet}.1")
        w.cli("compute", "create", "cluster", "cloud", "--provider", "command", "--max-nodes", "1",
              "--idle-seconds-before-scaledown", "3", "--node-size", "1,1000",
              "--start-command", f"{script} start {{node}} {{slurm_conf}} {bridge} {subnet} 1",
              "--stop-command", f"{script} stop {{node}}")
        write(src / "where.py", WHERE)
        r = w.cli("run", "submit", "--source-dir", src, "-t", "cloud", "--wait", "where.py", check=False, timeout=120)
        assert r.returncode == 0 and "on " in r.stdout, r.stdout + r.stderr
        node = details(w, "cloud")["nodes"][0]
        assert node["address"] == f"{subnet}.101", node  # the command's last line
        conf = cluster_conf(w, "cloud")
        out = subprocess.run(["scontrol", "show", "node", "cloud-1"], capture_output=True, text=True,
                             env={**os.environ, "SLURM_CONF": str(Path(conf["dir"]) / "slurm.conf")}).stdout
        assert f"NodeAddr={subnet}.101" in out, out  # told to Slurm
        # Idle: the stop command runs.
        wait_until(lambda: details(w, "cloud")["nodes"][0]["provider_state"] == "stopped", 60, "the machine's stop")
        assert not Path("/run/netns/fakecloud-cloud-1").exists()
    finally:
        if w is not None:
            w.cli("compute", "delete", "cloud", "--force", "--yes", check=False)
            _force_cleanup(w.home)
        subprocess.run([str(script), "stop", "cloud-1"], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


def test_sdk_creates_a_cluster_runs_on_it_and_deletes_it(ws, src):
    """The Python SDK's ComputeTarget.create(AmlCompute.provisioning_configuration(...))."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
    from ferry import AmlCompute, ComputeTarget, ComputeTargetException, Experiment, ScriptRunConfig, Workspace

    w = Workspace(home=str(ws.home))
    cfg = AmlCompute.provisioning_configuration(min_nodes=0, max_nodes=1, idle_seconds_before_scaledown=5,
                                                memory_mb=1000, provider="netns")
    pool = ComputeTarget.create(w, "sdkpool", cfg)
    pool.wait_for_completion()
    assert pool.type == "AmlCompute" and pool.kind == "cluster" and pool.provisioning_state == "Succeeded"
    write(src / "where.py", WHERE)
    run = Experiment(w, "sdk-cluster").submit(ScriptRunConfig(source_directory=str(src), script="where.py",
                                                              compute_target=pool))
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed", ws.run(run.id)
    assert "on sdkpool-1" in ws.log(run.id)
    bridge = cluster_conf(ws, "sdkpool")["bridge"]
    pool.delete()
    with pytest.raises(ComputeTargetException):
        ComputeTarget(workspace=w, name="sdkpool")
    assert not _netns(bridge)


FETCH = """
import sys, urllib.request
try:
    print("got", urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().strip(), flush=True)
except OSError as e:
    print("unreachable:", e, flush=True)
"""


@pytest.fixture
def outside():
    """A network beyond this machine, as the nodes see it: a namespace on its own subnet with a
    web server and no route back to any cluster subnet (so only masqueraded traffic gets
    answers)."""
    n = 200 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
    ns, veth, net = f"ferry-test-outside{n}", f"fto{n}", f"10.99.{n}"
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    subprocess.run(["ip", "link", "del", veth], capture_output=True)
    for cmd in (f"ip netns add {ns}", f"ip link add {veth} type veth peer name eth0 netns {ns}",
                f"ip addr add {net}.1/24 dev {veth}", f"ip link set {veth} up",
                f"ip -n {ns} addr add {net}.2/24 dev eth0", f"ip -n {ns} link set eth0 up",
                f"ip -n {ns} link set lo up"):
        subprocess.run(cmd.split(), check=True, capture_output=True)
    root = Path(tempfile.mkdtemp())
    (root / "index.html").write_text("hello from outside\n")
    server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "http.server", "--bind",
                               f"{net}.2", "8080"], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            probe = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c",
                                    f"import socket; socket.create_connection(('{net}.2', 8080), 1)"],
                                   capture_output=True)
            if probe.returncode == 0:
                break
            time.sleep(0.1)
        yield f"http://{net}.2:8080/"
    finally:
        server.kill()
        server.wait()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", veth], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_outbound_nodes_reach_beyond_the_machine_and_closed_ones_do_not(ws, src, outside):
    write(src / "fetch.py", FETCH)
    ws.cli("compute", "create", "cluster", "shut", "--provider", "netns", "--max-nodes", "1")
    ws.cli("compute", "create", "cluster", "open", "--provider", "netns", "--max-nodes", "1", "--outbound")
    assert cluster_conf(ws, "open")["outbound"] is True and cluster_conf(ws, "shut")["outbound"] is False
    logs = {}
    for name in ("shut", "open"):
        r = ws.cli("run", "submit", "--source-dir", src, "-t", name, "--wait", "fetch.py", "--", outside,
                   check=False, timeout=300)
        assert r.returncode == 0, r.stderr
        logs[name] = r.stdout
    assert "got hello from outside" in logs["open"], logs["open"]
    assert "unreachable:" in logs["shut"], logs["shut"]
    subnet = cluster_conf(ws, "open")["subnet"]
    nat = subprocess.run(["iptables", "-w", "-t", "nat", "-S", "POSTROUTING"], capture_output=True, text=True).stdout
    assert f"-s {subnet}.0/24" in nat
    ws.cli("compute", "delete", "open", "--yes")
    nat = subprocess.run(["iptables", "-w", "-t", "nat", "-S", "POSTROUTING"], capture_output=True, text=True).stdout
    assert f"-s {subnet}.0/24" not in nat  # deleting the cluster takes its rules away
