#!/usr/bin/env python3
"""Run start on a managed cluster scaled to zero: submit to the script's first line.

Cluster: `ferry compute create cluster` with the netns provider (Ferry's own munged +
         slurmctld; nodes are network namespaces running slurmd), min 0, max 1 node, scaled
         back to zero between measurements.
Ferry:   `ferry run submit -t burst --wait job.py` until the script's first line is printed:
         the autoscaler noticing the waiting job, the node's start, slurmd registering, Slurm
         placing the job, srun, the agent, the script.
Anchor:  the provider's own node start time (recorded with the node: netns, veth, slurmd
         spawned), subtracted: what is left is Ferry's and Slurm's overhead.
Goal:    <= 2 s of overhead (median). Needs root. Output: lines, then one RESULT line.
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
from _common import FERRY, Server, median  # noqa: E402


def show(base):
    return json.loads(subprocess.run(base + ["-o", "json", "compute", "show", "burst"], check=True,
                                     capture_output=True, text=True).stdout)["details"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--runs", type=int, default=5)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("cluster_start: needs root (network namespaces)", file=sys.stderr)
        return 2
    totals, provider = [], []
    with tempfile.TemporaryDirectory(prefix="ferry-bench-cluster-") as tmp:
        home, src = os.path.join(tmp, "home"), os.path.join(tmp, "src")
        os.makedirs(src)
        with open(os.path.join(src, "job.py"), "w") as f:
            f.write("print('first line', flush=True)\n")
        with Server(home):
            base = [FERRY, "--home", home]
            subprocess.run(base + ["compute", "create", "cluster", "burst", "--provider", "netns", "--max-nodes", "1",
                                   "--idle-seconds-before-scaledown", "1", "--node-size", "1,1000"],
                           check=True, stdout=subprocess.DEVNULL)
            submit = base + ["run", "submit", "-t", "burst", "--source-dir", src, "--wait", "job.py"]
            try:
                subprocess.run(submit, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm
                for _ in range(args.runs):
                    deadline = time.monotonic() + 60
                    while {n["provider_state"] for n in show(base)["nodes"]} != {"stopped"}:
                        if time.monotonic() > deadline:
                            raise RuntimeError("the cluster did not scale back to zero")
                        time.sleep(0.2)
                    t0 = time.perf_counter()
                    p = subprocess.Popen(submit, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                    line = p.stdout.readline()
                    totals.append(time.perf_counter() - t0)
                    p.wait()
                    assert "first line" in line, line
                    node = show(base)["nodes"][0]
                    provider.append(float(node.get("start_seconds", 0)))
            finally:
                subprocess.run(base + ["compute", "delete", "burst", "--force", "--yes"], stdout=subprocess.DEVNULL)
    t, p = median(totals) * 1e3, median(provider) * 1e3
    over = median([a - b for a, b in zip(totals, provider)]) * 1e3
    print(f"cluster_start: median of {args.runs}, from zero nodes")
    print(f"  ferry run submit -> first line          {t:8.1f} ms")
    print(f"  provider's node start (anchor)          {p:8.1f} ms")
    print(f"  overhead (Ferry + Slurm)                {over:8.1f} ms  (goal <= 2000 ms)")
    print(f"RESULT total_ms={t:.1f} provider_ms={p:.1f} overhead_ms={over:.1f} runs={args.runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
