"""Helpers shared by the Python benchmarks: locating ferry, starting/stopping a server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
FERRY = os.environ.get("FERRY_BIN") or os.path.join(REPO, "build", "bin", "ferry")
VENV_PY = os.path.join(REPO, ".venv", "bin", "python")
PYTHON = VENV_PY if os.path.exists(VENV_PY) else sys.executable


def median(xs):
    return statistics.median(xs)


class Server:
    """`ferry --home HOME server --port 0` in the background; URL/token read from the home."""

    def __init__(self, home: str):
        self.home = home
        os.makedirs(home, exist_ok=True)
        self.log_path = os.path.join(home, "bench-server.log")
        self.proc = None
        self.url = ""

    def __enter__(self) -> "Server":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> None:
        info = os.path.join(self.home, "server.json")
        if os.path.exists(info):
            os.unlink(info)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [FERRY, "--home", self.home, "server", "--port", "0"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ferry server exited early ({self.proc.returncode}); see {self.log_path}")
            try:
                with open(info) as f:
                    self.url = json.load(f)["url"]
                return
            except (OSError, ValueError, KeyError):
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"ferry server did not write {info} in {timeout} s")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def secret(self, name: str) -> str:
        with open(os.path.join(self.home, name)) as f:
            return f.read().strip()

    def request(self, method: str, path: str, body: bytes | None = None, token: str | None = None,
                content_type: str = "application/json", timeout: float = 120.0):
        req = urllib.request.Request(self.url + path, data=body, method=method)
        req.add_header("Authorization", "Bearer " + (token or self.secret("token")))
        if body is not None:
            req.add_header("Content-Type", content_type)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read() or b"null")


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def hyperfine(commands: dict, runs: int, warmup: int, cwd: str, export: str) -> dict:
    """Runs hyperfine (no intermediate shell) and returns {name: [seconds...]}."""
    cmd = ["hyperfine", "-N", "--style", "basic", "--runs", str(runs), "--warmup", str(warmup),
           "--export-json", export]
    for name, c in commands.items():
        cmd += ["-n", name, c]
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    with open(export) as f:
        data = json.load(f)
    return {r["command"]: r["times"] for r in data["results"]}


def perf_times(argv: list, runs: int, warmup: int, cwd: str) -> list:
    """Wall times (s) of `runs` executions of argv (output discarded, exit status checked)."""
    out = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        dt = time.perf_counter() - t0
        if i >= warmup:
            out.append(dt)
    return out


def attach_ssh_target(home: str, name: str, host, key, timeout: float = 60.0) -> None:
    """`ferry compute attach ssh` of a tests/support/sshd.py host, then waits until it is ready."""
    base = [FERRY, "--home", home]
    subprocess.run(base + ["compute", "attach", "ssh", name, "--host", host.ip, "--port", str(host.port),
                           "--user", host.user, "--key", str(key)], check=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while b'"state": "ready"' not in subprocess.run(base + ["-o", "json", "compute", "show", name],
                                                    capture_output=True).stdout:
        if time.monotonic() > deadline:
            raise RuntimeError(f"compute target {name} did not become ready in {timeout} s")
        time.sleep(0.2)


def start_slurm_workspace(home: str, cluster, env: dict) -> subprocess.Popen:
    """`ferry server --bind <cluster bridge>` in `home` with the cluster's environment, and the
    cluster attached as target `hpc` (tests/support/slurm.py). The caller stops the server."""
    server = subprocess.Popen([FERRY, "--home", home, "server", "--port", "0", "--bind", cluster.gateway],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not os.path.exists(os.path.join(home, "server.json")):
        if time.monotonic() > deadline:
            server.kill()
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    subprocess.run([FERRY, "--home", home, "compute", "attach", "slurm", "hpc", "--local", "--shared-dir",
                    cluster.shared_dir], check=True, env=env, stdout=subprocess.DEVNULL)
    return server


def sweep_source(src: str, script: str, text: str, arguments: tuple = ()) -> None:
    """A source directory for sweeps: the script and .azureml/local.runconfig (local target,
    this benchmark interpreter, the given fixed arguments)."""
    os.makedirs(os.path.join(src, ".azureml"), exist_ok=True)
    with open(os.path.join(src, script), "w") as f:
        f.write(text)
    args = ", ".join(f"'{a}'" for a in arguments)
    with open(os.path.join(src, ".azureml", "local.runconfig"), "w") as f:
        f.write(f"script: {script}\narguments: [{args}]\ntarget: local\nframework: Python\nenvironment:\n"
                f"  python:\n    userManagedDependencies: true\n    interpreterPath: {PYTHON}\n")


def run_sweep(server: Server, home: str, src: str, hdconfig: str, poll_s: float = 0.1) -> str:
    """`ferry run submit-hyperdrive -c local --hyperdrive-configuration-name HDCONFIG` in src;
    waits until the sweep has ended and returns its id."""
    out = subprocess.run([FERRY, "--home", home, "run", "submit-hyperdrive", "-c", "local",
                          "--hyperdrive-configuration-name", hdconfig, "-d", src],
                         cwd=src, check=True, capture_output=True, text=True).stdout.strip()
    sweep_id = out.splitlines()[-1]
    while server.request("GET", f"/api/v1/runs/{sweep_id}")["status"] not in ("Completed", "Failed", "Canceled"):
        time.sleep(poll_s)
    return sweep_id

