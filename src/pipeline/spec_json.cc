// The JSON form of a pipeline (the body the SDK and the CLI send): writing it, and reading it
// with errors that name the step and the key; no key is ignored.
#include <initializer_list>

#include "pipeline/spec.h"
#include "pipeline/spec_internal.h"

namespace ferry::pipeline {
namespace {

using nlohmann::json;

constexpr const char* kArgKinds[] = {"input", "output", "parameter", "side_input"};
constexpr Argument::Kind kArgKindValues[] = {Argument::Kind::kInput, Argument::Kind::kOutput,
                                             Argument::Kind::kParameter,
                                             Argument::Kind::kSideInput};

// Reads one JSON object's keys; errors read "CONTEXT key 'PREFIX.KEY': what is wrong".
class Reader {
 public:
  Reader(std::string context, std::string prefix)
      : context_(std::move(context)), prefix_(std::move(prefix)) {}

  Status Error(const std::string& key, const std::string& what) const {
    std::string k = prefix_.empty() ? key : key.empty() ? prefix_ : prefix_ + "." + key;
    return Status::InvalidArgument(context_ + "key '" + k + "': " + what);
  }

  // j is an object whose keys are all in `allowed`.
  Status Object(const json& j, std::initializer_list<const char*> allowed) const {
    if (!j.is_object()) return Error("", "expected an object");
    for (const auto& [k, v] : j.items()) {
      bool ok = false;
      for (const char* a : allowed) ok = ok || k == a;
      if (!ok) {
        std::string list;
        for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
        return Error(k, "unknown key; the keys allowed here are: " + list);
      }
    }
    return Status::Ok();
  }

  Status String(const json& j, const char* key, std::string* out) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return Status::Ok();
    if (!it->is_string()) return Error(key, "expected a string");
    *out = it->get<std::string>();
    return Status::Ok();
  }

  Status Bool(const json& j, const char* key, bool* out) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return Status::Ok();
    if (!it->is_boolean()) return Error(key, "expected true or false");
    *out = it->get<bool>();
    return Status::Ok();
  }

  Status Int64(const json& j, const char* key, int64_t* out) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return Status::Ok();
    if (!it->is_number_integer()) return Error(key, "expected an integer");
    *out = it->get<int64_t>();
    return Status::Ok();
  }

  // An object or null (kept as it is); absent leaves *out.
  Status ObjectValue(const json& j, const char* key, json* out) const {
    auto it = j.find(key);
    if (it == j.end()) return Status::Ok();
    if (!it->is_null() && !it->is_object()) return Error(key, "expected an object");
    *out = *it;
    return Status::Ok();
  }

  // The array at key (empty when absent or null).
  Result<json> Array(const json& j, const char* key) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return json::array();
    if (!it->is_array()) return Error(key, "expected a list");
    return *it;
  }

 private:
  std::string context_;
  std::string prefix_;
};

std::string Index(const char* key, size_t i) {
  return std::string(key) + "[" + std::to_string(i) + "]";
}

Result<Parameter> ParameterFromJson(const json& j, size_t i) {
  Reader r("", Index("parameters", i));
  FERRY_RETURN_IF_ERROR(r.Object(j, {"name", "type", "default"}));
  Parameter p;
  FERRY_RETURN_IF_ERROR(r.String(j, "name", &p.name));
  std::string type = "string";
  FERRY_RETURN_IF_ERROR(r.String(j, "type", &type));
  auto t = internal::ParamTypeFromName(type);
  if (!t) {
    return r.Error("type", "'" + type + "' is not a parameter type; use string, int, float, " +
                               "bool or datapath");
  }
  p.type = *t;
  if (j.contains("default")) p.default_value = j["default"];
  return p;
}

