// Container runs (docker.enabled): the script runs in a container of the run's image with the
// working copy mounted, through podman or docker on the node. The managed environment is
// built inside a throwaway container of the same image and cached per image and spec.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "agent/environment.h"
#include "common/status.h"
#include "model/run_options.h"

namespace ferry::agent {

// Paths inside the container.
inline constexpr const char* kContainerWork = "/ferry/work";
inline constexpr const char* kContainerEnvs = "/ferry/envs";
inline constexpr const char* kContainerPython = "/ferry/python";
inline constexpr const char* kContainerMetrics = "/ferry/metrics.jsonl";

struct ContainerRun {
  std::string engine;           // podman or docker executable
  std::string engine_kind;      // "podman" | "docker"
  std::string image;            // as the run configuration names it
  std::string image_id;         // resolved on this node
  std::string name;             // container name: ferry-<run id>
  std::string work_host;        // the run's working copy
  std::string envs_host;        // environment cache for this image
  std::string metrics_host;     // the run's metrics file
  std::string python_pkg_host;  // Ferry's in-script package (mounted read-only), may be empty
  // The run's data (run_data.h), seen at the same paths inside: read-only, and writable.
  std::vector<std::string> data_ro, data_rw;
  model::DockerOptions docker;
  std::vector<int> gpus;
  bool init = false;  // the engine can run an init process (signals reach the script)
};

// Finds the engine (podman first), resolves the image (pulling it when missing; the output goes
// to log_fd) and fills everything but the paths. Errors say what to install or fix.
Result<ContainerRun> PrepareContainer(const model::DockerOptions& docker, const std::string& run_id,
                                      int log_fd);

// How environment builds run: a throwaway container with the cache and working copy mounted.
BuildExec ContainerBuildExec(const ContainerRun& c);

// The command that runs `command` (interpreter, script, arguments) in the run's container.
std::vector<std::string> ContainerRunArgv(const ContainerRun& c,
                                          const std::map<std::string, std::string>& env,
                                          const std::vector<std::string>& command);

// Sends a signal to the container's processes (TERM: through its init; KILL: everything).
void SignalContainer(const ContainerRun& c, int sig);
// The host pid of the container's first process, once it runs (0 before).
int ContainerPid(const ContainerRun& c);
// Removes the container if it is still there (after a crash or kill of the engine client).
void RemoveContainer(const ContainerRun& c);
// The command line RemoveContainer runs (also run by the script's watchdog when the agent dies).
std::vector<std::string> RemoveContainerArgv(const ContainerRun& c);

}  // namespace ferry::agent
