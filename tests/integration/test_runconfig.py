"""`ferry run submit-script` with run configuration files (Azure ML .runconfig shape)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from wheels import make_wheel  # noqa: E402


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


RUNCONFIG = """\
script: job.py
arguments: [--x, '1']
target: local
framework: Python
communicator: None
maxRunDurationSeconds:
nodeCount: 1
environment:
  name:
  environmentVariables:
    GREETING: hello from the runconfig
  python:
    userManagedDependencies: true
    interpreterPath: {python}
    condaDependenciesFile:
  docker:
    enabled: false
    baseImage: mcr.microsoft.com/azureml/base:latest
    sharedVolumes: true
    shmSize: 1g
history:
  outputCollection: true
spark:
  configuration:
    spark.app.name: Azure ML Experiment
"""

JOB = """
import os, sys
print("args:", sys.argv[1:])
print("greeting:", os.environ.get("GREETING"))
"""


def submit_script(ws, src, *args, check=False):
    return ws.cli("run", "submit-script", "-d", src, *args, check=check)


def test_azure_runconfig_runs_with_its_environment(workspace, src):
    write(src / "job.py", JOB)
    write(src / ".azureml" / "local.runconfig", RUNCONFIG.format(python=sys.executable))
    r = submit_script(workspace, src, "-c", "local", "-e", "rc", "--wait")
    assert r.returncode == 0, r.stderr
    assert "args: ['--x', '1']" in r.stdout
    assert "greeting: hello from the runconfig" in r.stdout
    # One warning lists the set fields Ferry does not use.
    warnings = [l for l in r.stderr.splitlines() if "fields Ferry does not use" in l]
    assert len(warnings) == 1 and "spark" in warnings[0] and "local.runconfig" in warnings[0], r.stderr
    runs = workspace.cli_json("run", "list", "-e", "rc")["runs"]
    assert runs[0]["environment_variables"] == {"GREETING": "hello from the runconfig"}
    # The command line overrides the file: script and arguments.
    write(src / "other.py", "import sys\nprint('other', sys.argv[1:])\n")
    r = submit_script(workspace, src, "-c", "local", "--wait", "other.py", "--", "--y", "2")
    assert r.returncode == 0, r.stderr
    assert "other ['--y', '2']" in r.stdout


def test_max_run_duration_stops_the_run_as_failed(workspace, src):
    write(src / "sleepy.py", "import time\nprint('started', flush=True)\ntime.sleep(300)\n")
    write(src / "limit.yml", f"""\
        script: sleepy.py
        maxRunDurationSeconds: 1
        environment:
          python:
            userManagedDependencies: true
            interpreterPath: {sys.executable}
    """)
    r = submit_script(workspace, src, "-c", str(src / "limit.yml"), "--wait")
    assert r.returncode == 1, r.stderr
    run = workspace.cli_json("run", "list", "--limit", "1")["runs"][0]
    assert run["status"] == "Failed"
    assert "maxRunDurationSeconds (1 s)" in run["error"], run
    hist = workspace.history(run["id"])
    assert hist[-1]["reason"] == "exceeded maxRunDurationSeconds (1 s)", hist


def test_runconfig_errors_name_file_line_field_and_allowed_values(workspace, src):
    write(src / "job.py", JOB)
    before = workspace.run_count()
    write(src / "bad.runconfig", "script: job.py\ncommunicator: Horovod\n")
    r = submit_script(workspace, src, "-c", str(src / "bad.runconfig"))
    assert r.returncode == 1
    assert f"{src / 'bad.runconfig'}:2:15: field 'communicator': 'Horovod' is not allowed; use one of: None" in r.stderr, r.stderr
    write(src / "managed.runconfig", "script: job.py\nenvironment:\n  python:\n    userManagedDependencies: false\n")
    r = submit_script(workspace, src, "-c", str(src / "managed.runconfig"))
    assert r.returncode == 1 and "userManagedDependencies" in r.stderr, r.stderr
    write(src / "docker.runconfig", "script: job.py\nenvironment:\n  docker:\n    enabled: true\n"
                                     "  python:\n    userManagedDependencies: true\n")
    r = submit_script(workspace, src, "-c", str(src / "docker.runconfig"))
    assert r.returncode == 1 and "environment.docker.enabled" in r.stderr, r.stderr
    r = submit_script(workspace, src, "-c", "nosuch")
    assert r.returncode == 1 and "run configuration 'nosuch' not found" in r.stderr and ".azureml" in r.stderr, r.stderr
    assert workspace.run_count() == before


def test_folder_attach_binds_experiment_and_writes_templates(workspace, src):
    write(src / "job.py", JOB)
    r = workspace.cli("folder", "attach", "-e", "proj", "-d", src)
    cfg = src / ".ferry" / "config.json"
    template = src / ".ferry" / "local.runconfig"
    assert cfg.exists() and template.exists(), r.stdout
    import json
    assert json.loads(cfg.read_text())["experiment"] == "proj"
    assert "userManagedDependencies: true" in template.read_text()
    assert any(e["name"] == "proj" for e in workspace.cli_json("experiment", "list")["experiments"])
    # Attaching again keeps the user's edits.
    template.write_text(template.read_text().replace("script: train.py", "script: job.py")
                        .replace("interpreterPath: python3", f"interpreterPath: {sys.executable}"))
    r = workspace.cli("folder", "attach", "-d", src)
    assert "kept" in r.stdout and "job.py" in template.read_text()
    # The template runs as is, in the folder's experiment.
    r = submit_script(workspace, src, "-c", "local", "--wait")
    assert r.returncode == 0, r.stderr
    assert "args: []" in r.stdout
    assert workspace.cli_json("run", "list", "--limit", "1")["runs"][0]["experiment"] == "proj"
    # So does a plain submit from the attached folder.
    run_id, r = workspace.submit(src, "job.py", wait=True)
    assert workspace.run(run_id)["experiment"] == "proj"


MANAGED = """\
script: job.py
environment:
  python:
    userManagedDependencies: false
    interpreterPath: {python}
