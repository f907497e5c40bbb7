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

// A dataset version the run reads (docs/data.md): `mode` "mount" (read-only, shared with other
// runs on the node) or "download" (a private copy in the run's directory). The submit names
// the dataset; the server fills in the rest, so the agent needs no store.
struct DataInput {
  std::string name;             // as_named_input('train'): [A-Za-z_][A-Za-z0-9_]*
  std::string mode = "mount";   // mount | download | direct (mounted; the script gets a dataset)
  std::string path_on_compute;  // "" for the agent's choice; relative: under the working copy
  std::string dataset_name;     // "" for an unregistered dataset
  int64_t dataset_version = 0;
  std::string dataset_id;
  std::string kind = "file";    // file | tabular
  std::string definition_json;  // tabular options and transforms (read inside the script)
  std::string manifest;         // the blob holding the version's manifest
  std::string datastore;
  // Files of a datastore other than the workspace's store: the datastore's directory as the
  // run's target sees it (server-filled; never taken from the client).
  std::string external_root;
  std::string store_kind;  // server-filled: blob | directory | s3
  // "dataset", or "model": a registered model version's files (dataset_name and
  // dataset_version then name the model version), for Model.get_model_path in the script.
  std::string asset = "dataset";
};

// Files the run writes that become a dataset (OutputFileDatasetConfig): the script gets an
// empty directory; when it completes, the files go to `path` of `datastore` ("{run-id}" and
// "{output-name}" replaced) and, with register_name, become that dataset's next version.
struct DataOutput {
  std::string name;
  std::string datastore;
  std::string path;
  std::string register_name;
  std::string description;
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
  std::vector<DataInput> inputs;
  std::vector<DataOutput> outputs;
  // A ParallelRunStep's run: its ParallelRunConfig as JSON text (pipeline/parallel.h); the agent
  // runs the parallel driver over the entry script. "" for every other run.
  std::string parallel;
  // A CommandStep's run: a shell command line run in the working copy (with the run's
  // arguments appended, quoted) instead of a Python script. "" for every other run.
  std::string command;
  // Run-based compute (target "amlcompute", Azure's run configuration section of that name):
  // the server makes a managed cluster of this node size for the run and deletes it when the
  // run ends, unless retain_cluster.
  struct RunCluster {
    std::string vm_size;             // a node size of the workspace's catalog
    std::string vm_priority;         // "" | dedicated | lowpriority
    std::string name;                // the cluster's name; "" = the run's id
    int cluster_max_node_count = 0;  // 0 = the run's node count
    bool retain_cluster = false;
    bool empty() const {
      return vm_size.empty() && vm_priority.empty() && name.empty() &&
             cluster_max_node_count == 0 && !retain_cluster;
    }
  } amlcompute;
};

// Names of a run's inputs and outputs: 1 to 128 of [A-Za-z0-9_], not starting with a digit
// (they become environment variable names).
Status ValidateDataIoName(const std::string& field, const std::string& name);

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
