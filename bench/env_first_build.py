#!/usr/bin/env python3
"""First build of a managed environment: 10 packages from a local wheel directory.

Wheels:  requests, idna, certifi, charset-normalizer, urllib3, six, python-dateutil, pytz,
         packaging, attrs (+ their dependencies), downloaded once into a local directory
         (pip download); without a package index, 10 synthetic wheels instead. Every install
         below is offline from that directory (--no-index --find-links).
Ferry:   the Preparing phase of a run whose requirements nobody has built yet (a nonce
         comment makes each spec new): ferry creates the venv with uv, installs, freezes
         and records the environment. Measured from the run's status history (Preparing ->
         Running), and the whole `submit-script --wait` for context.
Anchor:  `uv pip install -r requirements.txt` of the same set into a fresh venv (created
         beforehand, not timed); also reported: `uv venv` + `uv pip install`.
Both use the same uv cache, warmed once, so the comparison is of the work each does.
Goal:    Ferry's first build within 1.5x of the anchor (median).

Output: human-readable lines, then one ``RESULT key=value ...`` line. Not a test.
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
from _common import FERRY, PYTHON, REPO, Server, median  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "tests", "support"))
from wheels import make_wheel  # noqa: E402

PACKAGES = ["requests", "idna", "certifi", "charset-normalizer", "urllib3", "six", "python-dateutil", "pytz",
            "packaging", "attrs"]


def get_wheels(wheels: str) -> tuple[list[str], str]:
    r = subprocess.run([PYTHON, "-m", "pip", "download", "-q", "-d", wheels, "--only-binary=:all:", *PACKAGES],
                       capture_output=True, text=True)
    if r.returncode == 0:
        return PACKAGES, "PyPI wheels"
    names = [f"benchpkg{i}" for i in range(10)]
    for n in names:
        make_wheel(wheels, n, "1.0")
    return names, "synthetic wheels (no index reachable)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--runs", type=int, default=7)
    args = ap.parse_args()
    uv = shutil.which("uv") or os.path.join(os.path.dirname(PYTHON), "uv")
    if not os.path.exists(uv):
        print("env_first_build: uv is not installed (scripts/setup.sh puts it in .venv)", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="ferry-bench-envbuild-")
    try:
        home, src, wheels = (os.path.join(tmp, d) for d in ("home", "src", "wheels"))
        os.makedirs(src)
        names, source = get_wheels(wheels)
        env = {**os.environ, "UV_CACHE_DIR": os.path.join(tmp, "uv-cache"), "UV_NO_INDEX": "1",
               "UV_FIND_LINKS": wheels, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": wheels,
               "FERRY_ENV_BUILDER": "uv", "PATH": os.path.dirname(uv) + os.pathsep + os.environ["PATH"]}
        os.environ.update(env)
        with open(os.path.join(src, "job.py"), "w") as f:
            f.write("import requests, dateutil, attrs, packaging\nprint('ok')\n")
        os.makedirs(os.path.join(src, ".ferry"))
        with open(os.path.join(src, ".ferry", "managed.runconfig"), "w") as f:
            f.write(f"script: job.py\nenvironment:\n  python:\n    interpreterPath: {PYTHON}\n"
                    f"    userManagedDependencies: false\nrequirementsFile: requirements.txt\n")
        req = os.path.join(src, "requirements.txt")

        def write_req(nonce: str) -> None:
            with open(req, "w") as f:
                f.write(f"# {nonce}\n" + "".join(n + "\n" for n in names))

        # Warm uv's cache (both sides use it) with one anchor install.
        warm = os.path.join(tmp, "warm")
        write_req("warm")
        subprocess.run([uv, "venv", "-q", "--python", PYTHON, warm], check=True, env=env)
        subprocess.run([uv, "pip", "install", "-q", "--python", os.path.join(warm, "bin", "python"), "-r", req],
                       check=True, env=env)

        anchor, anchor_venv, ferry_prep, ferry_total = [], [], [], []
        with Server(home):
            for i in range(args.runs):
                write_req(f"run {i} {time.time()}")
                # Anchor: uv pip install alone (venv made first, untimed), then venv + install.
                venv = os.path.join(tmp, f"anchor{i}")
                t0 = time.perf_counter()
                subprocess.run([uv, "venv", "-q", "--python", PYTHON, venv], check=True, env=env)
                t1 = time.perf_counter()
                subprocess.run([uv, "pip", "install", "-q", "--python", os.path.join(venv, "bin", "python"), "-r", req],
                               check=True, env=env)
                t2 = time.perf_counter()
                anchor.append(t2 - t1)
                anchor_venv.append(t2 - t0)
                # Ferry: a run with this new spec.
                t0 = time.perf_counter()
                r = subprocess.run([FERRY, "--home", home, "run", "submit-script", "--wait", "-d", src, "-c", "managed"],
                                   check=True, capture_output=True, text=True, env=env)
                ferry_total.append(time.perf_counter() - t0)
                if "building environment" not in r.stdout or "with uv" not in r.stdout:
                    raise RuntimeError("the run did not build a fresh environment with uv:\n" + r.stdout)
                out = subprocess.run([FERRY, "--home", home, "-o", "json", "run", "list", "--limit", "1"],
                                     check=True, capture_output=True, text=True)
                run_id = json.loads(out.stdout)["runs"][0]["id"]
                hist = json.loads(subprocess.run([FERRY, "--home", home, "-o", "json", "run", "show", run_id],
                                                 check=True, capture_output=True, text=True).stdout)["history"]
                times = {h["status"]: h["time"] for h in hist}
                ferry_prep.append(times["Running"] - times["Preparing"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    a, av, p, t = (median(x) * 1e3 for x in (anchor, anchor_venv, ferry_prep, ferry_total))
    print(f"env_first_build: {len(names)} packages ({source}), median of {args.runs}")
    print(f"  ferry first build (Preparing)   {p:8.1f} ms")
    print(f"  ferry submit --wait, whole run  {t:8.1f} ms")
    print(f"  uv pip install alone (anchor)   {a:8.1f} ms")
    print(f"  uv venv + uv pip install        {av:8.1f} ms")
    print(f"  ratio build/anchor              {p / a:8.2f}   (goal <= 1.5)")
    print(f"RESULT ferry_build_ms={p:.1f} ferry_run_ms={t:.1f} uv_install_ms={a:.1f} uv_venv_install_ms={av:.1f} "
          f"ratio={p / a:.2f} ratio_venv={p / av:.2f} packages={len(names)} runs={args.runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
