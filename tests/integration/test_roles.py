"""Roles on every REST route: each operation x each kind of caller x own/other run (docs/security.md).

Callers: the workspace token, an admin user, alice (contributor, who owns the run), bob (another
contributor), rita (reader), the run's own agent token, another run's agent token, and no token.
"Allowed" means the request got past authorisation (any status but 401/403); "denied" means 403
(401 without a token)."""

from __future__ import annotations

import itertools

import pytest

from conftest import Workspace

ZERO = "0" * 64
PEOPLE = ("workspace", "admin", "alice", "bob", "rita")
CALLERS = PEOPLE + ("agent", "other_agent", "none")

READ = {"workspace", "admin", "alice", "bob", "rita"}
CONTRIBUTE = {"workspace", "admin", "alice", "bob"}
OWNER = {"workspace", "admin", "alice"}
AGENT = {"workspace", "admin", "agent"}
ADMIN = {"workspace", "admin"}

_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


# (method, path with {run}, body or a callable making one, callers allowed)
OPERATIONS = [
    ("GET", "/runs", None, READ),
    ("GET", "/runs/keys", None, READ),
    ("GET", "/runs/{run}", None, READ),
    ("GET", "/runs/{run}/history", None, READ),
    ("GET", "/models", None, READ),
    ("GET", "/models/nope/latest", None, READ),
    ("POST", "/models", {"name": "m", "snapshot": ZERO}, CONTRIBUTE),
    ("PATCH", "/models/nope/1", {"add_tags": {"k": "v"}}, CONTRIBUTE),
    ("DELETE", "/models/nope/1", None, CONTRIBUTE),
    ("GET", "/runs/{run}/logs", None, READ | {"agent"}),
    ("GET", "/runs/{run}/metrics", None, READ | {"agent"}),
    ("GET", "/runs/{run}/artifacts", None, READ | {"agent"}),
    ("GET", "/runs/{run}/artifacts/content?path=x.txt", None, READ),
    ("POST", "/runs/{run}/artifacts/link?path=x.txt", None, READ),
    ("POST", "/runs/{run}/blobs/fetch", {"hashes": []}, READ | {"agent"}),
    ("GET", "/sweeps/{run}", None, READ),
    ("GET", "/experiments", None, READ),
    ("GET", "/computes", None, READ),
    ("GET", "/computes/local", None, READ),
    ("GET", "/quota", None, READ),
    ("GET", "/environments", None, READ),
    ("POST", "/runconfigs/parse", {"text": "script: a.py\n"}, READ),
    ("GET", f"/snapshots/{ZERO}", None, READ),
    ("GET", f"/blobs/{ZERO}", None, READ),
    ("POST", "/experiments", lambda: {"name": unique("exp")}, CONTRIBUTE),
    ("POST", "/runs", {}, CONTRIBUTE),
    ("POST", "/sweeps", {}, CONTRIBUTE),
    ("POST", "/blobs/missing", {"hashes": []}, CONTRIBUTE),
    ("POST", "/blobs", b"", CONTRIBUTE),
    ("POST", "/snapshots", b"", CONTRIBUTE),
    ("POST", "/environments", {}, CONTRIBUTE),
    ("POST", "/runs/{run}/tags", {"tags": {"k": "v"}}, OWNER | {"agent"}),
    ("POST", "/runs/{run}/cancel", None, OWNER),
    ("POST", "/sweeps/{run}/cancel", None, OWNER),
    ("GET", "/runs/{run}/plan", None, AGENT),
    ("POST", "/runs/{run}/status", {"status": "Running"}, AGENT),
    ("POST", "/runs/{run}/logs?offset=0", b"", AGENT),
    ("POST", "/runs/{run}/metrics", {"points": []}, AGENT),
    ("POST", "/runs/{run}/artifacts", {"files": []}, AGENT),
    ("POST", "/runs/{run}/blobs", b"", AGENT),
    ("GET", "/users", None, ADMIN),
    ("POST", "/users", lambda: {"name": unique("user"), "role": "reader"}, ADMIN),
    ("PATCH", "/users/nobody", {"role": "reader"}, ADMIN),
    ("DELETE", "/users/nobody", None, ADMIN),
    ("POST", "/computes", {}, ADMIN),
    ("PATCH", "/computes/nope", {}, ADMIN),
    ("DELETE", "/computes/nope", None, ADMIN),
    ("POST", "/computes/nope/stop", None, ADMIN),
    ("POST", "/computes/nope/start", None, ADMIN),
    ("POST", "/computes/nope/trust", None, ADMIN),
    ("PUT", "/quota", {}, ADMIN),
    ("GET", "/secrets", None, READ),
    ("PUT", "/secrets/role-check", {"value": "v"}, CONTRIBUTE),
    ("POST", "/secrets", {"secrets": {"role-check": "v"}}, CONTRIBUTE),
    ("GET", "/secrets/role-check", None, CONTRIBUTE),
    ("POST", "/secrets/fetch", {"names": ["role-check"]}, CONTRIBUTE),
    ("DELETE", "/secrets/nope", None, CONTRIBUTE),
    ("GET", "/pipelines", None, READ),
    ("GET", "/pipelines/nope", None, READ),
    ("POST", "/pipelines", {}, CONTRIBUTE),
    ("POST", "/pipelines/nope/enable", None, CONTRIBUTE),
    ("POST", "/pipelines/nope/disable", None, CONTRIBUTE),
    ("POST", "/pipelines/nope/submit", {"ExperimentName": "e"}, CONTRIBUTE),
    ("GET", "/pipeline-endpoints", None, READ),
    ("GET", "/pipeline-endpoints/nope", None, READ),
    ("POST", "/pipeline-endpoints", {}, CONTRIBUTE),
    ("POST", "/pipeline-endpoints/nope/pipelines", {"pipeline_id": "x"}, CONTRIBUTE),
    ("PUT", "/pipeline-endpoints/nope/default", {"version": "0"}, CONTRIBUTE),
    ("POST", "/pipeline-endpoints/nope/submit", {"ExperimentName": "e"}, CONTRIBUTE),
    ("POST", "/pipeline-endpoints/nope/enable", None, CONTRIBUTE),
    ("POST", "/pipeline-endpoints/nope/disable", None, CONTRIBUTE),
    ("GET", "/schedules", None, READ),
    ("GET", "/schedules/nope", None, READ),
    ("GET", "/schedules/nope/runs", None, READ),
    ("POST", "/schedules", {}, CONTRIBUTE),
    ("PATCH", "/schedules/nope", {"name": "n"}, CONTRIBUTE),
    ("POST", "/schedules/nope/enable", None, CONTRIBUTE),
    ("POST", "/schedules/nope/disable", None, CONTRIBUTE),
]


