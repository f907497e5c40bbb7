"""Managed environments: uv and pip builders, conda environment files, registered
environments, and one build shared by concurrent runs. All offline: packages come from a
local wheel directory the tests create."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from wheels import make_wheel  # noqa: E402

from test_runconfig import submit_script, write  # noqa: E402

VENV_BIN = Path(sys.executable).parent
PY_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"

JOB = """
import sys
import ferrytestpkg
print("pkg", ferrytestpkg.VERSION)
print("prefix", sys.prefix)
"""


def offline_env(wheels: Path, builder: str) -> dict:
    """The server's environment: offline pip/uv from `wheels`, the chosen builder, uv on PATH."""
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels), "FERRY_ENV_BUILDER": builder,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}


def managed(extra: str, python: str = sys.executable) -> str:
    return (f"script: job.py\nenvironment:\n{extra}  python:\n    userManagedDependencies: false\n"
            f"    interpreterPath: {python}\n")


def last_run(ws) -> dict:
    return ws.cli_json("run", "list", "--limit", "1")["runs"][0]


@pytest.mark.parametrize("builder", ["uv", "pip"])
def test_builders_make_the_same_environment(make_workspace, src, tmp_path, builder):
    if builder == "uv" and not (VENV_BIN / "uv").exists():
        pytest.fail("uv is not installed in the test venv; run scripts/setup.sh")
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "ferrytestpkg", "1.0")
    ws = make_workspace(env=offline_env(wheels, builder))
    write(src / "requirements.txt", "ferrytestpkg==1.0\n")
    write(src / "job.py", JOB)
    write(src / "m.runconfig", managed("") + "requirementsFile: requirements.txt\n")
    r = submit_script(ws, src, "-c", str(src / "m.runconfig"), "--wait")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"with {builder} (python {PY_VERSION}" in r.stdout, r.stdout
    assert "pkg 1.0" in r.stdout
    out = tmp_path / "dl"
    ws.cli("run", "download", last_run(ws)["id"], "--output-dir", out, "--prefix", "environment/")
    assert "ferrytestpkg==1.0" in (out / "environment" / "freeze.txt").read_text()


def test_conda_file_with_python_and_pip_section_builds_a_venv(make_workspace, src, tmp_path):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "ferrytestpkg", "2.0")
    ws = make_workspace(env=offline_env(wheels, "pip"))
    # Azure ML's conda_dependencies.yml shape: python, pip itself, a pip: section, channels.
    write(src / ".azureml" / "conda_dependencies.yml", f"""\
        name: project_environment
        dependencies:
        - python={PY_VERSION}
        - pip
        - pip:
          - ferrytestpkg==2.0
        channels:
        - conda-forge
        """)
    write(src / "job.py", JOB)
    write(src / "c.runconfig", managed("") + "    condaDependenciesFile: .azureml/conda_dependencies.yml\n")
    r = submit_script(ws, src, "-c", str(src / "c.runconfig"), "--wait")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "pkg 2.0" in r.stdout and f"prefix {ws.home / 'envs'}" in r.stdout, r.stdout
    run = last_run(ws)
    assert run["environment"] == {"type": "conda", "file": ".azureml/conda_dependencies.yml"}


