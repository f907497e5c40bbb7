"""Datastores against the real server: the built-in workspaceblobstore, directory datastores
registered through the CLI, the REST API and the SDK (Azure's Datastore shapes), roles, and the
errors that name what is wrong."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from ferry import Workspace  # noqa: E402
from ferry.datastore import Datastore  # noqa: E402
from ferry.exceptions import ConflictError, InvalidArgumentError, NotFoundError, PermissionDeniedError  # noqa: E402


def test_the_workspace_blob_store_is_always_there_and_the_default(workspace):
    status, body, _ = workspace.api("GET", "/datastores")
    assert status == 200, body
    assert [d["name"] for d in body["datastores"]] == ["workspaceblobstore"]
    assert body["datastores"][0]["kind"] == "blob" and body["datastores"][0]["default"] is True
    ws = Workspace(url=workspace.url, token=workspace.token)
    default = ws.get_default_datastore()
    assert default.name == "workspaceblobstore" and default.is_default
    # Azure's blob datastore attributes, which notebooks print.
    assert (default.datastore_type, default.account_name, default.container_name) == \
        ("blob", ws.name, "workspaceblobstore")
    status, body, _ = workspace.api("DELETE", "/datastores/workspaceblobstore")
    assert status == 409 and "cannot be deleted" in body["error"]["message"], body
    status, body, _ = workspace.api("POST", "/datastores",
                                    {"name": "workspaceblobstore", "kind": "directory", "path": "/tmp"})
    assert status == 409, body


def test_a_directory_datastore_through_cli_api_and_sdk(workspace, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    r = workspace.cli("datastore", "register", "shared_data", "--path", str(data),
                      "--mount", "hpc=/shared/data")
    assert "registered datastore shared_data" in r.stdout
    shown = workspace.cli_json("datastore", "show", "shared_data")
    assert shown["kind"] == "directory" and shown["path"] == str(data)
    assert shown["mounts"] == {"hpc": "/shared/data"}
    assert shown["default"] is False
    listed = workspace.cli("datastore", "list").stdout
    assert "workspaceblobstore" in listed and str(data) in listed

    ws = Workspace(url=workspace.url, token=workspace.token)
    assert set(ws.datastores) == {"workspaceblobstore", "shared_data"}
    ds = Datastore.get(ws, "shared_data")
    assert ds.datastore_type == "directory" and ds.path_on_server == str(data)
    other = tmp_path / "other"
    other.mkdir()
    made = Datastore.register_directory(ws, "other_dir", str(other))
    assert made.mounts == {} and "other_dir" in ws.datastores
    made.unregister()
    with pytest.raises(NotFoundError, match="'other_dir'"):
        Datastore.get(ws, "other_dir")
    r = workspace.cli("datastore", "delete", "shared_data")
    assert "deleted datastore shared_data" in r.stdout
    r = workspace.cli("datastore", "show", "shared_data", check=False)
    assert r.returncode != 0 and "datastore 'shared_data' does not exist" in r.stderr, r.stderr


def test_bad_registrations_name_the_field_and_value(workspace, tmp_path):
    ws = Workspace(url=workspace.url, token=workspace.token)
    with pytest.raises(InvalidArgumentError, match="datastore name 'has-dash'"):
        Datastore.register_directory(ws, "has-dash", str(tmp_path))
    with pytest.raises(InvalidArgumentError, match="field 'path': 'relative/dir' is not an absolute path"):
        Datastore.register_directory(ws, "rel", "relative/dir")
    with pytest.raises(InvalidArgumentError, match="is not a directory on the server's machine"):
        Datastore.register_directory(ws, "missing", str(tmp_path / "nope"))
    with pytest.raises(InvalidArgumentError, match="field 'mounts': target 'hpc'"):
        Datastore.register_directory(ws, "m", str(tmp_path), mounts={"hpc": "shared"})
    status, body, _ = workspace.api("POST", "/datastores", {"name": "s3ish", "kind": "s4", "path": "/tmp"})
    assert status == 400 and "field 'kind': 's4' cannot be registered" in body["error"]["message"], body
    r = workspace.cli("datastore", "register", "x", "--path", str(tmp_path), "--mount", "nopath", check=False)
    assert r.returncode != 0 and "--mount 'nopath': expected TARGET=PATH" in r.stderr, r.stderr
    Datastore.register_directory(ws, "twice", str(tmp_path))
    with pytest.raises(ConflictError, match="datastore 'twice' already exists"):
        Datastore.register_directory(ws, "twice", str(tmp_path))
    assert set(ws.datastores) == {"workspaceblobstore", "twice"}  # nothing half-registered


def test_only_admins_register_and_delete_datastores_everyone_reads_them(workspace, tmp_path):
    reader = workspace.cli("user", "add", "rita", "--role", "reader").stdout.strip()
    contributor = workspace.cli("user", "add", "carl", "--role", "contributor").stdout.strip()
    for token in (reader, contributor):
        ws = Workspace(url=workspace.url, token=token)
        assert "workspaceblobstore" in ws.datastores
        with pytest.raises(PermissionDeniedError):
            Datastore.register_directory(ws, "mine", str(tmp_path))
    Datastore.register_directory(Workspace(url=workspace.url, token=workspace.token), "team", str(tmp_path))
    with pytest.raises(PermissionDeniedError):
        Datastore.get(Workspace(url=workspace.url, token=contributor), "team").unregister()
    assert "team" in Workspace(url=workspace.url, token=reader).datastores


def test_an_admin_makes_another_datastore_the_default(workspace, tmp_path, src):
    data = tmp_path / "lake"
    data.mkdir()
    ws = Workspace(url=workspace.url, token=workspace.token)
    lake = Datastore.register_directory(ws, "lake", str(data))
    assert not lake.is_default
    ws.set_default_datastore("lake")
    default = ws.get_default_datastore()
    assert default.name == "lake" and default.is_default
    assert not Datastore.get(ws, "workspaceblobstore").is_default
    assert "(default)" in [line for line in workspace.cli("datastore", "list").stdout.splitlines()
                           if line.startswith("lake")][0]
    # The default cannot be deleted while it is the default.
    with pytest.raises(ConflictError, match="'lake' is the workspace's default; make another the default first"):
        lake.unregister()
    # A run's output that names no datastore goes to the default.
    from ferry import Experiment, ScriptRunConfig
    from ferry.data import OutputFileDatasetConfig

    (src / "out.py").write_text("import os, sys\nos.makedirs(sys.argv[1], exist_ok=True)\n"
                                "open(os.path.join(sys.argv[1], 'r.txt'), 'w').write('in the lake')\n")
    run = Experiment(ws, "lake").submit(ScriptRunConfig(source_directory=str(src), script="out.py",
                                                        arguments=[OutputFileDatasetConfig(name="result")]))
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed", workspace.log(run.id)
    assert workspace.run(run.id)["outputs"][0]["datastore"] == "lake"
    assert [p.read_text() for p in data.rglob("r.txt")] == ["in the lake"]
    # Back to the workspace's own store, by the CLI; missing names are refused.
    r = workspace.cli("datastore", "set-default", "workspaceblobstore")
    assert "default datastore is now workspaceblobstore" in r.stdout
    assert ws.get_default_datastore().name == "workspaceblobstore"
    r = workspace.cli("datastore", "set-default", "nowhere", check=False)
    assert r.returncode != 0 and "datastore 'nowhere' does not exist" in r.stderr, r.stderr
    lake.unregister()
