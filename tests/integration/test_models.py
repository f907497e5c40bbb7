"""The model registry in Azure ML's shape against the real server: /api/v1/models registered from
uploaded files and from a run's outputs (from a notebook and from inside the script), the CLI
(`ferry model register|list|show|download|delete`), the SDK (`Model`, `Run.register_model`,
`Model.get_model_path` inside a run), lineage, roles, and errors that name what is wrong."""
import os
import sys
from pathlib import Path

import pytest

from test_runs import write

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from ferry import Model, Run, Workspace  # noqa: E402
from ferry import _snapshot  # noqa: E402
from ferry.exceptions import ConflictError, NotFoundError, PermissionDeniedError  # noqa: E402


def _ws(workspace) -> Workspace:
    return Workspace(url=workspace.url, token=workspace.token)


def _folder(tmp_path: Path, name: str, files: dict) -> Path:
    d = tmp_path / name
    for rel, data in files.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_bytes(data if isinstance(data, bytes) else data.encode())
    return d


def test_rest_registers_versions_lists_filters_updates_and_deletes(workspace, tmp_path):
    ws = _ws(workspace)
    snap = _snapshot.upload(ws._client, _snapshot.build(str(_folder(tmp_path, "m", {"model.pkl": b"v1"})),
                                                        use_ignore_files=False))
    status, v1, _ = workspace.api("POST", "/models", {"name": "clf", "snapshot": snap, "description": "first",
                                                      "tags": {"area": "vision"}, "properties": {"acc": "0.9"}})
    assert status == 201, v1
    assert (v1["name"], v1["version"], v1["id"], v1["file_count"]) == ("clf", 1, "clf:1", 1)
    assert v1["download_uri"] == f"mlflow-artifacts:/_ferry/snapshots/{snap}"
    status, v2, _ = workspace.api("POST", "/models", {"name": "clf", "snapshot": snap})
    assert status == 201 and v2["version"] == 2
    status, other, _ = workspace.api("POST", "/models", {"name": "other", "snapshot": snap,
                                                         "tags": {"area": "nlp"}})
    assert status == 201
    status, listed, _ = workspace.api("GET", "/models")
    assert [(m["name"], m["version"]) for m in listed["models"]] == [("clf", 1), ("clf", 2), ("other", 1)]
    status, latest, _ = workspace.api("GET", "/models?latest=true")
    assert [(m["name"], m["version"]) for m in latest["models"]] == [("clf", 2), ("other", 1)]
    status, tagged, _ = workspace.api("GET", "/models?tag=area%3Dvision")
    assert [m["id"] for m in tagged["models"]] == ["clf:1"]
    status, props, _ = workspace.api("GET", "/models?property=acc")
    assert [m["id"] for m in props["models"]] == ["clf:1"]
    status, got, _ = workspace.api("GET", "/models/clf/latest")
    assert status == 200 and got["version"] == 2 and got["runs"] == []
    status, versions, _ = workspace.api("GET", "/models/clf")
    assert [v["version"] for v in versions["versions"]] == [1, 2]
    status, changed, _ = workspace.api("PATCH", "/models/clf/1", {"add_tags": {"k": "v"}, "remove_tags": ["area"],
                                                                  "add_properties": {"f1": "0.8"}})
    assert status == 200 and changed["tags"] == {"k": "v"} and changed["properties"] == {"acc": "0.9", "f1": "0.8"}
    status, body, _ = workspace.api("PATCH", "/models/clf/1", {"add_properties": {"acc": "0.1"}})
    assert status == 409 and "property 'acc'" in body["error"]["message"], body
    status, files, _ = workspace.api("GET", "/models/clf/1/files")
    assert status == 200 and [f["path"] for f in files["files"]] == ["model.pkl"]
    status, _, _ = workspace.api("DELETE", "/models/clf/2")
    assert status == 200
    status, body, _ = workspace.api("GET", "/models/clf/2")
    assert status == 404 and "model 'clf' has no version 2" in body["error"]["message"]
    status, again, _ = workspace.api("POST", "/models", {"name": "clf", "snapshot": snap})
    assert again["version"] == 3  # a deleted number is not reused


def test_bad_input_names_the_field_the_model_or_the_version(workspace, tmp_path):
    status, body, _ = workspace.api("POST", "/models", {"name": "bad name!", "snapshot": "0" * 64})
    assert status == 400 and "field 'name'" in body["error"]["message"] and "bad name!" in body["error"]["message"]
    status, body, _ = workspace.api("POST", "/models", {"name": "m", "snapshot": "0" * 64})
    assert status == 404 and "snapshot '" + "0" * 64 in body["error"]["message"], body
    status, body, _ = workspace.api("POST", "/models", {"name": "m"})
    assert status == 400 and "'snapshot'" in body["error"]["message"] and "'run_id'" in body["error"]["message"]
    status, body, _ = workspace.api("POST", "/models", {"name": "m", "run_id": "no-such-run", "path": "outputs"})
    assert status == 404 and "no-such-run" in body["error"]["message"], body
    status, body, _ = workspace.api("GET", "/models/nope/latest")
    assert status == 404 and "model 'nope' is not registered" in body["error"]["message"]
    status, body, _ = workspace.api("GET", "/models/nope/x")
    assert status == 400 and "'x'" in body["error"]["message"]
    status, body, _ = workspace.api("GET", "/models/nope")
    assert status == 404 and "'nope'" in body["error"]["message"]


