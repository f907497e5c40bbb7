#!/usr/bin/env python3
"""Reuse check of a fully reused pipeline (issue 21).

Ferry:  a chain of N steps (default 100) of a trivial script, each reading the previous step's
        output and writing its own, run once on the local target; then the same definition
        submitted again (``POST /api/v1/pipeline-runs``), timed from the submit until the pipeline
        run is Completed with every step reused. Each step's reuse key is computed from its code,
        configuration, parameter values and the content its producer recorded; nothing runs.
        Median of 5 resubmissions.
Anchor: the same measurement of a 1-step pipeline (what one submit and one controller pass cost),
        and ``POST /api/v1/runs`` of one run (the plain submit round trip).
Goal:   N=100 fully reused: <= 100 ms from submit to Completed.

Output: human-readable lines, then one ``RESULT key=value ...`` line.
This is a benchmark, not a test: the exit status does not depend on the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import FERRY, PYTHON, Server  # noqa: E402

STEP = """\
import os, sys
src = os.environ.get("FERRY_INPUT_prev")
n = int(open(os.path.join(src, "n.txt")).read()) if src else 0
out = os.environ["FERRY_OUTPUT_out"]
open(os.path.join(out, "n.txt"), "w").write(str(n + 1))
"""


def chain(n: int, snapshot: str) -> dict:
    steps = []
    for i in range(n):
        s = {"name": f"s{i:03d}", "script_name": "step.py", "snapshot_id": snapshot, "python": PYTHON,
             "outputs": [{"name": "out", "destination": f"d{i:03d}"}]}
        if i:
            s["inputs"] = [{"name": "prev", "source": f"d{i - 1:03d}"}]
        steps.append(s)
    return {"name": f"chain{n}", "default_compute": "local", "steps": steps}


def wait_done(server: Server, run_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = server.request("GET", f"/api/v1/pipeline-runs/{run_id}")
        if body["run"]["status"] in ("Completed", "Failed", "Canceled"):
            return body
        if time.monotonic() > deadline:
            raise RuntimeError(f"pipeline {run_id} did not end in {timeout} s")
        time.sleep(0.002)


def timed_resubmits(server: Server, spec: dict, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        run = server.request("POST", "/api/v1/pipeline-runs",
                             json.dumps({"experiment": "bench", "pipeline": spec}).encode())
        body = wait_done(server, run["id"], 60)
        dt = time.perf_counter() - t0
        statuses = {s["status"] for s in body["steps"]}
        if body["run"]["status"] != "Completed" or statuses != {"Reused"}:
            raise RuntimeError(f"not fully reused: {body['run']['status']} {statuses}")
        out.append(dt)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--steps", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ferry-bench-reuse-")
    try:
        home = os.path.join(tmp, "home")
        src = os.path.join(tmp, "src")
        os.makedirs(src)
        with open(os.path.join(src, "step.py"), "w") as f:
            f.write(STEP)
        with Server(home) as server:
            # The source directory's snapshot, uploaded the way every submit uploads one (the
            # plain run itself fails, having no output directory; only its snapshot is used).
            subprocess.run([FERRY, "--home", home, "run", "submit", "--source-dir", src, "--python", PYTHON,
                            "step.py"], check=True, capture_output=True)
            runs = server.request("GET", "/api/v1/runs?limit=1")
            snapshot = runs["runs"][0]["snapshot_id"]
            big, one = chain(args.steps, snapshot), chain(1, snapshot)
            t0 = time.perf_counter()
            first = server.request("POST", "/api/v1/pipeline-runs",
                                   json.dumps({"experiment": "bench", "pipeline": big}).encode())
            body = wait_done(server, first["id"], 3600)
            first_s = time.perf_counter() - t0
            if body["run"]["status"] != "Completed":
                raise RuntimeError(f"the first run of the chain ended {body['run']['status']}: {body['run']['error']}")
            server.request("POST", "/api/v1/pipeline-runs",
                           json.dumps({"experiment": "bench", "pipeline": one}).encode())
            time.sleep(2)
            big_t = timed_resubmits(server, big, args.rounds)
            one_t = timed_resubmits(server, one, args.rounds)
            submit_t = []
            body = json.dumps({"experiment": "bench", "script": "step.py", "snapshot_id": snapshot,
                               "python": PYTHON, "target": "local"}).encode()
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                server.request("POST", "/api/v1/runs", body)
                submit_t.append(time.perf_counter() - t0)
        med = statistics.median
        print(f"first run of the {args.steps}-step chain: {first_s:.1f} s")
        print(f"{args.steps} steps fully reused, submit to Completed: median {med(big_t) * 1000:.1f} ms "
              f"({', '.join(f'{t * 1000:.1f}' for t in big_t)})")
        print(f"1 step reused: median {med(one_t) * 1000:.1f} ms; POST /runs: median {med(submit_t) * 1000:.1f} ms")
        print(f"RESULT reuse_{args.steps}_ms={med(big_t) * 1000:.1f} reuse_1_ms={med(one_t) * 1000:.1f} "
              f"post_run_ms={med(submit_t) * 1000:.1f} first_run_s={first_s:.1f}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
