"""The pipeline SDK (ferry.pipeline.core / ferry.pipeline.steps) without a server: the JSON it
builds (src/pipeline/spec.h's canonical form), what validate() finds, the snapshots it uploads
and how PipelineRun reads GET /pipeline-runs/{id}. The client is a fake that records requests."""

import os

import pytest

from ferry import Experiment
from ferry.data.data_reference import DataReference
from ferry.data.datapath import DataPath, DataPathComputeBinding
from ferry.data.dataset_factory import FileDataset
from ferry.data.output_dataset_config import OutputFileDatasetConfig
from ferry.exceptions import ActivityFailedException, InvalidArgumentError
from ferry.pipeline.core import Pipeline, PipelineData, PipelineParameter, PipelineRun, StepRun, StepSequence
from ferry.pipeline.steps import CommandStep, PythonScriptStep
from ferry.run_configuration import RunConfiguration


class FakeClient:
    def __init__(self, answers=None):
        self.calls = []
        self.answers = answers or {}

    def call(self, method, path, body=None, params=None, timeout=None):
        self.calls.append((method, path, body, params))
        answer = self.answers.get((method, path))
        if callable(answer):
            return answer(body, params)
        if answer is not None:
            return answer
        if (method, path) == ("POST", "/pipeline-runs"):
            return {"id": "pr1", "status": "Queued", "experiment": body["experiment"], "kind": "pipeline"}
        raise AssertionError(f"unexpected request {method} {path}")

    def posted(self):
        return [b for m, p, b, _ in self.calls if (m, p) == ("POST", "/pipeline-runs")]


class FakeWorkspace:
    url = "http://ferry.test"

    def __init__(self, client=None):
        self._client = client or FakeClient()


class Store:
    def __init__(self, name):
        self.name = name
        self.workspace = None


@pytest.fixture
def uploads(monkeypatch):
    """_snapshot.upload replaced: each upload is recorded and gets an id from its folder."""
    from ferry import _snapshot

    done = []

    def upload(client, snap):
        done.append(snap)
        return "snap-" + str(len(done))

    monkeypatch.setattr(_snapshot, "upload", upload)
    return done


@pytest.fixture
def src(tmp_path):
    for name in ("prep.py", "train.py"):
        (tmp_path / name).write_text("print('hi')\n")
    return tmp_path


def two_steps(src, **train_kw):
    prepped = PipelineData("prepped")
    prep = PythonScriptStep("prep.py", name="prep", arguments=["--out", prepped], outputs=[prepped],
                            source_directory=str(src))
    train = PythonScriptStep("train.py", name="train", arguments=["--data", prepped, "--epochs", 3],
                             source_directory=str(src), **train_kw)
    return prep, train, prepped


def submit(pipeline, **kwargs):
    ws = pipeline._workspace
    run = Experiment(ws, "exp").submit(pipeline, **kwargs)
    return run, ws._client.posted()[-1]


# ---- the JSON -------------------------------------------------------------------------------

def test_two_steps_joined_by_pipeline_data_and_the_consumer_alone_listed(src, uploads):
    prep, train, _ = two_steps(src)
    run, body = submit(Pipeline(FakeWorkspace(), [train], description="two steps"), tags={"team": "a"})
    assert isinstance(run, PipelineRun) and run.id == "pr1"
    assert body["experiment"] == "exp" and body["tags"] == {"team": "a"} and body["parameters"] == {}
    assert "continue_on_step_failure" not in body
    spec = body["pipeline"]
    assert spec["description"] == "two steps" and "parameters" not in spec and "data_references" not in spec
    # resolve_closure: the producer of the data train reads is part of the pipeline.
    assert spec["steps"] == [
        {"name": "train", "type": "PythonScriptStep", "script_name": "train.py", "snapshot_id": "snap-1",
         "arguments": ["--data", {"input": "prepped"}, "--epochs", "3"],
         "inputs": [{"name": "prepped", "source": "prepped", "bind_mode": "mount"}], "allow_reuse": True},
        {"name": "prep", "type": "PythonScriptStep", "script_name": "prep.py", "snapshot_id": "snap-1",
         "arguments": ["--out", {"output": "prepped"}],
         "outputs": [{"name": "prepped", "destination": "prepped", "bind_mode": "mount"}], "allow_reuse": True},
    ]
    assert len(uploads) == 1  # one folder, one snapshot


