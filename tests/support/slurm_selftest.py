"""Self-test of tests/support/slurm.py on this machine (root, slurm-wlm, munge; python3-torch,
openmpi-bin + python3-mpi4py (+ libpmix-dev for srun --mpi=pmix) for the distributed steps):

    python3 tests/support/slurm_selftest.py [--keep] [--nodes=2] [--cred-expire=10] [--slurmd-timeout=10]

Starts a real Slurm cluster (slurmctld + 2 slurmd in network namespaces) and checks, with a timing per
step: idle nodes in sinfo; a 1-node batch job (sbatch -> RUNNING -> COMPLETED latency, output with
--open-mode=append); one squeue call listing several jobs; a 2-node srun step (SLURM_PROCID /
SLURM_NODEID / SLURM_JOB_NODELIST per task); srun from the host; torch.distributed gloo all_reduce
across 2 nodes (/usr/bin/python3); MPI (mpi4py) across 2 nodes with srun --mpi=pmix and with mpirun
inside the allocation; scancel of a running job; scontrol requeue of a running --requeue job;
preemption of a "low" partition job; a lost node (node_stop) under a --requeue job, which runs again
after node_start; a crashed cluster (owner killed) cleaned up while another one runs; and that
stop() leaves nothing behind. Exits non-zero when a check fails (2 when the harness cannot run here).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from slurm import REGISTRY, SlurmCluster, SlurmError, netns_inode, pid_alive  # noqa: E402

failures: list[str] = []
timings: dict[str, float] = {}


def step(what: str, t0: float, ok: bool = True, detail: str = "", info: bool = False) -> float:
    """Prints PASS/FAIL (or INFO: a measurement, never a failure); returns the elapsed seconds."""
    s = time.monotonic() - t0
    tag = ("INFO" if info else "PASS") if ok or info else "FAIL"
    print(f"{tag} {s * 1000:8.0f} ms  {what}{'  ' + detail if detail else ''}", flush=True)
    if not ok and not info:
        failures.append(what)
    return s


def read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def read_when(path: Path, needle: str, timeout: float = 10.0) -> str:
    """The file's text once it contains needle (a job is RUNNING in scontrol a few ms before its
    batch script has written anything), or whatever it holds after timeout."""
    deadline = time.monotonic() + timeout
    while needle not in (text := read(path)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return text


def watch(c: SlurmCluster, jobid: int, until: set[str], timeout: float, poll: float = 0.05,
          leave_first: bool = False):
    """Polls the job's state until it is in `until` (with leave_first: until it is in `until` after
    having been in another state). Returns ({state: seconds since start when first seen}, the last
    scontrol dict)."""
    t0, seen, j, left = time.monotonic(), {}, None, not leave_first
    while time.monotonic() - t0 < timeout:
        j = c.job(jobid)
        st = j.get("JobState") if j else None
        if st and st not in until:
            left = True
        if st and st not in seen and (left or st not in until):
            seen[st] = time.monotonic() - t0
        if st in until and left:
            break
        time.sleep(poll)
    return seen, j or {}


ALLREDUCE_PY = r'''
import os, socket, time
from datetime import timedelta
t0 = time.time()
import torch, torch.distributed as dist
t_import = time.time() - t0
env = os.environ
rank, world = int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"])
dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=60),
                        init_method=f"tcp://{env['MASTER_ADDR']}:{env['MASTER_PORT']}")
x = torch.full((4,), float(rank + 1))
dist.all_reduce(x)
ok = bool(torch.all(x == world * (world + 1) / 2))
dist.barrier()
print(f"rank {rank}/{world} node {env['SLURM_NODEID']} on {socket.gethostname()}: "
      f"all_reduce={x.tolist()} {'OK' if ok else 'BAD'} import={t_import:.1f}s "
      f"total={time.time() - t0:.1f}s", flush=True)
dist.destroy_process_group()
'''

ALLREDUCE_SBATCH = r'''#!/bin/bash
#SBATCH -N2 --ntasks-per-node=1
# rank 0's node; every node resolves node names through its bind-mounted /etc/hosts
export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -1)
export MASTER_PORT=$((20000 + SLURM_JOB_ID % 10000))
export GLOO_SOCKET_IFNAME=eth0      # every node's only NIC; never lo
export OMP_NUM_THREADS=1
# Debian's torch: /usr/bin/python3, not the python3 on PATH (pyenv)
srun /usr/bin/python3 {script}
'''

MPI_PY = r'''
from mpi4py import MPI
c = MPI.COMM_WORLD
r, s = c.Get_rank(), c.Get_size()
tot = c.allreduce(r + 1)
print(f"mpi rank {r}/{s} on {MPI.Get_processor_name()} allreduce={tot} "
      f"{'OK' if tot == s * (s + 1) // 2 else 'BAD'}", flush=True)
'''

MPI_SBATCH = r'''#!/bin/bash
#SBATCH -N2 --ntasks-per-node=1
# OMPI_* come from the submitter's environment (SlurmCluster.mpi_env())
echo "== srun --mpi=pmix"
srun --mpi=pmix /usr/bin/python3 {script}
echo "== mpirun"
mpirun -np 2 --map-by node /usr/bin/python3 {script}
'''


def crashed_cluster() -> list[str]:
    """A child process starts a cluster (octet 9, tag "selftest-crash") and dies without cleanup."""
    code = ("import os, sys; sys.path.insert(0, %r); from slurm import SlurmCluster; "
            "c = SlurmCluster(nodes=1, tag='selftest-crash', octet=9).start(); "
            "print(c.nodes[0].netns, c.bridge, c._ctld.pid, c._munged.pid, c.nodes[0].pid, c.run_dir, "
            "c.port, flush=True); os._exit(0)" % str(Path(__file__).resolve().parent))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90)
    if p.returncode != 0:
        raise RuntimeError(p.stderr)
    return p.stdout.split()


def main() -> int:
    why = SlurmCluster.unavailable_reason()
    if why:
        print(f"SKIP: {why}")
        return 2
    keep = "--keep" in sys.argv
    def opt(name, default):
        return next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith(f"--{name}=")), default)
    n_nodes = opt("nodes", 2)
    tuning = {"cred_expire": opt("cred-expire", 10), "slurmd_timeout": opt("slurmd-timeout", 10)}

    t = time.monotonic()
    removed = SlurmCluster.cleanup_stale()
    step("cleanup_stale() before start", t, detail=f"removed {len(removed)} item(s)")

    t = time.monotonic()
    c = SlurmCluster(nodes=n_nodes, keep_root=keep, **tuning)
    try:
        c.start()
    except SlurmError as e:
        step("cluster up", t, False, str(e)[-3000:])
        return 1
    timings["cluster up"] = step(f"cluster up: munged + slurmctld + {n_nodes} slurmd, all idle", t,
                                 detail=f"root={c.root} port={c.port} bridge={c.bridge} {tuning}")
    try:
        run_checks(c)
    except Exception as e:  # a broken step must not leave the cluster behind
        import traceback
        traceback.print_exc()
        failures.append(f"exception: {e}")
        print(c.log_tail(2000))
    finally:
        check_cleanup(c, keep)

    print("\ntimings (s): " + ", ".join(f"{k}={v:.2f}" for k, v in timings.items()))
    if failures:
        print(f"\n{len(failures)} FAILED: " + "; ".join(failures))
        return 1
    print("\nall checks passed")
    return 0


def run_checks(c: SlurmCluster) -> None:
    sh = c.shared_dir
    names = c.node_names

    # sinfo
    t = time.monotonic()
    states = c.node_states()
    p = c.run("sinfo", "-h", "-o", "%P %a %D %T %N")
    step("sinfo: every node idle, partitions debug (default) + low", t,
         all(states.get(n) == "idle" for n in names) and "debug*" in p.stdout and "low" in p.stdout,
         " | ".join(p.stdout.strip().splitlines()))

    # 1-node batch job: latency on idle nodes
    lat = []
    for _ in range(3):
        out = sh / "hello-%j.out"
        t = time.monotonic()
        j = c.sbatch("-N1", "-o", str(out), "--open-mode=append",
                     wrap='echo "hello from $(hostname) job $SLURM_JOB_ID node $SLURMD_NODENAME"')
        t_sub = time.monotonic() - t
        seen, info = watch(c, j, {"COMPLETED", "FAILED", "CANCELLED", "NODE_FAIL"}, 30)
        text = read(sh / f"hello-{j}.out")
        lat.append((t_sub, seen.get("RUNNING"), seen.get("COMPLETED")))
        ok = info.get("JobState") == "COMPLETED" and f"job {j}" in text
        step(f"1-node sbatch job {j} (--open-mode=append) completes", t, ok,
             f"sbatch {t_sub * 1000:.0f} ms, RUNNING seen +{(seen.get('RUNNING') or 0) * 1000:.0f} ms, "
             f"COMPLETED +{(seen.get('COMPLETED') or 0) * 1000:.0f} ms; output {text.strip()!r}")
    timings["job sbatch->done (best of 3)"] = min(
        l[0] + (l[2] or 99) for l in lat)

    # several jobs in one squeue call
    t = time.monotonic()
    held = [c.sbatch("--hold", "-o", "/dev/null", wrap="true") for _ in range(3)]
    t1 = time.monotonic()
    q = c.squeue(*held)
    dt = time.monotonic() - t1
    step("one squeue call lists 3 held jobs", t, set(q) == set(held) and
         all(v == "PENDING" for v in q.values()), f"{q} (squeue {dt * 1000:.0f} ms)")
    c.run("scancel", *map(str, held))

    # 2-node step with srun
    t = time.monotonic()
    j = c.sbatch("-N2", "--ntasks-per-node=1", "-o", str(sh / "%j.out"),
                 wrap="srun bash -c 'echo task procid=$SLURM_PROCID nodeid=$SLURM_NODEID "
                      "nodelist=$SLURM_JOB_NODELIST host=$(hostname)'")
    info = c.wait_job(j, {"COMPLETED", "FAILED"}, 30)
    lines = sorted(l for l in read(sh / f"{j}.out").splitlines() if l.startswith("task"))
    exp_list = f"node[1-{len(names)}]" if len(names) > 2 else "node[1-2]"
    ok = (info["JobState"] == "COMPLETED" and len(lines) == 2
          and {l.split()[1] for l in lines} == {"procid=0", "procid=1"}
          and {l.split()[2] for l in lines} == {"nodeid=0", "nodeid=1"}
          and len({l.split()[4] for l in lines}) == 2
          and all(l.split()[3] == "nodelist=node[1-2]" for l in lines))
    step("2-node job: srun runs one task per node", t, ok, " | ".join(lines) or exp_list)

    t = time.monotonic()
    p = c.run("srun", "-N2", "-l", "hostname", check=False, timeout=30)
    step("srun -N2 from the host (interactive step)", t,
         p.returncode == 0 and len(set(p.stdout.split()) & set(names)) == 2,
         p.stdout.strip().replace("\n", " | ") + p.stderr.strip()[-300:])

    # torch gloo all_reduce across 2 nodes
    if subprocess.run(["/usr/bin/python3", "-c", "import torch"], capture_output=True).returncode == 0:
        (sh / "allreduce.py").write_text(ALLREDUCE_PY)
        t = time.monotonic()
        j = c.sbatch("-o", str(sh / "%j.out"), "-t", "5",
                     script=ALLREDUCE_SBATCH.format(script=sh / "allreduce.py"))
        info = c.wait_job(j, {"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED"}, 120)
        text = read(sh / f"{j}.out")
        ok = info["JobState"] == "COMPLETED" and text.count(" OK ") == 2
        timings["torch gloo job"] = step("torch gloo all_reduce, 2 nodes via srun", t, ok,
                                         " | ".join(text.strip().splitlines()[-4:]))
    else:
        step("torch gloo all_reduce", time.monotonic(), False, "/usr/bin/python3 cannot import torch")

    # MPI across 2 nodes: srun --mpi=pmix and mpirun inside the allocation
    if subprocess.run(["/usr/bin/python3", "-c", "import mpi4py"], capture_output=True).returncode == 0:
        (sh / "mpi_hello.py").write_text(MPI_PY)
        t = time.monotonic()
        j = c.sbatch("-o", str(sh / "%j.out"), "-t", "5", env=c.mpi_env(),
                     script=MPI_SBATCH.format(script=sh / "mpi_hello.py"))
        info = c.wait_job(j, {"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED"}, 120)
        text = read(sh / f"{j}.out")
        parts = text.split("== mpirun")
        pmix_ok = parts[0].count("allreduce=3 OK") == 2
        mpirun_ok = len(parts) > 1 and parts[1].count("allreduce=3 OK") == 2
        timings["mpi job"] = step("MPI (mpi4py) allreduce, 2 nodes: srun --mpi=pmix and mpirun", t,
                                  info["JobState"] == "COMPLETED" and pmix_ok and mpirun_ok,
                                  f"pmix={pmix_ok} mpirun={mpirun_ok}: "
                                  + " | ".join(l for l in text.splitlines() if "OK" in l or "==" in l
                                               or "rror" in l)[-600:])
    else:
        step("MPI", time.monotonic(), False, "/usr/bin/python3 cannot import mpi4py")

    # scancel of a running job
    j = c.sbatch("-N1", "-o", "/dev/null", wrap="sleep 300")
    c.wait_job(j, "RUNNING", 30)
    t = time.monotonic()
    c.run("scancel", str(j))
    seen, info = watch(c, j, {"CANCELLED"}, 30)
    node = info.get("NodeList", "")
    c.wait_nodes_idle(30)
    timings["scancel->idle"] = step("scancel of a running job: CANCELLED, node idle again", t,
                                    info.get("JobState") == "CANCELLED",
                                    f"CANCELLED +{(seen.get('CANCELLED') or 0) * 1000:.0f} ms on {node}")

    # scontrol requeue of a running --requeue job
    out = sh / "requeue-%j.out"
    script = 'echo "start restart=${SLURM_RESTART_COUNT:-0} on $(hostname)"; sleep 300'
    j = c.sbatch("-N1", "--requeue", "--open-mode=append", "-o", str(out), wrap=script)
    c.wait_job(j, "RUNNING", 30)
    read_when(sh / f"requeue-{j}.out", "restart=0")  # RUNNING comes before the script's first line
    t = time.monotonic()
    c.run("scontrol", "requeue", str(j))
    seen, info = watch(c, j, {"RUNNING"}, 60, leave_first=True)
    text = read_when(sh / f"requeue-{j}.out", "restart=1")
    ok = info.get("JobState") == "RUNNING" and "restart=1" in text and "restart=0" in text
    timings["scontrol requeue->running"] = step(
        "scontrol requeue: the job runs again (output appended)", t, ok,
        f"states {', '.join(f'{k} +{v:.1f}s' for k, v in seen.items())}; "
        f"Restarts={info.get('Restarts')}; output {text.strip()!r}")
    c.run("scancel", str(j))
    c.wait_job(j, "CANCELLED", 30)
    c.wait_nodes_idle(30)

    # preemption: a "debug" job requeues a "low" job
    out = sh / "low-%j.out"
    lo = c.sbatch("-p", c.low_partition, "-N2", "--exclusive", "--requeue", "--open-mode=append",
                  "-o", str(out), wrap=script)
    c.wait_job(lo, "RUNNING", 30)
    read_when(sh / f"low-{lo}.out", "restart=0")
    t = time.monotonic()
    hi = c.sbatch("-N2", "--exclusive", "-o", "/dev/null", wrap="sleep 1")
    seen_hi, _ = watch(c, hi, {"RUNNING", "COMPLETED"}, 60)
    lo_state = c.job_state(lo)
    c.wait_job(hi, "COMPLETED", 60)
    seen_lo, info = watch(c, lo, {"RUNNING"}, 60, leave_first=True)
    t_lo = time.monotonic() - t
    text = read_when(sh / f"low-{lo}.out", "restart=1")
    timings["preempted low job running again"] = step(
        "preemption: a debug job requeues the low job, which runs again after it", t,
        "restart=1" in text and info.get("JobState") == "RUNNING",
        f"high job RUNNING +{(seen_hi.get('RUNNING') or 0):.1f}s (low job then {lo_state}), "
        f"low job RUNNING again +{t_lo:.1f}s; output {text.strip()!r}")
    c.run("scancel", str(lo))
    c.wait_job(lo, "CANCELLED", 30)
    c.wait_nodes_idle(30)

    # a lost node under a 2-node --requeue job
    out = sh / "lost-%j.out"
    j = c.sbatch("-N2", "--requeue", "--open-mode=append", "-o", str(out),
                 wrap='echo "start restart=${SLURM_RESTART_COUNT:-0} on $SLURM_JOB_NODELIST"; '
                      'srun sleep 300')
    c.wait_job(j, "RUNNING", 30)
    read_when(sh / f"lost-{j}.out", "restart=0")
    time.sleep(0.5)  # let the srun step start
    victim = names[-1]
    t = time.monotonic()
    killed = c.node_stop(victim)
    seen, info = watch(c, j, {"PENDING", "REQUEUED", "REQUEUE_HOLD", "FAILED", "NODE_FAIL"}, 90,
                       poll=0.2)
    t_req = time.monotonic() - t
    vstate = c.node_states().get(victim)
    step(f"node_stop({victim}): {len(killed)} processes killed; job requeued", t,
         info.get("JobState") in ("PENDING", "REQUEUED"),
         f"job {info.get('JobState')} after {t_req:.1f}s, node {vstate}, reason {info.get('Reason')}")
    timings["node lost->job requeued"] = t_req
    t2 = time.monotonic()
    c.node_start(victim)
    t_up = time.monotonic() - t2
    seen2, info = watch(c, j, {"RUNNING"}, 90, poll=0.2)
    t_run = time.monotonic() - t
    text = read_when(sh / f"lost-{j}.out", "restart=1")
    timings["node_start->responding"] = t_up
    timings["node lost->job running again"] = t_run
    step(f"node_start({victim}): node back, the job runs again on 2 nodes", t,
         info.get("JobState") == "RUNNING" and "restart=1" in text,
         f"node responding {t_up:.1f}s after node_start; job RUNNING {t_run:.1f}s after the kill "
         f"({time.monotonic() - t2:.1f}s after node_start); output {text.strip()!r}")
    c.run("scancel", str(j))
    c.wait_job(j, "CANCELLED", 30)
    c.wait_nodes_idle(30)

    # a crashed cluster, cleaned up while this one runs
    t = time.monotonic()
    ns, br, ctld, munged, slurmd, run_dir, port = crashed_cluster()
    left = (netns_inode(ns) is not None and os.path.exists(f"/sys/class/net/{br}")
            and pid_alive(int(ctld)) and pid_alive(int(slurmd)))
    step("a crashed cluster (owner exited without stop()) leaves daemons + netns behind", t, left,
         f"{ns} {br} slurmctld={ctld} port={port} (ours: {c.port})")
    t = time.monotonic()
    removed = SlurmCluster.cleanup_stale()
    gone = (netns_inode(ns) is None and not os.path.exists(f"/sys/class/net/{br}")
            and not any(pid_alive(int(x)) for x in (ctld, munged, slurmd))
            and not os.path.exists(run_dir) and not any(REGISTRY.glob("*selftest-crash*")))
    step("cleanup_stale() removed the crashed cluster, left the live one alone", t,
         gone and c.node_states().get(names[0]) == "idle", f"{len(removed)} items")


def check_cleanup(c: SlurmCluster, keep: bool) -> None:
    pids = [c._ctld.pid if c._ctld else None, c._munged.pid if c._munged else None]
    pids += [n.pid for n in c.nodes]
    netns = [n.netns for n in c.nodes]
    veths = [n.veth for n in c.nodes]
    record, run_dir, root = c._record_path, c.run_dir, c.root
    t = time.monotonic()
    try:
        c.stop()
        err = ""
    except Exception as e:
        err = str(e)
    leftovers = [f"pid {p}" for p in pids if p and pid_alive(p)]
    leftovers += [f"netns {n}" for n in netns if netns_inode(n) is not None]
    leftovers += [f"link {x}" for x in veths + [c.bridge] if os.path.exists(f"/sys/class/net/{x}")]
    leftovers += [str(x) for x in (record, run_dir) if x and x.exists()]
    if not keep and root and root.exists():
        leftovers.append(str(root))
    timings["stop"] = step("stop() leaves nothing behind (processes, netns, links, dirs, record)", t,
                           not leftovers and not err, err + " ".join(leftovers)
                           + (f" (kept {root})" if keep else ""))


if __name__ == "__main__":
    sys.exit(main())
