// Managed Python environments on a node: one per (spec, base interpreter, platform), built
// once under a lock and reused by every later run — with uv when the node has it, else
// `python -m venv` + pip, or conda/micromamba for conda-only packages. Builds run on the node
// itself or, for a container run, inside a container of the run's image.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace ferry::agent {

// Where build commands run. Host: an empty prefix. Container: the prefix starts a throwaway
// container of the run's image with the cache and working copy mounted (see container.h),
// and paths are those the container sees.
struct BuildExec {
  std::vector<std::string> prefix;
  std::string cache_dir;  // EnvironmentRequest::cache_dir as the commands see it
  std::string work_dir;   // the run's working copy as the commands see it
  std::string
      ident_key;  // non-empty (an image id): identifies the interpreter without a file to stat
};

struct EnvironmentRequest {
  std::string base_python;  // interpreter the environment is made from (PATH lookup without '/')
  std::string type;         // "pip" (requirements file) or "conda" (environment file)
  std::string spec_path;    // the spec file, readable on this node
  std::string spec_name;  // how errors and logs name it (path in the snapshot, or env name:version)
  std::string
      spec_in_work;      // the spec's path relative to the working copy; empty for a registered one
  std::string work_dir;  // the run's working copy: relative paths in the spec resolve here
  std::string cache_dir;  // where environments live on this node
  int log_fd = -1;        // build output goes here (the run's Preparing log)
  BuildExec exec;         // host when exec.prefix is empty
};

struct Environment {
  std::string python;   // the environment's interpreter (as BuildExec sees it)
  std::string key;      // hash of the canonical spec, interpreter version and platform
  std::string builder;  // uv | pip | conda | micromamba | mamba
  bool reused = false;
  std::string freeze;  // resolved package list
};

// Returns the environment, building it first when no complete one exists. Concurrent callers
// for the same key wait on one build (flock) and never build twice. A failed build leaves
// nothing that a later call would reuse; the error says which tool failed.
Result<Environment> EnsureEnvironment(const EnvironmentRequest& request);

}  // namespace ferry::agent