def test_without_resolve_closure_the_unlisted_producer_is_an_unknown_source(src):
    _, train, _ = two_steps(src)
    errors = Pipeline(FakeWorkspace(), [train], resolve_closure=False).validate()
    assert errors == ["step 'train': input 'prepped' reads 'prepped', which no step of the pipeline writes; add "
                      "the step that lists it in outputs= to the pipeline"]
    with pytest.raises(InvalidArgumentError, match="no step of the pipeline writes"):
        submit(Pipeline(FakeWorkspace(), [train], resolve_closure=False))


def test_each_source_directory_is_snapshotted_once_and_must_hold_the_script(src, tmp_path_factory, uploads):
    other = tmp_path_factory.mktemp("other")
    (other / "eval.py").write_text("print('eval')\n")
    prep, train, _ = two_steps(src)
    ev = PythonScriptStep("eval.py", name="eval", source_directory=str(other))
    ev.run_after(train)
    again = PythonScriptStep("./prep.py", name="prep_again", source_directory=str(src) + "/")
    _, body = submit(Pipeline(FakeWorkspace(), [prep, train, ev, again]))
    ids = {s["name"]: s["snapshot_id"] for s in body["pipeline"]["steps"]}
    assert len(uploads) == 2
    assert ids["prep"] == ids["train"] == ids["prep_again"] != ids["eval"]
    assert [s["script_name"] for s in body["pipeline"]["steps"]] == ["prep.py", "train.py", "eval.py", "prep.py"]
    missing = PythonScriptStep("nope.py", source_directory=str(src))
    with pytest.raises(ValueError, match="'nope.py' is not in the snapshot"):
        submit(Pipeline(FakeWorkspace(), [missing]))


def test_default_source_directory_and_default_datastore(src, uploads):
    out = PipelineData("out")
    keep = PipelineData("keep", datastore=Store("archive"), output_mode="upload")
    step = PythonScriptStep("prep.py", arguments=[out], outputs=[out, keep])
    _, body = submit(Pipeline(FakeWorkspace(), [step], default_source_directory=str(src),
                              default_datastore=Store("scratch"), name="p1", default_compute_target="cpu"))
    spec = body["pipeline"]
    assert spec["name"] == "p1" and spec["default_compute"] == "cpu"
    (s,) = spec["steps"]
    assert s["name"] == "prep.py" and s["snapshot_id"] == "snap-1"
    assert s["outputs"] == [{"name": "out", "destination": "out", "bind_mode": "mount", "datastore": "scratch"},
                            {"name": "keep", "destination": "keep", "bind_mode": "upload", "datastore": "archive"}]


def test_pipeline_parameters_are_placeholders_and_step_parameters(src, uploads):
    lr = PipelineParameter("lr", 0.01)
    epochs = PipelineParameter("epochs", 5)
    mode = PipelineParameter(name="mode", default_value="fast")
    flag = PipelineParameter("debug", False)
    step = PythonScriptStep("train.py", arguments=["--lr", lr, "--epochs", epochs, "--mode", mode],
                            params={"verbose": flag, "seed": 7}, source_directory=str(src))
    _, body = submit(Pipeline(FakeWorkspace(), [step]), pipeline_parameters={"lr": 0.5, "debug": True})
    spec = body["pipeline"]
    assert spec["parameters"] == [{"name": "lr", "type": "float", "default": 0.01},
                                  {"name": "epochs", "type": "int", "default": 5},
                                  {"name": "mode", "type": "string", "default": "fast"},
                                  {"name": "debug", "type": "bool", "default": False}]
    (s,) = spec["steps"]
    assert s["arguments"] == ["--lr", {"parameter": "lr"}, "--epochs", {"parameter": "epochs"},
                              "--mode", {"parameter": "mode"}]
    assert s["parameters"] == [{"name": "lr", "source": "lr"}, {"name": "epochs", "source": "epochs"},
                               {"name": "mode", "source": "mode"}, {"name": "verbose", "source": "debug"},
                               {"name": "seed", "value": 7}]
    assert body["parameters"] == {"lr": 0.5, "debug": True}
    with pytest.raises(InvalidArgumentError, match=r"names \['nope'\].*its parameters: debug, epochs, lr, mode"):
        submit(Pipeline(FakeWorkspace(), [step]), pipeline_parameters={"nope": 1})
    with pytest.raises(TypeError, match="str, int, float, bool or DataPath"):
        PipelineParameter("bad", [1, 2])


