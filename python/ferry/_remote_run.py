"""What a :class:`ferry.Run` bound to a workspace does over the REST API (imported lazily)."""

from __future__ import annotations

import codecs
import datetime
import os
import sys
import time

from ._backoff import Backoff
from ._client import Client
from .exceptions import ActivityFailedException, InvalidArgumentError, NotFoundError

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, Iterator, List, Optional, TextIO

TERMINAL = ("Completed", "Failed", "Canceled")


def _iso(t: float) -> "Optional[str]":
    if not t:
        return None
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _hex(c: str) -> int:
    return "0123456789abcdef".find(c.lower()) if len(c) == 1 else -1


def local_name(path: str) -> str:
    """The file name an artifact path stands for. Artifact paths carry any bytes as UTF-8 text
    (docs/local-target.md#artifacts): ``\\xNN`` is the byte NN, ``\\\\`` a backslash, and a
    backslash followed by anything else stands for itself. Returned as ``os.fsdecode`` of those
    bytes (bytes that are not UTF-8 become surrogates), which every ``os`` function writes back
    as the exact bytes.

    :raises InvalidArgumentError: when the bytes are not a safe relative path (absolute, ``..``, NUL).
    """
    out = bytearray()
    i, n = 0, len(path)
    while i < n:
        c = path[i]
        if c == "\\" and i + 1 < n:
            if path[i + 1] == "\\":
                out += b"\\"
                i += 2
                continue
            if path[i + 1] == "x" and i + 3 < n and _hex(path[i + 2]) >= 0 and _hex(path[i + 3]) >= 0:
                out.append(_hex(path[i + 2]) * 16 + _hex(path[i + 3]))
                i += 4
                continue
        out += c.encode("utf-8", "surrogatepass")
        i += 1
    raw = bytes(out)
    parts = raw.split(b"/")
    if raw.startswith(b"/") or b"\0" in raw or any(p in (b"", b".", b"..") for p in parts):
        raise InvalidArgumentError(f"refusing artifact {path!r}: not a safe relative path", 400, "InvalidArgument")
    return os.fsdecode(raw)


def list_runs(c: Client, **params: "Any") -> "Iterator[Dict[str, Any]]":
    """GET /runs page by page (newest first)."""
    offset = 0
    while True:
        page = c.call("GET", "/runs", params={**params, "limit": 100, "offset": offset})["runs"]
        yield from page
        if len(page) < 100:
            return
        offset += len(page)


def run_json(c: Client, run_id: str) -> "Dict[str, Any]":
    return c.call("GET", f"/runs/{run_id}")


def details(c: Client, run_id: str) -> "Dict[str, Any]":
    """Azure ML's shape (camelCase keys) of the run's details."""
    r = run_json(c, run_id)
    hist = c.call("GET", f"/runs/{run_id}/history")["history"]
    out = {
        "runId": r["id"],
        "experiment": r["experiment"],
        "status": r["status"],
        "target": r["target"],
        "startTimeUtc": _iso(r.get("started_at", 0)),
        "endTimeUtc": _iso(r.get("ended_at", 0)),
        "exitCode": r.get("exit_code"),
        "tags": r.get("tags", {}),
        "runDefinition": {"script": r.get("script"), "arguments": r.get("arguments", []), "target": r["target"]},
        "parentRunId": r.get("parent_id") or None,
        "statusHistory": hist,
    }
    if r.get("error"):
        out["error"] = {"message": r["error"]}
    return out


def metrics(c: Client, run_id: str, name: "Optional[str]") -> "Dict[str, Any]":
    body = c.call("GET", f"/runs/{run_id}/metrics", params={"key": name} if name else None)["metrics"]
    out: "Dict[str, Any]" = {}
    for key, points in body.items():
        values = [_number(p["value"]) for p in points]
        out[key] = values[0] if len(values) == 1 else values
    return out


def _number(v: "Any") -> float:
    if isinstance(v, str):
        return float(v)  # "nan", "inf", "-inf"
    return v


def log_lines(c: Client, run_id: str, text: str) -> None:
    """Metric records in the metrics-file format ({"k","v","s","t"} lines), sent to the run
    through the MLflow API's log-batch (1,000 per request)."""
    import json

    special = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
    metrics = []
    for line in text.splitlines():
        if not line:
            continue
        rec = json.loads(line)
        v = rec["v"]
        metrics.append({"key": rec["k"], "value": special.get(v, v) if isinstance(v, str) else v,
                        "timestamp": int(rec["t"] * 1000), "step": rec["s"] if rec["s"] is not None else 0})
    for i in range(0, len(metrics), 1000):
        c.call("POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": run_id, "metrics": metrics[i:i + 1000]})


def file_names(c: Client, run_id: str) -> "List[str]":
    return [a["path"] for a in c.call("GET", f"/runs/{run_id}/artifacts")["artifacts"]]


def download_file(c: Client, run_id: str, name: str, output_file_path: "Optional[str]",
                  names: "Optional[List[str]]" = None) -> str:
    """names: the run's file names when the caller has listed them already."""
    if name not in (names if names is not None else file_names(c, run_id)):
        raise NotFoundError(f"run '{run_id}' has no file '{name}'; see get_file_names()", 404, "NotFound")
    base = os.path.basename(local_name(name))
    dest = output_file_path or base
    if os.path.isdir(dest):
        dest = os.path.join(dest, base)
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    # Streamed to disk; never a half-written file under the real name.
    c.download(f"/runs/{run_id}/artifacts/content", dest, params={"path": name})
    return dest


def download_files(c: Client, run_id: str, prefix: "Optional[str]", output_directory: "Optional[str]",
                   append_prefix: bool) -> "List[str]":
    out = []
    root = output_directory or os.getcwd()
    names = file_names(c, run_id)  # listed once, not once per file
    for name in names:
        if prefix and not name.startswith(prefix):
            continue
        rel = name if append_prefix or not prefix else name[len(prefix):].lstrip("/")
        out.append(download_file(c, run_id, name, os.path.join(root, local_name(rel)), names))
    return out


def wait(c: Client, run_id: str, show_output: bool, raise_on_error: bool, stream: "TextIO" = None,
         poll_timeout_ms: int = 10000) -> "Dict[str, Any]":
    """Until the run ends; with show_output, its log is written to stream as it grows."""
    out = stream or sys.stdout
    if show_output:
        out.write(f"RunId: {run_id}\n")
        out.flush()
        offset = 0
        # Logs are the script's bytes: decoded across chunk boundaries, bad bytes shown as U+FFFD.
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while True:
            data, headers = c.raw("GET", f"/runs/{run_id}/logs", params={"offset": offset, "wait_ms": poll_timeout_ms},
                                  timeout=poll_timeout_ms / 1000 + 30)
            if data:
                out.write(decoder.decode(data))
                out.flush()
            offset = int(headers.get("x-ferry-next-offset", offset + len(data)))
            if not data and headers.get("x-ferry-run-status") in TERMINAL:
                break
    else:
        backoff = Backoff(0.2, 5.0, factor=1.5)
        while run_json(c, run_id)["status"] not in TERMINAL:
            time.sleep(backoff.next())
    d = details(c, run_id)
    if show_output:
        out.write(f"\nExecution Summary\n=================\nRunId: {run_id}\nStatus: {d['status']}\n")
        out.flush()
    if raise_on_error and d["status"] == "Failed":
        raise ActivityFailedException(
            f"run '{run_id}' failed: {d.get('error', {}).get('message', 'no error recorded')}", 0, "RunFailed")
    return d
