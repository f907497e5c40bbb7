// Run configurations: YAML files with the fields of Azure ML's .runconfig (camelCase, same
// meaning) plus Ferry's own. A file written by Azure ML's SDK loads unchanged; fields Ferry
// does not use are reported once, as a list.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ferry::runconfig {

struct DockerSection {
  bool enabled = false;
  std::string base_image;
  bool shared_volumes = true;
  std::string shm_size;
  std::vector<std::string> arguments;
};

struct PythonSection {
  bool user_managed_dependencies = false;
  std::string interpreter_path;
  std::string conda_dependencies_file;
  std::string base_conda_environment;
};

struct EnvironmentSection {
  std::string name, version;
  std::map<std::string, std::string> variables;  // environmentVariables
  PythonSection python;
  DockerSection docker;
};

// Azure's run-level docker section (DockerConfiguration); what is set wins over
// environment.docker, into which it is merged after parsing.
struct DockerRuntime {
  std::optional<bool> use_docker;
  std::optional<bool> shared_volumes;
  std::optional<std::string> shm_size;
  std::optional<std::vector<std::string>> arguments;
};

// Azure's amlcompute section: run-based compute, a managed cluster made for the run when
// target is "amlcompute" (the server's node-size catalog gives vmSize its shape).
struct AmlComputeSection {
  std::string vm_size;             // vmSize
  std::string vm_priority;         // vmPriority: "" | dedicated | lowpriority
  std::string name;                // name: the cluster's; "" = the run's id
  int cluster_max_node_count = 0;  // clusterMaxNodeCount: 0 = the run's nodeCount
  bool retain_cluster = false;     // retainCluster: keep it after the run
};

struct RunConfig {
  std::string script;
  std::vector<std::string> arguments;
  std::string target;
  // Python | PyTorch | TensorFlow (all run a Python script) | PySpark; compared without case.
  std::string framework = "Python";
  std::string communicator = "None";  // None | Gloo | Nccl | OpenMpi | IntelMpi | ParameterServer
  int node_count = 1;
  std::optional<int64_t> max_run_duration_seconds;
  EnvironmentSection environment;
  bool output_collection = true;  // history.outputCollection
  bool snapshot_project = true;   // history.snapshotProject
  std::vector<std::string> directories_to_watch;
  int process_count_per_node = 1;                      // mpi.processCountPerNode
  int worker_count = 1;                                // tensorflow.workerCount
  int parameter_server_count = 1;                      // tensorflow.parameterServerCount
  std::string pytorch_communication_backend = "Nccl";  // pytorch.communicationBackend
  std::optional<int> pytorch_process_count;            // pytorch.processCount: all nodes' processes
  // Run-level environmentVariables and docker (Azure's newer files): merged into environment.
  std::map<std::string, std::string> environment_variables;
  DockerRuntime docker;
  AmlComputeSection amlcompute;
  // Ferry's own.
  int gpus = 0;                       // resources.gpus
  std::string requirements_file;      // requirementsFile
  std::string priority;               // priority: "" | dedicated | low
  bool requeue_on_node_loss = false;  // requeueOnNodeLoss: run again when its node is lost
};

struct LoadedRunConfig {
  RunConfig config;
  std::string path;
  // Dotted names of fields that are set but that Ferry does not use (one warning).
  std::vector<std::string> unused_fields;
};

// Parses YAML text; errors read "<name>:<line>:<column>: field '<dotted.field>': <what>"
// and list the allowed values where there is a fixed set.
Result<LoadedRunConfig> ParseRunConfig(std::string_view yaml, const std::string& name);
// Reads and parses a file; the error names the file when it cannot be read.
Result<LoadedRunConfig> LoadRunConfig(const std::string& path);

// The configuration with the file's own (camelCase) field names, as JSON text: what the SDK's
// RunConfiguration reads (POST /api/v1/runconfigs/parse).
std::string RunConfigToJson(const RunConfig& c);

}  // namespace ferry::runconfig