def test_two_parameters_of_one_name_with_different_defaults_are_refused(src):
    a = PythonScriptStep("prep.py", arguments=[PipelineParameter("n", 1)], source_directory=str(src))
    b = PythonScriptStep("train.py", arguments=[PipelineParameter("n", 2)], source_directory=str(src))
    c = PythonScriptStep("train.py", name="c", arguments=[PipelineParameter("n", 1)], source_directory=str(src))
    assert Pipeline(FakeWorkspace(), [a, c]).validate() == []  # equal definitions are one parameter
    assert Pipeline(FakeWorkspace(), [a, b]).validate() == [
        "two PipelineParameters are named 'n' with different defaults (1 and 2); use one object"]


def test_datapath_parameter_is_an_input_whose_source_is_the_parameter(src, uploads):
    store = Store("blobs")
    dp = PipelineParameter("raw", DataPath(store, "data/raw"))
    step = PythonScriptStep("prep.py", arguments=["--raw", (dp, DataPathComputeBinding(mode="download"))],
                            source_directory=str(src))
    _, body = submit(Pipeline(FakeWorkspace(), [step]),
                     pipeline_parameters={"raw": DataPath(store, "data/other")})
    spec = body["pipeline"]
    assert spec["parameters"] == [{"name": "raw", "type": "datapath",
                                   "default": {"datastore": "blobs", "path": "data/raw"}}]
    (s,) = spec["steps"]
    assert s["arguments"] == ["--raw", {"input": "raw"}]
    assert s["inputs"] == [{"name": "raw", "source": "raw", "bind_mode": "download"}]
    assert body["parameters"] == {"raw": {"datastore": "blobs", "path": "data/other"}}


def test_datasets_and_data_references_are_pipeline_data_references(src, uploads):
    store = Store("blobs")
    iris = FileDataset(None, {"name": "iris", "version": 3})
    loose = FileDataset(None, {"definition": {"paths": [{"datastore": "blobs", "path": "loose/*.csv"}]}})
    ref = DataReference(store, "ref", "some/dir", mode="download")
    step = PythonScriptStep(
        "train.py", source_directory=str(src),
        arguments=["--iris", iris.as_named_input("iris_in").as_mount(), "--ref", ref,
                   "--dp", (DataPath(store, "x/y", name="dp"), DataPathComputeBinding())],
        inputs=[loose.as_named_input("loose").as_download()])
    _, body = submit(Pipeline(FakeWorkspace(), [step]))
    spec = body["pipeline"]
    assert spec["data_references"] == [
        {"name": "loose", "datastore": "blobs", "path": "loose/*.csv", "bind_mode": "download"},
        {"name": "iris_in", "dataset_name": "iris", "dataset_version": 3, "bind_mode": "mount"},
        {"name": "ref", "datastore": "blobs", "path": "some/dir", "bind_mode": "download"},
        {"name": "dp", "datastore": "blobs", "path": "x/y", "bind_mode": "mount"}]
    (s,) = spec["steps"]
    # inputs= lists an input that the arguments do not name: still an input of the step.
    assert s["arguments"] == ["--iris", {"input": "iris_in"}, "--ref", {"input": "ref"}, "--dp", {"input": "dp"}]
    assert [(i["name"], i["source"], i["bind_mode"]) for i in s["inputs"]] == [
        ("loose", "loose", "download"), ("iris_in", "iris_in", "mount"), ("ref", "ref", "download"),
        ("dp", "dp", "mount")]
    other = DataReference(store, "ref", "elsewhere")
    step2 = PythonScriptStep("prep.py", arguments=[other], source_directory=str(src))
    errors = Pipeline(FakeWorkspace(), [step, step2]).validate()
    assert len(errors) == 1 and "two different data references are named 'ref'" in errors[0]
    transformed = FileDataset(None, {"definition": {"paths": [{"datastore": "b", "path": "p"}],
                                                    "transforms": [{"op": "take", "count": 1}]}})
    with pytest.raises(ValueError, match="register it first"):
        PythonScriptStep("prep.py", arguments=[transformed.as_named_input("t")])