Result<DataReference> DataReferenceFromJson(const json& j, size_t i) {
  Reader r("", Index("data_references", i));
  FERRY_RETURN_IF_ERROR(
      r.Object(j, {"name", "datastore", "path", "dataset_name", "dataset_version", "bind_mode"}));
  DataReference d;
  FERRY_RETURN_IF_ERROR(r.String(j, "name", &d.name));
  FERRY_RETURN_IF_ERROR(r.String(j, "datastore", &d.datastore));
  FERRY_RETURN_IF_ERROR(r.String(j, "path", &d.path));
  FERRY_RETURN_IF_ERROR(r.String(j, "dataset_name", &d.dataset_name));
  FERRY_RETURN_IF_ERROR(r.Int64(j, "dataset_version", &d.dataset_version));
  FERRY_RETURN_IF_ERROR(r.String(j, "bind_mode", &d.bind_mode));
  return d;
}

Result<Argument> ArgumentFromJson(const json& j, const Reader& r, size_t i) {
  const std::string key = Index("arguments", i);
  Argument a;
  if (j.is_string()) {
    a.text = j.get<std::string>();
    return a;
  }
  if (j.is_object() && j.size() == 1) {
    for (size_t k = 0; k < std::size(kArgKinds); ++k) {
      auto it = j.find(kArgKinds[k]);
      if (it != j.end() && it->is_string()) {
        a.kind = kArgKindValues[k];
        a.text = it->get<std::string>();
        return a;
      }
    }
  }
  return r.Error(key,
                 "expected a string or one of {\"input\": NAME}, {\"output\": NAME}, "
                 "{\"parameter\": NAME}, {\"side_input\": NAME}");
}

Status StepListsFromJson(const json& j, const Reader& r, const std::string& ctx, Step* s) {
  FERRY_ASSIGN_OR_RETURN(json args, r.Array(j, "arguments"));
  for (size_t i = 0; i < args.size(); ++i) {
    FERRY_ASSIGN_OR_RETURN(Argument a, ArgumentFromJson(args[i], r, i));
    s->arguments.push_back(std::move(a));
  }
  FERRY_ASSIGN_OR_RETURN(json inputs, r.Array(j, "inputs"));
  for (size_t i = 0; i < inputs.size(); ++i) {
    Reader ri(ctx, Index("inputs", i));
    const json& e = inputs[i];
    FERRY_RETURN_IF_ERROR(ri.Object(e, {"name", "source", "bind_mode", "side"}));
    StepInput in;
    FERRY_RETURN_IF_ERROR(ri.String(e, "name", &in.name));
    FERRY_RETURN_IF_ERROR(ri.String(e, "source", &in.source));
    FERRY_RETURN_IF_ERROR(ri.String(e, "bind_mode", &in.bind_mode));
    FERRY_RETURN_IF_ERROR(ri.Bool(e, "side", &in.side));
    s->inputs.push_back(std::move(in));
  }
  FERRY_ASSIGN_OR_RETURN(json outputs, r.Array(j, "outputs"));
  for (size_t i = 0; i < outputs.size(); ++i) {
    Reader ro(ctx, Index("outputs", i));
    const json& e = outputs[i];
    FERRY_RETURN_IF_ERROR(
        ro.Object(e, {"name", "destination", "datastore", "path", "bind_mode", "register_name"}));
    StepOutput out;
    FERRY_RETURN_IF_ERROR(ro.String(e, "name", &out.name));
    FERRY_RETURN_IF_ERROR(ro.String(e, "destination", &out.destination));
    FERRY_RETURN_IF_ERROR(ro.String(e, "datastore", &out.datastore));
    FERRY_RETURN_IF_ERROR(ro.String(e, "path", &out.path));
    FERRY_RETURN_IF_ERROR(ro.String(e, "bind_mode", &out.bind_mode));
    FERRY_RETURN_IF_ERROR(ro.String(e, "register_name", &out.register_name));
    s->outputs.push_back(std::move(out));
  }
  FERRY_ASSIGN_OR_RETURN(json params, r.Array(j, "parameters"));
  for (size_t i = 0; i < params.size(); ++i) {
    Reader rp(ctx, Index("parameters", i));
    const json& e = params[i];
    FERRY_RETURN_IF_ERROR(rp.Object(e, {"name", "value", "source"}));
    StepParameter p;
    FERRY_RETURN_IF_ERROR(rp.String(e, "name", &p.name));
    FERRY_RETURN_IF_ERROR(rp.String(e, "source", &p.source));
    if (e.contains("value")) p.value = e["value"];
    if (!p.source.empty() && !p.value.is_null()) {
      return rp.Error("", "give either a value or a source, not both");
    }
    s->parameters.push_back(std::move(p));
  }
  FERRY_ASSIGN_OR_RETURN(json after, r.Array(j, "run_after"));
  for (size_t i = 0; i < after.size(); ++i) {
    if (!after[i].is_string()) return r.Error(Index("run_after", i), "expected a step name");
    s->run_after.push_back(after[i].get<std::string>());
  }
  return Status::Ok();
}

