"""The :class:`Run` object: metric and tag logging for training scripts.

Wire format (one JSON object per line, UTF-8, ``\\n``-terminated), appended to
the file named by ``FERRY_METRICS_FILE``::

    {"k":"mse","v":3.2,"s":null,"t":1700000000.123456}
    {"k":"loss","v":"nan","s":4,"t":1700000000.123499}
    {"tags":{"model":"ridge"}}

* ``k`` -- metric key (non-empty str, at most 250 characters)
* ``v`` -- number; non-finite floats are the strings ``"nan"``, ``"inf"``,
  ``"-inf"``; bools are written as ``1`` / ``0``
* ``s`` -- step (int) or ``null``
* ``t`` -- unix time in seconds with 6 decimals

Values that are not numbers (Azure ML's string, list, table, row, image... metrics) are
records with ``x`` (any JSON value) and ``y`` (its type) instead of ``v``::

    {"k":"model","x":"ridge","y":"string","s":null,"t":1700000000.1}
    {"k":"citrus","x":{"fruit":"lime","size":3},"y":"row","s":null,"t":1700000000.2}

The agent sends them to the server apart from the numeric points (``POST
/runs/{id}/values``): charts, sweeps and MLflow's metric endpoints see numbers only.

Every record (or batch of complete lines) is written with a single
``os.write`` on an ``O_APPEND`` descriptor, so nothing is buffered in the
process and concurrent writers never interleave inside a line.

Logging never raises into the training script because of the file: when a
write fails (a full disk: ``ENOSPC``), one warning goes to stderr and the
records that could not be written are counted; once writing works again (or at
exit) the count is written as the tag ``ferry.dropped_metric_points``, so the
run shows how many points it lost. A line a failed write left unfinished is
ended first (the agent skips it as malformed).

This module deliberately avoids importing ``json`` (or anything heavy) so that
``import ferry`` stays cheap; JSON string escaping is done by hand.
"""

from __future__ import annotations

import errno
import os
import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - typing only
    from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Union

    Number = Union[int, float]

__all__ = ["Run", "MAX_KEY_LENGTH"]

#: Maximum length of a metric key, in characters.
MAX_KEY_LENGTH = 250

_ENV_FILE = "FERRY_METRICS_FILE"
_ENV_RUN_ID = "FERRY_RUN_ID"
_ENV_EXPERIMENT = "FERRY_EXPERIMENT"

_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
_BATCH_LINES = 512  # lines per os.write for log_list; records per batch of an interactive run
_FLUSH_SECONDS = 2.0  # an interactive run sends its records at least this often while it logs

_time = time.time
#: The tag that carries how many records (points, tag lines) a run could not write.
DROPPED_TAG = "ferry.dropped_metric_points"
_NONFINITE = {"nan": '"nan"', "inf": '"inf"', "-inf": '"-inf"'}


def _warn(text: str) -> None:
    """Writes to stderr; a failing stderr (a full disk under the run's log) is not the script's problem."""
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def _json_str(s: str) -> str:
    """Return ``s`` as a JSON string literal (with quotes).

    Non-ASCII characters are emitted verbatim (the file is UTF-8); control
    characters and lone surrogates are ``\\u`` escaped.
    """
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return '"' + s + '"'
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif o < 0x20 or o == 0x7F or 0xD800 <= o <= 0xDFFF:
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"ferry: invalid metric key {key!r}: must be a non-empty str")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(
            f"ferry: invalid metric key {key[:40]!r}...: longer than "
            f"{MAX_KEY_LENGTH} characters ({len(key)})"
        )
    return key


def _coerce(key: str, value: object) -> "tuple[Number, str]":
    """Normalize ``value`` to int/float and its JSON text (slow path)."""
    t = type(value)
    if t is float:
        if value - value == 0.0:  # type: ignore[operator]  # finite
            return value, repr(value)  # type: ignore[return-value]
        r = repr(value)
        return value, _NONFINITE[r]  # type: ignore[return-value]
    if t is bool:
        return int(value), ("1" if value else "0")  # type: ignore[call-overload]
    if isinstance(value, int):
        iv = int(value)
        return iv, "%d" % iv
    if isinstance(value, float):
        return _coerce(key, float(value))
    if isinstance(value, (str, bytes, bytearray)) or not hasattr(type(value), "__float__"):
        hint = {list: "; use log_list for a list", tuple: "; use log_list for a list",
                dict: "; use log_table for a table (a dict of columns)"}.get(t, "")
        raise TypeError(
            f"ferry: metric {key!r} must be a number (int, float, bool or numeric "
            f"scalar) or a str, got {t.__name__}{hint}"
        )
    # numpy / other numeric scalars: keep integers integral when possible.
    if getattr(value, "dtype", None) is not None and getattr(value.dtype, "kind", "") == "b":  # type: ignore[attr-defined]
        return _coerce(key, bool(value))
    if hasattr(type(value), "__index__"):
        try:
            iv = value.__index__()  # type: ignore[attr-defined]
        except (TypeError, ValueError):
            pass
        else:
            return iv, "%d" % iv
    try:
        fv = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"ferry: metric {key!r} must be a number, got {t.__name__} ({e})"
        ) from None
    return _coerce(key, fv)


def _check_step(step: object) -> str:
    if step is None:
        return "null"
    if type(step) is int:
        return "%d" % step
    if isinstance(step, bool) or not hasattr(type(step), "__index__"):
        raise TypeError(f"ferry: step must be an int or None, got {type(step).__name__}")
    return "%d" % step.__index__()  # type: ignore[attr-defined]


def _cell(key: str, value: object) -> "tuple[str, Optional[Number]]":
    """A table cell or list item: (its JSON text, its number or None when it is no number)."""
    if type(value) is str:
        return _json_str(value), None  # type: ignore[arg-type]
    if value is None:
        return "null", None
    num, text = _coerce(key, value)
    return text, num


def _plain(key: str, value: object) -> "Any":
    """A cell as a plain JSON value (numbers as int/float, None for NaN which JSON lacks)."""
    if type(value) is str or value is None:
        return value
    num, text = _coerce(key, value)
    return None if text.startswith('"') else num


def _artifact_name(name: object) -> str:
    """``name`` as a run file's relative path; refuses what would leave the run."""
    if not isinstance(name, str) or not name.strip("/"):
        raise ValueError(f"ferry: invalid file name {name!r}: a relative path such as 'outputs/model.pkl'")
    clean = name.replace("\\", "/")
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if clean.startswith("/") or ".." in parts or "\0" in clean or not parts:
        raise ValueError(f"ferry: invalid file name {name!r}: it must be a relative path inside the run "
                         "(no leading '/', no '..')")
    return "/".join(parts)


