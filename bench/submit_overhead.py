#!/usr/bin/env python3
"""Fixed overhead of running a trivial script through Ferry.

Ferry:  ``ferry --home TMP run submit --wait --python PY trivial.py`` (snapshot of a
        one-file directory, upload, create run, local target spawns the agent, the
        agent runs the script, logs are streamed back, exit status returned).
Anchor: ``PY trivial.py`` directly (trivial.py is ``print("hi")``).
Also:   ``ferry --home TMP compute list`` -- the fixed cost of one ferry CLI call
        that talks to the server (process start + one HTTP request).

The server is started once beforehand and stopped afterwards. Median of N runs each
(hyperfine when installed, else perf_counter). Goal: <= 50 ms extra per submit.

Output: human-readable lines, then one ``RESULT key=value ...`` line.
This is a benchmark, not a test: the exit status does not depend on the numbers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import FERRY, PYTHON, Server, have, hyperfine, median, perf_times  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--no-hyperfine", action="store_true", help="time with perf_counter even if hyperfine exists")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="ferry-bench-submit-")
    try:
        home = os.path.join(tmp, "home")
        src = os.path.join(tmp, "src")
        os.makedirs(src)
        with open(os.path.join(src, "trivial.py"), "w") as f:
            f.write('print("hi")\n')
        submit = [FERRY, "--home", home, "run", "submit", "--wait", "--source-dir", src,
                  "--python", PYTHON, "trivial.py"]
        direct = [PYTHON, "trivial.py"]
        noop = [FERRY, "--home", home, "compute", "list"]
        with Server(home):
            use_hf = have("hyperfine") and not args.no_hyperfine
            if use_hf:
                times = hyperfine(
                    {"submit": " ".join(submit), "python": " ".join(direct), "noop": " ".join(noop)},
                    args.runs, args.warmup, src, os.path.join(tmp, "hf.json"))
                t_submit, t_direct, t_noop = times["submit"], times["python"], times["noop"]
            else:
                t_submit = perf_times(submit, args.runs, args.warmup, src)
                t_direct = perf_times(direct, args.runs, args.warmup, src)
                t_noop = perf_times(noop, args.runs, args.warmup, src)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    ms = lambda xs: median(xs) * 1e3  # noqa: E731
    s, d, n = ms(t_submit), ms(t_direct), ms(t_noop)
    tool = "hyperfine" if use_hf else "perf_counter"
    print(f"submit_overhead: median of {args.runs} runs ({tool}, {args.warmup} warm-up); python {PYTHON}")
    print(f"  ferry run submit --wait trivial.py  {s:8.1f} ms  (min {min(t_submit)*1e3:.1f}, max {max(t_submit)*1e3:.1f})")
    print(f"  python trivial.py                   {d:8.1f} ms  (min {min(t_direct)*1e3:.1f}, max {max(t_direct)*1e3:.1f})")
    print(f"  ferry compute list (no-op CLI call) {n:8.1f} ms")
    print(f"  extra                               {s - d:8.1f} ms  (goal <= 50 ms)")
    print(f"  ratio submit/python                 {s / d:8.2f}")
    print(f"RESULT submit_ms={s:.1f} python_ms={d:.1f} noop_ms={n:.1f} extra_ms={s - d:.1f} ratio={s / d:.2f} "
          f"runs={args.runs} tool={tool}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
