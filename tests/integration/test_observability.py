"""Operating the server (docs/operating.md): the version in one place, GET /metrics in the
Prometheus text format, 404s outside Studio's page and files, the served openapi.yaml, and the
server's logs (one format, levels, the access log, JSON lines). A real server on port 0 each."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from conftest import REPO, wait_until
from test_runs import write

# ---- the exposition format, parsed strictly

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"'
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{((?:{_LABEL})(?:,{_LABEL})*)?\}})? (\S+)$")
_VALUE = re.compile(r"^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|\+Inf|-Inf|NaN)$")


def _unescape(v: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], v)


def parse_exposition(text: str) -> dict:
    """{family: {"type", "help", "samples": {(name, frozenset(labels)): value}}}; fails on any
    line that format 0.0.4 does not allow, a sample before its TYPE, a repeated series, or a
    histogram whose buckets are not cumulative up to +Inf == _count."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    families: dict = {}
    current = None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        assert line, f"line {n}: empty line"
        if line.startswith("#"):
            m = re.match(rf"^# (HELP|TYPE) ({_NAME}) (.*)$", line)
            assert m, f"line {n}: bad comment {line!r}"
            kind, name, rest = m.groups()
            fam = families.setdefault(name, {"type": None, "help": None, "samples": {}})
            if kind == "TYPE":
                assert rest in ("counter", "gauge", "histogram", "summary", "untyped"), line
                assert fam["type"] is None and not fam["samples"], f"line {n}: TYPE after samples or twice"
                fam["type"] = rest
            else:
                assert fam["help"] is None, f"line {n}: HELP twice"
                fam["help"] = rest
            current = name
            continue
        m = _SAMPLE.match(line)
        assert m, f"line {n}: not a sample line: {line!r}"
        name, labels_text, value = m.group(1), m.group(2), m.group(m.lastindex)
        assert _VALUE.match(value), f"line {n}: bad value {value!r}"
        labels = {}
        if labels_text:
            for lm in re.finditer(_LABEL, labels_text):
                assert lm.group(1) not in labels, f"line {n}: label twice"
                labels[lm.group(1)] = _unescape(lm.group(2))
        base = current
        assert base is not None and (name == base or (families[base]["type"] == "histogram" and name in (
            base + "_bucket", base + "_sum", base + "_count"))), f"line {n}: {name} outside its family {base}"
        assert families[base]["type"], f"line {n}: sample before TYPE"
        key = (name, frozenset(labels.items()))
        assert key not in families[base]["samples"], f"line {n}: series repeated"
        families[base]["samples"][key] = float(value)
    for name, fam in families.items():
        if fam["type"] != "histogram":
            continue
        series: dict = {}
        for (sname, labels), value in fam["samples"].items():
            rest = frozenset((k, v) for k, v in labels if k != "le")
            entry = series.setdefault(rest, {"buckets": [], "sum": None, "count": None})
            if sname.endswith("_bucket"):
                entry["buckets"].append((float(dict(labels)["le"]), value))
            elif sname.endswith("_sum"):
                entry["sum"] = value
            else:
                entry["count"] = value
        for rest, e in series.items():
            buckets = sorted(e["buckets"])
            assert buckets and buckets[-1][0] == math.inf, (name, rest)
            counts = [c for _, c in buckets]
            assert counts == sorted(counts), (name, rest, counts)
            assert counts[-1] == e["count"] and e["sum"] is not None, (name, rest)
    return families


def value(families: dict, family: str, name: str | None = None, **labels) -> float:
    """The sample of `family` (series `name`, default the family's) with exactly these labels."""
    want = (name or family, frozenset(labels.items()))
    return families[family]["samples"].get(want, 0.0)


