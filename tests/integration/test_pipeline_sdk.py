"""Pipelines from the Python SDK (ferry.pipeline.core / ferry.pipeline.steps) against a real
server: a two-step pipeline (prep writes an output that train reads and logs a metric from)
submitted through Experiment.submit with a pipeline parameter, waited for, read back step by step,
and submitted again, when both steps are reused; an OutputFileDatasetConfig registered on
completion and read with as_input(), then PipelineRun.rerun(); a definition the server refuses."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from test_runs import write

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from ferry import Dataset, Experiment, Workspace  # noqa: E402
from ferry.data import OutputFileDatasetConfig  # noqa: E402
from ferry.exceptions import InvalidArgumentError  # noqa: E402
from ferry.pipeline.core import Pipeline, PipelineData, PipelineParameter, PipelineRun, StepRun  # noqa: E402
from ferry.pipeline.steps import PythonScriptStep  # noqa: E402

PREP = """
    import argparse, os
    p = argparse.ArgumentParser()
    p.add_argument("--out")
    p.add_argument("--rows", type=int)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "data.txt"), "w") as f:
        f.write("\\n".join(str(i) for i in range(a.rows)) + "\\n")
    print("prep wrote", a.rows, "rows")
"""

TRAIN = """
    import argparse, os
    from ferry import Run
    p = argparse.ArgumentParser()
    p.add_argument("--data")
    a = p.parse_args()
    with open(os.path.join(a.data, "data.txt")) as f:
        values = [int(line) for line in f if line.strip()]
    Run.get_context().log("total", sum(values))
    print("train read", len(values), "rows")
"""


def make_pipeline(ws, src):
    prepped = PipelineData("prepped")
    rows = PipelineParameter("rows", 4)
    prep = PythonScriptStep("prep.py", name="prep", arguments=["--out", prepped, "--rows", rows],
                            outputs=[prepped], source_directory=str(src))
    train = PythonScriptStep("train.py", name="train", arguments=["--data", prepped], source_directory=str(src))
    return Pipeline(ws, [prep, train], description="prep then train")


def test_two_step_pipeline_runs_and_a_resubmit_reuses_both_steps(workspace, src, capsys):
    write(src / "prep.py", PREP)
    write(src / "train.py", TRAIN)
    ws = Workspace(home=str(workspace.home))
    exp = Experiment(ws, "pipes")
    pipeline = make_pipeline(ws, src)
    assert pipeline.validate() == []

    run = exp.submit(pipeline, pipeline_parameters={"rows": 5}, tags={"who": "sdk-test"})
    assert isinstance(run, PipelineRun)
    assert run.wait_for_completion(show_output=True, timeout_seconds=180) == "Completed"
    out = capsys.readouterr().out
    assert f"PipelineRunId: {run.id}" in out and "Step 'prep': Completed" in out and "Step 'train': Completed" in out
    assert run.get_status() == "Completed" and run.tags.get("who") == "sdk-test"

    steps = run.get_steps()
    assert [s.name for s in steps] == ["train", "prep"]  # newest first
    assert all(isinstance(s, StepRun) and not s.reused for s in steps)
    (train,) = run.find_step_run("train")
    assert train.get_metrics()["total"] == sum(range(5))
    assert train.pipeline_run_id == run.id and train.get_status() == "Completed"
    assert run.find_step_run("nope") == []
    graph = run.get_graph()
    assert {(e["from"], e["to"]) for e in graph["edges"]} == {("prep", "train")}

    # The same code, settings and data: both steps are reused.
    again = exp.submit(make_pipeline(ws, src), pipeline_parameters={"rows": 5})
    assert again.id != run.id
    assert again.wait_for_completion(show_output=False, timeout_seconds=180) == "Completed"
    reused = {s.name: s for s in again.get_steps()}
    assert set(reused) == {"prep", "train"}
    assert all(s.reused for s in reused.values()), [(s.name, s.reused_from) for s in reused.values()]
    originals = {s.name: s.id for s in steps}
    assert {n: s.reused_from for n, s in reused.items()} == originals

    # Another parameter value: prep runs again (its arguments differ), and so does train (its input).
    third = make_pipeline(ws, src).submit("pipes", pipeline_parameters={"rows": 3})
    assert third.wait_for_completion(show_output=False, timeout_seconds=180) == "Completed"
    assert not any(s.reused for s in third.get_steps())
    (train3,) = third.find_step_run("train")
    assert train3.get_metrics()["total"] == sum(range(3))


def test_the_server_refuses_what_the_sdk_cannot_check(workspace, src):
    write(src / "prep.py", PREP)
    ws = Workspace(home=str(workspace.home))
    # A compute target the workspace does not have: only the server knows; nothing is created.
    out = PipelineData("out")
    step = PythonScriptStep("prep.py", name="prep", arguments=["--out", out, "--rows", 1], outputs=[out],
                            compute_target="no_such_target", source_directory=str(src))
    exp = Experiment(ws, "refused")
    with pytest.raises(InvalidArgumentError) as e:
        exp.submit(Pipeline(ws, [step]))
    assert "step 'prep'" in str(e.value) and "no_such_target" in str(e.value)
    assert list(exp.get_runs()) == []


def test_output_dataset_config_between_steps_registered_and_a_rerun(workspace, src):
    write(src / "prep.py", PREP)
    write(src / "train.py", TRAIN)
    ws = Workspace(home=str(workspace.home))
    out = OutputFileDatasetConfig("numbers").register_on_complete("pipeline_numbers")
    prep = PythonScriptStep("prep.py", name="prep", arguments=["--out", out, "--rows", 6], source_directory=str(src))
    train = PythonScriptStep("train.py", name="train", arguments=["--data", out.as_input("numbers_in").as_download()],
                             source_directory=str(src))
    run = Experiment(ws, "pipes-ofdc").submit(Pipeline(ws, [prep, train]))
    assert run.wait_for_completion(show_output=False, timeout_seconds=180) == "Completed"
    (t,) = run.find_step_run("train")
    assert t.get_metrics()["total"] == sum(range(6))
    ds = Dataset.get_by_name(ws, "pipeline_numbers")
    assert ds.version == 1 and [p.rsplit("/", 1)[-1] for p in ds.to_path()] == ["data.txt"]

    again = run.rerun()
    assert isinstance(again, PipelineRun) and again.id != run.id
    assert again.wait_for_completion(show_output=False, timeout_seconds=180) == "Completed"
    assert {s.name: s.reused for s in again.get_steps()} == {"prep": True, "train": True}
