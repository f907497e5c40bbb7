#!/usr/bin/env python3
"""MLflow tracking throughput: the real `mlflow` client against Ferry's MLflow endpoint and
against `mlflow server` (SQLite backend store), on this machine, in one run.

Workloads (each in a fresh client process, one run per workload):
  log_metric: `mlflow.log_metric("loss", v, step=i)` in a loop, N calls (default 2,000).
  log_batch:  `MlflowClient().log_batch(run_id, metrics=[1,000 Metric])`, B batches (default 20).
Throughput is calls/s (log_metric) and metrics/s (log_batch), timed inside the client around
the loop only. A third row times the servers alone: the same log-batch requests with their
JSON built beforehand, on one keep-alive connection. Anchor: the same workload against `mlflow server --backend-store-uri
sqlite:///...` started with its defaults. Goal: Ferry >= 10x the anchor's throughput, or
within 1.2x of the client's own floor: the same log_metric loop against bench/mlflow_floor, an
endpoint that answers every call at once (what the client costs by itself).

Needs `mlflow` (the full package, for `mlflow server`): bench/run_all.sh installs
bench/requirements-bench.txt into .venv on demand.

Output: human-readable lines, then one ``RESULT key=value ...`` line.
This is a benchmark, not a test: the exit status does not depend on the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import PYTHON, Server  # noqa: E402

WORKLOAD = """
import json, sys, time, mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric
kind, n = sys.argv[1], int(sys.argv[2])
mlflow.set_experiment("bench-" + kind)
with mlflow.start_run() as run:
    if kind == "log_metric":
        t0 = time.perf_counter()
        for i in range(n):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        dt = time.perf_counter() - t0
        rate = n / dt
    else:
        c = MlflowClient()
        now = int(time.time() * 1000)
        batches = [[Metric("m%d" % (j % 10), float(j), now, b * 1000 + j) for j in range(1000)] for b in range(n)]
        t0 = time.perf_counter()
        for b in batches:
            c.log_batch(run.info.run_id, metrics=b, synchronous=True)
        dt = time.perf_counter() - t0
        rate = n * 1000 / dt
    stored = len(MlflowClient().get_metric_history(run.info.run_id, "loss" if kind == "log_metric" else "m0"))
