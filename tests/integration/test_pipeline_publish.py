"""Published pipelines, pipeline endpoints and schedules end to end (issue 21): `ferry pipeline
create` publishes a YAML pipeline, its REST endpoint runs it from curl with Azure's body, a
disabled pipeline refuses, an endpoint's default version switches, recurring and
datastore-triggered schedules fire (with minutes shortened by the server's test knob
FERRY_SCHEDULE_MINUTE_SECONDS), fixed times never fire at creation, and a server killed with a
slot claimed but not yet submitted makes exactly one run for it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from conftest import TERMINAL, wait_until

SHOW = """\
import argparse, pathlib
from ferry import Run
p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--word", required=True)
a = p.parse_args()
d = pathlib.Path(a.data)
files = sorted(f for f in d.rglob("*") if f.is_file()) if d.is_dir() else [d]
print("word=" + a.word)
for f in files:
    print("file", f.name, f.read_text().strip())
Run.get_context().log("files", len(files))
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
    name: echo
    description: print a word and the files of a datastore path
    parameters:
        data:
            type: datapath
            default:
                datastore: workspaceblobstore
                path_on_datastore: incoming
        word:
            type: string
            default: {word}
    default_compute: local
    steps:
        show:
            script_name: show.py
            runconfig: local.runconfig
            allow_reuse: false
            arguments: [--data, "input:data", --word, "parameter:word"]
            parameters:
                word:
                    source: word
            inputs:
                data:
                    source: data
                    bind_mode: download
