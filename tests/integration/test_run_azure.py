"""Azure ML's Run against a real server: a script logging strings, lists, tables, rows, images
and Azure's JSON metrics and uploading files, read back through the SDK, the REST API and
MLflow's API (numbers only there); interactive runs (Experiment.start_logging) from this
process; RunDetails' text view; the REST refusals of the new endpoints."""

from __future__ import annotations

import io
import re
import sys
import time
from pathlib import Path

import pytest

from test_runs import write

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from ferry import Experiment, FerryError, Run, Workspace  # noqa: E402
from ferry.exceptions import UserErrorException  # noqa: E402
from ferry.widgets import RunDetails  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"

SCRIPT = """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ferry.core.run import Run

    run = Run.get_context()
    run.log("Regularization Rate", 0.01)
    run.log("model", "ridge")
    run.log("note", "first")
    run.log("note", "second")
    run.log_list("classes", ["setosa", "versicolor", "virginica"])
    run.log_list("losses", [0.5, 0.25])
    run.log_table("citrus", {"fruit": ["orange", "lime"], "size": [10, 3]})
    for fruit, size in (("lemon", 7), ("lime", 3)):
        run.log_row("rows", fruit=fruit, size=size)
    run.log_confusion_matrix("cm", {"schema_type": "confusion_matrix", "schema_version": "1.0.0",
                                    "data": {"class_labels": ["0", "1"], "matrix": [[3, 1], [0, 4]]}})
    fig = plt.figure()
    plt.plot([1, 2, 3], [2, 1, 3])
    run.log_image("curve", plot=fig)
    fig.savefig("chart.png")
    run.log_image("file image", path="chart.png")
    open("weights.bin", "wb").write(b"weights")
    run.upload_file("outputs/model/weights.bin", "weights.bin")
    run.upload_file("extra/weights.bin", "weights.bin")  # outside outputs/: through the run's MLflow link
    import os
    os.makedirs("folder/sub", exist_ok=True)
    open("folder/sub/a.txt", "w").write("a")
    run.upload_folder("outputs/folder", "folder")
    run.add_properties({"algorithm": "ridge"})
    run.tag("stage", "trained")
    print("done", flush=True)
"""


def test_a_script_logs_every_kind_and_the_sdk_reads_them_back(workspace, src):
    write(src / "train.py", SCRIPT)
    run_id, _ = workspace.submit(src, "train.py")
    ws = Workspace(home=str(workspace.home))
    run = Run.get(ws, run_id)
    details = run.wait_for_completion(show_output=False)
    assert details["status"] == "Completed", workspace.log(run_id)

    m = run.get_metrics()
    assert m["Regularization Rate"] == 0.01 and m["model"] == "ridge"
    assert m["note"] == ["first", "second"]
    assert m["classes"] == ["setosa", "versicolor", "virginica"] and m["losses"] == [0.5, 0.25]
    assert m["citrus"] == {"fruit": ["orange", "lime"], "size": [10, 3]}
    assert m["rows"] == {"fruit": ["lemon", "lime"], "size": [7, 3]}
    assert m["rows/size"] == [7, 3]  # numeric columns are points too (charts)
    assert m["cm"]["data"]["matrix"] == [[3, 1], [0, 4]] and m["cm"]["schema_type"] == "confusion_matrix"
    assert run.get_metrics("model") == {"model": "ridge"}

    files = run.get_file_names()
    images = [m["curve"], m["file image"]]
    for path in images:
        assert path.startswith("outputs/images/") and path in files, (path, files)
    assert {"outputs/model/weights.bin", "extra/weights.bin", "outputs/folder/sub/a.txt"} <= set(files)
    got = run.download_file(m["curve"], str(src / "curve.png"))
    assert Path(got).read_bytes()[:8] == PNG
    assert Path(run.download_file("extra/weights.bin", str(src / "w.bin"))).read_bytes() == b"weights"

    assert run.get_properties()["algorithm"] == "ridge"
    assert run.get_tags()["stage"] == "trained" and run.tags["stage"] == "trained"
    d = run.get_details()
    for key in ("runId", "target", "status", "startTimeUtc", "endTimeUtc", "properties", "inputDatasets",
                "outputDatasets", "runDefinition", "logFiles", "submittedBy"):
        assert key in d, key
    assert d["properties"]["algorithm"] == "ridge" and d["properties"]["ContentSnapshotId"]
    assert any(name.startswith("logs/") for name in d["logFiles"])
    assert run.get_status() == "Completed" and run.type == "azureml.scriptrun" and run.parent is None
    assert run.number == 1

    # The REST API keeps the values apart; MLflow's metric endpoints see numbers only.
    status, body, _ = workspace.api("GET", f"/runs/{run_id}/values?key=model")
    assert status == 200 and body["values"]["model"][0]["type"] == "string", body
    status, body, _ = workspace.api("GET", f"/api/2.0/mlflow/runs/get?run_id={run_id}")
    keys = {x["key"] for x in body["run"]["data"].get("metrics", [])}
    assert "Regularization Rate" in keys and not keys & {"model", "note", "classes", "citrus", "rows", "cm", "curve"}
    params = {x["key"]: x["value"] for x in body["run"]["data"].get("params", [])}
    assert params["algorithm"] == "ridge"
    status, body, _ = workspace.api("GET", f"/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=model")
    assert status == 200 and not body.get("metrics"), body

    # The CLI prints them: `run show` the last of each, `run metrics` every one after the numbers.
    shown = workspace.cli("run", "show", run_id).stdout
    values = shown[shown.index("Values:"):]
    assert re.search(r"^  model +string +1 +ridge$", values, re.M), values
    assert re.search(r"^  note +string +2 +second$", values, re.M), values
    assert re.search(r'^  citrus +table +1 +\{"fruit":\["orange","lime"\],"size":\[10,3\]\}$', values, re.M), values
    assert workspace.cli_json("run", "show", run_id)["values"]["model"][0]["value"] == "ridge"
    listed = workspace.cli("run", "metrics", run_id).stdout
    assert re.search(r"^Regularization Rate +0 +0\.01$", listed, re.M), listed
    assert re.search(r"^note +0 +first$", listed, re.M) and re.search(r"^note +\d+ +second$", listed, re.M), listed
    assert re.search(r'^classes +0 +\(list\) \["setosa","versicolor","virginica"\]$', listed, re.M), listed

    # RunDetails outside a notebook: a text summary with the run's Studio page.
    out = io.StringIO()
    sys.stdout, old = out, sys.stdout
    try:
        RunDetails(run).show()
    finally:
        sys.stdout = old
    text = out.getvalue()
    assert f"Run {run_id}" in text and "Completed" in text and f"{workspace.url}/#/runs/{run_id}" in text
    assert "model" in text and "ridge" in text
    assert "<table>" in RunDetails(run).html() and "open in Ferry Studio" in RunDetails(run).html()


