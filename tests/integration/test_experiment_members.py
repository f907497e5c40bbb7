"""Azure's Experiment members against a real server: id, tags (tag, set_tags, remove_tags,
refresh), archive / reactivate / delete, list with view_type / name / tags, archived_time,
from_directory and the Studio URL - the way a notebook manages its experiments."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from ferry import Workspace  # noqa: E402
from ferry.core import Experiment  # noqa: E402
from ferry.core.experiment import ViewType  # noqa: E402
from ferry.exceptions import UserErrorException  # noqa: E402


def _ws(workspace) -> Workspace:
    return Workspace(url=workspace.url, token=workspace.token)


def _names(experiments):
    return [e.name for e in experiments]


def test_id_and_tags_are_the_mlflow_experiment(workspace):
    ws = _ws(workspace)
    exp = Experiment(ws, "churn")
    assert exp.tags == {}  # created on first need, as Azure creates it with the object
    status, body, _ = workspace.api("GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=churn")
    assert status == 200, body
    assert body["experiment"]["experiment_id"] == exp.id

    exp.tag("DeploymentCandidate")
    exp.tag("modifiedBy", "Master CI")
    exp.set_tags({"team": "risk", "quarter": 3})
    assert exp.tags == {"DeploymentCandidate": "", "modifiedBy": "Master CI", "team": "risk", "quarter": "3"}
    exp.remove_tags(["team", "not-there"])
    again = Experiment(ws, "churn")  # another object reads the server's record
    assert again.tags == {"DeploymentCandidate": "", "modifiedBy": "Master CI", "quarter": "3"}
    assert again.id == exp.id

    exp.tag("modifiedBy", "release pipeline")  # tags are mutable
    again.refresh()
    assert again.tags["modifiedBy"] == "release pipeline"


def test_archive_reactivate_and_list_views(workspace):
    ws = _ws(workspace)
    old, new = Experiment(ws, "old-exp"), Experiment(ws, "new-exp")
    old.tag("stage", "done")
    new.tag("stage", "live")
    assert old.archived_time is None

    old.archive()
    assert old.archived_time is not None and old.archived_time.tzinfo is not None
    assert "old-exp" not in _names(Experiment.list(ws))
    assert "new-exp" in _names(Experiment.list(ws))
    assert _names(Experiment.list(ws, view_type=ViewType.ArchivedOnly)) == ["old-exp"]
    assert {"old-exp", "new-exp"} <= set(_names(Experiment.list(ws, view_type=ViewType.All)))
    listed = Experiment.list(ws, experiment_name="old-exp", view_type="All")
    assert _names(listed) == ["old-exp"] and listed[0].id == old.id and listed[0].archived_time is not None

    assert _names(Experiment.list(ws, view_type="All", tags="stage")) == ["new-exp", "old-exp"]
    assert _names(Experiment.list(ws, view_type="All", tags={"stage": "live"})) == ["new-exp"]
    assert Experiment.list(ws, experiment_name="nothing-of-that-name") == []

    with pytest.raises(UserErrorException, match="cannot be renamed"):
        old.reactivate(new_name="renamed")
    old.reactivate()
    assert old.archived_time is None
    assert "old-exp" in _names(Experiment.list(ws))

    Experiment.delete(ws, new.id)  # Ferry archives: the runs stay, reactivate restores it
    new.refresh()
    assert new.archived_time is not None
    new.reactivate()
    assert new.archived_time is None


def test_bad_arguments_name_what_to_pass(workspace):
    ws = _ws(workspace)
    with pytest.raises(ValueError, match="view_type must be"):
        Experiment.list(ws, view_type="Deleted")
    with pytest.raises(TypeError, match="tags must be"):
        Experiment.list(ws, tags=["a"])
    with pytest.raises(TypeError, match="dict of tag name"):
        Experiment(ws, "e").set_tags(["a"])
    with pytest.raises(ValueError, match="experiment id"):
        Experiment.delete(ws, "")


def test_from_directory_and_portal_url(workspace, tmp_path):
    folder = tmp_path / "project"
    (folder / ".ferry").mkdir(parents=True)
    (folder / ".ferry" / "config.json").write_text(json.dumps({"workspace_home": str(workspace.home),
                                                               "experiment": "my exp"}))
    exp = Experiment.from_directory(str(folder))
    assert exp.name == "my exp"
    assert exp.workspace.url == workspace.url
    assert exp.workspace_object is exp.workspace
    assert exp.get_portal_url() == f"{workspace.url}/#/experiments/my%20exp"
    assert exp.portal_url == exp.get_portal_url()

    (folder / ".ferry" / "config.json").write_text(json.dumps({"workspace_home": str(workspace.home)}))
    with pytest.raises(UserErrorException, match="names no experiment"):
        Experiment.from_directory(str(folder))


def test_module_level_submit(workspace, tmp_path):
    from ferry.core import ScriptRunConfig
    from ferry.core.script_run_config import submit

    ws = _ws(workspace)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("import sys\nprint('lr', sys.argv[2])\n")
    src = ScriptRunConfig(source_directory=str(tmp_path / "src"), script="train.py", arguments=["--lr", 0.5],
                          python=sys.executable, compute_target="local")
    run = submit(src, ws, "module-submit")
    assert run.wait_for_completion()["status"] == "Completed"
    assert run.experiment.name == "module-submit"
    with pytest.raises(ValueError, match="server names runs"):
        submit(src, ws, "module-submit", run_id="mine")


def test_unknown_constructor_keywords_are_refused(workspace):
    with pytest.raises(TypeError, match="unknown arguments"):
        Experiment(_ws(workspace), "e", tag="x")
