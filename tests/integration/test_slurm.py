"""The slurm compute target against a real Slurm cluster started by the test (slurmctld +
slurmd nodes in network namespaces, tests/support/slurm.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from slurm import SlurmCluster  # noqa: E402

from conftest import wait_until  # noqa: E402
from test_runconfig import write  # noqa: E402


@pytest.fixture
def cluster(tmp_path):
    reason = SlurmCluster.unavailable_reason()
    if reason:
        pytest.fail(f"a real Slurm cluster is required (scripts/setup.sh installs slurm-wlm and munge): {reason}")
    with SlurmCluster(tmp_path / "slurm", nodes=2) as c:
        c.start()
        yield c


def rank_log(ws, run_id, rank, expect, timeout=30):
    """A worker rank's log stream. It may complete shortly after the run's final status: the
    first node's agent reports the status while the other ranks still ship their last bytes."""
    def read():
        status, body, _ = ws.api("GET", f"/runs/{run_id}/logs?rank={rank}")
        text = body.decode() if isinstance(body, bytes) else str(body)
        return text if status == 200 and expect in text else None
    return wait_until(read, timeout, f"rank {rank}'s log to contain {expect!r}")


def slurm_workspace(make_workspace, cluster):
    ws = make_workspace(env=cluster.client_env, bind=cluster.gateway)
    r = ws.cli("compute", "attach", "slurm", "hpc", "--local", "--shared-dir", cluster.shared_dir,
               "--partition", cluster.partition, "--low-priority-partition", cluster.low_partition)
    assert "attached hpc: Slurm" in r.stdout and "debug (2 nodes)" in r.stdout, r.stdout + r.stderr
    nodes = ws.cli_json("compute", "show", "hpc")["details"]["nodes"]
    assert {n["node"] for n in nodes} == set(cluster.node_names), nodes  # live, with their states
    assert all(n["state"] for n in nodes)
    return ws


TRAIN = """
import os, socket, sys, time
from ferry import Run
run = Run.get_context()
for i in range(int(sys.argv[1])):
    print(f"step {i} on", socket.gethostname(), flush=True)
    run.log("loss", 1.0 / (i + 1))
    time.sleep(float(sys.argv[2]))
os.makedirs("outputs", exist_ok=True)
open("outputs/where.txt", "w").write(socket.gethostname() + " " + os.environ["SLURM_JOB_ID"] + "\\n")
"""


def test_attach_errors_are_exact(make_workspace, cluster, tmp_path):
    ws = make_workspace(env=cluster.client_env, bind=cluster.gateway)
    r = ws.cli("compute", "attach", "slurm", "x", "--local", "--shared-dir", cluster.shared_dir,
               "--partition", "nosuch", check=False)
    assert r.returncode == 1 and "partition 'nosuch' does not exist; the cluster has:" in r.stderr, r.stderr
    ws_lo = make_workspace(name="lo", env=cluster.client_env)
    r = ws_lo.cli("compute", "attach", "slurm", "x", "--local", "--shared-dir", cluster.shared_dir, check=False)
    assert r.returncode == 1 and "--bind" in r.stderr and "--server-url" in r.stderr, r.stderr


