"""Self-test of tests/support/podman.py on this machine (root, podman + runc installed):

    .venv/bin/python tests/support/podman_selftest.py [--keep]

Builds/imports the Python image, runs containers with bind mounts, -e, -w, --network=host and
--name, makes a venv in a container and pip-installs a wheel offline, checks exit codes, signal
delivery and output streaming, then removes everything it made. Prints a timing for each step;
exits non-zero when a check fails (2 when podman is not usable here).
"""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from podman import Podman, ensure_python_image, python_rootfs_tarball  # noqa: E402
from wheels import make_wheel  # noqa: E402

failures: list[str] = []


def step(what: str, t0: float, ok: bool = True, detail: str = "", info: bool = False) -> None:
    """Prints PASS/FAIL (or INFO: a known-unreliable behaviour, reported, never a failure)."""
    ms = (time.monotonic() - t0) * 1000
    tag = ("INFO" if info else "PASS") if ok or info else "FAIL"
    print(f"{tag} {ms:8.0f} ms  {what}{'  ' + detail if detail else ''}", flush=True)
    if not ok and not info:
        failures.append(what)


def readline_within(stream, timeout: float) -> str | None:
    r, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if r else None


def state(pm: Podman, name: str) -> str:
    p = pm.run("inspect", "--format", "{{.State.Status}}", name, check=False)
    return p.stdout.strip() if p.returncode == 0 else "gone"


def wait_exit(proc: subprocess.Popen, timeout: float) -> int | None:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def main() -> int:
    reason = Podman.unavailable_reason()
    if reason:
        print(f"SKIP: {reason}")
        return 2
    keep = "--keep" in sys.argv
    scratch = Path(tempfile.mkdtemp(prefix="ferry-podman-selftest-"))
    pm = Podman(scratch / "podman")
    print(f"state dir {pm.root}; env {pm.env}")
    try:
        run_checks(pm, scratch)
    finally:
        t = time.monotonic()
        pm.cleanup()
        leftover = [c for c in ("podman",) if (scratch / c).exists()]
        step("cleanup (rm -af, system reset, rm state dir)", t, not leftover)
        if not keep:
            subprocess.run(["rm", "-rf", str(scratch)])
    print(f"failures: {len(failures)}" + (f" ({', '.join(failures)})" if failures else ""))
    return 1 if failures else 0


