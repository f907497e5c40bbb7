"""Ferry as an MLflow tracking server, driven by the real `mlflow` client (mlflow-skinny, pinned
in requirements-dev.txt): logging from outside as a plain tracking server, logging from inside a
Ferry run with no set-up, search, errors. MLflow runs and Ferry runs are the same rows.

Each client scenario runs in its own interpreter: the mlflow client keeps process-wide state
(tracking URI, active run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from test_runs import write

import mlflow  # noqa: F401,E402  (requirements-dev.txt pins it; the scenarios run it in subprocesses)


def client(workspace, code: str, token: str | None = None, check: bool = True) -> dict:
    """Runs `code` with MLFLOW_TRACKING_URI/TOKEN pointing at the workspace; it prints one JSON
    object last, which is returned."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = workspace.url
    env["MLFLOW_TRACKING_TOKEN"] = token if token is not None else workspace.token
    env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                       timeout=120)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
        return json.loads(r.stdout.strip().splitlines()[-1])
    return {"returncode": r.returncode, "stderr": r.stderr}


def test_plain_mlflow_client_logs_and_ferry_sees_the_same_run(workspace):
    out = client(workspace, """
        import json, mlflow
        from mlflow import MlflowClient
        mlflow.set_experiment("mlf-exp")
        with mlflow.start_run(run_name="first") as run:
            mlflow.log_param("lr", 0.1)
            mlflow.log_params({"layers": 3, "opt": "adam"})
            for step in range(5):
                mlflow.log_metric("acc", 0.5 + 0.1 * step, step=step)
            mlflow.log_metrics({"loss": 0.25, "f1": float("nan")})
            mlflow.set_tag("team", "vision")
            run_id = run.info.run_id
        c = MlflowClient()
        r = c.get_run(run_id)
        hist = c.get_metric_history(run_id, "acc")
        exp = mlflow.get_experiment_by_name("mlf-exp")
        print(json.dumps({
            "run_id": run_id, "status": r.info.status, "name": r.info.run_name,
            "experiment_id": r.info.experiment_id, "exp_name": exp.name, "exp_id": exp.experiment_id,
            "params": r.data.params, "metrics": {k: (None if v != v else v) for k, v in r.data.metrics.items()},
            "tags": {k: v for k, v in r.data.tags.items() if not k.startswith("mlflow.source")},
            "history": [[m.step, round(m.value, 6)] for m in hist],
            "end_time": r.info.end_time, "start_time": r.info.start_time,
        }))
    """)
    assert out["status"] == "FINISHED" and out["name"] == "first"
    assert out["exp_name"] == "mlf-exp" and out["experiment_id"] == out["exp_id"]
    assert out["params"] == {"lr": "0.1", "layers": "3", "opt": "adam"}
    assert out["metrics"]["acc"] == pytest.approx(0.9) and out["metrics"]["loss"] == 0.25
    assert out["metrics"]["f1"] is None  # NaN travels as NaN
    assert out["tags"]["team"] == "vision" and out["tags"]["mlflow.runName"] == "first"
    assert out["history"] == [[s, round(0.5 + 0.1 * s, 6)] for s in range(5)]
    assert out["end_time"] >= out["start_time"] > 0
    # One store: the same run through Ferry's own API.
    run = workspace.run(out["run_id"])
    assert run["status"] == "Completed" and run["experiment"] == "mlf-exp", run
    assert [h["status"] for h in workspace.history(out["run_id"])] == ["Running", "Finalizing", "Completed"]
    status, body, _ = workspace.api("GET", f"/runs/{out['run_id']}/metrics?key=acc")
    assert status == 200 and [p["value"] for p in body["metrics"]["acc"]] == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9])
    # An MLflow run is never launched by Ferry's scheduler.
    assert run["target"] == ""


