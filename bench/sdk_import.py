#!/usr/bin/env python3
"""Import cost of the SDK's core classes: Ferry's module tree against azureml-core 1.61.

Each contender runs ``from X.core import Workspace, Experiment, ScriptRunConfig, Environment``
(X = ferry / azureml) in a fresh interpreter, SDK_IMPORT_RUNS times (default 15), alternating;
a bare ``python -c pass`` beside them is the floor. Reported: the median wall time of the
process and its peak RSS (ru_maxrss), absolute and above the bare interpreter. Ratio =
Ferry / azureml-core on the part above the bare interpreter (the SDK's own cost).

Anchor: azureml-core 1.61 in a scratch venv. AZUREML_PYTHON names its interpreter; else the
venv is made under SDK_IMPORT_VENV (default /tmp/ferry-bench-azureml) with pip from PyPI (a few
minutes the first time). Ferry is imported from this checkout's python/ with the same
interpreter version as the anchor's where possible (AZUREML_PYTHON's).

Output: lines, then one ``RESULT key=value ...`` line. A benchmark, not a test.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE = "from {pkg}.core import Workspace, Experiment, ScriptRunConfig, Environment"
# Runs the import in a child and prints its peak RSS in KiB (the child's own, not this one's).
PROBE = ("import os, resource, subprocess, sys, time; env = dict(os.environ, PYTHONPATH=sys.argv[2]); "
         "t = time.perf_counter(); subprocess.run([sys.executable, '-c', sys.argv[1]], check=True, env=env); "
         "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def azureml_python() -> str:
    given = os.environ.get("AZUREML_PYTHON")
    if given:
        return given
    venv = os.environ.get("SDK_IMPORT_VENV", "/tmp/ferry-bench-azureml")
    py = os.path.join(venv, "bin", "python")
    ok = os.path.exists(py) and subprocess.run([py, "-c", "import azureml.core"], capture_output=True).returncode == 0
    if not ok:
        print(f"making {venv} with azureml-core 1.61 (PyPI)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "azureml-core==1.61.*"], check=True)
    return py


def measure(py: str, code: str, pythonpath: str) -> "tuple[float, int]":
    out = subprocess.run([py, "-c", PROBE, code, pythonpath], capture_output=True, text=True, check=True)
    secs, rss = out.stdout.split()
    return float(secs), int(rss)


def main() -> None:
    runs = int(os.environ.get("SDK_IMPORT_RUNS", "15"))
    py = azureml_python()
    version = subprocess.run([py, "-c", "import azureml.core; print(azureml.core.VERSION)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    contenders = {
        "bare": ("pass", ""),
        "ferry": (CODE.format(pkg="ferry"), os.path.join(REPO, "python")),
        "azureml": (CODE.format(pkg="azureml"), ""),
    }
    for code, path in contenders.values():  # warm the page cache and .pyc files
        measure(py, code, path)
    times: "dict[str, list[float]]" = {k: [] for k in contenders}
    rss: "dict[str, list[int]]" = {k: [] for k in contenders}
    for i in range(runs):
        order = list(contenders)[i % 3:] + list(contenders)[:i % 3]
        for name in order:
            code, path = contenders[name]
            t, r = measure(py, code, path)
            times[name].append(t)
            rss[name].append(r)
    med = {k: statistics.median(v) for k, v in times.items()}
    mem = {k: statistics.median(v) / 1024 for k, v in rss.items()}
    for k in contenders:
        print(f"{k}: {med[k] * 1000:.1f} ms (median of {runs}), peak RSS {mem[k]:.1f} MiB")
    t_ratio = (med["ferry"] - med["bare"]) / (med["azureml"] - med["bare"])
    m_ratio = (mem["ferry"] - mem["bare"]) / (mem["azureml"] - mem["bare"])
    print(f"above the bare interpreter: ferry {1000 * (med['ferry'] - med['bare']):.1f} ms / "
          f"{mem['ferry'] - mem['bare']:.1f} MiB, azureml-core {version} {1000 * (med['azureml'] - med['bare']):.1f} ms / "
          f"{mem['azureml'] - mem['bare']:.1f} MiB -> time {t_ratio:.3f}x, memory {m_ratio:.3f}x (goal <= 0.1x)")
    print(f"RESULT runs={runs} azureml_version={version} bare_ms={med['bare'] * 1000:.1f} "
          f"ferry_ms={med['ferry'] * 1000:.1f} azureml_ms={med['azureml'] * 1000:.1f} "
          f"bare_mib={mem['bare']:.1f} ferry_mib={mem['ferry']:.1f} azureml_mib={mem['azureml']:.1f} "
          f"time_ratio={t_ratio:.3f} memory_ratio={m_ratio:.3f}")


if __name__ == "__main__":
    main()
