// Run configuration parsing with yaml-cpp; every error names file, line, column and field.
#include "runconfig/runconfig.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "common/fs.h"

namespace ferry::runconfig {
namespace {

class Parser {
 public:
  explicit Parser(std::string name) : name_(std::move(name)) {}

  Status Error(const YAML::Node& node, const std::string& field, const std::string& what) const {
    YAML::Mark m = node.Mark();
    std::string where = name_;
    if (m.line >= 0) where += ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
    return Status::InvalidArgument(where + ": field '" + field + "': " + what);
  }

  static bool IsUnset(const YAML::Node& n) { return !n || n.IsNull(); }

  Status String(const YAML::Node& n, const std::string& field, std::string* out) {
    if (IsUnset(n)) return Status::Ok();
    if (!n.IsScalar()) return Error(n, field, "expected a string");
    *out = n.Scalar();
    return Status::Ok();
  }

  Status Bool(const YAML::Node& n, const std::string& field, bool* out) {
    if (IsUnset(n)) return Status::Ok();
    bool v;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v))
      return Error(n, field, "expected true or false, got '" + Text(n) + "'");
    *out = v;
    return Status::Ok();
  }

  Status Int(const YAML::Node& n, const std::string& field, int64_t min, int64_t* out,
             bool* set = nullptr) {
    if (IsUnset(n)) return Status::Ok();
    long long v;
    if (!n.IsScalar() || !YAML::convert<long long>::decode(n, v)) {
      return Error(n, field, "expected an integer, got '" + Text(n) + "'");
    }
    if (v < min)
      return Error(n, field,
                   "must be at least " + std::to_string(min) + ", got " + std::to_string(v));
    *out = v;
    if (set) *set = true;
    return Status::Ok();
  }

  Status IntField(const YAML::Node& n, const std::string& field, int64_t min, int* out) {
    int64_t v = *out;
    FERRY_RETURN_IF_ERROR(Int(n, field, min, &v));
    *out = static_cast<int>(v);
    return Status::Ok();
  }

  // One of a fixed set, compared without regard to case (Azure's own files write
  // "framework: python" and "communicationBackend: nccl"); stored in the set's spelling.
  Status OneOf(const YAML::Node& n, const std::string& field,
               const std::vector<std::string>& allowed, std::string* out) {
    if (IsUnset(n)) return Status::Ok();
    std::string v;
    FERRY_RETURN_IF_ERROR(String(n, field, &v));
    for (const auto& a : allowed) {
      if (EqualsIgnoringCase(a, v)) {
        *out = a;
        return Status::Ok();
      }
    }
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    return Error(n, field, "'" + v + "' is not allowed; use one of: " + list);
  }

  Status StringList(const YAML::Node& n, const std::string& field, std::vector<std::string>* out) {
    if (IsUnset(n)) return Status::Ok();
    if (!n.IsSequence()) return Error(n, field, "expected a list");
    out->clear();
    for (const auto& item : n) {
      if (!item.IsScalar()) return Error(item, field, "expected a list of strings");
      out->push_back(item.Scalar());
    }
    return Status::Ok();
  }

  Status StringMap(const YAML::Node& n, const std::string& field,
                   std::map<std::string, std::string>* out) {
    if (IsUnset(n)) return Status::Ok();
    if (!n.IsMap()) return Error(n, field, "expected a mapping of names to values");
    for (const auto& kv : n) {
      if (!kv.second.IsNull() && !kv.second.IsScalar())
        return Error(kv.second, field + "." + kv.first.Scalar(), "expected a string");
      (*out)[kv.first.Scalar()] = kv.second.IsNull() ? "" : kv.second.Scalar();
    }
    return Status::Ok();
  }

  // Calls handle(key, value, dotted) for each entry; entries not handled are recorded as
  // unused when they carry a value.
  Status Map(const YAML::Node& n, const std::string& prefix,
             const std::function<Result<bool>(const std::string&, const YAML::Node&,
                                              const std::string&)>& handle) {
    if (IsUnset(n)) return Status::Ok();
    if (!n.IsMap()) return Error(n, prefix.empty() ? "(top level)" : prefix, "expected a mapping");
    for (const auto& kv : n) {
      std::string key = kv.first.Scalar();
      std::string dotted = prefix.empty() ? key : prefix + "." + key;
      FERRY_ASSIGN_OR_RETURN(bool handled, handle(key, kv.second, dotted));
      if (!handled && HasValue(kv.second)) unused_.push_back(dotted);
    }
    return Status::Ok();
  }

