"""The CUDA driver API through ctypes, and a small PTX module: what tests/gpu needs to put work
on a GPU with nothing installed but the NVIDIA driver (libcuda.so.1), no CUDA toolkit, no torch.

The driver JIT-compiles the PTX text for whatever GPU it runs on (cuModuleLoadDataEx), so one
text serves every architecture from sm_50 on. Python standard library only: this file runs both
in the harness (gpu_check.py) and inside the Ferry runs it submits (job.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# Two kernels. axpb: out[i] = in[i] * a + i (32-bit, wrapping), for i < n; its result is checked
# on the host. spin: busy-waits `cycles` clock cycles, so the GPU is busy while nvidia-smi samples.
PTX = r"""
.version 6.0
.target sm_50
.address_size 64

.visible .entry axpb(
	.param .u64 axpb_out,
	.param .u64 axpb_in,
	.param .u32 axpb_n,
	.param .u32 axpb_a
)
{
	.reg .pred 	%p<2>;
	.reg .b32 	%r<9>;
	.reg .b64 	%rd<8>;

	ld.param.u64 	%rd1, [axpb_out];
	ld.param.u64 	%rd2, [axpb_in];
	ld.param.u32 	%r1, [axpb_n];
	ld.param.u32 	%r2, [axpb_a];
	mov.u32 	%r3, %ctaid.x;
	mov.u32 	%r4, %ntid.x;
	mov.u32 	%r5, %tid.x;
	mad.lo.s32 	%r6, %r3, %r4, %r5;
	setp.ge.u32 	%p1, %r6, %r1;
	@%p1 bra 	$L__axpb_done;
	cvta.to.global.u64 	%rd3, %rd1;
	cvta.to.global.u64 	%rd4, %rd2;
	mul.wide.u32 	%rd5, %r6, 4;
	add.s64 	%rd6, %rd4, %rd5;
	ld.global.u32 	%r7, [%rd6];
	mad.lo.s32 	%r8, %r7, %r2, %r6;
	add.s64 	%rd7, %rd3, %rd5;
	st.global.u32 	[%rd7], %r8;
$L__axpb_done:
	ret;
}

