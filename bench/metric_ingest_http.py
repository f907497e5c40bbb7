#!/usr/bin/env python3
"""End-to-end metric ingestion over HTTP.

Ferry:  POST /api/v1/runs/{id}/metrics with {"points":[{"q","k","v","s","t"}...]} in
        batches of 20,000 points (10 keys, increasing seq/step) until 1,000,000 points,
        authenticated with the run's agent token (HMAC-SHA256(secret, "run:"+id), hex),
        one keep-alive connection, one request at a time (like the agent).
        The request bodies are encoded before the clock starts, so the number is
        transport + server parse (simdjson) + AppendMetrics, not Python's json.
Anchor: the store-level AppendMetrics throughput for the same points and batches
        (bench/metric_ingest, Ferry side only, 1 rep) when that binary is found;
        the ratio http/store shows what the HTTP layer costs.

The run exists and is Running: a script that sleeps 60 s is submitted first, and
canceled afterwards.

Output: human-readable lines, then one ``RESULT key=value ...`` line.
This is a benchmark, not a test: the exit status does not depend on the numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import FERRY, PYTHON, REPO, Server  # noqa: E402


def find_ingest_binary() -> str | None:
    for p in (os.environ.get("METRIC_INGEST_BIN", ""),
              os.path.join(REPO, "build", "bench", "metric_ingest"), "/tmp/ferry-bench/metric_ingest"):
        if p and os.access(p, os.X_OK):
            return p
    return None


def make_bodies(points: int, batch: int, keys: int) -> list[bytes]:
    names = [f"train/metric_{k}" for k in range(keys)]
    bodies = []
    for first in range(0, points, batch):
        pts = []
        for i in range(first, min(points, first + batch)):
            pts.append({"q": i, "k": names[i % keys], "v": 1.0 / (1 + i % 977) + (i % 13),
                        "s": i // keys, "t": 1.7e9 + i * 1e-3})
        bodies.append(json.dumps({"points": pts}, separators=(",", ":")).encode())
    return bodies


def wait_running(server: Server, run_id: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    status = "?"
    while time.monotonic() < deadline:
        run = server.request("GET", f"/api/v1/runs/{run_id}")
        status = (run.get("run") or run).get("status", "?") if isinstance(run, dict) else "?"
        if status == "Running":
            return status
        if status in ("Completed", "Failed", "Canceled"):
            break
        time.sleep(0.05)
    raise RuntimeError(f"run {run_id} did not become Running (last status {status})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=20_000)
    ap.add_argument("--keys", type=int, default=10)
    ap.add_argument("--no-anchor", action="store_true", help="skip the store-level anchor")
    args = ap.parse_args()

    t0 = time.perf_counter()
    bodies = make_bodies(args.points, args.batch, args.keys)
    encode_s = time.perf_counter() - t0
    body_bytes = sum(len(b) for b in bodies)

    tmp = tempfile.mkdtemp(prefix="ferry-bench-http-")
    run_id = None
    try:
        home = os.path.join(tmp, "home")
        src = os.path.join(tmp, "src")
        os.makedirs(src)
        with open(os.path.join(src, "sleep.py"), "w") as f:
            f.write("import time\ntime.sleep(60)\n")
        with Server(home) as server:
            out = subprocess.run(
                [FERRY, "--home", home, "-o", "json", "run", "submit", "--source-dir", src,
                 "--python", PYTHON, "sleep.py"],
                check=True, capture_output=True, text=True).stdout
            run_id = json.loads(out)["id"]
            wait_running(server, run_id)
            token = hmac.new(server.secret("secret").encode(), ("run:" + run_id).encode(),
                             hashlib.sha256).hexdigest()
            u = urllib.parse.urlparse(server.url)
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
            headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
            path = f"/api/v1/runs/{run_id}/metrics"
            lat = []
            stored = 0
            start = time.perf_counter()
            for body in bodies:
                b0 = time.perf_counter()
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                lat.append(time.perf_counter() - b0)
                if resp.status != 200:
                    raise RuntimeError(f"POST metrics: HTTP {resp.status}: {data[:300]!r}")
                stored += json.loads(data)["stored"]
            elapsed = time.perf_counter() - start
            conn.close()
            if stored != args.points:
                raise RuntimeError(f"server stored {stored} of {args.points} points")
            subprocess.run([FERRY, "--home", home, "run", "cancel", run_id], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # Give the agent a moment to report the cancel before the server stops.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                run = server.request("GET", f"/api/v1/runs/{run_id}")
                if (run.get("run") or run).get("status") in ("Canceled", "Failed", "Completed"):
                    break
                time.sleep(0.1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    http_pps = args.points / elapsed
    lat.sort()
    anchor_pps = None
    binary = None if args.no_anchor else find_ingest_binary()
    if binary:
        out = subprocess.run([binary, "--points", str(args.points), "--batch", str(args.batch),
                              "--keys", str(args.keys), "--reps", "1"],
                             check=True, capture_output=True, text=True).stdout
        m = re.search(r"RESULT ferry_pps=(\d+)", out)
        anchor_pps = float(m.group(1)) if m else None

    print(f"metric_ingest_http: {args.points} points in batches of {args.batch} ({len(bodies)} POSTs, "
          f"{body_bytes / 1e6:.1f} MB of JSON, encoded in {encode_s:.2f} s before timing)")
    print(f"  HTTP POST /metrics    {http_pps:10.0f} points/s  ({elapsed:.2f} s; per POST p50 "
          f"{lat[len(lat) // 2] * 1e3:.1f} ms, max {lat[-1] * 1e3:.1f} ms; {body_bytes / elapsed / 1e6:.1f} MB/s)")
    if anchor_pps:
        print(f"  store AppendMetrics   {anchor_pps:10.0f} points/s  (bench/metric_ingest, 1 rep)")
        print(f"  ratio http/store      {http_pps / anchor_pps:10.2f}")
    else:
        print("  (store-level anchor skipped: build bench/metric_ingest first)")
    print(f"RESULT http_pps={http_pps:.0f} store_pps={anchor_pps or 0:.0f} "
          f"ratio={(http_pps / anchor_pps) if anchor_pps else 0:.3f} post_p50_ms={lat[len(lat) // 2] * 1e3:.1f} "
          f"points={args.points} batch={args.batch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
