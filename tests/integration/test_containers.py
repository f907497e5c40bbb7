"""Container runs (docker.enabled) through real rootful podman, offline: the image is
imported from a local root filesystem (tests/support/podman.py), the managed environment is
built inside the container from a local wheel directory and cached per image and spec."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from podman import Podman, ensure_python_image  # noqa: E402
from wheels import make_wheel  # noqa: E402

from test_runconfig import submit_script, write  # noqa: E402


@pytest.fixture(scope="module")
def podman(tmp_path_factory):
    reason = Podman.unavailable_reason()
    if reason:
        pytest.fail(f"rootful podman is required for container runs (scripts/setup.sh installs it): {reason}")
    pm = Podman(tmp_path_factory.mktemp("podman"))
    image = ensure_python_image(pm)
    yield pm, image
    pm.cleanup()


def container_config(image: str, managed: bool, extra: str = "") -> str:
    return (
        "script: job.py\n"
        "arguments: [--lr, '0.5']\n"
        "environment:\n"
        "  environmentVariables:\n"
        "    GREETING: from the runconfig\n"
        "  python:\n"
        f"    userManagedDependencies: {'false' if managed else 'true'}\n"
        "  docker:\n"
        "    enabled: true\n"
        f"    baseImage: {image}\n"
        "    shmSize: 256m\n"
        + ("requirementsFile: requirements.txt\n" if managed else "") + extra)


JOB = """
import os, sys
import ferrytestpkg
from ferry import Run
run = Run.get_context()
run.log("lr", float(sys.argv[2]))
print("in container:", os.path.exists("/bin/busybox") and not os.path.exists("/work/main"))
print("prefix:", sys.prefix)
print("greeting:", os.environ.get("GREETING"))
print("leaked:", os.environ.get("FERRY_TEST_HOST_ONLY"))
print("pkg:", ferrytestpkg.VERSION)
os.makedirs("outputs", exist_ok=True)
with open("outputs/result.txt", "w") as f:
    f.write("made in a container\\n")
import time
time.sleep(1.0)  # long enough for a few system-metric samples
"""


def test_container_run_builds_its_environment_inside_and_reuses_it(make_workspace, src, tmp_path, podman):
    pm, image = podman
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "ferrytestpkg", "3.0")
    ws = make_workspace(env={**pm.env, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels),
                             "FERRY_TEST_HOST_ONLY": "secret", "FERRY_SYSTEM_METRICS_INTERVAL": "0.2"})
    write(src / "requirements.txt", "ferrytestpkg==3.0\n")
    write(src / "job.py", JOB)
    write(src / "c.runconfig", container_config(image, managed=True))
    r = submit_script(ws, src, "-c", str(src / "c.runconfig"), "--wait")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "in container: True" in r.stdout, r.stdout
    assert "prefix: /ferry/envs/" in r.stdout
    assert "greeting: from the runconfig" in r.stdout
    assert "leaked: None" in r.stdout
    assert "pkg: 3.0" in r.stdout
    assert "[ferry] building environment" in r.stdout and "with pip (python 3.11" in r.stdout, r.stdout
    run = ws.cli_json("run", "list", "--limit", "1")["runs"][0]
    assert run["docker"]["base_image"] == image and run["python"] == "python3"
    out = tmp_path / "dl"
    ws.cli("run", "download", run["id"], "--output-dir", out)
    assert (out / "outputs" / "result.txt").read_text() == "made in a container\n"
    assert "ferrytestpkg==3.0" in (out / "environment" / "freeze.txt").read_text()
    status, body, _ = ws.api("GET", f"/runs/{run['id']}/metrics")
    assert [p["value"] for p in body["metrics"]["lr"]] == [0.5]
    # The container's processes are sampled too (they are not the agent's children).
    assert max(p["value"] for p in body["metrics"]["system/memory_rss_mib"]) > 1
    # The environment is cached per image: the next run reuses it.
    r = submit_script(ws, src, "-c", str(src / "c.runconfig"), "--wait")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[ferry] reusing environment" in r.stdout and "building environment" not in r.stdout
    cached = [p for p in (ws.home / "envs" / "containers").iterdir()]
    assert len(cached) == 1, cached
    # No container is left behind.
    assert not [c for c in pm.run("ps", "-a", "--format", "{{.Names}}").stdout.split() if c.startswith("ferry-")]


def test_canceling_a_container_run_stops_the_script_gracefully(make_workspace, src, tmp_path, podman):
    pm, image = podman
    ws = make_workspace(env=pm.env)
    write(src / "job.py", """
        import signal, sys, time
        def stop(sig, frame):
            print("got SIGTERM, saving a checkpoint", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        print("started", flush=True)
        time.sleep(120)
    """)
    write(src / "c.runconfig", container_config(image, managed=False))
    run_id = ws.cli("run", "submit-script", "-d", src, "-c", str(src / "c.runconfig")).stdout.strip()
    ws.wait_status(run_id, "Running", timeout=60)
    from conftest import wait_until
    wait_until(lambda: "started" in ws.log(run_id), 60, "the script to start")
    ws.cli("run", "cancel", run_id)
    assert ws.wait_status(run_id, ["Canceled", "Failed", "Completed"], timeout=60)["status"] == "Canceled"
    assert "got SIGTERM, saving a checkpoint" in ws.log(run_id)
    assert f"ferry-{run_id}" not in pm.run("ps", "-a", "--format", "{{.Names}}").stdout


def test_missing_image_fails_the_run_with_what_to_do(make_workspace, src, podman):
    pm, _ = podman
    ws = make_workspace(env=pm.env)
    write(src / "job.py", "print('never')\n")
    write(src / "c.runconfig", container_config("localhost/ferry-no-such-image:1", managed=False))
    r = submit_script(ws, src, "-c", str(src / "c.runconfig"), "--wait")
    assert r.returncode == 1
    run = ws.cli_json("run", "list", "--limit", "1")["runs"][0]
    assert run["status"] == "Failed"
    assert "localhost/ferry-no-such-image:1" in run["error"] and "pull or import the image" in run["error"], run["error"]
