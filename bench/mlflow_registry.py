#!/usr/bin/env python3
"""MLflow model registry throughput: the real `mlflow` client (MlflowClient) against Ferry's
MLflow endpoint, against `mlflow server` (SQLite backend store) and against the client's own
floor (bench/mlflow_floor, an endpoint that answers every call at once), in one run.

Workload (issue 19), per round, on a fresh registered model, serial calls from one client:
  create:  N x `create_model_version(name, source="s3://bench-models/<name>/model",
           run_id=None)` (a source elsewhere, which every server records as is: no
           files to copy, no run to check);
  search:  N x `search_model_versions(f"name='{name}'", max_results=10)` (N versions present);
  alias:   one `set_registered_model_alias(name, "champion", N)`, then
           N x `get_model_version_by_alias(name, "champion")`.
N defaults to 1,000; 3 rounds (one fresh model each) after a short warm-up round; each phase's
figure is its best round (calls/s, timed inside the client around the loop only). Each server
runs in a fresh client process. Ratios: Ferry / mlflow server in throughput, and Ferry / floor
in time per call. Goal: Ferry >= 10x mlflow server, or within 1.2x of the floor where the
client is what limits it. A created version is durable before it is acknowledged (as in
`mlflow server` on SQLite), so the bench also measures one fdatasync on the same disk and shows
create against the durable floor (client floor + one sync per serial call).

Needs `mlflow` (the full package, for `mlflow server`): bench/run_all.sh installs
bench/requirements-bench.txt into .venv on demand; and build/bench/mlflow_floor.

Output: human-readable lines, then one ``RESULT key=value ...`` line.
This is a benchmark, not a test: the exit status does not depend on the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import PYTHON, Server  # noqa: E402
from mlflow_tracking import Floor, MlflowServer  # noqa: E402

PHASES = ("create", "search", "alias")

WORKLOAD = """
import json, sys, time
from mlflow import MlflowClient
n, rounds, warmup, check = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
c = MlflowClient()

def one_round(name, n):
    c.create_registered_model(name)
    source = "s3://bench-models/" + name + "/model"
    t = {}
    t0 = time.perf_counter()
    for _ in range(n):
        mv = c.create_model_version(name, source=source, run_id=None)
    t["create"] = time.perf_counter() - t0
    last = mv.version
    flt = "name='" + name + "'"
    t0 = time.perf_counter()
    for _ in range(n):
        page = c.search_model_versions(flt, max_results=10)
    t["search"] = time.perf_counter() - t0
    c.set_registered_model_alias(name, "champion", last)
    t0 = time.perf_counter()
    for _ in range(n):
        got = c.get_model_version_by_alias(name, "champion")
    t["alias"] = time.perf_counter() - t0
    if check:
        assert str(last) == str(n), (last, n)
        assert len(page) == min(10, n), len(page)
        assert str(got.version) == str(n) and got.name == name, (got.name, got.version)
        assert got.status == "READY", got.status
    return t

one_round("bench-warmup", warmup)
out = [one_round("bench-%d" % r, n) for r in range(rounds)]
print(json.dumps(out))
"""


def run_workload(uri: str, token: str | None, n: int, rounds: int, warmup: int, check: bool) -> list:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = uri
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    r = subprocess.run([PYTHON, "-c", WORKLOAD, str(n), str(rounds), str(warmup), "1" if check else "0"],
                       env=env, capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError(f"registry workload against {uri} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def fdatasync_s(directory: str, n: int = 300) -> float:
    """Median time of overwriting 4 KiB of a file and fdatasync'ing it, in directory: what one
    durable commit costs the disk under the workspace (SQLite's WAL is rewritten in place once
    it has grown, so the probe's file is written once first and then overwritten)."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    times = []
    try:
        os.write(fd, b"\0" * 4096 * n)
        os.fsync(fd)
        for i in range(n):
            t0 = time.perf_counter()
            os.pwrite(fd, b"x" * 4096, 4096 * i)
            os.fdatasync(fd)
            times.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        os.unlink(path)
    return sorted(times)[n // 2]


def best_rates(rounds: list, n: int) -> dict:
    """calls/s of each phase's fastest round, and every round's, for the log."""
    return {p: {"rate": n / min(r[p] for r in rounds), "all": [n / r[p] for r in rounds]} for p in PHASES}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--calls", type=int, default=1000, help="calls per phase per round")
    ap.add_argument("-r", "--rounds", type=int, default=3, help="rounds (a fresh model each); best is kept")
    ap.add_argument("-w", "--warmup", type=int, default=20, help="calls per phase of the warm-up round")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ferry-bench-registry-")
    raw = {}
    try:
        sync_s = fdatasync_s(tmp)  # just before Ferry's phase, on the disk its home is on
        with Server(os.path.join(tmp, "home")) as ferry:
            raw["ferry"] = run_workload(ferry.url, ferry.secret("token"), args.calls, args.rounds, args.warmup, True)
        with MlflowServer(tmp) as ml:
            raw["mlflow"] = run_workload(ml.url, None, args.calls, args.rounds, args.warmup, True)
        with Floor() as floor:
            raw["floor"] = run_workload(floor.url, None, args.calls, args.rounds, args.warmup, False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rates = {k: best_rates(v, args.calls) for k, v in raw.items()}
    kv = {"calls": args.calls, "rounds": args.rounds}
    for p in PHASES:
        f, m, fl = rates["ferry"][p]["rate"], rates["mlflow"][p]["rate"], rates["floor"][p]["rate"]
        kv.update({f"ferry_{p}_rate": f"{f:.1f}", f"mlflow_{p}_rate": f"{m:.1f}", f"floor_{p}_rate": f"{fl:.1f}",
                   f"{p}_ratio": f"{f / m:.2f}", f"{p}_floor_ratio": f"{fl / f:.2f}"})
        rounds = "; ".join(f"{k} " + " / ".join(f"{x:.0f}" for x in rates[k][p]["all"]) for k in rates)
        met = "yes" if f / m >= 10 or fl / f <= 1.2 else "no"
        print(f"{p} x {args.calls} (best of {args.rounds}): Ferry {f:.0f} calls/s, mlflow server {m:.0f} calls/s, "
              f"floor {fl:.0f} calls/s -> {f / m:.1f}x mlflow server, {fl / f:.2f}x the floor's time per call "
              f"(goal >= 10x or <= 1.2x: {met}); rounds: {rounds}")
    # A version is created durably (synced before it is acknowledged), so one disk sync per
    # serial call is the least a durable server can add to the client's floor.
    fl = rates["floor"]["create"]["rate"]
    durable_floor = 1 / (1 / fl + sync_s)
    f = rates["ferry"]["create"]["rate"]
    kv.update({"fdatasync_ms": f"{sync_s * 1e3:.3f}", "durable_floor_create_rate": f"{durable_floor:.1f}",
               "create_durable_floor_ratio": f"{durable_floor / f:.2f}"})
    print(f"create, durable: one fdatasync here takes {sync_s * 1e3:.3f} ms (median), so a durable "
          f"create's floor is {durable_floor:.0f} calls/s; Ferry is {durable_floor / f:.2f}x that floor's time per call")
    print("RESULT " + " ".join(f"{k}={v}" for k, v in kv.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
