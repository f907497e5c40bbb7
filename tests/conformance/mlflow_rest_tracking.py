#!/usr/bin/env python3
"""Runs MLflow's own REST tracking tests (tests/tracking/test_rest_tracking.py of an MLflow
checkout) against `ferry server` and, as the anchor, against MLflow's own tracking server, and
counts passes per group. See README.md beside this file.

Nothing of MLflow's is kept in Ferry's repository: the tests are extracted at run time from the
MLflow checkout given (a bare git directory, as the `fetch` tool brings it, or a work tree) into
a temporary directory; mlflow and pytest come from PyPI into a separate venv.

Usage:
  tests/conformance/mlflow_rest_tracking.py --mlflow-git DIR [--ref v3.12.0] [--server ferry|mlflow|both]
      [--ferry-bin build/bin/ferry] [--venv .venv-conformance] [--json OUT] [-k EXPR]
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TEST_FILE = "tests/tracking/test_rest_tracking.py"
# The server fixtures of TEST_FILE that ferry_fixtures.py replaces.
REPLACED_FIXTURES = ("mlflow_client", "mlflow_client_with_secrets")

# Groups, by the test's name: the first rule whose pattern occurs in the name wins (README.md).
# "other" first: features Ferry does not claim (traces, the AI gateway and its secrets and
# endpoints, evaluation datasets and their experiment links - the tests named *_rest_tracking -,
# issues, scorers, prompt lab, assessments, run URLs) and MLflow's UI-server routes, which are
# not its REST API (GraphQL, /ajax-api/-only get-history-bulk[-interval], upload-artifact and
# search-datasets, /get-artifact with model-versions/get-artifact in test_path_validation);
# so that, e.g., test_search_traces is "other", not "search". Then MLflow 3 logged models and
# the model registry.
GROUP_RULES: list[tuple[str, str]] = [
    ("other", r"trace|gateway|secret|endpoint|provider|dataset|_rest_tracking$|evaluation|issue|scorer"
              r"|scoring|promptlab|assessment|_url"
              r"|graphql|bulk|upload_artifact|path_validation|model_definition|list_models"),
    ("models/registry", r"model|log_outputs"),
    ("artifacts", r"artifact"),
    ("search", r"search|pagination"),
    ("tags", r"tag"),
    ("params", r"param"),
    ("metrics", r"metric"),
    ("experiments", r"experiment"),
    ("runs", r"run|terminated|batch|input"),
]
CLAIMED = ["experiments", "runs", "metrics", "params", "tags", "search", "artifacts", "models/registry"]
GROUPS = [*CLAIMED, "other"]


def group_of(test_name: str) -> str:
    base = test_name.split("[", 1)[0]
    for group, pattern in GROUP_RULES:
        if re.search(pattern, base):
            return group
    return "other"


def ensure_venv(venv: Path, version: str) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"mlflow=={version}", "pytest",
                        "pytest-timeout"], check=True)
    have = subprocess.run([str(python), "-c", "import mlflow; print(mlflow.__version__)"], capture_output=True,
                          text=True)
    if have.returncode != 0 or have.stdout.strip() != version:
        sys.exit(f"{venv} has mlflow {have.stdout.strip() or '(none)'}, not {version}: remove the venv or pass "
                 f"--mlflow-version {have.stdout.strip()}")
    return python


def extract_tests(mlflow_git: Path, ref: str, into: Path) -> str:
    """Extracts the ref's tests/ into `into`; returns the commit it names."""
    git = ["git", f"--git-dir={mlflow_git}"] if (mlflow_git / "HEAD").is_file() and \
        not (mlflow_git / ".git").exists() else ["git", "-C", str(mlflow_git)]
    commit = subprocess.run([*git, "rev-parse", "--verify", f"{ref}^{{commit}}"], capture_output=True, text=True)
    if commit.returncode != 0:
        sys.exit(f"{mlflow_git} has no {ref!r} ({commit.stderr.strip()}); pass --ref with a tag or commit it has")
    archive = subprocess.Popen([*git, "archive", ref, "tests"], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        sys.exit(f"git archive {ref} tests failed in {mlflow_git}")
    return commit.stdout.strip()


def replace_fixtures(test_file: Path) -> None:
    """Renames the module's own server fixtures so that ferry_fixtures.py's are used."""
    text = test_file.read_text()
    for name in REPLACED_FIXTURES:
        text, n = re.subn(rf"^def {name}\(", f"def _mlflow_own_{name}(", text, flags=re.M)
        if n != 1:
            sys.exit(f"{TEST_FILE}: expected one fixture 'def {name}(' to replace, found {n}")
    test_file.write_text(text)


def run_suite(python: Path, root: Path, server: str, ferry_bin: Path | None, keyword: str,
              timeout: int) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Runs pytest; returns {test id: passed|failed|error|skipped}, {test id: why it failed or
    was skipped (the first line)} and the ids not applicable."""
    junit = root / f"junit-{server}.xml"
    na_file = root / f"na-{server}.json"
    (root / "pytest.ini").write_text("[pytest]\n")
    cmd = [str(python), "-m", "pytest", TEST_FILE, "-p", "no:cacheprovider", "-q", "-rN", "--no-header",
           f"--timeout={timeout}", f"--junitxml={junit}", "-o", "junit_family=xunit2"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    if server == "ferry":
        cmd += ["-p", "ferry_fixtures"]
        env["PYTHONPATH"] = str(HERE)
        env["FERRY_BIN"] = str(ferry_bin)
        env["FERRY_CONFORMANCE_NA"] = str(na_file)
    if keyword:
        cmd += ["-k", keyword]
    print(f"== {server}: {' '.join(cmd)}", flush=True)
    subprocess.run(cmd, cwd=root, env=env)
    results: dict[str, str] = {}
    why: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
                why[case.get("name")] = (child.get("message") or "").strip().split("\n")[0][:300]
                break
        results[case.get("name")] = outcome
    na = json.loads(na_file.read_text()) if na_file.exists() else []
    return results, why, na


def summarize(results: dict[str, str], na: list[str]) -> dict[str, dict[str, int]]:
    counts = {g: collections.Counter() for g in GROUPS}
    for name, outcome in results.items():
        if re.search(r"\[file[\]-]", name):
            continue  # MLflow's FileStore variant: MLflow skips it itself (no longer supported)
        counts[group_of(name)][outcome] += 1
    for name in na:
        counts[group_of(name)]["n/a"] += 1
    return {g: dict(c) for g, c in counts.items()}


def table(per_server: dict[str, dict[str, dict[str, int]]]) -> str:
    servers = list(per_server)
    head = "| group | " + " | ".join(f"{s} passed / run" for s in servers) + " |"
    lines = [head, "|---" * (len(servers) + 1) + "|"]
    total = {s: [0, 0] for s in servers}
    for g in GROUPS:
        cells = []
        for s in servers:
            c = per_server[s][g]
            run = c.get("passed", 0) + c.get("failed", 0) + c.get("error", 0)
            total[s][0] += c.get("passed", 0)
            total[s][1] += run
            extra = [f"{c[k]} {k}" for k in ("skipped", "n/a") if c.get(k)]
            cells.append(f"{c.get('passed', 0)} / {run}" + (f" ({', '.join(extra)})" if extra else ""))
        lines.append(f"| {g} | " + " | ".join(cells) + " |")
    lines.append("| **all** | " + " | ".join(f"**{p} / {r}**" for p, r in total.values()) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mlflow-git", type=Path, help="MLflow checkout: bare git dir or work tree")
    ap.add_argument("--summarize", type=Path, nargs="+", metavar="JSON",
                    help="print the table of saved --json reports (grouped by today's rules) and exit")
    ap.add_argument("--ref", default="v3.12.0", help="tag or commit of the tests (default v3.12.0)")
    ap.add_argument("--mlflow-version", default="3.12.0", help="mlflow from PyPI for client and anchor")
    ap.add_argument("--server", choices=["ferry", "mlflow", "both"], default="both")
    ap.add_argument("--ferry-bin", type=Path, default=REPO / "build" / "bin" / "ferry")
    ap.add_argument("--venv", type=Path, default=REPO / ".venv-conformance")
    ap.add_argument("--json", type=Path, help="write the results (per test and per group) here")
    ap.add_argument("-k", dest="keyword", default="", help="pytest -k expression (a subset)")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per test")
    ap.add_argument("--ferry-commit", default="", help="the commit the ferry binary was built from, for the "
                    "report (default: this checkout's HEAD)")
    args = ap.parse_args()
    if args.summarize:
        per_server = {}
        for path in args.summarize:
            saved = json.loads(path.read_text())
            for server, r in saved["servers"].items():
                label = f"{server} ({saved.get('ferry_commit', '')})" if server == "ferry" else server
                per_server[label] = summarize(r["tests"], r["not_applicable"])
        print(table(per_server))
        return 0
    if not args.mlflow_git:
        ap.error("--mlflow-git is required")

    python = ensure_venv(args.venv.resolve(), args.mlflow_version)
    servers = ["ferry", "mlflow"] if args.server == "both" else [args.server]
    ferry_bin = args.ferry_bin.resolve()
    if "ferry" in servers and not os.access(ferry_bin, os.X_OK):
        sys.exit(f"no ferry binary at {ferry_bin}; build it or pass --ferry-bin")
    report = {"date": datetime.date.today().isoformat(), "mlflow_ref": args.ref,
              "mlflow_version": args.mlflow_version, "servers": {}}
    ferry_commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                  text=True).stdout.strip()
    ferry_commit = args.ferry_commit or ferry_commit
    report["ferry_commit"] = ferry_commit
    per_server = {}
    for server in servers:
        with tempfile.TemporaryDirectory(prefix=f"mlflow-conformance-{server}-") as tmp:
            root = Path(tmp)
            report["mlflow_commit"] = extract_tests(args.mlflow_git.resolve(), args.ref, root)
            if server == "ferry":
                replace_fixtures(root / TEST_FILE)
            results, why, na = run_suite(python, root, server, ferry_bin, args.keyword, args.timeout)
        per_server[server] = summarize(results, na)
        report["servers"][server] = {"groups": per_server[server], "tests": results, "why": why,
                                     "not_applicable": na}
    print()
    print(f"MLflow {args.ref} ({report['mlflow_commit'][:10]}) tests, mlflow {args.mlflow_version}; "
          f"ferry {ferry_commit}; {report['date']}")
    print(table(per_server))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, sort_keys=True))
    ferry = per_server.get("ferry")
    if ferry:
        failing = [g for g in CLAIMED if ferry[g].get("failed", 0) + ferry[g].get("error", 0)]
        if failing:
            print(f"ferry fails tests in claimed groups: {', '.join(failing)}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