def scrape(ws, token: str | None = "ws") -> tuple[int, str, dict]:
    headers = {}
    if token == "ws":
        headers["Authorization"] = f"Bearer {ws.token}"
    elif token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(ws.url + "/metrics", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def metrics(ws) -> dict:
    status, text, headers = scrape(ws)
    assert status == 200, text
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8", headers
    return parse_exposition(text)


def http_count(fams: dict, method: str, route: str, code: str) -> float:
    return value(fams, "ferry_http_request_duration_seconds", "ferry_http_request_duration_seconds_count",
                 method=method, route=route, code=code)


def server_log(ws) -> str:
    return (ws.home / "test-server.log").read_text(errors="replace")


# ---- the version


def test_the_version_is_written_once_and_everything_agrees(workspace):
    m = re.search(r'^__version__ = "(\d+\.\d+\.\d+)"$', (REPO / "python/ferry/_version.py").read_text(), re.M)
    assert m, "python/ferry/_version.py must hold the version"
    version = m.group(1)
    assert workspace.cli("--version").stdout.strip() == f"ferry {version}"
    status, body, _ = workspace.api("GET", "/health", auth=False)
    assert status == 200 and body["version"] == version, body
    py = subprocess.run([sys.executable, "-c", "import ferry; print(ferry.__version__)"], capture_output=True,
                        text=True, env={**os.environ, "PYTHONPATH": str(REPO / "python")}, check=True)
    assert py.stdout.strip() == version
    pyproject = (REPO / "python/pyproject.toml").read_text()
    assert re.search(r'^dynamic = \["version"\]', pyproject, re.M), "pyproject.toml must read the version"
    assert 'attr = "ferry._version.__version__"' in pyproject
    assert "_version.py" in (REPO / "CMakeLists.txt").read_text()
    assert "version" not in json.loads((REPO / "web/package.json").read_text())  # Studio asks /health
    fams = metrics(workspace)
    assert value(fams, "ferry_build_info", version=version) == 1
    import yaml

    assert str(yaml.safe_load((REPO / "docs/openapi.yaml").read_text())["info"]["version"]) == version
    # No other copy of the literal where one used to be.
    for rel in ("src/server/api.cc", "src/cli/verbs.cc", "web/package.json", "python/ferry/__init__.py",
                "python/pyproject.toml", "docs/cli.md"):
        assert f'"{version}"' not in (REPO / rel).read_text() and f"ferry {version}" not in (REPO / rel).read_text(), rel


# ---- /metrics


def test_metrics_move_with_runs_requests_and_mlflow_logging(workspace, src):
    before = metrics(workspace)
    for status in ("Queued", "Running", "Completed", "Failed", "Canceled", "Preempted"):
        assert ("ferry_runs", frozenset({("status", status)})) in before["ferry_runs"]["samples"], status
    assert before["ferry_runs"]["type"] == "gauge"
    assert before["ferry_metric_points_ingested_total"]["type"] == "counter"
    assert before["ferry_http_request_duration_seconds"]["type"] == "histogram"
    assert value(before, "ferry_queue_length", target="local") == 0
    assert ("ferry_agents_active", frozenset()) in before["ferry_agents_active"]["samples"]
    assert ("ferry_agents_connected", frozenset()) in before["ferry_agents_connected"]["samples"]
    assert "ferry_cluster_nodes" in before
    completed0 = value(before, "ferry_runs", status="Completed")
    rest0 = value(before, "ferry_metric_points_ingested_total", api="rest")

    write(src / "train.py", """
        from ferry import Run
        run = Run.get_context()
        for i in range(50):
            run.log("loss", 1.0 / (i + 1))
        print("done", flush=True)
    """)
    run_id, _ = workspace.submit(src, "train.py")
    workspace.wait_status(run_id, "Completed")

    # MLflow's REST API: one log-metric and a log-batch of two.
    status, body, _ = workspace.api("POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": "0"})
    assert status == 200, body
    mlflow_run = body["run"]["info"]["run_id"]
    status, body, _ = workspace.api("POST", "/api/2.0/mlflow/runs/log-metric", json={
        "run_id": mlflow_run, "key": "m", "value": 1.5, "timestamp": 1000, "step": 0})
    assert status == 200, body
    status, body, _ = workspace.api("POST", "/api/2.0/mlflow/runs/log-batch", json={
        "run_id": mlflow_run, "metrics": [{"key": "m", "value": 2, "timestamp": 1001, "step": 1},
                                          {"key": "n", "value": 3, "timestamp": 1001, "step": 1}]})
    assert status == 200, body
    status, _, _ = workspace.api("GET", "/runs/no_such_run")
    assert status == 404

    # The store's gauges are cached for at most a second.
    def moved():
        fams = metrics(workspace)
        return fams if value(fams, "ferry_runs", status="Completed") >= completed0 + 1 else None

    after = wait_until(moved, 10, "ferry_runs{status=Completed} to count the run")
    assert value(after, "ferry_runs", status="Running") >= 1  # the MLflow run
    assert value(after, "ferry_metric_points_ingested_total", api="rest") >= rest0 + 50
    assert value(after, "ferry_metric_points_ingested_total", api="mlflow") == 3
    # Requests by route pattern (never the raw path) and code class.
    assert http_count(after, "POST", "/api/v1/runs/{}/metrics", "2xx") >= 1
    assert http_count(after, "POST", "/api/v1/runs", "2xx") >= 1
    assert http_count(after, "GET", "/api/v1/runs/{}", "4xx") >= 1
    assert http_count(after, "POST", "mlflow", "2xx") >= 3
    assert http_count(after, "GET", "/metrics", "2xx") >= 1
    routes = {dict(labels).get("route") for _, labels in after["ferry_http_request_duration_seconds"]["samples"]}
    assert not any(run_id in r or mlflow_run in r for r in routes), routes
    # The agent wrote within the last minute.
    assert value(after, "ferry_agents_connected") >= 1


