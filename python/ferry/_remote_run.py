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


def azure_status(r: "Dict[str, Any]") -> str:
    """Azure ML's name of the run's status (see Run.get_status)."""
    status = r["status"]
    if status == "Preempted":
        return "Queued"
    if r.get("cancel_requested") and status not in TERMINAL:
        return "CancelRequested"
    return status


def run_type(r: "Dict[str, Any]") -> str:
    if r.get("kind") == "sweep":
        return "hyperdrive"
    if r.get("kind") == "external":
        return "interactive"
    return "azureml.scriptrun"


def properties(r: "Dict[str, Any]") -> "Dict[str, str]":
    """Azure ML's properties of the run: its parameters, its git state, its snapshot."""
    out = {k: str(v) for k, v in (r.get("params") or {}).items()}
    git = r.get("git")
    if git:
        for prefix, names in (("azureml.git.", ("repository_uri", "branch", "commit", "dirty")),
                              ("mlflow.source.git.", ("repoURL", "branch", "commit", None))):
            for name, value in zip(names, (git.get("remote_url"), git.get("branch"), git.get("commit"),
                                           git.get("dirty"))):
                if name is not None and value not in (None, ""):
                    out[prefix + name] = str(value)
    if r.get("snapshot_id"):
        out.setdefault("ContentSnapshotId", r["snapshot_id"])
    return out


def run_number(c: Client, r: "Dict[str, Any]") -> int:
    """1 + how many runs of the experiment were created before this one."""
    before = 0
    for other in list_runs(c, experiment=r["experiment"], include_children="true"):
        if (other.get("created_at", 0), other["id"]) < (r.get("created_at", 0), r["id"]):
            before += 1
    return before + 1


def details(c: Client, run_id: str) -> "Dict[str, Any]":
    """Azure ML's shape (camelCase keys) of the run's details."""
    r = run_json(c, run_id)
    hist = c.call("GET", f"/runs/{run_id}/history")["history"]
    logs = {}
    for name in file_names(c, run_id):
        if name.startswith("logs/"):
            logs[name] = c.url + "/api/v1/runs/" + run_id + "/artifacts/content?path=" + _quote(name)
    out = {
        "runId": r["id"],
        "experiment": r["experiment"],
        "status": azure_status(r),
        "target": r["target"] or ("sdk" if r.get("kind") == "external" else r["target"]),
        "startTimeUtc": _iso(r.get("started_at", 0)),
        "properties": properties(r),
        "inputDatasets": [{"dataset": {"id": spec.get("dataset") or spec.get("name") or name},
                           "consumptionDetails": {"type": "RunInput", "inputName": name,
                                                  "mechanism": str(spec.get("mode", "")).capitalize(),
                                                  "pathOnCompute": spec.get("path_on_compute")}}
                          for name, spec in _named(r.get("inputs"))],
        "outputDatasets": [{"dataset": {"id": spec.get("name") or name}, "outputType": "RunOutput",
                            "outputDetails": {"outputName": name}}
                           for name, spec in _named(r.get("outputs"))],
        "runDefinition": {"script": r.get("script"), "arguments": r.get("arguments", []), "target": r["target"],
                          "environment": r.get("environment"), "nodeCount": r.get("node_count"),
                          "communicator": r.get("communicator")},
        "logFiles": logs,
        "submittedBy": r.get("submitted_by") or "",
        "exitCode": r.get("exit_code"),
        "tags": r.get("tags", {}),
        "parentRunId": r.get("parent_id") or None,
        "statusHistory": hist,
    }
    if r.get("status") in TERMINAL:
        out["endTimeUtc"] = _iso(r.get("ended_at", 0))
    if r.get("error"):
        out["error"] = {"message": r["error"]}
    return out


def _named(specs: "Any") -> "List[tuple]":
    """A run's inputs or outputs as (name, spec) pairs, whether a list or a mapping."""
    if isinstance(specs, dict):
        return [(k, v if isinstance(v, dict) else {}) for k, v in specs.items()]
    if isinstance(specs, list):
        return [(s.get("name", ""), s) for s in specs if isinstance(s, dict)]
    return []


