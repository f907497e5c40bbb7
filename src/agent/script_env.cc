// The script environment's allow-list (see script_env.h; documented in docs/local-target.md).
#include "agent/script_env.h"

#include <algorithm>
#include <array>

namespace ferry::agent {
namespace {

constexpr std::array<std::string_view, 18> kNames = {
    "PATH",       "HOME",        "USER",       "LOGNAME",     "LANG",      "LANGUAGE",
    "TZ",         "TMPDIR",      "http_proxy", "https_proxy", "no_proxy",  "all_proxy",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",   "ALL_PROXY",   "ftp_proxy", "FTP_PROXY"};
constexpr std::array<std::string_view, 7> kPrefixes = {"LC_",  "CUDA_", "NVIDIA_", "SLURM_",
                                                       "PMI_", "PMIX_", "OMPI_"};

}  // namespace

bool PassedToScript(std::string_view name) {
  if (std::find(kNames.begin(), kNames.end(), name) != kNames.end()) return true;
  return std::any_of(kPrefixes.begin(), kPrefixes.end(), [&](std::string_view p) {
    return name.size() > p.size() && name.substr(0, p.size()) == p;
  });
}

std::map<std::string, std::string> ScriptEnvironment(const char* const* node_env,
                                                     const std::map<std::string, std::string>& set,
                                                     const std::vector<std::string>& unset) {
  std::map<std::string, std::string> env;
  for (const char* const* e = node_env; e && *e; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    if (PassedToScript(kv.substr(0, eq))) {
      env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
    }
  }
  for (const auto& u : unset) env.erase(u);
  for (const auto& [k, v] : set) env[k] = v;
  return env;
}

}  // namespace ferry::agent
