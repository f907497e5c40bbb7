"""Run configurations as Azure ML writes and uses them (renamed to ferry), against a real
server: ScriptRunConfig.run_config changed after construction, the .runconfig that azureml-core
1.61 saves (framework: python, its run-level docker and environmentVariables sections), and the
CLI's Azure spellings (run show/cancel -r, run monitor-logs, run submit --experiment-name) with
the queue reason in `run show`."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import wait_until
from test_runs import write

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from ferry import FerryError  # noqa: E402
from ferry.core import Experiment, RunConfiguration, ScriptRunConfig, Workspace  # noqa: E402
from ferry.core.runconfig import DockerConfiguration  # noqa: E402

SHOW = """
    import os, sys
    print("ARGS", sys.argv[1:], "SEED", os.environ.get("SEED"), "EX", os.environ.get("EXAMPLE_ENV_VAR"), flush=True)
"""


def test_run_config_changed_after_construction_is_what_runs(workspace, src):
    write(src / "show.py", SHOW)
    ws = Workspace(home=str(workspace.home))
    exp = Experiment(ws, "rc-after")
    # The notebook's order: build the config, then point its run_config at the target.
    src_config = ScriptRunConfig(source_directory=str(src), script="show.py", arguments=["--n", 3],
                                 compute_target="no-such-target", python=sys.executable)
    src_config.run_config.target = "local"
    src_config.run_config.environment_variables["SEED"] = "42"
    run = exp.submit(src_config)
    assert run.wait_for_completion()["status"] == "Completed"
    assert workspace.run(run.id)["target"] == "local"
    assert "ARGS ['--n', '3'] SEED 42" in workspace.log(run.id)
    # And the other way round: a target set at construction, then changed to one that does not
    # exist - the server's refusal names the changed one.
    other = ScriptRunConfig(source_directory=str(src), script="show.py", compute_target="local", python=sys.executable)
    other.run_config.target = "gpu-cluster-x"
    with pytest.raises(FerryError) as e:
        exp.submit(other)
    assert "gpu-cluster-x" in str(e.value), str(e.value)


def azure_161_runconfig(python: str) -> str:
    # The shape azureml-core 1.61's RunConfiguration(framework="python").save() writes.
    return textwrap.dedent(f"""\
        script: show.py
        arguments: [--from, file]
        target: local
        framework: python
        communicator: None
        maxRunDurationSeconds:
        nodeCount: 1
        priority:
        environment:
          name: default-environment
          version:
          environmentVariables:
            EXAMPLE_ENV_VAR: EXAMPLE_VALUE
          python:
            userManagedDependencies: true
            interpreterPath: {python}
            condaDependenciesFile: .azureml/conda_dependencies.yml
            baseCondaEnvironment:
          docker:
            enabled: false
            baseImage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:20251130.v1
            baseDockerfile:
            sharedVolumes: true
            shmSize: 2g
            arguments: []
            platform:
              os: Linux
              architecture: amd64
        history:
          outputCollection: true
          snapshotProject: true
          directoriesToWatch:
          - logs
        docker:
          useDocker: false
          sharedVolumes: true
          arguments: []
          shmSize: 2g
        tensorflow:
          workerCount: 1
          parameterServerCount: 1
        mpi:
          processCountPerNode: 1
          nodeCount: 1
        pytorch:
          communicationBackend: nccl
          processCount:
          nodeCount: 1
        dataReferences: {{}}
        data: {{}}
        command: ''
        environmentVariables:
          SEED: from-the-run-level
        """)


def test_the_runconfig_azure_161_saves_runs_from_the_cli_and_the_sdk(workspace, src):
    write(src / "show.py", SHOW)
    (src / ".azureml").mkdir()
    (src / ".azureml" / "azure.runconfig").write_text(azure_161_runconfig(sys.executable))
    r = workspace.cli("run", "submit-script", "-c", "azure", "-d", str(src), "-e", "from-file", "--wait", cwd=src)
    assert "ARGS ['--from', 'file'] SEED from-the-run-level EX EXAMPLE_VALUE" in r.stdout, r.stdout + r.stderr
    ws = Workspace(home=str(workspace.home))
    rc = RunConfiguration.load(str(src), "azure", workspace=ws)
    assert rc.framework == "Python" and rc.environment_variables == {"SEED": "from-the-run-level"}
    assert rc.docker.use_docker is False and rc.pytorch.communication_backend == "nccl"
    assert "docker" not in rc.unused_fields and "pytorch" not in rc.unused_fields and "command" not in rc.unused_fields
    assert "environment.docker.platform" in rc.unused_fields
    run = Experiment(ws, "from-file").submit(ScriptRunConfig(source_directory=str(src), run_config=rc))
    assert run.wait_for_completion()["status"] == "Completed"
    assert "SEED from-the-run-level" in workspace.log(run.id)
    # framework in any case; a value outside the set is refused naming the allowed ones.
    (src / ".azureml" / "bad.runconfig").write_text("script: show.py\nframework: Cntk\n")
    r = workspace.cli("run", "submit-script", "-c", "bad", "-d", str(src), check=False, cwd=src)
    assert r.returncode != 0
    assert "bad.runconfig:2:12: field 'framework': 'Cntk' is not allowed; use one of: Python, PyTorch, " \
           "TensorFlow, PySpark" in r.stderr, r.stderr
    # The run-level docker section turns the container on (the image from the environment).
    rc.docker = DockerConfiguration(use_docker=True)
    assert ScriptRunConfig(source_directory=str(src), run_config=rc)._body("e", "0" * 64, None)["docker"]["base_image"] \
        == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:20251130.v1"


@pytest.mark.max_runs(1)
def test_cli_azure_spellings_and_the_queue_reason(workspace, src, tmp_path):
    release = tmp_path / "release"
    write(src / "gate.py", """
        import os, sys, time
        print("gate up", flush=True)
        deadline = time.time() + 120
        while not os.path.exists(sys.argv[1]) and time.time() < deadline:
            time.sleep(0.05)
        print("gate down", flush=True)
    """)
    blocker, r = workspace.submit(src, "gate.py", str(release), extra=("--experiment-name", "azure-names"))
    assert blocker, r.stderr
    assert workspace.run(blocker)["experiment"] == "azure-names"
    workspace.wait_status(blocker, "Running")
    queued, _ = workspace.submit(src, "gate.py", str(release), extra=("-e", "azure-names"))
    assert workspace.run(queued)["status"] == "Queued"
    reason = wait_until(lambda: workspace.run(queued).get("queue_reason"), 30, "a queue reason")
    # `run show -r` (Azure's spelling) as the positional; a queued run says why it waits.
    out = workspace.cli("run", "show", "-r", queued).stdout
    assert out == workspace.cli("run", "show", queued).stdout
    assert re.search(r"^Status:\s+Queued$", out, re.M) and f"Waiting:     {reason}\n" in out, out
    assert "Waiting:" not in workspace.cli("run", "show", "--run", blocker).stdout
    # `run cancel -r`.
    assert "cancel requested" in workspace.cli("run", "cancel", "-r", queued).stdout
    workspace.wait_status(queued, "Canceled", timeout=30)
    # `run monitor-logs -r` follows the log until the run ends.
    release.touch()
    followed = workspace.cli("run", "monitor-logs", "-r", blocker, timeout=60).stdout
    assert "gate up" in followed and "gate down" in followed, followed
    assert workspace.run(blocker)["status"] == "Completed"
    # Neither a positional nor -r: the error says how to name the run; both: refused.
    r = workspace.cli("run", "show", check=False)
    assert r.returncode != 0 and "give its id as an argument or with -r/--run" in r.stderr, r.stderr
    r = workspace.cli("run", "show", blocker, "-r", blocker, check=False)
    assert r.returncode != 0 and "excludes" in r.stderr, r.stderr
