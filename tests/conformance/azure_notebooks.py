#!/usr/bin/env python3
"""Azure ML SDK v1's public example notebooks, renamed to ``ferry``, run against Ferry.

Issue 20's measure: a notebook of Azure/MachineLearningNotebooks runs after renaming
``azureml`` to ``ferry`` and nothing else, except compute names pointed at Ferry targets and
internet downloads replaced by local data (the per-notebook edits below, each with its reason).
Not part of ``make test``: it needs a copy of that repository, which CI cannot fetch. Results go
to docs/azure-notebooks.md by hand.

Nothing of Azure's is kept in this repository. At run time, for each notebook:

1. ``git archive REF DIR | tar -x``: the notebook's folder (its scripts and data) into a temp dir;
2. every code cell and every text file of the folder is renamed: ``azureml.`` / ``import azureml``
   / ``from azureml`` / ``azureml_user`` become ``ferry...``. Package names (``azureml-defaults``
   in a conda file) are left as written: Ferry has to cope with them;
3. the notebook's own edits (EDITS below) are applied;
4. a fresh workspace (FERRY_HOME in the temp dir) whose admin made the netns provider (nodes on
   this machine, needs root; ``--outbound``, so they reach PyPI) the default for node sizes, and
   the ``config.json`` an Azure user has (subscription_id, resource_group, workspace_name) in the
   folder;
5. the notebook runs in a Jupyter kernel (nbclient) of ``.venv-notebooks`` (made on first use:
   ipykernel, nbclient, matplotlib, numpy, scikit-learn, pandas) with ``python/`` on its path and
   that venv first on PATH (activated, as a user's Jupyter would be), stopping at the first
   failing cell.

    python3 tests/conformance/azure_notebooks.py --repo /path/to/MachineLearningNotebooks.git \
        [--ref HEAD] [--only train-on-local] [--cell-timeout 900]

Prints one line per notebook (cells run / code cells, and the first error) and writes
``--json`` results if asked.
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

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(REPO, ".venv-notebooks")
PACKAGES = ["ipykernel", "nbclient", "nbformat", "matplotlib", "numpy", "scikit-learn", "pandas", "joblib"]

NOTEBOOKS = {
    "train-on-local": "how-to-use-azureml/training/train-on-local/train-on-local.ipynb",
    "using-environments": "how-to-use-azureml/training/using-environments/using-environments.ipynb",
    "train-on-amlcompute": "how-to-use-azureml/training/train-on-amlcompute/train-on-amlcompute.ipynb",
    "train-on-remote-vm": "how-to-use-azureml/training/train-on-remote-vm/train-on-remote-vm.ipynb",
    "sklearn-hyperdrive": "how-to-use-azureml/ml-frameworks/scikit-learn/train-hyperparameter-tune-deploy-with-sklearn/"
                          "train-hyperparameter-tune-deploy-with-sklearn.ipynb",
    "scriptrun-data": "how-to-use-azureml/work-with-data/datasets-tutorial/scriptrun-with-data-input-output/"
                      "how-to-use-scriptrun.ipynb",
    "train-with-datasets": "how-to-use-azureml/work-with-data/datasets-tutorial/train-with-datasets/"
                           "train-with-datasets.ipynb",
}

# Edits the issue allows beyond the rename, per notebook: (regex, replacement, why).
EDITS: "dict[str, list[tuple[str, str, str]]]" = {}

# Compute a notebook expects to find attached already (the issue's "compute names pointed at
# Ferry targets"): notebook -> (target name, kind). "ssh": a real OpenSSH host of
# tests/support/sshd.py (a network namespace on this machine) with an outbound network, as the
# notebook's data-science VM had.
TARGETS = {"train-on-remote-vm": ("cpudsvm", "ssh")}


class RemoteVm:
    """An SSH host for a notebook's RemoteCompute, attached to the workspace under `name`."""

    def __init__(self, work: str, ferry: str, home: str, name: str) -> None:
        sys.path.insert(0, os.path.join(REPO, "tests", "support"))
        from sshd import SshLab  # noqa: PLC0415  (needs root; only this notebook uses it)

        self.lab = SshLab(os.path.join(work, "ssh"), hosts=1, octet=240)
        self.lab.__enter__()
        host = self.lab.hosts[0]
        self.net = f"{self.lab.subnet}.0/24"
        # Its way out (pip installs from PyPI): a default route and masquerading of the subnet.
        subprocess.run(["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"], check=True)
        subprocess.run(["ip", "-n", host.netns, "route", "add", "default", "via", self.lab.gateway], check=True)
        subprocess.run(["iptables", "-w", "-t", "nat", "-I", "POSTROUTING", "-s", self.net, "!", "-o",
                        self.lab.bridge, "-j", "MASQUERADE"], check=True)
        subprocess.run([ferry, "--home", home, "compute", "attach", "ssh", name, "--host", host.ip, "--port",
                        str(host.port), "--user", host.user, "--key", str(self.lab.client_key)],
                       check=True, capture_output=True)

    def close(self) -> None:
        subprocess.run(["iptables", "-w", "-t", "nat", "-D", "POSTROUTING", "-s", self.net, "!", "-o",
                        self.lab.bridge, "-j", "MASQUERADE"], capture_output=True)
        self.lab.__exit__(None, None, None)