def test_output_file_dataset_config_between_steps(src, uploads):
    out = OutputFileDatasetConfig("features", destination=(Store("blobs"), "feat/{run-id}")).as_upload()
    prep = PythonScriptStep("prep.py", name="prep", arguments=["--out", out.register_on_complete("features_ds")],
                            source_directory=str(src))
    train = PythonScriptStep("train.py", name="train", source_directory=str(src),
                             arguments=["--feat", out.as_input("feat").as_download()],
                             inputs=[out.read_delimited_files()])
    _, body = submit(Pipeline(FakeWorkspace(), [prep, train]))
    p, t = body["pipeline"]["steps"]
    assert p["arguments"] == ["--out", {"output": "features"}]
    assert p["outputs"] == [{"name": "features", "destination": "features", "bind_mode": "upload",
                             "datastore": "blobs", "path": "feat/{run-id}", "register_name": "features_ds"}]
    assert t["arguments"] == ["--feat", {"input": "feat"}]
    # read_delimited_files() in inputs= reads the same output (as its files, for now).
    assert t["inputs"] == [{"name": "features", "source": "features", "bind_mode": "mount"},
                           {"name": "feat", "source": "features", "bind_mode": "download"}]
    assert "outputs" not in t


def test_run_after_and_step_sequence(src, uploads):
    a = PythonScriptStep("prep.py", name="a", source_directory=str(src))
    b = PythonScriptStep("train.py", name="b", source_directory=str(src))
    c = PythonScriptStep("train.py", name="c", source_directory=str(src))
    c.run_after(a)
    c.run_after(a)  # once only
    _, body = submit(Pipeline(FakeWorkspace(), [b, c]))
    steps = {s["name"]: s for s in body["pipeline"]["steps"]}
    assert list(steps) == ["b", "c", "a"]  # a comes in through c's run_after
    assert steps["c"]["run_after"] == ["a"] and "run_after" not in steps["b"]
    x = PythonScriptStep("prep.py", name="x", source_directory=str(src))
    y = PythonScriptStep("train.py", name="y", source_directory=str(src))
    z = CommandStep("echo done", name="z")
    _, body = submit(Pipeline(FakeWorkspace(), StepSequence(steps=[x, y, z])))
    assert [s.get("run_after") for s in body["pipeline"]["steps"]] == [None, ["x"], ["y"]]
    with pytest.raises(ValueError, match="after itself"):
        x.run_after(x)


def test_validate_lists_names_producers_and_cycles(src):
    a = PythonScriptStep("prep.py", name="same", source_directory=str(src))
    b = PythonScriptStep("train.py", name="same", source_directory=str(src))
    assert Pipeline(FakeWorkspace(), [a, b]).validate() == [
        "two steps are named 'same'; give each step its own name= (step names are unique in a pipeline)"]
    d1, d2 = PipelineData("d"), PipelineData("d")
    w1 = PythonScriptStep("prep.py", name="w1", outputs=[d1])
    w2 = PythonScriptStep("prep.py", name="w2", outputs=[d2])
    assert Pipeline(FakeWorkspace(), [w1, w2]).validate() == [
        "two different outputs are named 'd' (steps 'w1' and 'w2'); output names are unique in a pipeline"]
    w3 = PythonScriptStep("prep.py", name="w3", outputs=[d1])
    assert Pipeline(FakeWorkspace(), [w1, w3]).validate() == [
        "output 'd' is written by two steps, 'w1' and 'w3'; give it one producer (a step that reads it has it in "
        "inputs=[...], or out.as_input() in its arguments)"]
    # A cycle through data and run_after.
    p, q = PipelineData("p"), PipelineData("q")
    s1 = PythonScriptStep("prep.py", name="s1", arguments=[q], outputs=[p])
    s2 = PythonScriptStep("train.py", name="s2", arguments=[p], outputs=[q])
    assert Pipeline(FakeWorkspace(), [s1, s2]).validate() == [
        "the steps depend on each other in a cycle: 's1' -> 's2' -> 's1'"]
    r1 = PythonScriptStep("prep.py", name="r1")
    r2 = PythonScriptStep("prep.py", name="r2")
    r1.run_after(r2)
    r2.run_after(r1)
    assert "cycle: 'r1' -> 'r2' -> 'r1'" in Pipeline(FakeWorkspace(), [r1, r2]).validate()[0]
    selfish = PipelineData("own")
    s3 = PythonScriptStep("prep.py", name="s3", inputs=[selfish.as_input("mine")], outputs=[selfish])
    assert Pipeline(FakeWorkspace(), [s3]).validate() == ["step 's3' reads its own output 'own'"]
    lone = PythonScriptStep("prep.py", name="lone")
    r3 = PythonScriptStep("prep.py", name="r3")
    r3.run_after(lone)
    assert Pipeline(FakeWorkspace(), [r3], resolve_closure=False).validate() == [
        "step 'r3' runs after step 'lone', which is not in the pipeline; add it to the steps"]
    two_inputs = PythonScriptStep("prep.py", name="t", inputs=[PipelineData("x1").as_input("in"),
                                                                PipelineData("x2").as_input("in")])
    assert any("two different inputs are named 'in'" in e for e in Pipeline(FakeWorkspace(), [two_inputs]).validate())
    assert Pipeline(FakeWorkspace(), []).validate() == ["the pipeline has no steps"]


