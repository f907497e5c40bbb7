// NVIDIA GPUs on this node, through nvidia-smi (no driver library is linked, so Ferry runs
// the same on machines without GPUs). Used by the local target to hand out devices and by
// the agent to sample utilisation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace ferry::compute {

struct GpuDevice {
  int index = 0;  // as nvidia-smi and CUDA_VISIBLE_DEVICES number it
  std::string name, uuid;
  int64_t memory_total_mib = 0;
};

// The node's GPUs. No nvidia-smi on PATH: an empty list. nvidia-smi present but failing
// (driver not loaded, hung): an error that says so. When `visible` is set (the value of
// CUDA_VISIBLE_DEVICES Ferry itself was started with: indices or UUIDs), only those devices.
Result<std::vector<GpuDevice>> DiscoverGpus(const std::string& visible = "",
                                            int timeout_ms = 15000);

struct GpuSample {
  int index = 0;
  double utilization_percent = -1;  // -1: not reported (e.g. a MIG slice)
  double memory_used_mib = -1;
};

// Current utilisation and memory of the given devices (all when empty).
Result<std::vector<GpuSample>> SampleGpus(const std::vector<int>& indices, int timeout_ms = 5000);

// Parsers for nvidia-smi's CSV (noheader, nounits), exposed for tests.
Result<std::vector<GpuDevice>> ParseGpuList(const std::string& csv);
std::vector<GpuSample> ParseGpuSamples(const std::string& csv);

}  // namespace ferry::compute
