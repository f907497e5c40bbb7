#!/usr/bin/env python3
"""Status tracking of 1,000 active Slurm jobs: server CPU per poll cycle.

Cluster: a real Slurm (2 slurmd in network namespaces, 4 CPUs in all), tests/support/slurm.py.
Setup:   1,000 runs submitted to the Slurm target (4 running a long sleep, 996 pending in
         Slurm's queue): 1,000 active runs, 1,000 jobs.
Ferry:   the server's CPU time (user + system, from /proc) over 10 s, divided by the poll
         cycles in that time (each cycle: one `squeue` for all jobs, parsing 1,000 rows, and
         the scheduler's pass over 1,000 active runs). squeue's own CPU is not the server's.
Goal:    <= 200 ms of server CPU per cycle.

Needs root. Output: lines, then one RESULT line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import FERRY, REPO, start_slurm_workspace  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "tests", "support"))
from slurm import SlurmCluster  # noqa: E402


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    why = SlurmCluster.unavailable_reason()
    if why:
        print(f"slurm_poll: cannot start a Slurm cluster here: {why}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ferry-bench-poll-") as tmp, \
            SlurmCluster(os.path.join(tmp, "c"), nodes=2) as c:
        c.start()
        home, src = os.path.join(tmp, "home"), os.path.join(tmp, "src")
        os.makedirs(src)
        with open(os.path.join(src, "job.py"), "w") as f:
            f.write("import time\ntime.sleep(3600)\n")
        env = {**c.env}
        server = start_slurm_workspace(home, c, env)
        try:
            base = [FERRY, "--home", home]
            t0 = time.monotonic()
            for _ in range(args.jobs):
                subprocess.run(base + ["run", "submit", "-t", "hpc", "--source-dir", src, "job.py"], check=True,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            submit_s = time.monotonic() - t0
            # Wait until every run is handed to Slurm (Preparing or Running).
            deadline = time.monotonic() + 300
            while True:
                jobs = c.run("squeue", "-h", "-o", "%i", check=False).stdout.split()
                if len(jobs) >= args.jobs:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {len(jobs)} jobs reached Slurm")
                time.sleep(0.5)

            def polls() -> int:
                out = subprocess.run(base + ["-o", "json", "compute", "show", "hpc"], check=True, env=env,
                                     capture_output=True, text=True).stdout
                return json.loads(out)["details"]["polls"]
            p0, c0 = polls(), cpu_seconds(server.pid)
            time.sleep(args.seconds)
            p1, c1 = polls(), cpu_seconds(server.pid)
            active = len(c.run("squeue", "-h", "-o", "%i", check=False).stdout.split())
        finally:
            server.terminate()
            server.wait()
            c.run("scancel", "-u", "root", check=False)
    cycles = max(1, p1 - p0)
    per = (c1 - c0) / cycles * 1e3
    print(f"slurm_poll: {active} jobs in Slurm, {cycles} poll cycles in {args.seconds:.0f} s "
          f"(submitting {args.jobs} runs took {submit_s:.1f} s)")
    print(f"  server CPU per cycle   {per:8.1f} ms  (goal <= 200 ms)")
    print(f"RESULT cpu_ms_per_cycle={per:.1f} cycles={cycles} jobs={active} seconds={args.seconds:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