def test_search_filters_orders_and_pages(workspace):
    out = client(workspace, """
        import json, mlflow
        from mlflow import MlflowClient
        exp = mlflow.create_experiment("searchable", tags={"owner": "ml"})
        mlflow.set_experiment(experiment_id=exp)
        for i, (lr, acc) in enumerate([("0.1", 0.7), ("0.01", 0.9), ("0.1", 0.8), ("0.001", None)]):
            with mlflow.start_run(run_name=f"r{i}"):
                mlflow.log_param("lr", lr)
                if acc is not None:
                    mlflow.log_metric("acc", acc)
                mlflow.set_tag("kind", "good" if i % 2 else "plain")
        c = MlflowClient()
        best = c.search_runs([exp], "metrics.acc > 0.75", order_by=["metrics.acc DESC"])
        lr01 = c.search_runs([exp], "params.lr = '0.1' and tags.kind LIKE 'pl%'")
        everything = mlflow.search_runs([exp], output_format="list", order_by=["attributes.run_name ASC"])
        page1 = c.search_runs([exp], max_results=3)
        page2 = c.search_runs([exp], max_results=3, page_token=page1.token)
        exps = [e.name for e in c.search_experiments(filter_string="name = 'searchable'")]
        e = c.get_experiment(exp)
        print(json.dumps({
            "best": [r.info.run_name for r in best], "lr01": sorted(r.info.run_name for r in lr01),
            "all": [r.info.run_name for r in everything], "pages": [len(page1), len(page2), page2.token],
            "exps": exps, "owner": e.tags.get("owner"),
        }))
    """)
    assert out["best"] == ["r1", "r2"]
    assert out["lr01"] == ["r0", "r2"]
    assert out["all"] == ["r0", "r1", "r2", "r3"]
    assert out["pages"] == [3, 1, None]
    assert out["exps"] == ["searchable"] and out["owner"] == "ml"