class Run:
    """A Ferry run: from inside a training script, or from a notebook through a workspace.

    Inside a script, obtain it with :meth:`Run.get_context`: *online* in a Ferry run (records
    go to the metrics file the agent watches), *offline* elsewhere (values echoed to stderr and
    kept in memory, see :meth:`get_metrics`).

    From outside, ``Run(experiment, run_id)``, :meth:`Run.get` or an experiment's
    ``get_runs()`` give a run *bound* to its workspace: :meth:`wait_for_completion`,
    :meth:`get_status`, :meth:`get_details`, :meth:`get_metrics`, :meth:`get_file_names`,
    :meth:`download_file`, :meth:`download_files`, :meth:`cancel`, :meth:`tag`,
    :meth:`get_children` go to the server, and so do :meth:`log`, :meth:`log_list` and
    :meth:`log_row` while the run is active (a run that has ended takes no more data: the
    server refuses it with 409, see docs/security.md).
    """

    #: Azure ML's ScriptRun.RUN_TYPE: what a submitted script's run is (see :attr:`type`).
    RUN_TYPE = "azureml.scriptrun"
    _context: "Optional[Run]" = None
    _context_lock = threading.Lock()

    def __init__(
        self,
        metrics_file: "Optional[str]" = None,
        run_id: "Optional[str]" = None,
        experiment_name: "Optional[str]" = None,
    ) -> None:
        """Create a run. Prefer :meth:`get_context`.

        :param metrics_file: path of the metrics file; ``None`` means offline.
        :param run_id: run id (a random ``offline-...`` id when offline and
            not given).
        :param experiment_name: experiment name (``None`` offline).
        """
        self._ws: "Any" = None  # the workspace of a bound run
        if metrics_file is not None and not isinstance(metrics_file, str):
            # Run(experiment, run_id), as Azure ML spells it: a run bound to a workspace.
            experiment = metrics_file
            if not run_id:
                raise ValueError("ferry: Run(experiment, run_id) needs the run id")
            self._ws = experiment.workspace
            metrics_file = None
            experiment_name = experiment.name
        self._path = metrics_file or None
        self._offline = self._path is None and self._ws is None
        if run_id is None or run_id == "":
            run_id = ("offline-" + os.urandom(6).hex()) if self._offline else ""
        self._id = run_id
        self._experiment = None if self._offline else (experiment_name or None)
        self._remote: "Optional[Dict[str, Any]]" = None  # last JSON of a bound run
        self._fd = -1
        self._fd_lock = threading.Lock()
        self._keys: "Dict[str, str]" = {}  # key -> JSON-escaped key literal
        self._rows: "Dict[str, int]" = {}
        self._rows_lock = threading.Lock()
        self._metrics: "Dict[str, List[Number]]" = {}
        self._tags: "Dict[str, str]" = {}
        self._properties: "Dict[str, str]" = {}
        self._outputs: "Optional[str]" = None
        # Write failures (see the module docstring); changed under _trouble_lock only.
        self._trouble = False  # a write failed and the count is not on file yet
        self._trouble_lock = threading.Lock()
        self._torn = False  # the file may end inside a line
        self._dropped = 0  # records not written, in all
        self._reported = 0  # the count last written as the tag
        self._warned = False
        self._buffer: "Optional[List[str]]" = None  # an interactive run's records not yet sent
        self._buffer_since = 0.0
        self._buffer_lock = threading.Lock()
        self._interactive = False
        self._ended = ""  # the status this process ended an interactive run with
        try:
            self._work_dir = os.getcwd()  # a script's working copy: outputs/ and logs/ are there
        except OSError:
            self._work_dir = "."

    # ------------------------------------------------------------------ bound runs
    @classmethod
    def get(cls, workspace: "Any", run_id: str) -> "Run":
        """The run ``run_id`` of ``workspace`` (a :class:`ferry.Workspace`).

        :raises ferry.FerryError: when the workspace has no such run.
        """
        from . import _remote_run

        return cls._bound(workspace, run_id, _remote_run.run_json(workspace._client, run_id))

    @classmethod
    def _bound(cls, workspace: "Any", run_id: str, data: "Optional[Dict[str, Any]]" = None) -> "Run":
        r = cls.__new__(cls)
        Run.__init__(r, None, run_id, (data or {}).get("experiment"))
        r._ws = workspace
        r._offline = False
        r._experiment = (data or {}).get("experiment")
        r._remote = data
        r._interactive = (data or {}).get("kind") == "external"  # a client ends it (start_logging)
        return r

    def _client(self) -> "Any":
        if self._ws is None:
            raise RuntimeError(
                "ferry: this run is not bound to a workspace; use Run.get(workspace, run_id) or "
                "Experiment(workspace, name).get_runs() to work with runs from outside"
            )
        return self._ws._client

    def _refresh(self) -> "Dict[str, Any]":
        from . import _remote_run

        self._remote = _remote_run.run_json(self._client(), self._id)
        return self._remote

    def _data(self) -> "Dict[str, Any]":
        """The run's JSON as last read (read now if never)."""
        return self._remote if self._remote is not None else self._refresh()

    def get_status(self) -> str:
        """The run's status, as Azure ML names it: Queued, Preparing, Running, Finalizing,
        CancelRequested (cancelled, not ended yet), Completed, Failed or Canceled. A run waiting
        to be queued again after its node was lost (Ferry's Preempted) is Queued."""
        from . import _remote_run

        return _remote_run.azure_status(self._refresh())

    @property
    def status(self) -> str:
        """The status last read (see :meth:`get_status`, which reads it again)."""
        from . import _remote_run

        return _remote_run.azure_status(self._data())

    def get_details(self) -> "Dict[str, Any]":
        """Azure ML's keys: runId, target, status, startTimeUtc, endTimeUtc (once ended),
        properties (with the git state as azureml.git.* and mlflow.source.git.*, and
        ContentSnapshotId), inputDatasets, outputDatasets, runDefinition, logFiles, submittedBy;
        and Ferry's exitCode, error, tags, parentRunId and statusHistory."""
        from . import _remote_run

        self._flush_buffer()
        return _remote_run.details(self._client(), self._id)

    def get_details_with_logs(self) -> "Dict[str, Any]":
        """:meth:`get_details` with logFiles mapping each log file's name to its text."""
        from . import _remote_run

        d = self.get_details()
        d["logFiles"] = _remote_run.log_texts(self._client(), self._id, d.get("logFiles") or {})
        return d

    def get_environment(self) -> "Any":
        """The :class:`ferry.Environment` the run used (a registered one by name and version).

        :raises ferry.exceptions.UserErrorException: when the run names no environment."""
        from .exceptions import UserErrorException

        env = self._data().get("environment")
        if not env:
            raise UserErrorException(f"run '{self._id}' names no environment (it ran in the target's own Python)",
                                     0, "UserError")
        from .environment import Environment

        if env.get("name") and env.get("version"):
            return Environment.get(self._ws, env["name"], int(env["version"]))
        if env.get("name"):
            return Environment.get(self._ws, env["name"])
        raise UserErrorException(f"run '{self._id}' used an unnamed environment ({env.get('type') or 'inline'}); "
                                 "see get_details()['runDefinition']['environment']", 0, "UserError")

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True) -> "Dict[str, Any]":
        """Wait until the run ends and return :meth:`get_details`.

        :param show_output: stream the run's log to stdout as it is written.
        :param wait_post_processing: accepted for Azure ML compatibility (outputs are collected
            before a run ends, so there is nothing more to wait for).
        :param raise_on_error: raise :class:`ferry.FerryError` with the run's error when it failed.
        """
        from . import _remote_run

        d = _remote_run.wait(self._client(), self._id, show_output, raise_on_error)
        self._remote = None
        return d

    def get_detailed_status(self) -> "Dict[str, Any]":
        """``{"status": get_status(), "details": why a queued run waits, else None}``."""
        status = self.get_status()
        return {"status": status, "details": (self._remote or {}).get("queue_reason") or None}

    def get_portal_url(self) -> str:
        """The run's page in Ferry Studio."""
        import urllib.parse

        if self._ws is None:
            self._client()  # raises: not bound
        return f"{self._ws.url}/#/runs/{urllib.parse.quote(self._id, safe='')}"

    @property
    def portal_url(self) -> str:
        """The run's page in Ferry Studio (see :meth:`get_portal_url`)."""
        return self.get_portal_url()

    def get_snapshot_id(self) -> "Optional[str]":
        """The id of the run's snapshot (its source folder), or ``None``."""
        return self._data().get("snapshot_id") or None

    @classmethod
    def get_submitted_run(cls, **kwargs: "Any") -> "Run":
        """Deprecated in Azure ML for :meth:`get_context`, which it returns."""
        return cls.get_context()

    def get_all_logs(self, destination: "Optional[str]" = None) -> "List[str]":
        """Download the run's ``logs/`` files into ``destination`` (default ``.``); returns their paths."""
        return self.download_files(prefix="logs/", output_directory=destination)

    def get_file_names(self) -> "List[str]":
        """Paths of the run's files (outputs/, logs/, what it uploaded and what MLflow logged)."""
        from . import _remote_run

        self._flush_buffer()
        return _remote_run.file_names(self._client(), self._id)

    def download_file(self, name: str, output_file_path: "Optional[str]" = None,
                      _validate_checksum: bool = False) -> str:
        """Download one file (to ``output_file_path``, a file or a directory; default: its base
        name here). Written to a temporary name first, so it is never half there. Returns the path."""
        from . import _remote_run

        return _remote_run.download_file(self._client(), self._id, name, output_file_path)

    def download_files(self, prefix: "Optional[str]" = None, output_directory: "Optional[str]" = None,
                       output_paths: "Optional[List[str]]" = None, batch_size: int = 100,
                       append_prefix: bool = True, timeout_seconds: "Optional[int]" = None) -> "List[str]":
        """Download the run's files under ``prefix`` (all by default) into ``output_directory``."""
        from . import _remote_run

        if output_paths is not None:
            raise ValueError("ferry: download_files(output_paths=...) is not supported; use output_directory")
        return _remote_run.download_files(self._client(), self._id, prefix, output_directory, append_prefix)

    def cancel(self) -> None:
        """Cancel the run: a submitted run's script gets SIGTERM, then SIGKILL after the grace
        period; a run started with :meth:`ferry.Experiment.start_logging` ends Canceled."""
        if self._interactive:
            self._end("KILLED")
            return
        self._client().call("POST", f"/runs/{self._id}/cancel")

    # ------------------------------------------------------------- interactive
    @classmethod
    def _start(cls, experiment: "Any", outputs: "Optional[str]", snapshot_directory: "Optional[str]",
               display_name: "Optional[str]") -> "Run":
        from . import _remote_run

        ws = experiment.workspace
        data = _remote_run.start_run(ws._client, experiment.name, display_name)
        r = cls._bound(ws, data["id"], data)
        r._interactive = True
        r._buffer = []
        r._outputs = outputs
        if snapshot_directory is not None:
            r._snapshot(snapshot_directory)
        import atexit

        atexit.register(r._flush_at_exit)
        return r

    def _flush_at_exit(self) -> None:
        try:
            self._flush_buffer()
        except Exception as e:  # the server gone: say what was lost, never a traceback at exit
            _warn(f"ferry: warning: run {self._id}: records logged last were not sent: {e}\n")

    def _snapshot(self, directory: str) -> None:
        from . import _snapshot

        snap = _snapshot.build(directory)
        sid = _snapshot.upload(self._client(), snap)
        self.add_properties({"ContentSnapshotId": sid})

    def _flush_buffer(self) -> None:
        """Sends an interactive run's records not yet sent (they go in batches)."""
        with self._buffer_lock:
            if not self._buffer:
                return
            text, self._buffer = "".join(self._buffer), []
        from . import _remote_run

        _remote_run.log_lines(self._client(), self._id, text)

    def _end(self, status: str, error: "Optional[str]" = None) -> None:
        from . import _remote_run

        self._flush_buffer()
        if self._outputs and status == "FINISHED" and os.path.isdir(self._outputs):
            self.upload_folder("outputs", self._outputs)
        _remote_run.end_run(self._client(), self._id, status, error)
        self._remote = None
        self._buffer = None
        self._ended = {"FINISHED": "Completed", "FAILED": "Failed", "KILLED": "Canceled"}[status]

    def complete(self, _set_status: bool = True) -> None:
        """Send what is still buffered and mark the run Completed (a run started with
        :meth:`ferry.Experiment.start_logging`; with ``outputs``, that folder is uploaded first)."""
        self._need_interactive("complete")
        self._end("FINISHED")

    def fail(self, error_details: "Any" = None, error_code: "Optional[str]" = None, _set_status: bool = True) -> None:
        """Send what is still buffered and mark the run Failed; ``error_details`` (a message or
        an exception) becomes the run's error (with ``error_code`` before it when given)."""
        self._need_interactive("fail")
        text = None
        if error_details is not None:
            text = f"{type(error_details).__name__}: {error_details}" if isinstance(error_details, BaseException) \
                else str(error_details)
        if error_code:
            text = f"{error_code}: {text or ''}".rstrip(": ")
        self._end("FAILED", text)

    def _need_interactive(self, what: str) -> None:
        if not self._interactive:
            raise RuntimeError(
                f"ferry: {what}() ends a run started with Experiment.start_logging(); a submitted run "
                "ends when its script exits (use cancel() to stop it)")

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type: "Any", exc: "Any", tb: "Any") -> None:
        """An interactive run ends Completed, or Failed with the exception that left the block."""
        if not self._interactive:
            self.flush()
            return
        if self._data_status_terminal():
            return
        if exc is None:
            self.complete()
        else:
            self.fail(error_details=exc)

    def _data_status_terminal(self) -> bool:
        from . import _remote_run

        return self._refresh()["status"] in _remote_run.TERMINAL

    # ------------------------------------------------------- identity and tags
    @property
    def experiment(self) -> "Any":
        """The :class:`ferry.Experiment` of a bound run."""
        from .experiment import Experiment

        return Experiment(self._ws, self._experiment or self._data()["experiment"]) if self._ws is not None else None

    @property
    def name(self) -> str:
        """The run's display name (Azure ML deprecated this for :attr:`display_name`)."""
        return self.display_name

    @property
    def display_name(self) -> str:
        """The run's display name (its id unless one was given)."""
        if self._ws is None:
            return self._id
        data = self._data()
        if data.get("name") or data.get("display_name"):
            return data.get("name") or data.get("display_name")
        info = self._client().call("GET", "/api/2.0/mlflow/runs/get", params={"run_id": self._id})["run"]["info"]
        return info.get("run_name") or self._id

    @property
    def type(self) -> str:
        """How the run was created: ``azureml.scriptrun`` (submitted script), ``hyperdrive``
        (a sweep), ``interactive`` (:meth:`ferry.Experiment.start_logging`, MLflow's clients)."""
        if self._ws is None:
            return "azureml.scriptrun"
        from . import _remote_run

        return _remote_run.run_type(self._data())

    @property
    def number(self) -> int:
        """The run's number in its experiment: 1 for the first run created in it, and so on."""
        from . import _remote_run

        return _remote_run.run_number(self._client(), self._data())

    @property
    def parent(self) -> "Optional[Run]":
        """The parent run (a sweep for its trials), or ``None``."""
        if self._ws is None:
            return None
        pid = self._data().get("parent_id")
        return Run.get(self._ws, pid) if pid else None

    @property
    def tags(self) -> "Dict[str, str]":
        """The tags as last read (set from this process when inside a script)."""
        if self._ws is None:
            return dict(self._tags)
        return dict(self._data().get("tags") or {})

    @property
    def properties(self) -> "Dict[str, str]":
        """The properties as last read (see :meth:`get_properties`)."""
        if self._ws is None:
            return dict(self._properties)
        from . import _remote_run

        return _remote_run.properties(self._data())

    def get_properties(self) -> "Dict[str, str]":
        """The run's properties: what :meth:`add_properties` (and MLflow's ``log_param``) set,
        the git state of the submitted folder (``azureml.git.*``, ``mlflow.source.git.*``) and
        ``ContentSnapshotId``. Inside a script: those this process added."""
        if self._ws is None:
            return dict(self._properties)
        from . import _remote_run

        return _remote_run.properties(self._refresh())

    def add_properties(self, properties: "Mapping[str, Any]") -> None:
        """Add immutable properties (str values). Stored as the run's parameters (MLflow's
        params): a property keeps its first value; giving another raises."""
        clean = {}
        for k, v in dict(properties or {}).items():
            if not isinstance(k, str) or not k:
                raise ValueError(f"ferry: invalid property name {k!r}: must be a non-empty str")
            clean[k] = "" if v is None else str(v)
        if not clean:
            return
        if self._offline:
            for k, v in clean.items():
                if self._properties.get(k, v) != v:
                    raise ValueError(f"ferry: property {k!r} is {self._properties[k]!r} already; properties never change")
            self._properties.update(clean)
            return
        from . import _remote_run

        have = self.get_properties() if self._ws is not None else self._properties
        for k, v in clean.items():
            if have.get(k, v) != v:
                raise ValueError(f"ferry: property {k!r} is {have[k]!r} already; properties never change")
        client, run_id = (self._client(), self._id) if self._ws is not None else _remote_run.script_mlflow(self._id)
        params = [{"key": k, "value": v} for k, v in clean.items()]
        client.call("POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": run_id, "params": params})
        self._properties.update(clean)
        self._remote = None

    def remove_tags(self, tags: "Iterable[str]") -> None:
        """Delete the tags named in ``tags`` (a list of names; a name the run lacks is ignored)."""
        names = [tags] if isinstance(tags, str) else list(tags)
        if self._ws is None:
            if not self._offline:
                raise RuntimeError("ferry: remove_tags works on a run bound to a workspace (Run.get), "
                                   "not inside the script")
            for n in names:
                self._tags.pop(n, None)
            return
        have = self.get_tags()
        for n in names:
            if n in have:
                self._client().call("POST", "/api/2.0/mlflow/runs/delete-tag", {"run_id": self._id, "key": n})
        self._remote = None

    @classmethod
    def list(cls, experiment: "Any", type: "Optional[str]" = None, tags: "Any" = None,
             properties: "Optional[Dict[str, str]]" = None, status: "Optional[str]" = None,
             include_children: bool = False, _rehydrate_runs: bool = True) -> "Iterator[Run]":
        """The experiment's runs, newest first, filtered by ``tags`` (a dict of name -> value,
        or a name or list of names that must be set), ``properties``, ``status`` (Azure's
        names) and ``type``."""
        if isinstance(tags, str):
            tags = [tags]
        want_tags = dict(tags) if isinstance(tags, dict) else None
        need_names = list(tags) if tags is not None and want_tags is None else []
        for r in experiment.get_runs(tags=want_tags, include_children=include_children):
            if need_names and any(n not in r.tags for n in need_names):
                continue
            if status and r.status != status:
                continue
            if type and r.type != type:
                continue
            if properties and any(r.properties.get(k) != v for k, v in properties.items()):
                continue
            yield r

    def get_best_run_by_primary_metric(self) -> "Optional[Run]":
        """A sweep's best trial so far by its primary metric (``None`` before any reported)."""
        best = self._client().call("GET", f"/sweeps/{self._id}").get("best")
        if not best or not best.get("id"):
            return None
        return Run.get(self._ws, best["id"])

    def get_children(self) -> "List[Run]":
        """A sweep's trials (empty for other runs)."""
        from . import _remote_run

        return [Run._bound(self._ws, r["id"], r) for r in _remote_run.list_runs(self._client(), parent=self._id)]

    # ------------------------------------------------------------------ context
    @classmethod
    def get_context(cls) -> "Run":
        """Return the run for this process (a singleton).

        Online when ``FERRY_METRICS_FILE`` is set in the environment (with
        ``FERRY_RUN_ID`` and ``FERRY_EXPERIMENT``), offline otherwise.
        """
        ctx = cls._context
        if ctx is not None:
            return ctx
        with cls._context_lock:
            if cls._context is None:
                env = os.environ
                cls._context = cls(
                    env.get(_ENV_FILE) or None,
                    env.get(_ENV_RUN_ID),
                    env.get(_ENV_EXPERIMENT),
                )
            return cls._context

    # ---------------------------------------------------------------- properties
    @property
    def id(self) -> str:
        """The run id (``FERRY_RUN_ID``, or ``offline-<hex>`` offline)."""
        return self._id

    @property
    def experiment_name(self) -> "Optional[str]":
        """The experiment name, or ``None`` when offline."""
        return self._experiment

    @property
    def offline(self) -> bool:
        """``True`` when not running under Ferry."""
        return self._offline

    # ------------------------------------------------------------------ writing
    @property
    def input_datasets(self) -> "Dict[str, Any]":
        """The run's dataset inputs by name: the local path of a mounted or downloaded one, a
        dataset object (``to_pandas_dataframe()``, ``to_path()``) for one given as is."""
        import json as _json

        out: "Dict[str, Any]" = {}
        for name, spec in _json.loads(os.environ.get("FERRY_INPUTS") or "{}").items():
            if spec.get("mode") == "direct":
                from .data._dataset import local_input

                out[name] = local_input(spec)
            else:
                out[name] = spec["path"]
        return out

    @property
    def output_datasets(self) -> "Dict[str, str]":
        """The directories the run's output datasets are written to, by name."""
        import json as _json

        return dict(_json.loads(os.environ.get("FERRY_OUTPUTS") or "{}"))

    def _key(self, name: object) -> str:
        k = _check_key(name)
        lit = _json_str(k)
        self._keys[k] = lit
        return lit

    def _write(self, line: str) -> None:
        if self._ws is not None:  # a bound run: the points go to the server
            if self._ended:
                from .exceptions import ConflictError

                raise ConflictError(f"run '{self._id}' has ended ({self._ended}); it takes no more data", 409,
                                    "FailedPrecondition")
            if self._buffer is not None:  # an interactive run sends them in batches
                with self._buffer_lock:
                    now = _time()
                    if not self._buffer:
                        self._buffer_since = now
                    self._buffer.append(line)
                    due = len(self._buffer) >= _BATCH_LINES or now - self._buffer_since >= _FLUSH_SECONDS
                if due:
                    self._flush_buffer()
                return
            from . import _remote_run

            _remote_run.log_lines(self._client(), self._id, line)
            return
        data = line.encode("utf-8", "surrogatepass")
        if self._trouble:
            self._write_after_failure(data)
            return
        whole = True
        try:
            fd = self._fd
            if fd < 0:
                fd = self._open()
            n = os.write(fd, data)
            while n < len(data):  # only on disk-full style short writes
                whole = False
                data = data[n:]
                n = os.write(fd, data)
        except OSError as e:
            with self._trouble_lock:
                self._failed(e, data, torn=not whole)

    def _failed(self, err: OSError, unwritten: bytes, torn: bool) -> None:
        """Counts the records in ``unwritten`` as dropped; warns once. Under _trouble_lock."""
        self._trouble = True
        self._torn = self._torn or torn
        self._dropped += max(1, unwritten.count(b"\n"))
        if err.errno == errno.EBADF:  # the descriptor was closed under us: open it again next time
            self._fd = -1
        if self._warned:
            return
        self._warned = True
        import atexit

        atexit.register(self._report_dropped)
        _warn(
            f"ferry: warning: cannot write metrics to {self._path}: {err}; points are dropped "
            f"(and counted in the run's tag {DROPPED_TAG}) until writing works again\n"
        )

    def _write_after_failure(self, data: bytes) -> None:
        """The careful path after a failed write: ends a torn line first, and once writing works
        again puts the dropped count on file as the tag."""
        with self._trouble_lock:
            head = b"\n" if self._torn else b""
            blob = head + data
            done, err = self._write_fully(blob)
            if err is not None:
                self._torn = (done > 0 and blob[done - 1 : done] != b"\n") or (done == 0 and self._torn)
                self._failed(err, data[max(0, done - len(head)) :], torn=False)
                return
            self._torn = False
            self._put_dropped_count()

    def _put_dropped_count(self) -> bool:
        """Writes the dropped count as the tag if it changed. Under _trouble_lock."""
        if self._dropped != self._reported:
            count = self._dropped
            tag = ('{"tags":{' + _json_str(DROPPED_TAG) + ':"%d"}}\n' % count).encode()
            done, err = self._write_fully(tag)
            if err is not None:
                self._torn = done > 0
                return False
            self._reported = count
        self._trouble = False
        return True

    def _write_fully(self, data: bytes) -> "tuple[int, Optional[OSError]]":
        """(bytes written, the error that stopped it or None)."""
        done = 0
        try:
            fd = self._fd
            if fd < 0:
                fd = self._open()
            view = memoryview(data)
            while done < len(data):
                done += os.write(fd, view[done:])
        except OSError as e:
            return done, e
        return done, None

    def _report_dropped(self) -> None:
        """At exit: one more try to put the dropped count on file; else say it on stderr."""
        with self._trouble_lock:
            if self._dropped == self._reported:
                return
            if self._torn:
                done, err = self._write_fully(b"\n")
                if err is None:
                    self._torn = False
            if not self._torn and self._put_dropped_count():
                return
            dropped = self._dropped
        _warn(f"ferry: warning: {dropped} metric records of this run were dropped (cannot write {self._path})\n")

    def _open(self) -> int:
        with self._fd_lock:
            if self._fd < 0:
                self._fd = os.open(self._path, _OPEN_FLAGS, 0o644)  # type: ignore[arg-type]
            return self._fd

    def _offline_record(self, name: str, value: "Any", step: "Optional[int]") -> None:
        self._metrics.setdefault(name, []).append(value)
        suffix = "" if step is None else f" (step {step})"
        _warn(f"[ferry offline] {name}={value!r}{suffix}\n")

    def log(self, name: str, value: "Any", description: str = "", step: "Optional[int]" = None) -> None:
        """Log one metric value.

        :param name: metric key, a non-empty str of at most 250 characters.
        :param value: int, float, bool (written as 1/0) or any numeric scalar
            with ``__float__`` (numpy scalars), NaN/inf allowed; or a ``str`` (or ``None``),
            stored as a string metric (Azure ML's): returned by :meth:`get_metrics` and shown
            in Studio, but not charted.
        :param description: accepted for Azure ML compatibility; not stored.
        :param step: optional int step (x axis); ``None`` means unspecified.
        :raises ValueError: for an invalid key.
        :raises TypeError: for any other value (a list: use :meth:`log_list`; a dict: use
            :meth:`log_table`) or a non-int step.
        """
        k = self._keys.get(name)  # type: ignore[arg-type]
        if k is None:
            k = self._key(name)
        t = type(value)
        if t is float and value - value == 0.0:
            v = repr(value)
        elif t is int:
            v = "%d" % value
        elif t is str or value is None:
            self._log_value(name, k, "string" if t is str else "none",
                            "null" if value is None else _json_str(value), value, step)
            return
        else:
            value, v = _coerce(name, value)
        if step is None:
            s = "null"
        elif type(step) is int:
            s = "%d" % step
        else:
            s = _check_step(step)
        if self._offline:
            self._offline_record(name, value, None if step is None else int(s))
            return
        self._write(f'{{"k":{k},"v":{v},"s":{s},"t":{_time():.6f}}}\n')

    def _log_value(self, name: str, k: str, kind: str, text: str, value: "Any",
                   step: "Optional[int]" = None) -> None:
        """One non-numeric value: ``text`` is its JSON (see the module docstring)."""
        s = _check_step(step)
        if self._offline:
            if kind == "row":
                table = self._metrics.setdefault(name, [{}])[0]
                for col, cell in value.items():
                    table.setdefault(col, []).append(cell)
                return
            self._offline_record(name, value, step)
            return
        self._write(f'{{"k":{k},"x":{text},"y":"{kind}","s":{s},"t":{_time():.6f}}}\n')

    def log_list(self, name: str, value: "Iterable[Any]", description: str = "") -> None:
        """Log a list of values under one key.

        Numbers are one point each (step null), as if logged one by one; a list holding a
        ``str`` (or ``None``) is stored whole as one list metric. All values are validated
        before anything is written. ``description`` is accepted for Azure ML compatibility.
        """
        k = self._keys.get(name)  # type: ignore[arg-type]
        if k is None:
            k = self._key(name)
        values = list(value)
        if any(type(x) is str or x is None for x in values):
            cells = [_cell(name, x) for x in values]
            if self._offline:
                self._metrics.setdefault(name, []).append(values)
                _warn(f"[ferry offline] {name}={values!r}\n")
                return
            self._log_value(name, k, "list", "[" + ",".join(c for c, _ in cells) + "]", values)
            return
        pairs = [_coerce(name, x) for x in values]
        if self._offline:
            self._metrics.setdefault(name, []).extend(p[0] for p in pairs)
            shown = ", ".join(repr(p[0]) for p in pairs)
            _warn(f"[ferry offline] {name}=[{shown}]\n")
            return
        t = _time()
        lines = [f'{{"k":{k},"v":{v},"s":null,"t":{t:.6f}}}\n' for _, v in pairs]
        for i in range(0, len(lines), _BATCH_LINES):
            self._write("".join(lines[i : i + _BATCH_LINES]))

    def log_row(self, name: str, description: "Optional[str]" = None, **cols: "Any") -> None:
        """Log one row of the table ``name`` (Azure ML's row metric).

        The row is stored whole: :meth:`get_metrics` returns the table as ``{column: [values
        of each row]}`` and Studio shows it as a table. Each numeric column ``c`` is also a
        point of the key ``f"{name}/{c}"``, its step the row's index (0, 1, 2, ... counted in
        this process), so it can be charted. Cells are numbers, ``str`` or ``None``. The row is
        written with a single ``os.write``.
        """
        nk = _check_key(name)
        prepared = []
        cells = []
        for col, value in cols.items():
            key = f"{name}/{col}"
            cell, num = _cell(key, value)
            cells.append(_json_str(col) + ":" + cell)
            if num is None:
                continue
            k = self._keys.get(key)
            if k is None:
                k = self._key(key)
            prepared.append((key, k, num, cell))
        with self._rows_lock:
            step = self._rows.get(name, 0)
            self._rows[name] = step + 1
        if self._offline:
            for key, _, num, _ in prepared:
                self._metrics.setdefault(key, []).append(num)
            self._log_value(name, "", "row", "", dict(cols))
            shown = " ".join(f"{col}={v!r}" for col, v in cols.items())
            _warn(f"[ferry offline] {name}: {shown} (row {step})\n")
            return
        if not cols:
            return
        t = f"{_time():.6f}"
        row = '{"k":%s,"x":{%s},"y":"row","s":%d,"t":%s}\n' % (_json_str(nk), ",".join(cells), step, t)
        self._write(
            "".join(f'{{"k":{k},"v":{v},"s":{step},"t":{t}}}\n' for _, k, _, v in prepared) + row
        )

    def log_table(self, name: str, value: "Mapping[str, Any]", description: str = "") -> None:
        """Log a table: ``{column: [values]}`` (columns of equal length; cells are numbers,
        ``str`` or ``None``). :meth:`get_metrics` returns it as given; Studio shows a table."""
        import json

        _check_key(name)
        if not isinstance(value, dict) or not value:
            raise TypeError(f"ferry: table {name!r} must be a non-empty dict of columns "
                            f"{{name: [values]}}, got {type(value).__name__}")
        table: "Dict[str, List[Any]]" = {}
        lengths = set()
        for col, cells in value.items():
            if not isinstance(col, str) or not col:
                raise ValueError(f"ferry: table {name!r} has the column name {col!r}; names are non-empty str")
            if isinstance(cells, (str, bytes, dict)) or not hasattr(cells, "__iter__"):
                raise TypeError(f"ferry: column {col!r} of table {name!r} must be a list of values, "
                                f"got {type(cells).__name__}")
            table[col] = [_plain(f"{name}/{col}", c) for c in cells]
            lengths.add(len(table[col]))
        if len(lengths) > 1:
            shown = ", ".join(f"{c}: {len(v)}" for c, v in table.items())
            raise ValueError(f"ferry: the columns of table {name!r} differ in length ({shown})")
        self._log_json(name, "table", table, json)

    def _log_json(self, name: str, kind: str, value: "Any", json: "Any") -> None:
        k = self._keys.get(name) or self._key(name)
        if self._offline:
            self._offline_record(name, value, None)
            return
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        self._log_value(name, k, kind, text, value)

    def _log_schema(self, name: str, value: "Any", kind: str, version: str, fields: "Dict[str, type]") -> None:
        """Azure ML's JSON metrics (confusion matrix, accuracy table, residuals, predictions):
        ``{"schema_type": kind, "schema_version": ..., "data": {...}}``, given as a dict or
        its JSON text; checked for the fields each kind needs."""
        import json

        _check_key(name)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as e:
                raise ValueError(f"ferry: {kind} {name!r} is not valid JSON: {e}") from None
        if not isinstance(value, dict):
            raise TypeError(f"ferry: {kind} {name!r} must be a dict (or its JSON text), got {type(value).__name__}")
        if value.get("schema_type", kind) != kind:
            raise ValueError(f"ferry: {kind} {name!r} has schema_type {value.get('schema_type')!r}, "
                             f"expected {kind!r}")
        data = value.get("data")
        if not isinstance(data, dict):
            raise ValueError(f"ferry: {kind} {name!r} needs 'data', a dict with {', '.join(fields)}")
        for field, ftype in fields.items():
            if not isinstance(data.get(field), ftype):
                raise ValueError(f"ferry: {kind} {name!r} needs data[{field!r}], a {ftype.__name__}; "
                                 f"got {type(data.get(field)).__name__}")
        out = {"schema_type": kind, "schema_version": str(value.get("schema_version") or version),
               "data": data}
        try:
            json.dumps(out, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"ferry: {kind} {name!r} holds a value JSON cannot carry ({e})") from None
        self._log_json(name, kind, out, json)

    def log_confusion_matrix(self, name: str, value: "Any", description: str = "") -> None:
        """Log a confusion matrix: ``{"schema_type": "confusion_matrix", "schema_version":
        "1.0.0", "data": {"class_labels": [...], "matrix": [[...]]}}`` (a dict or its JSON)."""
        self._log_schema(name, value, "confusion_matrix", "1.0.0", {"class_labels": list, "matrix": list})

    def log_accuracy_table(self, name: str, value: "Any", description: str = "") -> None:
        """Log an accuracy table: ``{"schema_type": "accuracy_table", "schema_version": "1.0.1",
        "data": {"probability_tables", "percentile_tables", "probability_thresholds",
        "percentile_thresholds", "class_labels"}}`` (a dict or its JSON)."""
        self._log_schema(name, value, "accuracy_table", "1.0.1", {
            "probability_tables": list, "percentile_tables": list, "probability_thresholds": list,
            "percentile_thresholds": list, "class_labels": list})

    def log_residuals(self, name: str, value: "Any", description: str = "") -> None:
        """Log residuals: ``{"schema_type": "residuals", "schema_version": "1.0.0", "data":
        {"bin_edges": [...], "bin_counts": [...]}}`` (one more edge than counts)."""
        self._log_schema(name, value, "residuals", "1.0.0", {"bin_edges": list, "bin_counts": list})

    def log_predictions(self, name: str, value: "Any", description: str = "") -> None:
        """Log predictions: ``{"schema_type": "predictions", "schema_version": "1.0.0", "data":
        {"bin_averages", "bin_errors", "bin_counts", "bin_edges"}}`` (a dict or its JSON)."""
        self._log_schema(name, value, "predictions", "1.0.0", {
            "bin_averages": list, "bin_errors": list, "bin_counts": list, "bin_edges": list})

    def log_image(self, name: str, path: "Optional[str]" = None, plot: "Any" = None,
                  description: str = "") -> None:
        """Log an image: the file ``path`` (any image file), or ``plot``, a matplotlib figure
        (or the ``pyplot`` module: its current figure), saved as PNG. The file is stored with
        the run as ``outputs/images/<name>_<milliseconds>.<ext>`` and the metric's value is that
        path (give it to :meth:`download_file`); Studio shows the image. Inside a script the
        file is stored with the run's other outputs when the script ends."""
        _check_key(name)
        if (path is None) == (plot is None):
            raise ValueError("ferry: log_image takes exactly one of path (an image file) and plot "
                             "(a matplotlib figure)")
        if path is not None and not os.path.isfile(path):
            raise ValueError(f"ferry: log_image({name!r}): {path!r} is not a file")
        if self._offline:
            self._offline_record(name, path if path is not None else "<plot>", None)
            return
        ext = os.path.splitext(path)[1].lower() if path is not None else ".png"
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:100]
        dest = f"outputs/images/{safe}_{int(_time() * 1000)}{ext or '.png'}"
        if plot is not None:
            import io

            fig = plot.gcf() if hasattr(plot, "gcf") else plot
            if not hasattr(fig, "savefig"):
                raise TypeError(f"ferry: log_image({name!r}): plot must be a matplotlib figure or "
                                f"pyplot, got {type(plot).__name__}")
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
            self._put_file(dest, buf.getvalue())
        else:
            self._put_file(dest, path)
        self._log_value(name, self._key(name), "image", _json_str(dest), dest)

    # ------------------------------------------------------------------ files
    def upload_file(self, name: str, path_or_stream: "Any", datastore_name: "Optional[str]" = None) -> None:
        """Store the file ``path_or_stream`` (a path, or a binary file object) with the run as
        ``name`` (a relative path, e.g. ``outputs/model.pkl``).

        Inside a script, a name under ``outputs/`` or ``logs/`` is copied there now and stored
        with the run's outputs when the script ends; any other name is uploaded at once
        through the run's MLflow connection. From outside, uploaded at once.

        :raises ValueError: a name that is not a relative path inside the run (absolute, ``..``).
        """
        if datastore_name is not None:
            raise ValueError("ferry: upload_file(datastore_name=...) is not supported: a run's files "
                             "live with the run")
        self._put_file(_artifact_name(name), path_or_stream)

    def upload_files(self, names: "List[str]", paths: "List[str]", return_artifacts: bool = False,
                     timeout_seconds: "Optional[int]" = None, datastore_name: "Optional[str]" = None) -> None:
        """:meth:`upload_file` for each pair of ``names`` and ``paths`` (lists of equal length)."""
        names, paths = list(names), list(paths)
        if len(names) != len(paths):
            raise ValueError(f"ferry: upload_files got {len(names)} names and {len(paths)} paths")
        clean = [_artifact_name(n) for n in names]  # every name checked before anything is stored
        for n, p in zip(clean, paths):
            self.upload_file(n, p, datastore_name)

    def upload_folder(self, name: str, path: str, datastore_name: "Optional[str]" = None) -> None:
        """Store every file under the directory ``path`` as ``name/<its relative path>``."""
        if not os.path.isdir(path):
            raise ValueError(f"ferry: upload_folder({name!r}, {path!r}): not a directory")
        base = _artifact_name(name)
        names, paths = [], []
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for f in sorted(files):
                full = os.path.join(root, f)
                if os.path.islink(full) or not os.path.isfile(full):
                    continue
                rel = os.path.relpath(full, path).replace(os.sep, "/")
                names.append(base + "/" + rel)
                paths.append(full)
        self.upload_files(names, paths, datastore_name=datastore_name)

    def _put_file(self, name: str, source: "Any") -> None:
        """Stores bytes, a path or a binary stream as the run's file ``name`` (already checked)."""
        import shutil

        if self._offline:
            raise RuntimeError(f"ferry: cannot store {name!r}: this run is offline (not in a Ferry run)")
        if isinstance(source, (bytes, bytearray)):
            data: "Any" = bytes(source)
        elif isinstance(source, (str, os.PathLike)):
            if not os.path.isfile(source):
                raise ValueError(f"ferry: cannot upload {os.fspath(source)!r} as {name!r}: not a file")
            data = None
        elif hasattr(source, "read"):
            data = source.read()
            if isinstance(data, str):
                data = data.encode("utf-8")
        else:
            raise TypeError(f"ferry: upload {name!r}: give a path or a binary file object, got {type(source).__name__}")
        if self._ws is None and name.split("/", 1)[0] in ("outputs", "logs"):
            dest = os.path.join(self._work_dir, *name.split("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if data is None:
                if os.path.abspath(source) != os.path.abspath(dest):
                    shutil.copyfile(source, dest)
            else:
                with open(dest, "wb") as f:
                    f.write(data)
            return
        from . import _remote_run

        client, run_id = (self._client(), self._id) if self._ws is not None else _remote_run.script_mlflow(self._id)
        _remote_run.put_file(client, run_id, name, source if data is None else data)

    # ------------------------------------------------------------------ secrets
    def _secrets_client(self) -> "Any":
        """The client that reads the workspace's secrets for this run: the workspace's for a
        run bound to one; in a submitted run's script, the run's own MLflow connection with its
        run named in X-Ferry-Run (the server lets it read while the run runs)."""
        if self._ws is not None:
            return self._client()
        url, token = os.environ.get("MLFLOW_TRACKING_URI", ""), os.environ.get("MLFLOW_TRACKING_TOKEN", "")
        if self._offline or not url.startswith(("http://", "https://")) or not token:
            from .exceptions import UserErrorException

            why = ("this script is not running as a submitted run (offline)" if self._offline else
                   "the run has no connection to its server (MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN "
                   "are not set, or the run configuration points MLflow elsewhere)")
            raise UserErrorException(f"ferry: run.get_secret: {why}; read secrets outside a run with "
                                     "Workspace(...).get_default_keyvault().get_secret(name)", 0, "InvalidArgument")
        from ._client import Client

        c = Client(url, token)
        c.extra_headers["X-Ferry-Run"] = os.environ.get("MLFLOW_RUN_ID") or self._id
        return c

    def get_secret(self, name: str) -> str:
        """The value of the workspace's secret ``name`` (``ws.get_default_keyvault()``);
        :class:`ferry.exceptions.NotFoundError` names a missing one."""
        from .keyvault import _path

        return self._secrets_client().call("GET", _path(name))["value"]

    def get_secrets(self, secrets: "List[str]") -> "Dict[str, Optional[str]]":
        """The values of the named secrets as a dict; a name with no secret maps to None."""
        from .keyvault import _fetch

        return _fetch(self._secrets_client(), secrets)

    def set_tags(self, tags: "Mapping[str, Any]") -> None:
        """Set several tags at once; values are stringified (``None`` -> ``""``).

        Written as one line ``{"tags":{"k":"v",...}}``.
        """
        clean: "Dict[str, str]" = {}
        for key, value in dict(tags).items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"ferry: invalid tag key {key!r}: must be a non-empty str")
            clean[key] = "" if value is None else str(value)
        if not clean:
            return
        self._tags.update(clean)
        if self._ws is not None:
            self._client().call("POST", f"/runs/{self._id}/tags", {"tags": clean})
            self._remote = None
            return
        if self._offline:
            shown = " ".join(f"{k}={v}" for k, v in clean.items())
            _warn(f"[ferry offline] tags: {shown}\n")
            return
        body = ",".join(f"{_json_str(k)}:{_json_str(v)}" for k, v in clean.items())
        self._write('{"tags":{' + body + "}}\n")

    def tag(self, key: str, value: "Optional[Any]" = None) -> None:
        """Set a single tag (``value`` ``None`` means an empty string)."""
        self.set_tags({key: value})

    def register_model(self, model_name: str, model_path: "Optional[str]" = None,
                       tags: "Optional[Dict[str, str]]" = None, properties: "Optional[Dict[str, str]]" = None,
                       description: "Optional[str]" = None) -> "Any":
        """Registers the run's output ``model_path`` (a file or directory under ``outputs/``;
        default ``outputs``) as the next version of ``model_name``, with this run as its
        producer (docs/models.md).

        From outside (a bound run): registered now; returns the :class:`ferry.Model`. Inside the
        run's script: registered from the outputs the agent stores when the script ends (the run
        completes with them), so this returns ``None``; the version appears once the run has
        completed, and a failure is kept as the run's ``ferry.register_model/<name>`` tag."""
        import json

        path = (model_path or "outputs").strip("/")
        if self._ws is not None:
            from .model import Model

            j = self._client().call("POST", "/models", {
                "name": model_name, "run_id": self._id, "path": path,
                "description": description or "", "tags": dict(tags or {}),
                "properties": dict(properties or {})})
            return Model(self._ws, _info=j)
        if self._offline:
            raise RuntimeError("ferry: register_model needs a Ferry run (this run is offline)")
        spec = {"path": path, "description": description or "", "tags": dict(tags or {}),
                "properties": dict(properties or {})}
        self.set_tags({"ferry.register_model/" + model_name: json.dumps(spec, sort_keys=True)})
        return None

    def get_tags(self) -> "Dict[str, str]":
        """Tags set from this process (a bound run: the run's tags on the server)."""
        if self._ws is not None:
            return dict(self._client().call("GET", f"/runs/{self._id}").get("tags", {}))
        return dict(self._tags)

    def get_metrics(self, name: "Optional[str]" = None) -> "Dict[str, Union[Number, List[Number]]]":
        """Metrics logged so far (offline runs only).

        Returns ``{name: value}`` for keys logged once and ``{name: [values]}``
        for keys logged several times, like Azure ML.

        :raises RuntimeError: on an online run (metrics live on the server).
        """
        if self._ws is not None:
            from . import _remote_run

            self._flush_buffer()
            return _remote_run.metrics(self._client(), self._id, name)
        if not self._offline:
            raise RuntimeError(
                "ferry: get_metrics() is only available offline; "
                "online metrics are stored by the Ferry server"
            )
        return {k: (v[0] if len(v) == 1 else list(v)) for k, v in self._metrics.items()}

    def flush(self, timeout_seconds: int = 300) -> None:
        """Flush pending output.

        Inside a script records are written to the metrics file immediately (one ``os.write``
        each), so this only flushes stderr. An interactive run sends its buffered records.
        """
        if self._ws is not None:
            self._flush_buffer()
        try:
            sys.stderr.flush()
        except (AttributeError, ValueError, OSError):
            pass

    def close(self) -> None:
        """Close the metrics file descriptor (reopened on the next write)."""
        with self._fd_lock:
            if self._fd >= 0:
                try:
                    os.close(self._fd)
                finally:
                    self._fd = -1

    def __repr__(self) -> str:
        mode = "offline" if self._offline else "online"
        return f"<ferry.Run id={self._id!r} experiment={self._experiment!r} {mode}>"


def _reset_context() -> None:
    """Drop the process-wide run (for tests); the next get_context() re-reads env."""
    with Run._context_lock:
        ctx = Run._context
        Run._context = None
    if ctx is not None:
        ctx.close()


def get_run(experiment: "Any", run_id: str, rehydrate: bool = True, clean_up: bool = True) -> "Run":
    """The run ``run_id`` of ``experiment`` (Azure's ``azureml.core.run.get_run``)."""
    return Run.get(experiment.workspace, run_id)