  static bool HasValue(const YAML::Node& n) {
    if (IsUnset(n)) return false;
    if (n.IsScalar()) return !n.Scalar().empty();
    return n.size() > 0;
  }

  static bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(a[i])) !=
          std::tolower(static_cast<unsigned char>(b[i])))
        return false;
    }
    return true;
  }

  static std::string Text(const YAML::Node& n) {
    return n.IsScalar() ? n.Scalar() : "(not a scalar)";
  }

  std::vector<std::string> TakeUnused() { return std::move(unused_); }

 private:
  std::string name_;
  std::vector<std::string> unused_;
};

// Azure's run-level docker section (DockerConfiguration: useDocker, sharedVolumes, shmSize,
// arguments), merged over environment.docker after parsing.
Status ParseDockerRuntime(Parser& p, const YAML::Node& v, const std::string& f, DockerRuntime* d) {
  return p.Map(
      v, f, [&](const std::string& k, const YAML::Node& v2, const std::string& f2) -> Result<bool> {
        if (Parser::IsUnset(v2)) return true;
        if (k == "useDocker") {
          bool b = false;
          FERRY_RETURN_IF_ERROR(p.Bool(v2, f2, &b));
          d->use_docker = b;
        } else if (k == "sharedVolumes") {
          bool b = true;
          FERRY_RETURN_IF_ERROR(p.Bool(v2, f2, &b));
          d->shared_volumes = b;
        } else if (k == "shmSize") {
          std::string t;
          FERRY_RETURN_IF_ERROR(p.String(v2, f2, &t));
          d->shm_size = t;
        } else if (k == "arguments") {
          std::vector<std::string> a;
          FERRY_RETURN_IF_ERROR(p.StringList(v2, f2, &a));
          d->arguments = a;
        } else {
          return false;
        }
        return true;
      });
}

// Azure's pytorch section: the backend and the processes over all nodes; its nodeCount is
// accepted, the top-level nodeCount is the one used (as in Azure, which writes both).
Status ParsePytorch(Parser& p, const YAML::Node& v, const std::string& f, RunConfig* c) {
  return p.Map(
      v, f, [&](const std::string& k, const YAML::Node& v2, const std::string& f2) -> Result<bool> {
        if (k == "communicationBackend") {
          FERRY_RETURN_IF_ERROR(
              p.OneOf(v2, f2, {"Nccl", "Gloo"}, &c->pytorch_communication_backend));
        } else if (k == "processCount") {
          int64_t n = 0;
          bool set = false;
          FERRY_RETURN_IF_ERROR(p.Int(v2, f2, 1, &n, &set));
          if (set) c->pytorch_process_count = static_cast<int>(n);
        } else if (k == "nodeCount") {
          int ignored = 1;
          FERRY_RETURN_IF_ERROR(p.IntField(v2, f2, 1, &ignored));
        } else {
          return false;
        }
        return true;
      });
}

// The run-level sections win over the environment's; pytorch.processCount is the total over the
// nodes, Ferry launches per node.
void MergeRunLevel(RunConfig& c) {
  for (const auto& [name, value] : c.environment_variables) c.environment.variables[name] = value;
  DockerSection& docker = c.environment.docker;
  if (c.docker.use_docker) docker.enabled = *c.docker.use_docker;
  if (c.docker.shared_volumes) docker.shared_volumes = *c.docker.shared_volumes;
  if (c.docker.shm_size && !c.docker.shm_size->empty()) docker.shm_size = *c.docker.shm_size;
  if (c.docker.arguments && !c.docker.arguments->empty()) docker.arguments = *c.docker.arguments;
  if (c.pytorch_process_count && (c.communicator == "Nccl" || c.communicator == "Gloo")) {
    c.process_count_per_node = std::max(1, *c.pytorch_process_count / std::max(1, c.node_count));
  }
}

}  // namespace