def test_wrong_kinds_are_refused_when_the_step_is_made():
    with pytest.raises(TypeError, match="outputs= takes PipelineData"):
        PythonScriptStep("prep.py", outputs=["out"])
    with pytest.raises(TypeError, match="cannot read object"):
        PythonScriptStep("prep.py", arguments=[object()])
    with pytest.raises(ValueError, match="runconfig_pipeline_params is not supported"):
        PythonScriptStep("prep.py", runconfig_pipeline_params={"NodeCount": PipelineParameter("n", 1)})
    with pytest.raises(ValueError, match="is not valid"):
        PipelineData("has-dash")
    with pytest.raises(TypeError, match="PythonScriptStep, CommandStep"):
        Pipeline(FakeWorkspace(), ["prep.py"])


def test_runconfig_becomes_run_options_and_compute(src, uploads):
    rc = RunConfiguration()
    rc.environment_variables = {"MODE": "fast"}
    rc.node_count = 2
    rc.target = "cluster-a"
    rc.environment.python.user_managed_dependencies = True
    rc.environment.python.interpreter_path = "/opt/py/bin/python"

    class Target:
        name = "gpu-box"

    a = PythonScriptStep("prep.py", name="a", runconfig=rc, source_directory=str(src))
    b = PythonScriptStep("train.py", name="b", runconfig=rc, compute_target=Target(), source_directory=str(src))
    c = PythonScriptStep("train.py", name="c", compute_target="cpu", allow_reuse=False, source_directory=str(src))
    _, body = submit(Pipeline(FakeWorkspace(), [a, b, c]), continue_on_step_failure=True, regenerate_outputs=False)
    steps = {s["name"]: s for s in body["pipeline"]["steps"]}
    assert steps["a"]["compute"] == "cluster-a" and steps["b"]["compute"] == "gpu-box" and steps["c"]["compute"] == "cpu"
    assert steps["a"]["run_options"] == {"environment_variables": {"MODE": "fast"}, "node_count": 2}
    assert steps["a"]["python"] == "/opt/py/bin/python"
    assert "run_options" not in steps["c"] and "python" not in steps["c"]
    assert [s["allow_reuse"] for s in steps.values()] == [True, True, False]
    assert body["continue_on_step_failure"] is True
    _, body = submit(Pipeline(FakeWorkspace(), [a, b]), regenerate_outputs=True)
    assert [s["allow_reuse"] for s in body["pipeline"]["steps"]] == [False, False]


def test_command_step(src, uploads):
    data = PipelineData("data")
    n = PipelineParameter("n", 2)
    step = CommandStep(command=["python", "prep.py", "--out", data, "--n", n], name="cmd", outputs=[data],
                       source_directory=str(src))
    plain = CommandStep("ls -l", compute_target="cpu")
    _, body = submit(Pipeline(FakeWorkspace(), [step, plain], default_source_directory=str(src)))
    s, p = body["pipeline"]["steps"]
    assert s["type"] == "CommandStep" and s["command"] == "python" and s["snapshot_id"] == "snap-1"
    assert s["arguments"] == ["prep.py", "--out", {"output": "data"}, "--n", {"parameter": "n"}]
    assert p == {"name": "ls", "type": "CommandStep", "compute": "cpu", "command": "ls -l", "arguments": [],
                 "allow_reuse": True, "snapshot_id": "snap-1"}  # the server needs a snapshot for every step
    assert len(uploads) == 1
    with pytest.raises(ValueError, match="needs command="):
        CommandStep()


