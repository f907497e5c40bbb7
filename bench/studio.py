#!/usr/bin/env python3
"""Studio in a real browser (Debian's chromium via playwright-core), on this machine:

  table: a workspace with 100,000 finished runs (bench/seed_runs); time from navigation to
         the runs table's first page rendered and interactive (the page's performance mark
         `ferry:runs-first-page`). Goal <= 1 s. Also: scrolled to the end (the oldest run's
         row shown), sorted by a metric, filtered by a parameter.
  chart: one run with 1,000,000 points of `loss`; time from navigation to its chart drawn
         (performance mark `ferry:chart-drawn:loss`; the server downsamples). Goal <= 300 ms.
         Anchor: the same run in the MLflow UI (`mlflow server`, SQLite store, the full
         mlflow package of bench/requirements-bench.txt) with the same 1,000,000 points: time
         from navigation to its metric chart's line drawn (plotly's trace path).

Each navigation is a full page load (about:blank first) in one browser profile (assets
cached after the first, as for a user); the first (cold) load is reported apart and the
median of the next --reps. Times are from the navigation's start (performance.now()).

Output: human-readable lines, then one ``RESULT key=value ...`` line.
This is a benchmark, not a test: the exit status does not depend on the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import FERRY, PYTHON, REPO, Server  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "tests", "support"))
from browser import Browser, missing  # noqa: E402

SEED = os.environ.get("SEED_RUNS_BIN") or os.path.join(os.path.dirname(FERRY), "..", "bench", "seed_runs")


def timed_load(b: Browser, url: str, ready_fn: str, timeout: float = 60) -> float:
    """Milliseconds from the navigation's start until ready_fn (a JS function body) is true."""
    b.goto("about:blank")
    b.goto(url)
    return float(b.wait_fn(f"return ({ready_fn}) ? performance.now() : 0;", timeout=timeout))


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def mlflow_anchor(points: int, reps: int, b: Browser, tmp: str) -> dict:
    """The MLflow UI showing one run's metric with `points` points; returns cold and median ms."""
    db = os.path.join(tmp, "mlflow.db")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    log = open(os.path.join(tmp, "mlflow-server.log"), "wb")
    proc = subprocess.Popen([PYTHON, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{db}",
                             "--default-artifact-root", os.path.join(tmp, "mlartifacts"),
                             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("mlflow server did not start; see " + log.name)
                time.sleep(0.5)
        code = ("import json, mlflow\n"
                f"mlflow.set_tracking_uri('{url}')\n"
                "exp = mlflow.create_experiment('chart')\n"
                "with mlflow.start_run(experiment_id=exp) as r:\n"
                "    mlflow.log_metric('loss', 2.0, step=0)\n"
                "print(json.dumps({'exp': exp, 'run': r.info.run_id}))\n")
        out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=env, check=True)
        ids = json.loads(out.stdout.strip().splitlines()[-1])
        # The same series as Ferry's (bench/seed_runs), written straight into MLflow's tables.
        con = sqlite3.connect(db, timeout=60)
        rows = ((("loss", 2.0 / (1.0 + n / 5000.0) + 0.1 * ((n * 7919) % 1000) / 1000.0,
                  1_700_000_000_000 + n * 10, ids["run"], n, 0)) for n in range(1, points))
        con.executemany("INSERT INTO metrics(key, value, timestamp, run_uuid, step, is_nan) VALUES(?,?,?,?,?,?)", rows)
        last = 2.0 / (1.0 + (points - 1) / 5000.0) + 0.1 * (((points - 1) * 7919) % 1000) / 1000.0
        con.execute("UPDATE latest_metrics SET value=?, step=?, timestamp=? WHERE run_uuid=? AND key='loss'",
                    (last, points - 1, 1_700_000_000_000 + (points - 1) * 10, ids["run"]))
        con.commit()
        con.close()
        page = f"{url}/#/experiments/{ids['exp']}/runs/{ids['run']}/model-metrics"
        drawn = ("(() => { const p = document.querySelector('.js-plotly-plot .scatterlayer .trace path.js-line');"
                 " return p && (p.getAttribute('d') || '').length > 200; })()")
        times = [timed_load(b, page, drawn, timeout=120) for _ in range(reps + 1)]
        b.screenshot("bench-mlflow-chart")
        return {"cold": times[0], "median": statistics.median(times[1:]), "all": times}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-mlflow", action="store_true")
    args = ap.parse_args()
    why = missing()
    if why:
        sys.exit(f"studio: cannot start a browser: {why}")
    tmp = tempfile.mkdtemp(prefix="ferry-bench-studio-")
    home = os.path.join(tmp, "home")
    os.makedirs(home)
    t0 = time.monotonic()
    subprocess.run([SEED, os.path.join(home, "ferry.db"), str(args.runs), "seeded", str(args.points)], check=True)
    print(f"seeded {args.runs} runs, one with {args.points} points, in {time.monotonic() - t0:.1f} s")
    b = Browser()  # screenshots: build/test-artifacts/studio/bench-*.png
    res = {}
    try:
        with Server(home) as srv:
            token = open(os.path.join(home, "token")).read().strip()
            b.goto(f"{srv.url}/#token={token}")  # signs the profile in (kept in localStorage)
            b.wait("[data-testid=runs-table]")
            first_page = "performance.getEntriesByName('ferry:runs-first-page').length > 0"
            table = [timed_load(b, f"{srv.url}/#/runs", first_page) for _ in range(args.reps + 1)]
            marks = b.eval("return performance.getEntriesByName('ferry:runs-first-page')[0].startTime;")
            b.screenshot("bench-runs-table")
            res.update(table_cold=table[0], table_ms=statistics.median(table[1:]), table_mark=marks)
            print(f"runs table ({args.runs} runs): cold {table[0]:.0f} ms, median {res['table_ms']:.0f} ms "
                  f"(all {', '.join(f'{t:.0f}' for t in table)})")
            # Scroll to the end: the oldest run's row comes from the server's last page.
            t = time.perf_counter()
            b.eval("const t = document.querySelector('[data-testid=runs-table]'); t.scrollTop = t.scrollHeight;")
            b.wait("[data-run-id=seed-0000001]")
            res["scroll_end_ms"] = (time.perf_counter() - t) * 1000
            print(f"scrolled to run 100,000: {res['scroll_end_ms']:.0f} ms (incl. the driver's round trips)")
            chart_ready = ("(() => { const c = document.querySelector('[data-testid=metric-chart][data-key=loss]');"
                           " return c && c.getAttribute('data-drawn') === '1'; })()")
            run_url = f"{srv.url}/#/runs/seed-0000001?tab=metrics"
            chart = [timed_load(b, run_url, chart_ready) for _ in range(args.reps + 1)]
            pts = b.attr("[data-testid=metric-chart][data-key=loss]", "data-points")
            b.screenshot("bench-ferry-chart")
            res.update(chart_cold=chart[0], chart_ms=statistics.median(chart[1:]), chart_points=pts)
            print(f"chart of {args.points} points ({pts} drawn): cold {chart[0]:.0f} ms, median {res['chart_ms']:.0f} ms "
                  f"(all {', '.join(f'{t:.0f}' for t in chart)})")
        if not args.no_mlflow:
            m = mlflow_anchor(args.points, args.reps, b, tmp)
            res.update(mlflow_cold=m["cold"], mlflow_ms=m["median"])
            res["ratio"] = res["chart_ms"] / m["median"]
            print(f"MLflow UI, same {args.points} points: cold {m['cold']:.0f} ms, median {m['median']:.0f} ms "
                  f"(all {', '.join(f'{t:.0f}' for t in m['all'])}); Ferry/MLflow {res['ratio']:.3f}x")
    finally:
        b.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print("RESULT " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items()))


if __name__ == "__main__":
    main()
