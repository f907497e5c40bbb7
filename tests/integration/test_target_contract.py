"""The compute-target contract: what every kind of ComputeTarget does, checked through the real
server against real infrastructure started by the test — local, ssh (real sshd in a network
namespace, tests/support/sshd.py), slurm (real slurmctld/slurmd, tests/support/slurm.py) and a
managed cluster (`ferry compute create cluster --provider netns`, as in test_clusters.py).

For each kind:
- launch -> the run is Running and its job is alive (the agent and the script) -> cancel -> the
  run ends Canceled with a reason in its history, and the script is gone;
- the server is killed while the run is Running and started again on the same home -> the run
  is still tracked (Running, its job alive, its log still growing) and a cancel still reaches
  it through the stored job handle;
- the node or host is lost -> the run does not stay Running on it: it fails with a reason that
  names what was lost, or, where the cluster requeues the jobs of a lost node (a managed
  cluster's Slurm runs with JobRequeue=1), it is Preempted with Slurm's reason and started again.

The per-kind tests (test_local.py-style cases in test_runs.py, test_ssh.py, test_slurm.py,
test_clusters.py) cover everything else; this suite is only the contract, identical for all.
Run one kind with `-k local`, `-k ssh`, `-k slurm` or `-k cluster`: the slow kinds take minutes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from conftest import pid_alive, wait_until
from slurm import SlurmCluster
from sshd import SshLab
from test_runconfig import write

KINDS = ["local", "ssh", "slurm", "cluster"]
ENDED = ["Completed", "Failed", "Canceled"]
REQUEUED = "requeued"  # what lose() returns where the cluster requeues the jobs of a lost node

# Prints its agent's pid (its parent on every kind) and its own, then ticks until stopped.
TICKER = """
import os, time
print("up", os.getppid(), os.getpid(), flush=True)
for i in range(1200):
    time.sleep(0.5)
    print("tick", i, flush=True)