def test_metrics_need_a_persons_token(workspace):
    status, text, _ = scrape(workspace, token=None)
    assert status == 401, text
    status, text, _ = scrape(workspace, token="not-a-token")
    assert status == 403 and "reader" in text, text
    token = workspace.cli("user", "add", "prom", "--role", "reader").stdout.strip()
    status, text, _ = scrape(workspace, token=token)
    assert status == 200 and "ferry_runs" in text
    req = urllib.request.Request(workspace.url + "/metrics", data=b"", method="POST",
                                 headers={"Authorization": f"Bearer {workspace.token}"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    assert e.value.code == 405


# ---- 404s and the OpenAPI document


def test_unknown_paths_are_404_not_studios_page(make_workspace, tmp_path):
    web = tmp_path / "web"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>Ferry</title>")
    (web / "assets" / "app.js").write_text("console.log(1)")
    ws = make_workspace(env={"FERRY_WEB_DIR": str(web)})

    def get(path, accept=None):
        req = urllib.request.Request(ws.url + path, headers={"Accept": accept} if accept else {})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read()

    status, ctype, body = get("/")
    assert status == 200 and b"<title>Ferry" in body
    status, ctype, body = get("/assets/app.js")
    assert status == 200 and body == b"console.log(1)"
    for page in ("/runs", "/runs/r_1", "/compare", "/sweeps/s_1", "/compute/box", "/experiments/e"):
        status, ctype, body = get(page)  # Studio's router's pages, without their "#"
        assert status == 200 and b"<title>Ferry" in body, page
    for path in ("/nope", "/favicon.ico", "/assets/missing.js", "/metricsx", "/v1/runs", "/runs/a/b",
                 "/compare/x", "/sweeps", "/.env", "/wp-login.php"):
        status, ctype, body = get(path)
        assert status == 404 and ctype.startswith("text/plain") and b"<title>" not in body, (path, status, body)
        status, ctype, body = get(path, accept="application/json")
        assert status == 404 and json.loads(body)["error"]["code"] == "NotFound", (path, body)
    status, ctype, body = get("/api/v1/nope")
    assert status == 404 and "json" in ctype


def test_the_served_openapi_document_is_the_file(workspace):
    req = urllib.request.Request(workspace.url + "/api/v1/openapi.yaml")
    with urllib.request.urlopen(req, timeout=30) as r:  # public: no token
        assert r.status == 200
        assert r.headers["Content-Type"] == "application/yaml"
        served = r.read()
    assert served == (REPO / "docs/openapi.yaml").read_bytes()
    import yaml

    doc = yaml.safe_load(served)
    assert "/api/v1/openapi.yaml" in doc["paths"]


# ---- logs

_TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|warning|error|critical)\s+\S+\[\d+\] ")


def test_access_log_lines_name_the_caller_and_never_a_token(workspace):
    token = workspace.cli("user", "add", "ann", "--role", "reader").stdout.strip()
    status, _, _ = workspace.api("GET", "/runs", headers={"Authorization": f"Bearer {token}"}, auth=False)
    assert status == 200
    status, _, _ = workspace.api("GET", "/runs/x/artifacts/content?path=a&expires=1&sig=s3cr3tsig", auth=False)
    assert status in (401, 403)
    status, _, _ = workspace.api("GET", "/health?token=querysecret", auth=False)
    assert status == 200

    def logged():
        log = server_log(workspace)
        return log if ("GET /api/v1/runs 200" in log and "caller=ann" in log
                       and "/api/v1/runs/x/artifacts/content 40" in log) else None

    log = wait_until(logged, 10, "the access log lines")
    line = next(l for l in log.splitlines() if "GET /api/v1/runs 200" in l and "caller=ann" in l)
    assert _TEXT_LINE.match(line) and " access[" in line, line
    assert "route=/api/v1/runs " in line and "remote=127.0.0.1" in line, line
    assert re.search(r" \d+B \d+\.\d{3}ms ", line), line
    assert "caller=anonymous" in log and "caller=workspace" in log
    for secret in (workspace.token, token, "s3cr3tsig", "querysecret"):
        assert secret not in log
    # Every line of the server is in the one format.
    for l in log.splitlines():
        assert _TEXT_LINE.match(l), l


def test_json_log_lines_parse(make_workspace):
    ws = make_workspace(server_args=("--log-format", "json"))
    status, _, _ = ws.api("GET", "/runs")
    assert status == 200

    def logged():
        lines = [json.loads(l) for l in server_log(ws).splitlines()]  # every line is one object
        return lines if any(l.get("component") == "access" and l.get("path") == "/api/v1/runs" for l in lines) else None

    lines = wait_until(logged, 10, "a JSON access line")
    access = next(l for l in lines if l.get("component") == "access" and l.get("path") == "/api/v1/runs")
    assert access["method"] == "GET" and access["status"] == 200 and access["caller"] == "workspace", access
    assert access["route"] == "/api/v1/runs" and isinstance(access["bytes"], int) and access["duration_ms"] >= 0
    assert access["level"] == "info" and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", access["time"])
    listening = next(l for l in lines if l.get("component") == "server" and "listening on" in l.get("msg", ""))
    assert listening["level"] == "info" and isinstance(listening["thread"], int)
    assert ws.token not in server_log(ws)


def test_log_level_from_the_flag_or_the_environment_filters(make_workspace, ferry_bin, tmp_path):
    quiet = make_workspace(name="quiet", server_args=("--log-level", "warn"))
    env_quiet = make_workspace(name="envquiet", env={"FERRY_LOG_LEVEL": "error"})
    loud = make_workspace(name="loud", env={"FERRY_LOG_LEVEL": "error"}, server_args=("--log-level", "info"))
    for ws in (quiet, env_quiet, loud):
        status, _, _ = ws.api("GET", "/runs")
        assert status == 200
    wait_until(lambda: "GET /api/v1/runs 200" in server_log(loud), 10, "the flag to win over the environment")
    for ws in (quiet, env_quiet):
        ws.stop_server()  # everything it would write is written
        log = server_log(ws)
        assert " info " not in log and "GET /api/v1/runs" not in log, log
    bad = subprocess.run([str(ferry_bin), "--home", str(tmp_path / "bad"), "server", "--log-level", "loud"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "'loud'" in bad.stderr and "debug, info, warn or error" in bad.stderr, bad
