// RunOptions: what a run configuration asks of the target beyond the script itself —
// environment variables, a time limit, a managed Python environment, GPUs and a container.
// One JSON form is used by the REST API, the store and the agent, so a field is added here
// once instead of in four places.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace ferry::model {

// A managed Python environment. Empty type: user-managed (the interpreter as is).
struct EnvironmentSpec {
  std::string type;     // "" | "pip" (requirements file) | "conda" (environment file)
  std::string file;     // the spec's path inside the snapshot; empty when `content` holds it
  std::string content;  // the spec's text, for a registered environment
  std::string name;     // the registered environment it came from, if any
  int64_t version = 0;
};

struct DockerOptions {
  bool enabled = false;
  std::string base_image;
  std::string shm_size;                // e.g. "2g"; empty: the engine's default
  std::vector<std::string> arguments;  // extra engine arguments, e.g. "--cap-add=SYS_PTRACE"
};

struct RunOptions {
  std::map<std::string, std::string> environment_variables;
  std::optional<int64_t> max_run_duration_seconds;
  EnvironmentSpec environment;
  int gpus = 0;
  DockerOptions docker;
  // When the node running it is lost (host rebooted, agent gone), queue the run again
  // (up to kMaxNodeLossAttempts attempts in all) instead of failing it.
  bool requeue_on_node_loss = false;
  // "low": preemptible (a cluster's low-priority partition or QOS); "" or "dedicated": normal.
  std::string priority;
  // Distributed launch: nodes, processes per node, and how ranks find each other.
  int node_count = 1;
  int process_count_per_node = 1;
  std::string communicator = "None";  // None | Gloo | Nccl | OpenMpi | IntelMpi | ParameterServer
  int worker_count = 1;               // ParameterServer: tensorflow.workerCount
  int parameter_server_count = 1;     // ParameterServer: tensorflow.parameterServerCount
};

inline constexpr int kMaxNodeLossAttempts = 4;

// A registered environment version: immutable once stored.
struct RegisteredEnvironment {
  std::string name;
  int64_t version = 0;
  std::string type;     // pip | conda
  std::string content;  // the spec's text
  std::string hash;     // SHA-256 of type + content: re-registering the same spec is a no-op
  std::string description;
  double created_at = 0;
};

// Environment names: 1-128 of [A-Za-z0-9._-], starting with a letter or digit.
Status ValidateEnvironmentName(const std::string& name);

// Adds the options' fields to a JSON object (top-level keys: environment_variables,
// max_run_duration_seconds, environment, gpus, docker). Empty parts are left out.
void RunOptionsToJson(const RunOptions& o, nlohmann::json* out);
// Reads the same fields from a JSON object, validating each; errors name the field
// ("field 'environment.type': ...") and the allowed values. Unknown keys are ignored (the
// object also holds the run's other fields).
Result<RunOptions> RunOptionsFromJson(const nlohmann::json& j);

}  // namespace ferry::model