def test_conda_only_packages_and_missing_python_fail_with_clear_errors(make_workspace, src, tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    ws = make_workspace(env=offline_env(wheels, "pip"))
    write(src / "job.py", "print('never')\n")
    write(src / "env.yml", "dependencies:\n  - python=3.11\n  - cudatoolkit=11.8\n  - pip:\n    - requests\n")
    write(src / "c.runconfig", managed("") + "    condaDependenciesFile: env.yml\n")
    r = submit_script(ws, src, "-c", str(src / "c.runconfig"), "--wait")
    assert r.returncode == 1
    run = last_run(ws)
    assert run["status"] == "Failed"
    assert "cudatoolkit=11.8" in run["error"] and "no conda, mamba or micromamba" in run["error"], run["error"]
    assert "never" not in ws.log(run["id"])

    write(src / "env.yml", "dependencies:\n  - python=2.7\n  - pip:\n    - requests\n")
    r = submit_script(ws, src, "-c", str(src / "c.runconfig"), "--wait")
    assert r.returncode == 1
    err = last_run(ws)["error"]
    assert "asks for python=2.7" in err and f"is {PY_VERSION}" in err, err


def test_conda_file_mistakes_are_reported_with_file_and_line_before_upload(workspace, src):
    write(src / "job.py", "print('x')\n")
    write(src / "env.yml", "name: x\ndependencies:\n  - python=3.11\n  - {npm: [left-pad]}\n")
    write(src / "c.runconfig", managed("") + "    condaDependenciesFile: env.yml\n")
    before = workspace.run_count()
    r = submit_script(workspace, src, "-c", str(src / "c.runconfig"))
    assert r.returncode == 1
    assert f"{src / 'env.yml'}:4:" in r.stderr and "allowed: pip" in r.stderr, r.stderr
    write(src / "c.runconfig", managed("") + "    condaDependenciesFile: missing.yml\n")
    r = submit_script(workspace, src, "-c", str(src / "c.runconfig"))
    assert r.returncode == 1 and "missing.yml" in r.stderr, r.stderr
    assert workspace.run_count() == before


def test_registered_environments_are_versioned_and_runs_keep_their_version(make_workspace, src, tmp_path):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "ferrytestpkg", "1.0")
    make_wheel(wheels, "ferrytestpkg", "2.0")
    ws = make_workspace(env=offline_env(wheels, "pip"))
    spec = write(tmp_path / "req.txt", "ferrytestpkg==1.0\n")
    r = ws.cli("environment", "register", "-f", spec, "-n", "trainenv", "--description", "first")
    assert "registered environment trainenv version 1" in r.stdout
    r = ws.cli("environment", "register", "-f", spec, "-n", "trainenv")
    assert "nothing registered" in r.stdout
    write(spec, "ferrytestpkg==2.0\n")
    assert ws.cli_json("environment", "register", "-f", spec, "-n", "trainenv")["version"] == 2
    listed = ws.cli_json("environment", "list")["environments"]
    assert [(e["name"], e["version"], e["type"]) for e in listed] == [("trainenv", 2, "pip")]
    shown = ws.cli("environment", "show", "trainenv", "-v", "1").stdout
    assert "Version:     1" in shown and "ferrytestpkg==1.0" in shown and "first" in shown

    write(src / "job.py", JOB)
    write(src / "v1.runconfig", managed("  name: trainenv\n  version: '1'\n"))
    r = submit_script(ws, src, "-c", str(src / "v1.runconfig"), "--wait")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "pkg 1.0" in r.stdout
    assert last_run(ws)["environment"]["name"] == "trainenv"
    assert last_run(ws)["environment"]["version"] == 1
    write(src / "latest.runconfig", managed("  name: trainenv\n"))
    r = submit_script(ws, src, "-c", str(src / "latest.runconfig"), "--wait")
    assert r.returncode == 0 and "pkg 2.0" in r.stdout, r.stdout + r.stderr
    assert last_run(ws)["environment"]["version"] == 2

    # Unknown names: an error that says how to register, when the file has nothing else.
    write(src / "nope.runconfig", managed("  name: nosuchenv\n"))
    r = submit_script(ws, src, "-c", str(src / "nope.runconfig"))
    assert r.returncode == 1
    assert "environment 'nosuchenv'" in r.stderr and "ferry environment register" in r.stderr, r.stderr
    # ...but Azure ML names its inline environments too: a label when the file says how to build.
    write(src / "requirements.txt", "ferrytestpkg==1.0\n")
    write(src / "azure.runconfig", managed("  name: Experiment diabetes Environment\n  version: Autosave_2020\n")
          + "requirementsFile: requirements.txt\n")
    r = submit_script(ws, src, "-c", str(src / "azure.runconfig"), "--wait")
    assert r.returncode == 0 and "pkg 1.0" in r.stdout, r.stdout + r.stderr
    # Bad names and types are refused by the API with the field named.
    status, body, _ = ws.api("POST", "/environments", json={"name": "../x", "type": "pip", "content": "a\n"})
    assert status == 400 and "environment name '../x'" in body["error"]["message"], body
    status, body, _ = ws.api("POST", "/environments", json={"name": "x", "type": "npm", "content": "a\n"})
    assert status == 400 and "pip, conda" in body["error"]["message"], body