RENAME = re.compile(r"\bazureml(?=\.|\s|$)|\bazureml(?=_user\b)")


def rename(text: str) -> str:
    return RENAME.sub("ferry", text)


def ensure_venv() -> str:
    py = os.path.join(VENV, "bin", "python")
    probe = [py, "-c", "import ipykernel, nbclient, nbformat"]
    if not os.path.exists(py) or subprocess.run(probe, capture_output=True).returncode != 0:
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", *PACKAGES], check=True)
    return py


def extract(repo: str, ref: str, folder: str, dest: str) -> None:
    git_dir = repo if os.path.isfile(os.path.join(repo, "HEAD")) else os.path.join(repo, ".git")
    archive = subprocess.run(["git", "--git-dir", git_dir, "archive", ref, folder], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", dest], input=archive.stdout, check=True)


def prepare(folder: str, notebook: str, key: str) -> None:
    """Renames every text file of the folder and the notebook's code cells; applies EDITS."""
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if path == notebook:
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
            except (UnicodeDecodeError, OSError):
                continue  # data, images
            renamed = rename(text)
            if renamed != text:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(renamed)
    with open(notebook, encoding="utf-8") as f:
        nb = json.load(f)
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = rename("".join(cell["source"]))
        for pattern, replacement, _why in EDITS.get(key, []):
            src = re.sub(pattern, replacement, src)
        cell["source"] = src
        cell["outputs"] = []
    with open(notebook, "w", encoding="utf-8") as f:
        json.dump(nb, f)


RUNNER = r'''
import json, sys, nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
path, timeout = sys.argv[1], int(sys.argv[2])
nb = nbformat.read(path, as_version=4)
code = [c for c in nb.cells if c.cell_type == "code"]
client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                        resources={"metadata": {"path": sys.argv[3]}})
error = ""
try:
    client.execute()
except CellExecutionError as e:
    error = str(e)
except Exception as e:  # a timeout, a dead kernel
    error = f"{type(e).__name__}: {e}"
ran = sum(1 for c in code if c.get("execution_count"))
nbformat.write(nb, path)
print(json.dumps({"cells": len(code), "ran": ran, "error": error}))
'''


def run_notebook(py: str, key: str, args: argparse.Namespace) -> dict:
    rel = NOTEBOOKS[key]
    work = tempfile.mkdtemp(prefix=f"ferry-nb-{key}-")
    vm = None
    try:
        extract(args.repo, args.ref, os.path.dirname(rel), work)
        folder = os.path.join(work, os.path.dirname(rel))
        notebook = os.path.join(work, rel)
        prepare(folder, notebook, key)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump({"subscription_id": "00000000-0000-0000-0000-000000000000",
                       "resource_group": "ferry-conformance", "workspace_name": "notebooks"}, f)
        # The kernel's venv is the active one, as for a user who started Jupyter from it: a
        # user-managed environment's `python` is that venv's.
        env = dict(os.environ, FERRY_HOME=os.path.join(work, "ferry-home"),
                   PATH=os.path.join(VENV, "bin") + os.pathsep + os.environ.get("PATH", ""),
                   PYTHONPATH=os.path.join(REPO, "python"),
                   FERRY_BIN=os.environ.get("FERRY_BIN") or os.path.join(REPO, "build", "bin", "ferry"))
        # The workspace admin's one-time setup: managed clusters' nodes (AmlCompute with a
        # vm_size) come from the netns provider on this machine, with an outbound network (NAT)
        # so that they reach PyPI as cloud nodes do.
        subprocess.run([env["FERRY_BIN"], "--home", env["FERRY_HOME"], "compute", "sizes", "provider", "netns",
                        "--outbound"], env=env, capture_output=True, check=True)
        if TARGETS.get(key, ("", ""))[1] == "ssh":
            vm = RemoteVm(work, env["FERRY_BIN"], env["FERRY_HOME"], TARGETS[key][0])
        start = time.monotonic()
        out = subprocess.run([py, "-c", RUNNER, notebook, str(args.cell_timeout), folder], env=env,
                             capture_output=True, text=True, cwd=folder)
        result = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {
            "cells": 0, "ran": 0, "error": out.stderr[-2000:]}
        result["seconds"] = round(time.monotonic() - start, 1)
        if args.keep:
            result["dir"] = work
        return result
    finally:
        if not args.keep:
            cleanup(work)
            if vm is not None:
                vm.close()
            shutil.rmtree(work, ignore_errors=True)


def cleanup(work: str) -> None:
    """Deletes the clusters a notebook made (their nodes, slurmctld and bridge) and stops the
    workspace's server."""
    ferry = os.environ.get("FERRY_BIN") or os.path.join(REPO, "build", "bin", "ferry")
    home = os.path.join(work, "ferry-home")
    clusters = os.path.join(home, "clusters")
    for name in sorted(os.listdir(clusters)) if os.path.isdir(clusters) else []:
        subprocess.run([ferry, "--home", home, "compute", "delete", name, "--yes"], capture_output=True)
    subprocess.run([ferry, "--home", home, "server", "stop"], capture_output=True)


def first_error_line(error: str) -> str:
    error = re.sub(r"\x1b\[[0-9;]*m", "", error)  # the kernel's colours
    lines = [ln for ln in error.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.match(r"^\w*(Error|Exception)\b", ln.strip()):
            return ln.strip()[:300]
    return (lines[-1] if lines else "")[:300]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", required=True, help="Azure/MachineLearningNotebooks: a bare git dir or a work tree")
    ap.add_argument("--ref", default="HEAD")
    ap.add_argument("--only", action="append", choices=sorted(NOTEBOOKS), help="run these notebooks only")
    ap.add_argument("--cell-timeout", type=int, default=900)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--keep", action="store_true",
                    help="keep each notebook's temp dir (executed notebook inside), its server and clusters")
    args = ap.parse_args()
    py = ensure_venv()
    results = {}
    for key in args.only or sorted(NOTEBOOKS):
        r = run_notebook(py, key, args)
        results[key] = r
        verdict = "PASS" if not r["error"] else "FAIL"
        print(f"{verdict} {key}: {r['ran']}/{r['cells']} code cells in {r['seconds']} s"
              + (f"; {first_error_line(r['error'])}" if r["error"] else "")
              + (f" ({r['dir']})" if "dir" in r else ""), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    sys.exit(0 if all(not r["error"] for r in results.values()) else 1)


if __name__ == "__main__":
    main()