requirementsFile: {req}
"""


def test_managed_environment_is_built_once_and_reused(make_workspace, src, tmp_path):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "ferrytestpkg", "1.0")
    ws = make_workspace(env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)})
    write(src / "requirements.txt", "ferrytestpkg==1.0\n")
    write(src / "job.py", """
        import sys
        import ferrytestpkg
        print("pkg", ferrytestpkg.VERSION)
        print("prefix", sys.prefix)
    """)
    write(src / "managed.runconfig", MANAGED.format(python=sys.executable, req="requirements.txt"))
    r = submit_script(ws, src, "-c", str(src / "managed.runconfig"), "--wait")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "pkg 1.0" in r.stdout
    assert f"prefix {ws.home / 'envs'}" in r.stdout, r.stdout
    assert "[ferry] building environment" in r.stdout
    first = ws.cli_json("run", "list", "--limit", "1")["runs"][0]["id"]
    out = tmp_path / "dl"
    ws.cli("run", "download", first, "--output-dir", out, "--prefix", "environment/")
    assert "ferrytestpkg==1.0" in (out / "environment" / "freeze.txt").read_text()
    # The same spec on the same node: reused, not rebuilt.
    r = submit_script(ws, src, "-c", str(src / "managed.runconfig"), "--wait")
    assert r.returncode == 0, r.stderr
    assert "[ferry] reusing environment" in r.stdout and "building environment" not in r.stdout
    envs = [p for p in (ws.home / "envs").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(envs) == 1, envs


def test_failed_environment_build_fails_the_run_with_pips_error(make_workspace, src, tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    ws = make_workspace(env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)})
    write(src / "requirements.txt", "nosuchpackage-ferry==9.9\n")
    write(src / "job.py", "print('never')\n")
    write(src / "managed.runconfig", MANAGED.format(python=sys.executable, req="requirements.txt"))
    r = submit_script(ws, src, "-c", str(src / "managed.runconfig"), "--wait")
    assert r.returncode == 1
    run = ws.cli_json("run", "list", "--limit", "1")["runs"][0]
    assert run["status"] == "Failed"
    assert "pip install" in run["error"] and "nosuchpackage-ferry" in run["error"], run["error"]
    assert [h["status"] for h in ws.history(run["id"])] == ["Queued", "Preparing", "Failed"]
    assert "never" not in ws.log(run["id"])
    # Nothing half-built is left to be reused.
    assert not [p for p in (ws.home / "envs").iterdir() if p.is_dir() and not p.name.startswith(".")]
