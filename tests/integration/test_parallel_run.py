"""ParallelRunStep end to end on the local target (issue 21): CLI v1's YAML with its
parallel_run_config file, an entry script with init()/run(mini_batch) over a file dataset in two
worker processes, the rows appended in mini-batch order, failing mini-batches under and over the
error threshold, and a worker killed in the middle of a mini-batch (its batch goes to the other
worker). The Slurm case (2 nodes x 2 processes) is in test_parallel_run_slurm.py."""

from __future__ import annotations

import os
import signal
import sys
import urllib.parse
from pathlib import Path

from conftest import TERMINAL, wait_until
from test_pipelines import RUNCONFIG, pipeline_run, steps_of, submit

ENTRY = """\
import argparse, os, time
from ferry_user.parallel_run import EntryScript

def init():
    global log, marker, delay
    p = argparse.ArgumentParser()
    p.add_argument("--marker", default="")
    p.add_argument("--delay", type=float, default=0)
    a = p.parse_known_args()[0]
    marker, delay = a.marker, a.delay
    log = EntryScript().logger
    log.info("init in %s", os.getpid())

def run(mini_batch):
    time.sleep(delay)
    rows = []
    for path in mini_batch:
        name = os.path.basename(path)
        text = open(path).read()
        if "bad" in text:
            raise ValueError("cannot score " + name)
        if "slow" in text and marker and not os.path.exists(marker):
            with open(marker, "w") as f:
                f.write(str(os.getpid()))
            time.sleep(120)  # killed by the test
        rows.append(name + " " + str(len(text)))
    return rows
"""

PRS = """\
display_name: score files
entry_script: score.py
mini_batch_size: "5"
error_threshold: {threshold}
output_action: append_row
append_row_file_name: scores.txt
process_count_per_node: 2
run_invocation_timeout: 60
run_max_try: 2
logging_level: INFO
"""

PIPELINE = """\
pipeline:
    name: batch-score
    data_references:
        images:
            datastore: workspaceblobstore
            path_on_datastore: images
    default_compute: local
    steps:
        score:
            type: ParallelRunStep
            parallel_run_config: prs.yml
            runconfig: local.runconfig
            allow_reuse: false
            arguments: [--marker, "{marker}", --delay, "{delay}"]
            inputs:
                images:
                    source: images
            outputs:
                scores:
                    destination: scores
"""


def setup(ws, src: Path, contents: dict[int, str], threshold: int = 10, marker: str = "",
          delay: float = 0) -> Path:
    (src / "score.py").write_text(ENTRY)
    (src / "prs.yml").write_text(PRS.format(threshold=threshold))
    (src / "local.runconfig").write_text(RUNCONFIG.format(python=sys.executable))
    (src / "pipeline.yml").write_text(PIPELINE.format(marker=marker, delay=delay))
    data = src.parent / "images"
    data.mkdir(exist_ok=True)
    for i in range(40):
        (data / f"f{i:02d}.txt").write_text(contents.get(i, "x" * (i + 1)))
    ws.cli("datastore", "upload", "-n", "workspaceblobstore", "-p", data, "-t", "images", "--overwrite")
    return src / "pipeline.yml"


def artifact(ws, run_id: str, path: str) -> str:
    status, body, _ = ws.api("GET", f"/runs/{run_id}/artifacts/content?path=" + urllib.parse.quote(path))
    assert status == 200, body
    return body.decode() if isinstance(body, bytes) else str(body)


def progress(ws, run_id: str) -> dict:
    status, body, _ = ws.api("GET", f"/runs/{run_id}/minibatches")
    assert status == 200, body
    return body


def expected_rows(skip: set[int], contents: dict[int, str]) -> list[str]:
    return [f"f{i:02d}.txt {len(contents.get(i, 'x' * (i + 1)))}" for i in range(40) if i not in skip]