@pytest.fixture(scope="module")
def lab(ferry_bin, tmp_path_factory):
    ws = Workspace(ferry_bin, tmp_path_factory.mktemp("roles") / "home")
    ws.start_server()
    tokens = {"workspace": ws.token}
    for name, role in (("admin", "admin"), ("alice", "contributor"), ("bob", "contributor"), ("rita", "reader")):
        status, body, _ = ws.api("POST", "/users", json={"name": name, "role": role})
        assert status == 201, body
        tokens[name] = body["token"]

    def mlflow_run(owner: str) -> str:
        status, body, _ = ws.api("POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": "0"},
                                 headers={"Authorization": f"Bearer {tokens[owner]}"}, auth=False)
        assert status == 200, body
        return body["run"]["info"]["run_id"]

    run_a = mlflow_run("alice")
    tokens["agent"] = ws.agent_token(run_a)
    tokens["other_agent"] = ws.agent_token(mlflow_run("bob"))
    yield ws, tokens, run_a
    ws.close()


def call(ws, tokens, caller, method, path, body):
    headers = {}
    if caller != "none":
        headers["Authorization"] = f"Bearer {tokens[caller]}"
    if callable(body):
        body = body()
    kw = {}
    if isinstance(body, bytes):
        kw["data"] = body
        headers["Content-Type"] = "application/octet-stream"
    elif body is not None:
        kw["json"] = body
    return ws.api(method, path, headers=headers, auth=False, **kw)