def test_pipeline_submit_and_experiment_submit_keywords(src, uploads):
    _, train, _ = two_steps(src)
    ws = FakeWorkspace()
    run = Pipeline(ws, [train]).submit("exp2", pipeline_parameters={}, tags={"k": "v"})
    (body,) = ws._client.posted()
    assert run.id == "pr1" and body["experiment"] == "exp2" and body["tags"] == {"k": "v"}
    assert body["continue_on_step_failure"] is False
    with pytest.raises(TypeError, match="unknown arguments"):
        Experiment(ws, "exp").submit(Pipeline(ws, [train]), pipeline_paramters={})

    class OldStyle:  # a config whose _submit takes (experiment, tags) only keeps working
        def _submit(self, experiment, tags=None):
            return ("submitted", experiment.name, tags)

    assert Experiment(ws, "exp").submit(OldStyle(), tags={"a": "b"}) == ("submitted", "exp", {"a": "b"})
    from ferry import ScriptRunConfig

    with pytest.raises(TypeError, match=r"unknown arguments \['pipeline_parameters'\] for a ScriptRunConfig"):
        Experiment(ws, "exp").submit(ScriptRunConfig(str(src), "train.py"), pipeline_parameters={})


def test_pipeline_data_in_a_script_run_config_is_refused(src):
    from ferry import ScriptRunConfig

    with pytest.raises(ValueError, match="pipeline step"):
        ScriptRunConfig(str(src), "train.py", arguments=[PipelineData("x").as_input("y")])


# ---- the run --------------------------------------------------------------------------------

def pipeline_answers(steps, status="Running", error=None):
    run = {"id": "pr1", "status": status, "experiment": "exp", "kind": "pipeline"}
    if error:
        run["error"] = {"message": error}
    children = [{"id": s["run_id"], "status": s["status"], "experiment": "exp", "parent_id": "pr1",
                 "created_at": s.get("created_at", 0), "tags": s.get("tags", {})}
                for s in steps if s.get("run_id")]
    return {("GET", "/pipeline-runs/pr1"): {"run": run, "pipeline": {}, "parameters": {}, "steps": steps,
                                            "edges": [{"from": "prep", "to": "train", "data": "prepped"}]},
            ("GET", "/runs"): lambda body, params: {"runs": children if params.get("parent") == "pr1" else []}}


def test_pipeline_run_steps_newest_first_and_reuse():
    steps = [{"name": "prep", "status": "Completed", "run_id": "r1", "reused_from": "r0", "created_at": 10,
              "tags": {"ferry.pipeline.step": "prep", "ferry.reused_from": "r0"}},
             {"name": "train", "status": "Running", "run_id": "r2", "reused_from": None, "created_at": 20},
             {"name": "eval", "status": "NotStarted", "run_id": None}]
    ws = FakeWorkspace(FakeClient(pipeline_answers(steps)))
    run = PipelineRun(Experiment(ws, "exp"), "pr1")
    got = run.get_steps()
    assert [r.id for r in got] == ["r2", "r1"] and all(isinstance(r, StepRun) for r in got)
    assert [r.name for r in got] == ["train", "prep"]
    assert got[1].reused and got[1].reused_from == "r0" and not got[0].reused and got[0].reused_from is None
    assert got[0].pipeline_run_id == "pr1" and got[0].type == "azureml.StepRun" and run.type == "azureml.PipelineRun"
    assert [r.id for r in run.find_step_run("prep")] == ["r1"]
    assert run.find_step_run("eval") == [] and run.find_step_run("nope") == []
    graph = run.get_graph()
    assert [s["name"] for s in graph["steps"]] == ["prep", "train", "eval"]
    assert graph["edges"] == [{"from": "prep", "to": "train", "data": "prepped"}]
    assert [r.id for r in run.get_children(status="Running")] == ["r2"]


def test_wait_for_completion_prints_steps_and_returns_the_status(capsys):
    steps = [{"name": "prep", "status": "Completed", "run_id": "r1", "reused_from": "r0"},
             {"name": "train", "status": "Completed", "run_id": "r2"}]
    ws = FakeWorkspace(FakeClient(pipeline_answers(steps, status="Completed")))
    run = PipelineRun(Experiment(ws, "exp"), "pr1")
    assert run.wait_for_completion() == "Completed"
    out = capsys.readouterr().out
    assert "PipelineRunId: pr1" in out and "Step 'prep': Completed (run r1), reused from run r0" in out
    assert "Step 'train': Completed (run r2)" in out and "PipelineRun Status: Completed" in out
    failed = [{"name": "prep", "status": "Failed", "run_id": "r1"}, {"name": "train", "status": "Canceled"}]
    ws = FakeWorkspace(FakeClient(pipeline_answers(failed, status="Failed", error="step prep failed")))
    run = PipelineRun(Experiment(ws, "exp"), "pr1")
    with pytest.raises(ActivityFailedException, match="pipeline run 'pr1' failed in steps prep: step prep failed"):
        run.wait_for_completion(show_output=False)
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Failed"
    ws = FakeWorkspace(FakeClient(pipeline_answers(steps, status="Running")))
    assert PipelineRun(Experiment(ws, "exp"), "pr1").wait_for_completion(False, timeout_seconds=0) == "Running"


