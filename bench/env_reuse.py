#!/usr/bin/env python3
"""Run-start cost of a warm managed environment.

Ferry:  ``ferry run submit-script --wait`` of a script whose run configuration asks for a
        managed environment (userManagedDependencies: false, requirementsFile with one
        package from a local wheel directory), after the environment has been built once:
        every measured run reuses it.
Anchor: the same submit with a user-managed run configuration (the same interpreter as is).
Goal:   warm reuse adds <= 20 ms to run start (median difference).

Output: human-readable lines, then one ``RESULT key=value ...`` line. Not a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import FERRY, PYTHON, REPO, Server, have, hyperfine, median, perf_times  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "tests", "support"))
from wheels import make_wheel  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ferry-bench-env-")
    try:
        home, src, wheels = (os.path.join(tmp, d) for d in ("home", "src", "wheels"))
        os.makedirs(src)
        make_wheel(wheels, "benchpkg", "1.0")
        with open(os.path.join(src, "job.py"), "w") as f:
            f.write("print('hi')\n")
        with open(os.path.join(src, "requirements.txt"), "w") as f:
            f.write("benchpkg==1.0\n")
        os.makedirs(os.path.join(src, ".ferry"))
        for name, managed in (("managed", "false\nrequirementsFile: requirements.txt"), ("user", "true")):
            with open(os.path.join(src, ".ferry", f"{name}.runconfig"), "w") as f:
                f.write(f"script: job.py\nenvironment:\n  python:\n    interpreterPath: {PYTHON}\n"
                        f"    userManagedDependencies: {managed}\n")
        os.environ["PIP_NO_INDEX"] = "1"
        os.environ["PIP_FIND_LINKS"] = wheels
        base = [FERRY, "--home", home, "run", "submit-script", "--wait", "-d", src, "-c"]
        with Server(home):
            subprocess.run(base + ["managed"], check=True, stdout=subprocess.DEVNULL)  # build it once
            if have("hyperfine"):
                times = hyperfine({"managed": " ".join(base + ["managed"]), "user": " ".join(base + ["user"])},
                                  args.runs, args.warmup, src, os.path.join(tmp, "hf.json"))
                t_managed, t_user = times["managed"], times["user"]
                tool = "hyperfine"
            else:
                t_managed = perf_times(base + ["managed"], args.runs, args.warmup, src)
                t_user = perf_times(base + ["user"], args.runs, args.warmup, src)
                tool = "perf_counter"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    m, u = median(t_managed) * 1e3, median(t_user) * 1e3
    print(f"env_reuse: median of {args.runs} ({tool})")
    print(f"  managed environment, warm   {m:8.1f} ms")
    print(f"  user-managed (anchor)       {u:8.1f} ms")
    print(f"  extra                       {m - u:8.1f} ms  (goal <= 20 ms)")
    print(f"RESULT managed_ms={m:.1f} user_ms={u:.1f} extra_ms={m - u:.1f} ratio={m / u:.2f} runs={args.runs} tool={tool}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