Result<Step> StepFromJson(const json& j, size_t i) {
  if (!j.is_object()) return Reader("", Index("steps", i)).Error("", "expected an object");
  Step s;
  FERRY_RETURN_IF_ERROR(Reader("", Index("steps", i)).String(j, "name", &s.name));
  const std::string ctx = s.name.empty() ? Index("steps", i) + ": " : "step '" + s.name + "': ";
  Reader r(ctx, "");
  FERRY_RETURN_IF_ERROR(r.Object(
      j, {"name", "type", "compute", "runconfig", "source_directory", "snapshot_id", "script_name",
          "command", "python", "arguments", "inputs", "outputs", "parameters", "run_after",
          "allow_reuse", "run_options", "parallel_run_config", "hyperdrive"}));
  FERRY_RETURN_IF_ERROR(r.String(j, "type", &s.type));
  FERRY_RETURN_IF_ERROR(r.String(j, "compute", &s.compute));
  FERRY_RETURN_IF_ERROR(r.String(j, "runconfig", &s.runconfig));
  FERRY_RETURN_IF_ERROR(r.String(j, "source_directory", &s.source_directory));
  FERRY_RETURN_IF_ERROR(r.String(j, "snapshot_id", &s.snapshot_id));
  FERRY_RETURN_IF_ERROR(r.String(j, "script_name", &s.script_name));
  FERRY_RETURN_IF_ERROR(r.String(j, "command", &s.command));
  FERRY_RETURN_IF_ERROR(r.String(j, "python", &s.python));
  FERRY_RETURN_IF_ERROR(r.Bool(j, "allow_reuse", &s.allow_reuse));
  FERRY_RETURN_IF_ERROR(StepListsFromJson(j, r, ctx, &s));
  FERRY_RETURN_IF_ERROR(r.ObjectValue(j, "run_options", &s.run_options));
  if (s.run_options.is_null()) s.run_options = json::object();
  FERRY_RETURN_IF_ERROR(r.ObjectValue(j, "parallel_run_config", &s.parallel_run_config));
  FERRY_RETURN_IF_ERROR(r.ObjectValue(j, "hyperdrive", &s.hyperdrive));
  return s;
}

}  // namespace

namespace internal {

json ArgumentsToJson(const std::vector<Argument>& args) {
  json out = json::array();
  for (const auto& a : args) {
    if (a.kind == Argument::Kind::kLiteral) {
      out.push_back(a.text);
      continue;
    }
    for (size_t k = 0; k < std::size(kArgKinds); ++k) {
      if (a.kind == kArgKindValues[k]) out.push_back({{kArgKinds[k], a.text}});
    }
  }
  return out;
}

}  // namespace internal

