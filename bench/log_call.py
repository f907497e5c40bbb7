#!/usr/bin/env python3
"""Cost of one ``run.log("mse", 3.2)`` call in online mode.

Ferry:   ``Run.log`` with ``FERRY_METRICS_FILE`` set to a temporary file (one
         ``os.write`` per call on an O_APPEND descriptor: nothing is buffered).
Anchors: (a) ``f.write(json.dumps({...}) + "\\n")`` on a buffered text file --
             what a naive logger would do (buffered, so it is *not* durable per call);
         (b) a bare ``os.write`` of a fixed 50-byte line on an O_APPEND
             descriptor -- the syscall floor that Ferry's design pays per call.

timeit, N calls per repeat, best of R repeats; µs per call. The ratio is
reported against the os.write floor. Goal: <= 10 µs per call.

Output: human-readable lines, then one ``RESULT key=value ...`` line.
This is a benchmark, not a test: the exit status does not depend on the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))


def best_us(stmt, number: int, repeat: int) -> float:
    times = timeit.repeat(stmt, number=number, repeat=repeat)
    return min(times) / number * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--number", type=int, default=200_000, help="calls per repeat (default 200000)")
    ap.add_argument("-r", "--repeat", type=int, default=5, help="repeats; the best is kept (default 5)")
    args = ap.parse_args()
    n, r = args.number, args.repeat

    with tempfile.TemporaryDirectory(prefix="ferry-bench-log-") as tmp:
        metrics = os.path.join(tmp, "metrics.jsonl")
        os.environ["FERRY_METRICS_FILE"] = metrics
        os.environ["FERRY_RUN_ID"] = "bench-run"
        os.environ["FERRY_EXPERIMENT"] = "bench"
        import ferry  # noqa: E402  (after the environment is set)
        from ferry.run import Run, _reset_context

        _reset_context()
        run = Run.get_context()
        if run.offline:
            print("log_call: ferry Run is offline; FERRY_METRICS_FILE was not honoured", file=sys.stderr)
            return 2
        log = run.log
        log("mse", 3.2)  # opens the descriptor
        ferry_us = best_us(lambda: log("mse", 3.2), n, r)
        # With an int step, the other common call shape.
        ferry_step_us = best_us(lambda: log("mse", 3.2, step=7), n, r)
        run.close()
        lines = sum(1 for _ in open(metrics, "rb"))
        expected = 1 + 2 * n * r
        if lines != expected:
            print(f"log_call: metrics file has {lines} lines, expected {expected}", file=sys.stderr)
            return 2
        sample_line = open(metrics, "rb").readline()

        # Anchor (a): json.dumps + buffered write.
        jpath = os.path.join(tmp, "json.jsonl")
        with open(jpath, "w", encoding="utf-8") as f:
            dumps = json.dumps
            write = f.write
            now = time.time

            def json_call() -> None:
                write(dumps({"k": "mse", "v": 3.2, "s": None, "t": now()}) + "\n")

            json_us = best_us(json_call, n, r)

        # Anchor (b): bare os.write of a fixed 50-byte line, O_APPEND like Ferry.
        wpath = os.path.join(tmp, "raw.jsonl")
        line = b'{"k":"mse","v":3.2,"s":null,"t":1700000000.12345}\n'  # exactly 50 bytes
        assert len(line) == 50, len(line)
        fd = os.open(wpath, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            oswrite = os.write
            oswrite_us = best_us(lambda: oswrite(fd, line), n, r)
        finally:
            os.close(fd)

        # The per-call Python overhead of timeit's lambda itself (subtract mentally).
        noop_us = best_us(lambda: None, n, r)

    print(f"log_call: {n} calls per repeat, best of {r}; Python {sys.version.split()[0]}; ferry from {os.path.dirname(ferry.__file__)}")
    print(f"  sample record ({len(sample_line)} bytes): {sample_line.decode().rstrip()}")
    print(f"  ferry run.log('mse', 3.2)          {ferry_us:7.3f} µs/call  (goal <= 10 µs)")
    print(f"  ferry run.log('mse', 3.2, step=7)  {ferry_step_us:7.3f} µs/call")
    print(f"  anchor json.dumps + buffered write {json_us:7.3f} µs/call")
    print(f"  anchor os.write 50 bytes           {oswrite_us:7.3f} µs/call")
    print(f"  (timeit lambda overhead            {noop_us:7.3f} µs/call, included in all of the above)")
    print(f"  ratio ferry / os.write             {ferry_us / oswrite_us:7.2f}")
    print(f"  ratio ferry / json+buffered        {ferry_us / json_us:7.2f}")
    print(
        f"RESULT ferry_us={ferry_us:.3f} ferry_step_us={ferry_step_us:.3f} json_us={json_us:.3f} "
        f"oswrite_us={oswrite_us:.3f} noop_us={noop_us:.3f} ratio_oswrite={ferry_us / oswrite_us:.3f} "
        f"ratio_json={ferry_us / json_us:.3f} number={n} repeat={r}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