.visible .entry spin(
	.param .u64 spin_cycles
)
{
	.reg .pred 	%p<2>;
	.reg .b64 	%rd<5>;

	ld.param.u64 	%rd1, [spin_cycles];
	mov.u64 	%rd2, %clock64;
$L__spin_loop:
	mov.u64 	%rd3, %clock64;
	sub.s64 	%rd4, %rd3, %rd2;
	setp.lt.u64 	%p1, %rd4, %rd1;
	@%p1 bra 	$L__spin_loop;
	ret;
}
"""

KERNELS = ("axpb", "spin")

CUDA_SUCCESS = 0
CUDA_ERROR_NO_DEVICE = 100
CU_DEVICE_ATTRIBUTE_CLOCK_RATE = 13  # kHz
CU_JIT_ERROR_LOG_BUFFER = 5
CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6


class CudaError(Exception):
    def __init__(self, call: str, code: int, name: str, detail: str = "") -> None:
        super().__init__(f"{call} failed: {name} ({code}){': ' + detail if detail else ''}")
        self.code = code


def find_libcuda() -> "str | None":
    """The driver library: FERRY_GPU_LIBCUDA when set (a path, or "none" for none), else
    libcuda.so.1 as the dynamic loader finds it. None when there is none."""
    forced = os.environ.get("FERRY_GPU_LIBCUDA")
    if forced:
        return None if forced == "none" or not os.path.exists(forced) else forced
    for name in ("libcuda.so.1", ctypes.util.find_library("cuda")):
        if not name:
            continue
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return loaded_path(name) or name
    return None


def loaded_path(name: str) -> "str | None":
    """The file the loader mapped for `name` (from /proc/self/maps), so that a run, whose
    environment may not carry LD_LIBRARY_PATH, loads the very same library."""
    base = os.path.basename(name).split(".so")[0] + ".so"
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split(maxsplit=5)[-1].strip()
                if os.path.basename(path).startswith(base):
                    return path
    except OSError:
        pass
    return None


class Driver:
    """The few driver calls the GPU test makes. Every call checks its CUresult and raises
    CudaError naming the call and the error."""

    def __init__(self, path: str) -> None:
        self.lib = ctypes.CDLL(path)
        self.path = path

    def _fn(self, name: str):
        # Since CUDA 3.2 several entry points have a _v2 symbol (64-bit sizes and pointers);
        # cuda.h maps the plain name to it, so call it where it exists.
        for symbol in (name + "_v2", name):
            try:
                return getattr(self.lib, symbol)
            except AttributeError:
                continue
        raise CudaError(name, -1, "symbol not found in " + self.path)

    def error_name(self, code: int) -> str:
        s = ctypes.c_char_p()
        try:
            if self.lib.cuGetErrorName(code, ctypes.byref(s)) == CUDA_SUCCESS and s.value:
                return s.value.decode()
        except AttributeError:
            pass
        return "CUDA error"

    def call(self, name: str, *args, detail: str = "") -> None:
        code = self._fn(name)(*args)
        if code != CUDA_SUCCESS:
            raise CudaError(name, code, self.error_name(code), detail)

    # ---- devices
    def init(self) -> None:
        self.call("cuInit", ctypes.c_uint(0))

    def driver_version(self) -> int:
        v = ctypes.c_int()
        self.call("cuDriverGetVersion", ctypes.byref(v))
        return v.value

    def device_count(self) -> int:
        n = ctypes.c_int()
        self.call("cuDeviceGetCount", ctypes.byref(n))
        return n.value

    def device(self, ordinal: int) -> int:
        d = ctypes.c_int()
        self.call("cuDeviceGet", ctypes.byref(d), ctypes.c_int(ordinal))
        return d.value

    def device_name(self, dev: int) -> str:
        buf = ctypes.create_string_buffer(256)
        self.call("cuDeviceGetName", buf, ctypes.c_int(len(buf)), ctypes.c_int(dev))
        return buf.value.decode(errors="replace")

    def device_uuid(self, dev: int) -> str:
        """As nvidia-smi writes it: GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx."""
        raw = (ctypes.c_ubyte * 16)()
        # cuDeviceGetUuid_v2 (CUDA 11.4) names MIG instances; for a whole GPU both agree.
        self.call("cuDeviceGetUuid", raw, ctypes.c_int(dev))
        h = bytes(raw).hex()
        return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def attribute(self, attr: int, dev: int) -> int:
        v = ctypes.c_int()
        self.call("cuDeviceGetAttribute", ctypes.byref(v), ctypes.c_int(attr), ctypes.c_int(dev))
        return v.value

    # ---- context, module, memory, launch
    def create_context(self, dev: int) -> ctypes.c_void_p:
        ctx = ctypes.c_void_p()
        self.call("cuCtxCreate", ctypes.byref(ctx), ctypes.c_uint(0), ctypes.c_int(dev))
        return ctx

    def destroy_context(self, ctx: ctypes.c_void_p) -> None:
        self.call("cuCtxDestroy", ctx)

    def load_module(self, ptx: str) -> ctypes.c_void_p:
        """JIT-compiles the PTX text; the driver's error log goes into the error."""
        module = ctypes.c_void_p()
        log = ctypes.create_string_buffer(8192)
        options = (ctypes.c_int * 2)(CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
        values = (ctypes.c_void_p * 2)(ctypes.cast(log, ctypes.c_void_p), ctypes.c_void_p(len(log)))
        image = ctypes.c_char_p(ptx.encode() + b"\0")
        try:
            self.call("cuModuleLoadDataEx", ctypes.byref(module), image, ctypes.c_uint(2), options, values)
        except CudaError as e:
            raise CudaError("cuModuleLoadDataEx", e.code, self.error_name(e.code),
                            log.value.decode(errors="replace").strip() or "no JIT log") from None
        return module

    def function(self, module: ctypes.c_void_p, name: str) -> ctypes.c_void_p:
        f = ctypes.c_void_p()
        self.call("cuModuleGetFunction", ctypes.byref(f), module, name.encode())
        return f

    def mem_alloc(self, size: int) -> ctypes.c_uint64:
        ptr = ctypes.c_uint64()
        self.call("cuMemAlloc", ctypes.byref(ptr), ctypes.c_size_t(size), detail=f"{size} bytes")
        return ptr

    def mem_free(self, ptr: ctypes.c_uint64) -> None:
        self.call("cuMemFree", ptr)

    def memset_d32(self, ptr: ctypes.c_uint64, value: int, count: int) -> None:
        self.call("cuMemsetD32", ptr, ctypes.c_uint(value), ctypes.c_size_t(count))

    def copy_to_device(self, dst: ctypes.c_uint64, src, size: int) -> None:
        self.call("cuMemcpyHtoD", dst, src, ctypes.c_size_t(size))

    def copy_to_host(self, dst, src: ctypes.c_uint64, size: int) -> None:
        self.call("cuMemcpyDtoH", dst, src, ctypes.c_size_t(size))

    def mem_info(self) -> "tuple[int, int]":
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        self.call("cuMemGetInfo", ctypes.byref(free), ctypes.byref(total))
        return free.value, total.value

    def launch(self, f: ctypes.c_void_p, grid: int, block: int, *args) -> None:
        """Launches f on the default stream with `args` (ctypes values, in the kernel's order)."""
        params = (ctypes.c_void_p * len(args))(*[ctypes.cast(ctypes.pointer(a), ctypes.c_void_p) for a in args])
        self.call("cuLaunchKernel", f, ctypes.c_uint(grid), ctypes.c_uint(1), ctypes.c_uint(1),
                  ctypes.c_uint(block), ctypes.c_uint(1), ctypes.c_uint(1), ctypes.c_uint(0), ctypes.c_void_p(0),
                  params, ctypes.c_void_p(0))

    def synchronize(self) -> None:
        self.call("cuCtxSynchronize")


def expected_axpb(inputs, a: int) -> "list[int]":
    """What axpb computes, on the host."""
    return [(x * a + i) & 0xFFFFFFFF for i, x in enumerate(inputs)]
