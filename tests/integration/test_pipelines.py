"""Pipelines end to end on the local target (issue 21): CLI v1's pipeline YAML through `ferry run
submit-pipeline`, data passed from step to step by content, reuse and its invalidation when the
bytes behind a path change, a failure and `ferry pipeline rerun`, cancel, a server killed with
SIGKILL mid-pipeline, and bad definitions refused before anything runs."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

from conftest import TERMINAL, wait_until

PREP = """\
import argparse, os, pathlib
p = argparse.ArgumentParser()
p.add_argument("--raw", required=True)
p.add_argument("--out", required=True)
p.add_argument("--scale", type=int, required=True)
a = p.parse_args()
raw = pathlib.Path(a.raw)
files = sorted(raw.rglob("*.txt")) if raw.is_dir() else [raw]
numbers = [int(x) for f in files for x in f.read_text().split()]
out = pathlib.Path(a.out)
out.mkdir(parents=True, exist_ok=True)
(out / "scaled.txt").write_text(" ".join(str(n * a.scale) for n in numbers))
print("prep: scaled", len(numbers), "numbers by", a.scale, "param env", os.environ.get("AML_PARAMETER_scale"))
"""

TRAIN = """\
import argparse, os, pathlib, sys
from ferry import Run
p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--model", required=True)
p.add_argument("--fail-if", default="")
a = p.parse_args()
if a.fail_if and os.path.exists(a.fail_if):
    sys.exit("train: told to fail while " + a.fail_if + " exists")
data = pathlib.Path(a.data)
text = (data / "scaled.txt" if data.is_dir() else data).read_text()
total = sum(int(x) for x in text.split())
Run.get_context().log("total", total)
out = pathlib.Path(a.model)
out.mkdir(parents=True, exist_ok=True)
(out / "model.txt").write_text(str(total))
print("train: total", total)
"""

EVALUATE = """\
import argparse, pathlib
from ferry import Run
p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
a = p.parse_args()
m = pathlib.Path(a.model)
value = int((m / "model.txt" if m.is_dir() else m).read_text())
Run.get_context().log("evaluated", value)
print("evaluate: model says", value)
"""

RUNCONFIG = """\
framework: Python
environment:
  python:
    userManagedDependencies: true
    interpreterPath: {python}
"""

PIPELINE = """\
pipeline:
    name: numbers
    description: scale numbers, add them up, check the sum
    parameters:
        scale:
            type: int
            default: 2
        fail_marker:
            type: string
            default: ""
    data_references:
        raw_numbers:
            datastore: workspaceblobstore
            path_on_datastore: numbers
    default_compute: local
    steps:
        prep:
            type: PythonScriptStep
            name: prepare the numbers
            script_name: prep.py
            runconfig: local.runconfig
            arguments:
                - --raw
                - input:raw
                - --out
                - output:scaled
                - --scale
                - parameter:scale
            parameters:
                scale:
                    source: scale
            inputs:
                raw:
                    source: raw_numbers
                    bind_mode: mount
            outputs:
                scaled:
                    destination: scaled_numbers
        train:
            script_name: train.py
            runconfig: local.runconfig
            arguments: [--data, "input:numbers", --model, "output:model", --fail-if, "parameter:marker"]
            parameters:
                marker:
                    source: fail_marker
            inputs:
                numbers:
                    source: scaled_numbers
                    bind_mode: download
            outputs:
                model:
                    destination: trained_model
        evaluate:
            script_name: evaluate.py
            runconfig: local.runconfig
            arguments: [--model, "input:model"]
            inputs:
                model:
                    source: trained_model