SLOW = """
    import time
    from ferry.core.run import Run

    run = Run.get_context()
    for step in range(4):
        run.log("loss", 1.0 / (step + 1))
        time.sleep(0.5)
"""


def test_run_details_is_a_live_widget_in_an_ipython_shell(workspace, src, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    write(src / "slow.py", SLOW)
    run_id, _ = workspace.submit(src, "slow.py")
    run = Run.get(Workspace(home=str(workspace.home)), run_id)
    shell = InteractiveShell.instance()  # what a notebook's kernel is: get_ipython() finds it
    details = RunDetails(run, poll_seconds=0.2)
    try:
        details.show()
        view = details.widget
        assert type(view).__module__.startswith("ipywidgets"), type(view)
        first = view.value
        run.wait_for_completion(show_output=False)
        deadline = time.monotonic() + 30
        while "Completed" not in view.value:  # the view polls the server until the run ends
            assert time.monotonic() < deadline, view.value
            time.sleep(0.1)
        assert view.value != first and "<svg" in view.value and "loss" in view.value, view.value
        details._thread.join(timeout=10)
        assert not details._thread.is_alive()  # it stops refreshing once the run has ended
    finally:
        details.stop()
        InteractiveShell.clear_instance()
        del shell


def test_interactive_run_logs_from_this_process_and_completes(workspace, tmp_path):
    ws = Workspace(home=str(workspace.home))
    exp = Experiment(ws, "notebook")
    out = tmp_path / "outs"
    out.mkdir()
    (out / "result.txt").write_text("42")
    code = tmp_path / "code"
    write(code / "nb.py", "print('notebook code')\n")
    run = exp.start_logging(display_name="first try", outputs=str(out), snapshot_directory=str(code))
    assert run.get_status() == "Running" and run.type == "interactive" and run.display_name == "first try"
    assert run.get_details()["target"] == "sdk"
    for i in range(5):
        run.log("loss", 1.0 / (i + 1), step=i)
    run.log("model", "ridge")
    run.log_table("t", {"a": [1, 2], "b": ["x", "y"]})
    run.log_row("r", x=1, y="one")
    run.tag("who", "me")
    run.upload_file("outputs/blob.bin", io.BytesIO(b"blob"))
    run.add_properties({"dataset": "iris"})
    with pytest.raises(ValueError, match="never change"):
        run.add_properties({"dataset": "wine"})
    # Buffered records reach the server at the latest on complete (or get_metrics).
    run.complete()
    assert run.get_status() == "Completed"
    m = run.get_metrics()
    assert m["loss"] == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])
    assert m["model"] == "ridge" and m["t"] == {"a": [1, 2], "b": ["x", "y"]}
    assert m["r"] == {"x": [1], "y": ["one"]}
    assert run.get_tags()["who"] == "me" and run.get_properties()["dataset"] == "iris"
    status, body, _ = workspace.api("GET", f"/blobs/{run.get_properties()['ContentSnapshotId']}")
    assert status == 200 and b"nb.py" in body  # the snapshot's manifest
    assert {"outputs/blob.bin", "outputs/result.txt"} <= set(run.get_file_names())
    with pytest.raises(FerryError, match="has ended"):  # an ended run takes no more data
        run.log("late", 1.0)
    assert [r.id for r in Run.list(exp, type="interactive")] == [run.id]


