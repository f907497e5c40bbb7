#!/usr/bin/env python3
"""Dataset benchmarks (issue 19).

(a) register: `ferry dataset register NAME -p TREE` of a 50,000-file, ~600 MB tree (the tree of
    snapshot.py) with a fresh home and server each time: walk + hash + store + register. Anchor:
    `tar -cf - . | zstd -1 -T1 > /dev/null` (reading and compressing every byte once).
    Goal: <= 1.2x the anchor.
(b) mount: a 10 GiB dataset (10 files of 1 GiB) as a mounted input of a run on the local
    target, once the node has its copy (a first run made it): the agent's own time for the
    input (its note in logs/ferry-agent.txt), and the run's submit-to-Completed time against the
    same run without the input. Goal: <= 1 s.

Output: human-readable lines, then one ``RESULT key=value ...`` line.
This is a benchmark, not a test: the exit status does not depend on the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import FERRY, PYTHON, REPO, Server, median  # noqa: E402
from snapshot import gen_tree, sh, timed, wait_done  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "python"))
GiB = 1 << 30


def bench_register(work: str, runs: int) -> dict:
    tree = os.path.join(work, "tree")
    files, total = gen_tree(tree, 50_000, 1_000, 600 << 20, seed=19)
    sh("tar -cf - . > /dev/null", cwd=tree)  # warm the page cache
    anchor = [sh("tar -cf - . | zstd -1 -T1 > /dev/null", cwd=tree) for _ in range(runs)]
    ferry = []
    for i in range(runs):
        home = os.path.join(work, f"home-reg-{i}")
        with Server(home):
            dt, out, _ = timed([FERRY, "--home", home, "dataset", "register", "d", "-p", tree])
            ferry.append(dt)
        shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(tree, ignore_errors=True)
    f, a = median(ferry), median(anchor)
    print(f"(a) register {files} files, {total / 1e6:.0f} MB: ferry {f:.2f} s (median of {runs}), "
          f"tar|zstd -1 -T1 {a:.2f} s -> {f / a:.2f}x")
    return {"register_s": f, "register_anchor_s": a, "register_ratio": f / a}


def bench_mount(work: str, runs: int, gib: int) -> dict:
    data = os.path.join(work, "big")
    os.makedirs(data, exist_ok=True)
    block = os.urandom(64 << 10)  # compressible at zstd's window: the blob store stays small
    for i in range(gib):
        with open(os.path.join(data, f"part-{i:02d}.bin"), "wb") as f:
            for _ in range(GiB // len(block)):
                f.write(block[: len(block) - 1] + bytes([i]))
    home = os.path.join(work, "home-mount")
    src = os.path.join(work, "src")
    os.makedirs(src, exist_ok=True)
    with open(os.path.join(src, "job.py"), "w") as f:
        f.write("import sys\nprint(sys.argv[1:])\n")
    with Server(home) as server:
        timed([FERRY, "--home", home, "dataset", "register", "big", "-p", data])
        from ferry import Workspace, _snapshot  # noqa: PLC0415

        ws = Workspace(url=server.url, token=server.secret("token"))
        snap = _snapshot.upload(ws._client, _snapshot.build(src))

        def submit(with_input: bool) -> tuple[float, str]:
            body = {"experiment": "bench", "script": "job.py", "snapshot_id": snap, "python": PYTHON,
                    "arguments": ["DatasetConsumptionConfig:big"] if with_input else []}
            if with_input:
                body["inputs"] = [{"name": "big", "mode": "mount", "dataset": {"name": "big", "version": 1}}]
            t0 = time.perf_counter()
            run = server.request("POST", "/api/v1/runs", json.dumps(body).encode())
            status = wait_done(server, run["id"], timeout=1800)
            dt = time.perf_counter() - t0
            if status != "Completed":
                raise RuntimeError(f"run {run['id']} ended {status}")
            return dt, run["id"]

        def note(run_id: str) -> str:
            path = urllib.parse.quote("logs/ferry-agent.txt")
            req = urllib.request.Request(f"{server.url}/api/v1/runs/{run_id}/artifacts/content?path={path}")
            req.add_header("Authorization", "Bearer " + server.secret("token"))
            with urllib.request.urlopen(req) as r:
                text = r.read().decode()
            m = re.search(r"input 'big': (.*)", text)
            return m.group(1) if m else "?"

        first_dt, first = submit(True)
        print(f"(b) first run (makes the node's copy of {gib} GiB): {first_dt:.1f} s; {note(first)}")
        with_input, without, agent_ms = [], [], []
        for _ in range(runs):
            dt, rid = submit(True)
            with_input.append(dt)
            m = re.search(r"nothing fetched, ([0-9.]+) ms", note(rid))
            agent_ms.append(float(m.group(1)) if m else float("nan"))
            without.append(submit(False)[0])
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(data, ignore_errors=True)
    w, wo, a = median(with_input), median(without), median(agent_ms)
    print(f"(b) mount {gib} GiB from the node's copy: agent {a:.2f} ms (median of {runs}); run with the "
          f"input {w:.3f} s, without {wo:.3f} s (difference {w - wo:+.3f} s)")
    return {"mount_agent_ms": a, "mount_run_s": w, "no_input_run_s": wo}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--gib", type=int, default=10)
    ap.add_argument("--only", choices=["register", "mount"])
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ferry-bench-datasets-", dir=os.environ.get("BENCH_TMP"))
    out: dict = {}
    try:
        if args.only in (None, "register"):
            out.update(bench_register(work, args.runs))
        if args.only in (None, "mount"):
            out.update(bench_mount(work, args.runs, args.gib))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run(["sync"], check=False)
    print("RESULT " + " ".join(f"{k}={v:.4g}" for k, v in out.items()))


if __name__ == "__main__":
    main()
