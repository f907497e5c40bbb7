"""File dataset versions through the REST API against the real server: registered from uploaded
files (a snapshot), content-addressed (the same files are the same version), versions, ids,
archiving, roles, and errors that name what is wrong."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from ferry import Workspace  # noqa: E402
from ferry import _snapshot  # noqa: E402


def _upload(workspace, folder: Path) -> str:
    ws = Workspace(url=workspace.url, token=workspace.token)
    return _snapshot.upload(ws._client, _snapshot.build(str(folder)))


def _files(tmp_path: Path, name: str, files: dict) -> Path:
    d = tmp_path / name
    for rel, text in files.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text(text)
    return d


def test_the_same_files_are_the_same_version_other_files_a_new_one(workspace, tmp_path):
    v1_snap = _upload(workspace, _files(tmp_path, "v1", {"train.csv": "a,b\n1,2\n", "sub/x.txt": "x"}))
    status, v1, _ = workspace.api("POST", "/datasets", {"name": "iris", "snapshot": v1_snap,
                                                        "description": "first", "tags": {"split": "train"}})
    assert status == 201, v1
    assert (v1["version"], v1["created"], v1["kind"], v1["datastore"]) == (1, True, "file", "workspaceblobstore")
    assert (v1["file_count"], v1["total_bytes"]) == (2, len("a,b\n1,2\n") + 1)
    assert v1["tags"] == {"split": "train"} and v1["manifest"] == v1_snap
    # The same files again (even from another folder): version 1, not a new one.
    same = _upload(workspace, _files(tmp_path, "copy", {"train.csv": "a,b\n1,2\n", "sub/x.txt": "x"}))
    status, again, _ = workspace.api("POST", "/datasets", {"name": "iris", "snapshot": same,
                                                           "create_new_version": True})
    assert status == 200 and again["version"] == 1 and again["created"] is False, again
    # Other files: refused without create_new_version, version 2 with it.
    v2_snap = _upload(workspace, _files(tmp_path, "v2", {"train.csv": "a,b\n1,2\n3,4\n"}))
    status, body, _ = workspace.api("POST", "/datasets", {"name": "iris", "snapshot": v2_snap})
    assert status == 409 and "create_new_version" in body["error"]["message"], body
    status, v2, _ = workspace.api("POST", "/datasets", {"name": "iris", "snapshot": v2_snap,
                                                        "create_new_version": True})
    assert status == 201 and v2["version"] == 2, v2

    status, latest, _ = workspace.api("GET", "/datasets/iris/latest")
    assert status == 200 and latest["version"] == 2 and latest["runs"] == []
    status, first, _ = workspace.api("GET", "/datasets/iris/1")
    assert first["id"] == v1["id"] and first["description"] == "first"
    status, by_id, _ = workspace.api("GET", f"/datasets/by-id/{v2['id']}")
    assert status == 200 and (by_id["name"], by_id["version"]) == ("iris", 2)
    status, versions, _ = workspace.api("GET", "/datasets/iris")
    assert [v["version"] for v in versions["versions"]] == [1, 2]
    status, listed, _ = workspace.api("GET", "/datasets")
    assert [(d["name"], d["version"]) for d in listed["datasets"]] == [("iris", 2)]


def test_archived_versions_leave_listings_but_stay_readable(workspace, tmp_path):
    snap = _upload(workspace, _files(tmp_path, "d", {"f.bin": "1"}))
    assert workspace.api("POST", "/datasets", {"name": "old", "snapshot": snap})[0] == 201
    status, body, _ = workspace.api("POST", "/datasets/old/archive")
    assert status == 200 and body["archived"] is True, body
    assert workspace.api("GET", "/datasets")[1]["datasets"] == []
    assert [d["name"] for d in workspace.api("GET", "/datasets?include_archived=true")[1]["datasets"]] == ["old"]
    status, v, _ = workspace.api("GET", "/datasets/old/1")
    assert status == 200 and v["archived"] is True
    assert workspace.api("POST", "/datasets/old/reactivate?version=1")[0] == 200
    assert [d["name"] for d in workspace.api("GET", "/datasets")[1]["datasets"]] == ["old"]
    status, body, _ = workspace.api("POST", "/datasets/old/archive?version=7")
    assert status == 404 and "dataset 'old' version 7" in body["error"]["message"], body
    status, body, _ = workspace.api("POST", "/datasets/old/archive?version=x")
    assert status == 400 and "'x'" in body["error"]["message"], body


def test_bad_registrations_name_the_field_and_change_nothing(workspace, tmp_path):
    snap = _upload(workspace, _files(tmp_path, "d", {"f.txt": "1"}))
    cases = [
        ({"name": "bad name", "snapshot": snap}, 400, "dataset name 'bad name'"),
        ({"name": "ok", "snapshot": "0" * 64}, 404, "snapshot '" + "0" * 64 + "' is not stored"),
        ({"name": "ok"}, 400, "either 'paths'"),
        ({"name": "ok", "snapshot": snap, "paths": [{"path": "x"}]}, 400, "not both"),
        ({"name": "ok", "snapshot": snap, "kind": "tabular"}, 400, "field 'definition.format'"),
        ({"name": "ok", "snapshot": snap, "kind": "table"}, 400, "field 'kind': 'table'"),
        ({"name": "ok", "paths": [{"path": "nothing/**/*.csv"}]}, 404,
         "nothing in datastore 'workspaceblobstore' matches 'nothing/**/*.csv'"),
        ({"name": "ok", "paths": [{"path": "../etc/passwd"}]}, 400, "paths[0].path"),
        ({"name": "ok", "paths": [{"datastore": "nope", "path": "x"}]}, 404, "datastore 'nope'"),
        ({"name": "ok", "paths": []}, 400, "field 'paths'"),
        ({"name": "ok", "snapshot": snap, "tags": "x"}, 400, "tags"),
        ({"name": "ok", "snapshot": snap, "create_new_version": "yes"}, 400, "create_new_version"),
        ({"name": "ok", "snapshot": snap, "definition": []}, 400, "field 'definition'"),
    ]
    for body, code, words in cases:
        status, answer, _ = workspace.api("POST", "/datasets", body)
        assert status == code and words in answer["error"]["message"], (body, answer)
    assert workspace.api("GET", "/datasets?include_archived=1")[1]["datasets"] == []
    for path, words in (("/datasets/nope", "dataset 'nope' is not registered"),
                        ("/datasets/nope/latest", "dataset 'nope' is not registered"),
                        ("/datasets/by-id/abc", "no dataset version has id 'abc'"),
                        ("/datasets/nope/0", "positive integer or 'latest'")):
        status, answer, _ = workspace.api("GET", path)
        assert status in (400, 404) and words in answer["error"]["message"], (path, answer)


def test_readers_read_datasets_contributors_register_them(workspace, tmp_path):
    snap = _upload(workspace, _files(tmp_path, "d", {"f.txt": "1"}))
    reader = workspace.cli("user", "add", "rita", "--role", "reader").stdout.strip()
    contributor = workspace.cli("user", "add", "carl", "--role", "contributor").stdout.strip()
    status, body, _ = workspace.api("POST", "/datasets", {"name": "r", "snapshot": snap},
                                    headers={"Authorization": f"Bearer {reader}"}, auth=False)
    assert status == 403, body
    status, body, _ = workspace.api("POST", "/datasets", {"name": "c", "snapshot": snap},
                                    headers={"Authorization": f"Bearer {contributor}"}, auth=False)
    assert status == 201 and body["created_by"] == "carl", body
    status, body, _ = workspace.api("GET", "/datasets/c/1", headers={"Authorization": f"Bearer {reader}"},
                                    auth=False)
    assert status == 200 and body["name"] == "c"


def test_the_sdk_uploads_registers_and_gets_datasets_with_azures_names(workspace, tmp_path):
    from ferry import Dataset
    from ferry.exceptions import ConflictError, NotFoundError

    ws = Workspace(url=workspace.url, token=workspace.token)
    data = _files(tmp_path, "data", {"a.csv": "x\n1\n", "b/c.csv": "x\n2\n", ".gitignore": "*.csv\n"})
    ds = ws.get_default_datastore()
    files = Dataset.File.upload_directory(str(data), target=(ds, "iris"))
    assert files.name is None
    iris = files.register(ws, "iris", description="measurements", tags={"split": "train"})
    # Data, not code: what a .gitignore leaves out is still part of the dataset.
    assert (iris.name, iris.version, iris.file_count) == ("iris", 1, 3)
    assert iris.description == "measurements" and iris.tags == {"split": "train"}
    # The same upload again is the same version; changed files need create_new_version.
    again = Dataset.File.upload_directory(str(data), target=(ds, "iris")).register(ws, "iris")
    assert again.version == 1 and again.id == iris.id
    (data / "a.csv").write_text("x\n1\n3\n")
    # Other content at a path of the datastore: refused, naming it, unless overwrite.
    with pytest.raises(ConflictError, match="iris/a.csv"):
        Dataset.File.upload_directory(str(data), target=(ds, "iris"))
    changed = Dataset.File.upload_directory(str(data), target=(ds, "iris"), overwrite=True)
    with pytest.raises(ConflictError, match="create_new_version"):
        changed.register(ws, "iris")
    v2 = changed.register(ws, "iris", create_new_version=True)
    assert v2.version == 2
    assert Dataset.get_by_name(ws, "iris").version == 2
    assert Dataset.get_by_name(ws, "iris", version=1).id == iris.id
    assert Dataset.get_by_id(ws, v2.id).version == 2
    assert list(ws.datasets) == ["iris"]
    v2.archive()
    assert ws.datasets == {} and Dataset.get_by_name(ws, "iris", 2).is_archived
    v2.reactivate()
    assert list(ws.datasets) == ["iris"]
    with pytest.raises(NotFoundError, match="dataset 'nope'"):
        Dataset.get_by_name(ws, "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds no files"):
        Dataset.File.upload_directory(str(empty), target=(ds, "x"))
    (tmp_path / "shared").mkdir()
    from ferry.datastore import Datastore
    other = Datastore.register_directory(ws, "shared", str(tmp_path / "shared"))
    on_disk = Dataset.File.upload_directory(str(data), target=(other, "x"))
    assert (tmp_path / "shared" / "x" / "b" / "c.csv").read_text() == "x\n2\n"
    assert sorted(on_disk.to_path()) == ["/.gitignore", "/a.csv", "/b/c.csv"]


def test_the_cli_lists_shows_and_archives_versions(workspace, tmp_path):
    snap = _upload(workspace, _files(tmp_path, "d", {"f.txt": "12345"}))
    workspace.api("POST", "/datasets", {"name": "logs", "snapshot": snap, "description": "raw logs",
                                        "tags": {"team": "a"}})
    listed = workspace.cli("dataset", "list").stdout
    assert "logs" in listed and "raw logs" in listed and "5 B" in listed, listed
    shown = workspace.cli("dataset", "show", "logs").stdout
    assert "Version:     1" in shown and "Files:       1 (5 B)" in shown and "Tag:         team=a" in shown, shown
    assert workspace.cli_json("dataset", "show", "logs", "-v", "1")["manifest"] == snap
    assert "archived logs version 1" in workspace.cli("dataset", "archive", "logs", "-v", "1").stdout
    assert "logs" not in workspace.cli("dataset", "list").stdout
    assert "(archived)" in workspace.cli("dataset", "list", "--include-archived").stdout
    assert "reactivated logs (every version)" in workspace.cli("dataset", "reactivate", "logs").stdout
    r = workspace.cli("dataset", "show", "logs", "-v", "9", check=False)
    assert r.returncode != 0 and "dataset 'logs' version 9 is not registered" in r.stderr, r.stderr


def test_the_cli_registers_a_directory_and_the_same_files_again_are_the_same_version(workspace, tmp_path):
    data = _files(tmp_path, "data", {"img/1.png": "P1", "img/2.png": "P2", ".gitignore": "img/\n"})
    r = workspace.cli("dataset", "register", "images", "--path", str(data), "--description", "pngs",
                      "--tag", "source=camera")
    assert "registered dataset images version 1 (3 files)" in r.stdout, r.stdout
    shown = workspace.cli_json("dataset", "show", "images")
    assert shown["tags"] == {"source": "camera"} and shown["file_count"] == 3
    r = workspace.cli("dataset", "register", "images", "--path", str(data))
    assert "has these files already; nothing registered" in r.stdout, r.stdout
    (data / "img" / "3.png").write_text("P3")
    r = workspace.cli("dataset", "register", "images", "--path", str(data), check=False)
    assert r.returncode != 0 and "create_new_version" in r.stderr, r.stderr
    r = workspace.cli("dataset", "register", "images", "--path", str(data), "--new-version")
    assert "registered dataset images version 2 (4 files)" in r.stdout, r.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    r = workspace.cli("dataset", "register", "nothing", "--path", str(empty), check=False)
    assert r.returncode != 0 and "holds no files" in r.stderr, r.stderr
    r = workspace.cli("dataset", "register", "x", "--path", str(data), "--tag", "novalue", check=False)
    assert r.returncode != 0 and "--tag 'novalue': expected KEY=VALUE" in r.stderr, r.stderr
    assert [v["version"] for v in workspace.api("GET", "/datasets/images")[1]["versions"]] == [1, 2]
