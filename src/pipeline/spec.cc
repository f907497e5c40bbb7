// Parameter types and values, parameter binding, argument text and steps' reuse keys.
#include "pipeline/spec.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "common/crypto.h"
#include "common/utf8.h"
#include "pipeline/spec_internal.h"

namespace ferry::pipeline {
namespace internal {
namespace {

constexpr const char* kKnownStepTypes[] = {"PythonScriptStep", "CommandStep", "ParallelRunStep",
                                           "HyperDriveStep"};
// Azure's kinds that run on engines Ferry does not have (Data Lake Analytics, Databricks,
// Azure Batch, Data Factory, Kusto).
constexpr const char* kRefusedStepTypes[] = {"AdlaStep", "DatabricksStep", "AzureBatchStep",
                                             "DataTransferStep", "KustoStep"};

std::string Short(const nlohmann::json& v) {
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

}  // namespace

const char* const kNameRule = "1-128 letters, digits, '_', '.' or '-' (not '.' or '..')";

std::optional<ParamType> ParamTypeFromName(std::string_view name) {
  for (ParamType t : {ParamType::kString, ParamType::kInt, ParamType::kFloat, ParamType::kBool,
                      ParamType::kDataPath}) {
    if (name == ParamTypeName(t)) return t;
  }
  return std::nullopt;
}

std::string ParamValueError(ParamType t, const nlohmann::json& v) {
  switch (t) {
    case ParamType::kString:
      if (v.is_string()) return "";
      return "expected a string, got " + Short(v);
    case ParamType::kInt:
      if (v.is_number_integer()) return "";
      return "expected an integer, got " + Short(v);
    case ParamType::kFloat:
      if (v.is_number()) return "";
      return "expected a number, got " + Short(v);
    case ParamType::kBool:
      if (v.is_boolean()) return "";
      return "expected true or false, got " + Short(v);
    case ParamType::kDataPath: {
      const bool ok = v.is_object() && v.size() == 2 && v.contains("datastore") &&
                      v["datastore"].is_string() && v.contains("path") && v["path"].is_string();
      if (ok) return "";
      return "expected a datapath {\"datastore\": NAME, \"path\": PATH}, got " + Short(v);
    }
  }
  return "unknown parameter type";
}

std::string StepTypeError(const std::string& type) {
  for (const char* k : kKnownStepTypes) {
    if (type == k) return "";
  }
  for (const char* r : kRefusedStepTypes) {
    if (type == r) {
      return "Ferry has no engine for " + type +
             " steps yet (they come with Spark and batch support); run the work as a "
             "PythonScriptStep or CommandStep";
    }
  }
  std::string known;
  for (const char* k : kKnownStepTypes) known += std::string(known.empty() ? "" : ", ") + k;
  return "unknown step type '" + type + "'; use one of: " + known;
}

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace internal

namespace {

// A value given for a parameter, as its type's JSON; strings are read for int, float, bool
// and datapath (DATASTORE/PATH), as the CLI's -p name=value gives them.
Result<nlohmann::json> Coerce(const Parameter& p, const nlohmann::json& v) {
  auto bad = [&](const std::string& what) {
    return Status::InvalidArgument("parameter '" + p.name + "' (" + ParamTypeName(p.type) +
                                   "): " + what);
  };
  if (!v.is_string() || p.type == ParamType::kString) {
    std::string err = internal::ParamValueError(p.type, v);
    if (!err.empty()) return bad(err);
    if (p.type == ParamType::kFloat) return nlohmann::json(v.get<double>());
    return v;
  }
  const std::string s = v.get<std::string>();
  switch (p.type) {
    case ParamType::kInt: {
      int64_t n = 0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
      if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
        return bad("expected an integer, got \"" + s + "\"");
      }
      return nlohmann::json(n);
    }
    case ParamType::kFloat: {
      char* end = nullptr;
      errno = 0;
      const double d = std::strtod(s.c_str(), &end);
      if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(d)) {
        return bad("expected a finite number, got \"" + s + "\"");
      }
      return nlohmann::json(d);
    }
    case ParamType::kBool:
      if (s == "true" || s == "True" || s == "TRUE") return nlohmann::json(true);
      if (s == "false" || s == "False" || s == "FALSE") return nlohmann::json(false);
      return bad("expected true or false, got \"" + s + "\"");
    case ParamType::kDataPath: {
      const size_t slash = s.find('/');
      if (slash == std::string::npos || slash == 0 || slash + 1 == s.size()) {
        return bad("expected DATASTORE/PATH, got \"" + s + "\"");
      }
      return nlohmann::json{{"datastore", s.substr(0, slash)}, {"path", s.substr(slash + 1)}};
    }
    case ParamType::kString:
      break;
  }
  return v;
}

// A copy of v whose strings (keys too) went through EscapeBytes: valid UTF-8 for dump(), and
// still one-to-one, so distinct byte strings never hash alike.
nlohmann::json Escaped(const nlohmann::json& v) {
  if (v.is_string()) return EscapeBytes(v.get_ref<const std::string&>());
  if (v.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : v) out.push_back(Escaped(e));
    return out;
  }
  if (v.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, e] : v.items()) out[EscapeBytes(k)] = Escaped(e);
    return out;
  }
  return v;
}

}  // namespace