json PipelineToJson(const PipelineSpec& spec) {
  json params = json::array();
  for (const auto& p : spec.parameters) {
    params.push_back(
        {{"name", p.name}, {"type", ParamTypeName(p.type)}, {"default", p.default_value}});
  }
  json refs = json::array();
  for (const auto& d : spec.data_references) {
    refs.push_back({{"name", d.name},
                    {"datastore", d.datastore},
                    {"path", d.path},
                    {"dataset_name", d.dataset_name},
                    {"dataset_version", d.dataset_version},
                    {"bind_mode", d.bind_mode}});
  }
  json steps = json::array();
  for (const auto& s : spec.steps) {
    json inputs = json::array(), outputs = json::array(), sparams = json::array();
    for (const auto& in : s.inputs) {
      inputs.push_back({{"name", in.name},
                        {"source", in.source},
                        {"bind_mode", in.bind_mode},
                        {"side", in.side}});
    }
    for (const auto& o : s.outputs) {
      outputs.push_back({{"name", o.name},
                         {"destination", o.destination},
                         {"datastore", o.datastore},
                         {"path", o.path},
                         {"bind_mode", o.bind_mode},
                         {"register_name", o.register_name}});
    }
    for (const auto& p : s.parameters) {
      if (p.source.empty()) {
        sparams.push_back({{"name", p.name}, {"value", p.value}});
      } else {
        sparams.push_back({{"name", p.name}, {"source", p.source}});
      }
    }
    steps.push_back({{"name", s.name},
                     {"type", s.type},
                     {"compute", s.compute},
                     {"runconfig", s.runconfig},
                     {"source_directory", s.source_directory},
                     {"snapshot_id", s.snapshot_id},
                     {"script_name", s.script_name},
                     {"command", s.command},
                     {"python", s.python},
                     {"arguments", internal::ArgumentsToJson(s.arguments)},
                     {"inputs", inputs},
                     {"outputs", outputs},
                     {"parameters", sparams},
                     {"run_after", s.run_after},
                     {"allow_reuse", s.allow_reuse},
                     {"run_options", s.run_options},
                     {"parallel_run_config", s.parallel_run_config},
                     {"hyperdrive", s.hyperdrive}});
  }
  return {{"name", spec.name},
          {"description", spec.description},
          {"default_compute", spec.default_compute},
          {"continue_on_step_failure", spec.continue_on_step_failure},
          {"parameters", params},
          {"data_references", refs},
          {"steps", steps}};
}

Result<PipelineSpec> PipelineFromJson(const json& j) {
  Reader r("", "");
  if (!j.is_object()) return Status::InvalidArgument("a pipeline must be a JSON object");
  FERRY_RETURN_IF_ERROR(
      r.Object(j, {"name", "description", "default_compute", "continue_on_step_failure",
                   "parameters", "data_references", "steps"}));
  PipelineSpec spec;
  FERRY_RETURN_IF_ERROR(r.String(j, "name", &spec.name));
  FERRY_RETURN_IF_ERROR(r.String(j, "description", &spec.description));
  FERRY_RETURN_IF_ERROR(r.String(j, "default_compute", &spec.default_compute));
  FERRY_RETURN_IF_ERROR(r.Bool(j, "continue_on_step_failure", &spec.continue_on_step_failure));
  FERRY_ASSIGN_OR_RETURN(json params, r.Array(j, "parameters"));
  for (size_t i = 0; i < params.size(); ++i) {
    FERRY_ASSIGN_OR_RETURN(Parameter p, ParameterFromJson(params[i], i));
    spec.parameters.push_back(std::move(p));
  }
  FERRY_ASSIGN_OR_RETURN(json refs, r.Array(j, "data_references"));
  for (size_t i = 0; i < refs.size(); ++i) {
    FERRY_ASSIGN_OR_RETURN(DataReference d, DataReferenceFromJson(refs[i], i));
    spec.data_references.push_back(std::move(d));
  }
  FERRY_ASSIGN_OR_RETURN(json steps, r.Array(j, "steps"));
  for (size_t i = 0; i < steps.size(); ++i) {
    FERRY_ASSIGN_OR_RETURN(Step s, StepFromJson(steps[i], i));
    spec.steps.push_back(std::move(s));
  }
  return spec;
}

}  // namespace ferry::pipeline
