// The script's environment: which of the node's variables a script sees (an allow-list), under
// Ferry's own variables and the run configuration's.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::agent {

// True for the node variables a script inherits: PATH, HOME, USER, LOGNAME, LANG, LANGUAGE,
// TZ, TMPDIR, the proxy variables (http_proxy, https_proxy, no_proxy, all_proxy, in lower and
// upper case), and names starting LC_, CUDA_, NVIDIA_ (locale, GPU selection and driver
// capabilities), SLURM_, PMI_, PMIX_, OMPI_ (the job step and MPI launch context, where a
// cluster started the agent). Nothing else of the node's environment reaches a script:
// credentials in the server's environment (FERRY_TOKEN, cloud keys, ...) stay there.
bool PassedToScript(std::string_view name);

// The script's whole environment: the allow-listed variables of node_env (an environ-style
// NULL-terminated array of "NAME=value"), minus `unset`, then `set` (Ferry's variables and the
// run configuration's environmentVariables) over them.
std::map<std::string, std::string> ScriptEnvironment(const char* const* node_env,
                                                     const std::map<std::string, std::string>& set,
                                                     const std::vector<std::string>& unset);

}  // namespace ferry::agent
