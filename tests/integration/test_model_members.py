"""Azure's Model members against a real server: update_tags_properties in one change, and
serialize / deserialize (a registered version written to JSON and read back)."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from ferry import Model, Workspace  # noqa: E402
from ferry.exceptions import ConflictError  # noqa: E402


def _ws(workspace) -> Workspace:
    return Workspace(url=workspace.url, token=workspace.token)


def _register(ws, tmp_path, **kw) -> Model:
    d = tmp_path / "model"
    d.mkdir(exist_ok=True)
    (d / "model.pkl").write_bytes(b"weights")
    return Model.register(ws, str(d), "clf", **kw)


def test_update_tags_properties_is_one_change(workspace, tmp_path):
    ws = _ws(workspace)
    m = _register(ws, tmp_path, tags={"area": "vision", "old": "x"})
    m.update_tags_properties(add_tags={"stage": "candidate"}, remove_tags="old", add_properties={"acc": "0.93"})
    assert (m.tags, m.properties) == ({"area": "vision", "stage": "candidate"}, {"acc": "0.93"})
    fresh = Model(ws, "clf", version=m.version)
    assert (fresh.tags, fresh.properties) == (m.tags, m.properties)

    m.update_tags_properties(remove_tags=["stage", "never-set"])  # a missing key is skipped
    assert Model(ws, "clf").tags == {"area": "vision"}

    with pytest.raises(ConflictError, match="acc"):  # properties never change; nothing else applies
        m.update_tags_properties(add_tags={"late": "1"}, add_properties={"acc": "0.5"})
    assert "late" not in Model(ws, "clf").tags


def test_serialize_round_trips_through_json(workspace, tmp_path):
    ws = _ws(workspace)
    m = _register(ws, tmp_path, tags={"area": "vision"}, properties={"acc": "0.9"}, description="first")
    payload = json.loads(json.dumps(m.serialize()))
    assert (payload["id"], payload["name"], payload["version"]) == ("clf:1", "clf", 1)
    assert (payload["tags"], payload["properties"], payload["description"]) == ({"area": "vision"}, {"acc": "0.9"},
                                                                                 "first")
    assert payload["createdTime"].endswith("+00:00")
    back = Model.deserialize(ws, payload)
    assert (back.id, back.tags, back.properties, back.created_time) == (m.id, m.tags, m.properties, m.created_time)
    assert back.download(str(tmp_path / "dl")) and (tmp_path / "dl" / "model.pkl").read_bytes() == b"weights"

    # Azure's keys alone (a payload written by Azure's SDK, or edited): name and version suffice.
    azure = {"name": "clf", "version": 1, "tags": {"t": "1"}, "runId": None,
             "createdTime": "2024-05-01T10:00:00+00:00"}
    other = Model.deserialize(ws, azure)
    assert (other.id, other.tags, other.run_id) == ("clf:1", {"t": "1"}, None)
    assert other.created_time == pytest.approx(1714557600.0)
    other.delete()  # a live handle: it acts on the server's version
    with pytest.raises(Exception, match="clf"):
        Model(ws, "clf", version=1)


def test_deserialize_names_what_is_missing(workspace):
    ws = _ws(workspace)
    with pytest.raises(ValueError, match="'name' and a numeric 'version'"):
        Model.deserialize(ws, {"name": "clf"})
    with pytest.raises(TypeError, match="dict from Model.serialize"):
        Model.deserialize(ws, "clf:1")