def test_interactive_runs_fail_cancel_and_end_with_the_block(workspace, src):
    ws = Workspace(home=str(workspace.home))
    exp = Experiment(ws, "notebook")
    run = exp.start_logging()
    run.fail(error_details=ValueError("the data is empty"))
    d = run.get_details()
    assert d["status"] == "Failed" and "ValueError: the data is empty" in d["error"]["message"]
    run2 = exp.start_logging()
    run2.cancel()
    assert run2.get_status() == "Canceled"
    with exp.start_logging() as run3:
        run3.log("a", "b")
    assert run3.get_status() == "Completed" and run3.get_metrics() == {"a": "b"}
    with pytest.raises(RuntimeError, match="boom"):
        with exp.start_logging() as run4:
            raise RuntimeError("boom")
    assert run4.get_status() == "Failed"
    assert "RuntimeError: boom" in run4.get_details()["error"]["message"]
    # A submitted run is ended by its script, never by complete().
    write(src / "ok.py", "print('hi')\n")
    run_id, _ = workspace.submit(src, "ok.py", wait=True)
    submitted = Run.get(ws, run_id)
    with pytest.raises(RuntimeError, match="start_logging"):
        submitted.complete()
    status, body, _ = workspace.api("POST", f"/runs/{run_id}/end", json={"status": "Completed"})
    assert status == 409 and "ends when its script exits" in body["error"]["message"], body
    with pytest.raises(UserErrorException, match="names no environment"):
        submitted.get_environment()


def test_the_values_endpoint_refuses_bad_input_by_name(workspace):
    ws = Workspace(home=str(workspace.home))
    run = Experiment(ws, "rest").start_logging()
    for bad, field in (({"values": [{"k": "a", "x": 1}]}, "'y'"), ({"values": [{"k": "a", "y": "string"}]}, "'x'"),
                       ({"values": [{"y": "string", "x": 1}]}, "'k'"), ({"values": "no"}, "'values'"),
                       ({"values": [{"k": "a", "y": "string", "x": "z" * (1 << 20)}]}, "1048576")):
        status, body, _ = workspace.api("POST", f"/runs/{run.id}/values", json=bad)
        assert status == 400 and field in body["error"]["message"], (bad, body)
    status, body, _ = workspace.api("POST", f"/runs/{run.id}/end", json={"status": "Done"})
    assert status == 400 and "Completed, Failed or Canceled" in body["error"]["message"], body
    run.complete()
    status, body, _ = workspace.api("POST", f"/runs/{run.id}/values", json={"values": [{"k": "a", "y": "string", "x": 1}]})
    assert status == 409 and body["error"].get("status") == "Completed", body
    status, body, _ = workspace.api("POST", f"/runs/{run.id}/end", json={"status": "Failed"})
    assert status == 409 and "ended already" in body["error"]["message"], body


def test_a_run_submitted_from_a_git_work_tree_has_azures_git_properties(workspace, src):
    import subprocess

    from ferry import ScriptRunConfig

    write(src / "train.py", "from ferry import Run\nRun.get_context().log('acc', 0.5)\n")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-C", str(src)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "remote", "add", "origin", "https://example.com/repo.git"], check=True)
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    (src / "train.py").write_text("from ferry import Run\nRun.get_context().log('acc', 0.75)\n")  # dirty
    ws = Workspace(home=str(workspace.home))
    run = Experiment(ws, "git").submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                                       python=sys.executable, compute_target="local"))
    run.wait_for_completion()
    props = run.get_properties()
    assert props["azureml.git.repository_uri"] == "https://example.com/repo.git"
    assert props["azureml.git.branch"] == "main" and props["azureml.git.commit"] == commit
    assert props["azureml.git.dirty"] == "True"
    assert props["mlflow.source.git.repoURL"] == "https://example.com/repo.git"
    assert props["mlflow.source.git.commit"] == commit
    assert props["ContentSnapshotId"] == run.get_snapshot_id()
    assert run.get_metrics() == {"acc": 0.75}


def test_a_sweeps_trials_have_it_as_parent_and_run_details_lists_them(workspace, src):
    from test_sweeps import setup as sweep_setup, submit as sweep_submit

    sweep_setup(src, """\
        sampling:
            type: grid
            parameter_space:
            - name: --penalty
              expression: choice
              values: [0.5, 1.5]
        primary_metric_name: Accuracy
        primary_metric_goal: Maximize
        max_total_runs: 2
        max_concurrent_runs: 2
        """)
    sweep_id, r = sweep_submit(workspace, src, "--wait")
    assert sweep_id, r.stderr
    ws = Workspace(home=str(workspace.home))
    sweep = Run.get(ws, sweep_id)
    assert sweep.type == "hyperdrive" and sweep.parent is None
    children = sweep.get_children()
    assert len(children) == 2
    for child in children:
        assert child.parent.id == sweep_id and child.type == "azureml.scriptrun"
    data = RunDetails(sweep).get_widget_data()
    assert sorted(c["run_id"] for c in data["children"]) == sorted(c.id for c in children)
    assert all(c["status"] == "Completed" for c in data["children"])
    assert "Child runs (2):" in RunDetails(sweep).text(data)