def test_readers_read_models_contributors_register_them(workspace, tmp_path):
    reader = workspace.cli("user", "add", "rita", "--role", "reader").stdout.strip()
    ws = _ws(workspace)
    snap = _snapshot.upload(ws._client, _snapshot.build(str(_folder(tmp_path, "m", {"w": "w"})),
                                                        use_ignore_files=False))
    as_reader = {"Authorization": f"Bearer {reader}"}
    status, body, _ = workspace.api("POST", "/models", {"name": "m", "snapshot": snap}, headers=as_reader,
                                    auth=False)
    assert status == 403 and "contributor" in body["error"]["message"], body
    assert workspace.api("POST", "/models", {"name": "m", "snapshot": snap})[0] == 201
    status, listed, _ = workspace.api("GET", "/models", headers=as_reader, auth=False)
    assert status == 200 and [m["id"] for m in listed["models"]] == ["m:1"]
    assert workspace.api("DELETE", "/models/m/1", headers=as_reader, auth=False)[0] == 403
    with pytest.raises(PermissionDeniedError):
        Model.register(Workspace(url=workspace.url, token=reader), str(tmp_path / "m"), "m")


def test_the_cli_registers_lists_shows_downloads_and_deletes(workspace, tmp_path):
    folder = _folder(tmp_path, "model", {"model.pkl": b"\x80weights", "cfg/params.json": "{}"})
    r = workspace.cli("model", "register", "-n", "cli-model", "-p", str(folder), "--description", "from the cli",
                      "--tag", "k=v", "--property", "acc=0.9")
    assert "registered model cli-model version 1 (2 files)" in r.stdout, r.stdout + r.stderr
    single = _folder(tmp_path, "single", {"weights.bin": b"one"}) / "weights.bin"
    workspace.cli("model", "register", "-n", "cli-model", "-p", str(single))
    listed = workspace.cli_json("model", "list", "-n", "cli-model")
    assert [(m["version"], m["file_count"]) for m in listed] == [(1, 2), (2, 1)]
    assert [m["id"] for m in workspace.cli_json("model", "list", "--tag", "k=v")] == ["cli-model:1"]
    shown = workspace.cli("model", "show", "cli-model:1").stdout
    assert "Version:     1" in shown and "Tag:         k=v" in shown and "Property:    acc=0.9" in shown
    assert workspace.cli_json("model", "show", "cli-model")["version"] == 2
    out = tmp_path / "dl"
    workspace.cli("model", "download", "cli-model:1", "-t", str(out))
    assert (out / "model.pkl").read_bytes() == b"\x80weights" and (out / "cfg/params.json").read_text() == "{}"
    workspace.cli("model", "download", "cli-model", "-t", str(tmp_path / "dl2"))
    assert (tmp_path / "dl2" / "weights.bin").read_bytes() == b"one"
    workspace.cli("model", "delete", "cli-model:2")
    assert [m["version"] for m in workspace.cli_json("model", "list", "-n", "cli-model")] == [1]
    bad = workspace.cli("model", "register", "-n", "x", "-p", str(tmp_path / "nowhere"), check=False)
    assert bad.returncode != 0 and "nowhere' does not exist" in bad.stderr
    bad = workspace.cli("model", "register", "-n", "bad name", "-p", str(folder), check=False)
    assert bad.returncode != 0 and "bad name" in bad.stderr
    bad = workspace.cli("model", "show", "cli-model:7", check=False)
    assert bad.returncode != 0 and "model 'cli-model' has no version 7" in bad.stderr
    bad = workspace.cli("model", "delete", "cli-model", check=False)
    assert bad.returncode != 0 and "cli-model:VERSION" in bad.stderr


