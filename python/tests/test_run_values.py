"""The in-script Run's non-numeric metrics (Azure ML's string, list, table, row, image and JSON
metrics) as metrics-file records, its files (upload_file/upload_folder into outputs/), and the
offline view of them. The agent and server side: tests/integration/test_run_azure.py."""

import json
import os
import subprocess
import sys

import pytest

from ferry import Run
from ferry.run import _reset_context

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.usefixtures("fresh_run_context")

CONFUSION = {"schema_type": "confusion_matrix", "schema_version": "1.0.0",
             "data": {"class_labels": ["0", "1"], "matrix": [[3, 1], [0, 4]]}}


@pytest.fixture
def online(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("FERRY_METRICS_FILE", str(path))
    monkeypatch.setenv("FERRY_RUN_ID", "run-7")
    monkeypatch.setenv("FERRY_EXPERIMENT", "iris")
    _reset_context()
    run = Run.get_context()

    def records():
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    return run, work, records


def test_a_string_metric_is_a_value_record_not_a_point(online):
    run, _, records = online
    run.log("Regularization Rate", 0.01)
    run.log("model", "ridge \"v2\"\n")
    run.log("nothing", None)
    run.log("nan-text", "nan")  # a str that reads "nan" stays a str
    recs = records()
    assert recs[0]["v"] == 0.01 and "x" not in recs[0]
    assert [(r["k"], r["x"], r["y"]) for r in recs[1:]] == [
        ("model", 'ridge "v2"\n', "string"), ("nothing", None, "none"), ("nan-text", "nan", "string")]
    assert all("v" not in r and r["s"] is None and r["t"] > 0 for r in recs[1:])


def test_log_takes_azures_description_and_step(online):
    run, _, records = online
    run.log("acc", 0.5, "the accuracy", step=3)
    run.log("acc", 0.6, description="the accuracy", step=4)
    assert [(r["v"], r["s"]) for r in records()] == [(0.5, 3), (0.6, 4)]


def test_lists_of_strings_are_one_value_numbers_stay_points(online):
    run, _, records = online
    run.log_list("classes", ["setosa", "versicolor", None, 2])
    run.log_list("losses", [0.3, 0.2])
    recs = records()
    assert (recs[0]["k"], recs[0]["x"], recs[0]["y"]) == ("classes", ["setosa", "versicolor", None, 2], "list")
    assert [r["v"] for r in recs[1:]] == [0.3, 0.2]


def test_log_table_checks_columns_and_keeps_them(online):
    run, _, records = online
    run.log_table("citrus", {"fruit": ["orange", "lime"], "size": [10, 3.5]})
    rec = records()[0]
    assert (rec["k"], rec["y"], rec["x"]) == ("citrus", "table", {"fruit": ["orange", "lime"], "size": [10, 3.5]})
    with pytest.raises(ValueError, match="differ in length.*fruit: 2, size: 1"):
        run.log_table("bad", {"fruit": ["a", "b"], "size": [1]})
    with pytest.raises(TypeError, match="column 'size' of table 'bad' must be a list"):
        run.log_table("bad", {"size": 3})
    with pytest.raises(TypeError, match="non-empty dict of columns"):
        run.log_table("bad", [1, 2])
    assert len(records()) == 1


def test_azures_json_metrics_are_checked_and_stored_whole(online):
    run, _, records = online
    run.log_confusion_matrix("cm", CONFUSION)
    run.log_confusion_matrix("cm-text", json.dumps(CONFUSION))
    run.log_residuals("res", {"schema_type": "residuals", "schema_version": "1.0.0",
                              "data": {"bin_edges": [0, 1, 2], "bin_counts": [4, 5]}})
    run.log_predictions("pred", {"schema_type": "predictions", "schema_version": "1.0.0",
                                 "data": {"bin_averages": [0.2], "bin_errors": [0.01], "bin_counts": [3],
                                          "bin_edges": [0, 1]}})
    run.log_accuracy_table("acc", {"schema_type": "accuracy_table", "schema_version": "1.0.1", "data": {
        "probability_tables": [[[1, 0, 1, 0]]], "percentile_tables": [[[1, 0, 1, 0]]],
        "probability_thresholds": [0.5], "percentile_thresholds": [0.5], "class_labels": ["0"]}})
    recs = records()
    assert [(r["k"], r["y"]) for r in recs] == [("cm", "confusion_matrix"), ("cm-text", "confusion_matrix"),
                                                ("res", "residuals"), ("pred", "predictions"),
                                                ("acc", "accuracy_table")]
    assert recs[0]["x"] == CONFUSION == recs[1]["x"]
    with pytest.raises(ValueError, match=r"needs data\['matrix'\], a list"):
        run.log_confusion_matrix("cm", {"schema_type": "confusion_matrix", "data": {"class_labels": []}})
    with pytest.raises(ValueError, match="schema_type 'residuals', expected 'confusion_matrix'"):
        run.log_confusion_matrix("cm", {"schema_type": "residuals", "data": {}})
    with pytest.raises(ValueError, match="not valid JSON"):
        run.log_confusion_matrix("cm", "{nope")
    assert len(records()) == 5


def test_log_image_copies_the_file_into_outputs_and_logs_its_path(online, tmp_path):
    run, work, records = online
    png = tmp_path / "plot.png"
    png.write_bytes(b"\x89PNG fake")
    run.log_image("ROC curve", path=str(png))
    rec = records()[0]
    assert rec["y"] == "image" and rec["x"].startswith("outputs/images/ROC_curve_") and rec["x"].endswith(".png")
    assert (work / rec["x"]).read_bytes() == b"\x89PNG fake"
    with pytest.raises(ValueError, match="exactly one of path"):
        run.log_image("x")
    with pytest.raises(ValueError, match="is not a file"):
        run.log_image("x", path=str(tmp_path / "missing.png"))


def test_log_image_saves_a_matplotlib_figure_as_png(online):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run, work, records = online
    fig = plt.figure()
    plt.plot([1, 2, 3], [3, 1, 2])
    run.log_image("curve", plot=fig)
    run.log_image("current", plot=plt)  # the pyplot module: its current figure
    plt.close(fig)
    for rec in records():
        assert (work / rec["x"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_upload_file_and_folder_into_outputs_stay_inside_the_run(online, tmp_path):
    run, work, _ = online
    src = tmp_path / "model.pkl"
    src.write_bytes(b"weights")
    run.upload_file("outputs/model.pkl", str(src))
    assert (work / "outputs/model.pkl").read_bytes() == b"weights"
    with open(src, "rb") as stream:
        run.upload_file("outputs/again/model.pkl", stream)
    assert (work / "outputs/again/model.pkl").read_bytes() == b"weights"
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    run.upload_folder("outputs/folder", str(folder))
    assert (work / "outputs/folder/sub/b.txt").read_text() == "b"
    for bad in ("/etc/passwd", "../escape", "outputs/../../x", "", 5):
        with pytest.raises(ValueError, match="invalid file name"):
            run.upload_file(bad, str(src))
    with pytest.raises(ValueError, match="2 names and 1 paths"):
        run.upload_files(["outputs/a", "outputs/b"], [str(src)])
    # A name outside outputs/ and logs/ needs the run's connection to its server.
    from ferry.exceptions import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="no connection to its server"):
        run.upload_file("model.pkl", str(src))
    assert not (work / "model.pkl").exists()


def test_offline_keeps_every_kind_for_get_metrics(capsys):
    run = Run.get_context()
    run.log("model", "ridge")
    run.log_list("classes", ["a", "b"])
    run.log_table("t", {"c": [1, 2]})
    run.log_row("rows", fruit="lime", size=3)
    run.log_row("rows", fruit="lemon", size=7)
    run.log_confusion_matrix("cm", CONFUSION)
    m = run.get_metrics()
    assert m["model"] == "ridge" and m["classes"] == ["a", "b"] and m["t"] == {"c": [1, 2]}
    assert m["rows"] == {"fruit": ["lime", "lemon"], "size": [3, 7]}
    assert m["rows/size"] == [3, 7]
    assert m["cm"] == CONFUSION
    assert "[ferry offline] model='ridge'" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="offline"):
        run.upload_file("outputs/x", __file__)
    run.add_properties({"k": "v"})
    assert run.get_properties() == {"k": "v"}
    with pytest.raises(ValueError, match="never change"):
        run.add_properties({"k": "w"})


def test_a_bound_runs_members_need_a_workspace_inside_a_script(online):
    run, _, _ = online
    assert run.parent is None and run.type == "azureml.scriptrun" and run.display_name == "run-7"
    with pytest.raises(RuntimeError, match="not bound to a workspace"):
        run.get_status()
    with pytest.raises(RuntimeError, match="start_logging"):
        run.complete()


def test_string_metrics_do_not_import_json():
    code = (
        "import sys\n"
        "from ferry import Run\n"
        "r = Run.get_context()\n"
        "r.log('s', 'text'); r.log_list('l', ['a', 1]); r.log_row('c', x=1, y='b')\n"
        "print('json' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, FERRY_METRICS_FILE=os.devnull)
    out = subprocess.run([sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_run_details_text_and_html_views_of_the_data():
    from ferry.widgets import RunDetails, _svg

    class _Ws:
        url = "http://box:8765"

    run = Run._bound(_Ws(), "exp_1_ab", {"experiment": "exp", "status": "Running"})
    view = RunDetails(run)
    assert view.studio_url == "http://box:8765/#/runs/exp_1_ab"
    data = {"run_id": "exp_1_ab", "experiment": "exp", "status": "Running", "studio_url": view.studio_url,
            "metrics": {"loss": 0.25, "model": "ridge <b>"}, "series": {"loss": [(0, 1.0), (1, 0.25)]},
            "children": [{"run_id": "child_1", "status": "Completed", "tags": {}}], "error": None}
    text = view.text(data)
    assert text.splitlines()[:2] == ["Run exp_1_ab (exp): Running", "Studio: http://box:8765/#/runs/exp_1_ab"]
    assert "  loss   0.25" in text and "  model  ridge <b>" in text and "  child_1  Completed" in text
    html = view.html(data)
    assert "<polyline" in html and "ridge &lt;b&gt;" in html and "href='http://box:8765/#/runs/exp_1_ab'" in html
    assert _svg([(0, float("nan")), (1, 2.0)]) == ""  # one finite point: no chart
    with pytest.raises(ValueError, match="bound to a workspace"):
        RunDetails(Run.get_context())