"""

FAST = {"FERRY_SCHEDULE_MINUTE_SECONDS": "2"}  # the server's test knob: a schedule minute is 2 s


def setup(ws, src: Path, word: str = "hello", name: str = "pipeline.yml") -> Path:
    (src / "show.py").write_text(SHOW)
    (src / "local.runconfig").write_text(RUNCONFIG.format(python=sys.executable))
    (src / name).write_text(PIPELINE.format(word=word))
    upload(ws, src.parent, "first.txt", "1 2 3")
    return src / name


def upload(ws, where: Path, name: str, text: str) -> None:
    data = where / ("upload-" + name)
    data.mkdir(exist_ok=True)
    (data / name).write_text(text)
    ws.cli("datastore", "upload", "-n", "workspaceblobstore", "-p", data, "-t", "incoming", "--overwrite")


def publish(ws, yml: Path, name: str = "echo", *extra) -> str:
    r = ws.cli("pipeline", "create", "-n", name, "-y", yml, *extra, timeout=120)
    return r.stdout.strip()


def curl_submit(ws, url: str, body: dict) -> tuple[int, dict]:
    r = subprocess.run(
        ["curl", "-sS", "-X", "POST", "-w", "\n%{http_code}", "-H", f"Authorization: Bearer {ws.token}",
         "-H", "Content-Type: application/json", "-d", json.dumps(body), url],
        capture_output=True, text=True, timeout=60, check=True)
    text, _, code = r.stdout.rpartition("\n")
    return int(code), json.loads(text)


def wait_run(ws, run_id: str, timeout: float = 120) -> dict:
    wait_until(lambda: ws.run(run_id)["status"] in TERMINAL, timeout, f"pipeline run {run_id} to end")
    return ws.run(run_id)


def step_log(ws, pipeline_run: str) -> str:
    status, body, _ = ws.api("GET", f"/pipeline-runs/{pipeline_run}")
    assert status == 200, body
    return ws.log(body["steps"][0]["run_id"])


def schedule_runs(ws, schedule_id: str) -> list[dict]:
    status, body, _ = ws.api("GET", f"/schedules/{schedule_id}/runs?limit=1000")
    assert status == 200, body
    return body["runs"]


def schedule(ws, schedule_id: str) -> dict:
    status, body, _ = ws.api("GET", f"/schedules/{schedule_id}")
    assert status == 200, body
    return body


def test_publish_then_submit_from_curl_and_disable(workspace, src):
    yml = setup(workspace, src)
    pid = publish(workspace, yml, "echo", "--version", "1.0", "--description", "published for curl")
    status, p, _ = workspace.api("GET", f"/pipelines/{pid}")
    assert status == 200, p
    assert (p["name"], p["version"], p["status"], p["steps"]) == ("echo", "1.0", "Active", ["show"])
    assert p["endpoint"].endswith(f"/api/v1/pipelines/{pid}/submit")
    assert pid in workspace.cli("pipeline", "list").stdout
    assert "published for curl" in workspace.cli("pipeline", "show", "--id", pid).stdout

    # Azure's REST call: bearer token, ExperimentName, ParameterAssignments, DataPathAssignments.
    code, body = curl_submit(workspace, p["endpoint"], {
        "ExperimentName": "from-curl", "ParameterAssignments": {"word": "curl"},
        "DataPathAssignments": {"data": {"DataStoreName": "workspaceblobstore", "RelativePath": "incoming/first.txt"}}})
    assert code == 200, body
    run = wait_run(workspace, body["Id"])
    assert run["status"] == "Completed", run
    assert run["experiment"] == "from-curl" and run["kind"] == "pipeline"
    assert run["tags"]["ferry.pipeline.published_id"] == pid
    log = step_log(workspace, body["Id"])
    assert "word=curl" in log and "file first.txt 1 2 3" in log, log

    # Disabled: refused with 409 naming it, from curl and from the CLI; enabled again it runs.
    workspace.cli("pipeline", "disable", "-i", pid)
    before = workspace.run_count()
    code, body = curl_submit(workspace, p["endpoint"], {"ExperimentName": "from-curl"})
    assert code == 409, body
    assert pid in body["error"]["message"] and "disabled" in body["error"]["message"], body
    r = workspace.cli("run", "submit-pipeline", "-i", pid, "-n", "cli", check=False)
    assert r.returncode != 0 and "disabled" in r.stderr, r.stderr
    assert workspace.run_count() == before
    workspace.cli("pipeline", "enable", "-i", pid)
    r = workspace.cli("run", "submit-pipeline", "-i", pid, "-n", "cli", "-p", "word=again", "--wait", timeout=180)
    assert "Completed" in r.stderr, r.stderr
    # -y and -i are one or the other.
    r = workspace.cli("run", "submit-pipeline", "-i", pid, "-y", yml, check=False)
    assert r.returncode != 0


def test_publish_checks_the_definition_like_a_submit(workspace, src):
    yml = setup(workspace, src)
    bad = src / "bad.yml"
    bad.write_text(PIPELINE.format(word="x").replace("default_compute: local", "default_compute: gpu-box"))
    r = workspace.cli("pipeline", "create", "-n", "bad", "-y", bad, check=False)
    assert r.returncode != 0 and "gpu-box" in r.stderr, r.stderr
    status, body, _ = workspace.api("GET", "/pipelines")
    assert status == 200 and body["pipelines"] == [], body
    assert publish(workspace, yml)


def test_an_endpoint_switches_its_default_version(workspace, src):
    one = publish(workspace, setup(workspace, src, word="one", name="one.yml"), "echo-one")
    two = publish(workspace, setup(workspace, src, word="two", name="two.yml"), "echo-two")
    status, e, _ = workspace.api("POST", "/pipeline-endpoints", json={"name": "echo", "pipeline_id": one})
    assert status == 201, e
    assert e["default_version"] == "0" and e["default_pipeline_id"] == one
    status, e, _ = workspace.api("POST", "/pipeline-endpoints/echo/pipelines", json={"pipeline_id": two})
    assert status == 201 and e["version"] == "1" and e["default_version"] == "0", e

    def submit(**extra) -> dict:
        status, body, _ = workspace.api("POST", "/pipeline-endpoints/echo/submit",
                                        json={"ExperimentName": "endpoint", **extra})
        assert status == 200, body
        run = wait_run(workspace, body["Id"])
        assert run["status"] == "Completed", run
        return run

    run = submit()
    assert run["tags"]["ferry.pipeline.published_id"] == one
    assert run["tags"]["ferry.pipeline.endpoint_version"] == "0"
    assert "word=one" in step_log(workspace, run["id"])
    status, e, _ = workspace.api("PUT", f"/pipeline-endpoints/{e['id']}/default", json={"version": "1"})
    assert status == 200 and e["default_pipeline_id"] == two, e
    run = submit()
    assert run["tags"]["ferry.pipeline.published_id"] == two
    assert "word=two" in step_log(workspace, run["id"])
    assert submit(PipelineVersion="0")["tags"]["ferry.pipeline.published_id"] == one
    status, body, _ = workspace.api("PUT", "/pipeline-endpoints/echo/default", json={"version": "7"})
    assert status == 404, body
    workspace.api("POST", "/pipeline-endpoints/echo/disable")
    status, body, _ = workspace.api("POST", "/pipeline-endpoints/echo/submit", json={"ExperimentName": "endpoint"})
    assert status == 409 and "disabled" in body["error"]["message"], body


def test_a_recurring_schedule_fires_on_its_interval(make_workspace, src):
    ws = make_workspace(env=FAST)
    pid = publish(ws, setup(ws, src))
    (src / "schedule.yml").write_text("Schedule:\n    description: every minute\n    recurrence:\n"
                                      "        frequency: Minute\n        interval: 1\n"
                                      "    pipeline_parameters:\n        word: scheduled\n")
    sid = ws.cli("pipeline", "create-schedule", "-n", "minutely", "-i", pid, "-e", "nightly",
                 "-y", src / "schedule.yml").stdout.strip()
    # At creation (no fixed times) and again one (2-second) minute later.
    runs = wait_until(lambda: len(schedule_runs(ws, sid)) >= 2 and schedule_runs(ws, sid), 90, "two scheduled runs")
    ws.cli("pipeline", "disable-schedule", "-s", sid)
    wait_until(lambda: schedule(ws, sid)["pending_fire"] is None, 30, "no claim pending")
    runs = schedule_runs(ws, sid)
    fires = [float(r["tags"]["ferry.schedule.fire"]) for r in runs]
    assert len(set(fires)) == len(fires), fires
    assert all(r["tags"]["ferry.schedule"] == sid and r["experiment"] == "nightly" for r in runs)
    assert all(r["tags"]["ferry.pipeline.published_id"] == pid for r in runs)
    newest = runs[0]["id"]
    wait_run(ws, newest)
    assert "word=scheduled" in step_log(ws, newest)
    last = ws.cli("pipeline", "last-pipeline-run", "-s", sid).stdout
    assert last.split()[0] == newest, last
    assert newest in ws.cli("pipeline", "pipeline-runs-list", "-s", sid).stdout
    shown = ws.cli("pipeline", "show-schedule", "-s", sid).stdout
    assert "Disabled" in shown and "every 1 Minute" in shown, shown
    # Disabled, it makes no more runs.
    count = len(schedule_runs(ws, sid))
    time.sleep(5)
    assert len(schedule_runs(ws, sid)) == count
    # update-schedule renames it and enables it again.
    ws.cli("pipeline", "update-schedule", "-s", sid, "-n", "renamed", "-t", "Active")
    assert schedule(ws, sid)["name"] == "renamed" and schedule(ws, sid)["status"] == "Active"
    ws.cli("pipeline", "disable-schedule", "-s", sid)


def test_fixed_times_never_fire_at_creation(make_workspace, src):
    ws = make_workspace(env=FAST)
    pid = publish(ws, setup(ws, src))
    hour = (time.gmtime().tm_hour + 12) % 24
    status, s, _ = ws.api("POST", "/schedules", json={
        "name": "daily", "pipeline_id": pid, "experiment_name": "daily",
        "recurrence": {"frequency": "Day", "interval": 1, "hours": [hour], "minutes": [30]}})
    assert status == 201, s
    assert s["next_fire"] > time.time() + 60, s
    time.sleep(6)
    assert schedule_runs(ws, s["id"]) == []
    assert schedule(ws, s["id"])["last_fire"] is None


def test_a_datastore_trigger_fires_on_a_new_file_with_its_path(make_workspace, src):
    ws = make_workspace(env=FAST)
    pid = publish(ws, setup(ws, src))
    status, s, _ = ws.api("POST", "/schedules", json={
        "name": "on-upload", "pipeline_id": pid, "experiment_name": "triggered",
        "datastore_name": "workspaceblobstore", "path_on_datastore": "incoming", "polling_interval": 1,
        "data_path_parameter_name": "data"})
    assert status == 201, s
    # The first poll only records what is there.
    wait_until(lambda: schedule(ws, s["id"])["last_fire"] is None and schedule(ws, s["id"])["next_fire"]
               > s["next_fire"], 30, "the first poll")
    time.sleep(5)
    assert schedule_runs(ws, s["id"]) == []
    upload(ws, src.parent, "second.txt", "4 5")
    runs = wait_until(lambda: schedule_runs(ws, s["id"]), 60, "a run for the new file")
    assert len(runs) == 1, runs
    run = wait_run(ws, runs[0]["id"])
    assert run["status"] == "Completed", run
    assert run["tags"]["ferry.schedule.path"] == "incoming/second.txt"
    status, body, _ = ws.api("GET", f"/pipeline-runs/{run['id']}")
    assert body["parameters"]["data"] == {"datastore": "workspaceblobstore", "path": "incoming/second.txt"}, body
    log = step_log(ws, run["id"])
    assert "file second.txt 4 5" in log and "file first.txt" not in log, log
    # Nothing new: no second run.
    time.sleep(6)
    assert len(schedule_runs(ws, s["id"])) == 1


def test_a_server_killed_with_a_claimed_slot_makes_exactly_one_run_for_it(make_workspace, src):
    # The test knob FERRY_SCHEDULE_TEST_HOLD_SECONDS pauses between a slot's claim and its
    # submit, so the server can be killed with the claim pending.
    ws = make_workspace(env={**FAST, "FERRY_SCHEDULE_TEST_HOLD_SECONDS": "8"})
    pid = publish(ws, setup(ws, src))
    status, s, _ = ws.api("POST", "/schedules", json={
        "name": "minutely", "pipeline_id": pid, "experiment_name": "crash",
        "recurrence": {"frequency": "Minute", "interval": 1}})
    assert status == 201, s
    pending = wait_until(lambda: schedule(ws, s["id"])["pending_fire"], 30, "a claimed slot")
    assert schedule_runs(ws, s["id"]) == []
    ws.kill_server()
    del ws.env["FERRY_SCHEDULE_TEST_HOLD_SECONDS"]
    ws.start_server()
    runs = wait_until(lambda: len(schedule_runs(ws, s["id"])) >= 3 and schedule_runs(ws, s["id"]), 60,
                      "the claimed slot's run and later ones")
    ws.api("POST", f"/schedules/{s['id']}/disable")
    wait_until(lambda: schedule(ws, s["id"])["pending_fire"] is None, 30, "no claim pending")
    runs = schedule_runs(ws, s["id"])
    fires = [float(r["tags"]["ferry.schedule.fire"]) for r in runs]
    assert fires.count(pending) == 1, (pending, fires)
    assert len(set(fires)) == len(fires), fires


def test_the_sdk_gets_submits_and_schedules_a_published_pipeline(make_workspace, src):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
    from ferry import Workspace
    from ferry.pipeline._published import (PipelineEndpoint, PublishedPipeline, Schedule, ScheduleRecurrence,
                                           TimeZone, _publish)

    ws_server = make_workspace(env=FAST)
    pid = publish(ws_server, setup(ws_server, src))
    ws = Workspace(home=str(ws_server.home))
    p = PublishedPipeline.get(ws, pid)
    assert (p.name, p.status, p.get_step_names()) == ("echo", "Active", ["show"])
    assert [x.id for x in PublishedPipeline.list(ws)] == [pid]
    run = p.submit(ws, "sdk", pipeline_parameters={"word": "sdk"})
    assert wait_run(ws_server, run.id)["status"] == "Completed"
    assert "word=sdk" in step_log(ws_server, run.id)
    p.disable()
    assert p.status == "Disabled" and PublishedPipeline.list(ws) == []
    p.enable()

    # _publish is what Pipeline.publish calls with the pipeline's JSON definition.
    status, body, _ = ws_server.api("GET", f"/pipelines/{pid}")
    again = _publish(ws, body["pipeline"], "echo-again", description="from the SDK", version="2")
    assert again.id != pid and again.version == "2"

    e = PipelineEndpoint.publish(ws, "sdk-endpoint", "two versions", p)
    e.add_default(again)
    assert e.default_version == "1" and e.get_pipeline().id == again.id
    e.set_default_version("0")
    assert PipelineEndpoint.get(ws, name="sdk-endpoint").get_pipeline().id == pid
    assert [v.id for v in e.list_pipelines()] == [pid, again.id]

    s = Schedule.create(ws, "sdk-minutely", pipeline_id=pid, experiment_name="sdk-scheduled",
                        recurrence=ScheduleRecurrence("Minute", 1, time_zone=TimeZone.UTC),
                        pipeline_parameters={"word": "tick"})
    wait_until(lambda: s.get_last_pipeline_run(), 60, "the schedule's first run")
    s.disable()
    assert Schedule.get(ws, s.id).status == "Disabled"
    assert [x.id for x in Schedule.list(ws, active_only=False)] == [s.id]
    assert all(r.id for r in s.get_pipeline_runs())