Result<LoadedRunConfig> ParseRunConfig(std::string_view yaml, const std::string& name) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(name + ":" + std::to_string(e.mark.line + 1) + ":" +
                                   std::to_string(e.mark.column + 1) +
                                   ": not valid YAML: " + e.msg);
  }
  LoadedRunConfig out;
  out.path = name;
  RunConfig& c = out.config;
  Parser p(name);
  if (Parser::IsUnset(root)) return out;  // an empty file is an empty configuration
  int64_t max_duration = 0;
  bool max_duration_set = false;
  Status st = p.Map(
      root, "",
      [&](const std::string& k, const YAML::Node& v, const std::string& f) -> Result<bool> {
        if (k == "script")
          FERRY_RETURN_IF_ERROR(p.String(v, f, &c.script));
        else if (k == "arguments")
          FERRY_RETURN_IF_ERROR(p.StringList(v, f, &c.arguments));
        else if (k == "target")
          FERRY_RETURN_IF_ERROR(p.String(v, f, &c.target));
        else if (k == "framework")
          FERRY_RETURN_IF_ERROR(
              p.OneOf(v, f, {"Python", "PyTorch", "TensorFlow", "PySpark"}, &c.framework));
        else if (k == "communicator")
          FERRY_RETURN_IF_ERROR(
              p.OneOf(v, f, {"None", "Gloo", "Nccl", "OpenMpi", "IntelMpi", "ParameterServer"},
                      &c.communicator));
        else if (k == "nodeCount")
          FERRY_RETURN_IF_ERROR(p.IntField(v, f, 1, &c.node_count));
        else if (k == "maxRunDurationSeconds")
          FERRY_RETURN_IF_ERROR(p.Int(v, f, 1, &max_duration, &max_duration_set));
        else if (k == "requirementsFile")
          FERRY_RETURN_IF_ERROR(p.String(v, f, &c.requirements_file));
        else if (k == "priority")
          FERRY_RETURN_IF_ERROR(p.OneOf(v, f, {"dedicated", "low"}, &c.priority));
        else if (k == "requeueOnNodeLoss")
          FERRY_RETURN_IF_ERROR(p.Bool(v, f, &c.requeue_on_node_loss));
        else if (k == "environmentVariables")
          FERRY_RETURN_IF_ERROR(p.StringMap(v, f, &c.environment_variables));
        else if (k == "docker")
          FERRY_RETURN_IF_ERROR(ParseDockerRuntime(p, v, f, &c.docker));
        else if (k == "pytorch")
          FERRY_RETURN_IF_ERROR(ParsePytorch(p, v, f, &c));
        else if (k == "resources") {
          FERRY_RETURN_IF_ERROR(p.Map(v, f,
                                      [&](const std::string& k2, const YAML::Node& v2,
                                          const std::string& f2) -> Result<bool> {
                                        if (k2 != "gpus") return false;
                                        FERRY_RETURN_IF_ERROR(p.IntField(v2, f2, 0, &c.gpus));
                                        return true;
                                      }));
        } else if (k == "environment") {
          EnvironmentSection& e = c.environment;
          FERRY_RETURN_IF_ERROR(p.Map(
              v, f,
              [&](const std::string& k2, const YAML::Node& v2,
                  const std::string& f2) -> Result<bool> {
                if (k2 == "name")
                  FERRY_RETURN_IF_ERROR(p.String(v2, f2, &e.name));
                else if (k2 == "version")
                  FERRY_RETURN_IF_ERROR(p.String(v2, f2, &e.version));
                else if (k2 == "environmentVariables")
                  FERRY_RETURN_IF_ERROR(p.StringMap(v2, f2, &e.variables));
                else if (k2 == "python") {
                  FERRY_RETURN_IF_ERROR(p.Map(
                      v2, f2,
                      [&](const std::string& k3, const YAML::Node& v3,
                          const std::string& f3) -> Result<bool> {
                        if (k3 == "userManagedDependencies")
                          FERRY_RETURN_IF_ERROR(
                              p.Bool(v3, f3, &e.python.user_managed_dependencies));
                        else if (k3 == "interpreterPath")
                          FERRY_RETURN_IF_ERROR(p.String(v3, f3, &e.python.interpreter_path));
                        else if (k3 == "condaDependenciesFile")
                          FERRY_RETURN_IF_ERROR(
                              p.String(v3, f3, &e.python.conda_dependencies_file));
                        else if (k3 == "baseCondaEnvironment")
                          FERRY_RETURN_IF_ERROR(p.String(v3, f3, &e.python.base_conda_environment));
                        else
                          return false;
                        return true;
                      }));
                } else if (k2 == "docker") {
                  FERRY_RETURN_IF_ERROR(
                      p.Map(v2, f2,
                            [&](const std::string& k3, const YAML::Node& v3,
                                const std::string& f3) -> Result<bool> {
                              if (k3 == "enabled")
                                FERRY_RETURN_IF_ERROR(p.Bool(v3, f3, &e.docker.enabled));
                              else if (k3 == "baseImage")
                                FERRY_RETURN_IF_ERROR(p.String(v3, f3, &e.docker.base_image));
                              else if (k3 == "sharedVolumes")
                                FERRY_RETURN_IF_ERROR(p.Bool(v3, f3, &e.docker.shared_volumes));
                              else if (k3 == "shmSize")
                                FERRY_RETURN_IF_ERROR(p.String(v3, f3, &e.docker.shm_size));
                              else if (k3 == "arguments")
                                FERRY_RETURN_IF_ERROR(p.StringList(v3, f3, &e.docker.arguments));
                              else
                                return false;
                              return true;
                            }));
                } else {
                  return false;
                }
                return true;
              }));
        } else if (k == "history") {
          FERRY_RETURN_IF_ERROR(
              p.Map(v, f,
                    [&](const std::string& k2, const YAML::Node& v2,
                        const std::string& f2) -> Result<bool> {
                      if (k2 == "outputCollection")
                        FERRY_RETURN_IF_ERROR(p.Bool(v2, f2, &c.output_collection));
                      else if (k2 == "snapshotProject")
                        FERRY_RETURN_IF_ERROR(p.Bool(v2, f2, &c.snapshot_project));
                      else if (k2 == "directoriesToWatch")
                        FERRY_RETURN_IF_ERROR(p.StringList(v2, f2, &c.directories_to_watch));
                      else
                        return false;
                      return true;
                    }));
        } else if (k == "mpi") {
          FERRY_RETURN_IF_ERROR(p.Map(v, f,
                                      [&](const std::string& k2, const YAML::Node& v2,
                                          const std::string& f2) -> Result<bool> {
                                        int ignored = 1;  // the top-level nodeCount is used
                                        if (k2 == "nodeCount")
                                          FERRY_RETURN_IF_ERROR(p.IntField(v2, f2, 1, &ignored));
                                        else if (k2 == "processCountPerNode")
                                          FERRY_RETURN_IF_ERROR(
                                              p.IntField(v2, f2, 1, &c.process_count_per_node));
                                        else
                                          return false;
                                        return true;
                                      }));
        } else if (k == "amlcompute") {
          AmlComputeSection& a = c.amlcompute;
          FERRY_RETURN_IF_ERROR(
              p.Map(v, f,
                    [&](const std::string& k2, const YAML::Node& v2,
                        const std::string& f2) -> Result<bool> {
                      if (k2 == "vmSize")
                        FERRY_RETURN_IF_ERROR(p.String(v2, f2, &a.vm_size));
                      else if (k2 == "vmPriority")
                        FERRY_RETURN_IF_ERROR(
                            p.OneOf(v2, f2, {"dedicated", "lowpriority"}, &a.vm_priority));
                      else if (k2 == "name")
                        FERRY_RETURN_IF_ERROR(p.String(v2, f2, &a.name));
                      else if (k2 == "clusterMaxNodeCount")
                        FERRY_RETURN_IF_ERROR(p.IntField(v2, f2, 1, &a.cluster_max_node_count));
                      else if (k2 == "retainCluster")
                        FERRY_RETURN_IF_ERROR(p.Bool(v2, f2, &a.retain_cluster));
                      else
                        return false;
                      return true;
                    }));
        } else if (k == "tensorflow") {
          FERRY_RETURN_IF_ERROR(
              p.Map(v, f,
                    [&](const std::string& k2, const YAML::Node& v2,
                        const std::string& f2) -> Result<bool> {
                      if (k2 == "workerCount")
                        FERRY_RETURN_IF_ERROR(p.IntField(v2, f2, 1, &c.worker_count));
                      else if (k2 == "parameterServerCount")
                        FERRY_RETURN_IF_ERROR(p.IntField(v2, f2, 0, &c.parameter_server_count));
                      else
                        return false;
                      return true;
                    }));
        } else {
          return false;
        }
        return true;
      });
  FERRY_RETURN_IF_ERROR(st);
  if (max_duration_set) c.max_run_duration_seconds = max_duration;
  MergeRunLevel(c);
  out.unused_fields = p.TakeUnused();
  return out;
}