@pytest.mark.parametrize("method,path,body,allowed", OPERATIONS, ids=[f"{m} {p}" for m, p, _, _ in OPERATIONS])
def test_route_x_caller(lab, method, path, body, allowed):
    ws, tokens, run_a = lab
    path = path.replace("{run}", run_a)
    for caller in CALLERS:
        status, got, _ = call(ws, tokens, caller, method, path, body)
        if caller == "none":
            assert status == 401, (caller, method, path, status, got)
        elif caller in allowed:
            assert status not in (401, 403), (caller, method, path, status, got)
        else:
            assert status == 403, (caller, method, path, status, got)


def test_the_run_belongs_to_alice_and_bob_learns_why_he_may_not_change_it(lab):
    ws, tokens, run_a = lab
    status, body, _ = call(ws, tokens, "bob", "POST", f"/runs/{run_a}/tags", {"tags": {"k": "v"}})
    assert status == 403
    msg = body["error"]["message"]
    assert "'alice'" in msg and "submitter or an admin" in msg, msg
    status, body, _ = call(ws, tokens, "rita", "POST", "/experiments", {"name": "x"})
    assert status == 403 and "contributor role" in body["error"]["message"], body


def test_stream_needs_a_person(lab):
    # (An event stream does not end: only refusals are checked here; Studio's tests read it.)
    ws, tokens, run_a = lab
    for caller in ("agent", "none"):
        status, _, _ = call(ws, tokens, caller, "GET", "/stream", None)
        assert status == (401 if caller == "none" else 403)


def test_plan_holds_the_mlflow_token_and_only_agent_and_admin_see_it(lab):
    ws, tokens, run_a = lab
    for caller in ("agent", "admin", "workspace"):
        status, body, _ = call(ws, tokens, caller, "GET", f"/runs/{run_a}/plan", None)
        assert status == 200 and body["mlflow_token"], (caller, body)
    for caller in ("alice", "bob", "rita", "other_agent"):
        status, body, _ = call(ws, tokens, caller, "GET", f"/runs/{run_a}/plan", None)
        assert status == 403, (caller, body)
        assert "mlflow_token" not in str(body)
    # The run as everyone else sees it holds no token.
    status, body, _ = call(ws, tokens, "rita", "GET", f"/runs/{run_a}", None)
    assert status == 200 and "token" not in str(body).lower(), body


# ---- MLflow's API: the same roles (docs/security.md). "mlflow_run" is the MLflow token of
# alice's run (what a launched script gets); "other_mlflow_run" is another run's.
MLFLOW_CALLERS = PEOPLE + ("mlflow_run", "other_mlflow_run", "none")
OWN_RUN = OWNER | {"mlflow_run"}

MLFLOW_OPERATIONS = [
    ("GET", "experiments/get?experiment_id={exp}", None, READ),
    ("GET", "experiments/get-by-name?experiment_name=alices", None, READ),
    ("POST", "experiments/search", {"max_results": 10}, READ),
    ("GET", "runs/get?run_id={run}", None, READ | {"mlflow_run"}),
    ("POST", "runs/search", {"experiment_ids": ["{exp}"]}, READ),
    ("GET", "metrics/get-history?run_id={run}&metric_key=loss", None, READ | {"mlflow_run"}),
    ("POST", "logged-models/search", {"experiment_ids": ["{exp}"]}, READ),
    # Any running run's script reads the registry (to load models) with its own token.
    ("GET", "registered-models/search", None, READ | {"mlflow_run", "other_mlflow_run"}),
    ("GET", "model-versions/search", None, READ | {"mlflow_run", "other_mlflow_run"}),
    ("POST", "registered-models/create", lambda: {"name": unique("rm")}, CONTRIBUTE),
    ("POST", "logged-models", {"experiment_id": "{exp}", "source_run_id": "{run}"}, CONTRIBUTE | {"mlflow_run"}),
    ("GET", "ARTIFACTS/artifacts/{exp}/{run}/artifacts", None, READ | {"mlflow_run"}),
    ("POST", "experiments/create", lambda: {"name": unique("mlexp")}, CONTRIBUTE),
    ("POST", "runs/create", {"experiment_id": "{exp}"}, CONTRIBUTE),
    ("POST", "experiments/set-experiment-tag", {"experiment_id": "{exp}", "key": "k", "value": "v"}, OWNER),
    ("POST", "experiments/delete-experiment-tag", {"experiment_id": "{exp}", "key": "none"}, OWNER),
    ("POST", "experiments/update", {"experiment_id": "{exp}", "new_name": "alices"}, OWNER),
    ("POST", "runs/update", {"run_id": "{run}", "run_name": "renamed"}, OWN_RUN),
    ("POST", "runs/log-metric", {"run_id": "{run}", "key": "loss", "value": 1, "timestamp": 1, "step": 0}, OWN_RUN),
    ("POST", "runs/log-batch", {"run_id": "{run}", "metrics": [{"key": "m", "value": 1, "timestamp": 1}]}, OWN_RUN),
    ("POST", "runs/log-parameter", {"run_id": "{run}", "key": "p", "value": "1"}, OWN_RUN),
    ("POST", "runs/set-tag", {"run_id": "{run}", "key": "t", "value": "1"}, OWN_RUN),
    ("POST", "runs/delete-tag", {"run_id": "{run}", "key": "none"}, OWN_RUN),
    ("POST", "runs/log-inputs", {"run_id": "{run}", "datasets": []}, OWN_RUN),
    ("PUT", "ARTIFACTS/artifacts/{exp}/{run}/artifacts/model.txt", b"weights", OWN_RUN),
    ("POST", "runs/delete", {"run_id": "{run}"}, OWNER),
    ("POST", "runs/restore", {"run_id": "{run}"}, OWNER),
]


