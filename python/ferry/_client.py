"""The SDK's HTTP client for Ferry's REST API (standard library only).

Errors become :class:`FerryError` with the server's own message (it names the run, field or
value at fault and says what to do). Imported lazily: ``import ferry`` stays cheap.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, Optional, Tuple


class FerryError(Exception):
    """An error answered by the Ferry server (or reaching it).

    :ivar status: the HTTP status (0 when the server could not be reached).
    :ivar code: the server's error code (``NotFound``, ``InvalidArgument``...).
    """

    def __init__(self, message: str, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Client:
    """JSON over HTTP to one server, with one bearer token."""

    def __init__(self, url: str, token: str, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _open(self, method: str, path: str, body: "Optional[bytes]", params: "Optional[Dict[str, Any]]",
              content_type: str, timeout: "Optional[float]") -> "Tuple[bytes, Dict[str, str]]":
        url = self.url + ("/api/v1" + path if not path.startswith("/api/") else path)
        if params:
            url += "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        req = urllib.request.Request(url, data=body, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if body is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                return resp.read(), {k.lower(): v for k, v in resp.headers.items()}
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                err = json.loads(raw)["error"]
                raise FerryError(err.get("message", raw.decode("utf-8", "replace")), e.code, err.get("code", "")) from None
            except (ValueError, KeyError, TypeError):
                raise FerryError(f"{method} {path}: HTTP {e.code}: {raw[:300].decode('utf-8', 'replace')}", e.code) from None
        except urllib.error.URLError as e:
            raise FerryError(f"cannot reach the Ferry server at {self.url}: {e.reason}; is it running "
                             "('ferry server')?") from None

    def call(self, method: str, path: str, body: "Any" = None, params: "Optional[Dict[str, Any]]" = None,
             timeout: "Optional[float]" = None) -> "Any":
        """A JSON request; returns the decoded JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        raw, _ = self._open(method, path, data, params, "application/json", timeout)
        return json.loads(raw) if raw else {}

    def call_bytes(self, method: str, path: str, body: bytes, content_type: str = "application/octet-stream",
                   timeout: "Optional[float]" = None) -> "Any":
        """A request with a raw body (blobs, a manifest); returns the decoded JSON answer."""
        raw, _ = self._open(method, path, body, None, content_type, timeout or max(self.timeout, 600.0))
        return json.loads(raw) if raw else {}

    def raw(self, method: str, path: str, params: "Optional[Dict[str, Any]]" = None,
            timeout: "Optional[float]" = None) -> "Tuple[bytes, Dict[str, str]]":
        """A request whose answer is not JSON: (body, lower-case headers)."""
        return self._open(method, path, None, params, "application/octet-stream", timeout)
