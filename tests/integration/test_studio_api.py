"""What Studio reads from the server, over real HTTP: the run and workspace event streams
(server-sent events), run lists with parameter/metric columns and metric filters, the picker's
keys, signed download links, the static files at "/" (confined to the web directory) and
`ferry studio`'s sign-in link. The browser tests are in test_studio.py."""

from __future__ import annotations

import gzip
import http.client
import json
import threading
import urllib.parse

from test_runs import write


def sse(workspace, path: str, stop_after=None, timeout: float = 60):
    """Reads an event stream until the server ends it (or stop_after(events) is true);
    returns [(event, data)] in order."""
    u = urllib.parse.urlparse(workspace.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    conn.request("GET", "/api/v1" + path, headers={"Authorization": f"Bearer {workspace.token}"})
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    assert resp.getheader("Content-Type").startswith("text/event-stream")
    events, buf = [], b""
    try:
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n\n" in buf:
                block, buf = buf.split(b"\n\n", 1)
                name, data = "message", []
                for line in block.decode().split("\n"):
                    if line.startswith(":"):
                        continue
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        data.append(line[6:])
                if data:
                    events.append((name, json.loads("\n".join(data))))
            if stop_after and stop_after(events):
                break
    finally:
        conn.close()
    return events


def test_run_stream_sends_the_run_its_logs_and_metrics_live_then_ends(workspace, src):
    write(src / "live.py", """
        import time
        from ferry import Run
        run = Run.get_context()
        for i in range(30):
            print(f"line {i} é", flush=True)
            run.log("loss", 1.0 / (i + 1))
            time.sleep(0.05)
        run.log("late", 1.0)
    """)
    run_id, _ = workspace.submit(src, "live.py")
    events = sse(workspace, f"/runs/{run_id}/stream?max_points=1000")
    names = [e for e, _ in events]
    assert names[0] == "run" and names[-1] == "end", names
    assert events[-1][1]["status"] == "Completed"
    runs = [d for e, d in events if e == "run"]
    # The run as GET /runs/{id} shows it, with its history; statuses only move forward.
    assert runs[-1]["id"] == run_id and runs[-1]["status"] == "Completed"
    assert [h["status"] for h in runs[-1]["history"]][-1] == "Completed"
    assert len({r["status"] for r in runs}) >= 2, "the stream should have seen the run change"
    # Logs: consecutive pieces that add up to the whole log, valid text.
    logs = [d for e, d in events if e == "log"]
    assert logs and all(d["rank"] == 0 for d in logs)
    offset = 0
    for d in logs:
        assert d["offset"] == offset and d["next_offset"] >= offset
        offset = d["next_offset"]
    text = "".join(d["text"] for d in logs)
    assert text == workspace.log(run_id)
    assert "line 29 é" in text
    # Metrics: each key's series, then appended points; together exactly what was logged.
    series: dict[str, list] = {}
    for e, d in events:
        if e == "series":
            series[d["key"]] = list(d["points"])
            assert d["downsampled"] is False and d["total"] == len(d["points"])
        elif e == "points":
            assert d["key"] in series, "points before the key's series"
            series[d["key"]] += d["points"]
    assert [p["value"] for p in series["loss"]] == [1.0 / (i + 1) for i in range(30)]
    assert [p["step"] for p in series["loss"]] == list(range(30))
    assert [p["value"] for p in series["late"]] == [1.0]


def test_run_stream_of_a_finished_run_downsamples_and_tails_the_log(workspace, src):
    write(src / "big.py", """
        import sys
        from ferry import Run
        run = Run.get_context()
        for i in range(5000):
            run.log("x", float(i % 100))
        sys.stdout.write("".join(f"row {i:07d}\\n" for i in range(200000)))  # ~2.4 MB
    """)
    run_id, _ = workspace.submit(src, "big.py", wait=True)
    events = sse(workspace, f"/runs/{run_id}/stream?max_points=100")
    x = [d for e, d in events if e == "series" and d["key"] == "x"]
    assert len(x) == 1 and x[0]["downsampled"] is True and x[0]["total"] == 5000
    assert len(x[0]["points"]) <= 100
    assert {p["value"] for p in x[0]["points"]} >= {0.0, 99.0}, "the extremes survive downsampling"
    logs = [d for e, d in events if e == "log"]
    first = logs[0]
    # A new viewer gets the last 1 MiB, from a line start, and is told what was skipped.
    assert first["truncated_before"] == first["offset"] > 0
    assert first["text"].startswith("row ")
    text = "".join(d["text"] for d in logs)
    assert text.endswith("row 0199999\n")
    assert 1_000_000 - 20 <= len(text) <= 1 << 20
    status, body, _ = workspace.api("GET", f"/runs/{run_id}/stream?max_points=1")
    assert status == 400 and "max_points" in body["error"]["message"]
    status, body, _ = workspace.api("GET", "/runs/nope/stream")
    assert status == 404


def test_run_stream_sends_every_ranks_log(workspace, src):
    write(src / "one.py", "print('rank zero', flush=True)\n")
    run_id, _ = workspace.submit(src, "one.py", wait=True)
    # Worker ranks post their own streams (as their agents do on a multi-node target; an
    # agent's final flush is taken just after the run ended).
    agent = {"Content-Type": "text/plain", "Authorization": f"Bearer {workspace.agent_token(run_id)}"}
    for rank, text in ((1, "worker one\n"), (3, "worker three\n")):
        status, body, _ = workspace.api("POST", f"/runs/{run_id}/logs?rank={rank}&offset=0", data=text,
                                        headers=agent, auth=False)
        assert status == 200, body
    events = sse(workspace, f"/runs/{run_id}/stream")
    logs = {d["rank"]: d["text"] for e, d in events if e == "log"}
    assert logs == {0: "rank zero\n", 1: "worker one\n", 3: "worker three\n"}


def test_workspace_stream_announces_run_changes(workspace, src):
    write(src / "quick.py", "print('hi')\n")
    got: list = []
    ready = threading.Event()

    def reader():
        def stop(events):
            if events and events[0][0] == "ready":
                ready.set()
            return any(e == "changed" for e, _ in events)
        got.extend(sse(workspace, "/stream", stop_after=stop, timeout=60))

    t = threading.Thread(target=reader)
    t.start()
    assert ready.wait(30), "no ready event"
    workspace.submit(src, "quick.py")
    t.join(60)
    assert not t.is_alive()
    assert got[0][0] == "ready" and got[-1][0] == "changed"
    # Only the workspace's users may listen.
    status, _, _ = workspace.api("GET", "/stream", auth=False)
    assert status == 401


def test_run_list_columns_metric_filter_and_keys(workspace, src):
    write(src / "m.py", """
        import sys
        from ferry import Run
        run = Run.get_context()
        run.log("loss", float(sys.argv[1]))
        run.set_tags({"lr": sys.argv[1]})
    """)
    ids = {}
    for v in ("0.5", "0.25", "2"):
        ids[v], _ = workspace.submit(src, "m.py", v)
    for rid in ids.values():
        workspace.wait_status(rid, "Completed")
    status, body, _ = workspace.api("GET", "/runs?with=params,metrics&metric.loss=%3C1&sort=metric:loss&order=asc&count=true")
    assert status == 200, body
    assert [r["id"] for r in body["runs"]] == [ids["0.25"], ids["0.5"]] and body["total"] == 2
    assert body["runs"][0]["metrics"]["loss"]["last"] == 0.25
    assert isinstance(body["runs"][0]["params"], dict)
    status, body, _ = workspace.api("GET", "/runs?metric.loss=%3E%3D2")
    assert [r["id"] for r in body["runs"]] == [ids["2"]]
    status, body, _ = workspace.api("GET", "/runs?metric.loss=%3D0.5")
    assert [r["id"] for r in body["runs"]] == [ids["0.5"]]
    status, body, _ = workspace.api("GET", "/runs?metric.loss=abc")
    assert status == 400 and "metric.loss" in body["error"]["message"] and "e.g." in body["error"]["message"]
    status, body, _ = workspace.api("GET", "/runs?with=everything")
    assert status == 400 and "'with'" in body["error"]["message"]
    status, body, _ = workspace.api("GET", "/runs/keys")
    assert status == 200
    assert "loss" in body["metrics"] and "lr" in body["tags"]


def test_signed_artifact_links(workspace, src):
    write(src / "out.py", """
        import os
        os.makedirs("outputs", exist_ok=True)
        open("outputs/model \\"v1\\".bin", "wb").write(b"\\x00weights")
    """)
    run_id, _ = workspace.submit(src, "out.py", wait=True)
    path = 'outputs/model "v1".bin'
    status, body, _ = workspace.api("POST", f"/runs/{run_id}/artifacts/link?path=" + urllib.parse.quote(path))
    assert status == 200, body
    url = body["url"]
    assert url.startswith(f"/api/v1/runs/{run_id}/artifacts/content?") and body["expires_in"] == 300
    status, content, headers = workspace.api("GET", url, auth=False)
    assert status == 200 and content == b"\x00weights"
    assert headers["Content-Disposition"].startswith('attachment; filename="model _v1_.bin"')
    # A link is for that run and file only, and cannot be altered.
    tampered = url.replace("expires=", "expires=9")
    status, body, _ = workspace.api("GET", tampered, auth=False)
    assert status == 403 and "expired" in body["error"]["message"]
    base, query = url.split("?", 1)
    q = dict(urllib.parse.parse_qsl(query))
    assert q["path"] == path
    q["path"] = "outputs/other"
    status, body, _ = workspace.api("GET", base + "?" + urllib.parse.urlencode(q), auth=False)
    assert status == 403
    status, body, _ = workspace.api("POST", f"/runs/{run_id}/artifacts/link?path=outputs/none")
    assert status == 404 and "outputs/none" in body["error"]["message"]
    status, body, _ = workspace.api("POST", f"/runs/{run_id}/artifacts/link?path=x", auth=False)
    assert status == 401


def test_static_files_are_confined_to_the_web_directory(make_workspace, tmp_path):
    web = tmp_path / "web"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>Ferry</title>")
    (web / "assets" / "app-1234.js").write_text("console.log(1)")
    secret = tmp_path / "secret.txt"
    secret.write_text("not for you")
    (web / "assets" / "link.js").symlink_to(secret)
    ws = make_workspace(env={"FERRY_WEB_DIR": str(web)})
    status, body, h = _get(ws, "/")
    assert status == 200 and b"<title>Ferry</title>" in body
    assert "default-src 'self'" in h["Content-Security-Policy"] and h["X-Frame-Options"] == "DENY"
    assert h["Cache-Control"] == "no-cache"
    status, body, h = _get(ws, "/assets/app-1234.js")
    assert status == 200 and h["Content-Type"].startswith("text/javascript") and "immutable" in h["Cache-Control"]
    # A pre-compressed copy goes to browsers that accept gzip, the plain file to others.
    (web / "assets" / "app-1234.js.gz").write_bytes(gzip.compress(b"console.log(1)"))
    status, body, h = _get(ws, "/assets/app-1234.js", headers={"Accept-Encoding": "gzip, br"})
    assert status == 200 and h.get("Content-Encoding") == "gzip" and gzip.decompress(body) == b"console.log(1)"
    assert h["Vary"] == "Accept-Encoding"
    status, body, h = _get(ws, "/assets/app-1234.js")
    assert body == b"console.log(1)" and "Content-Encoding" not in h
    for page in ("/runs/some-run", "/datastores/shared", "/datasets/iris/2", "/models/m/1"):
        status, body, _ = _get(ws, page)  # the app's own routes get the page
        assert status == 200 and b"<title>Ferry</title>" in body, page
    assert _get(ws, "/runs/a/b/c")[0] == 404
    for bad in ("/assets/link.js", "/assets/../../secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt", "/nope.js"):
        status, body, _ = _get(ws, bad)
        assert status in (400, 404), bad
        assert b"not for you" not in body
    status, _, _ = _get(ws, "/", method="POST")
    assert status == 405


def test_without_a_built_ui_the_page_says_how_to_build_it(make_workspace, tmp_path):
    ws = make_workspace(env={"FERRY_WEB_DIR": str(tmp_path / "missing")})
    status, body, _ = _get(ws, "/")
    assert status == 404 and b"make" in body and b"FERRY_WEB_DIR" in body
    # The API is unaffected.
    assert ws.api("GET", "/health")[0] == 200


def test_ferry_studio_prints_a_signed_in_link(workspace):
    out = workspace.cli("studio").stdout
    assert f"{workspace.url}/#token={workspace.token}" in out
    j = workspace.cli_json("studio")
    assert j["url"] == workspace.url and j["link"].endswith(workspace.token)


def _get(ws, path: str, method: str = "GET", headers: dict | None = None):
    u = urllib.parse.urlparse(ws.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request(method, path, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    headers = {k: v for k, v in r.getheaders()}
    conn.close()
    return r.status, body, headers
