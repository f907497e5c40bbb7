// RunOptions <-> JSON with field-naming validation.
#include "model/run_options.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "model/manifest.h"

namespace ferry::model {

using nlohmann::json;

namespace {

Status Bad(const std::string& field, const std::string& what) {
  return Status::InvalidArgument("field '" + field + "' " + what);
}

Result<std::string> Str(const json& obj, const char* key, const std::string& field) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return Bad(field, "must be a string, got " + it->dump());
  return it->get<std::string>();
}

Result<std::vector<std::string>> StrList(const json& obj, const char* key,
                                         const std::string& field) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) return Bad(field, "must be an array of strings, got " + it->dump());
  for (auto& v : *it) {
    if (!v.is_string()) return Bad(field, "must contain only strings, found " + v.dump());
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

Status ValidateEnvironmentName(const std::string& name) {
  bool ok =
      !name.empty() && name.size() <= 128 && std::isalnum(static_cast<unsigned char>(name[0]));
  for (char c : name)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  if (!ok) {
    return Status::InvalidArgument(
        "environment name '" + name +
        "' is not valid: use 1-128 letters, digits, '.', '_' or '-', starting "
        "with a letter or digit");
  }
  return Status::Ok();
}

Status ValidateDataIoName(const std::string& field, const std::string& name) {
  bool ok =
      !name.empty() && name.size() <= 128 && !std::isdigit(static_cast<unsigned char>(name[0]));
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
  if (ok) return Status::Ok();
  return Bad(field, "'" + name +
                        "' is not a valid input or output name: use 1 to 128 letters, digits and "
                        "'_', not starting with a digit");
}

namespace {

json DataInputsToJson(const std::vector<DataInput>& inputs) {
  json arr = json::array();
  for (const auto& in : inputs) {
    json definition = json::parse(in.definition_json, nullptr, /*allow_exceptions=*/false);
    json ds = {{"id", in.dataset_id},
               {"kind", in.kind},
               {"manifest", in.manifest},
               {"datastore", in.datastore},
               {"definition", definition.is_object() ? definition : json::object()}};
    if (!in.dataset_name.empty()) {
      ds["name"] = in.dataset_name;
      ds["version"] = in.dataset_version > 0 ? json(in.dataset_version) : json("latest");
    }
    json j = {
        {"name", in.name}, {"mode", in.mode}, {in.asset == "model" ? "model" : "dataset", ds}};
    if (!in.path_on_compute.empty()) j["path_on_compute"] = in.path_on_compute;
    if (!in.external_root.empty()) j["external_root"] = in.external_root;
    if (!in.store_kind.empty()) j["store_kind"] = in.store_kind;
    arr.push_back(std::move(j));
  }
  return arr;
}

Result<std::vector<DataInput>> DataInputsFromJson(const json& j) {
  std::vector<DataInput> out;
  auto it = j.find("inputs");
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array() || it->size() > 64)
    return Bad("inputs", "must be a list of at most 64 inputs");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& e = (*it)[i];
    const std::string f = "inputs[" + std::to_string(i) + "]";
    if (!e.is_object()) return Bad(f, "must be an object");
    DataInput in;
    FERRY_ASSIGN_OR_RETURN(in.name, Str(e, "name", f + ".name"));
    FERRY_RETURN_IF_ERROR(ValidateDataIoName(f + ".name", in.name));
    for (const auto& other : out) {
      if (other.name == in.name) return Bad(f + ".name", "'" + in.name + "' names two inputs");
    }
    FERRY_ASSIGN_OR_RETURN(in.mode, Str(e, "mode", f + ".mode"));
    if (in.mode.empty()) in.mode = "mount";
    if (in.mode != "mount" && in.mode != "download" && in.mode != "direct") {
      return Bad(f + ".mode", "must be mount, download or direct, got '" + in.mode + "'");
    }
    FERRY_ASSIGN_OR_RETURN(in.path_on_compute, Str(e, "path_on_compute", f + ".path_on_compute"));
    if (!in.path_on_compute.empty() && in.path_on_compute[0] != '/') {
      FERRY_RETURN_IF_ERROR(
          ValidateRelativePath(in.path_on_compute).WithContext(f + ".path_on_compute"));
    }
    FERRY_ASSIGN_OR_RETURN(in.external_root, Str(e, "external_root", f + ".external_root"));
    FERRY_ASSIGN_OR_RETURN(in.store_kind, Str(e, "store_kind", f + ".store_kind"));
    auto ds = e.find("dataset");
    if (auto m = e.find("model"); ds == e.end() && m != e.end()) {
      ds = m;
      in.asset = "model";
    }
    if (ds == e.end() || !ds->is_object()) {
      return Bad(f + ".dataset",
                 "must name the dataset: {\"name\": N, \"version\": V} or a "
                 "resolved dataset's {\"id\", \"manifest\", \"datastore\"}");
    }
    FERRY_ASSIGN_OR_RETURN(in.dataset_name, Str(*ds, "name", f + ".dataset.name"));
    if (auto v = ds->find("version"); v != ds->end() && !v->is_null()) {
      if (v->is_string() && v->get<std::string>() == "latest") {
        in.dataset_version = 0;
      } else if (!v->is_number_integer() || v->get<int64_t>() < 1) {
        return Bad(f + ".dataset.version", "must be a positive whole number or \"latest\"");
      } else {
        in.dataset_version = v->get<int64_t>();
      }
    }
    FERRY_ASSIGN_OR_RETURN(in.dataset_id, Str(*ds, "id", f + ".dataset.id"));
    FERRY_ASSIGN_OR_RETURN(in.kind, Str(*ds, "kind", f + ".dataset.kind"));
    if (in.kind.empty()) in.kind = "file";
    FERRY_ASSIGN_OR_RETURN(in.manifest, Str(*ds, "manifest", f + ".dataset.manifest"));
    FERRY_ASSIGN_OR_RETURN(in.datastore, Str(*ds, "datastore", f + ".dataset.datastore"));
    if (auto d = ds->find("definition"); d != ds->end() && d->is_object()) {
      in.definition_json = d->dump();
    }
    out.push_back(std::move(in));
  }
  return out;
}

