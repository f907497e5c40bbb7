"""ParallelRunStep's driver (docs/pipelines.md#parallelrunstep): what the agent runs instead of the
entry script for a parallel step (``python -m ferry._parallel_run --entry-script SCRIPT -- ARGS``).

One driver per node (rank) starts ``process_count_per_node`` worker processes and keeps that many
alive. Each worker imports the entry script once, calls its ``init()``, then pulls mini-batches from
the server's queue for the step's run (``POST /runs/{id}/minibatches/lease``), calls ``run(mini_batch)``
under ``run_invocation_timeout`` and reports the rows it returned (or its error) with its next lease,
until the queue is drained or aborted over the error threshold; then ``shutdown()`` if it has one. The
queue lives on the server: a batch whose worker dies (its driver releases it at once) or whose node is
lost (its lease expires) goes to another worker, up to ``run_max_try`` tries. The driver of rank 0 then
writes the rows of every batch, in mini-batch order, to ``append_row_file_name`` in the step's output.

A mini-batch is a list of file paths (file datasets) or a pandas DataFrame (tabular datasets; its
files are split into byte ranges on line boundaries, each range read with the file's header).
The entry script's logger is ``ferry_user.parallel_run.EntryScript().logger`` (Azure's
``azureml_user.parallel_run``); each worker logs to ``logs/parallel/<node>/worker_<k>.txt``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
import types
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

_LOG_ROOT = Path("logs") / "parallel"


class _Server:
    """The queue's routes, with the run's script token (MLFLOW_TRACKING_TOKEN)."""

    def __init__(self) -> None:
        self.url = os.environ.get("MLFLOW_TRACKING_URI", "").rstrip("/")
        self.token = os.environ.get("MLFLOW_TRACKING_TOKEN", "")
        self.run_id = os.environ.get("FERRY_RUN_ID", "")
        if not self.url or not self.token or not self.run_id:
            raise SystemExit("ferry parallel run: the run has no server address or token "
                             "(MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN, FERRY_RUN_ID); "
                             "a ParallelRunStep runs only as a pipeline step")

    def call(self, method: str, path: str, body: Optional[dict] = None, timeout: float = 60) -> Any:
        url = f"{self.url}/api/v1/runs/{self.run_id}/minibatches{path}"
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token}", "X-Ferry-Run": self.run_id}
        if data is not None:
            headers["Content-Type"] = "application/json"
        delay = 0.2
        for attempt in range(8):
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    return json.loads(r.read() or b"null")
            except urllib.error.HTTPError as e:
                text = e.read().decode(errors="replace")
                if e.code < 500 or attempt == 7:
                    raise RuntimeError(f"{method} {path or '/'}: HTTP {e.code}: {text}") from None
            except OSError:
                if attempt == 7:
                    raise
            time.sleep(delay)  # the server restarting, a dropped connection: try again
            delay = min(delay * 2, 5.0)
        raise RuntimeError("unreachable")


class EntryScript:
    """What an entry script may ask of its worker (Azure's ``azureml_user.parallel_run.EntryScript``):
    ``logger`` (a logging.Logger writing to the worker's log file), ``working_dir``, ``output_dir``,
    ``log_dir``, and ``get_logger()``."""

    _logger: Optional[logging.Logger] = None
    _output_dir: str = ""
    _log_dir: str = ""

    @property
    def logger(self) -> logging.Logger:
        return self.get_logger()

    def get_logger(self) -> logging.Logger:
        if EntryScript._logger is None:
            EntryScript._logger = logging.getLogger("ferry_user.parallel_run")
        return EntryScript._logger

    @property
    def working_dir(self) -> str:
        return os.getcwd()

    @property
    def output_dir(self) -> str:
        return EntryScript._output_dir

    @property
    def log_dir(self) -> str:
        return EntryScript._log_dir


def _register_user_module() -> None:
    """``from ferry_user.parallel_run import EntryScript`` (and Azure's spelling) in entry scripts."""
    for top in ("ferry_user", "azureml_user"):
        pkg = types.ModuleType(top)
        pkg.__path__ = []  # a package, for the submodule import
        sub = types.ModuleType(f"{top}.parallel_run")
        sub.EntryScript = EntryScript  # type: ignore[attr-defined]
        pkg.parallel_run = sub  # type: ignore[attr-defined]
        sys.modules.setdefault(top, pkg)
        sys.modules.setdefault(f"{top}.parallel_run", sub)


def _load_entry(path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("ferry_entry_script", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"ferry parallel run: cannot load the entry script {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["ferry_entry_script"] = module
    spec.loader.exec_module(module)
    if not callable(getattr(module, "run", None)):
        raise SystemExit(f"ferry parallel run: the entry script {path} defines no run(mini_batch)")
    return module


def _read_tabular(root: Path, items: List[Any], fmt: str) -> Any:
    """The rows of a tabular mini-batch: whole files, or byte ranges [start, end) of a delimited or
    JSON-lines file (a range owns the lines that start inside it; the header comes from line one)."""
    import io

    try:
        import pandas as pd
    except ImportError:
        raise RuntimeError("a tabular mini-batch needs pandas in the step's environment "
                           "(pip install pandas)") from None
    frames = []
    for it in items:
        path = root / it["path"] if isinstance(it, dict) else root / it
        if fmt == "parquet":
            frames.append(pd.read_parquet(path))
            continue
        start = int(it.get("start", 0)) if isinstance(it, dict) else 0
        end = int(it["end"]) if isinstance(it, dict) and it.get("end") is not None else None
        with open(path, "rb") as f:
            header = f.readline() if fmt != "json_lines" else b""
            body_start = f.tell()
            if start > body_start:
                f.seek(start - 1)
                f.readline()  # the line that started before the range belongs to the previous one
            else:
                f.seek(body_start)
            chunk = []
            while True:
                pos = f.tell()
                if end is not None and pos >= end:
                    break
                line = f.readline()
                if not line:
                    break
                chunk.append(line)
        text = b"".join(chunk)
        if fmt == "json_lines":
            frames.append(pd.read_json(io.BytesIO(text), lines=True) if text else pd.DataFrame())
        else:
            frames.append(pd.read_csv(io.BytesIO(header + text)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _rows_of(result: Any) -> List[str]:
    """Rows as append_row writes them: a DataFrame's rows with their values space-separated, a list's
    elements as text."""
    if result is None:
        raise TypeError("run(mini_batch) returned None; return a list or a pandas DataFrame "
                        "(one element or row per item processed)")
    if hasattr(result, "itertuples"):
        return [" ".join(str(v) for v in row) for row in result.itertuples(index=False)]
    if isinstance(result, (str, bytes)):
        raise TypeError("run(mini_batch) returned a string; return a list or a pandas DataFrame")
    return [str(r) for r in result]


class _Timeout(Exception):
    pass


def _worker(args: argparse.Namespace, cfg: Dict[str, Any], user_args: List[str]) -> int:
    server = _Server()
    wid = f"{args.node}-{args.worker}"
    level = getattr(logging, str(cfg.get("logging_level", "INFO")).upper(), logging.INFO)
    # The worker's output is its log file (logs/parallel/<node>/worker_<k>.txt).
    logging.basicConfig(level=level, stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s worker {wid}: %(message)s")
    log = logging.getLogger("ferry_user.parallel_run")
    log.setLevel(level)
    EntryScript._output_dir = os.environ.get(f"FERRY_OUTPUT_{cfg.get('output', '')}", "")
    EntryScript._log_dir = str(_LOG_ROOT / str(args.node))
    input_root = Path(os.environ.get(f"FERRY_INPUT_{cfg.get('input', '')}", "."))
    kind = cfg.get("input_kind", "file")
    fmt = cfg.get("input_format", "delimited")
    timeout = int(cfg.get("run_invocation_timeout", 60))
    _register_user_module()
    sys.argv = [args.entry_script, *user_args]
    sys.path.insert(0, os.getcwd())
    entry = _load_entry(args.entry_script)
    if callable(getattr(entry, "init", None)):
        entry.init()
    previous: Optional[dict] = None

    def on_alarm(signum, frame):  # run() took longer than run_invocation_timeout
        raise _Timeout(f"run() took longer than run_invocation_timeout ({timeout} s)")

    signal.signal(signal.SIGALRM, on_alarm)
    while True:
        answer = server.call("POST", "/lease", {"worker": wid, "result": previous})
        previous = None
        if answer.get("abort"):
            log.error("the step stops: %s", answer["abort"])
            break
        if answer.get("done"):
            break
        batch = answer.get("batch")
        if not batch:
            time.sleep(float(answer.get("wait", 0.5)))
            continue
        items = batch["items"]
        started = time.monotonic()
        try:
            if kind == "tabular":
                mini_batch = _read_tabular(input_root, items, fmt)
            else:
                mini_batch = [str(input_root / p) for p in items]
            signal.alarm(max(1, timeout))
            try:
                result = entry.run(mini_batch)
            finally:
                signal.alarm(0)
            rows = _rows_of(result)
            count = len(mini_batch)
            previous = {"index": batch["index"], "attempt": batch["attempt"], "ok": True, "rows": rows,
                        "failed_items": max(0, count - len(rows)) if kind != "tabular" else 0,
                        "seconds": time.monotonic() - started}
        except BaseException as e:  # a failed batch is reported, and the worker goes on
            if isinstance(e, (KeyboardInterrupt, SystemExit)) and not isinstance(e, _Timeout):
                raise
            text = "".join(traceback.format_exception_only(type(e), e)).strip()
            log.error("mini-batch %s (try %s) failed: %s\n%s", batch["index"], batch["attempt"], text,
                      traceback.format_exc())
            previous = {"index": batch["index"], "attempt": batch["attempt"], "ok": False, "error": text,
                        "failed_items": len(items), "seconds": time.monotonic() - started}
    if callable(getattr(entry, "shutdown", None)):
        entry.shutdown()
    return 0


def _drive(args: argparse.Namespace, cfg: Dict[str, Any], user_args: List[str]) -> int:
    server = _Server()
    # One driver per node: the run has one rank per node (process_count_per_node is the driver's).
    node = int(os.environ.get("RANK", "0"))
    procs = max(1, int(cfg.get("process_count_per_node", 1)))
    log_dir = _LOG_ROOT / str(node)
    log_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "ferry._parallel_run", "--entry-script", args.entry_script,
           "--node", str(node)]

    def start(k: int) -> subprocess.Popen:
        out = open(log_dir / f"worker_{k}.txt", "ab")
        try:
            return subprocess.Popen([*cmd, "--worker", str(k), "--", *user_args], stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            out.close()

    workers = {k: start(k) for k in range(procs)}
    restarts = 0
    print(f"ferry parallel run: node {node}: {procs} worker process(es) for {args.entry_script}", flush=True)
    while workers:
        time.sleep(0.2)
        for k, p in list(workers.items()):
            code = p.poll()
            if code is None:
                continue
            del workers[k]
            if code == 0:
                continue
            # A worker died mid-batch (killed, out of memory): its batch goes back to the queue
            # now rather than when its lease runs out, and the node keeps its process count.
            answer = server.call("POST", "/release", {"worker": f"{node}-{k}",
                                                      "reason": f"worker {node}-{k} exited with {code}"})
            print(f"ferry parallel run: worker {node}-{k} exited with {code}; "
                  f"{answer.get('released', 0)} mini-batch(es) back to the queue", flush=True)
            progress = server.call("GET", "")
            if progress.get("finished"):
                continue
            restarts += 1
            if restarts > 10 * procs:
                print("ferry parallel run: workers keep dying; giving up on this node", flush=True)
                return 1
            workers[k] = start(k)
    progress = wait_finished(server)
    print(f"ferry parallel run: node {node}: done; the step's mini-batches: {progress['done']} done, "
          f"{progress['failed']} failed of {progress['total']}", flush=True)
    if node == 0 and cfg.get("output_action", "append_row") == "append_row" and not progress.get("abort"):
        write_rows(server, cfg)
    if progress.get("abort"):
        print(f"ferry parallel run: {progress['abort']}", file=sys.stderr, flush=True)
        return 1
    return 0


def wait_finished(server: _Server) -> Dict[str, Any]:
    """The queue's progress once nothing is left to run (other nodes may still be finishing)."""
    while True:
        progress = server.call("GET", "")
        if progress.get("finished"):
            return progress
        time.sleep(0.5)


def write_rows(server: _Server, cfg: Dict[str, Any]) -> None:
    out_dir = os.environ.get(f"FERRY_OUTPUT_{cfg.get('output', '')}")
    if not out_dir:
        return
    name = cfg.get("append_row_file_name") or "parallel_run_step.txt"
    path = Path(out_dir) / name
    tmp = path.with_name(path.name + ".part")
    start = 0
    with open(tmp, "w", encoding="utf-8") as f:
        while True:
            page = server.call("GET", f"/results?from={start}&limit=200")
            for b in page["batches"]:
                for row in b["rows"]:
                    f.write(row)
                    f.write("\n")
            if page.get("next") is None:
                break
            start = page["next"]
    os.replace(tmp, path)


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    user_args: List[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, user_args = argv[:cut], argv[cut + 1:]
    p = argparse.ArgumentParser(prog="python -m ferry._parallel_run")
    p.add_argument("--entry-script", required=True)
    p.add_argument("--node", type=int, default=None)
    p.add_argument("--worker", type=int, default=None)
    args = p.parse_args(argv)
    cfg = json.loads(os.environ.get("FERRY_PARALLEL_CONFIG", "{}"))
    if args.worker is not None:
        return _worker(args, cfg, user_args)
    return _drive(args, cfg, user_args)


if __name__ == "__main__":
    sys.exit(main())