def test_files_are_scored_in_two_processes_and_failures_under_the_threshold_are_tolerated(workspace, src):
    bad = {3: "bad", 27: "bad"}  # in mini-batches 0 and 5
    yml = setup(workspace, src, bad, threshold=10)
    run_id, r = submit(workspace, yml)
    step = steps_of(workspace, run_id)["score"]
    assert step["status"] == "Completed", (step, r.stderr)
    p = progress(workspace, step["run_id"])
    assert (p["total"], p["done"], p["failed"], p["failed_items"]) == (8, 6, 2, 10), p
    assert "cannot score f03.txt" in p["first_error"]
    # Rows of the batches that worked, in mini-batch order whatever worker did them.
    rows = artifact(workspace, step["run_id"], "outputs/datasets/scores/scores.txt").splitlines()
    assert rows == expected_rows(set(range(0, 5)) | set(range(25, 30)), bad)
    # Both processes worked, each with its own log; a failed batch was tried twice.
    logs = [artifact(workspace, step["run_id"], f"logs/parallel/0/worker_{k}.txt") for k in (0, 1)]
    assert all("init in" in text for text in logs), logs
    assert sum(text.count("mini-batch 0 (try") for text in logs) == 2, logs
    status, page, _ = workspace.api("GET", f"/runs/{step['run_id']}/minibatches/results?from=0&limit=3")
    assert status == 200 and [b["state"] for b in page["batches"]] == ["failed", "done", "done"], page


def test_failures_over_the_threshold_fail_the_step_naming_it(workspace, src):
    yml = setup(workspace, src, {3: "bad", 27: "bad"}, threshold=5)
    run_id, r = submit(workspace, yml, check=False)
    assert r.returncode == 1, r.stderr
    body = pipeline_run(workspace, run_id)
    assert body["run"]["status"] == "Failed"
    step = {s["name"]: s for s in body["steps"]}["score"]
    assert step["status"] == "Failed"
    assert "error_threshold (5)" in step["error"], step["error"]


def test_a_worker_killed_mid_batch_loses_nothing(workspace, src, tmp_path):
    marker = tmp_path / "slow-worker.pid"
    yml = setup(workspace, src, {12: "slow"}, threshold=0, marker=str(marker))
    run_id, _ = submit(workspace, yml, wait=False)
    wait_until(marker.exists, 120, "a worker to start the slow mini-batch")
    pid = int(wait_until(lambda: marker.read_text().strip() or None, 10, "the worker's pid"))
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: pipeline_run(workspace, run_id)["run"]["status"] in TERMINAL, 180, "the pipeline to end")
    step = steps_of(workspace, run_id)["score"]
    assert step["status"] == "Completed", step
    p = progress(workspace, step["run_id"])
    assert (p["done"], p["failed"]) == (8, 0), p
    rows = artifact(workspace, step["run_id"], "outputs/datasets/scores/scores.txt").splitlines()
    assert rows == expected_rows(set(), {12: "slow"})
    # The batch went back to the queue when its worker died, and the node kept two workers.
    log = workspace.log(step["run_id"])
    assert "exited with -9; 1 mini-batch(es) back to the queue" in log, log


def test_the_sdk_builds_the_same_step(workspace, src):
    """Azure's batch-scoring notebook shape, renamed: a file dataset, ParallelRunConfig,
    ParallelRunStep with a PipelineData output, Experiment.submit, the rows read back."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
    from ferry import Dataset, Datastore, Experiment, Workspace
    from ferry.pipeline.core import Pipeline, PipelineData
    from ferry.pipeline.steps import ParallelRunConfig, ParallelRunStep

    setup(workspace, src, {})
    ws = Workspace(home=str(workspace.home))
    images = Dataset.File.from_files(path=(Datastore.get(ws, "workspaceblobstore"), "images/**"))
    scores = PipelineData("scores", datastore=ws.get_default_datastore())
    config = ParallelRunConfig(entry_script="score.py", source_directory=str(src), mini_batch_size="8",
                               error_threshold=0, output_action="append_row", append_row_file_name="out.txt",
                               compute_target="local", node_count=1, process_count_per_node=2)
    step = ParallelRunStep(name="score", parallel_run_config=config,
                           inputs=[images.as_named_input("images")], output=scores, allow_reuse=False)
    run = Experiment(ws, "batch").submit(Pipeline(ws, [step]))
    assert run.wait_for_completion(show_output=False) == "Completed"
    (step_run,) = run.find_step_run("score")
    assert progress(workspace, step_run.id)["total"] == 5
    rows = artifact(workspace, step_run.id, "outputs/datasets/scores/out.txt").splitlines()
    assert rows == expected_rows(set(), {})
