"""The GPU checks of tests/gpu (run on real hardware, never by `make test`) tested where there is
no GPU: they skip cleanly without one, their PTX is well formed (assembled by ptxas when one is
on PATH), and the whole harness runs end to end against a fake driver (tests/gpu/fake: the
kernels on the CPU, a fake nvidia-smi reading its state) with a real server, and fails when a
kernel's result is wrong. None of this says anything about real GPUs; tests/gpu/README.md does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GPU = REPO / "tests/gpu"
sys.path.insert(0, str(GPU))
import cuda  # noqa: E402
import ptx_lint  # noqa: E402


def run_check(ferry_bin, env: dict, timeout: float = 240) -> subprocess.CompletedProcess:
    """tests/gpu/run.sh as a person runs it; CUDA_VISIBLE_DEVICES only when `env` names it."""
    full = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    return subprocess.run([str(GPU / "run.sh"), str(ferry_bin), sys.executable, "--", "--timeout", "150"],
                          capture_output=True, text=True, timeout=timeout, env={**full, **env})


def test_without_a_gpu_the_check_skips_and_exits_0(ferry_bin):
    r = run_check(ferry_bin, {"FERRY_GPU_LIBCUDA": "none"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("SKIP: no GPU: no libcuda.so.1"), r.stdout


def test_make_test_does_not_collect_the_gpu_checks():
    recipe = [line for line in (REPO / "Makefile").read_text().splitlines() if "-m pytest" in line]
    assert recipe, "no pytest line in the Makefile"
    for line in recipe:
        assert "tests/gpu" not in line and not re.search(r"pytest\S*\s+(-\S+\s+)*tests/?(\s|$)", line), line


def test_the_ptx_is_well_formed():
    assert ptx_lint.lint(cuda.PTX, cuda.KERNELS) == []
    # The checker catches what it is for (so an empty answer above means something).
    broken = cuda.PTX.replace("%r8, %r7", "%r9, %r7").replace("[spin_cycles]", "[cycles]")
    problems = ptx_lint.lint(broken, cuda.KERNELS)
    assert any("%r9 is past its declaration" in p for p in problems), problems
    assert any("'cycles' is not a parameter of spin" in p for p in problems), problems


def test_the_ptx_assembles_with_ptxas(tmp_path):
    # ptxas comes from the wheel nvidia-cuda-nvcc-cu12 (requirements-dev.txt); FERRY_PTXAS or
    # PATH may name another.
    ptxas = os.environ.get("FERRY_PTXAS") or shutil.which("ptxas")
    if not ptxas:
        import nvidia.cuda_nvcc

        ptxas = str(Path(list(nvidia.cuda_nvcc.__path__)[0]) / "bin" / "ptxas")
    (tmp_path / "k.ptx").write_text(cuda.PTX)
    for arch in ("sm_50", "sm_80", "sm_90"):
        r = subprocess.run([ptxas, f"-arch={arch}", "-o", str(tmp_path / f"k.{arch}.cubin"), str(tmp_path / "k.ptx")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"{arch}: {r.stderr}"


def fake_gpu(tmp_path: Path, devices: int = 2, wrong: bool = False) -> dict:
    """Builds the fake driver and installs the fake nvidia-smi; the environment to run with."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler for the fake driver")
    state = tmp_path / "gpu-state"
    state.mkdir()
    lib = tmp_path / "fakecuda" / "libcuda.so.1"
    lib.parent.mkdir()
    flags = [f"-DDEVICES={devices}", f'-DSTATE_DIR="{state}"'] + (["-DWRONG"] if wrong else [])
    subprocess.run([cc, "-shared", "-fPIC", "-O1", *flags, "-o", str(lib), str(GPU / "fake/fake_libcuda.c")],
                   check=True, timeout=120)
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    text = (GPU / "fake/nvidia_smi.py").read_text().replace("@STATE_DIR@", str(state)).replace("@DEVICES@", str(devices))
    smi.write_text(f"#!{sys.executable}\n{text}")
    smi.chmod(0o755)
    env = {"FERRY_GPU_LIBCUDA": str(lib), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return env


def test_a_driver_without_devices_is_a_skip(ferry_bin, tmp_path):
    env = fake_gpu(tmp_path)
    r = run_check(ferry_bin, {**env, "CUDA_VISIBLE_DEVICES": ""})
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("SKIP: no GPU: ") and "CUDA_ERROR_NO_DEVICE" in r.stdout, r.stdout


def test_the_whole_check_passes_against_a_fake_driver(ferry_bin, tmp_path):
    env = fake_gpu(tmp_path)
    r = run_check(ferry_bin, env)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("discovery", "queue", "queue order", "system metrics", "kernel (run A, all GPUs)", "kernel (run B, 1 GPU)",
                 "visible devices (run A, all GPUs)", "visible devices (run B, 1 GPU)", "release"):
        assert re.search(rf"^PASS  {re.escape(name)}: ", r.stdout, re.M), (name, r.stdout)
    assert "CUDA_VISIBLE_DEVICES='0,1' for gpu_ids [0, 1]" in r.stdout, r.stdout
    assert "queue_reason 'waiting for 1 GPU(s) on local (0 free)'" in r.stdout, r.stdout
    assert re.search(r"^gpu: \d+ passed, 0 failed$", r.stdout, re.M), r.stdout


def test_a_wrong_kernel_result_fails_the_check(ferry_bin, tmp_path):
    env = fake_gpu(tmp_path, devices=1, wrong=True)
    r = run_check(ferry_bin, env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"^FAIL  kernel \(run A, all GPUs\): run Failed; 262144 results checked, 1 wrong", r.stdout, re.M), \
        r.stdout