def _quote(path: str) -> str:
    import urllib.parse

    return urllib.parse.quote(path, safe="/")


def log_texts(c: Client, run_id: str, names: "Dict[str, str]") -> "Dict[str, str]":
    out = {}
    for name in names:
        data, _ = c.raw("GET", f"/runs/{run_id}/artifacts/content", params={"path": name}, timeout=600)
        out[name] = data.decode("utf-8", "replace")
    return out


def git_state(directory: str) -> "Optional[Dict[str, Any]]":
    """The git state of the work tree holding ``directory`` as the CLI records it with a run
    (src/snapshot ReadGitState): {remote_url, branch, commit, dirty}; None outside a work tree
    or without git. Never writes the user's index."""
    import shutil
    import subprocess

    if shutil.which("git") is None:
        return None

    def git(*args: str) -> "Optional[str]":
        try:
            p = subprocess.run(["git", "--no-optional-locks", "-C", directory, *args], capture_output=True,
                               text=True, timeout=30, errors="replace")
        except (OSError, subprocess.SubprocessError):
            return None
        return p.stdout if p.returncode == 0 else None

    status = git("status", "--porcelain=v2", "--branch", "--untracked-files=no")
    if status is None:
        return None
    state: "Dict[str, Any]" = {"remote_url": "", "branch": "", "commit": "", "dirty": False}
    for line in status.splitlines():
        if line.startswith("# branch.oid "):
            oid = line[13:]
            state["commit"] = "" if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line[14:]
            state["branch"] = "HEAD" if head == "(detached)" else head
        elif line and not line.startswith("#"):
            state["dirty"] = True
    remote = git("config", "--get", "remote.origin.url")
    if remote:
        state["remote_url"] = remote.rstrip("\n")
    return state


def start_run(c: Client, experiment: str, display_name: "Optional[str]") -> "Dict[str, Any]":
    """Creates a run logged from this process (through MLflow's create-run: no script, no agent)
    in the experiment (created when missing); returns its JSON."""
    from .exceptions import NotFoundError as _NotFound

    try:
        eid = c.call("GET", "/api/2.0/mlflow/experiments/get-by-name",
                     params={"experiment_name": experiment})["experiment"]["experiment_id"]
    except _NotFound:
        eid = c.call("POST", "/api/2.0/mlflow/experiments/create", {"name": experiment})["experiment_id"]
    body: "Dict[str, Any]" = {"experiment_id": eid, "start_time": int(time.time() * 1000)}
    if display_name:
        body["run_name"] = display_name
    run_id = c.call("POST", "/api/2.0/mlflow/runs/create", body)["run"]["info"]["run_id"]
    return run_json(c, run_id)


def end_run(c: Client, run_id: str, status: str, error: "Optional[str]") -> None:
    """Ends a client-logged run: status FINISHED, FAILED or KILLED (MLflow's names)."""
    azure = {"FINISHED": "Completed", "FAILED": "Failed", "KILLED": "Canceled"}[status]
    body: "Dict[str, Any]" = {"status": azure}
    if error:
        body["error"] = error
    c.call("POST", f"/runs/{run_id}/end", body)


def metrics(c: Client, run_id: str, name: "Optional[str]") -> "Dict[str, Any]":
    """Azure ML's shape: a key logged once is its value, several times a list; a row metric is
    its table ``{column: [cells]}``; an image its file's path."""
    answer = c.call("GET", f"/runs/{run_id}/metrics", params={"key": name} if name else None)
    out: "Dict[str, Any]" = {}
    for key, points in answer["metrics"].items():
        values = [_number(p["value"]) for p in points]
        out[key] = values[0] if len(values) == 1 else values
    for key, items in (answer.get("values") or {}).items():
        rows = [i["value"] for i in items if i["type"] == "row"]
        others = [i["value"] for i in items if i["type"] != "row"]
        if rows:
            table: "Dict[str, List[Any]]" = {}
            for n, row in enumerate(rows):  # a column first seen late is None in earlier rows
                for col, cell in row.items():
                    table.setdefault(col, [None] * n).append(cell)
                for col in table:
                    if len(table[col]) < n + 1:
                        table[col].append(None)
            others.append(table)
        if key in out:  # numbers and other values under one key: all of them, in that order
            have = out[key] if isinstance(out[key], list) else [out[key]]
            out[key] = have + others
        else:
            out[key] = others[0] if len(others) == 1 else others
    return out