def test_a_run_is_one_sbatch_job_with_logs_metrics_outputs(make_workspace, src, tmp_path, cluster):
    ws = slurm_workspace(make_workspace, cluster)
    write(src / "train.py", TRAIN)
    r = ws.cli("run", "submit", "--source-dir", src, "-t", "hpc", "--wait", "train.py", "--", "10", "0.05",
               check=False, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [l.split(" on ")[0] for l in r.stdout.splitlines() if l.startswith("step ")] == [f"step {i}" for i in range(10)]
    run = ws.cli_json("run", "list", "--limit", "1")["runs"][0]
    status, body, _ = ws.api("GET", f"/runs/{run['id']}/metrics")
    assert [p["value"] for p in body["metrics"]["loss"]] == [1.0 / (i + 1) for i in range(10)]
    out = tmp_path / "dl"
    ws.cli("run", "download", run["id"], "--output-dir", out)
    node, job_id = (out / "outputs" / "where.txt").read_text().split()
    assert node in cluster.node_names, node  # ran on a cluster node, not here
    # The job is identifiable as this run's in Slurm.
    job = cluster.job(int(job_id))
    assert job and job["JobName"] == f"ferry-{run['id']}", job
    assert job.get("Comment") == f"ferry-run:{run['id']}", job


def test_login_node_mode_runs_every_slurm_command_over_ssh(make_workspace, src, tmp_path, cluster):
    login = cluster.start_login()
    # No SLURM_CONF here: Slurm's commands work only on the login node.
    ws = make_workspace(bind=cluster.gateway)
    assert ws.cli("compute", "attach", "slurm", "x", "--local", "--shared-dir", cluster.shared_dir,
                  check=False).returncode == 1
    wrong = tmp_path / "wrong_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)], check=True)
    r = ws.cli("compute", "attach", "slurm", "hpc", "--login", f"root@{login.ip}", "--key", wrong,
               "--shared-dir", cluster.shared_dir, check=False)
    assert r.returncode == 1 and "attaching 'hpc'" in r.stderr and "root@" + login.ip in r.stderr, r.stderr
    r = ws.cli("compute", "attach", "slurm", "hpc", "--login", f"root@{login.ip}", "--key", login.client_key,
               "--shared-dir", cluster.shared_dir, "--partition", cluster.partition)
    assert "attached hpc: Slurm" in r.stdout and "debug (2 nodes)" in r.stdout, r.stdout + r.stderr
    details = ws.cli_json("compute", "show", "hpc")["details"]
    assert details["mode"] == "login" and details["login"] == f"root@{login.ip}", details
    assert {n["node"] for n in details["nodes"]} == set(cluster.node_names), details
    # The host key seen at attach is the one trusted from then on.
    assert (ws.home / "ssh" / "hpc.known_hosts").read_text().split()[1:3] == login.known_hosts_line.split()[1:3]
    write(src / "train.py", TRAIN)
    r = ws.cli("run", "submit", "--source-dir", src, "-t", "hpc", "--wait", "train.py", "--", "5", "0.05",
               check=False, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    run = ws.cli_json("run", "list", "--limit", "1")["runs"][0]
    out = tmp_path / "dl"
    ws.cli("run", "download", run["id"], "--output-dir", out)
    node, job_id = (out / "outputs" / "where.txt").read_text().split()
    assert node in cluster.node_names and cluster.job(int(job_id))["JobName"] == f"ferry-{run['id']}"
    # Cancel goes over the same connection.
    write(src / "slow.py", "import time\nprint('started', flush=True)\ntime.sleep(300)\n")
    run_id = ws.cli("run", "submit", "--source-dir", src, "-t", "hpc", "slow.py").stdout.strip()
    wait_until(lambda: "started" in ws.log(run_id), 60, "the run to start")
    ws.cli("run", "cancel", run_id)
    run = ws.wait_status(run_id, ["Canceled", "Failed", "Completed"], timeout=60)
    assert run["status"] == "Canceled", (run, ws.history(run_id))
    # The login node is reinstalled: its new host key is refused until trusted again.
    assert "host key unchanged" in ws.cli("compute", "trust", "hpc").stdout
    login = cluster.start_login(new_host_key=True)
    run_id = ws.cli("run", "submit", "--source-dir", src, "-t", "hpc", "train.py", "--", "1", "0").stdout.strip()
    reason = wait_until(lambda: ws.run(run_id).get("queue_reason") if "host key" in ws.run(run_id).get(
        "queue_reason", "") else None, 30, "the run to wait for the host key")
    assert "CHANGED" in reason and "ferry compute trust" in reason, reason
    time.sleep(3)
    assert ws.run(run_id)["status"] == "Queued"  # held, not failed, not launched
    assert "host key updated" in ws.cli("compute", "trust", "hpc").stdout
    assert ws.wait_status(run_id, ["Completed", "Failed", "Canceled"], timeout=120)["status"] == "Completed"


def test_cancel_and_one_squeue_per_cycle(make_workspace, src, cluster):
    ws = slurm_workspace(make_workspace, cluster)
    write(src / "slow.py", """
        import signal, sys, time
        def stop(sig, frame):
            print("got SIGTERM", flush=True)
            sys.exit(3)
        signal.signal(signal.SIGTERM, stop)
        print("started", flush=True)
        time.sleep(300)
    """)
    ids = [ws.cli("run", "submit", "--source-dir", src, "-t", "hpc", "slow.py").stdout.strip() for _ in range(6)]
    # 2 nodes x 2 CPUs: four run, two wait in Slurm's queue.
    wait_until(lambda: sum(ws.run(i)["status"] == "Running" for i in ids) == 4, 90, "four runs to start")
    before = ws.cli_json("compute", "show", "hpc")["details"]["polls"]
    time.sleep(3)
    after = ws.cli_json("compute", "show", "hpc")["details"]["polls"]
    # The scheduler cycles at least once a second; each cycle is one squeue for all six jobs.
    assert 2 <= after - before <= 8, (before, after)
    ws.cli("run", "cancel", ids[0])
    assert ws.wait_status(ids[0], ["Canceled", "Failed", "Completed"], timeout=60)["status"] == "Canceled"
    assert "got SIGTERM" in ws.log(ids[0])
    # The last one may still wait in Slurm's queue: canceled there without an agent.
    pending = ids[-1]
    for i in reversed(ids[1:]):
        ws.cli("run", "cancel", i)
    for i in ids[1:]:
        assert ws.wait_status(i, ["Canceled", "Failed", "Completed"], timeout=60)["status"] == "Canceled", ws.run(i)
    assert ws.run(pending)["status"] == "Canceled"


ALLREDUCE = """
import os, socket
import torch
import torch.distributed as dist
from ferry import Run
dist.init_process_group("gloo", init_method="env://")
t = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(t)
print(f"rank {dist.get_rank()} of {dist.get_world_size()} on {socket.gethostname()}: sum {t.item()}", flush=True)
Run.get_context().log("sum", t.item())
dist.destroy_process_group()
"""


def test_two_node_gloo_all_reduce_with_every_ranks_log(make_workspace, src, cluster):
    ws = slurm_workspace(make_workspace, cluster)
    write(src / "allreduce.py", ALLREDUCE)
    write(src / "dist.runconfig", "script: allreduce.py\ntarget: hpc\nnodeCount: 2\ncommunicator: Gloo\n"
                                  "environment:\n  environmentVariables:\n    GLOO_SOCKET_IFNAME: eth0\n"
                                  "    OMP_NUM_THREADS: '1'\n  python:\n    userManagedDependencies: true\n"
                                  "    interpreterPath: /usr/bin/python3\n")
    r = ws.cli("run", "submit-script", "-d", src, "-c", str(src / "dist.runconfig"), "--wait", check=False, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    run_id = ws.cli_json("run", "list", "--limit", "1")["runs"][0]["id"]
    assert "rank 0 of 2" in r.stdout and "sum 3.0" in r.stdout, r.stdout
    rank1 = rank_log(ws, run_id, 1, "sum 3.0")
    assert "rank 1 of 2" in rank1, rank1
    hosts = {l.split(" on ")[1].split(":")[0] for l in (r.stdout + rank1).splitlines() if l.startswith("rank ")}
    assert hosts == set(cluster.node_names), hosts  # one rank per node
    sums = wait_until(lambda: [p["value"] for p in ws.api("GET", f"/runs/{run_id}/metrics")[1]["metrics"].get("sum", [])]
                      if len(ws.api("GET", f"/runs/{run_id}/metrics")[1]["metrics"].get("sum", [])) >= 2 else None,
                      30, "both ranks' metric points")
    assert sums == [3.0, 3.0]  # both ranks' points, none dropped


def test_multi_node_runs_are_refused_where_they_cannot_run(workspace, src):
    write(src / "job.py", "print('x')\n")
    write(src / "two.runconfig", "script: job.py\nnodeCount: 2\nenvironment:\n  python:\n"
                                 "    userManagedDependencies: true\n")
    r = workspace.cli("run", "submit-script", "-d", src, "-c", str(src / "two.runconfig"), check=False)
    assert r.returncode == 1 and "nodeCount 2: compute target 'local' (local) runs on one node" in r.stderr, r.stderr


def test_mpi_allreduce_two_nodes_two_processes_each(make_workspace, src, cluster):
    ws = slurm_workspace(make_workspace, cluster)
    write(src / "mpi_job.py", """
        import os, socket
        from mpi4py import MPI
        from ferry import Run
        comm = MPI.COMM_WORLD
        total = comm.allreduce(comm.Get_rank() + 1)
        e = os.environ
        print(f"mpi rank {comm.Get_rank()} of {comm.Get_size()} on {socket.gethostname()}: sum {total} "
              f"env {e['RANK']} {e['LOCAL_RANK']} {e['NODE_RANK']} {e['WORLD_SIZE']} {e['LOCAL_WORLD_SIZE']}", flush=True)
        Run.get_context().log("rank_seen", comm.Get_rank())
    """)
    env = "".join(f"    {k}: '{v}'\n" for k, v in cluster.mpi_env().items())
    write(src / "mpi.runconfig", "script: mpi_job.py\ntarget: hpc\nnodeCount: 2\ncommunicator: OpenMpi\n"
                                 "mpi:\n  processCountPerNode: 2\n"
                                 "environment:\n  environmentVariables:\n" + env +
                                 "  python:\n    userManagedDependencies: true\n    interpreterPath: /usr/bin/python3\n")
    r = ws.cli("run", "submit-script", "-d", src, "-c", str(src / "mpi.runconfig"), "--wait", check=False, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    run_id = ws.cli_json("run", "list", "--limit", "1")["runs"][0]["id"]
    logs = {0: r.stdout, **{k: rank_log(ws, run_id, k, "sum 10") for k in (1, 2, 3)}}
    hosts = {}
    for k, text in logs.items():
        line = next(l for l in text.splitlines() if l.startswith("mpi rank "))
        # MPI's rank is Ferry's RANK; two ranks per node, block order (ranks 0,1 on the first node)
        assert line.startswith(f"mpi rank {k} of 4 on "), line
        assert line.endswith(f"sum 10 env {k} {k % 2} {k // 2} 4 2"), line
        hosts.setdefault(line.split(" on ")[1].split(":")[0], []).append(k)
    assert sorted(hosts.values()) == [[0, 1], [2, 3]] and set(hosts) == set(cluster.node_names), hosts
    # Every rank's metric point, each labelled with its rank.
    pts = wait_until(lambda: (lambda p: p if len(p) == 4 else None)(
        ws.api("GET", f"/runs/{run_id}/metrics")[1]["metrics"].get("rank_seen", [])), 30, "four ranks' points")
    assert sorted((p.get("rank", 0), p["value"]) for p in pts) == [(k, k) for k in range(4)], pts


def test_a_failing_rank_fails_the_run_and_is_named(make_workspace, src, cluster):
    ws = slurm_workspace(make_workspace, cluster)
    write(src / "flaky.py", """
        import os, sys, time
        rank = int(os.environ["RANK"])
        print(f"rank {rank} up", flush=True)
        if rank == 1:
            print("rank 1: out of data", flush=True)
            sys.exit(3)
        time.sleep(120)
    """)
    write(src / "two.runconfig", "script: flaky.py\ntarget: hpc\nnodeCount: 2\n"
                                 "environment:\n  python:\n    userManagedDependencies: true\n")
    run_id = ws.cli("run", "submit-script", "-d", src, "-c", str(src / "two.runconfig")).stdout.strip()
    run = ws.wait_status(run_id, ["Completed", "Failed", "Canceled"], timeout=90)
    # Slurm stops the other rank; the run fails because of rank 1, and says so.
    assert run["status"] == "Failed", run
    assert "rank 1 exited with code 3" in run["error"] and "rank 1: out of data" in run["error"], run
    assert "rank 1: out of data" in rank_log(ws, run_id, 1, "out of data", timeout=5)


def test_runs_survive_a_server_restart(make_workspace, src, cluster):
    ws = slurm_workspace(make_workspace, cluster)
    write(src / "train.py", TRAIN)
    run_id = ws.cli("run", "submit", "--source-dir", src, "-t", "hpc", "train.py", "--", "60", "0.1").stdout.strip()
    wait_until(lambda: "step 5" in ws.log(run_id), 60, "the run to be under way")
    ws.kill_server()
    time.sleep(2)
    ws.start_server()  # the Slurm target is loaded from the store; the job from its stored handle
    assert ws.wait_status(run_id, ["Completed", "Failed", "Canceled"], timeout=120)["status"] == "Completed"
    lines = [l.split(" on ")[0] for l in ws.log(run_id).splitlines() if l.startswith("step ")]
    assert lines == [f"step {i}" for i in range(60)]
    status, body, _ = ws.api("GET", f"/runs/{run_id}/metrics")
    assert len(body["metrics"]["loss"]) == 60


CHECKPOINTED = """
import os, signal, sys, time
from ferry import Run
run = Run.get_context()
stopping = False
def on_term(sig, frame):          # the contract: SIGTERM first, then time to finish a step
    global stopping
    stopping = True
signal.signal(signal.SIGTERM, on_term)
rank = os.environ.get("RANK", "0")  # distributed runs: one checkpoint per rank
ckpt = os.path.join(os.environ["FERRY_CHECKPOINT_DIR"], f"step{rank}.txt")
start = int(open(ckpt).read()) + 1 if os.path.exists(ckpt) else 0
print(f"attempt {os.environ['FERRY_RESUME_ATTEMPT']} starts at step {start}", flush=True)
for step in range(start, int(sys.argv[1])):
    run.log("step", step, step=step)
    with open(ckpt + ".tmp", "w") as f:
        f.write(str(step))
    os.replace(ckpt + ".tmp", ckpt)   # the checkpoint: atomic, after each step
    if stopping:
        print(f"stopping after step {step}", flush=True)
        sys.exit(0)
    time.sleep(0.1)
print("done", flush=True)
"""


def submit_checkpointed(ws, src, steps, extra=""):
    """A low-priority run of CHECKPOINTED for `steps` steps; returns its id."""
    write(src / "ckpt.py", CHECKPOINTED)
    write(src / "low.runconfig", f"script: ckpt.py\narguments: ['{steps}']\ntarget: hpc\npriority: low\n{extra}"
                                 "environment:\n  python:\n    userManagedDependencies: true\n")
    return ws.cli("run", "submit-script", "-d", src, "-c", str(src / "low.runconfig")).stdout.strip()


def test_requeued_low_priority_run_resumes_from_its_checkpoint(make_workspace, src, cluster):
    ws = slurm_workspace(make_workspace, cluster)
    run_id = submit_checkpointed(ws, src, 120)
    wait_until(lambda: "attempt 1 starts at step 0" in ws.log(run_id), 60, "the first attempt")
    wait_until(lambda: len(ws.api("GET", f"/runs/{run_id}/metrics")[1]["metrics"].get("step", [])) >= 15, 60,
               "15 steps")
    jobs = cluster.squeue()
    assert len(jobs) == 1, jobs
    cluster.run("scontrol", "requeue", str(next(iter(jobs))))
    run = ws.wait_status(run_id, ["Completed", "Failed", "Canceled"], timeout=180)
    assert run["status"] == "Completed", run
    assert run["attempt"] == 2, run
    statuses = [h["status"] for h in ws.history(run_id)]
    assert "Preempted" in statuses and statuses.index("Preempted") < len(statuses) - 1, statuses
    log = ws.log(run_id)
    assert "attempt 2 starts at step" in log and "attempt 2 starts at step 0" not in log, log
    steps = [int(p["value"]) for p in ws.api("GET", f"/runs/{run_id}/metrics")[1]["metrics"]["step"]]
    assert sorted(steps) == list(range(120)), steps  # every step once: resumed, nothing duplicated


def test_requeued_two_node_run_continues_every_ranks_log_and_metrics(make_workspace, src, cluster):
    ws = slurm_workspace(make_workspace, cluster)
    run_id = submit_checkpointed(ws, src, 60, "nodeCount: 2\n")

    def steps():
        return ws.api("GET", f"/runs/{run_id}/metrics")[1]["metrics"].get("step", [])
    wait_until(lambda: sum(p.get("rank", 0) == 1 for p in steps()) >= 10 and
               sum(p.get("rank", 0) == 0 for p in steps()) >= 10, 60, "10 steps on both ranks")
    cluster.run("scontrol", "requeue", str(next(iter(cluster.squeue()))))
    run = ws.wait_status(run_id, ["Completed", "Failed", "Canceled"], timeout=180)
    assert run["status"] == "Completed" and run["attempt"] == 2, run
    rank1 = rank_log(ws, run_id, 1, "done")
    # Rank 1's stream holds both attempts, in order: the second continued it, not overwrote it.
    assert rank1.index("attempt 1 starts at step 0") < rank1.index("attempt 2 starts at step") < rank1.index("done"), rank1
    assert "attempt 2 starts at step 0" not in rank1, rank1
    for rank in (0, 1):
        mine = [int(p["value"]) for p in steps() if p.get("rank", 0) == rank]
        assert sorted(mine) == list(range(60)), (rank, mine)  # every step once per rank


def test_run_on_a_killed_node_is_requeued_and_resumes(make_workspace, src, cluster):
    ws = slurm_workspace(make_workspace, cluster)
    run_id = submit_checkpointed(ws, src, 80)
    wait_until(lambda: len(ws.api("GET", f"/runs/{run_id}/metrics")[1]["metrics"].get("step", [])) >= 10, 60,
               "10 steps")
    job = cluster.job(int(next(iter(cluster.squeue()))))
    cluster.node_stop(job["NodeList"])  # the node is lost with everything on it
    run = ws.wait_status(run_id, ["Completed", "Failed", "Canceled"], timeout=240)
    assert run["status"] == "Completed", run
    assert run["attempt"] >= 2
    assert "Preempted" in [h["status"] for h in ws.history(run_id)]
    steps = [int(p["value"]) for p in ws.api("GET", f"/runs/{run_id}/metrics")[1]["metrics"]["step"]]
    assert sorted(set(steps)) == list(range(80)), steps  # resumed: every step reached
    assert steps.count(0) == 1  # not started over from step 0
    cluster.node_start(job["NodeList"])


def test_two_hundred_queued_runs_one_poll_per_cycle(make_workspace, src, cluster):
    ws = slurm_workspace(make_workspace, cluster)
    write(src / "wait.py", "import time\ntime.sleep(600)\n")
    for _ in range(200):
        ws.cli("run", "submit", "--source-dir", src, "-t", "hpc", "wait.py")
    wait_until(lambda: len(cluster.squeue()) >= 200, 120, "200 jobs in Slurm")
    before = ws.cli_json("compute", "show", "hpc")["details"]["polls"]
    t0 = time.monotonic()
    time.sleep(4)
    after = ws.cli_json("compute", "show", "hpc")["details"]["polls"]
    elapsed = time.monotonic() - t0
    # One squeue per scheduler cycle (about one a second) for all 200 jobs, never one per job.
    assert 1 <= after - before <= elapsed + 3, (before, after, elapsed)
    runs = ws.cli_json("run", "list", "--limit", "1000")["runs"]
    assert len([r for r in runs if r["status"] in ("Preparing", "Running")]) == 200
    cluster.run("scancel", "-u", "root", check=False)


def test_parameter_server_layout(make_workspace, src, cluster):
    ws = slurm_workspace(make_workspace, cluster)
    write(src / "tf.py", """
        import json, os, socket
        c = json.loads(os.environ["TF_CONFIG"])
        print("task", c["task"]["type"], c["task"]["index"], "on", socket.gethostname(),
              "workers", len(c["cluster"]["worker"]), "ps", len(c["cluster"]["ps"]), flush=True)
    """)
    base = ("script: tf.py\ntarget: hpc\ncommunicator: ParameterServer\ntensorflow:\n  workerCount: 1\n"
            "  parameterServerCount: 1\nenvironment:\n  python:\n    userManagedDependencies: true\n")
    write(src / "bad.runconfig", base + "nodeCount: 3\n")
    r = ws.cli("run", "submit-script", "-d", src, "-c", str(src / "bad.runconfig"), check=False)
    assert r.returncode == 1 and "must equal tensorflow.workerCount + tensorflow.parameterServerCount" in r.stderr
    write(src / "ps.runconfig", base + "nodeCount: 2\n")
    r = ws.cli("run", "submit-script", "-d", src, "-c", str(src / "ps.runconfig"), "--wait", check=False, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    run_id = ws.cli_json("run", "list", "--limit", "1")["runs"][0]["id"]
    rank_log(ws, run_id, 1, "task ps 0")
    assert "task worker 0" in r.stdout and "workers 1 ps 1" in r.stdout, r.stdout


def test_a_killed_agent_takes_its_script_along_on_the_node(make_workspace, src, cluster):
    """proctrack/linuxproc loses the script (its own process group, reparented) once the agent
    dies; PR_SET_PDEATHSIG and the agent's watchdog stop it and its child (issue 17 item 9)."""
    import json
    import os

    from conftest import pid_alive
    from test_hardening_agent import ORPHAN

    ws = slurm_workspace(make_workspace, cluster)
    write(src / "orphan.py", ORPHAN)
    r = ws.cli("run", "submit", "--source-dir", src, "-t", "hpc", "orphan.py")
    run_id = r.stdout.strip().splitlines()[-1]
    pids_file = Path(cluster.shared_dir) / "work" / run_id / "pids.json"
    wait_until(pids_file.exists, 120, "the script to record its pids on the node")
    pids = json.loads(pids_file.read_text())
    os.kill(pids["agent"], 9)
    wait_until(lambda: not pid_alive(pids["script"]) and not pid_alive(pids["child"]), 60,
               "the script and its child to die with the agent")
    run = ws.wait_status(run_id, "Failed", timeout=90)
    assert "without the agent reporting a final status" in run["error"], run
