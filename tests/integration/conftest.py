"""Fixtures for Ferry's end-to-end tests: a real server per test, driven by the CLI and the REST API.

Every wait is bounded and polls; nothing asserts on wall-clock durations.
"""

from __future__ import annotations

import json as _json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TERMINAL = ("Completed", "Failed", "Canceled")

# Under pytest-xdist (make test runs two workers), each worker's SSH lab and Slurm cluster get
# their own subnet and bridge (tests/support/sshd.py, slurm.py), so one worker's lab never
# meets the other's; without workers the harness defaults stand.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER.startswith("gw") and _WORKER[2:].isdigit():
    os.environ.setdefault("FERRY_SSHLAB_OCTET", str(100 + int(_WORKER[2:])))
    os.environ.setdefault("FERRY_SLURM_OCTET", str(150 + int(_WORKER[2:])))


def _ferry_bin() -> Path:
    env = os.environ.get("FERRY_BIN")
    return Path(env).resolve() if env else REPO / "build/bin/ferry"


@pytest.fixture(scope="session")
def ferry_bin() -> Path:
    p = _ferry_bin()
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.fail(f"ferry binary not found at {p}: build it with 'ninja -C {REPO}/build' or set FERRY_BIN", pytrace=False)
    return p


def wait_until(pred, timeout: float, what: str, interval: float = 0.05):
    """Polls pred() until it returns a truthy value; fails naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def proc_state(pid: int):
    """The /proc state letter of pid, or None when it does not exist (zombies count as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    state = data.rsplit(")", 1)[1].split()[0]
    return None if state in ("Z", "X") else state


def pid_alive(pid: int) -> bool:
    return proc_state(pid) is not None


def pids_in_group(pgid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                fields = f.read().decode(errors="replace").rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] = state, [1] = ppid, [2] = pgrp
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            out.append(int(d))
    return out


def _inside(path: str, home_s: str) -> bool:
    return path == home_s or path.startswith(home_s + "/")


def processes_of_home(home: Path) -> list[int]:
    """Processes whose command line names the home, whose cwd lies inside it (run scripts), or
    that hold a file inside it open (agents forked by the fork server: their command line is
    the fork server's, their log is in the home)."""
    home_s = str(home)
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        hit = home_s in cmd
        if not hit:
            try:
                hit = _inside(os.readlink(f"/proc/{d}/cwd"), home_s)
            except OSError:
                pass
        if not hit:
            try:
                for fd in os.listdir(f"/proc/{d}/fd"):
                    try:
                        if _inside(os.readlink(f"/proc/{d}/fd/{fd}"), home_s):
                            hit = True
                            break
                    except OSError:
                        continue
            except OSError:
                pass
        if hit and pid_alive(int(d)):
            out.append(int(d))
    return out


def kill_home_processes(home: Path) -> None:
    for _ in range(3):
        pids = processes_of_home(home)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            wait_until(lambda: not any(pid_alive(p) for p in pids), 10,  # noqa: B023 (called in this iteration)
                       "leftover processes to die")
        except AssertionError:
            pass


class Workspace:
    def __init__(self, ferry: Path, home: Path, max_runs: int = 4, env: dict | None = None, bind: str | None = None,
                 server_args: tuple = ()):
        self.bind = bind
        self.server_args = tuple(server_args)
        self.ferry = ferry
        self.home = home
        self.max_runs = max_runs
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.token = ""
        self._log = None

    # ---- server lifecycle
    def start_server(self, timeout: float = 30, port: int = 0) -> None:
        """port: 0 picks a free one; a page that must reconnect needs the old one again."""
        self.home.mkdir(parents=True, exist_ok=True)
        info_path = self.home / "server.json"
        old_pid = None
        if info_path.exists():
            try:
                old_pid = _json.loads(info_path.read_text())["pid"]
            except (ValueError, KeyError):
                pass
        self._log = open(self.home / "test-server.log", "ab")
        self.proc = subprocess.Popen(
            [str(self.ferry), "--home", str(self.home), "server", "--port", str(port),
             "--max-concurrent-runs", str(self.max_runs), *(["--bind", self.bind] if self.bind else []),
             *self.server_args],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"server exited with {self.proc.returncode}: {(self.home / 'test-server.log').read_text()}")
            try:
                info = _json.loads(info_path.read_text())
            except (OSError, ValueError):
                return False
            if info.get("pid") != self.proc.pid or info.get("pid") == old_pid:
                return False
            try:
                with urllib.request.urlopen(info["url"] + "/api/v1/health", timeout=2) as r:
                    if r.status != 200:
                        return False
            except (OSError, urllib.error.URLError):
                return False
            self.url = info["url"]
            return True

        wait_until(ready, timeout, "the server to answer /api/v1/health")
        self.token = (self.home / "token").read_text().strip()

    def kill_server(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc = None

    def stop_server(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        self.proc = None

    def close(self) -> None:
        try:
            self.stop_server()
        finally:
            if self._log:
                self._log.close()
            kill_home_processes(self.home)

    # ---- clients
    def cli(self, *args, check: bool = True, timeout: float = 120, cwd=None, input=None):
        cmd = [str(self.ferry), "--home", str(self.home), *map(str, args)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, input=input)
        if check:
            assert r.returncode == 0, f"{cmd} exited {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
        return r

    def cli_json(self, *args, **kw):
        r = self.cli("-o", "json", *args, **kw)
        return _json.loads(r.stdout)

    def api(self, method: str, path: str, json=None, data=None, headers=None, auth=True):
        """Returns (status, parsed JSON or bytes, headers)."""
        url = self.url + (path if path.startswith(("/api", "/ajax-api")) else "/api/v1" + path)
        h = {}
        if auth:
            h["Authorization"] = f"Bearer {self.token}"
        body = None
        if json is not None:
            body = _json.dumps(json).encode()
            h["Content-Type"] = "application/json"
        elif data is not None:
            body = data if isinstance(data, bytes) else data.encode()
        h.update(headers or {})
        req = urllib.request.Request(url, data=body, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, raw, hdrs = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, raw, hdrs = e.code, e.read(), e.headers
        ctype = hdrs.get("Content-Type", "")
        if "json" in ctype:
            try:
                return status, _json.loads(raw), hdrs
            except ValueError:
                pass
        return status, raw, hdrs

    def agent_token(self, run_id: str) -> str:
        """The token of run_id's agent (an HMAC of the run id under the workspace secret)."""
        import hashlib
        import hmac

        secret = (self.home / "secret").read_text().strip()
        return hmac.new(secret.encode(), f"run:{run_id}".encode(), hashlib.sha256).hexdigest()

    def run(self, run_id: str) -> dict:
        status, body, _ = self.api("GET", f"/runs/{run_id}")
        assert status == 200, body
        return body

    def wait_status(self, run_id: str, statuses, timeout: float = 60) -> dict:
        if isinstance(statuses, str):
            statuses = (statuses,)

        def check():
            r = self.run(run_id)
            if r["status"] in statuses:
                return r
            if r["status"] in TERMINAL:
                raise AssertionError(f"run {run_id} ended {r['status']} while waiting for {statuses}: {r.get('error')}"
                                     f"\nlog:\n{self.log(run_id)}")
            return None

        return wait_until(check, timeout, f"run {run_id} to reach {statuses}")

    def log(self, run_id: str) -> str:
        status, body, _ = self.api("GET", f"/runs/{run_id}/logs")
        assert status == 200, body
        return body.decode() if isinstance(body, bytes) else str(body)

    def agent_info(self, run_id: str) -> str:
        """logs/ferry-agent.txt: how the agent prepared the run (blob cache, working copy)."""
        import urllib.parse
        status, body, _ = self.api("GET", f"/runs/{run_id}/artifacts/content?path="
                                   + urllib.parse.quote("logs/ferry-agent.txt"))
        assert status == 200, body
        return body.decode() if isinstance(body, bytes) else str(body)

    def history(self, run_id: str) -> list[dict]:
        status, body, _ = self.api("GET", f"/runs/{run_id}/history")
        assert status == 200, body
        return body["history"]

    def run_count(self) -> int:
        status, body, _ = self.api("GET", "/runs?limit=1000")
        assert status == 200, body
        return len(body["runs"])

    def submit(self, src: Path, script: str, *args, extra=(), wait=False, check=True, timeout=120):
        """`ferry run submit`; returns (run id or None, CompletedProcess)."""
        cmd = ["run", "submit", "--source-dir", src, "--python", sys.executable, *extra]
        if wait:
            cmd.append("--wait")
        cmd.append(script)
        if args:
            cmd += ["--", *args]
        r = self.cli(*cmd, check=check, timeout=timeout)
        import re

        m = re.search(r"Run (\S+) submitted", r.stderr)
        return (m.group(1) if m else None), r


@pytest.fixture
def make_workspace(ferry_bin, tmp_path):
    """Factory: make_workspace(max_runs=4, name='home') starts a real server in a fresh home."""
    made: list[Workspace] = []

    def make(max_runs: int = 4, name: str = "home", env: dict | None = None, bind: str | None = None,
             server_args: tuple = ()) -> Workspace:
        ws = Workspace(ferry_bin, tmp_path / name, max_runs, env, bind, server_args)
        made.append(ws)
        ws.start_server()
        return ws

    yield make
    for ws in made:
        ws.close()


@pytest.fixture
def workspace(make_workspace, request):
    """A workspace with a running server; `@pytest.mark.max_runs(N)` sets --max-concurrent-runs."""
    m = request.node.get_closest_marker("max_runs")
    return make_workspace(max_runs=m.args[0] if m else 4)


@pytest.fixture
def src(tmp_path) -> Path:
    d = tmp_path / "src"
    d.mkdir()
    return d


def pytest_configure(config):
    config.addinivalue_line("markers", "max_runs(n): --max-concurrent-runs of the workspace fixture's server")