def test_rerun_posts_and_returns_the_new_run():
    ws = FakeWorkspace(FakeClient({("POST", "/pipeline-runs/pr1/rerun"): {"id": "pr2", "status": "Queued"}}))
    new = PipelineRun(Experiment(ws, "exp"), "pr1").rerun()
    assert isinstance(new, PipelineRun) and new.id == "pr2"


def test_module_paths():
    import ferry.pipeline.core.builder as builder
    import ferry.pipeline.core.graph as graph
    import ferry.pipeline.core.pipeline as pipeline
    import ferry.pipeline.core.run as run
    import ferry.pipeline.steps.command_step as command_step
    import ferry.pipeline.steps.python_script_step as python_script_step

    assert graph.PipelineParameter is PipelineParameter and builder.PipelineData is PipelineData
    assert pipeline.Pipeline is Pipeline and run.PipelineRun is PipelineRun and run.StepRun is StepRun
    assert builder.StepSequence is StepSequence and python_script_step.PythonScriptStep is PythonScriptStep
    assert command_step.CommandStep is CommandStep
    assert os.path.basename(graph.__file__) == "graph.py"


def test_names_follow_the_servers_rule():
    assert PythonScriptStep("scripts/train.py").name == "scripts_train.py"
    assert PythonScriptStep("./prep.py").name == "prep.py"
    bad = PythonScriptStep("prep.py", name="has space")
    assert Pipeline(FakeWorkspace(), [bad]).validate() == [
        "step name 'has space' is not valid: use 1-128 letters, digits, '_', '.' or '-' (not '.' or '..') "
        "(give the step a name=)"]
    with pytest.raises(ValueError, match="PipelineParameter name 'a b' is not valid"):
        PipelineParameter("a b", 1)
    with pytest.raises(TypeError, match=r"params\['x'\] is None"):
        PythonScriptStep("prep.py", params={"x": None})
    assert Pipeline(FakeWorkspace(), [PythonScriptStep("prep.py", params={"a/b": 1})]).validate() == [
        "step 'prep.py': parameter name 'a/b' is not valid: use 1-128 letters, digits, '_', '.' or '-' (not '.' or "
        "'..')"]


def test_step_run_wait_returns_its_status():
    record = {"id": "r1", "experiment": "exp", "parent_id": "pr1", "error": {"message": "boom"}}
    statuses = ["Running", "Running", "Running", "Failed"]

    def run_json(body, params):  # Running three times, then Failed
        return dict(record, status=statuses.pop(0) if len(statuses) > 1 else statuses[0])

    client = FakeClient({("GET", "/runs/r1"): run_json})
    step = StepRun(Experiment(FakeWorkspace(client), "exp"), "r1", "pr1", "train")
    assert step.name == "train" and step.pipeline_run_id == "pr1" and not step.reused
    assert step.wait_for_completion(timeout_seconds=0) == "Running"
    assert step.wait_for_completion(timeout_seconds=30, raise_on_error=False) == "Failed"
    with pytest.raises(ActivityFailedException, match="step run 'r1' failed: boom"):
        step.wait_for_completion(timeout_seconds=30)
    reused = StepRun(Experiment(FakeWorkspace(client), "exp"), "r2", "pr1", "prep", _is_reused=True,
                     _reused_run_id="r0")
    assert reused.reused and reused.reused_from == "r0"


def test_importing_the_pipeline_tree_loads_no_sdk_module():
    import subprocess
    import sys

    python_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ("import sys; import ferry.pipeline.core, ferry.pipeline.steps, ferry.pipeline.core.run; "
            "print(sorted(m for m in sys.modules if m.startswith('ferry')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": python_dir})
    loaded = eval(out.stdout)  # noqa: S307 - our own print of a list of strings
    assert not {"ferry.pipelines", "ferry.pipeline_steps", "ferry.pipeline_run", "ferry._client"} & set(loaded)