json DataOutputsToJson(const std::vector<DataOutput>& outputs) {
  json arr = json::array();
  for (const auto& o : outputs) {
    json j = {{"name", o.name}, {"datastore", o.datastore}, {"path", o.path}};
    if (!o.register_name.empty()) {
      j["register_on_complete"] = {{"name", o.register_name}, {"description", o.description}};
    }
    arr.push_back(std::move(j));
  }
  return arr;
}

Result<std::vector<DataOutput>> DataOutputsFromJson(const json& j) {
  std::vector<DataOutput> out;
  auto it = j.find("outputs");
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array() || it->size() > 64)
    return Bad("outputs", "must be a list of at most 64 outputs");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& e = (*it)[i];
    const std::string f = "outputs[" + std::to_string(i) + "]";
    if (!e.is_object()) return Bad(f, "must be an object");
    DataOutput o;
    FERRY_ASSIGN_OR_RETURN(o.name, Str(e, "name", f + ".name"));
    FERRY_RETURN_IF_ERROR(ValidateDataIoName(f + ".name", o.name));
    for (const auto& other : out) {
      if (other.name == o.name) return Bad(f + ".name", "'" + o.name + "' names two outputs");
    }
    FERRY_ASSIGN_OR_RETURN(o.datastore, Str(e, "datastore", f + ".datastore"));
    FERRY_ASSIGN_OR_RETURN(o.path, Str(e, "path", f + ".path"));
    if (auto r = e.find("register_on_complete"); r != e.end() && !r->is_null()) {
      if (!r->is_object()) return Bad(f + ".register_on_complete", "must be an object");
      FERRY_ASSIGN_OR_RETURN(o.register_name, Str(*r, "name", f + ".register_on_complete.name"));
      FERRY_ASSIGN_OR_RETURN(o.description,
                             Str(*r, "description", f + ".register_on_complete.description"));
    }
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace

void RunOptionsToJson(const RunOptions& o, json* out) {
  json& j = *out;
  j["environment_variables"] = o.environment_variables;
  j["max_run_duration_seconds"] =
      o.max_run_duration_seconds ? json(*o.max_run_duration_seconds) : json(nullptr);
  j["gpus"] = o.gpus;
  j["requeue_on_node_loss"] = o.requeue_on_node_loss;
  j["priority"] = o.priority.empty() ? json(nullptr) : json(o.priority);
  j["node_count"] = o.node_count;
  j["process_count_per_node"] = o.process_count_per_node;
  j["communicator"] = o.communicator;
  j["worker_count"] = o.worker_count;
  j["parameter_server_count"] = o.parameter_server_count;
  if (!o.inputs.empty()) j["inputs"] = DataInputsToJson(o.inputs);
  if (!o.outputs.empty()) j["outputs"] = DataOutputsToJson(o.outputs);
  if (!o.parallel.empty()) j["parallel"] = json::parse(o.parallel, nullptr, false);
  if (!o.command.empty()) j["command"] = o.command;
  if (const RunOptions::RunCluster& c = o.amlcompute; !c.empty()) {
    j["amlcompute"] = {{"vm_size", c.vm_size},
                       {"vm_priority", c.vm_priority},
                       {"name", c.name},
                       {"cluster_max_node_count", c.cluster_max_node_count},
                       {"retain_cluster", c.retain_cluster}};
  }
  const EnvironmentSpec& e = o.environment;
  if (!e.type.empty() || !e.name.empty()) {
    json env = json::object();
    if (!e.type.empty()) env["type"] = e.type;
    if (!e.file.empty()) env["file"] = e.file;
    if (!e.content.empty()) env["content"] = e.content;
    if (!e.name.empty()) {
      env["name"] = e.name;
      env["version"] = e.version;
    }
    j["environment"] = env;
  } else {
    j["environment"] = nullptr;
  }
  if (o.docker.enabled) {
    j["docker"] = {{"enabled", true},
                   {"base_image", o.docker.base_image},
                   {"shm_size", o.docker.shm_size},
                   {"arguments", o.docker.arguments}};
  } else {
    j["docker"] = nullptr;
  }
}

