"""Workspace.from_config and Azure's workspace identity, without a server: which config file is
found (Ferry's .ferry/config.json, Azure's .azureml/, aml_config/ and plain config.json, upwards),
how an Azure workspace name is mapped to a Ferry workspace ($FERRY_WORKSPACES,
~/.ferry/workspaces.json), the notice when it is not, and write_config's round trip.
Workspaces here are URL workspaces (nothing is contacted until a call is made)."""

from __future__ import annotations

import json
import os

import pytest

from ferry import Workspace
from ferry.exceptions import ComputeTargetException, FerryError, UserErrorException, WorkspaceException

AZURE = {"subscription_id": "0000-sub", "resource_group": "rg-ml", "workspace_name": "aml-ws"}


@pytest.fixture
def mapped(tmp_path, monkeypatch):
    """A mapping file naming aml-ws as a URL workspace with a token file."""
    token = tmp_path / "token"
    token.write_text("tok-123\n")
    mapping = tmp_path / "workspaces.json"
    mapping.write_text(json.dumps({"aml-ws": {"url": "http://ferry.example.org:8765", "token_file": str(token)}}))
    monkeypatch.setenv("FERRY_WORKSPACES", str(mapping))
    return mapping


def write(path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("where", [".azureml/config.json", "aml_config/config.json", "config.json"])
def test_azure_config_json_is_found_from_a_subfolder_and_mapped(tmp_path, monkeypatch, mapped, where):
    project = tmp_path / "project"
    write(project / where, AZURE)
    deep = project / "notebooks" / "week1"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    ws = Workspace.from_config()
    assert ws.url == "http://ferry.example.org:8765" and ws._token == "tok-123"
    assert (ws.name, ws.subscription_id, ws.resource_group) == ("aml-ws", "0000-sub", "rg-ml")
    assert ws.location == "ferry.example.org"
    d = ws.get_details()
    assert d["name"] == "aml-ws" and d["location"] == "ferry.example.org" and d["resourceGroup"] == "rg-ml"
    assert d["subscriptionId"] == "0000-sub" and d["discoveryUrl"] == ws.url and d["sku"] == ws.sku == "basic"
    assert ws.tags == {}


def test_search_order_is_azures_azureml_before_a_plain_config_json_above_it(tmp_path, monkeypatch):
    # The mapping may be the JSON itself.
    monkeypatch.setenv("FERRY_WORKSPACES", json.dumps({"aml-ws": {"url": "http://a:1"}, "other": {"url": "http://b:2"}}))
    monkeypatch.setenv("FERRY_TOKEN", "t")
    write(tmp_path / ".azureml/config.json", AZURE)
    write(tmp_path / "sub/config.json", {**AZURE, "workspace_name": "other"})
    monkeypatch.chdir(tmp_path / "sub")
    # Azure looks for .azureml/config.json upwards first, then aml_config, then config.json.
    assert Workspace.from_config().name == "aml-ws"
    assert Workspace.from_config(path=str(tmp_path / "sub" / "config.json")).name == "other"


def test_path_and_file_name_and_azures_scope_form(tmp_path, mapped):
    write(tmp_path / "cfg" / ".azureml" / "ws.json",
          {"Scope": "/subscriptions/s1/resourceGroups/g1/providers/Microsoft.MachineLearningServices/workspaces/aml-ws"})
    ws = Workspace.from_config(path=str(tmp_path / "cfg"), _file_name="ws.json")
    assert (ws.subscription_id, ws.resource_group, ws.name) == ("s1", "g1", "aml-ws")


def test_unmapped_name_uses_the_local_workspace_with_a_one_line_notice(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "token").write_text("local-token\n")
    (home / "server.json").write_text(json.dumps({"url": "http://127.0.0.1:1"}))
    monkeypatch.setenv("FERRY_HOME", str(home))
    monkeypatch.setenv("FERRY_WORKSPACES", json.dumps({"someone-else": {"home": "/nowhere"}}))
    monkeypatch.setattr("ferry.workspace._local_server", lambda h, start: "http://127.0.0.1:1")
    write(tmp_path / "proj" / "config.json", {**AZURE, "workspace_name": "never-mapped"})
    ws = Workspace.from_config(path=str(tmp_path / "proj"))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'never-mapped' is not mapped" in err and "FERRY_WORKSPACES" in err, err
    assert ws.home == str(home) and ws._token == "local-token" and ws.location == "local"
    assert ws.name == "never-mapped" and ws.resource_group == "rg-ml"
    Workspace("s", "g", "never-mapped")  # the notice is said once per name
    assert capsys.readouterr().err == ""


def test_positional_azure_construction_get_and_case_insensitive_names(mapped):
    ws = Workspace("0000-sub", "rg-ml", "aml-ws")
    assert ws.url == "http://ferry.example.org:8765" and ws.subscription_id == "0000-sub"
    assert Workspace.get("AML-WS", subscription_id="x").url == ws.url
    assert Workspace(subscription_id="a", resource_group="b", workspace_name="aml-ws").resource_group == "b"
    with pytest.raises(UserErrorException, match="resource ids do not exist"):
        Workspace.get("aml-ws", id="/subscriptions/x")
    # Ferry's own spellings still work: a URL workspace has no Azure identity.
    plain = Workspace(url="http://10.1.2.3:9000", token="t")
    assert (plain.subscription_id, plain.resource_group, plain.name, plain.location) == ("", "", "10.1.2.3", "10.1.2.3")


def test_mapping_errors_name_the_file_and_what_to_write(tmp_path, monkeypatch):
    bad = tmp_path / "m.json"
    bad.write_text("{not json")
    monkeypatch.setenv("FERRY_WORKSPACES", str(bad))
    with pytest.raises(FerryError, match=r"m\.json is not valid JSON"):
        Workspace("s", "g", "aml-ws")
    bad.write_text(json.dumps({"aml-ws": {"tokenfile": "x"}}))
    with pytest.raises(FerryError, match='neither "home" nor "url"'):
        Workspace("s", "g", "aml-ws")
    monkeypatch.setenv("FERRY_WORKSPACES", str(tmp_path / "missing.json"))
    with pytest.raises(FerryError, match="does not exist"):
        Workspace("s", "g", "aml-ws")
    write(tmp_path / "p" / "config.json", {"workspace_name": "w"})
    with pytest.raises(FerryError, match="'subscription_id', 'resource_group'"):
        Workspace.from_config(str(tmp_path / "p"))


def test_write_config_round_trips_and_create_says_how_workspaces_are_made(tmp_path, mapped):
    ws = Workspace("0000-sub", "rg-ml", "aml-ws")
    path = ws.write_config(path=str(tmp_path))
    assert path == str(tmp_path / ".azureml" / "config.json")
    data = json.loads(open(path).read())
    assert {k: data[k] for k in AZURE} == AZURE and data["url"] == ws.url
    assert Workspace.from_config(str(tmp_path)).url == ws.url
    (tmp_path / "old" / "aml_config").mkdir(parents=True)
    assert ws.write_config(str(tmp_path / "old"), "team").endswith(os.path.join("aml_config", "team.json"))
    with pytest.raises(WorkspaceException, match="ferry server --home"):
        Workspace.create("brand-new", subscription_id="s", resource_group="g", location="westeurope")
    assert Workspace.create("aml-ws", exist_ok=True, subscription_id="s").url == ws.url


def test_compute_lookups_need_a_workspace_and_refuse_resource_ids():
    from ferry import AmlCompute, ComputeInstance, RemoteCompute

    with pytest.raises(ComputeTargetException, match="give the workspace"):
        AmlCompute(None, "cpu")
    with pytest.raises(ComputeTargetException, match="resource ids do not exist"):
        RemoteCompute.attach_configuration(resource_id="/subscriptions/s/vm")
    with pytest.raises(ComputeTargetException, match="vm_size"):
        ComputeInstance.provisioning_configuration()
    with pytest.raises(ComputeTargetException, match="vm_priority 'spot'"):
        AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", vm_priority="spot")
    with pytest.warns(UserWarning, match="vnet_name, subnet_name accepted and ignored"):
        cfg = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=3, vnet_name="v",
                                                    subnet_name="s", vm_priority="lowpriority")
    assert cfg == {"kind": "cluster", "vm_size": "STANDARD_D2_V2", "min_nodes": 0, "max_nodes": 3,
                   "idle_seconds_before_scaledown": 1800, "priority": "low"}
