"""Ferry's model registry through the real `mlflow` client: registered models and versions,
search, stages, aliases, MLflow 3 logged models (`mlflow.sklearn.log_model`, registration,
`models:/name/1`, `models:/name@alias`, `models:/m-<id>`), and the same records through
Ferry's /api/v1/models and `ferry model list`.

Each client scenario runs in its own interpreter (the mlflow client keeps process-wide state)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from test_mlflow import client
from test_runs import write

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from ferry import Workspace  # noqa: E402
from ferry import _snapshot  # noqa: E402


def test_registered_models_versions_search_stages_and_tags(workspace):
    out = client(workspace, """
        import json, mlflow
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException
        c = MlflowClient()
        mlflow.set_experiment("reg")
        with mlflow.start_run() as run:
            mlflow.log_text("weights", "model/weights.txt")
        rm = c.create_registered_model("clf", tags={"team": "vision"}, description="first")
        try:
            c.create_registered_model("clf")
            dup = None
        except MlflowException as e:
            dup = e.error_code
        src = run.info.artifact_uri + "/model"
        v1 = c.create_model_version("clf", src, run_id=run.info.run_id, tags={"k": "v"})
        v2 = c.create_model_version("clf", src, run_id=run.info.run_id)
        c.create_registered_model("other-model")
        c.transition_model_version_stage("clf", "1", "Production")
        c.transition_model_version_stage("clf", "2", "Production", archive_existing_versions=True)
        latest = c.get_latest_versions("clf", stages=["Production"])
        c.update_model_version("clf", "2", description="better")
        c.set_model_version_tag("clf", "2", "stage", "prod")
        c.delete_model_version_tag("clf", "1", "k")
        c.set_registered_model_tag("clf", "owner", "me")
        c.update_registered_model("clf", description="updated")
        names = [m.name for m in c.search_registered_models(filter_string="name LIKE 'cl%'")]
        ilike = [m.name for m in c.search_registered_models(filter_string="name ILIKE '%MODEL%'")]
        ordered = [m.name for m in c.search_registered_models(order_by=["name DESC"])]
        page = c.search_registered_models(max_results=1)
        page2 = c.search_registered_models(max_results=1, page_token=page.token)
        by_run = [(v.name, v.version) for v in c.search_model_versions(f"run_id = '{run.info.run_id}'")]
        by_tag = [v.version for v in c.search_model_versions("name = 'clf' and tags.stage = 'prod'")]
        mv1 = c.get_model_version("clf", "1")
        mv2 = c.get_model_version("clf", "2")
        uri = c.get_model_version_download_uri("clf", "1")
        files = sorted(mlflow.artifacts.download_artifacts(f"models:/clf/1") and
                       __import__("os").listdir(mlflow.artifacts.download_artifacts("models:/clf/1")))
        try:
            c.get_model_version("clf", "9")
            missing = None
        except MlflowException as e:
            missing = [e.error_code, e.message]
        c.rename_registered_model("other-model", "renamed")
        c.delete_model_version("clf", "1")
        after_delete = [v.version for v in c.search_model_versions("name = 'clf'")]
        v3 = c.create_model_version("clf", src, run_id=run.info.run_id)
        c.delete_registered_model("renamed")
        try:
            c.get_registered_model("renamed")
            gone = None
        except MlflowException as e:
            gone = e.error_code
        rm = c.get_registered_model("clf")
        print(json.dumps({
            "dup": dup, "v1": v1.version, "v2": v2.version, "v3": v3.version,
            "latest": [(v.version, v.current_stage) for v in latest],
            "stages": [mv1.current_stage, mv2.current_stage], "desc2": mv2.description,
            "tags1": mv1.tags, "tags2": mv2.tags, "rm_tags": rm.tags, "rm_desc": rm.description,
            "names": names, "ilike": ilike, "ordered": ordered,
            "page": [m.name for m in page], "page2": [m.name for m in page2],
            "by_run": by_run, "by_tag": by_tag, "uri": uri, "files": files, "missing": missing,
            "after_delete": after_delete, "gone": gone, "run_id": run.info.run_id,
        }))
    """)
    assert out["dup"] == "RESOURCE_ALREADY_EXISTS"
    assert (out["v1"], out["v2"], out["v3"]) == ("1", "2", "3")  # a deleted number is not reused
    assert out["latest"] == [["2", "Production"]]
    assert out["stages"] == ["Archived", "Production"] and out["desc2"] == "better"
    assert out["tags1"] == {} and out["tags2"] == {"stage": "prod"}
    assert out["rm_tags"] == {"team": "vision", "owner": "me"} and out["rm_desc"] == "updated"
    assert out["names"] == ["clf"] and out["ilike"] == ["other-model"]
    assert out["ordered"] == ["other-model", "clf"]
    assert out["page"] == ["clf"] and out["page2"] == ["other-model"]
    assert out["by_run"] == [["clf", "2"], ["clf", "1"]] and out["by_tag"] == ["2"]
    # Ferry keeps the files it holds as a snapshot; that is what the client downloads.
    assert out["uri"].startswith("mlflow-artifacts:/_ferry/snapshots/") and out["files"] == ["weights.txt"]
    assert out["missing"][0] == "RESOURCE_DOES_NOT_EXIST" and "version=9" in out["missing"][1]
    assert out["after_delete"] == ["2"] and out["gone"] == "RESOURCE_DOES_NOT_EXIST"
    # The same records through Ferry's API, with the run as the versions' producer.
    status, v2, _ = workspace.api("GET", "/models/clf/2")
    assert status == 200 and v2["id"] == "clf:2" and v2["stage"] == "Production", v2
    assert v2["file_count"] == 1 and v2["runs"] == [{"run_id": out["run_id"], "direction": "output",
                                                      "as_name": ""}]
    listed = workspace.cli_json("model", "list")
    assert [(m["name"], m["version"]) for m in listed] == [("clf", 2), ("clf", 3)]


def test_log_model_register_and_load_by_version_alias_and_model_id(workspace):
    out = client(workspace, """
        import json, mlflow, numpy as np
        from mlflow import MlflowClient
        from sklearn.linear_model import LogisticRegression
        c = MlflowClient()
        mlflow.set_experiment("sk")
        X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
        with mlflow.start_run() as run:
            info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model",
                                            input_example=X[:1])
            mlflow.log_metric("acc", 0.75, model_id=info.model_id)
        mv = mlflow.register_model(f"models:/{info.model_id}", "sk-clf")
        c.set_registered_model_alias("sk-clf", "champion", mv.version)
        by_version = mlflow.sklearn.load_model("models:/sk-clf/1").predict(X).tolist()
        by_alias = mlflow.pyfunc.load_model("models:/sk-clf@champion").predict(X).tolist()
        by_id = mlflow.sklearn.load_model(f"models:/{info.model_id}").predict(X).tolist()
        alias_v = c.get_model_version_by_alias("sk-clf", "champion").version
        lm = c.get_logged_model(info.model_id)
        found = [m.model_id for m in c.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run.info.run_id}'")]
        r = c.get_run(run.info.run_id)
        c.delete_registered_model_alias("sk-clf", "champion")
        print(json.dumps({
            "by_version": by_version, "by_alias": by_alias, "by_id": by_id, "alias_v": alias_v,
            "status": str(lm.status), "metrics": [(m.key, m.value) for m in lm.metrics],
            "versions_tag": lm.tags.get("mlflow.modelVersions"), "found": found,
            "model_id": info.model_id, "run_id": run.info.run_id,
            "outputs": [o.model_id for o in r.outputs.model_outputs],
        }))
    """)
    assert out["by_version"] == out["by_alias"] == out["by_id"] == [0, 0, 1, 1]
    assert out["alias_v"] == "1" and out["status"] == "READY"
    assert out["metrics"] == [["acc", 0.75]]
    # The server records the registration on the logged model (newer clients add their own entry).
    assert json.loads(out["versions_tag"])[0] == {"name": "sk-clf", "version": 1}
    assert out["found"] == [out["model_id"]]
    assert out["outputs"] == [out["model_id"]]
    # Created through MLflow, visible and downloadable through Ferry.
    listed = workspace.cli_json("model", "list", "-n", "sk-clf")
    assert [(m["name"], m["version"], m["run_id"]) for m in listed] == [("sk-clf", 1, out["run_id"])]
    status, v1, _ = workspace.api("GET", "/models/sk-clf/1")
    assert v1["model_id"] == out["model_id"]  # the client's ModelVersion does not read it back
    status, files, _ = workspace.api("GET", "/models/sk-clf/1/files")
    assert status == 200 and "MLmodel" in [f["path"] for f in files["files"]], files


def test_a_version_registered_through_ferry_downloads_with_the_mlflow_client(workspace, tmp_path):
    folder = tmp_path / "m"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.pkl").write_bytes(b"\x80pickle")
    (folder / "sub" / "vocab.txt").write_text("a b c")
    ws = Workspace(url=workspace.url, token=workspace.token)
    snap = _snapshot.upload(ws._client, _snapshot.build(str(folder), use_ignore_files=False))
    status, v, _ = workspace.api("POST", "/models", {"name": "ferry-model", "snapshot": snap,
                                                     "tags": {"k": "v"}, "properties": {"acc": "0.9"}})
    assert status == 201, v
    out = client(workspace, """
        import json, os, mlflow
        from mlflow import MlflowClient
        c = MlflowClient()
        vs = c.search_model_versions("name = 'ferry-model'")
        path = mlflow.artifacts.download_artifacts("models:/ferry-model/1")
        files = sorted(os.path.relpath(os.path.join(d, f), path)
                       for d, _, fs in os.walk(path) for f in fs)
        print(json.dumps({"versions": [(m.version, m.tags) for m in vs], "files": files,
                          "pkl": open(os.path.join(path, "model.pkl"), "rb").read().hex()}))
    """)
    assert out["versions"] == [["1", {"k": "v"}]]
    assert out["files"] == ["model.pkl", "sub/vocab.txt"] and out["pkl"] == b"\x80pickle".hex()


def test_registry_errors_and_roles(workspace):
    reader = workspace.cli("user", "add", "rita", "--role", "reader").stdout.strip()
    out = client(workspace, """
        import json
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException
        c = MlflowClient()
        errors = {}
        for what, call in {
            "no_model": lambda: c.get_registered_model("nope"),
            "bad_name": lambda: c.create_registered_model("a/b"),
            "no_version_model": lambda: c.create_model_version("nope", "mlflow-artifacts:/x"),
            "climb": lambda: (c.create_registered_model("m"),
                              c.create_model_version("m", "mlflow-artifacts://h/a/../../x")),
            "local": lambda: c.create_model_version("m", "/tmp/x"),
            "bad_stage": lambda: c.transition_model_version_stage("m", "1", "Nowhere"),
            "reserved_alias": lambda: c.set_registered_model_alias("m", "latest", "1"),
        }.items():
            try:
                call()
                errors[what] = None
            except MlflowException as e:
                errors[what] = [e.error_code, e.message]
        print(json.dumps(errors))
    """)
    assert out["no_model"][0] == "RESOURCE_DOES_NOT_EXIST" and "nope" in out["no_model"][1]
    assert out["bad_name"][0] == "INVALID_PARAMETER_VALUE" and "a/b" in out["bad_name"][1]
    assert out["no_version_model"][0] == "RESOURCE_DOES_NOT_EXIST"
    assert "If supplying a source as an http, https" in out["climb"][1]
    assert "To use a local path as a model version source" in out["local"][1]
    assert out["bad_stage"][0] == "INVALID_PARAMETER_VALUE" and "Nowhere" in out["bad_stage"][1]
    assert out["reserved_alias"][0] == "INVALID_PARAMETER_VALUE"
    denied = client(workspace, """
        import json
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException
        c = MlflowClient()
        try:
            c.create_registered_model("by-reader")
            print(json.dumps({"code": None}))
        except MlflowException as e:
            print(json.dumps({"code": e.error_code, "message": e.message,
                              "read": [m.name for m in c.search_registered_models()]}))
    """, token=reader)
    assert denied["code"] == "PERMISSION_DENIED" and "contributor" in denied["message"]
    assert denied["read"] == ["m"]


def test_a_launched_script_logs_a_model_with_its_own_token(workspace, src):
    write(src / "fit.py", """
        import mlflow, numpy as np
        from sklearn.linear_model import LogisticRegression
        X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
        with mlflow.start_run():  # the run Ferry launched (MLFLOW_RUN_ID)
            info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model")
        print("MODEL_ID", info.model_id)
    """)
    run_id, r = workspace.submit(src, "fit.py", wait=True)
    log = workspace.log(run_id)
    assert "MODEL_ID m-" in log, log
    model_id = log.split("MODEL_ID ")[1].split()[0]
    # Its files are the run's artifacts; a person registers the logged model and loads it.
    status, files, _ = workspace.api("GET", f"/runs/{run_id}/artifacts")
    assert f"models/{model_id}/MLmodel" in [f["path"] for f in files["artifacts"]], files
    out = client(workspace, f"""
        import json, mlflow, numpy as np
        from mlflow import MlflowClient
        lm = MlflowClient().get_logged_model({model_id!r})
        mv = mlflow.register_model("models:/{model_id}", "from-script")
        pred = mlflow.pyfunc.load_model("models:/from-script/1").predict(np.array([[0.0], [3.0]]))
        print(json.dumps({{"status": str(lm.status), "run": lm.source_run_id, "version": mv.version,
                          "pred": [int(p) for p in pred]}}))
    """)
    assert out == {"status": "READY", "run": run_id, "version": "1", "pred": [0, 1]}
    listed = workspace.cli_json("model", "list", "-n", "from-script")
    assert [(m["version"], m["run_id"]) for m in listed] == [(1, run_id)]
    # Another launched script loads the registered version and the logged model with its token.
    write(src / "score.py", f"""
        import mlflow, numpy as np
        X = np.array([[0.0], [3.0]])
        a = mlflow.pyfunc.load_model("models:/from-script/1").predict(X)
        b = mlflow.pyfunc.load_model("models:/{model_id}").predict(X)
        print("PRED", [int(p) for p in a], [int(p) for p in b])
    """)
    scored, _ = workspace.submit(src, "score.py", wait=True)
    assert "PRED [0, 1] [0, 1]" in workspace.log(scored), workspace.log(scored)
    status, got, _ = workspace.api("GET", "/models/from-script/1")
    assert {"run_id": scored, "direction": "input", "as_name": ""} in got["runs"], got