"""


class Target:
    """One compute target of a kind, attached to a fresh workspace."""

    def __init__(self, kind: str, ws, name: str):
        self.kind, self.ws, self.name = kind, ws, name
        self.lose = None  # (run id, agent pid) -> what the run's end must say; set per kind

    def submit(self, src: Path) -> str:
        write(src / "ticker.py", TICKER)
        r = self.ws.cli("run", "submit", "--source-dir", src, "-t", self.name, "ticker.py", timeout=180)
        return r.stdout.strip().splitlines()[-1]

    def wait_running(self, run_id: str, timeout: float = 180, attempt: int = 1) -> tuple[int, int]:
        """Waits for Running and the first line of the script of `attempt` (the log goes on across
        attempts); returns (agent pid, script pid)."""
        self.ws.wait_status(run_id, "Running", timeout=timeout)

        def started():
            ups = [l for l in self.ws.log(run_id).splitlines() if l.startswith("up ")]
            return ups[attempt - 1] if len(ups) >= attempt else None
        up = wait_until(started, timeout, f"run {run_id}'s script (attempt {attempt}) to start")
        agent, script = (int(x) for x in up.split()[1:3])
        assert pid_alive(agent) and pid_alive(script), (agent, script)  # hosts and nodes share our pids
        return agent, script

    def ticks(self, run_id: str) -> int:
        return sum(l.startswith("tick ") for l in self.ws.log(run_id).splitlines())

    def cancel_and_check(self, run_id: str, script: int) -> None:
        self.ws.cli("run", "cancel", run_id)
        run = self.ws.wait_status(run_id, ENDED, timeout=120)
        assert run["status"] == "Canceled", (run, self.ws.history(run_id))
        last = self.ws.history(run_id)[-1]
        assert last["status"] == "Canceled" and last["reason"].strip(), last
        wait_until(lambda: not pid_alive(script), 60, f"the script (pid {script}) to be stopped")


def _local(stack, make_workspace, tmp_path) -> Target:
    ws = make_workspace()
    t = Target("local", ws, "local")

    def lose(run_id, agent):
        os.kill(agent, signal.SIGKILL)  # the agent is lost (kill -9, OOM killer)
        return f"the agent (pid {agent}) ended without reporting a final status"
    t.lose = lose
    return t


def _ssh(stack, make_workspace, tmp_path) -> Target:
    reason = SshLab.unavailable_reason()
    if reason:
        pytest.fail(f"real sshd hosts are required (scripts/setup.sh installs openssh-server): {reason}")
    lab = stack.enter_context(SshLab(tmp_path / "ssh", hosts=1))
    host = lab.hosts[0]
    ws = make_workspace()
    ws.cli("compute", "attach", "ssh", "box", "--host", host.ip, "--port", host.port, "--user", host.user,
           "--key", lab.client_key, timeout=120)
    wait_until(lambda: ws.cli_json("compute", "show", "box")["state"] == "ready", 90, "target box to be ready")
    t = Target("ssh", ws, "box")

    def lose(run_id, agent):
        host.stop()   # the VM is lost with every process on it ...
        host.start()  # ... and comes back empty
        return f"the agent on {host.user}@{host.ip}"
    t.lose = lose
    return t


def _slurm(stack, make_workspace, tmp_path) -> Target:
    reason = SlurmCluster.unavailable_reason()
    if reason:
        pytest.fail(f"a real Slurm cluster is required (scripts/setup.sh installs slurm-wlm and munge): {reason}")
    # JobRequeue=0: a lost node ends its jobs (NODE_FAIL). With Slurm's default of 1 they are
    # requeued instead; test_slurm.py covers that path and the managed cluster below runs it.
    cluster = stack.enter_context(SlurmCluster(tmp_path / "slurm", nodes=2, job_requeue=False))
    cluster.start()
    ws = make_workspace(env=cluster.client_env, bind=cluster.gateway)
    ws.cli("compute", "attach", "slurm", "hpc", "--local", "--shared-dir", cluster.shared_dir,
           "--partition", cluster.partition)
    t = Target("slurm", ws, "hpc")

    def lose(run_id, agent):
        job = cluster.job(int(next(iter(cluster.squeue()))))
        stack.callback(cluster.node_start, job["NodeList"])
        cluster.node_stop(job["NodeList"])  # the node is lost with everything on it
        return "ended as NODE_FAIL"
    t.lose = lose
    return t


def _cluster(stack, make_workspace, tmp_path) -> Target:
    from test_clusters import _force_cleanup, _missing, _netns, cluster_conf
    why = _missing()
    if why:
        pytest.fail(why)
    ws = make_workspace()

    def delete():
        try:
            ws.cli("compute", "delete", "burst", "--force", "--yes", check=False)
        finally:
            _force_cleanup(ws.home)
    stack.callback(delete)
    ws.cli("compute", "create", "cluster", "burst", "--provider", "netns", "--max-nodes", "1",
           "--idle-seconds-before-scaledown", "120", "--node-size", "1,1000", timeout=180)
    t = Target("cluster", ws, "burst")

    def lose(run_id, agent):
        # The cloud takes the machine back: everything on it dies at once.
        for ns in _netns(cluster_conf(ws, "burst")["bridge"]):
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, check=False)
            for p in pids.stdout.split():
                os.kill(int(p), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", ns], check=True)
        return REQUEUED  # by Slurm (JobRequeue=1): Preempted, then started again
    t.lose = lose
    return t


MAKERS = {"local": _local, "ssh": _ssh, "slurm": _slurm, "cluster": _cluster}


@pytest.fixture(params=KINDS)
def target(request, make_workspace, tmp_path):
    with contextlib.ExitStack() as stack:
        yield MAKERS[request.param](stack, make_workspace, tmp_path)


def test_launch_running_cancel_canceled(target, src):
    run_id = target.submit(src)
    _, script = target.wait_running(run_id)
    target.cancel_and_check(run_id, script)


def test_a_server_restart_reconciles_the_running_run(target, src):
    ws = target.ws
    run_id = target.submit(src)
    agent, script = target.wait_running(run_id)
    ws.kill_server()
    ws.start_server()  # the target is loaded from the store, the job from its stored handle
    assert ws.run(run_id)["status"] == "Running", (ws.run(run_id), ws.history(run_id))
    before = target.ticks(run_id)
    wait_until(lambda: target.ticks(run_id) > before + 2, 90, "the log to grow after the restart")
    assert ws.run(run_id)["status"] == "Running", ws.history(run_id)
    assert pid_alive(agent) and pid_alive(script)  # the same job, not a second launch
    target.cancel_and_check(run_id, script)


def test_a_lost_node_ends_the_run_with_a_reason_naming_it(target, src):
    ws = target.ws
    run_id = target.submit(src)
    agent, script = target.wait_running(run_id)
    expect = target.lose(run_id, agent)
    if expect == REQUEUED:  # the cluster requeued the job: Preempted with Slurm's reason, then again
        def preempted():
            return next((h for h in ws.history(run_id) if h["status"] == "Preempted"), None)
        h = wait_until(preempted, 240, f"run {run_id} to be preempted")
        assert "Slurm requeued job" in h["reason"], h
        _, script = target.wait_running(run_id, timeout=240, attempt=2)
        assert ws.run(run_id)["attempt"] == 2
        target.cancel_and_check(run_id, script)
        return
    run = ws.wait_status(run_id, ENDED, timeout=240)
    assert run["status"] == "Failed", (run, ws.history(run_id))
    assert expect in run["error"], run
    assert ws.history(run_id)[-1]["status"] == "Failed"
    wait_until(lambda: not pid_alive(script), 60, f"the script (pid {script}) to be gone")


# Reads its inputs (a mount and a private download of one dataset) and writes an output.
DATA_SCRIPT = """
import json, os, sys
mount, copy, out = sys.argv[1:4]
print("mount", sorted(os.listdir(mount)), open(os.path.join(mount, "sub", "b.txt")).read(), flush=True)
print("env", os.environ["FERRY_INPUT_train"] == mount, json.loads(os.environ["FERRY_INPUTS"])["copy"]["mode"])
print("mount mode", oct(os.stat(os.path.join(mount, "a.txt")).st_mode & 0o777))  # root may write anyway
with open(os.path.join(copy, "a.txt"), "a") as f:  # a private copy: the script may change it
    f.write("changed")
