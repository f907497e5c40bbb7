"""Azure ML SDK v1's environment code, renamed to ferry, against a real server: an
Environment built from CondaDependencies, a bare Environment, curated environments,
conda packages on a node without conda, and an estimator, each submitted and run. Offline:
packages come from a local wheel directory (tests/support/wheels.py)."""

from __future__ import annotations

import os
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from wheels import make_wheel  # noqa: E402

from ferry.core import Environment, Experiment, ScriptRunConfig, Workspace  # noqa: E402
from ferry.core.conda_dependencies import CondaDependencies  # noqa: E402

VENV_BIN = Path(sys.executable).parent

JOB = """
import sys
import ferrytestpkg
from ferry import Run
print("pkg", ferrytestpkg.VERSION)
print("prefix", sys.prefix)
print("args", sys.argv[1:])
Run.get_context().log("ok", 1)
"""


@pytest.fixture
def offline(make_workspace, tmp_path):
    """A workspace whose node has no package index (wheels from a folder) and no conda."""
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "ferrytestpkg", "1.0")
    make_wheel(wheels, "ferrytestpkg", "2.0")
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                           if not any(os.path.exists(os.path.join(p, t)) for t in ("conda", "mamba", "micromamba")))
    return make_workspace(env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels), "FERRY_ENV_BUILDER": "uv",
                               "PATH": f"{VENV_BIN}{os.pathsep}{path}"})


def job(src: Path, text: str = JOB, name: str = "job.py") -> None:
    src.mkdir(parents=True, exist_ok=True)
    (src / name).write_text(textwrap.dedent(text))


def finish(ws_fixture, run):
    details = run.wait_for_completion(raise_on_error=False)
    log = ws_fixture.log(run.id)
    assert details["status"] == "Completed", (details, log)
    return log


def test_environment_from_conda_dependencies_runs(offline, src):
    ws = Workspace(home=str(offline.home))
    job(src)
    env = Environment("sklearn-like")
    # An Azure notebook's list, SDK package included: Ferry does not install Azure's SDK.
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["azureml-defaults", "ferrytestpkg==1.0"])
    env.environment_variables = {"FROM_ENV": "yes"}
    config = ScriptRunConfig(source_directory=str(src), script="job.py", arguments=["--n", 3], environment=env)
    run = Experiment(ws, "env-azure").submit(config)
    log = finish(offline, run)
    assert "pkg 1.0" in log and f"prefix {offline.home / 'envs'}" in log and "args ['--n', '3']" in log, log
    assert "not installing azureml-defaults (Azure ML's SDK)" in log, log
    assert run.get_metrics()["ok"] == 1

    # Registered, then named by version: the same environment, reused on the node.
    registered = env.register(ws)
    assert registered.version == 1 and Environment.get(ws, "sklearn-like").spec_type == "conda"
    got = Environment.get(ws, "sklearn-like", version=1)
    assert got.python.conda_dependencies.pip_packages == ["azureml-defaults", "ferrytestpkg==1.0"]
    run2 = Experiment(ws, "env-azure").submit(ScriptRunConfig(source_directory=str(src), script="job.py",
                                                              environment=got))
    log2 = finish(offline, run2)
    assert "reusing environment" in log2 and "pkg 1.0" in log2, log2
    assert offline.run(run2.id)["environment"]["name"] == "sklearn-like"


def test_bare_environment_and_curated_minimal_run(offline, src):
    ws = Workspace(home=str(offline.home))
    job(src, "import sys\nprint('prefix', sys.prefix)\nfrom ferry import Run\nRun.get_context().log('ok', 1)\n")
    # Environment("x") with nothing set: an empty environment of the node's python.
    run = Experiment(ws, "env-azure").submit(ScriptRunConfig(source_directory=str(src), script="job.py",
                                                             environment=Environment("bare")))
    log = finish(offline, run)
    assert f"prefix {offline.home / 'envs'}" in log, log

    minimal = Environment.get(ws, "AzureML-Minimal")
    assert minimal.version == 1 and "AzureML-Minimal" in minimal.description
    assert Environment.get(ws, "AzureML-Minimal").version == 1  # registered once
    assert "AzureML-Minimal" in Environment.list(ws)
    run = Experiment(ws, "env-azure").submit(ScriptRunConfig(source_directory=str(src), script="job.py",
                                                             environment=minimal))
    finish(offline, run)
    tutorial = Environment.get(ws, "AzureML-Tutorial")
    assert "scikit-learn==" in tutorial.content and tutorial.spec_type == "pip"
    with pytest.raises(ValueError) as e:
        Environment.get(ws, "AzureML-NoSuchThing-9.9")
    assert "'AzureML-NoSuchThing-9.9' is not a curated environment" in str(e.value)
    assert "AzureML-Minimal" in str(e.value) and "AzureML-sklearn-1.5" in str(e.value)


def test_conda_packages_without_conda_are_installed_with_pip(offline, src):
    ws = Workspace(home=str(offline.home))
    job(src)
    env = Environment("conda-pkgs")
    env.python.conda_dependencies = CondaDependencies.create(conda_packages=["conda-forge::ferrytestpkg=2.0"])
    run = Experiment(ws, "env-azure").submit(ScriptRunConfig(source_directory=str(src), script="job.py",
                                                             environment=env))
    log = finish(offline, run)
    assert "pkg 2.0" in log, log
    assert ("no conda, mamba or micromamba: installing the conda packages conda-forge::ferrytestpkg=2.0 with pip "
            "as ferrytestpkg==2.0.*") in log, log

    # Only conda has it: the run fails naming it, before the script starts.
    env.python.conda_dependencies.add_conda_package("cudatoolkit=11.8")
    run = Experiment(ws, "env-azure").submit(ScriptRunConfig(source_directory=str(src), script="job.py",
                                                             environment=env))
    details = run.wait_for_completion(raise_on_error=False)
    error = offline.run(run.id)["error"]
    assert details["status"] == "Failed" and "cudatoolkit=11.8" in error and "pip cannot install" in error, error
    assert "ferrytestpkg=2.0" not in error.split("(")[1]  # names only what pip cannot install

    # pip does not know it either: the error says the conda packages went to pip.
    env.python.conda_dependencies = CondaDependencies.create(conda_packages=["nosuchpkg-ferry"])
    run = Experiment(ws, "env-azure").submit(ScriptRunConfig(source_directory=str(src), script="job.py",
                                                             environment=env))
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Failed"
    error = offline.run(run.id)["error"]
    assert "nosuchpkg-ferry" in error and "installed with pip under the same names" in error, error


def test_estimator_runs_with_its_packages_and_script_params(offline, src):
    from ferry.train.estimator import Estimator

    ws = Workspace(home=str(offline.home))
    job(src)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        est = Estimator(str(src), entry_script="job.py", compute_target="local",
                        script_params={"--lr": 0.5, "--fast": ""}, pip_packages=["ferrytestpkg==2.0"],
                        environment_variables={"SEED": "7"})
    run = Experiment(ws, "env-azure").submit(est)
    log = finish(offline, run)
    assert "pkg 2.0" in log and "args ['--lr', '0.5', '--fast']" in log, log