Result<RunOptions> RunOptionsFromJson(const json& j) {
  RunOptions o;
  if (!j.is_object()) return Status::InvalidArgument("run options must be a JSON object");
  if (auto it = j.find("environment_variables"); it != j.end() && !it->is_null()) {
    if (!it->is_object())
      return Bad("environment_variables", "must be an object of strings, got " + it->dump());
    for (auto& [k, v] : it->items()) {
      if (!v.is_string())
        return Bad("environment_variables." + k, "must be a string, got " + v.dump());
      const bool portable = !k.empty() && !std::isdigit(static_cast<unsigned char>(k[0])) &&
                            std::all_of(k.begin(), k.end(), [](char c) {
                              return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                            });
      if (!portable) {
        std::string shown;
        for (char c : k.substr(0, 60)) shown += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
        return Bad("environment_variables",
                   "has the invalid variable name '" + shown +
                       "': use letters, digits and '_', not starting with a digit");
      }
      if (v.get_ref<const std::string&>().find('\0') != std::string::npos) {
        return Bad("environment_variables." + k,
                   "contains a NUL byte, which no process environment can hold");
      }
      if (k.rfind("FERRY_", 0) == 0) {
        return Status::InvalidArgument(
            "environment variable '" + k +
            "' is reserved: names starting with FERRY_ are set by Ferry");
      }
      o.environment_variables[k] = v.get<std::string>();
    }
  }
  if (auto it = j.find("max_run_duration_seconds"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1) {
      return Bad("max_run_duration_seconds",
                 "must be a positive integer (seconds), got " + it->dump());
    }
    o.max_run_duration_seconds = it->get<int64_t>();
  }
  if (auto it = j.find("gpus"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 1024) {
      return Bad("gpus", "must be a whole number of GPUs (0 or more), got " + it->dump());
    }
    o.gpus = it->get<int>();
  }
  if (auto it = j.find("requeue_on_node_loss"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean())
      return Bad("requeue_on_node_loss", "must be true or false, got " + it->dump());
    o.requeue_on_node_loss = it->get<bool>();
  }
  FERRY_ASSIGN_OR_RETURN(o.priority, Str(j, "priority", "priority"));
  for (auto [key, out] : {std::pair{"node_count", &o.node_count},
                          {"process_count_per_node", &o.process_count_per_node},
                          {"worker_count", &o.worker_count},
                          {"parameter_server_count", &o.parameter_server_count}}) {
    if (auto it = j.find(key); it != j.end() && !it->is_null()) {
      if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 100000) {
        return Bad(key, "must be a whole number of at least 1, got " + it->dump());
      }
      *out = it->get<int>();
    }
  }
  FERRY_ASSIGN_OR_RETURN(std::string comm, Str(j, "communicator", "communicator"));
  if (!comm.empty()) {
    static const char* kAllowed[] = {"None",    "Gloo",     "Nccl",
                                     "OpenMpi", "IntelMpi", "ParameterServer"};
    bool ok = false;
    for (const char* a : kAllowed) ok = ok || comm == a;
    if (!ok)
      return Bad("communicator",
                 "must be one of: None, Gloo, Nccl, OpenMpi, IntelMpi, ParameterServer (got '" +
                     comm + "')");
    o.communicator = comm;
  }
  FERRY_ASSIGN_OR_RETURN(o.inputs, DataInputsFromJson(j));
  FERRY_ASSIGN_OR_RETURN(o.outputs, DataOutputsFromJson(j));
  if (auto p = j.find("parallel"); p != j.end() && !p->is_null()) {
    // Checked by the server (pipeline/parallel.h) when the step's run is made.
    if (!p->is_object()) return Bad("parallel", "must be an object (a ParallelRunConfig)");
    o.parallel = p->dump();
  }
  FERRY_ASSIGN_OR_RETURN(o.command, Str(j, "command", "command"));
  if (o.command.find('\0') != std::string::npos) {
    return Bad("command", "contains a NUL byte, which no command line can hold");
  }
  if (!o.priority.empty() && o.priority != "dedicated" && o.priority != "low") {
    return Bad("priority", "must be one of: dedicated, low (got '" + o.priority + "')");
  }
  if (auto it = j.find("amlcompute"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return Bad("amlcompute", "must be an object, got " + it->dump());
    RunOptions::RunCluster& c = o.amlcompute;
    FERRY_ASSIGN_OR_RETURN(c.vm_size, Str(*it, "vm_size", "amlcompute.vm_size"));
    FERRY_ASSIGN_OR_RETURN(c.vm_priority, Str(*it, "vm_priority", "amlcompute.vm_priority"));
    FERRY_ASSIGN_OR_RETURN(c.name, Str(*it, "name", "amlcompute.name"));
    if (!c.vm_priority.empty() && c.vm_priority != "dedicated" && c.vm_priority != "lowpriority")
      return Bad("amlcompute.vm_priority",
                 "must be dedicated or lowpriority (got '" + c.vm_priority + "')");
    if (auto n = it->find("cluster_max_node_count"); n != it->end() && !n->is_null()) {
      if (!n->is_number_integer() || n->get<int64_t>() < 0 || n->get<int64_t>() > 10000)
        return Bad("amlcompute.cluster_max_node_count",
                   "must be a whole number of nodes (1 to 10000), got " + n->dump());
      c.cluster_max_node_count = n->get<int>();
    }
    if (auto r = it->find("retain_cluster"); r != it->end() && !r->is_null()) {
      if (!r->is_boolean())
        return Bad("amlcompute.retain_cluster", "must be true or false, got " + r->dump());
      c.retain_cluster = r->get<bool>();
    }
  }
  // The first API (and runs stored by it) named a pip requirements file at the top level.
  FERRY_ASSIGN_OR_RETURN(std::string legacy_req, Str(j, "requirements_file", "requirements_file"));
  if (!legacy_req.empty()) {
    o.environment.type = "pip";
    o.environment.file = legacy_req;
  }
  if (auto it = j.find("docker"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return Bad("docker", "must be an object, got " + it->dump());
    DockerOptions& d = o.docker;
    auto en = it->find("enabled");
    if (en != it->end() && !en->is_null() && !en->is_boolean())
      return Bad("docker.enabled", "must be true or false");
    d.enabled = en != it->end() && en->is_boolean() && en->get<bool>();
    FERRY_ASSIGN_OR_RETURN(d.base_image, Str(*it, "base_image", "docker.base_image"));
    FERRY_ASSIGN_OR_RETURN(d.shm_size, Str(*it, "shm_size", "docker.shm_size"));
    FERRY_ASSIGN_OR_RETURN(d.arguments, StrList(*it, "arguments", "docker.arguments"));
    if (d.enabled && d.base_image.empty()) {
      return Bad("docker.base_image",
                 "is required when docker.enabled is true (e.g. \"python:3.11-slim\")");
    }
    if (!d.shm_size.empty()) {
      size_t digits = 0;
      while (digits < d.shm_size.size() &&
             std::isdigit(static_cast<unsigned char>(d.shm_size[digits])))
        ++digits;
      std::string unit = d.shm_size.substr(digits);
      if (digits == 0 || !(unit.empty() || unit == "b" || unit == "k" || unit == "m" ||
                           unit == "g" || unit == "K" || unit == "M" || unit == "G")) {
        return Bad("docker.shm_size", "must be a size like 512m or 2g, got '" + d.shm_size + "'");
      }
    }
    if (!d.enabled) d = DockerOptions{};
  }
  if (auto it = j.find("environment"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return Bad("environment", "must be an object, got " + it->dump());
    EnvironmentSpec& e = o.environment;
    FERRY_ASSIGN_OR_RETURN(e.type, Str(*it, "type", "environment.type"));
    FERRY_ASSIGN_OR_RETURN(e.file, Str(*it, "file", "environment.file"));
    FERRY_ASSIGN_OR_RETURN(e.content, Str(*it, "content", "environment.content"));
    FERRY_ASSIGN_OR_RETURN(e.name, Str(*it, "name", "environment.name"));
    if (auto v = it->find("version"); v != it->end() && !v->is_null()) {
      if (!v->is_number_integer() || v->get<int64_t>() < 0) {
        return Bad("environment.version", "must be a positive integer, got " + v->dump());
      }
      e.version = v->get<int64_t>();
    }
    // A reference to a registered environment only; the server fills in the rest.
    if (!e.name.empty() && e.type.empty() && e.file.empty() && e.content.empty()) return o;
    if (e.type != "pip" && e.type != "conda") {
      return Bad("environment.type", "must be one of: pip, conda (got '" + e.type + "')");
    }
    if (e.file.empty() == e.content.empty()) {
      return Bad(
          "environment",
          "needs exactly one of 'file' (a path in the snapshot) or 'content' (the spec's text)");
    }
    if (!e.file.empty()) {
      Status st = ValidateRelativePath(e.file);
      if (!st.ok()) return st.WithContext("field 'environment.file'");
    }
    if (e.content.size() > (1u << 20)) return Bad("environment.content", "is larger than 1 MiB");
  }
  return o;
}

}  // namespace ferry::model
