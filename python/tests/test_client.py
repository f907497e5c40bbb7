"""The SDK's HTTP client (ferry._client) against a tiny real HTTP/1.1 server started here:
keep-alive reuse, reconnects after the server closed an idle connection, no second sending of a
POST the server may have applied, fork safety, and the status -> exception mapping."""

from __future__ import annotations

import json
import os
import pickle
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import ferry
import ferry.exceptions
import pytest
from ferry import (
    AuthenticationError,
    ConflictError,
    FerryConnectionError,
    FerryError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ServerUnavailableError,
)
from ferry._client import USER_AGENT, Client


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the answer says otherwise

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def log_message(self, *args) -> None:  # quiet
        pass

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.requests.append((self.command, self.path, dict(self.headers), body))
            action = self.server.script.pop(0) if self.server.script else ("ok",)
        if action[0] == "drop":  # read whole, then hang up without an answer
            self.close_connection = True
            return
        status, payload = (200, json.dumps({"n": len(self.server.requests)}).encode())
        if action[0] == "error":
            status, payload = action[1], action[2]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        if action[0] == "close":  # answered as keep-alive, then closed: an idle close
            self.close_connection = True

    do_GET = do_POST = do_DELETE = _serve


@pytest.fixture(autouse=True)
def _no_proxy_from_outside(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.lock = threading.Lock()
    srv.connections = 0
    srv.requests = []
    srv.script = []  # the next requests' actions: ("ok",), ("drop",), ("close",), ("error", status, body)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def _wait_readable(sock: socket.socket) -> None:
    """Until the server's close has reached this idle connection (bounded)."""
    assert select.select([sock], [], [], 10)[0], "the server's close did not arrive"


def test_one_connection_carries_many_calls_with_the_same_headers(server):
    c = Client(server.url, "tok")
    for i in range(10):
        assert c.call("GET", "/runs", params={"limit": 1, "skip": None}) == {"n": i + 1}
    assert c.call("POST", "/runs", {"a": 1}) == {"n": 11}
    assert c.raw("GET", "/runs/x/logs")[0] == b'{"n": 12}'
    assert c.call_bytes("POST", "/blobs", b"\0\1") == {"n": 13}
    assert server.connections == 1
    method, path, headers, body = server.requests[10]
    assert (method, path, body) == ("POST", "/api/v1/runs", b'{"a": 1}')
    assert headers["Authorization"] == "Bearer tok" and headers["User-Agent"] == USER_AGENT
    assert headers["Content-Type"] == "application/json"
    assert server.requests[0][1] == "/api/v1/runs?limit=1"
    assert server.requests[12][2]["Content-Type"] == "application/octet-stream"
    c.close()


def test_mlflow_paths_and_a_base_path_are_kept(server):
    c = Client(server.url + "/ferry/", "tok")
    c.call("POST", "/api/2.0/mlflow/runs/log-batch", {})
    c.call("GET", "/health")
    assert [r[1] for r in server.requests] == ["/ferry/api/2.0/mlflow/runs/log-batch", "/ferry/api/v1/health"]


def test_an_idle_connection_the_server_closed_is_replaced_before_a_post(server):
    c = Client(server.url, "tok")
    server.script = [("close",)]
    c.call("GET", "/a")
    _wait_readable(c._local.conn.sock)
    assert c.call("POST", "/b", {}) == {"n": 2}  # not refused, and sent once
    assert [r[0] for r in server.requests] == ["GET", "POST"]
    assert server.connections == 2


def test_a_get_that_breaks_on_a_reused_connection_is_sent_once_more(server):
    c = Client(server.url, "tok")
    c.call("GET", "/a")
    server.script = [("drop",)]  # the server closes just as the request arrives
    assert c.call("GET", "/b") == {"n": 3}
    assert [r[1] for r in server.requests] == ["/api/v1/a", "/api/v1/b", "/api/v1/b"]
    assert server.connections == 2


def test_a_post_that_breaks_after_it_was_sent_is_not_sent_again(server):
    c = Client(server.url, "tok")
    c.call("GET", "/a")
    server.script = [("drop",)]
    with pytest.raises(FerryConnectionError) as e:
        c.call("POST", "/runs/x/cancel")
    assert isinstance(e.value, ConnectionError) and e.value.status == 0
    assert "not sent again" in str(e.value) and "POST /runs/x/cancel" in str(e.value)
    assert [r[0] for r in server.requests] == ["GET", "POST"]  # the POST arrived once
    assert c.call("GET", "/c") == {"n": 3}  # and the client goes on with a new connection


def test_a_get_on_a_new_connection_that_breaks_is_not_retried(server):
    c = Client(server.url, "tok")
    server.script = [("drop",), ("drop",)]
    with pytest.raises(FerryConnectionError):
        c.call("GET", "/a")
    assert len(server.requests) == 1


def test_a_connection_made_before_fork_is_not_used_by_the_child(server):
    c = Client(server.url, "tok")
    c.call("GET", "/parent")
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 when its call worked on its own connection
        code = 1
        try:
            code = 0 if c.call("GET", "/child") == {"n": 2} else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert c.call("GET", "/parent-again") == {"n": 3}  # the parent's connection still works
    assert server.connections == 2  # the parent's, reused, and the child's own


def test_each_thread_has_its_own_connection(server):
    c = Client(server.url, "tok")
    barrier = threading.Barrier(3)

    def work() -> None:
        barrier.wait()
        for _ in range(5):
            c.call("GET", "/t")

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(server.requests) == 15 and server.connections == 3


def test_a_pickled_client_opens_its_own_connection(server):
    c = Client(server.url, "tok")
    c.call("GET", "/a")
    copy = pickle.loads(pickle.dumps(c))
    assert copy.url == server.url and copy.call("GET", "/b") == {"n": 2}
    assert server.connections == 2


def test_the_environments_proxy_carries_plain_http_unless_no_proxy_names_the_host(server, monkeypatch):
    host, port = server.server_address
    monkeypatch.setenv("http_proxy", f"http://me:s%40cret@{host}:{port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    c = Client("http://ferry.invalid:8765", "tok")  # resolvable only by the proxy
    assert c.call("GET", "/runs", params={"limit": 1}) == {"n": 1}
    assert c.call("GET", "/runs") == {"n": 2}
    method, path, headers, _ = server.requests[0]
    assert path == "http://ferry.invalid:8765/api/v1/runs?limit=1" and headers["Host"] == "ferry.invalid:8765"
    assert headers["Proxy-Authorization"] == "Basic bWU6c0BjcmV0"  # me:s@cret
    assert server.connections == 1
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # nothing there: must not be used
    assert Client(server.url, "tok").call("GET", "/direct") == {"n": 3}
    assert server.requests[2][1] == "/api/v1/direct"


@pytest.mark.parametrize("status,body,cls,code", [
    (400, {"error": {"code": "InvalidArgument", "message": "field 'x' is bad"}}, InvalidArgumentError,
     "InvalidArgument"),
    (400, {"error": {"code": "BadRequest", "message": "malformed"}}, InvalidArgumentError, "BadRequest"),
    (401, {"error": {"code": "Unauthenticated", "message": "no token"}}, AuthenticationError, "Unauthenticated"),
    (403, {"error": {"code": "PermissionDenied", "message": "needs contributor"}}, PermissionDeniedError,
     "PermissionDenied"),
    (404, {"error": {"code": "NotFound", "message": "no run 'r'"}}, NotFoundError, "NotFound"),
    (409, {"error": {"code": "FailedPrecondition", "message": "run 'r' has ended"}}, ConflictError,
     "FailedPrecondition"),
    (409, {"error": {"code": "AlreadyExists", "message": "exists"}}, ConflictError, "AlreadyExists"),
    (413, {"error": {"code": "PayloadTooLarge", "message": "send less"}}, PayloadTooLargeError, "PayloadTooLarge"),
    (503, {"error": {"code": "Unavailable", "message": "draining"}}, ServerUnavailableError, "Unavailable"),
    (500, {"error": {"code": "Internal", "message": "oops"}}, FerryError, "Internal"),
    # The MLflow API's shape; its code decides over the status.
    (404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no run"}, NotFoundError, "RESOURCE_DOES_NOT_EXIST"),
    (400, {"error_code": "RESOURCE_ALREADY_EXISTS", "message": "exists"}, ConflictError, "RESOURCE_ALREADY_EXISTS"),
    (409, {"error_code": "INVALID_STATE", "message": "has ended"}, ConflictError, "INVALID_STATE"),
    (403, {"error_code": "PERMISSION_DENIED", "message": "no"}, PermissionDeniedError, "PERMISSION_DENIED"),
])
def test_error_answers_raise_their_class(server, status, body, cls, code):
    c = Client(server.url, "tok")
    server.script = [("error", status, json.dumps(body).encode())]
    with pytest.raises(FerryError) as e:
        c.call("POST", "/runs", {})
    assert type(e.value) is cls and e.value.status == status and e.value.code == code
    assert str(e.value) == body.get("message", body.get("error", {}).get("message"))
    assert c.call("GET", "/after") == {"n": 2} and server.connections == 1  # an error keeps the connection


def test_an_answer_that_is_not_json_is_mapped_by_its_status(server):
    c = Client(server.url, "tok")
    server.script = [("error", 404, b"<html>not here</html>"), ("error", 502, b"bad gateway")]
    with pytest.raises(NotFoundError) as e:
        c.call("GET", "/x")
    assert str(e.value) == "GET /x: HTTP 404: <html>not here</html>" and e.value.code == ""
    with pytest.raises(FerryError) as e2:
        c.call("GET", "/y")
    assert type(e2.value) is FerryError and e2.value.status == 502


def test_nothing_listening_is_server_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ServerUnavailableError) as e:
        Client(f"http://127.0.0.1:{port}", "tok").call("GET", "/health")
    assert "cannot reach the Ferry server" in str(e.value) and e.value.status == 0


def test_no_answer_within_the_timeout_is_a_connection_error():
    with socket.socket() as s:  # accepts (the kernel does) but never answers
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(FerryConnectionError) as e:
            Client(f"http://127.0.0.1:{s.getsockname()[1]}", "tok").call("GET", "/health", timeout=0.2)
    assert e.value.code == "Timeout" and "0.2 s" in str(e.value)


def test_a_workspace_home_without_a_server_is_server_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("FERRY_TOKEN", "tok")
    with pytest.raises(ServerUnavailableError) as e:
        ferry.Workspace(home=str(tmp_path), start_server=False)
    assert "no Ferry server is running" in str(e.value) and str(tmp_path) in str(e.value)


def test_a_url_that_is_not_http_is_refused():
    with pytest.raises(FerryError) as e:
        Client("localhost:8765", "tok")
    assert "localhost:8765" in str(e.value)


def test_exceptions_are_ferry_errors_exported_and_picklable():
    names = ["InvalidArgumentError", "AuthenticationError", "PermissionDeniedError", "NotFoundError",
             "ConflictError", "PayloadTooLargeError", "ServerUnavailableError", "FerryConnectionError"]
    for name in names:
        cls = getattr(ferry, name)
        assert cls is getattr(ferry.exceptions, name) and issubclass(cls, FerryError)
    assert ferry.FerryError is ferry.exceptions.FerryError
    assert issubclass(ferry.ComputeTargetException, FerryError)
    e = pickle.loads(pickle.dumps(NotFoundError("no run 'r'", 404, "NotFound")))
    assert type(e) is NotFoundError and (str(e), e.status, e.code) == ("no run 'r'", 404, "NotFound")
    assert type(ferry.exceptions.error_for("m", 418, "Teapot")) is FerryError