def test_the_sdk_registers_gets_lists_downloads_and_changes_models(workspace, tmp_path):
    ws = _ws(workspace)
    single = _folder(tmp_path, "one", {"model.pkl": b"pickle"}) / "model.pkl"
    m1 = Model.register(ws, model_path=str(single), model_name="sdk-model", tags={"k": "v"},
                        properties={"acc": "0.9"}, description="first")
    assert (m1.name, m1.version, m1.id, m1.description) == ("sdk-model", 1, "sdk-model:1", "first")
    assert m1.tags == {"k": "v"} and m1.properties == {"acc": "0.9"} and m1.run_id is None
    assert m1.created_time > 0
    m2 = Model.register(ws, str(_folder(tmp_path, "dir", {"a.txt": "a", "b/c.txt": "c"})), "sdk-model")
    assert Model(ws, "sdk-model").version == 2
    assert Model(ws, name="sdk-model", version=1).description == "first"
    assert Model(ws, id="sdk-model:1").version == 1
    assert Model(ws, "sdk-model", tags=[["k", "v"]]).version == 1
    assert [m.id for m in Model.list(ws, name="sdk-model")] == ["sdk-model:1", "sdk-model:2"]
    assert [m.id for m in Model.list(ws, latest=True)] == ["sdk-model:2"]
    assert [m.id for m in Model.list(ws, properties=["acc"])] == ["sdk-model:1"]
    assert [m.id for m in Model.list(ws, tags=[["k", "v"]])] == ["sdk-model:1"]
    path = m1.download(target_dir=str(tmp_path / "d1"))
    assert Path(path).read_bytes() == b"pickle"
    with pytest.raises(FileExistsError):
        m1.download(target_dir=str(tmp_path / "d1"))
    assert m2.download(target_dir=str(tmp_path / "d2")) == str(tmp_path / "d2")
    assert (tmp_path / "d2" / "b" / "c.txt").read_text() == "c"
    m1.add_tags({"stage": "prod"})
    m1.remove_tags(["k"])
    m1.add_properties({"f1": "0.5"})
    assert Model(ws, "sdk-model", version=1).tags == {"stage": "prod"}
    with pytest.raises(ConflictError):
        m1.add_properties({"acc": "0.1"})
    m2.delete()
    with pytest.raises(NotFoundError) as e:
        Model(ws, "sdk-model", version=2)
    assert "sdk-model" in str(e.value) and "version 2" in str(e.value)
    with pytest.raises(NotFoundError) as e:
        Model(ws, "never-registered")
    assert "never-registered" in str(e.value)
    with pytest.raises(FileNotFoundError):
        Model.register(ws, str(tmp_path / "missing.pkl"), "sdk-model")
    cache = tmp_path / "cache"
    os.environ["XDG_CACHE_HOME"] = str(cache)
    try:
        got = Model.get_model_path("sdk-model", version=1, _workspace=ws)
    finally:
        del os.environ["XDG_CACHE_HOME"]
    assert got == str(cache / "ferry/models/sdk-model/1/model.pkl") and Path(got).read_bytes() == b"pickle"


def test_run_register_model_from_outputs_with_lineage(workspace, src, tmp_path):
    write(src / "train.py", """
        import os
        from ferry import Run
        os.makedirs("outputs/model", exist_ok=True)
        open("outputs/model.pkl", "wb").write(b"trained")
        open("outputs/model/w.bin", "wb").write(b"w")
        Run.get_context().register_model("in-script", model_path="outputs/model", tags={"from": "script"})
    """)
    run_id, _ = workspace.submit(src, "train.py", wait=True)
    ws = _ws(workspace)
    run = Run.get(ws, run_id)
    m = run.register_model("from-run", model_path="outputs/model.pkl", properties={"acc": "0.9"})
    assert (m.name, m.version, m.run_id) == ("from-run", 1, run_id)
    assert Path(m.download(str(tmp_path / "o"))).read_bytes() == b"trained"
    status, got, _ = workspace.api("GET", "/models/from-run/1")
    assert got["runs"] == [{"run_id": run_id, "direction": "output", "as_name": ""}]
    assert got["source"] == f"runs:/{run_id}/outputs/model.pkl"
    inside = Model(ws, "in-script")
    assert inside.run_id == run_id and inside.tags == {"from": "script"}
    assert [f["path"] for f in workspace.api("GET", "/models/in-script/1/files")[1]["files"]] == ["w.bin"]
    with pytest.raises(NotFoundError) as e:
        run.register_model("x", model_path="outputs/nope.pkl")
    assert "no output 'outputs/nope.pkl'" in str(e.value)


def test_a_script_gets_a_models_files_with_get_model_path(workspace, src, tmp_path):
    Model.register(_ws(workspace), str(_folder(tmp_path, "m", {"model.pkl": b"served"}) / "model.pkl"), "served")
    home = tmp_path / "script-home"
    write(src / "use.py", f"""
        import os
        os.environ["XDG_CACHE_HOME"] = {str(home / ".cache")!r}
        from ferry import Model
        p = Model.get_model_path("served")
        print("MODEL", p, open(p, "rb").read().decode())
    """)
    run_id, _ = workspace.submit(src, "use.py", wait=True)
    log = workspace.log(run_id)
    assert f"MODEL {home}/.cache/ferry/models/served/1/model.pkl served" in log, log
    # The run is recorded as the version's user.
    status, got, _ = workspace.api("GET", "/models/served/1")
    assert got["runs"] == [{"run_id": run_id, "direction": "input", "as_name": ""}], got
