// The agent bundle: this binary (debug info stripped) and the in-script Python package, as a
// tar stream (bin/ferry, share/ferry/python/ferry/*.py), named by the hash of its content.
// Built once per server process and staged under <home>/ssh/bundle-<hash>.
#pragma once

#include <string>

#include "common/status.h"

namespace ferry::compute {

struct AgentBundle {
  std::string hash;  // 16 hex digits
  std::string tar;
};

Result<AgentBundle> BuildAgentBundle(const std::string& home, const std::string& ferry_executable,
                                     const std::string& python_package_dir);

}  // namespace ferry::compute
