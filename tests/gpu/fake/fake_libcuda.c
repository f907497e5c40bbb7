/* A stand-in for libcuda.so.1 that runs the GPU checks' two kernels on the CPU, so the harness
 * (tests/gpu/gpu_check.py) and the in-run script (job.py) can be exercised on a machine without
 * a GPU: tests/integration/test_gpu_harness.py builds it with cc. It is not a model of the
 * driver beyond what those scripts call, and it proves nothing about real hardware.
 *
 * Set when it is built (a run's environment need not carry the test's variables):
 *   -DDEVICES=N        the node's devices (default 2); CUDA_VISIBLE_DEVICES (indices) filters
 *                      them as the driver does, and none visible makes cuInit fail with
 *                      CUDA_ERROR_NO_DEVICE. Device i's UUID is GPU-fa4e0000-0000-0000-0000-0000000000<i>.
 *   -DSTATE_DIR='"…"'  where the memory a process holds on device i and the time of its last
 *                      kernel go, as mem<i>.<pid> and busy<i>.<pid> (removed with its context),
 *                      for the fake nvidia-smi to report.
 *   -DWRONG            axpb gets one result wrong (the checks must notice).
 * The module must be PTX text that defines the entries axpb and spin (anything else is
 * CUDA_ERROR_INVALID_PTX). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef DEVICES
#define DEVICES 2
#endif

typedef int CUresult;
enum {
  OK = 0,
  INVALID_VALUE = 1,
  NOT_INITIALIZED = 3,
  NO_DEVICE = 100,
  INVALID_DEVICE = 101,
  INVALID_CONTEXT = 201,
  INVALID_PTX = 218,
  NOT_FOUND = 500,
};

static int visible[16], n_visible = -1, current = -1;
static long long held_bytes;

static void write_state(const char* what, long long value) {
#ifdef STATE_DIR
  if (current < 0) return;
  char path[4096];
  snprintf(path, sizeof path, "%s/%s%d.%d", STATE_DIR, what, visible[current], (int)getpid());
  FILE* f = fopen(path, "w");
  if (!f) return;
  fprintf(f, "%lld\n", value);
  fclose(f);
#endif
}

static void remove_state(void) {
#ifdef STATE_DIR
  if (current < 0) return;
  char path[4096];
  snprintf(path, sizeof path, "%s/mem%d.%d", STATE_DIR, visible[current], (int)getpid());
  unlink(path);
  snprintf(path, sizeof path, "%s/busy%d.%d", STATE_DIR, visible[current], (int)getpid());
  unlink(path);
#endif
}

CUresult cuGetErrorName(CUresult e, const char** s) {
  switch (e) {
    case OK: *s = "CUDA_SUCCESS"; return OK;
    case INVALID_VALUE: *s = "CUDA_ERROR_INVALID_VALUE"; return OK;
    case NOT_INITIALIZED: *s = "CUDA_ERROR_NOT_INITIALIZED"; return OK;
    case NO_DEVICE: *s = "CUDA_ERROR_NO_DEVICE"; return OK;
    case INVALID_DEVICE: *s = "CUDA_ERROR_INVALID_DEVICE"; return OK;
    case INVALID_CONTEXT: *s = "CUDA_ERROR_INVALID_CONTEXT"; return OK;
    case INVALID_PTX: *s = "CUDA_ERROR_INVALID_PTX"; return OK;
    case NOT_FOUND: *s = "CUDA_ERROR_NOT_FOUND"; return OK;
  }
  return INVALID_VALUE;
}

CUresult cuInit(unsigned flags) {
  if (flags != 0) return INVALID_VALUE;
  const int total = DEVICES;
  const char* cvd = getenv("CUDA_VISIBLE_DEVICES");
  n_visible = 0;
  if (!cvd) {
    for (int i = 0; i < total && i < 16; ++i) visible[n_visible++] = i;
  } else {
    const char* p = cvd;
    while (*p && n_visible < 16) {  // indices up to the first invalid one, as the driver reads them
      char* end;
      long v = strtol(p, &end, 10);
      if (end == p || v < 0 || v >= total) break;
      visible[n_visible++] = (int)v;
      p = *end == ',' ? end + 1 : end;
      if (*end != ',') break;
    }
  }
  return n_visible == 0 ? NO_DEVICE : OK;
}

CUresult cuDriverGetVersion(int* v) {
  *v = 12040;
  return OK;
}

CUresult cuDeviceGetCount(int* n) {
  if (n_visible < 0) return NOT_INITIALIZED;
  *n = n_visible;
  return OK;
}

CUresult cuDeviceGet(int* dev, int ordinal) {
  if (n_visible < 0) return NOT_INITIALIZED;
  if (ordinal < 0 || ordinal >= n_visible) return INVALID_DEVICE;
  *dev = ordinal;
  return OK;
}

CUresult cuDeviceGetName(char* name, int len, int dev) {
  if (dev < 0 || dev >= n_visible) return INVALID_DEVICE;
  snprintf(name, (size_t)len, "Fake GPU %d", visible[dev]);
  return OK;
}

CUresult cuDeviceGetUuid(unsigned char uuid[16], int dev) {
  if (dev < 0 || dev >= n_visible) return INVALID_DEVICE;
  memset(uuid, 0, 16);
  uuid[0] = 0xfa;
  uuid[1] = 0x4e;
  uuid[15] = (unsigned char)visible[dev];
  return OK;
}

CUresult cuDeviceGetAttribute(int* v, int attr, int dev) {
  if (dev < 0 || dev >= n_visible) return INVALID_DEVICE;
  *v = attr == 13 ? 1000000 : 0;  /* CU_DEVICE_ATTRIBUTE_CLOCK_RATE: 1 GHz, in kHz */
  return OK;
}

