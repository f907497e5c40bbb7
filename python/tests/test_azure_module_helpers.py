"""Azure's module-level helpers that need no server: telemetry properties,
AzureMLTokenAuthentication.create and script_run_config.get_run_config_from_script_run."""

import pytest

from ferry.core import ScriptRunConfig
from ferry.core.authentication import AzureMLTokenAuthentication
from ferry.core.runconfig import RunConfiguration
from ferry.core.script_run_config import get_run_config_from_script_run
from ferry.exceptions import UserErrorException
import ferry.telemetry as telemetry


def test_diagnostics_properties_are_kept_in_the_process():
    telemetry.set_diagnostics_properties({"team": "risk"})
    telemetry.add_diagnostics_properties({"notebook": "train.ipynb"})
    assert telemetry.global_diagnostics_properties == {"team": "risk", "notebook": "train.ipynb"}
    telemetry.set_diagnostics_properties({})
    assert telemetry.global_diagnostics_properties == {}
    with pytest.raises(UserErrorException, match="must be a dict"):
        telemetry.add_diagnostics_properties(["team"])


def test_token_authentication_create_is_the_constructor():
    auth = AzureMLTokenAuthentication.create("fu_token", None, "http://box:8765", "sub", "rg", "ws", "exp", "run_1")
    assert isinstance(auth, AzureMLTokenAuthentication)
    assert auth.token == "fu_token"
    assert (auth.host, auth.workspace_name, auth.run_id) == ("http://box:8765", "ws", "run_1")
    assert auth.get_authentication_header() == AzureMLTokenAuthentication("fu_token").get_authentication_header()


def test_run_config_from_script_run_is_a_filled_copy(tmp_path):
    (tmp_path / "train.py").write_text("print(1)\n")
    rc = RunConfiguration()
    rc.target = "gpu-box"
    src = ScriptRunConfig(source_directory=str(tmp_path), script="train.py", arguments=["--lr", 0.1], run_config=rc)
    out = get_run_config_from_script_run(src)
    assert (out.script, out.arguments, out.target) == ("train.py", ["--lr", "0.1"], "gpu-box")
    assert out is not src.run_config
    out.target = "elsewhere"
    assert src.run_config.target == "gpu-box"
    with pytest.raises(TypeError, match="takes a ScriptRunConfig"):
        get_run_config_from_script_run(rc)