print(json.dumps({"seconds": dt, "rate": rate, "stored": stored}))
"""


def raw_batches(url: str, token: str | None, batches: int) -> dict:
    """The server alone: log-batch requests of 1,000 metrics, bodies built beforehand, on one
    keep-alive connection (what the mlflow client sends, without its own per-batch cost)."""
    import http.client
    from urllib.parse import urlparse

    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)

    def call(path: str, body: dict) -> dict:
        conn.request("POST", "/api/2.0/mlflow/" + path, json.dumps(body).encode(), headers)
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError(f"{path}: {r.status} {data[:300]!r}")
        return json.loads(data or b"{}")

    eid = call("experiments/create", {"name": "raw-batches"})["experiment_id"]
    run_id = call("runs/create", {"experiment_id": eid, "start_time": int(time.time() * 1000)})["run"]["info"]["run_id"]
    now = int(time.time() * 1000)
    bodies = [{"run_id": run_id, "metrics": [{"key": f"m{j % 10}", "value": float(j), "timestamp": now,
                                              "step": b * 1000 + j} for j in range(1000)]} for b in range(batches)]
    t0 = time.perf_counter()
    for body in bodies:
        call("runs/log-batch", body)
    dt = time.perf_counter() - t0
    conn.close()
    return {"seconds": dt, "rate": batches * 1000 / dt}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_workload(uri: str, token: str | None, kind: str, n: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = uri
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    r = subprocess.run([PYTHON, "-c", WORKLOAD, kind, str(n)], env=env, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"{kind} against {uri} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


class MlflowServer:
    """`mlflow server` with a SQLite backend store in a temporary directory, its defaults otherwise."""

    def __init__(self, root: str):
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def __enter__(self):
        mlflow_bin = os.path.join(os.path.dirname(PYTHON), "mlflow")
        log = open(os.path.join(self.root, "mlflow-server.log"), "wb")
        self.proc = subprocess.Popen(
            [mlflow_bin, "server", "--backend-store-uri", f"sqlite:///{self.root}/mlflow.db",
             "--default-artifact-root", f"{self.root}/artifacts", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited; see {self.root}/mlflow-server.log")
            try:
                urllib.request.urlopen(self.url + "/health", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.25)
        raise RuntimeError("mlflow server did not come up in 120 s")

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)


class Floor:
    """build/bench/mlflow_floor: answers every MLflow call at once with a fixed reply."""

    def __enter__(self):
        exe = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "bench", "mlflow_floor")
        self.proc = subprocess.Popen([exe], stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=20)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--calls", type=int, default=2000, help="log_metric calls")
    ap.add_argument("-b", "--batches", type=int, default=20, help="log_batch batches of 1,000 metrics")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ferry-bench-mlflow-")
    results = {}
    try:
        with Server(os.path.join(tmp, "home")) as ferry:
            token = ferry.secret("token")
            results["ferry_metric"] = run_workload(ferry.url, token, "log_metric", args.calls)
            results["ferry_batch"] = run_workload(ferry.url, token, "log_batch", args.batches)
            results["ferry_raw"] = raw_batches(ferry.url, token, args.batches)
        with MlflowServer(tmp) as ml:
            results["mlflow_metric"] = run_workload(ml.url, None, "log_metric", args.calls)
            results["mlflow_batch"] = run_workload(ml.url, None, "log_batch", args.batches)
            results["mlflow_raw"] = raw_batches(ml.url, None, args.batches)
        with Floor() as floor:
            results["floor_metric"] = run_workload(floor.url, None, "log_metric", args.calls)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    fm, mm = results["ferry_metric"], results["mlflow_metric"]
    fb, mb = results["ferry_batch"], results["mlflow_batch"]
    fl = results["floor_metric"]
    print(f"log_metric x {args.calls} against an endpoint that answers at once (the client's floor): "
          f"{fl['rate']:.0f} calls/s -> Ferry is {fl['rate'] / fm['rate']:.2f}x the floor's time per call")
    print(f"log_metric x {args.calls}: Ferry {fm['rate']:.0f} calls/s ({fm['seconds']:.2f} s), "
          f"mlflow server {mm['rate']:.0f} calls/s ({mm['seconds']:.2f} s) -> {fm['rate'] / mm['rate']:.1f}x")
    print(f"log_batch of 1,000 x {args.batches}: Ferry {fb['rate']:.0f} metrics/s ({fb['seconds']:.2f} s), "
          f"mlflow server {mb['rate']:.0f} metrics/s ({mb['seconds']:.2f} s) -> {fb['rate'] / mb['rate']:.1f}x")
    fr, mr = results["ferry_raw"], results["mlflow_raw"]
    print(f"log-batch requests alone (bodies prebuilt, keep-alive): Ferry {fr['rate']:.0f} metrics/s, "
          f"mlflow server {mr['rate']:.0f} metrics/s -> {fr['rate'] / mr['rate']:.1f}x")
    print(f"stored points: Ferry {fm['stored']}/{fb['stored']}, mlflow server {mm['stored']}/{mb['stored']}")
    print(f"RESULT calls={args.calls} batches={args.batches} ferry_metric_rate={fm['rate']:.1f} "
          f"mlflow_metric_rate={mm['rate']:.1f} metric_ratio={fm['rate'] / mm['rate']:.2f} "
          f"floor_metric_rate={fl['rate']:.1f} floor_ratio={fl['rate'] / fm['rate']:.2f} "
          f"ferry_batch_rate={fb['rate']:.1f} mlflow_batch_rate={mb['rate']:.1f} "
          f"batch_ratio={fb['rate'] / mb['rate']:.2f} ferry_raw_rate={fr['rate']:.1f} mlflow_raw_rate={mr['rate']:.1f} "
          f"raw_ratio={fr['rate'] / mr['rate']:.2f} ferry_stored={fm['stored']}/{fb['stored']} "
          f"mlflow_stored={mm['stored']}/{mb['stored']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
