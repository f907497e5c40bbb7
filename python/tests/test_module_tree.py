"""Azure's module paths with ``azureml`` renamed to ``ferry`` (docs/azure-compat.md)."""

import importlib
import json
import os
import subprocess
import sys

import pytest

import ferry
import ferry.hyperdrive
from ferry import exceptions

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON_DIR = os.path.join(ROOT, "python")


def _tree_modules():
    with open(os.path.join(ROOT, "docs", "azure-api-1.61.json")) as f:
        api = json.load(f)
    return sorted("ferry" + m[len("azureml"):] for m in api)


def test_every_exported_name_of_the_tree_resolves():
    # Each name a tree module lists must load: a mapping to a class that moved fails here.
    checked = 0
    for path in _tree_modules():
        try:
            mod = importlib.import_module(path)
        except ModuleNotFoundError:
            continue  # not built yet: docs/azure-compat.md lists it as missing
        for name in getattr(mod, "__all__", []):
            assert getattr(mod, name) is not None, f"{path}.{name}"
            checked += 1
    assert checked > 50


def test_azure_and_ferry_paths_name_the_same_objects():
    from ferry.core import Environment, Experiment, RunConfiguration, ScriptRunConfig, Workspace
    from ferry.core.compute import AmlCompute, ComputeTarget
    from ferry.core.compute_target import ComputeTargetException
    from ferry.core.runconfig import MpiConfiguration
    from ferry.train.hyperdrive import BanditPolicy, choice

    assert Workspace is ferry.Workspace and Experiment is ferry.Experiment
    assert ScriptRunConfig is ferry.ScriptRunConfig and Environment is ferry.Environment
    assert RunConfiguration is ferry.RunConfiguration and ComputeTarget is ferry.ComputeTarget
    assert AmlCompute is ferry.AmlCompute and BanditPolicy is ferry.BanditPolicy
    assert ComputeTargetException is exceptions.ComputeTargetException is ferry.ComputeTargetException
    assert MpiConfiguration is importlib.import_module("ferry.script_run_config").MpiConfiguration
    assert choice("a", "b") == ferry.hyperdrive.choice("a", "b")


def test_unknown_names_are_attribute_errors_naming_the_module():
    import ferry.core.runconfig as rc

    with pytest.raises(AttributeError, match="ferry.core.runconfig.*NoSuchThing"):
        rc.NoSuchThing  # noqa: B018
    with pytest.raises(ImportError):
        exec("from ferry.core import NoSuchThing", {})


def test_every_azure_exception_is_a_ferry_error():
    for name in ("ComputeTargetException", "WorkspaceException", "ActivityFailedException",
                 "ModelNotFoundException", "UserErrorException", "AuthenticationException"):
        cls = getattr(exceptions, name)
        assert issubclass(cls, exceptions.FerryError) and issubclass(cls, exceptions.AzureMLException)
    assert issubclass(exceptions.ModelNotFoundException, exceptions.NotFoundError)
    assert isinstance(exceptions.error_for("run failed", 0, "RunFailed"), exceptions.ActivityFailedException)


def test_importing_the_tree_loads_no_sdk_module():
    # `from ferry.core import Workspace` must stay cheap: the tree maps names, the classes load
    # on first use, and nothing heavy (json, urllib, the HTTP client) comes with the import.
    code = ("import sys; import ferry.core, ferry.core.runconfig, ferry.train.hyperdrive; "
            "print(sorted(m for m in sys.modules if m.startswith('ferry')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": PYTHON_DIR})
    loaded = eval(out.stdout)  # noqa: S307 - our own print of a list of strings
    assert "ferry._client" not in loaded and "ferry.workspace" not in loaded, loaded


def test_telemetry_records_the_choice_and_sends_nothing(tmp_path, capsys):
    from ferry import telemetry

    path = str(tmp_path / "diagnostics.json")
    assert telemetry.get_diagnostics_collection_info(path=path)["send_diagnostics"] is False
    telemetry.set_diagnostics_collection(send_diagnostics=True, path=path)
    assert telemetry.get_diagnostics_collection_info(path=path) == {
        "send_diagnostics": True, "diagnostics_verbosity": "INFO"}
    assert "sends no telemetry" in capsys.readouterr().out
    with pytest.raises(exceptions.UserErrorException, match="verbosity"):
        telemetry.set_diagnostics_collection(verbosity="LOUD", path=path)


def test_azures_module_constants_and_get_run(monkeypatch):
    from ferry.core.experiment import DEFAULT_GPU_IMAGE
    from ferry.core.run import OUTPUTS_DIR, get_run
    from ferry.core.workspace import WORKSPACE_DEFAULT_BLOB_STORE_NAME
    from ferry.data.dataset_consumption_config import DOWNLOAD_MODE, MOUNT_MODE, DatasetConsumptionConfig
    from ferry.run import Run
    from ferry.run_configuration import DEFAULT_GPU_IMAGE as image

    assert OUTPUTS_DIR == "./outputs" and WORKSPACE_DEFAULT_BLOB_STORE_NAME == "workspaceblobstore"
    assert DEFAULT_GPU_IMAGE == image
    assert DatasetConsumptionConfig("x", None, MOUNT_MODE).mode == "mount" and DOWNLOAD_MODE == "download"
    # get_run asks the experiment's workspace for the run.
    seen = []
    monkeypatch.setattr(Run, "get", classmethod(lambda cls, ws, run_id: seen.append((ws, run_id)) or "run"))
    experiment = type("Experiment", (), {"workspace": "ws"})()
    assert get_run(experiment, "r-1") == "run" and seen == [("ws", "r-1")]