@pytest.mark.parametrize("builder", ["uv", "pip"])
def test_concurrent_runs_wait_for_one_build(make_workspace, src, tmp_path, builder):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "ferrytestpkg", "1.0")
    ws = make_workspace(max_runs=3, env=offline_env(wheels, builder))
    write(src / "requirements.txt", "ferrytestpkg==1.0\n")
    write(src / "job.py", JOB)
    write(src / "m.runconfig", managed("") + "requirementsFile: requirements.txt\n")
    ids = [ws.cli("run", "submit-script", "-d", src, "-c", str(src / "m.runconfig")).stdout.strip()
           for _ in range(3)]
    for run_id in ids:
        assert ws.wait_status(run_id, ["Completed", "Failed"], timeout=180)["status"] == "Completed", ws.log(run_id)
    logs = [ws.log(i) for i in ids]
    assert sum("[ferry] building environment" in log for log in logs) == 1, logs
    assert sum("[ferry] reusing environment" in log for log in logs) == 2, logs
    envs = [p for p in (ws.home / "envs").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(envs) == 1, envs


# No conda channel is reachable from the test machines, so a real micromamba cannot create
# environments here. This stand-in checks Ferry's side of the contract only: which tool is
# chosen, its command line, caching and locking of the result, the freeze, and failures.
FAKE_MICROMAMBA = r"""#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls.log"
case "$1" in
  create)
    prefix=""; file=""
    while [ $# -gt 0 ]; do
      case "$1" in -p) prefix="$2"; shift ;; -f) file="$2"; shift ;; esac
      shift
    done
    grep -q "fail-please" "$file" && { echo "error: nothing provides fail-please" >&2; exit 1; }
    mkdir -p "$prefix/bin" && ln -s "REAL_PYTHON" "$prefix/bin/python"
    echo "created $prefix" ;;
  list) echo "numpy=1.26.4=fake_0" ;;
esac
"""


def test_conda_packages_are_built_by_the_nodes_micromamba(make_workspace, src, tmp_path):
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    tool = bin_dir / "micromamba"
    tool.write_text(FAKE_MICROMAMBA.replace("REAL_PYTHON", sys.executable))
    tool.chmod(0o755)
    ws = make_workspace(env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    write(src / "env.yml", "name: t\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - numpy=1.26\n")
    write(src / "job.py", "import sys\nprint('python', sys.executable)\n")
    write(src / "c.runconfig", managed("") + "    condaDependenciesFile: env.yml\n")
    r = submit_script(ws, src, "-c", str(src / "c.runconfig"), "--wait")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "from env.yml with micromamba" in r.stdout, r.stdout
    calls = (bin_dir / "calls.log").read_text().splitlines()
    create = [c for c in calls if c.startswith("create")]
    assert len(create) == 1 and f"-p {ws.home / 'envs'}" in create[0] and create[0].endswith("/env.yml"), calls
    assert f"python {ws.home / 'envs'}" in r.stdout  # the script ran with the environment's interpreter
    out = tmp_path / "dl"
    ws.cli("run", "download", last_run(ws)["id"], "--output-dir", out, "--prefix", "environment/")
    assert "numpy=1.26.4=fake_0" in (out / "environment" / "freeze.txt").read_text()
    r = submit_script(ws, src, "-c", str(src / "c.runconfig"), "--wait")
    assert r.returncode == 0 and "reusing environment" in r.stdout, r.stdout
    assert len([c for c in (bin_dir / "calls.log").read_text().splitlines() if c.startswith("create")]) == 1
    # A failing tool fails the run with its name and output, and leaves nothing to reuse.
    write(src / "env.yml", "dependencies:\n  - python=3.11\n  - fail-please\n")
    r = submit_script(ws, src, "-c", str(src / "c.runconfig"), "--wait")
    assert r.returncode == 1
    err = last_run(ws)["error"]
    assert "micromamba could not create the environment from env.yml" in err and "nothing provides fail-please" in err, err
