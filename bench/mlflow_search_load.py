#!/usr/bin/env python3
"""MLflow `runs/search` under load: Ferry's MLflow endpoint against `mlflow server` (SQLite
backend store), on this machine, in one run (issue 17, item 16).

Data (the same on both servers, written with log-batch): one experiment, 500 runs, each with
10 metrics x 100 steps and 5 parameters. Load: C client processes (20, then 50), each on one
keep-alive connection, send `runs/search` (that experiment, max_results 100, default order)
back to back for D seconds (default 20); requests/s is completed searches over D. Meanwhile a
prober asks the server's health endpoint 20 times a second (Ferry: /api/v1/health; mlflow:
/health) and records each answer's latency: p50 and p99 show whether searches starve
everything else. One client alone gives the per-request latency (p50).

Anchor: `mlflow server --backend-store-uri sqlite:///...` with its defaults. Goal: Ferry >= 10x
the anchor's requests/s at 20 and 50 clients, and Ferry's health p99 < 20 ms under that load.

Needs `mlflow` (the full package, for `mlflow server`): bench/run_all.sh installs
bench/requirements-bench.txt into .venv on demand. Output: lines, then ``RESULT key=value``.
This is a benchmark, not a test: the exit status does not depend on the numbers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from urllib.parse import urlparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Server  # noqa: E402
from mlflow_tracking import MlflowServer  # noqa: E402

RUNS, METRICS, STEPS, PARAMS = 500, 10, 100, 5


class Conn:
    def __init__(self, url: str, token: str | None):
        u = urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.c = http.client.HTTPConnection(self.host, self.port, timeout=600)

    def call(self, method: str, path: str, body: dict | None = None) -> bytes:
        data = json.dumps(body).encode() if body is not None else None
        self.c.request(method, path, data, self.headers)
        r = self.c.getresponse()
        out = r.read()
        if r.status != 200:
            raise RuntimeError(f"{method} {path}: {r.status} {out[:300]!r}")
        return out


def seed(url: str, token: str | None) -> str:
    c = Conn(url, token)
    eid = json.loads(c.call("POST", "/api/2.0/mlflow/experiments/create", {"name": "search-load"}))["experiment_id"]
    t0 = int(time.time() * 1000)
    for r in range(RUNS):
        run = json.loads(c.call("POST", "/api/2.0/mlflow/runs/create",
                                {"experiment_id": eid, "start_time": t0 + r, "run_name": f"run{r}"}))
        run_id = run["run"]["info"]["run_id"]
        metrics = [{"key": f"m{k}", "value": float(s * (k + 1) + r), "timestamp": t0 + s, "step": s}
                   for k in range(METRICS) for s in range(STEPS)]
        params = [{"key": f"p{k}", "value": str(r * k)} for k in range(PARAMS)]
        c.call("POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": run_id, "metrics": metrics})
        c.call("POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": run_id, "params": params})
        c.call("POST", "/api/2.0/mlflow/runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": t0 + r + 1})
    return eid


def client(url, token, eid, seconds, start_at, out):
    c = Conn(url, token)
    body = {"experiment_ids": [eid], "max_results": 100}
    while time.time() < start_at:
        time.sleep(0.001)
    end = time.time() + seconds
    n, lat, errors = 0, [], []
    while time.time() < end:
        t = time.perf_counter()
        try:
            data = c.call("POST", "/api/2.0/mlflow/runs/search", body)
        except Exception as e:  # noqa: BLE001  (counted and shown, not fatal to the run)
            errors.append(f"{type(e).__name__}: {e}"[:300])
            c = Conn(url, token)
            continue
        lat.append(time.perf_counter() - t)
        n += 1
        assert b'"runs"' in data
    out.put((n, lat, errors))


def prober(url, token, path, seconds, start_at, out):
    c = Conn(url, token)
    while time.time() < start_at:
        time.sleep(0.001)
    end = time.time() + seconds
    lat = []
    while time.time() < end:
        t = time.perf_counter()
        c.call("GET", path)
        lat.append(time.perf_counter() - t)
        time.sleep(0.05)
    out.put(lat)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def load(url, token, eid, health, clients, seconds) -> dict:
    q = mp.Queue()
    hq = mp.Queue()
    start_at = time.time() + 1.0
    procs = [mp.Process(target=client, args=(url, token, eid, seconds, start_at, q)) for _ in range(clients)]
    probe = mp.Process(target=prober, args=(url, token, health, seconds, start_at, hq))
    for p in procs + [probe]:
        p.start()
    results = [q.get(timeout=seconds + 600) for _ in procs]
    health_lat = hq.get(timeout=seconds + 600)
    for p in procs + [probe]:
        p.join()
    n = sum(r[0] for r in results)
    lat = [x for r in results for x in r[1]]
    errors = [e for r in results for e in r[2]]
    if errors:
        print(f"  {len(errors)} failed requests with {clients} clients, e.g. {errors[0]}", flush=True)
    return {"rps": n / seconds, "p50_ms": 1000 * statistics.median(lat), "health_p50_ms": 1000 * pct(health_lat, 0.5),
            "health_p99_ms": 1000 * pct(health_lat, 0.99), "health_n": len(health_lat), "errors": len(errors)}


def measure(url, token, health, seconds, client_counts) -> dict:
    t = time.perf_counter()
    eid = seed(url, token)
    out = {"seed_s": time.perf_counter() - t}
    out[1] = load(url, token, eid, health, 1, min(seconds, 10))
    for c in client_counts:
        out[c] = load(url, token, eid, health, c, seconds)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-d", "--seconds", type=float, default=20)
    ap.add_argument("-c", "--clients", default="20,50")
    args = ap.parse_args()
    counts = [int(x) for x in args.clients.split(",")]
    tmp = tempfile.mkdtemp(prefix="ferry-bench-search-")
    try:
        with Server(os.path.join(tmp, "home")) as ferry:
            f = measure(ferry.url, ferry.secret("token"), "/api/v1/health", args.seconds, counts)
        with MlflowServer(tmp) as ml:
            m = measure(ml.url, None, "/health", args.seconds, counts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"seeding {RUNS} runs x {METRICS} metrics x {STEPS} steps x {PARAMS} params: Ferry {f['seed_s']:.1f} s, "
          f"mlflow server {m['seed_s']:.1f} s")
    kv = []
    for c in [1] + counts:
        ratio = f[c]["rps"] / m[c]["rps"]
        print(f"{c:>3} client(s): Ferry {f[c]['rps']:.1f} req/s (p50 {f[c]['p50_ms']:.1f} ms, health p50/p99 "
              f"{f[c]['health_p50_ms']:.1f}/{f[c]['health_p99_ms']:.1f} ms), mlflow server {m[c]['rps']:.1f} req/s "
              f"(p50 {m[c]['p50_ms']:.1f} ms, health p50/p99 {m[c]['health_p50_ms']:.1f}/{m[c]['health_p99_ms']:.1f} ms) "
              f"-> {ratio:.1f}x")
        kv += [f"c{c}_ferry_rps={f[c]['rps']:.1f}", f"c{c}_mlflow_rps={m[c]['rps']:.1f}", f"c{c}_ratio={ratio:.2f}",
               f"c{c}_ferry_p50_ms={f[c]['p50_ms']:.1f}", f"c{c}_mlflow_p50_ms={m[c]['p50_ms']:.1f}",
               f"c{c}_ferry_health_p99_ms={f[c]['health_p99_ms']:.1f}",
               f"c{c}_mlflow_health_p99_ms={m[c]['health_p99_ms']:.1f}"]
    print("RESULT " + " ".join(kv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
