#!/usr/bin/env python3
"""Run start on a Slurm cluster: submit to the script's first line, idle nodes.

Cluster: a real Slurm (slurmctld + 2 slurmd in network namespaces, tests/support/slurm.py).
Ferry:   `ferry run submit -t hpc job.py`, then the time until the script's first line is in
         the run's log (`ferry run logs -f` prints it): snapshot, submit, sbatch, Slurm's
         scheduling, srun, the agent (plan, cached blobs, working copy), the script.
Anchor:  `sbatch` of a script running the same `print()` directly, and the time until its
         first line is in the job's output file.
Goal:    <= 100 ms extra (median).

Slurm starts jobs on its own scheduling passes (here up to ~1 s after submit), which both
sides pay; the difference is Ferry's. Needs root. Output: lines, then one RESULT line.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import FERRY, REPO, median, start_slurm_workspace  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "tests", "support"))
from slurm import SlurmCluster  # noqa: E402


def wait_for_line(path: str, t0: float, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                if "first line" in f.read():
                    return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.002)
    raise RuntimeError(f"no first line in {path}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--runs", type=int, default=10)
    args = ap.parse_args()
    why = SlurmCluster.unavailable_reason()
    if why:
        print(f"slurm_start: cannot start a Slurm cluster here: {why}", file=sys.stderr)
        return 2
    ferry_t, sbatch_t = [], []
    with tempfile.TemporaryDirectory(prefix="ferry-bench-slurm-") as tmp, \
            SlurmCluster(os.path.join(tmp, "c"), nodes=2) as c:
        c.start()
        home, src = os.path.join(tmp, "home"), os.path.join(tmp, "src")
        os.makedirs(src)
        with open(os.path.join(src, "job.py"), "w") as f:
            f.write("print('first line', flush=True)\n")
        env = {**c.env}
        server = start_slurm_workspace(home, c, env)
        try:
            base = [FERRY, "--home", home]
            submit = base + ["run", "submit", "-t", "hpc", "--source-dir", src, "--wait", "job.py"]
            subprocess.run(submit, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm
            for i in range(args.runs):
                # Ferry: from the submit until `run logs -f` has printed the first line.
                t0 = time.perf_counter()
                p = subprocess.Popen(submit, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                line = p.stdout.readline()
                ferry_t.append(time.perf_counter() - t0)
                p.wait()
                assert "first line" in line, line
                # Anchor: sbatch of the same print.
                out = os.path.join(tmp, f"direct{i}.out")
                script = os.path.join(tmp, "direct.sh")
                with open(script, "w") as f:
                    f.write(f"#!/bin/sh\nexec {sys.executable} {os.path.join(src, 'job.py')}\n")
                t0 = time.perf_counter()
                subprocess.run(["sbatch", "--parsable", "-o", out, script], check=True, env=env,
                               stdout=subprocess.DEVNULL)
                sbatch_t.append(wait_for_line(out, t0))
                time.sleep(0.5)
        finally:
            server.terminate()
            server.wait()
    f, s = median(ferry_t) * 1e3, median(sbatch_t) * 1e3
    print(f"slurm_start: median of {args.runs}")
    print(f"  ferry run submit -t hpc -> first line   {f:8.1f} ms")
    print(f"  sbatch -> first line (anchor)           {s:8.1f} ms")
    print(f"  extra                                   {f - s:8.1f} ms  (goal <= 100 ms)")
    print(f"RESULT ferry_ms={f:.1f} sbatch_ms={s:.1f} extra_ms={f - s:.1f} ratio={f / s:.2f} runs={args.runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
