"""The script tests/gpu submits as a Ferry run: it puts real work on the GPUs the run was given,
through the CUDA driver API (cuda.py, next to it in the run's snapshot), and prints what it did
and saw as one JSON line starting with RESULT_PREFIX, which the harness reads from the run's log.

    python job.py --libcuda PATH [--hold-mib N] [--release FILE] [--hold-timeout S] [--busy S]

It runs axpb over 2^18 numbers and checks every result on the host, allocates --hold-mib MiB
more (touched, so the driver backs it) and keeps the GPU busy with spin kernels until FILE
exists (or --hold-timeout passes), else for --busy seconds: long enough for the agent's system
metrics to see the memory and the utilisation. Exit status: 0 when the kernel's results were
right, 1 when they were not, 3 on a CUDA error (the error is in the RESULT line).
"""

from __future__ import annotations

import argparse
import array
import ctypes
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cuda  # noqa: E402

RESULT_PREFIX = "FERRY_GPU_RESULT "
N = 1 << 18
A = 2654435761


def inputs(n: int) -> "array.array":
    return array.array("I", ((i * 40503 + 12345) & 0xFFFFFFFF for i in range(n)))


def run(args, result: dict) -> int:
    drv = cuda.Driver(args.libcuda)
    drv.init()
    result["driver_version"] = drv.driver_version()
    count = drv.device_count()
    result["device_count"] = count
    devices = [drv.device(i) for i in range(count)]
    result["uuids"] = [drv.device_uuid(d) for d in devices]
    result["names"] = [drv.device_name(d) for d in devices]
    if count == 0:
        return 3
    dev = devices[0]
    ctx = drv.create_context(dev)
    try:
        module = drv.load_module(cuda.PTX)
        axpb, spin = drv.function(module, "axpb"), drv.function(module, "spin")
        host_in = inputs(N)
        host_out = array.array("I", bytes(4 * N))
        d_in, d_out = drv.mem_alloc(4 * N), drv.mem_alloc(4 * N)
        in_buf = (ctypes.c_char * (4 * N)).from_buffer(host_in)
        out_buf = (ctypes.c_char * (4 * N)).from_buffer(host_out)
        drv.copy_to_device(d_in, in_buf, 4 * N)
        drv.memset_d32(d_out, 0xDEADBEEF, N)
        block = 256
        drv.launch(axpb, (N + block - 1) // block, block, d_out, d_in, ctypes.c_uint32(N), ctypes.c_uint32(A))
        drv.synchronize()
        drv.copy_to_host(out_buf, d_out, 4 * N)
        expected = cuda.expected_axpb(host_in, A)
        wrong = [i for i in range(N) if host_out[i] != expected[i]]
        result["kernel"] = {"n": N, "wrong": len(wrong), "first_wrong": wrong[:5],
                            "sample": [host_out[i] for i in (0, 1, N - 1)]}
        # Memory the system metrics must see: allocated and touched.
        held = drv.mem_alloc(args.hold_mib << 20)
        drv.memset_d32(held, 0x5A5A5A5A, (args.hold_mib << 20) // 4)
        drv.synchronize()
        free, total = drv.mem_info()
        result["mem_info_mib"] = {"free": free >> 20, "total": total >> 20}
        result["held_mib"] = args.hold_mib
        # Busy until released: spin kernels of about 50 ms each.
        try:  # deprecated in CUDA 12 and possibly gone later: then assume 2 GHz
            clock_khz = drv.attribute(cuda.CU_DEVICE_ATTRIBUTE_CLOCK_RATE, dev) or 2_000_000
        except cuda.CudaError:
            clock_khz = 2_000_000
        cycles = ctypes.c_uint64(clock_khz * 50)  # kHz x 50 = cycles in 50 ms
        deadline = time.monotonic() + (args.hold_timeout if args.release else args.busy)
        launches = 0
        print(f"holding {args.hold_mib} MiB on {result['uuids'][0]}, busy", flush=True)
        while time.monotonic() < deadline:
            if args.release and os.path.exists(args.release):
                break
            drv.launch(spin, 1, 32, cycles)
            drv.synchronize()
            launches += 1
        result["spin_launches"] = launches
        result["released"] = bool(args.release and os.path.exists(args.release))
        for p in (held, d_in, d_out):
            drv.mem_free(p)
    finally:
        drv.destroy_context(ctx)
    return 0 if not wrong else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--libcuda", default=None, help="the driver library (default: as the loader finds it)")
    p.add_argument("--hold-mib", type=int, default=512)
    p.add_argument("--release", default="", help="hold the GPU until this file exists")
    p.add_argument("--hold-timeout", type=float, default=120)
    p.add_argument("--busy", type=float, default=2)
    args = p.parse_args()
    result = {"cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "pid": os.getpid()}
    args.libcuda = args.libcuda or cuda.find_libcuda()
    if not args.libcuda:
        result["error"] = "no libcuda.so.1: the NVIDIA driver is not installed (or not visible to the run)"
        code = 3
    else:
        try:
            code = run(args, result)
        except cuda.CudaError as e:
            result["error"] = str(e)
            code = 3
        except OSError as e:  # the library does not load
            result["error"] = f"loading {args.libcuda}: {e}"
            code = 3
    result["exit"] = code
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
