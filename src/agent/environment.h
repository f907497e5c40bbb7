// Managed Python environments on a node: a virtual environment per (requirements, base
// interpreter, platform), built once under a lock and reused by every later run.
#pragma once

#include <string>

#include "common/status.h"

namespace ferry::agent {

struct EnvironmentRequest {
  std::string base_python;        // interpreter the venv is made from (PATH lookup without '/')
  std::string requirements_path;  // pip requirements file (in the run's working copy)
  std::string cache_dir;          // where environments live on this node
  int log_fd = -1;                // build output goes here (the run's Preparing log)
};

struct Environment {
  std::string python;  // the environment's interpreter
  std::string key;     // hash of the canonical spec, interpreter version and platform
  bool reused = false;
  std::string freeze;  // `pip freeze` of the environment
};

// Returns the environment, building it first when no complete one exists. Concurrent callers
// for the same key wait on one build (flock) and never build twice. A failed build leaves
// nothing that a later call would reuse; the error says pip failed and where its log is.
Result<Environment> EnsureEnvironment(const EnvironmentRequest& request);

}  // namespace ferry::agent
