"""GPUs on the local target, against a fake nvidia-smi on the server's PATH: each run gets its
own CUDA_VISIBLE_DEVICES slice, runs wait for GPUs like for slots, and the agent records
system metrics (CPU, memory, GPU utilisation and memory) under system/."""

from __future__ import annotations

import os
import sys
import textwrap
import time

from test_runconfig import submit_script, write

# Two GPUs. --query-gpu=index,utilization.gpu,memory.used reports utilisation 40+index and
# 1000+index MiB for the devices named with --id (all without it).
FAKE_SMI = r"""#!/bin/sh
ids=""
query=""
for a in "$@"; do
  case "$a" in
    --id=*) ids="${a#--id=}" ;;
    --query-gpu=*) query="${a#--query-gpu=}" ;;
  esac
done
echo "$*" >> "$(dirname "$0")/calls.log"
case "$query" in
  index,name,uuid,memory.total)
    echo "0, Fake GPU 80GB, GPU-fake-0, 81920"
    echo "1, Fake GPU 80GB, GPU-fake-1, 81920" ;;
  index,utilization.gpu,memory.used)
    for i in $(echo "${ids:-0,1}" | tr ',' ' '); do echo "$i, $((40 + i)), $((1000 + i))"; done ;;
  *) echo "unexpected query: $*" >&2; exit 2 ;;
esac
"""


def gpu_workspace(make_workspace, tmp_path, **env):
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(FAKE_SMI)
    smi.chmod(0o755)
    base = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    base.pop("CUDA_VISIBLE_DEVICES", None)
    return make_workspace(max_runs=4, env={**base, **env})


def gpu_config(gpus: int, script: str = "job.py") -> str:
    return textwrap.dedent(f"""\
        script: {script}
        environment:
          python:
            userManagedDependencies: true
            interpreterPath: {sys.executable}
        resources:
          gpus: {gpus}
        """)


WAIT_JOB = """
import os, sys, time
print("visible=" + repr(os.environ.get("CUDA_VISIBLE_DEVICES")), flush=True)
release = sys.argv[1]
while not os.path.exists(release):
    time.sleep(0.05)
"""


def test_runs_get_disjoint_gpus_and_wait_for_them(make_workspace, src, tmp_path):
    ws = gpu_workspace(make_workspace, tmp_path)
    gpus = ws.cli_json("compute", "show", "local")["details"]["gpus"]
    assert [(g["index"], g["uuid"]) for g in gpus] == [(0, "GPU-fake-0"), (1, "GPU-fake-1")]
    write(src / "job.py", WAIT_JOB)
    write(src / "one.runconfig", gpu_config(1))
    release = tmp_path / "release"
    ids = [ws.cli("run", "submit-script", "-d", src, "-c", str(src / "one.runconfig"), "--", str(release))
           .stdout.strip() for _ in range(3)]
    # Two GPUs: two runs start, the third waits in the queue (slots are free: max_runs=4).
    for run_id in ids[:2]:
        ws.wait_status(run_id, "Running", timeout=60)
    time.sleep(1.0)
    assert ws.run(ids[2])["status"] == "Queued"
    given = [ws.run(i)["gpu_ids"] for i in ids[:2]]
    assert sorted(given) == [[0], [1]], given
    release.write_text("go")
    for run_id in ids:
        assert ws.wait_status(run_id, ["Completed", "Failed"], timeout=60)["status"] == "Completed", ws.log(run_id)
    seen = [ws.log(i).splitlines()[0] for i in ids[:2]]
    assert sorted(seen) == ["visible='0'", "visible='1'"], seen
    third = ws.run(ids[2])
    assert len(third["gpu_ids"]) == 1 and f"visible='{third['gpu_ids'][0]}'" in ws.log(ids[2])
    assert any("with GPU" in h["reason"] for h in ws.history(ids[2]))


def test_runs_without_gpus_see_none_and_oversized_requests_are_refused(make_workspace, src, tmp_path):
    ws = gpu_workspace(make_workspace, tmp_path)
    write(src / "job.py", "import os\nprint('visible=' + repr(os.environ.get('CUDA_VISIBLE_DEVICES')))\n")
    write(src / "none.runconfig", gpu_config(0))
    r = submit_script(ws, src, "-c", str(src / "none.runconfig"), "--wait")
    assert r.returncode == 0 and "visible=''" in r.stdout, r.stdout + r.stderr
    before = ws.run_count()
    write(src / "three.runconfig", gpu_config(3))
    r = submit_script(ws, src, "-c", str(src / "three.runconfig"))
    assert r.returncode == 1
    assert "asks for 3 GPU(s)" in r.stderr and "'local' has 2" in r.stderr, r.stderr
    assert ws.run_count() == before


def test_without_nvidia_smi_gpu_runs_are_refused_with_the_reason(workspace, src):
    write(src / "job.py", "print('x')\n")
    write(src / "one.runconfig", gpu_config(1))
    r = submit_script(workspace, src, "-c", str(src / "one.runconfig"))
    assert r.returncode == 1 and "no GPU was found with nvidia-smi" in r.stderr, r.stderr


def test_system_metrics_cover_cpu_memory_and_the_runs_gpus(make_workspace, src, tmp_path):
    ws = gpu_workspace(make_workspace, tmp_path, FERRY_SYSTEM_METRICS_INTERVAL="0.2")
    # A child process that burns CPU and holds ~64 MiB: the whole tree is measured.
    write(src / "job.py", """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c",
            "import time\\nb = bytearray(64 << 20)\\nfor i in range(0, len(b), 4096): b[i] = 1\\n"
            "end = time.time() + 1.5\\nwhile time.time() < end: pass"])
        child.wait()
        time.sleep(0.3)
    """)
    write(src / "one.runconfig", gpu_config(1))
    r = submit_script(ws, src, "-c", str(src / "one.runconfig"), "--wait")
    assert r.returncode == 0, r.stdout + r.stderr
    run_id = ws.cli_json("run", "list", "--limit", "1")["runs"][0]["id"]
    gpu = ws.run(run_id)["gpu_ids"][0]
    status, body, _ = ws.api("GET", f"/runs/{run_id}/metrics")
    assert status == 200
    m = body["metrics"]
    assert {"system/cpu_percent", "system/memory_rss_mib", "system/gpu_utilization_percent",
            "system/gpu_memory_used_mib"} <= set(m), sorted(m)
    assert max(p["value"] for p in m["system/cpu_percent"]) > 20
    assert max(p["value"] for p in m["system/memory_rss_mib"]) > 60
    assert {p["value"] for p in m["system/gpu_utilization_percent"]} == {40 + gpu}
    assert {p["value"] for p in m["system/gpu_memory_used_mib"]} == {1000 + gpu}
    steps = [p["step"] for p in m["system/memory_rss_mib"]]
    assert steps == sorted(steps) and len(steps) >= 3
    # Only the run's own device was sampled.
    calls = (tmp_path / "fakebin" / "calls.log").read_text()
    assert f"--id={gpu}" in calls and "--id=0,1" not in calls