def run_checks(pm: Podman, scratch: Path) -> None:
    t = time.monotonic()
    tarball, _ = python_rootfs_tarball()
    step("rootfs tarball (built once, then cached by content hash)", t, True,
         f"{tarball} {tarball.stat().st_size / 1e6:.1f} MB")

    t = time.monotonic()
    image = ensure_python_image(pm)
    step("podman import into fresh storage", t, pm.image_exists(image), image)
    t = time.monotonic()
    ensure_python_image(pm)
    step("ensure_python_image again (already present)", t)

    for i in range(2):
        t = time.monotonic()
        p = pm.run(*pm.run_argv(image, "python3", "-c", "import sys; print(sys.version)"), check=False)
        step(f"run python3 -c 'print(sys.version)' #{i + 1}", t,
             p.returncode == 0 and p.stdout.startswith("3.11"), p.stdout.strip() or p.stderr.strip())

    # A script from a bind-mounted dir, with -e, -w, --name; its exit code comes back.
    work = scratch / "work"
    work.mkdir()
    (work / "job.py").write_text(
        "import os, sys\n"
        "print(os.getcwd(), os.environ['FERRY_X'], open('input.txt').read().strip())\n"
        "open('out.txt', 'w').write('written in container')\n"
        "sys.exit(3)\n")
    (work / "input.txt").write_text("from host\n")
    argv = pm.run_argv(image, "python3", "job.py", name="ferry-st-job", volumes={str(work): "/work"},
                       env={"FERRY_X": "hello"}, workdir="/work")
    print("      podman " + " ".join(argv))
    t = time.monotonic()
    p = pm.run(*argv, check=False)
    ok = (p.returncode == 3 and p.stdout.strip() == "/work hello from host"
          and (work / "out.txt").read_text() == "written in container")
    step("script on bind mount, -e, -w, --name, exit code 3 passed through", t, ok,
         f"rc={p.returncode} out={p.stdout.strip()!r} err={p.stderr.strip()[-200:]!r}")
    step("--rm removed the named container", time.monotonic(), state(pm, "ferry-st-job") == "gone")

    # venv with pip on a bind-mounted host dir, offline install of a wheel made on the host
    wheels = scratch / "wheels"
    make_wheel(wheels, "ferrydemo", "1.2.3")
    vols = {str(work): "/work", str(wheels): "/wheels:ro"}
    t = time.monotonic()
    p = pm.run(*pm.run_argv(image, "python3", "-m", "venv", "/work/venv", volumes=vols), check=False)
    step("python3 -m venv /work/venv (with ensurepip)", t,
         p.returncode == 0 and (work / "venv/bin/pip").exists(), p.stderr.strip()[-300:])
    t = time.monotonic()
    p = pm.run(*pm.run_argv(image, "/work/venv/bin/pip", "install", "--no-index", "--find-links", "/wheels",
                            "ferrydemo", volumes=vols), check=False)
    step("pip install --no-index --find-links /wheels ferrydemo", t, p.returncode == 0,
         (p.stdout.strip().splitlines() or [""])[-1] + p.stderr.strip()[-300:])
    t = time.monotonic()
    p = pm.run(*pm.run_argv(image, "/work/venv/bin/python", "-c", "import ferrydemo; print(ferrydemo.VERSION)",
                            volumes=vols), check=False)
    step("import the installed wheel from the venv", t, p.stdout.strip() == "1.2.3", p.stdout.strip() + p.stderr.strip())

    # Output streaming: podman run (no -t) relays the container's stdout/stderr as they come.
    sleeper = ("import sys, time; print('ready', flush=True); print('err-ready', file=sys.stderr, flush=True); "
               "time.sleep(120)")
    t = time.monotonic()
    proc = pm.popen(*pm.run_argv(image, "python3", "-c", sleeper, name="ferry-st-sleep", rm=False),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = readline_within(proc.stdout, 20)
    err = readline_within(proc.stderr, 5)
    step("stdout and stderr stream while the container runs", t, out == "ready\n" and err == "err-ready\n",
         f"{out!r} {err!r}")

    # PID 1 is python: the kernel drops signals it has no handler for (SIGTERM included).
    t = time.monotonic()
    pm.run("kill", "--signal", "TERM", "ferry-st-sleep", check=False)
    rc = wait_exit(proc, 3)
    step("podman kill --signal TERM (no --init): python as PID 1 ignores it", t, rc is None,
         f"rc={rc} state={state(pm, 'ferry-st-sleep')}")
    t = time.monotonic()
    pm.run("kill", "ferry-st-sleep", check=False)  # SIGKILL
    rc = wait_exit(proc, 20)
    step("podman kill (SIGKILL) -> podman run exits 137", t, rc == 137, f"rc={rc}")
    t = time.monotonic()
    pm.run("rm", "-f", "ferry-st-sleep", check=False)
    step("podman rm -f", t, state(pm, "ferry-st-sleep") == "gone")

    # --init (catatonit as PID 1) forwards SIGTERM to python -> default action, rc 143
    t = time.monotonic()
    proc = pm.popen(*pm.run_argv(image, "python3", "-c", sleeper, name="ferry-st-init", init=True),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = readline_within(proc.stdout, 20)
    step("run --init started", t, out == "ready\n", repr(out))
    t = time.monotonic()
    pm.run("kill", "--signal", "TERM", "ferry-st-init", check=False)
    rc = wait_exit(proc, 10)
    step("podman kill --signal TERM with --init -> rc 143", t, rc == 143, f"rc={rc}")

    # A python PID 1 that installs a SIGTERM handler gets the signal.
    handler = ("import signal, sys, time\n"
               "signal.signal(signal.SIGTERM, lambda *a: (print('got TERM', flush=True), sys.exit(7)))\n"
               "print('ready', flush=True); time.sleep(120)\n")
    proc = pm.popen(*pm.run_argv(image, "python3", "-c", handler, name="ferry-st-handler"),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    readline_within(proc.stdout, 20)
    t = time.monotonic()
    pm.run("kill", "--signal", "TERM", "ferry-st-handler", check=False)
    rc = wait_exit(proc, 10)
    got = proc.stdout.read()
    step("SIGTERM reaches a PID 1 with a handler", t, rc == 7 and "got TERM" in got, f"rc={rc} {got.strip()!r}")

    # SIGTERM to the `podman run` client is proxied into the container (--sig-proxy, the default),
    # but podman 4.3 installs the proxy only after start/attach (fixed in 4.4, podman PR #17489):
    # a signal soon after start can be lost. Informational; cancel with `podman kill` instead.
    proc = pm.popen(*pm.run_argv(image, "python3", "-c", sleeper, name="ferry-st-proxy", init=True),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    readline_within(proc.stdout, 20)
    time.sleep(0.5)
    t = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rc = wait_exit(proc, 5)
    step("SIGTERM to the podman client is proxied (--init) -> rc 143 (racy in podman 4.3)", t, rc == 143,
         f"rc={rc} state={state(pm, 'ferry-st-proxy')}", info=True)
    if rc is None:
        pm.run("rm", "-f", "-t", "0", "ferry-st-proxy", check=False)
        wait_exit(proc, 20)

    # SIGKILL to the podman client leaves the container running: podman rm -f is needed.
    proc = pm.popen(*pm.run_argv(image, "python3", "-c", sleeper, name="ferry-st-orphan"),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    readline_within(proc.stdout, 20)
    proc.kill()
    proc.wait()
    time.sleep(0.5)
    st = state(pm, "ferry-st-orphan")
    step("SIGKILL to the podman client: container keeps running", time.monotonic(), st == "running", st)
    t = time.monotonic()
    pm.run("rm", "-f", "-t", "0", "ferry-st-orphan", check=False)
    step("podman rm -f -t 0 of the orphan", t, state(pm, "ferry-st-orphan") == "gone")

    left = pm.container_ids()
    step("no containers left", time.monotonic(), not left, " ".join(c[:12] for c in left))


if __name__ == "__main__":
    sys.exit(main())
