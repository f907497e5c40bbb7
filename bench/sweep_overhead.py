#!/usr/bin/env python3
"""Overhead of a sweep: many trials of a script that logs one value and exits.

Ferry:  ``ferry run submit-hyperdrive`` of a random sweep with N trials (default 1,000), 2 at a
        time on the local target (server already up), timed from the submit until the sweep run
        has ended. Each trial is a full run: created by the controller with its sampled value,
        launched, its agent started, the script run, the metric ingested, the run finalised.
Anchor: the script's own run time, ``PY trial.py --x 0.5`` directly (mean of 30), times N / 2
        (two at a time on two cores, with nothing else to do).
Goal:   total <= 1.25 x anchor.

Output: human-readable lines, then one ``RESULT key=value ...`` line.
This is a benchmark, not a test: the exit status does not depend on the numbers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import PYTHON, REPO, Server, run_sweep, sweep_source  # noqa: E402

TRIAL = """\
import argparse
from ferry import Run

p = argparse.ArgumentParser()
p.add_argument("--x", type=float)
Run.get_context().log("loss", (p.parse_args().x - 0.3) ** 2)
"""

HDCONFIG = """\
sampling:
  type: random
  seed: 1
  parameter_space:
  - name: --x
    expression: uniform
    values: [0, 1]
primary_metric_name: loss
primary_metric_goal: Minimize
max_total_runs: {n}
max_concurrent_runs: 2
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--trials", type=int, default=1000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ferry-bench-sweep-")
    try:
        home = os.path.join(tmp, "home")
        src = os.path.join(tmp, "src")
        sweep_source(src, "trial.py", TRIAL)
        with open(os.path.join(src, ".azureml", "hdconfig.yml"), "w") as f:
            f.write(HDCONFIG.format(n=args.trials))
        env = {**os.environ, "PYTHONPATH": os.path.join(REPO, "python")}
        # The anchor: the script alone (offline: its in-script library writes no server).
        times = []
        for i in range(33):
            t0 = time.perf_counter()
            subprocess.run([PYTHON, "trial.py", "--x", "0.5"], cwd=src, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if i >= 3:
                times.append(time.perf_counter() - t0)
        script = statistics.mean(times)
        anchor = args.trials * script / 2
        with Server(home) as server:
            t0 = time.perf_counter()
            sweep_id = run_sweep(server, home, src, "hdconfig")
            total = time.perf_counter() - t0
            run = server.request("GET", f"/api/v1/runs/{sweep_id}")
            s = server.request("GET", f"/api/v1/sweeps/{sweep_id}")
        counts = s["counts"]
        ratio = total / anchor
        print(f"sweep of {args.trials} trials, 2 at a time: {total:.1f} s ({run['status']}; {counts})")
        print(f"script alone: {script * 1000:.1f} ms; anchor {args.trials} x {script * 1000:.1f} ms / 2 = {anchor:.1f} s")
        print(f"ratio {ratio:.2f}x (goal <= 1.25); per trial {total / args.trials * 1000:.1f} ms of wall time "
              f"({(total - anchor) / args.trials * 2 * 1000:.1f} ms of overhead per trial per slot)")
        print(f"RESULT trials={args.trials} total_s={total:.2f} script_ms={script * 1000:.2f} anchor_s={anchor:.2f} "
              f"ratio={ratio:.3f} completed={counts.get('Completed', 0)} status={run['status']}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
