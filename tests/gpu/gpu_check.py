"""Ferry on a real GPU: a bare machine with the NVIDIA driver and nothing else (no CUDA toolkit,
no torch, no network). tests/gpu/README.md says what it checks and how to run it; in short:

    python3 tests/gpu/gpu_check.py --ferry build/bin/ferry [--python python3] [--timeout 300]

starts `ferry server` on port 0 in a temporary home and submits two runs of job.py (the CUDA
driver API through ctypes, a PTX kernel) to the local target:

  kernel           each run allocates GPU memory, runs a kernel and gets its results right;
  system metrics   run A's system/gpu_memory_used_mib and system/gpu_utilization_percent, as the
                   agent records them (nvidia-smi), show the memory it holds and a busy GPU;
  queue            run B asks for a GPU while A holds all of them: B waits Queued with the GPU
                   reason until A ends, then runs;
  visible devices  inside each run CUDA_VISIBLE_DEVICES is the run's gpu_ids, and CUDA sees
                   exactly those devices (their UUIDs are nvidia-smi's for those indices).

Without a GPU (no libcuda.so.1, a stub library, or no device) it prints SKIP and exits 0.
Exit status: 0 every check passed (or skipped), 1 a check failed, 2 it could not run (the ferry
binary does not start, the driver fails). Python standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import cuda  # noqa: E402
from job import RESULT_PREFIX  # noqa: E402

TERMINAL = ("Completed", "Failed", "Canceled")
SKIP_CODES = {cuda.CUDA_ERROR_NO_DEVICE, 34}  # 34: CUDA_ERROR_STUB_LIBRARY (the toolkit's stub, no driver)
HOLD_MIB = 512


class CannotRun(Exception):
    """The check cannot run here for a reason that is not a Ferry bug (exit 2)."""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def wait(self, pred, what: str, limit: float = 1e9, interval: float = 0.2):
        """Polls pred() until it returns something truthy; raises naming `what` when the time
        (the overall deadline or `limit` seconds) runs out."""
        end = min(self.end, time.monotonic() + limit)
        last = None
        while True:
            last = pred()
            if last:
                return last
            if time.monotonic() >= end:
                raise TimeoutError(f"timed out waiting for {what} (last: {last!r})")
            time.sleep(interval)


# ---- preflight ---------------------------------------------------------------------------------

def probe_gpu() -> "tuple[str | None, str, list[str]]":
    """(libcuda path or None when there is no GPU, what was found, the devices' UUIDs)."""
    path = cuda.find_libcuda()
    if not path:
        where = os.environ.get("FERRY_GPU_LIBCUDA")
        return None, f"no libcuda.so.1 ({'FERRY_GPU_LIBCUDA=' + where if where else 'the NVIDIA driver is not installed'})", []
    try:
        drv = cuda.Driver(path)
        drv.init()
        count = drv.device_count()
        uuids = [drv.device_uuid(drv.device(i)) for i in range(count)]
        names = [drv.device_name(drv.device(i)) for i in range(count)]
        version = drv.driver_version()
    except cuda.CudaError as e:
        if e.code in SKIP_CODES:
            return None, f"{path}: {e}", []
        raise CannotRun(f"the driver at {path} does not work: {e}") from None
    except OSError as e:
        return None, f"{path} does not load: {e}", []
    if count == 0:
        return None, f"{path}: no CUDA device", []
    return path, f"{path} (driver API {version // 1000}.{version % 1000 // 10}): {count} device(s): {', '.join(names)}", uuids


def missing_libraries(binary: Path) -> "list[str]":
    ldd = shutil.which("ldd")
    if not ldd:
        return []
    r = subprocess.run([ldd, str(binary)], capture_output=True, text=True, timeout=30)
    return [line.split("=>")[0].strip() for line in r.stdout.splitlines() if "not found" in line]


# ---- the server and its API ------------------------------------------------------------------------

class Server:
    def __init__(self, ferry: Path, home: Path, env: dict) -> None:
        self.ferry, self.home, self.env = ferry, home, env
        self.proc: "subprocess.Popen | None" = None
        self.url = self.token = ""

    def start(self, deadline: Deadline) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.home / "check-server.log", "ab")
        self.proc = subprocess.Popen([str(self.ferry), "--home", str(self.home), "server", "--port", "0",
                                      "--max-concurrent-runs", "4"],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                raise CannotRun(f"ferry server exited with {self.proc.returncode}:\n" + self.server_log())
            try:
                info = json.loads((self.home / "server.json").read_text())
                if info.get("pid") != self.proc.pid:
                    return False
                with urllib.request.urlopen(info["url"] + "/api/v1/health", timeout=2) as r:
                    if r.status != 200:
                        return False
            except (OSError, ValueError, KeyError):
                return False
            self.url = info["url"]
            return True

        deadline.wait(ready, "the server to answer /api/v1/health", limit=60)
        self.token = (self.home / "token").read_text().strip()

    def server_log(self) -> str:
        try:
            return (self.home / "check-server.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)

    def cli(self, *args, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [str(self.ferry), "--home", str(self.home), *map(str, args)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=self.env)
        if r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
        return r

    def get(self, path: str) -> bytes:
        req = urllib.request.Request(self.url + "/api/v1" + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read()

    def api(self, path: str):
        return json.loads(self.get(path))

    def run(self, run_id: str) -> dict:
        return self.api(f"/runs/{run_id}")

    def log(self, run_id: str) -> str:
        return self.get(f"/runs/{run_id}/logs").decode(errors="replace")

    def metrics(self, run_id: str) -> dict:
        return self.api(f"/runs/{run_id}/metrics")["metrics"]

    def history(self, run_id: str) -> list:
        return self.api(f"/runs/{run_id}/history")["history"]


def kill_leftovers(home: Path) -> None:
    """Processes of runs under the temporary home (their cwd is inside it), if any outlived the server."""
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            cwd = os.readlink(f"/proc/{d}/cwd")
        except OSError:
            continue
        if cwd == str(home) or cwd.startswith(str(home) + "/"):
            try:
                os.kill(int(d), signal.SIGKILL)
            except OSError:
                pass


# ---- the checks ----------------------------------------------------------------------------------

class Checks:
    def __init__(self) -> None:
        self.results: "list[tuple[str, bool, str]]" = []

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.results.append((name, ok, detail))
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)

    @property
    def failed(self) -> int:
        return sum(not ok for _, ok, _ in self.results)


def job_result(log: str) -> "dict | None":
    for line in log.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    return None


def runconfig(python: str, gpus: int) -> str:
    return (f"script: job.py\nenvironment:\n  python:\n    userManagedDependencies: true\n"
            f"    interpreterPath: {python}\nresources:\n  gpus: {gpus}\n")


def submit(server: Server, src: Path, config: str, *args) -> str:
    return server.cli("run", "submit-script", "-d", src, "-c", src / config, "--", *args).stdout.strip().splitlines()[-1]


def check_visible(checks: Checks, name: str, run: dict, result: dict, smi_uuids: dict) -> None:
    want = ",".join(str(g) for g in run["gpu_ids"])
    seen = result.get("cuda_visible_devices")
    expected_uuids = sorted(smi_uuids.get(g, f"? (index {g})") for g in run["gpu_ids"])
    got_uuids = sorted(result.get("uuids", []))
    ok = seen == want and got_uuids == expected_uuids
    checks.add(f"visible devices ({name})", ok,
               f"CUDA_VISIBLE_DEVICES={seen!r} for gpu_ids {run['gpu_ids']}; CUDA sees {got_uuids}, "
               f"nvidia-smi names {expected_uuids} for those indices")


def check_kernel(checks: Checks, name: str, run: dict, result: "dict | None", log: str) -> None:
    if result is None:
        checks.add(f"kernel ({name})", False, f"run ended {run['status']} without a result line; log tail:\n{log[-2000:]}")
        return
    k = result.get("kernel")
    ok = run["status"] == "Completed" and result.get("exit") == 0 and k is not None and k["wrong"] == 0
    detail = (f"{k['n']} results checked, {k['wrong']} wrong, on {result['names'][0]}" if k else
              f"no kernel result: {result.get('error')}")
    checks.add(f"kernel ({name})", ok, f"run {run['status']}; {detail}")


def main() -> int:
    p = argparse.ArgumentParser(description="Ferry's GPU checks on real hardware (tests/gpu/README.md)")
    p.add_argument("--ferry", required=True, help="the built ferry binary")
    p.add_argument("--python", default=sys.executable, help="the interpreter the runs use (default: this one)")
    p.add_argument("--timeout", type=float, default=300, help="seconds for everything (default 300)")
    p.add_argument("--keep", action="store_true", help="keep the temporary home")
    p.add_argument("--report", default="", help="also write the results as JSON to this file")
    args = p.parse_args()
    deadline = Deadline(args.timeout)
    ferry = Path(args.ferry).resolve()

    try:
        libcuda, found, uuids = probe_gpu()
    except CannotRun as e:
        print(f"ERROR: cannot run the GPU checks: {e}")
        return 2
    if libcuda is None:
        print(f"SKIP: no GPU: {found}; the GPU checks need a machine with an NVIDIA GPU and its driver")
        return 0
    print(f"GPU: {found}", flush=True)
    if not (ferry.is_file() and os.access(ferry, os.X_OK)):
        print(f"ERROR: cannot run the GPU checks: no ferry binary at {ferry} (build it, or pass --ferry)")
        return 2
    missing = missing_libraries(ferry)
    if missing:
        print(f"ERROR: cannot run the GPU checks: {ferry} needs shared libraries this machine lacks: "
              f"{', '.join(missing)} (tests/gpu/bundle.sh packs them next to the binary)")
        return 2

    checks = Checks()
    home = Path(tempfile.mkdtemp(prefix="ferry-gpu-check-"))
    env = {**os.environ, "FERRY_SYSTEM_METRICS_INTERVAL": os.environ.get("FERRY_SYSTEM_METRICS_INTERVAL", "0.5")}
    server = Server(ferry, home / "home", env)
    code = 0
    try:
        if not shutil.which("nvidia-smi", path=env.get("PATH")):
            checks.add("nvidia-smi", False, "not on PATH: Ferry finds the node's GPUs with nvidia-smi, which the "
                                            "driver package installs; without it no run can ask for a GPU")
            raise StopIteration
        server.start(deadline)
        gpus = json.loads(server.cli("-o", "json", "compute", "show", "local").stdout)["details"].get("gpus") or []
        smi_uuids = {g["index"]: g["uuid"] for g in gpus}
        checks.add("discovery", len(gpus) > 0 and sorted(smi_uuids.values()) == sorted(uuids),
                   f"ferry compute show local lists {[(g['index'], g['uuid']) for g in gpus]}; CUDA sees {uuids}")
        if not gpus:
            raise StopIteration
        src = home / "src"
        src.mkdir()
        for f in ("job.py", "cuda.py"):
            shutil.copy(HERE / f, src / f)
        (src / "all.runconfig").write_text(runconfig(args.python, len(gpus)))
        (src / "one.runconfig").write_text(runconfig(args.python, 1))
        release = home / "release"

        # Run A holds every GPU until released; run B asks for one and must wait.
        a = submit(server, src, "all.runconfig", "--libcuda", libcuda, "--hold-mib", HOLD_MIB,
                   "--release", release, "--hold-timeout", max(30, int(deadline.left() - 60)))
        deadline.wait(lambda: server.run(a)["status"] in ("Running",) + TERMINAL, f"run {a} to start", limit=120)
        deadline.wait(lambda: "holding" in server.log(a) or server.run(a)["status"] in TERMINAL,
                      f"run {a} to hold the GPU", limit=120)
        b = submit(server, src, "one.runconfig", "--libcuda", libcuda, "--hold-mib", 64, "--busy", 1)

        def queued_for_gpu():
            rb = server.run(b)
            return rb if rb["status"] == "Queued" and "GPU" in rb.get("queue_reason", "") else None

        try:
            waiting = deadline.wait(queued_for_gpu, f"run {b} to wait for a GPU", limit=30)
            reason = waiting["queue_reason"]
        except TimeoutError as e:
            reason = None
            checks.add("queue", False, f"run {b} did not wait for the GPU held by run {a}: {e}")

        # A's system metrics: the memory it holds and a busy GPU, while B still waits.
        def metrics_seen():
            m = server.metrics(a)
            mem = [pt["value"] for pt in m.get("system/gpu_memory_used_mib", [])]
            util = [pt["value"] for pt in m.get("system/gpu_utilization_percent", [])]
            return (mem, util) if len(mem) >= 3 and max(mem) >= HOLD_MIB and util and max(util) > 0 else None

        try:
            mem, util = deadline.wait(metrics_seen, f"run {a}'s GPU metrics", limit=60)
            checks.add("system metrics", True, f"run {a}: system/gpu_memory_used_mib up to {max(mem):g} MiB "
                                               f"(it holds {HOLD_MIB}), system/gpu_utilization_percent up to "
                                               f"{max(util):g} over {len(util)} samples")
        except TimeoutError:
            m = server.metrics(a)
            got = {k: [pt["value"] for pt in v][-5:] for k, v in m.items() if k.startswith("system/gpu")}
            checks.add("system metrics", False, f"run {a} held {HOLD_MIB} MiB on a busy GPU but recorded {got or 'no GPU metrics'}"
                                                f"; log tail:\n{server.log(a)[-1500:]}")
        still = server.run(b)
        if reason is not None:
            ok = still["status"] == "Queued"
            checks.add("queue", ok, f"run {b} (1 GPU) waited while run {a} held all {len(gpus)}: "
                                    f"queue_reason {reason!r}; still {still['status']} after A's metrics")
        release.write_text("go")
        ra = deadline.wait(lambda: (lambda r: r if r["status"] in TERMINAL else None)(server.run(a)), f"run {a} to end", limit=60)
        rb = deadline.wait(lambda: (lambda r: r if r["status"] in TERMINAL else None)(server.run(b)), f"run {b} to end", limit=120)
        a_end = max(h["time"] for h in server.history(a) if h["status"] in TERMINAL)
        b_start = min((h["time"] for h in server.history(b) if h["status"] == "Preparing"), default=None)
        if reason is not None:
            ok = b_start is not None and b_start >= a_end and rb["status"] == "Completed"
            checks.add("queue order", ok, f"run {b} was placed after run {a} ended (placed at {b_start}, A ended at {a_end}; "
                                    f"B {rb['status']}, reason {[h['reason'] for h in server.history(b)][1:2]})")
        for name, run in (("run A, all GPUs", ra), ("run B, 1 GPU", rb)):
            log = server.log(run["id"])
            result = job_result(log)
            check_kernel(checks, name, run, result, log)
            if result is not None:
                check_visible(checks, name, run, result, smi_uuids)
        res_a = job_result(server.log(a)) or {}
        checks.add("release", bool(res_a.get("released")),
                   f"run {a} held the GPU until released ({res_a.get('spin_launches')} spin kernels)")
    except StopIteration:
        pass
    except CannotRun as e:
        print(f"ERROR: cannot run the GPU checks: {e}")
        code = 2
    except (TimeoutError, AssertionError, OSError, ValueError, KeyError) as e:
        checks.add("harness", False, f"{type(e).__name__}: {e}\nserver log tail:\n{server.server_log()}")
    finally:
        server.stop()
        kill_leftovers(home)
        if args.keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    passed = len(checks.results) - checks.failed
    print(f"gpu: {passed} passed, {checks.failed} failed")
    if args.report:
        Path(args.report).write_text(json.dumps({"gpu": found, "checks": [
            {"name": n, "ok": ok, "detail": d} for n, ok, d in checks.results]}, indent=2))
    if code:
        return code
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