const char* ParamTypeName(ParamType t) {
  switch (t) {
    case ParamType::kString:
      return "string";
    case ParamType::kInt:
      return "int";
    case ParamType::kFloat:
      return "float";
    case ParamType::kBool:
      return "bool";
    case ParamType::kDataPath:
      return "datapath";
  }
  return "?";
}

Result<std::map<std::string, nlohmann::json>> BindParameters(
    const PipelineSpec& spec, const std::map<std::string, nlohmann::json>& given) {
  std::map<std::string, const Parameter*> declared;
  for (const auto& p : spec.parameters) declared[p.name] = &p;
  for (const auto& [name, value] : given) {
    if (declared.count(name) == 0) {
      std::string names;
      for (const auto& [n, p] : declared) names += (names.empty() ? "" : ", ") + n;
      return Status::InvalidArgument(
          "parameter '" + name + "' is not a parameter of pipeline '" + spec.name + "'; " +
          (names.empty() ? std::string("it declares none") : "it declares: " + names));
    }
  }
  std::map<std::string, nlohmann::json> bound;
  for (const auto& p : spec.parameters) {
    auto it = given.find(p.name);
    if (it == given.end() && p.default_value.is_null()) {
      return Status::InvalidArgument("parameter '" + p.name + "' (" + ParamTypeName(p.type) +
                                     ") has no default; give it a value (-p " + p.name + "=VALUE)");
    }
    FERRY_ASSIGN_OR_RETURN(bound[p.name],
                           Coerce(p, it == given.end() ? p.default_value : it->second));
  }
  return bound;
}

std::map<std::string, nlohmann::json> StepParameterValues(
    const Step& step, const std::map<std::string, nlohmann::json>& bound) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& p : step.parameters) {
    if (p.source.empty()) {
      out[p.name] = p.value;
    } else {
      auto it = bound.find(p.source);
      out[p.name] = it == bound.end() ? nlohmann::json() : it->second;
    }
  }
  return out;
}

std::string ArgumentText(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  if (value.is_object() && value.size() == 2 && value.contains("datastore") &&
      value.contains("path") && value["datastore"].is_string() && value["path"].is_string()) {
    return value["datastore"].get<std::string>() + "/" + value["path"].get<std::string>();
  }
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string StepReuseKey(const Step& step, const ReuseInputs& in) {
  nlohmann::json outputs = nlohmann::json::array();
  for (const auto& o : step.outputs) {
    outputs.push_back({{"name", o.name}, {"bind_mode", o.bind_mode}});
  }
  nlohmann::json params = nlohmann::json::object();
  for (const auto& [k, v] : in.parameters) params[k] = v;
  nlohmann::json content = nlohmann::json::object();
  for (const auto& [k, v] : in.input_content) content[k] = v;
  // The step's own argument template too: a caller that resolved nothing still gets a key
  // that moves with the arguments.
  nlohmann::json templ = internal::ArgumentsToJson(step.arguments);
  const nlohmann::json key = {
      {"format", 1},
      {"type", step.type},
      {"snapshot_id", step.snapshot_id},
      {"script_name", step.script_name},
      {"command", step.command},
      {"python", step.python},
      {"run_options", step.run_options},
      {"parallel_run_config", step.parallel_run_config},
      {"hyperdrive", step.hyperdrive},
      {"argument_template", templ},
      {"outputs", outputs},
      {"arguments", in.arguments},
      {"parameters", params},
      {"input_content", content},
  };
  // Objects are sorted maps, so the dump is canonical.
  return Sha256Hex(Escaped(key).dump());
}

}  // namespace ferry::pipeline