with open(os.path.join(out, "result.txt"), "w") as f:
    f.write(open(os.path.join(mount, "a.txt")).read().upper())
"""


def test_dataset_inputs_reach_the_script_and_its_outputs_become_a_version(target, src, tmp_path):
    """Mount and download of a dataset version on the target's node (the second run on the node
    finds the files there and moves none), an output registered when the run completes, and the
    lineage of both."""
    from ferry import _snapshot  # noqa: PLC0415 (the SDK, from python/)

    ws = target.ws
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("alpha")
    (data / "sub" / "b.txt").write_text("beta")
    sdk = _sdk_client(ws)
    status, placed, _ = ws.api("POST", "/datastores/workspaceblobstore/files",
                               {"snapshot": _snapshot.upload(sdk, _snapshot.build(str(data), use_ignore_files=False)),
                                "target_path": "inputs/v1"})
    assert status == 200 and placed["written"] == 2, placed
    status, d, _ = ws.api("POST", "/datasets", {"name": "d", "paths": [{"path": "inputs/v1"}]})
    assert status == 201, d
    write(src / "data.py", DATA_SCRIPT)
    snap = _snapshot.upload(sdk, _snapshot.build(str(src)))
    body = {"experiment": "data", "target": target.name, "script": "data.py", "snapshot_id": snap,
            "arguments": ["DatasetConsumptionConfig:train", "DatasetConsumptionConfig:copy",
                          "OutputFileDatasetConfig:model"],
            "inputs": [{"name": "train", "mode": "mount", "dataset": {"name": "d", "version": 1}},
                       {"name": "copy", "mode": "download", "dataset": {"name": "d", "version": "latest"}}],
            "outputs": [{"name": "model", "register_on_complete": {"name": "trained"}}]}
    runs = []
    for _ in range(2):
        status, run, _ = ws.api("POST", "/runs", body)
        assert status == 201, run
        done = ws.wait_status(run["id"], ENDED, timeout=240)
        assert done["status"] == "Completed", (done, ws.log(run["id"]))
        runs.append(run["id"])
    log = ws.log(runs[0])
    assert "mount ['a.txt', 'sub'] beta" in log and "env True download" in log, log
    assert "mount mode 0o444" in log, log  # the node's copy is read-only
    assert "nothing fetched" in ws.agent_info(runs[1]), ws.agent_info(runs[1])
    # The output: written to the datastore and registered, version 1 then 2 (each run's files).
    status, trained, _ = ws.api("GET", "/datasets/trained/latest")
    assert status == 200 and trained["version"] == 2 and trained["file_count"] == 1, trained
    assert trained["runs"] == [{"run_id": runs[1], "direction": "output", "as_name": "model"}]
    status, listed, _ = ws.api("GET", f"/datastores/workspaceblobstore/files?prefix=dataset/{runs[0]}/model/")
    assert [f["path"] for f in listed["files"]] == [f"dataset/{runs[0]}/model/result.txt"], listed
    status, content, _ = ws.api("GET", f"/datastores/workspaceblobstore/content?path=dataset/{runs[0]}/model/result.txt")
    assert content == b"ALPHA", content
    status, used, _ = ws.api("GET", "/datasets/d/1")
    assert sorted((u["run_id"], u["as_name"]) for u in used["runs"]) == sorted(
        (r, n) for r in runs for n in ("copy", "train")), used


def _sdk_client(ws):
    from ferry import Workspace as SdkWorkspace  # noqa: PLC0415

    return SdkWorkspace(url=ws.url, token=ws.token)._client