def _number(v: "Any") -> float:
    if isinstance(v, str):
        return float(v)  # "nan", "inf", "-inf"
    return v


def log_lines(c: Client, run_id: str, text: str) -> None:
    """Records in the metrics-file format, sent to the run: numbers ({"k","v","s","t"} lines)
    through the MLflow API's log-batch (1,000 per request), other values ({"k","x","y"...})
    through POST /runs/{id}/values."""
    import json

    special = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
    metrics = []
    values = []
    tags: "Dict[str, str]" = {}
    for line in text.splitlines():
        if not line:
            continue
        rec = json.loads(line)
        if "tags" in rec:
            tags.update(rec["tags"])
            continue
        if "x" in rec:
            item = {"k": rec["k"], "y": rec["y"], "x": rec["x"], "t": rec["t"]}
            if rec.get("s") is not None:
                item["s"] = rec["s"]
            values.append(item)
            continue
        v = rec["v"]
        metrics.append({"key": rec["k"], "value": special.get(v, v) if isinstance(v, str) else v,
                        "timestamp": int(rec["t"] * 1000), "step": rec["s"] if rec["s"] is not None else 0})
    for i in range(0, len(metrics), 1000):
        c.call("POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": run_id, "metrics": metrics[i:i + 1000]})
    for i in range(0, len(values), 200):
        c.call("POST", f"/runs/{run_id}/values", {"values": values[i:i + 200]})
    if tags:
        c.call("POST", f"/runs/{run_id}/tags", {"tags": tags})


def script_mlflow(run_id: str) -> "tuple[Client, str]":
    """The client a run's script reaches its server with (the MLflow connection its agent set up)."""
    url, token = os.environ.get("MLFLOW_TRACKING_URI", ""), os.environ.get("MLFLOW_TRACKING_TOKEN", "")
    if not url.startswith(("http://", "https://")) or not token:
        raise InvalidArgumentError(
            "this run's script has no connection to its server (MLFLOW_TRACKING_URI and "
            "MLFLOW_TRACKING_TOKEN are not set, or the run configuration points MLflow elsewhere): "
            "store files under outputs/ instead", 0, "InvalidArgument")
    return Client(url, token), os.environ.get("MLFLOW_RUN_ID") or run_id


def put_file(c: Client, run_id: str, name: str, source: "Any") -> None:
    """Stores bytes or the file at path ``source`` as the run's file ``name`` (through the MLflow
    artifact service, which files a run's uploads with its other files)."""
    import urllib.parse

    from ._snapshot import FileBody

    eid = c.call("GET", "/api/2.0/mlflow/runs/get", params={"run_id": run_id})["run"]["info"]["experiment_id"]
    body = source if isinstance(source, bytes) else FileBody(os.fspath(source), again="upload it again")
    path = urllib.parse.quote(f"{eid}/{run_id}/artifacts/{name}")
    c.call_bytes("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{path}", body)  # type: ignore[arg-type]


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
    return finish(c, run_id, out if show_output else None, raise_on_error)


def finish(c: Client, run_id: str, out: "Optional[TextIO]", raise_on_error: bool, what: str = "run",
           extra: str = "") -> "Dict[str, Any]":
    """An ended run's details; Azure's execution summary (plus ``extra`` lines) on ``out``
    when given; ActivityFailedException naming the ``what`` and its error when it failed."""
    d = details(c, run_id)
    if out is not None:
        out.write(f"\nExecution Summary\n=================\nRunId: {run_id}\nStatus: {d['status']}\n{extra}")
        out.flush()
    if raise_on_error and d["status"] == "Failed":
        raise ActivityFailedException(
            f"{what} '{run_id}' failed: {d.get('error', {}).get('message', 'no error recorded')}", 0, "RunFailed")
    return d