def test_errors_are_mlflow_errors_with_the_reason(workspace):
    out = client(workspace, """
        import json, mlflow
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException
        c = MlflowClient()
        found = {}
        exp = c.create_experiment("errs")
        try:
            c.create_experiment("errs")
        except MlflowException as e:
            found["dup"] = [e.error_code, str(e)]
        run = c.create_run(exp)
        c.log_param(run.info.run_id, "lr", "0.1")
        try:
            c.log_param(run.info.run_id, "lr", "0.2")
        except MlflowException as e:
            found["param"] = [e.error_code, str(e)]
        try:
            c.search_runs([exp], "metrics.acc > 1 or metrics.acc < 0")
        except MlflowException as e:
            found["or"] = [e.error_code, str(e)]
        try:
            c.get_run("no_such_run")
        except MlflowException as e:
            found["missing"] = [e.error_code, str(e)]
        found["none"] = mlflow.get_experiment_by_name("nope") is None
        found["run_id"] = run.info.run_id
        print(json.dumps(found))
    """)
    assert out["dup"][0] == "RESOURCE_ALREADY_EXISTS" and "errs" in out["dup"][1]
    assert out["param"][0] == "INVALID_PARAMETER_VALUE" and "'lr'" in out["param"][1] and "0.1" in out["param"][1]
    assert out["or"][0] == "INVALID_PARAMETER_VALUE" and "AND" in out["or"][1]
    assert out["missing"][0] == "RESOURCE_DOES_NOT_EXIST" and "no_such_run" in out["missing"][1]
    assert out["none"] is True
    # MLflow's batch limits (the client splits its own batches; a raw request can exceed them).
    run_id = out["run_id"]
    for body, limit in [({"metrics": [{"key": "m", "value": 1, "timestamp": 0, "step": i} for i in range(1001)]}, "1000"),
                        ({"params": [{"key": f"p{i}", "value": "v"} for i in range(101)]}, "100"),
                        ({"tags": [{"key": f"t{i}", "value": "v"} for i in range(101)]}, "100")]:
        status, err, _ = workspace.api("POST", "/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, **body})
        assert status == 400 and err["error_code"] == "INVALID_PARAMETER_VALUE" and limit in err["message"], err
    status, err, _ = workspace.api("POST", "/api/2.0/mlflow/runs/log-metric",
                                   json={"run_id": run_id, "key": "m", "value": "high", "timestamp": 0})
    assert status == 400 and "parameter 'value'" in err["message"] and "must be a number" in err["message"], err
    # Nothing of a refused batch was stored.
    status, got, _ = workspace.api("GET", f"/api/2.0/mlflow/runs/get?run_id={run_id}")
    assert status == 200 and got["run"]["data"].get("metrics", []) == [], got


def test_a_wrong_token_is_refused(workspace):
    r = client(workspace, """
        import mlflow
        mlflow.set_experiment("x")
    """, token="not-the-token", check=False)
    assert r["returncode"] != 0 and "PERMISSION_DENIED" in r["stderr"], r["stderr"][-2000:]


def test_a_script_in_a_ferry_run_logs_with_mlflow_unchanged(workspace, src):
    other = client(workspace, """
        import json, mlflow
        r = mlflow.MlflowClient().create_run(mlflow.set_experiment("elsewhere").experiment_id)
        print(json.dumps({"run_id": r.info.run_id}))
    """)["run_id"]
    write(src / "train.py", """
        import sys
        import mlflow
        from mlflow.exceptions import MlflowException
        # The script's token is for its own run: another run, or a new one, is refused.
        for attempt in (lambda: mlflow.MlflowClient().log_metric(sys.argv[1], "stolen", 1.0),
                        lambda: mlflow.MlflowClient().create_run("0")):
            try:
                attempt()
                print("NOT REFUSED", flush=True)
            except MlflowException as e:
                print("refused:", e.error_code, flush=True)
        mlflow.log_param("epochs", 3)
        for epoch in range(3):
            mlflow.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
        mlflow.set_tag("framework", "none")
        mlflow.log_text("from the script", "notes/mlflow.txt")
        mlflow.end_run()  # a script's end_run does not end the Ferry run early
        print("trained", flush=True)
    """)
    run_id, r = workspace.submit(src, "train.py", other, wait=True)
    assert r.returncode == 0, r.stdout + r.stderr
    run = workspace.run(run_id)
    assert run["status"] == "Completed", run
    log = workspace.log(run_id)
    assert log.count("refused: PERMISSION_DENIED") == 2 and "NOT REFUSED" not in log, log
    status, body, _ = workspace.api("GET", f"/runs/{run_id}/metrics?key=loss")
    assert status == 200 and [p["value"] for p in body["metrics"]["loss"]] == pytest.approx([1.0, 0.5, 1 / 3])
    assert run["tags"]["framework"] == "none"
    # The same through MLflow, from outside.
    out = client(workspace, f"""
        import json
        from mlflow import MlflowClient
        r = MlflowClient().get_run("{run_id}")
        print(json.dumps({{"params": r.data.params, "status": r.info.status}}))
    """)
    assert out == {"params": {"epochs": "3"}, "status": "FINISHED"}
    # Its MLflow artifact sits beside the outputs the agent collected.
    status, body, _ = workspace.api("GET", f"/runs/{run_id}/artifacts")
    paths = {a["path"] for a in body["artifacts"]}
    assert {"notes/mlflow.txt", "logs/std_log.txt"} <= paths, paths
    # The script's token reaches only its own run.
    assert "trained" in workspace.log(run_id)


def test_artifacts_up_and_down_and_ferry_lists_them(workspace, tmp_path):
    data = tmp_path / "model.bin"
    data.write_bytes(bytes(range(256)) * 1000)
    down = tmp_path / "down"
    out = client(workspace, f"""
        import json, mlflow
        from mlflow import MlflowClient
        mlflow.set_experiment("arts")
        with mlflow.start_run() as run:
            mlflow.log_artifact("{data}", artifact_path="models")
            mlflow.log_text("hello", "notes/readme.txt")
            mlflow.log_dict({{"a": 1}}, "config.json")
        c = MlflowClient()
        top = sorted((f.path, f.is_dir) for f in c.list_artifacts(run.info.run_id))
        models = [(f.path, f.file_size) for f in c.list_artifacts(run.info.run_id, "models")]
        local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path="{down}")
        text = mlflow.artifacts.load_text(run.info.artifact_uri + "/notes/readme.txt")
        print(json.dumps({{"run_id": run.info.run_id, "top": top, "models": models, "local": local, "text": text}}))
    """)
    assert out["top"] == [["config.json", False], ["models", True], ["notes", True]]
    assert out["models"] == [["models/model.bin", 256000]]
    assert (down / "models" / "model.bin").read_bytes() == data.read_bytes()
    assert out["text"] == "hello"
    # The same files through Ferry's API (one store).
    status, body, _ = workspace.api("GET", f"/runs/{out['run_id']}/artifacts")
    assert status == 200 and {a["path"] for a in body["artifacts"]} == {"models/model.bin", "notes/readme.txt",
                                                                        "config.json"}, body


def test_sklearn_autologging_in_a_ferry_run(workspace, src):
    """Autologging, unchanged: parameters, training metrics and the dataset input land in the run."""
    write(src / "fit.py", """
        import mlflow, mlflow.sklearn
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression
        mlflow.sklearn.autolog(log_models=False)
        X, y = load_iris(return_X_y=True)
        LogisticRegression(max_iter=300, C=0.5).fit(X, y)
        print("fitted", flush=True)
    """)
    run_id, r = workspace.submit(src, "fit.py", wait=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Encountered unexpected error" not in workspace.log(run_id), workspace.log(run_id)
    run = workspace.run(run_id)
    assert run["status"] == "Completed" and run["params"]["C"] == "0.5" and run["params"]["max_iter"] == "300"
    status, body, _ = workspace.api("GET", f"/runs/{run_id}/metrics?key=training_accuracy_score")
    assert status == 200 and 0.5 < body["metrics"]["training_accuracy_score"][0]["value"] <= 1.0
    out = client(workspace, f"""
        import json
        from mlflow import MlflowClient
        r = MlflowClient().get_run("{run_id}")
        print(json.dumps({{"inputs": [d.dataset.name for d in r.inputs.dataset_inputs],
                          "hidden": "mlflow.datasets" in r.data.tags}}))
    """)
    assert out["inputs"] and out["hidden"] is False, out


def test_a_long_series_comes_back_downsampled_for_charts(workspace):
    """Ferry's chart endpoint (GET /runs/{id}/metrics?max_points=) on 5,000 points logged by MLflow."""
    out = client(workspace, """
        import json, time, mlflow
        from mlflow import MlflowClient
        from mlflow.entities import Metric
        mlflow.set_experiment("charts")
        with mlflow.start_run() as run:
            now = int(time.time() * 1000)
            pts = [Metric("loss", 100.0 if i == 2500 else 1.0 / (i + 1), now, i) for i in range(5000)]
            MlflowClient().log_batch(run.info.run_id, metrics=pts, synchronous=True)
        print(json.dumps({"run_id": run.info.run_id}))
    """)
    run_id = out["run_id"]
    status, body, _ = workspace.api("GET", f"/runs/{run_id}/metrics?key=loss&max_points=100")
    assert status == 200, body
    pts = body["metrics"]["loss"]
    assert len(pts) <= 100 and body["downsampled"]["loss"] == {"points": 5000, "returned": len(pts)}
    assert max(p["value"] for p in pts) == 100.0  # the spike survives
    assert [p["step"] for p in pts] == sorted(p["step"] for p in pts)
    status, full, _ = workspace.api("GET", f"/runs/{run_id}/metrics?key=loss&max_points=10000")
    assert len(full["metrics"]["loss"]) == 5000 and "downsampled" not in full
    status, err, _ = workspace.api("GET", f"/runs/{run_id}/metrics?key=loss&max_points=1")
    assert status == 400 and "max_points" in err["error"]["message"]


def test_run_list_sorts_and_filters_on_the_server(workspace):
    """GET /api/v1/runs: filter by tag and parameter, sort by a metric or a parameter, count."""
    client(workspace, """
        import json, mlflow
        mlflow.set_experiment("table")
        for i, lr in enumerate(["0.1", "0.01", "0.001"]):
            with mlflow.start_run(run_name=f"t{i}", tags={"team": "a" if i != 1 else "b"}):
                mlflow.log_param("lr", lr)
                mlflow.log_metric("loss", 1.0 / (i + 1))
        print(json.dumps({}))
    """)
    status, body, _ = workspace.api("GET", "/runs?experiment=table&sort=metric:loss&order=asc&count=true")
    by_loss = [r["id"] for r in body["runs"]]
    assert body["total"] == 3 and len(by_loss) == 3
    status, body2, _ = workspace.api("GET", "/runs?experiment=table&sort=param:lr&order=asc")
    assert [r["id"] for r in body2["runs"]] == by_loss  # loss falls as lr falls here
    status, body3, _ = workspace.api("GET", "/runs?experiment=table&tag.team=a&param.lr=0.1&count=true")
    assert body3["total"] == 1 and len(body3["runs"]) == 1
    status, err, _ = workspace.api("GET", "/runs?experiment=table&sort=sideways")
    assert status == 400 and "sort" in err["error"]["message"]
    status, err, _ = workspace.api("GET", "/runs?experiment=table&order=up")
    assert status == 400 and "order" in err["error"]["message"]


# ---- issue 17: what MLflow's own REST tracking tests found (tests/conformance/) ------------------

NAME = "My Experiment/#1?100% é"


def test_experiment_names_are_mlflows_everywhere(workspace, src):
    """Any non-empty name of up to 500 characters: MLflow's client, Ferry's REST API and CLI, and
    the ids of runs submitted to it (safe in URLs and file names)."""
    out = client(workspace, f"""
        import json, mlflow
        mlflow.set_experiment({NAME!r})
        with mlflow.start_run() as run:
            mlflow.log_metric("m", 1.0)
        e = mlflow.get_experiment_by_name({NAME!r})
        print(json.dumps({{"run_id": run.info.run_id, "exp": e.name, "eid": e.experiment_id,
                          "found": [x.name for x in mlflow.search_experiments(filter_string="name LIKE 'My%'")]}}))
    """)
    assert out["exp"] == NAME and out["found"] == [NAME]
    names = [e["name"] for e in workspace.cli_json("experiment", "list")["experiments"]]
    assert NAME in names
    listed = workspace.cli_json("run", "list", "-e", NAME)["runs"]
    assert [r["id"] for r in listed] == [out["run_id"]]
    write(src / "train.py", "print('hi')\n")
    run_id, r = workspace.submit(src, "train.py", extra=("-e", NAME), wait=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert run_id.startswith("My_Experiment_1_100_") and all(c.isalnum() or c in "-_." for c in run_id), run_id
    assert workspace.run(run_id)["experiment"] == NAME
    r = workspace.cli("experiment", "create", "-n", "x" * 501, check=False)
    assert r.returncode == 1 and "500" in r.stderr, r.stderr


def test_a_fresh_server_lists_mlflows_default_experiment(workspace):
    out = client(workspace, """
        import json
        from mlflow import MlflowClient
        c = MlflowClient()
        print(json.dumps({"exps": [(e.experiment_id, e.name) for e in c.search_experiments()],
                          "by_name": c.get_experiment_by_name("Default").experiment_id}))
    """)
    assert out == {"exps": [["0", "Default"]], "by_name": "0"}


def test_download_artifacts_of_the_whole_run_with_dot(workspace, tmp_path):
    down = tmp_path / "down"
    out = client(workspace, f"""
        import json, mlflow
        mlflow.set_experiment("dots")
        with mlflow.start_run() as run:
            mlflow.log_text("top", "a.txt")
            mlflow.log_text("deep", "d/b.txt")
        local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=".", dst_path="{down}")
        sub = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="./d/./b.txt",
                                                  dst_path="{down}/sub")
        print(json.dumps({{"local": local, "sub": open(sub).read()}}))
    """)
    assert (down / "a.txt").read_text() == "top" and (down / "d" / "b.txt").read_text() == "deep"
    assert out["sub"] == "deep"


def test_wrong_types_are_mlflows_invalid_parameter_value(workspace):
    status, exp, _ = workspace.api("POST", "/api/2.0/mlflow/experiments/create", json={"name": "types"})
    assert status == 200, exp
    status, run, _ = workspace.api("POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": exp["experiment_id"]})
    run_id = run["run"]["info"]["run_id"]
    for path, body, field in [
        ("experiments/create", {"name": 123}, "name"),
        ("experiments/create", {"name": "t2", "artifact_location": 9.0}, "artifact_location"),
        ("experiments/create", {"name": "t3", "tags": "5"}, "tags"),
        ("runs/log-metric", {"run_id": 31, "key": "m", "value": 1, "timestamp": 1}, "run_id"),
        ("runs/log-metric", {"run_id": run_id, "key": 31, "value": 1, "timestamp": 1}, "key"),
        ("runs/log-metric", {"run_id": run_id, "key": "m", "value": 1, "timestamp": 1, "step": "foo"}, "step"),
        ("runs/log-metric", {"run_id": run_id, "key": "m", "value": 1}, "timestamp"),
        ("runs/log-parameter", {"run_id": run_id, "key": 31, "value": "v"}, "key"),
        ("runs/log-parameter", {"run_id": run_id, "key": "p", "value": 41}, "value"),
        ("runs/set-tag", {"run_id": run_id, "key": "t", "value": 41}, "value"),
        ("runs/log-batch", {"run_id": run_id, "metrics": [{"key": "m", "value": 2.5}]}, "metrics[0].timestamp"),
        ("runs/log-batch", {"run_id": run_id, "params": "foo"}, "params"),
    ]:
        status, err, _ = workspace.api("POST", "/api/2.0/mlflow/" + path, json=body)
        assert status == 400 and err["error_code"] == "INVALID_PARAMETER_VALUE", (path, body, err)
        assert f"parameter '{field}'" in err["message"], (path, body, err)
    # Nothing of those was stored.
    status, got, _ = workspace.api("GET", f"/api/2.0/mlflow/runs/get?run_id={run_id}")
    assert got["run"]["data"].get("metrics", []) == [] and got["run"]["data"].get("params", []) == [], got
    status, exps, _ = workspace.api("POST", "/api/2.0/mlflow/experiments/search", json={})
    assert sorted(e["name"] for e in exps["experiments"]) == ["Default", "types"], exps


def test_delete_tag_on_a_deleted_run_fails_like_mlflow(workspace):
    out = client(workspace, """
        import json
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException
        c = MlflowClient()
        run = c.create_run(c.create_experiment("deltag"))
        c.set_tag(run.info.run_id, "t", "v")
        c.delete_run(run.info.run_id)
        try:
            c.delete_tag(run.info.run_id, "t")
            err = None
        except MlflowException as e:
            err = [e.error_code, str(e)]
        c.restore_run(run.info.run_id)
        print(json.dumps({"err": err, "tags": c.get_run(run.info.run_id).data.tags.get("t"), "id": run.info.run_id}))
    """)
    assert out["err"][0] == "INVALID_PARAMETER_VALUE" and "'active' state" in out["err"][1], out
    assert out["tags"] == "v"  # refused, so kept


def test_artifact_location_is_stored_and_its_runs_keep_artifacts_there(workspace, tmp_path):
    out = client(workspace, """
        import json
        from mlflow import MlflowClient
        c = MlflowClient()
        rel = c.create_experiment("loc-rel", artifact_location="my_location")
        uri = c.create_experiment("loc-uri", artifact_location="s3://bucket/prefix")
        plain = c.create_experiment("loc-none")
        run = c.create_run(uri)
        in_store = c.create_run(plain)
        print(json.dumps({"rel": c.get_experiment(rel).artifact_location,
                          "uri": c.get_experiment(uri).artifact_location, "run": run.info.artifact_uri,
                          "plain": c.get_experiment(plain).artifact_location, "in_store": in_store.info.artifact_uri}))
    """)
    # Relative paths are made absolute against the server's working directory, as MLflow does.
    server_cwd = os.readlink(f"/proc/{workspace.proc.pid}/cwd")
    assert out["rel"] == os.path.join(server_cwd, "my_location")
    assert out["uri"] == "s3://bucket/prefix"
    # A client's run keeps its artifacts where its experiment says (the client writes them).
    assert out["run"].startswith("s3://bucket/prefix/mlflow_") and out["run"].endswith("/artifacts"), out
    # Without a location (and no --default-artifact-root): Ferry's store, through this API.
    assert out["plain"].startswith("mlflow-artifacts:/") and out["in_store"].startswith("mlflow-artifacts:/"), out


def test_a_default_artifact_root_is_mlflows(make_workspace, tmp_path):
    root = tmp_path / "artifact-root"
    ws = make_workspace(server_args=("--default-artifact-root", str(root)))
    out = client(ws, """
        import json, os, tempfile
        import mlflow
        from mlflow import MlflowClient
        c = MlflowClient()
        eid = c.create_experiment("direct")
        run = c.create_run(eid)
        src = tempfile.mkdtemp()
        open(os.path.join(src, "model.txt"), "w").write("weights")
        c.log_artifact(run.info.run_id, os.path.join(src, "model.txt"))
        print(json.dumps({"loc": c.get_experiment(eid).artifact_location, "eid": eid, "uri": run.info.artifact_uri,
                          "listed": [a.path for a in c.list_artifacts(run.info.run_id)]}))
    """)
    # As mlflow server --default-artifact-root: <root>/<experiment id>, written by the client itself.
    assert out["loc"] == root.as_uri() + "/" + out["eid"], out
    assert out["uri"].startswith(out["loc"] + "/") and out["listed"] == ["model.txt"], out
    run_dir = out["uri"][len("file://"):]
    assert open(os.path.join(run_dir, "model.txt")).read() == "weights"


def test_unknown_mlflow_paths_answer_in_mlflows_error_shape(workspace):
    for path in ["/api/2.0/mlflow/no/such", "/api/3.0/mlflow/traces/tr-1", "/api/3.0/mlflow/runs/search",
                 "/api/2.0/mlflow-artifacts/nope"]:
        status, body, _ = workspace.api("GET", path)
        assert status == 404 and body["error_code"] == "ENDPOINT_NOT_FOUND" and body["message"], (path, body)
        status, body, _ = workspace.api("GET", path, auth=False)
        assert status == 401 and "error_code" in body, (path, body)  # authenticated first
    r = client(workspace, """
        from mlflow.utils.rest_utils import call_endpoint, MlflowHostCreds
        from mlflow.protos.service_pb2 import GetRun
        import os
        creds = MlflowHostCreds(os.environ["MLFLOW_TRACKING_URI"], token=os.environ["MLFLOW_TRACKING_TOKEN"])
        call_endpoint(creds, "/api/3.0/mlflow/runs/get", "GET", '{"run_id": "x"}', GetRun.Response())
    """, check=False)
    assert r["returncode"] != 0 and "ENDPOINT_NOT_FOUND" in r["stderr"], r["stderr"][-2000:]


def test_an_artifact_path_without_a_token_is_401_and_names_nothing(workspace):
    out = client(workspace, """
        import json, mlflow
        mlflow.set_experiment("secret-experiment")
        with mlflow.start_run() as run:
            mlflow.log_text("x", "f.txt")
        print(json.dumps({"run_id": run.info.run_id, "eid": run.info.experiment_id}))
    """)
    for wrong_eid in [out["eid"], "999"]:
        for path in [f"/api/2.0/mlflow-artifacts/artifacts/{wrong_eid}/{out['run_id']}/artifacts/f.txt",
                     f"/api/2.0/mlflow-artifacts/artifacts?path={wrong_eid}/{out['run_id']}/artifacts"]:
            for headers in [{}, {"Authorization": "Bearer wrong"}]:
                status, body, _ = workspace.api("GET", path, auth=False, headers=headers)
                assert status in (401, 403) and "secret-experiment" not in str(body), (path, body)
                assert "it is in" not in str(body), (path, body)


def test_run_view_latest_metric_is_mlflows_and_search_pages_by_it(workspace):
    """MLflow's latest point: highest step, then latest time, then largest value; a search sorts
    and pages on it."""
    out = client(workspace, """
        import json, mlflow
        from mlflow import MlflowClient
        from mlflow.entities import Metric
        c = MlflowClient()
        exp = c.create_experiment("latest")
        ids = []
        for i in range(5):
            run = c.create_run(exp, run_name=f"r{i}")
            # Same step and timestamp: MLflow keeps the larger value, whatever the order.
            c.log_batch(run.info.run_id, metrics=[Metric("acc", 0.5 + i / 10, 1000, 3), Metric("acc", 0.1, 1000, 3),
                                                  Metric("acc", 0.99, 999, 3), Metric("acc", 0.0, 5000, 2)],
                        synchronous=True)
            ids.append(run.info.run_id)
        got = c.get_run(ids[0]).data.metrics["acc"]
        p1 = c.search_runs([exp], "metrics.acc >= 0.6", order_by=["metrics.acc DESC"], max_results=2)
        p2 = c.search_runs([exp], "metrics.acc >= 0.6", order_by=["metrics.acc DESC"], max_results=2,
                           page_token=p1.token)
        print(json.dumps({"got": got, "p1": [r.info.run_name for r in p1], "p2": [r.info.run_name for r in p2],
                          "acc": [r.data.metrics["acc"] for r in p1], "steps": [r.data.metrics for r in p2]}))
    """)
    assert out["got"] == 0.5
    assert out["p1"] == ["r4", "r3"] and out["p2"] == ["r2", "r1"], out
    assert out["acc"] == pytest.approx([0.9, 0.8])