Result<LoadedRunConfig> LoadRunConfig(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status().WithContext("reading the run configuration");
  return ParseRunConfig(*text, path);
}

std::string RunConfigToJson(const RunConfig& c) {
  nlohmann::json j = {
      {"script", c.script},
      {"arguments", c.arguments},
      {"target", c.target},
      {"framework", c.framework},
      {"communicator", c.communicator},
      {"nodeCount", c.node_count},
      {"maxRunDurationSeconds", c.max_run_duration_seconds
                                    ? nlohmann::json(*c.max_run_duration_seconds)
                                    : nlohmann::json(nullptr)},
      {"environment",
       {{"name", c.environment.name},
        {"version", c.environment.version},
        {"environmentVariables", c.environment.variables},
        {"python",
         {{"userManagedDependencies", c.environment.python.user_managed_dependencies},
          {"interpreterPath", c.environment.python.interpreter_path},
          {"condaDependenciesFile", c.environment.python.conda_dependencies_file},
          {"baseCondaEnvironment", c.environment.python.base_conda_environment}}},
        {"docker",
         {{"enabled", c.environment.docker.enabled},
          {"baseImage", c.environment.docker.base_image},
          {"sharedVolumes", c.environment.docker.shared_volumes},
          {"shmSize", c.environment.docker.shm_size},
          {"arguments", c.environment.docker.arguments}}}}},
      {"history",
       {{"outputCollection", c.output_collection},
        {"snapshotProject", c.snapshot_project},
        {"directoriesToWatch", c.directories_to_watch}}},
      {"mpi", {{"processCountPerNode", c.process_count_per_node}}},
      {"tensorflow",
       {{"workerCount", c.worker_count}, {"parameterServerCount", c.parameter_server_count}}},
      {"amlcompute",
       {{"vmSize", c.amlcompute.vm_size},
        {"vmPriority", c.amlcompute.vm_priority},
        {"name", c.amlcompute.name},
        {"clusterMaxNodeCount", c.amlcompute.cluster_max_node_count
                                    ? nlohmann::json(c.amlcompute.cluster_max_node_count)
                                    : nlohmann::json(nullptr)},
        {"retainCluster", c.amlcompute.retain_cluster}}},
      {"resources", {{"gpus", c.gpus}}},
      {"requirementsFile", c.requirements_file},
      {"priority", c.priority},
      {"requeueOnNodeLoss", c.requeue_on_node_loss},
      {"environmentVariables", c.environment_variables},
      {"docker",
       {{"useDocker", c.environment.docker.enabled},
        {"sharedVolumes", c.environment.docker.shared_volumes},
        {"shmSize", c.environment.docker.shm_size},
        {"arguments", c.environment.docker.arguments}}},
      {"pytorch",
       {{"communicationBackend", c.pytorch_communication_backend},
        {"processCount", c.pytorch_process_count ? nlohmann::json(*c.pytorch_process_count)
                                                 : nlohmann::json(nullptr)}}},
  };
  return j.dump();
}

}  // namespace ferry::runconfig
