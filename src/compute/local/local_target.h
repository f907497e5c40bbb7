// The local compute target: one detached `ferry agent` process per run on this machine.
#pragma once

#include <memory>
#include <string>

#include "compute/compute_target.h"

namespace ferry::compute {

struct LocalTargetOptions {
  std::string name = "local";
  std::string ferry_executable;  // the binary to start as `ferry agent`
  std::string home;              // workspace home: agents work under home/work/<run id>
  int max_concurrent_runs = 0;   // 0: the number of cores
};

std::unique_ptr<ComputeTarget> MakeLocalTarget(LocalTargetOptions options);

}  // namespace ferry::compute
