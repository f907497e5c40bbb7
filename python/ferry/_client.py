"""The SDK's HTTP client for Ferry's REST API (standard library only).

One keep-alive connection per thread (and per process: a connection made before ``os.fork()``
is never used by the child). An idle connection the server has closed is replaced before the
request, and a request that breaks on a reused connection is sent again once when that is safe:
a GET or HEAD, or any request that failed while it was being sent; a POST, PUT, PATCH or DELETE
that was sent whole is never sent twice (the server may have applied it). Errors are the classes
of :mod:`ferry.exceptions`, with the server's own message (it names the run, field or value at
fault and says what to do). Imported lazily: ``import ferry`` stays cheap.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import select
import socket
import sys
import threading
import urllib.parse

from ._version import __version__
from .exceptions import (
    FerryConnectionError,
    FerryError,
    ServerUnavailableError,
    error_for,
)

__all__ = ["Client", "FerryError"]  # FerryError: callers import it from here too

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Dict, Optional, Tuple

USER_AGENT = f"ferry-ml/{__version__} Python/{sys.version_info[0]}.{sys.version_info[1]}"

# Pieces of a download read and written at a time.
_PIECE = 1 << 20

# Sent again after a broken reused connection even when the request was sent whole.
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

# What a reused connection that the server closed (idle, or just as the request left) fails with.
_BROKEN = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class _SendFailed(Exception):
    """The request did not leave whole (the server cannot have handled it); wraps the cause."""


def _closed_by_peer(sock: "Any") -> bool:
    """Whether an idle connection has something to read: the server's close (or bytes nobody
    asked for); either way it must not carry another request."""
    try:
        if hasattr(select, "poll"):
            p = select.poll()
            p.register(sock, select.POLLIN | select.POLLPRI)
            return bool(p.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


class Client:
    """JSON over HTTP to one server, with one bearer token.

    Thread-safe: each thread uses its own connection. Picklable (a copy opens its own).
    """

    def __init__(self, url: str, token: str, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        parts = urllib.parse.urlsplit(self.url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
            raise FerryError(f"the Ferry server URL {url!r} is not http://host[:port] or https://host[:port]",
                             0, "InvalidArgument")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = port or (443 if self._https else 80)
        self._base = parts.path  # a server behind a reverse proxy's path prefix
        self.extra_headers: "Dict[str, str]" = {}  # sent with every request (X-Ferry-Run)
        self._local = threading.local()

    def __getstate__(self) -> "Dict[str, Any]":
        state = dict(self.__dict__)
        del state["_local"]
        return state

    def __setstate__(self, state: "Dict[str, Any]") -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    # ---- connections

    def _new_connection(self, timeout: float) -> "http.client.HTTPConnection":
        """A connection (not opened yet) to the server, or through the proxy the environment
        names for it (``http_proxy``/``https_proxy``/``no_proxy``, as urllib reads them)."""
        import urllib.request

        proxy = urllib.request.getproxies().get("https" if self._https else "http")
        if proxy and urllib.request.proxy_bypass(self._host):
            proxy = None
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        if not proxy:
            return cls(self._host, self._port, timeout=timeout)
        p = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
        auth = {}
        if p.username:
            import base64

            cred = urllib.parse.unquote(p.username) + ":" + urllib.parse.unquote(p.password or "")
            auth["Proxy-Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
        conn = cls(p.hostname, p.port or 80, timeout=timeout)
        if self._https:
            conn.set_tunnel(self._host, self._port, headers=auth)
        else:
            conn._ferry_proxy_headers = auth  # type: ignore[attr-defined]  # sent with each request
        return conn

    def _connection(self, timeout: float) -> "Tuple[http.client.HTTPConnection, bool]":
        """This thread's connection and whether it carried a request before (it may be stale)."""
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is not None and local.pid != os.getpid():
            # Made before a fork: the parent owns that socket; close only our copy of the fd.
            conn.close()
            conn = None
        if conn is not None and conn.sock is not None and _closed_by_peer(conn.sock):
            conn.close()  # the server closed it while idle: a new one now, before sending
        if conn is None:
            conn = self._new_connection(timeout)
            local.conn, local.pid = conn, os.getpid()
        reused = conn.sock is not None
        conn.timeout = timeout
        if reused:
            conn.sock.settimeout(timeout)
        return conn, reused

    def close(self) -> None:
        """Closes this thread's connection (the next request opens another)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ---- requests

    def _target(self, path: str, params: "Optional[Dict[str, Any]]", conn: "http.client.HTTPConnection") -> str:
        target = self._base + ("/api/v1" + path if not path.startswith("/api/") else path)
        if params:
            query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
            if query:
                target += "?" + query
        if getattr(conn, "_ferry_proxy_headers", None) is not None:  # plain HTTP through a proxy
            target = f"http://{self._host}:{self._port}{target}"
        return target

    def _exchange(self, conn: "http.client.HTTPConnection", method: str, path: str, body: "Optional[bytes]",
                  params: "Optional[Dict[str, Any]]", content_type: str,
                  sink: "Optional[Callable[[http.client.HTTPResponse], Any]]" = None) -> "Tuple[int, Any, Dict[str, str]]":
        headers = {"Authorization": "Bearer " + self.token, "User-Agent": USER_AGENT}
        headers.update(self.extra_headers)
        headers.update(getattr(conn, "_ferry_proxy_headers", None) or {})
        if body is not None:
            headers["Content-Type"] = content_type
            if not isinstance(body, (bytes, bytearray)):  # streamed from an iterable that knows its length
                headers["Content-Length"] = str(len(body))
        try:
            conn.request(method, self._target(path, params, conn), body=body, headers=headers)
        except _BROKEN as e:
            raise _SendFailed() from e
        resp = conn.getresponse()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        if sink is not None and resp.status < 400:
            return resp.status, sink(resp), headers
        data = resp.read()  # the whole answer: the connection is then free for the next request
        return resp.status, data, headers

    def _open(self, method: str, path: str, body: "Optional[bytes]", params: "Optional[Dict[str, Any]]",
              content_type: str, timeout: "Optional[float]",
              sink: "Optional[Callable[[http.client.HTTPResponse], Any]]" = None) -> "Tuple[Any, Dict[str, str]]":
        """sink: reads a successful answer's body itself (and returns what stands for it); it may
        run again, from the start, when a GET is sent again."""
        timeout = timeout or self.timeout
        retried = False
        while True:
            conn, reused = self._connection(timeout)
            try:
                status, data, headers = self._exchange(conn, method, path, body, params, content_type, sink)
                break
            except _SendFailed as e:
                conn.close()
                cause = e.__cause__
                if reused and not retried:  # never reached the server whole: safe to send again
                    retried = True
                    continue
                raise self._transport_error(method, path, cause, False, timeout) from None
            except _BROKEN as e:
                conn.close()
                if reused and not retried and method in _SAFE_METHODS:
                    retried = True
                    continue
                raise self._transport_error(method, path, e, True, timeout) from None
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                raise self._transport_error(method, path, e, False, timeout) from None
            except BaseException:
                conn.close()  # e.g. KeyboardInterrupt mid-answer: the connection's state is unknown
                raise
        if status >= 400:
            raise self._http_error(method, path, status, data)
        return data, headers

    def _transport_error(self, method: str, path: str, e: "BaseException", sent: bool, timeout: float) -> FerryError:
        """sent: the request left whole before the connection broke."""
        if isinstance(e, ConnectionRefusedError):
            return ServerUnavailableError(f"cannot reach the Ferry server at {self.url}: {e}; is it running "
                                          "('ferry server')?", 0, "Unavailable")
        what = f"{method} {path} to the Ferry server at {self.url}"
        if isinstance(e, (TimeoutError, socket.timeout)):
            return FerryConnectionError(f"{what} got no answer within {timeout:g} s", 0, "Timeout")
        if sent and method not in _SAFE_METHODS:
            return FerryConnectionError(f"{what}: the connection broke after the request was sent ({e!r}); it was "
                                        "not sent again, as the server may have applied it: check before retrying",
                                        0, "ConnectionBroken")
        return FerryConnectionError(f"{what} failed: {e or type(e).__name__}", 0, "ConnectionFailed")

    def _http_error(self, method: str, path: str, status: int, raw: bytes) -> FerryError:
        try:
            j = json.loads(raw)
            # {"error": {"code", "message"}}, or the MLflow API's {"error_code", "message"}.
            err = j["error"] if isinstance(j.get("error"), dict) else {"code": j["error_code"], "message": j["message"]}
            message = str(err.get("message") or raw.decode("utf-8", "replace"))
            return error_for(message, status, str(err.get("code", "")))
        except (ValueError, KeyError, TypeError, AttributeError):
            return error_for(f"{method} {path}: HTTP {status}: {raw[:300].decode('utf-8', 'replace')}", status)

    def call(self, method: str, path: str, body: "Any" = None, params: "Optional[Dict[str, Any]]" = None,
             timeout: "Optional[float]" = None) -> "Any":
        """A JSON request; returns the decoded JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        raw, _ = self._open(method, path, data, params, "application/json", timeout)
        return json.loads(raw) if raw else {}

    def call_bytes(self, method: str, path: str, body: bytes, content_type: str = "application/octet-stream",
                   timeout: "Optional[float]" = None) -> "Any":
        """A request with a raw body (blobs, a manifest); returns the decoded JSON answer. body may
        also be an iterable of bytes with a ``len()`` (sent as it is iterated, e.g. read from a file),
        iterated again when the request is sent again."""
        raw, _ = self._open(method, path, body, None, content_type, timeout or max(self.timeout, 600.0))
        return json.loads(raw) if raw else {}

    def raw(self, method: str, path: str, params: "Optional[Dict[str, Any]]" = None,
            timeout: "Optional[float]" = None) -> "Tuple[bytes, Dict[str, str]]":
        """A request whose answer is not JSON and small: (body, lower-case headers)."""
        return self._open(method, path, None, params, "application/octet-stream", timeout)

    def download(self, path: str, dest: str, params: "Optional[Dict[str, Any]]" = None,
                 sha256: "Optional[str]" = None, size: "Optional[int]" = None,
                 timeout: "Optional[float]" = None) -> int:
        """GETs ``path`` into the file ``dest`` piece by piece, so that a file of any size is never
        held in memory: written under a temporary name beside it and renamed onto ``dest`` only once
        whole (its Content-Length) and checked against ``sha256`` and ``size`` when given. A body cut
        short is :class:`FerryConnectionError`, a mismatch ``FerryError`` (code ``Corruption``);
        ``dest`` is untouched then. ``timeout`` bounds each read, not the whole transfer. Returns the
        bytes written."""
        tmp = f"{dest}.part.{os.getpid()}.{threading.get_ident()}"

        def sink(resp: "http.client.HTTPResponse") -> int:
            digest = hashlib.sha256() if sha256 else None
            n = 0
            with open(tmp, "wb") as out:  # "wb": a retried GET starts the file over
                while True:
                    piece = resp.read(_PIECE)
                    if not piece:
                        break
                    out.write(piece)
                    n += len(piece)
                    if digest is not None:
                        digest.update(piece)
            expected = resp.getheader("content-length")
            if expected is not None and n != int(expected):
                # The server closed the connection mid-body (e.g. the content failed its check).
                raise http.client.IncompleteRead(b"", int(expected) - n)
            if size is not None and n != size:
                raise FerryError(f"{dest} arrived with {n} bytes, not the {size} expected; download it again",
                                 0, "Corruption")
            if digest is not None and digest.hexdigest() != sha256:
                raise FerryError(f"{dest} arrived corrupted (its content does not match hash {sha256}); "
                                 "download it again", 0, "Corruption")
            return n

        try:
            n, _ = self._open("GET", path, None, params, "application/octet-stream", timeout, sink)
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return n