@pytest.fixture(scope="module")
def mlflow_lab(lab):
    import hashlib
    import hmac

    ws, tokens, _ = lab

    def mlflow_call(caller, path, body):
        status, got, _ = ws.api("POST", "/api/2.0/mlflow/" + path, json=body,
                                headers={"Authorization": f"Bearer {tokens[caller]}"}, auth=False)
        assert status == 200, (path, got)
        return got

    exp = mlflow_call("alice", "experiments/create", {"name": "alices"})["experiment_id"]
    run = mlflow_call("alice", "runs/create", {"experiment_id": exp})["run"]["info"]["run_id"]
    other = mlflow_call("bob", "runs/create", {"experiment_id": exp})["run"]["info"]["run_id"]
    secret = (ws.home / "secret").read_text().strip()
    mtok = lambda r: hmac.new(secret.encode(), f"mlflow:{r}".encode(), hashlib.sha256).hexdigest()  # noqa: E731
    return ws, {**tokens, "mlflow_run": mtok(run), "other_mlflow_run": mtok(other)}, exp, run


def fill(value, exp, run):
    if callable(value):
        value = value()
    if isinstance(value, str):
        return value.replace("{exp}", exp).replace("{run}", run)
    if isinstance(value, list):
        return [fill(v, exp, run) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, exp, run) for k, v in value.items()}
    return value


@pytest.mark.parametrize("method,path,body,allowed", MLFLOW_OPERATIONS,
                         ids=[f"{m} {p.split('?')[0]}" for m, p, _, _ in MLFLOW_OPERATIONS])
def test_mlflow_endpoint_x_caller(mlflow_lab, method, path, body, allowed):
    ws, tokens, exp, run = mlflow_lab
    path = fill(path, exp, run).replace("ARTIFACTS/", "/api/2.0/mlflow-artifacts/")
    url = path if path.startswith("/api/") else "/api/2.0/mlflow/" + path
    for caller in MLFLOW_CALLERS:
        status, got, _ = call(ws, tokens, caller, method, url, fill(body, exp, run))
        if caller == "none":
            assert status == 401, (caller, method, url, status, got)
        elif caller in allowed:
            assert status not in (401, 403), (caller, method, url, status, got)
        else:
            assert status == 403, (caller, method, url, status, got)


def test_mlflow_runs_belong_to_their_creator_not_to_the_user_id_they_claim(mlflow_lab):
    ws, tokens, exp, _ = mlflow_lab
    # The workspace token creates a run claiming to be bob's: it is MLflow's user_id, not an owner.
    status, got, _ = call(ws, tokens, "workspace", "POST", "/api/2.0/mlflow/runs/create",
                          {"experiment_id": exp, "user_id": "bob"})
    run = got["run"]["info"]
    assert run["user_id"] == "bob"
    status, got, _ = call(ws, tokens, "bob", "POST", "/api/2.0/mlflow/runs/set-tag",
                          {"run_id": run["run_id"], "key": "k", "value": "v"})
    assert status == 403, got
