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
    from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

    Number = Union[int, float]

__all__ = ["Run", "MAX_KEY_LENGTH"]

#: Maximum length of a metric key, in characters.
MAX_KEY_LENGTH = 250

_ENV_FILE = "FERRY_METRICS_FILE"
_ENV_RUN_ID = "FERRY_RUN_ID"
_ENV_EXPERIMENT = "FERRY_EXPERIMENT"

_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
_BATCH_LINES = 512  # lines per os.write for log_list

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
        raise TypeError(
            f"ferry: metric {key!r} must be a number (int, float, bool or numeric "
            f"scalar), got {t.__name__}"
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
        # Write failures (see the module docstring); changed under _trouble_lock only.
        self._trouble = False  # a write failed and the count is not on file yet
        self._trouble_lock = threading.Lock()
        self._torn = False  # the file may end inside a line
        self._dropped = 0  # records not written, in all
        self._reported = 0  # the count last written as the tag
        self._warned = False

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
        return r

    def _client(self) -> "Any":
        if self._ws is None:
            raise RuntimeError(
                "ferry: this run is not bound to a workspace; use Run.get(workspace, run_id) or "
                "Experiment(workspace, name).get_runs() to work with runs from outside"
            )
        return self._ws._client

    def get_status(self) -> str:
        """The run's status: Queued, Preparing, Running, Finalizing, Completed, Failed or Canceled."""
        from . import _remote_run

        self._remote = _remote_run.run_json(self._client(), self._id)
        return self._remote["status"]

    def get_details(self) -> "Dict[str, Any]":
        """runId, status, target, start/end times (UTC), exitCode, error, tags, runDefinition,
        parentRunId and statusHistory (Azure ML's key names)."""
        from . import _remote_run

        return _remote_run.details(self._client(), self._id)

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True) -> "Dict[str, Any]":
        """Wait until the run ends and return :meth:`get_details`.

        :param show_output: stream the run's log to stdout as it is written.
        :param wait_post_processing: accepted for Azure ML compatibility (outputs are collected
            before a run ends, so there is nothing more to wait for).
        :param raise_on_error: raise :class:`ferry.FerryError` with the run's error when it failed.
        """
        from . import _remote_run

        return _remote_run.wait(self._client(), self._id, show_output, raise_on_error)

    def get_file_names(self) -> "List[str]":
        """Paths of the run's files (outputs/, logs/ and what MLflow logged)."""
        from . import _remote_run

        return _remote_run.file_names(self._client(), self._id)

    def download_file(self, name: str, output_file_path: "Optional[str]" = None) -> str:
        """Download one file (to ``output_file_path``, a file or a directory; default: its base
        name here). Written to a temporary name first, so it is never half there. Returns the path."""
        from . import _remote_run

        return _remote_run.download_file(self._client(), self._id, name, output_file_path)

    def download_files(self, prefix: "Optional[str]" = None, output_directory: "Optional[str]" = None,
                       append_prefix: bool = True) -> "List[str]":
        """Download the run's files under ``prefix`` (all by default) into ``output_directory``."""
        from . import _remote_run

        return _remote_run.download_files(self._client(), self._id, prefix, output_directory, append_prefix)

    def cancel(self) -> None:
        """Cancel the run (its script gets SIGTERM, then SIGKILL after the grace period)."""
        self._client().call("POST", f"/runs/{self._id}/cancel")

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

    def _offline_record(self, name: str, value: "Number", step: "Optional[int]") -> None:
        self._metrics.setdefault(name, []).append(value)
        suffix = "" if step is None else f" (step {step})"
        _warn(f"[ferry offline] {name}={value!r}{suffix}\n")

    def log(self, name: str, value: "Number", step: "Optional[int]" = None) -> None:
        """Log one metric point.

        :param name: metric key, a non-empty str of at most 250 characters.
        :param value: int, float, bool (written as 1/0) or any numeric scalar
            with ``__float__`` (numpy scalars); NaN/inf are allowed.
        :param step: optional int step (x axis); ``None`` means unspecified.
        :raises ValueError: for an invalid key.
        :raises TypeError: for a non-numeric value or non-int step.
        """
        k = self._keys.get(name)  # type: ignore[arg-type]
        if k is None:
            k = self._key(name)
        t = type(value)
        if t is float and value - value == 0.0:
            v = repr(value)
        elif t is int:
            v = "%d" % value
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

    def log_list(self, name: str, values: "Iterable[Number]") -> None:
        """Log a list of values under one key (one point per value, step null).

        All values are validated before anything is written.
        """
        k = self._keys.get(name)  # type: ignore[arg-type]
        if k is None:
            k = self._key(name)
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

    def log_row(self, name: str, **cols: "Number") -> None:
        """Log one row of a table: one point per column.

        Each column ``c`` is logged under key ``f"{name}/{c}"`` with step equal
        to the row index for ``name`` (0, 1, 2, ... counted in this process).
        The row is written with a single ``os.write``.
        """
        _check_key(name)
        prepared = []
        for col, value in cols.items():
            key = f"{name}/{col}"
            k = self._keys.get(key)
            if k is None:
                k = self._key(key)
            num, v = _coerce(key, value)
            prepared.append((key, k, num, v))
        with self._rows_lock:
            step = self._rows.get(name, 0)
            self._rows[name] = step + 1
        if self._offline:
            for key, _, num, _ in prepared:
                self._metrics.setdefault(key, []).append(num)
            shown = " ".join(f"{col}={v!r}" for col, v in cols.items())
            _warn(f"[ferry offline] {name}: {shown} (row {step})\n")
            return
        if not prepared:
            return
        t = f"{_time():.6f}"
        self._write(
            "".join(f'{{"k":{k},"v":{v},"s":{step},"t":{t}}}\n' for _, k, _, v in prepared)
        )

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

            return _remote_run.metrics(self._client(), self._id, name)
        if not self._offline:
            raise RuntimeError(
                "ferry: get_metrics() is only available offline; "
                "online metrics are stored by the Ferry server"
            )
        return {k: (v[0] if len(v) == 1 else list(v)) for k, v in self._metrics.items()}

    def flush(self) -> None:
        """Flush pending output.

        Records are written to the metrics file immediately (one ``os.write``
        each), so this only flushes stderr; it exists for API compatibility.
        """
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