CUresult cuCtxCreate_v2(void** ctx, unsigned flags, int dev) {
  if (dev < 0 || dev >= n_visible) return INVALID_DEVICE;
  current = dev;
  *ctx = (void*)(intptr_t)(dev + 1);
  write_state("mem", 300);  /* a context's own memory, as on a real GPU */
  return OK;
}

CUresult cuCtxDestroy_v2(void* ctx) {
  if (current < 0) return INVALID_CONTEXT;
  remove_state();
  current = -1;
  return OK;
}

CUresult cuCtxSynchronize(void) { return current < 0 ? INVALID_CONTEXT : OK; }

CUresult cuModuleLoadDataEx(void** module, const void* image, unsigned n, int* options, void** values) {
  if (current < 0) return INVALID_CONTEXT;
  const char* ptx = image;
  if (!strstr(ptx, ".version") || !strstr(ptx, ".entry axpb(") || !strstr(ptx, ".entry spin(")) {
    for (unsigned i = 0; i < n; ++i) {  /* the error log, as the JIT would fill it */
      if (options[i] == 5) snprintf((char*)values[i], 64, "fake JIT: axpb or spin missing");
    }
    return INVALID_PTX;
  }
  *module = (void*)1;
  return OK;
}

CUresult cuModuleGetFunction(void** f, void* module, const char* name) {
  if (strcmp(name, "axpb") == 0) *f = (void*)1;
  else if (strcmp(name, "spin") == 0) *f = (void*)2;
  else return NOT_FOUND;
  return OK;
}

CUresult cuMemAlloc_v2(uint64_t* ptr, size_t size) {
  if (current < 0) return INVALID_CONTEXT;
  void* p = malloc(size);
  if (!p) return 2;
  *ptr = (uint64_t)(uintptr_t)p;
  held_bytes += (long long)size;
  write_state("mem", 300 + (held_bytes >> 20));
  return OK;
}

CUresult cuMemFree_v2(uint64_t ptr) {
  free((void*)(uintptr_t)ptr);
  return OK;
}

CUresult cuMemsetD32_v2(uint64_t ptr, unsigned value, size_t count) {
  uint32_t* p = (uint32_t*)(uintptr_t)ptr;
  for (size_t i = 0; i < count; ++i) p[i] = value;
  return OK;
}

CUresult cuMemcpyHtoD_v2(uint64_t dst, const void* src, size_t size) {
  memcpy((void*)(uintptr_t)dst, src, size);
  return OK;
}

CUresult cuMemcpyDtoH_v2(void* dst, uint64_t src, size_t size) {
  memcpy(dst, (const void*)(uintptr_t)src, size);
  return OK;
}

CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total) {
  *total = (size_t)80 << 30;
  *free_bytes = *total - (size_t)held_bytes;
  return OK;
}

CUresult cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, void* stream, void** params, void** extra) {
  if (current < 0) return INVALID_CONTEXT;
  if (f == (void*)1) {  /* axpb(out, in, n, a) */
    uint32_t* out = (uint32_t*)(uintptr_t)(*(uint64_t*)params[0]);
    const uint32_t* in = (const uint32_t*)(uintptr_t)(*(uint64_t*)params[1]);
    uint32_t n = *(uint32_t*)params[2], a = *(uint32_t*)params[3];
    for (uint64_t i = 0; i < (uint64_t)gx * bx && i < n; ++i) out[i] = in[i] * a + (uint32_t)i;
#ifdef WRONG
    out[n / 2] ^= 1;
#endif
    return OK;
  }
  if (f == (void*)2) {  /* spin(cycles) at 1 GHz */
    uint64_t cycles = *(uint64_t*)params[0];
    struct timespec ts = {(time_t)(cycles / 1000000000u), (long)(cycles % 1000000000u)};
    write_state("busy", (long long)time(NULL));
    nanosleep(&ts, NULL);
    return OK;
  }
  return INVALID_VALUE;
}