"""


def setup_pipeline(ws, src: Path, numbers: str = "1 2 3\n", pipeline: str = PIPELINE) -> Path:
    for name, text in (("prep.py", PREP), ("train.py", TRAIN), ("evaluate.py", EVALUATE)):
        (src / name).write_text(text)
    (src / "local.runconfig").write_text(RUNCONFIG.format(python=sys.executable))
    (src / "pipeline.yml").write_text(pipeline)
    upload_numbers(ws, src.parent, numbers)
    return src / "pipeline.yml"


def upload_numbers(ws, where: Path, numbers: str) -> None:
    data = where / "data"
    data.mkdir(exist_ok=True)
    (data / "a.txt").write_text(numbers)
    ws.cli("datastore", "upload", "-n", "workspaceblobstore", "-p", data, "-t", "numbers", "--overwrite")


def submit(ws, yml: Path, *extra, check=True, wait=True):
    args = ["run", "submit-pipeline", "-n", "numbers", "-y", yml, *extra]
    if wait:
        args.append("--wait")
    r = ws.cli(*args, check=False, timeout=300)
    m = re.search(r"Pipeline run (\S+) submitted", r.stderr)
    if check:
        assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return (m.group(1) if m else None), r


def pipeline_run(ws, run_id: str) -> dict:
    status, body, _ = ws.api("GET", f"/pipeline-runs/{run_id}")
    assert status == 200, body
    return body


def steps_of(ws, run_id: str) -> dict:
    return {s["name"]: s for s in pipeline_run(ws, run_id)["steps"]}


def metric(ws, run_id: str, key: str) -> float:
    status, body, _ = ws.api("GET", f"/runs/{run_id}/metrics")
    assert status == 200, body
    points = body["metrics"].get(key, [])
    assert points, body
    return points[-1]["value"]


def children(ws, run_id: str) -> list[dict]:
    status, body, _ = ws.api("GET", f"/runs?parent={run_id}&limit=1000")
    assert status == 200, body
    return body["runs"]


def test_a_yaml_pipeline_passes_data_from_step_to_step(workspace, src):
    yml = setup_pipeline(workspace, src)
    run_id, r = submit(workspace, yml, "-p", "scale=10")
    assert "step prep: " in r.stderr and "step evaluate: " in r.stderr, r.stderr
    body = pipeline_run(workspace, run_id)
    assert body["run"]["status"] == "Completed", body
    assert body["run"]["kind"] == "pipeline"
    steps = {s["name"]: s for s in body["steps"]}
    assert [steps[n]["status"] for n in ("prep", "train", "evaluate")] == ["Completed"] * 3
    # (1 + 2 + 3) * 10, computed by train from prep's output and checked by evaluate.
    assert metric(workspace, steps["train"]["run_id"], "total") == 60
    assert metric(workspace, steps["evaluate"]["run_id"], "evaluated") == 60
    assert "param env 10" in workspace.log(steps["prep"]["run_id"])
    # Each step is a run of its own, a child of the pipeline run, on its target.
    kids = {k["id"]: k for k in children(workspace, run_id)}
    assert set(kids) == {s["run_id"] for s in steps.values()}
    assert {k["target"] for k in kids.values()} == {"local"}
    assert steps["train"]["depends_on"] == ["prep"]
    assert {(e["from"], e["to"], e["data"]) for e in body["edges"]} == {
        ("prep", "train", "scaled_numbers"), ("train", "evaluate", "trained_model")}
    # The data train read is the content prep wrote.
    prep_out = steps["prep"]["outputs_content"][0]["manifest"]
    assert steps["train"]["inputs_content"]["numbers"]["content"] == prep_out
    listing = workspace.cli("pipeline", "list-steps", "--run", run_id).stdout
    assert re.search(r"train\s+\S*Completed", listing), listing


def test_reuse_takes_no_compute_and_changed_data_is_never_reused(workspace, src):
    yml = setup_pipeline(workspace, src)
    first, _ = submit(workspace, yml)
    first_steps = steps_of(workspace, first)

    again, r = submit(workspace, yml)
    steps = steps_of(workspace, again)
    assert [steps[n]["status"] for n in ("prep", "train", "evaluate")] == ["Reused"] * 3, r.stderr
    assert {n: s["reused_from"] for n, s in steps.items()} == {n: s["run_id"] for n, s in first_steps.items()}
    assert children(workspace, again) == [], "a reused step makes no run"
    assert "3 reused" in workspace.history(again)[-1]["reason"]

    # New numbers at the same datastore path: Azure reused on paths; Ferry must rerun.
    upload_numbers(workspace, src.parent, "1 2 3 4\n")
    changed, _ = submit(workspace, yml)
    steps = steps_of(workspace, changed)
    assert all(s["reused_from"] is None for s in steps.values()), steps
    assert metric(workspace, steps["evaluate"]["run_id"], "evaluated") == 20

    # A different parameter value is a different step; the same numbers again are reused.
    other, _ = submit(workspace, yml, "-p", "scale=3")
    steps = steps_of(workspace, other)
    assert steps["prep"]["reused_from"] is None
    assert metric(workspace, steps["train"]["run_id"], "total") == 30


def test_allow_reuse_false_always_runs(workspace, src):
    yml = setup_pipeline(workspace, src, pipeline=PIPELINE.replace(
        "        train:\n", "        train:\n            allow_reuse: false\n"))
    submit(workspace, yml)
    again, _ = submit(workspace, yml)
    steps = steps_of(workspace, again)
    assert steps["prep"]["status"] == "Reused"
    assert steps["train"]["status"] == "Completed" and steps["train"]["reused_from"] is None
    # train wrote the same model, so evaluate's inputs did not change: reused.
    assert steps["evaluate"]["status"] == "Reused"


def test_a_failed_step_stops_the_pipeline_and_rerun_runs_it_and_what_follows(workspace, src, tmp_path):
    yml = setup_pipeline(workspace, src)
    marker = tmp_path / "broken"
    marker.write_text("")
    run_id, r = submit(workspace, yml, "-p", f"fail_marker={marker}", check=False)
    assert r.returncode == 1, r.stderr
    body = pipeline_run(workspace, run_id)
    assert body["run"]["status"] == "Failed"
    assert "step 'train'" in body["run"]["error"] and "told to fail" in body["run"]["error"], body["run"]
    steps = {s["name"]: s for s in body["steps"]}
    assert steps["prep"]["status"] == "Completed"
    assert steps["evaluate"]["status"] == "NotStarted"

    marker.unlink()
    r = workspace.cli("pipeline", "rerun", run_id, "--wait", timeout=300)
    new_id = re.search(r"Pipeline run (\S+) reruns", r.stderr).group(1)
    steps = steps_of(workspace, new_id)
    assert steps["prep"]["reused_from"] == body["steps"][0]["run_id"]
    assert steps["train"]["status"] == "Completed" and steps["train"]["reused_from"] is None
    assert steps["evaluate"]["status"] == "Completed"
    assert pipeline_run(workspace, new_id)["run"]["tags"]["ferry.pipeline.rerun_of"] == run_id


SLOW_PREP = PREP.replace('a = p.parse_args()', 'a = p.parse_args()\nimport time; time.sleep(float(os.environ.get("SLEEP", "0")))')


def test_cancel_reaches_the_running_step(workspace, src):
    yml = setup_pipeline(workspace, src)
    (src / "prep.py").write_text(SLOW_PREP.replace('os.environ.get("SLEEP", "0")', '"60"'))
    run_id, _ = submit(workspace, yml, wait=False)
    prep = wait_until(lambda: steps_of(workspace, run_id)["prep"]["run_id"], 30, "prep's run")
    workspace.wait_status(prep, "Running", timeout=60)
    status, body, _ = workspace.api("POST", f"/runs/{run_id}/cancel")
    assert status == 202, body
    wait_until(lambda: pipeline_run(workspace, run_id)["run"]["status"] in TERMINAL, 60, "the pipeline to end")
    assert pipeline_run(workspace, run_id)["run"]["status"] == "Canceled"
    assert workspace.run(prep)["status"] == "Canceled"
    assert steps_of(workspace, run_id)["train"]["status"] == "NotStarted"


def test_a_server_killed_mid_pipeline_resumes_it_with_no_step_lost_or_run_twice(workspace, src):
    yml = setup_pipeline(workspace, src)
    (src / "prep.py").write_text(SLOW_PREP.replace('os.environ.get("SLEEP", "0")', '"4"'))
    run_id, _ = submit(workspace, yml, wait=False)
    prep = wait_until(lambda: steps_of(workspace, run_id)["prep"]["run_id"], 30, "prep's run")
    workspace.wait_status(prep, "Running", timeout=60)
    workspace.kill_server()
    workspace.start_server()
    wait_until(lambda: pipeline_run(workspace, run_id)["run"]["status"] in TERMINAL, 180, "the pipeline to end")
    body = pipeline_run(workspace, run_id)
    assert body["run"]["status"] == "Completed", body["run"]
    kids = children(workspace, run_id)
    assert sorted(k["name"] for k in kids) == ["evaluate", "prep", "train"], kids
    assert metric(workspace, steps_of(workspace, run_id)["evaluate"]["run_id"], "evaluated") == 12


def test_bad_definitions_are_refused_before_anything_runs(workspace, src):
    yml = setup_pipeline(workspace, src)
    before = workspace.run_count()

    def refused(text: str, *expected: str) -> None:
        bad = src / "bad.yml"
        bad.write_text(textwrap.dedent(text))
        _, r = submit(workspace, bad, check=False, wait=False)
        assert r.returncode != 0, r.stdout
        for e in expected:
            assert e in r.stderr, (e, r.stderr)

    cyclic = PIPELINE.replace("source: raw_numbers", "source: trained_model")
    refused(cyclic, "bad.yml:", "cycle", "prep", "train")
    refused(PIPELINE.replace("source: trained_model", "source: nowhere"), "bad.yml:", "step 'evaluate'", "nowhere")
    refused(PIPELINE.replace("- parameter:scale", "- parameter:speed"), "bad.yml:", "step 'prep'", "speed")
    refused(PIPELINE.replace("type: PythonScriptStep", "type: AdlaStep"), "bad.yml:", "AdlaStep")
    refused(PIPELINE.replace("default_compute: local", "default_compute: gpu-box"), "gpu-box")
    refused(PIPELINE.replace("default: 2", "default: two"), "bad.yml:", "scale")
    _, r = submit(workspace, yml, "-p", "scale=lots", check=False, wait=False)
    assert r.returncode != 0 and "scale" in r.stderr, r.stderr
    assert workspace.run_count() == before


def test_a_command_step_runs_its_command_line_with_its_arguments(workspace, src):
    yml = setup_pipeline(workspace, src, pipeline=PIPELINE.replace(
        """        prep:
            type: PythonScriptStep
            name: prepare the numbers
            script_name: prep.py
            runconfig: local.runconfig
""", """        prep:
            type: CommandStep
            command: mkdir -p "$FERRY_OUTPUT_scaled" && cat "$FERRY_INPUT_raw"/a.txt > "$FERRY_OUTPUT_scaled/scaled.txt" && echo
""").replace("""                - --scale
                - parameter:scale
""", """                - "it's"
                - parameter:scale
"""))
    run_id, r = submit(workspace, yml)
    steps = steps_of(workspace, run_id)
    assert steps["prep"]["status"] == "Completed", r.stderr
    # The arguments were quoted onto the command line: echo printed them as given.
    assert "--raw" in workspace.log(steps["prep"]["run_id"]) and "it's 2" in workspace.log(steps["prep"]["run_id"])
    assert metric(workspace, steps["train"]["run_id"], "total") == 6
