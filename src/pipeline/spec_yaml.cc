// CLI v1's pipeline YAML read with yaml-cpp: the file's shape (keys, value types) is checked
// here with FILE:LINE on every error; what the pieces mean together is Validate's job.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <set>

#include "common/utf8.h"
#include "pipeline/parallel.h"
#include "pipeline/spec.h"
#include "pipeline/spec_internal.h"

namespace ferry::pipeline {
namespace {

using nlohmann::json;

int Line(const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; }

bool IsUnset(const YAML::Node& n) { return !n || n.IsNull(); }

std::optional<bool> BoolText(const std::string& s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

std::optional<int64_t> IntText(const std::string& s) {
  int64_t v = 0;
  const char* b = s.data() + (!s.empty() && s[0] == '+' ? 1 : 0);
  auto [end, ec] = std::from_chars(b, s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> FloatText(const std::string& s) {
  // Digits, a sign or a point first: strtod's "inf", "nan" and hex forms stay strings.
  if (s.empty() || !(std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '+' ||
                     s[0] == '.')) {
    return std::nullopt;
  }
  char* end = nullptr;
  errno = 0;
  const double d = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(d)) return std::nullopt;
  if (s.find_first_of("xX") != std::string::npos) return std::nullopt;
  return d;
}

// A scalar as JSON: quoted scalars are strings; plain ones are an integer, true/false, a
// number or else a string (YAML 1.2's core schema, without yes/no/on/off).
json ScalarJson(const YAML::Node& n) {
  if (n.IsNull()) return nullptr;
  const std::string& s = n.Scalar();
  if (n.Tag() != "?") return s;
  if (auto i = IntText(s)) return *i;
  if (auto b = BoolText(s)) return *b;
  if (auto d = FloatText(s)) return *d;
  return s;
}

// Any YAML value as JSON (for parallel_run_config and hyperdrive mappings).
json AnyJson(const YAML::Node& n) {
  if (IsUnset(n)) return nullptr;
  if (n.IsScalar()) return ScalarJson(n);
  if (n.IsSequence()) {
    json out = json::array();
    for (const auto& e : n) out.push_back(AnyJson(e));
    return out;
  }
  json out = json::object();
  for (const auto& kv : n) out[kv.first.Scalar()] = AnyJson(kv.second);
  return out;
}

std::string List(std::initializer_list<const char*> keys) {
  std::string s;
  for (const char* k : keys) s += std::string(s.empty() ? "" : ", ") + k;
  return s;
}

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  // "FILE:LINE: CONTEXT key 'KEY': WHAT"; context is "" or "step 'NAME': ".
  Status Error(const YAML::Node& at, const std::string& context, const std::string& key,
               const std::string& what) const {
    std::string s = file_;
    if (Line(at) > 0) s += ":" + std::to_string(Line(at));
    s += ": " + context;
    if (!key.empty()) s += "key '" + key + "': ";
    return Status::InvalidArgument(s + what);
  }

  // Calls each(key, key node, value) for every entry of the mapping n, after checking that n
  // is a mapping, that its keys are scalars, appear once and are all in `allowed`.
  Status Map(const YAML::Node& n, const std::string& context, const std::string& key,
             std::initializer_list<const char*> allowed,
             const std::function<Status(const std::string&, const YAML::Node&, const YAML::Node&)>&
                 each) const {
    FERRY_RETURN_IF_ERROR(CheckMap(n, context, key, "a mapping of keys to values"));
    std::map<std::string, int> seen;
    for (const auto& kv : n) {
      const std::string k = kv.first.Scalar();
      const std::string dotted = key.empty() ? k : key + "." + k;
      bool ok = false;
      for (const char* a : allowed) ok = ok || k == a;
      if (!ok) {
        return Error(kv.first, context, dotted,
                     "unknown key; the keys allowed here are: " + List(allowed));
      }
      FERRY_RETURN_IF_ERROR(Once(kv.first, context, dotted, &seen));
      FERRY_RETURN_IF_ERROR(each(k, kv.first, kv.second));
    }
    return Status::Ok();
  }

  // Calls each(name, key node, value) for every entry of a mapping of names (parameters,
  // steps, inputs, ...): names are scalars and appear once.
  Status Named(const YAML::Node& n, const std::string& context, const std::string& key,
               const std::string& what,
               const std::function<Status(const std::string&, const YAML::Node&,
                                          const YAML::Node&)>& each) const {
    if (IsUnset(n)) return Status::Ok();
    FERRY_RETURN_IF_ERROR(CheckMap(n, context, key, what));
    std::map<std::string, int> seen;
    for (const auto& kv : n) {
      const std::string name = kv.first.Scalar();
      FERRY_RETURN_IF_ERROR(Once(kv.first, context, key + "." + name, &seen));
      FERRY_RETURN_IF_ERROR(each(name, kv.first, kv.second));
    }
    return Status::Ok();
  }

  Status String(const YAML::Node& n, const std::string& context, const std::string& key,
                std::string* out) const {
    if (IsUnset(n)) return Status::Ok();
    if (!n.IsScalar()) return Error(n, context, key, "expected a string");
    *out = n.Scalar();
    return Status::Ok();
  }

  Status Bool(const YAML::Node& n, const std::string& context, const std::string& key,
              bool* out) const {
    if (IsUnset(n)) return Status::Ok();
    auto b = n.IsScalar() ? BoolText(n.Scalar()) : std::nullopt;
    if (!b) return Error(n, context, key, "expected true or false, got '" + Text(n) + "'");
    *out = *b;
    return Status::Ok();
  }

  Status StringList(const YAML::Node& n, const std::string& context, const std::string& key,
                    std::vector<std::string>* out) const {
    if (IsUnset(n)) return Status::Ok();
    if (!n.IsSequence()) return Error(n, context, key, "expected a list of step names");
    for (const auto& e : n) {
      if (!e.IsScalar()) return Error(e, context, key, "expected a list of step names");
      out->push_back(e.Scalar());
    }
    return Status::Ok();
  }

  static std::string Text(const YAML::Node& n) {
    return n.IsScalar() ? n.Scalar() : "(not a scalar)";
  }

  Result<PipelineSpec> Pipeline(const YAML::Node& root);

 private:
  Status CheckMap(const YAML::Node& n, const std::string& context, const std::string& key,
                  const std::string& what) const {
    if (!n.IsMap()) return Error(n, context, key, "expected " + what);
    for (const auto& kv : n) {
      if (!kv.first.IsScalar()) return Error(kv.first, context, key, "keys must be names");
    }
    return Status::Ok();
  }

  Status Once(const YAML::Node& k, const std::string& context, const std::string& key,
              std::map<std::string, int>* seen) const {
    auto [it, fresh] = seen->emplace(k.Scalar(), Line(k));
    if (fresh) return Status::Ok();
    return Error(k, context, key,
                 "appears twice (also on line " + std::to_string(it->second) + "); keep one");
  }

  Status Parameters(const YAML::Node& n, PipelineSpec* spec) const;
  Result<json> Default(const YAML::Node& n, const std::string& key, ParamType type) const;
  Status DataReferences(const YAML::Node& n, const char* key, PipelineSpec* spec) const;
  Status StepEntry(const std::string& name, const YAML::Node& at, const YAML::Node& n,
                   PipelineSpec* spec) const;
  Status StepKey(const std::string& k, const YAML::Node& v, const std::string& ctx, Step* s) const;
  Status Arguments(const YAML::Node& n, const std::string& ctx, Step* s) const;
  Status Inputs(const YAML::Node& n, const std::string& ctx, const char* key, bool side,
                Step* s) const;
  Status Outputs(const YAML::Node& n, const std::string& ctx, Step* s) const;
  Status StepParameters(const YAML::Node& n, const std::string& ctx, Step* s) const;

  std::string file_;
};

Result<PipelineSpec> Parser::Pipeline(const YAML::Node& root) {
  if (IsUnset(root) || !root.IsMap() || !root["pipeline"]) {
    return Error(root, "", "",
                 "expected a top-level 'pipeline:' mapping (name, parameters, data_references, "
                 "default_compute, steps)");
  }
  FERRY_RETURN_IF_ERROR(
      Map(root, "", "", {"pipeline"},
          [](const std::string&, const YAML::Node&, const YAML::Node&) { return Status::Ok(); }));
  PipelineSpec spec;
  spec.file = file_;
  const YAML::Node p = root["pipeline"];
  YAML::Node steps_at = p;
  FERRY_RETURN_IF_ERROR(
      Map(p, "", "pipeline",
          {"name", "description", "parameters", "data_references", "data_reference",
           "default_compute", "steps", "continue_on_step_failure"},
          [&](const std::string& k, const YAML::Node& at, const YAML::Node& v) -> Status {
            if (k == "name") return String(v, "", k, &spec.name);
            if (k == "description") return String(v, "", k, &spec.description);
            if (k == "default_compute") return String(v, "", k, &spec.default_compute);
            if (k == "continue_on_step_failure") {
              return Bool(v, "", k, &spec.continue_on_step_failure);
            }
            if (k == "parameters") return Parameters(v, &spec);
            if (k == "data_references" || k == "data_reference") {
              return DataReferences(v, k == "data_reference" ? "data_reference" : "data_references",
                                    &spec);
            }
            steps_at = at;
            return Named(v, "", "steps", "a mapping of step names to steps",
                         [&](const std::string& name, const YAML::Node& key, const YAML::Node& s) {
                           return StepEntry(name, key, s, &spec);
                         });
          }));
  if (spec.steps.empty()) {
    return Error(steps_at, "", "steps",
                 "the pipeline has no steps; add at least one under 'steps:'");
  }
  return spec;
}

Status Parser::Parameters(const YAML::Node& n, PipelineSpec* spec) const {
  return Named(n, "", "parameters", "a mapping of parameter names to {type, default}",
               [&](const std::string& name, const YAML::Node& at, const YAML::Node& v) -> Status {
                 const std::string key = "parameters." + name;
                 Parameter p;
                 p.name = name;
                 p.line = Line(at);
                 std::string type;
                 YAML::Node def;
                 FERRY_RETURN_IF_ERROR(Map(
                     v, "", key, {"type", "default"},
                     [&](const std::string& k, const YAML::Node&, const YAML::Node& x) -> Status {
                       if (k == "type") return String(x, "", key + ".type", &type);
                       def = x;
                       return Status::Ok();
                     }));
                 if (type.empty()) {
                   // No type: the default's own (a mapping is a datapath), else string.
                   const json d = AnyJson(def);
                   p.type = d.is_object()           ? ParamType::kDataPath
                            : d.is_boolean()        ? ParamType::kBool
                            : d.is_number_integer() ? ParamType::kInt
                            : d.is_number()         ? ParamType::kFloat
                                                    : ParamType::kString;
                 } else {
                   auto t = internal::ParamTypeFromName(type);
                   if (!t) {
                     return Error(v["type"], "", key + ".type",
                                  "'" + type +
                                      "' is not a parameter type; use string, int, float, bool "
                                      "or datapath");
                   }
                   p.type = *t;
                 }
                 FERRY_ASSIGN_OR_RETURN(p.default_value, Default(def, key + ".default", p.type));
                 spec->parameters.push_back(std::move(p));
                 return Status::Ok();
               });
}

// A parameter's default read as its declared type (a string parameter's `default: 3` is
// "3"); a datapath is {datastore, path_on_datastore}.
Result<json> Parser::Default(const YAML::Node& n, const std::string& key, ParamType type) const {
  if (IsUnset(n)) return json();
  if (type == ParamType::kDataPath) {
    json d = {{"datastore", ""}, {"path", ""}};
    FERRY_RETURN_IF_ERROR(
        Map(n, "", key, {"datastore", "path_on_datastore"},
            [&](const std::string& k, const YAML::Node&, const YAML::Node& v) -> Status {
              std::string s;
              FERRY_RETURN_IF_ERROR(String(v, "", key + "." + k, &s));
              d[k == "datastore" ? "datastore" : "path"] = s;
              return Status::Ok();
            }));
    return d;
  }
  if (!n.IsScalar()) return Error(n, "", key, "expected a single value");
  const std::string& s = n.Scalar();
  switch (type) {
    case ParamType::kString:
      return json(s);
    case ParamType::kInt:
      if (auto i = IntText(s)) return json(*i);
      return Error(n, "", key, "expected an integer for an int parameter, got '" + s + "'");
    case ParamType::kFloat:
      if (auto d = FloatText(s)) return json(*d);
      return Error(n, "", key, "expected a number for a float parameter, got '" + s + "'");
    case ParamType::kBool:
      if (auto b = BoolText(s)) return json(*b);
      return Error(n, "", key, "expected true or false for a bool parameter, got '" + s + "'");
    case ParamType::kDataPath:
      break;
  }
  return json();
}

Status Parser::DataReferences(const YAML::Node& n, const char* section, PipelineSpec* spec) const {
  return Named(
      n, "", section, "a mapping of data reference names to {datastore, path_on_datastore}",
      [&](const std::string& name, const YAML::Node& at, const YAML::Node& v) -> Status {
        const std::string key = std::string(section) + "." + name;
        DataReference d;
        d.name = name;
        d.line = Line(at);
        FERRY_RETURN_IF_ERROR(Map(
            v, "", key, {"datastore", "path_on_datastore", "dataset_name", "version", "bind_mode"},
            [&](const std::string& k, const YAML::Node&, const YAML::Node& x) -> Status {
              const std::string f = key + "." + k;
              if (k == "datastore") return String(x, "", f, &d.datastore);
              if (k == "path_on_datastore") return String(x, "", f, &d.path);
              if (k == "dataset_name") return String(x, "", f, &d.dataset_name);
              if (k == "bind_mode") return String(x, "", f, &d.bind_mode);
              if (IsUnset(x)) return Status::Ok();
              int64_t version = -1;
              if (x.IsScalar() && x.Scalar() == "latest") {
                version = 0;
              } else if (auto i = x.IsScalar() ? IntText(x.Scalar()) : std::nullopt; i) {
                version = *i > 0 ? *i : -1;
              }
              if (version < 0) {
                return Error(x, "", f,
                             "expected a dataset version number (1, 2, ...) or 'latest', got '" +
                                 Text(x) + "'");
              }
              d.dataset_version = version;
              return Status::Ok();
            }));
        spec->data_references.push_back(std::move(d));
        return Status::Ok();
      });
}

Status Parser::StepEntry(const std::string& name, const YAML::Node& at, const YAML::Node& n,
                         PipelineSpec* spec) const {
  const std::string ctx = "step '" + name + "': ";
  Step s;
  s.name = name;
  s.line = Line(at);
  if (!n.IsMap()) return Error(n, ctx, "", "expected a mapping (type, script_name, inputs, ...)");
  // The kind first: Azure's kinds Ferry does not run have keys of their own (pool_id,
  // num_workers, ...), and the refusal says more than an unknown key would.
  if (n["type"]) {
    FERRY_RETURN_IF_ERROR(String(n["type"], ctx, "type", &s.type));
    std::string err = internal::StepTypeError(s.type);
    if (!err.empty()) return Error(n["type"], ctx, "type", err);
  }
  FERRY_RETURN_IF_ERROR(
      Map(n, ctx, "",
          {"type", "name", "compute", "runconfig", "source_directory", "script_name", "command",
           "python", "arguments", "parameters", "inputs", "side_inputs", "outputs", "allow_reuse",
           "run_after", "parallel_run_config", "hyperdrive"},
          [&](const std::string& k, const YAML::Node& key, const YAML::Node& v) -> Status {
            s.key_lines[k] = Line(key);
            return StepKey(k, v, ctx, &s);
          }));
  spec->steps.push_back(std::move(s));
  return Status::Ok();
}

Status Parser::StepKey(const std::string& k, const YAML::Node& v, const std::string& ctx,
                       Step* s) const {
  if (k == "type") return Status::Ok();  // read first, by StepEntry
  if (k == "name") {
    std::string display;  // Azure's display name; the step's key is its name in Ferry
    return String(v, ctx, k, &display);
  }
  if (k == "compute") return String(v, ctx, k, &s->compute);
  if (k == "runconfig") return String(v, ctx, k, &s->runconfig);
  if (k == "source_directory") return String(v, ctx, k, &s->source_directory);
  if (k == "script_name") return String(v, ctx, k, &s->script_name);
  if (k == "command") return String(v, ctx, k, &s->command);
  if (k == "python") return String(v, ctx, k, &s->python);
  if (k == "allow_reuse") return Bool(v, ctx, k, &s->allow_reuse);
  if (k == "run_after") return StringList(v, ctx, k, &s->run_after);
  if (k == "arguments") return Arguments(v, ctx, s);
  if (k == "parameters") return StepParameters(v, ctx, s);
  if (k == "inputs") return Inputs(v, ctx, "inputs", false, s);
  if (k == "side_inputs") return Inputs(v, ctx, "side_inputs", true, s);
  if (k == "outputs") return Outputs(v, ctx, s);
  if (IsUnset(v)) return Status::Ok();
  if (k == "parallel_run_config") {
    // Azure: the path of a ParallelRunConfig file, which the CLI reads; Ferry also takes the
    // fields written in place.
    if (v.IsScalar()) {
      s->parallel_run_config = {{"file", v.Scalar()}};
      return Status::Ok();
    }
    if (!v.IsMap()) return Error(v, ctx, k, "expected a file path or a mapping");
    s->parallel_run_config = AnyJson(v);
    return Status::Ok();
  }
  // hyperdrive
  if (!v.IsMap()) return Error(v, ctx, k, "expected a mapping (the sweep definition)");
  s->hyperdrive = AnyJson(v);
  return Status::Ok();
}

Status Parser::Arguments(const YAML::Node& n, const std::string& ctx, Step* s) const {
  if (IsUnset(n)) return Status::Ok();
  if (!n.IsSequence()) return Error(n, ctx, "arguments", "expected a list");
  static constexpr std::pair<const char*, Argument::Kind> kPrefixes[] = {
      {"input:", Argument::Kind::kInput},
      {"output:", Argument::Kind::kOutput},
      {"parameter:", Argument::Kind::kParameter},
      {"side_input:", Argument::Kind::kSideInput}};
  for (size_t i = 0; i < n.size(); ++i) {
    const YAML::Node e = n[i];
    const std::string key = "arguments[" + std::to_string(i) + "]";
    if (!e.IsScalar()) return Error(e, ctx, key, "expected a string or a number");
    Argument a;
    a.text = e.Scalar();
    a.line = Line(e);
    for (const auto& [prefix, kind] : kPrefixes) {
      const std::string_view p = prefix;
      if (a.text.compare(0, p.size(), p) == 0) {
        a.kind = kind;
        a.text = a.text.substr(p.size());
        if (a.text.empty()) {
          return Error(
              e, ctx, key,
              "'" + std::string(prefix) + "' names nothing; write " + std::string(prefix) + "NAME");
        }
        break;
      }
    }
    s->arguments.push_back(std::move(a));
  }
  return Status::Ok();
}

Status Parser::Inputs(const YAML::Node& n, const std::string& ctx, const char* section, bool side,
                      Step* s) const {
  return Named(n, ctx, section, "a mapping of input names to {source, bind_mode}",
               [&](const std::string& name, const YAML::Node& at, const YAML::Node& v) -> Status {
                 const std::string key = std::string(section) + "." + name;
                 StepInput in;
                 in.name = name;
                 in.side = side;
                 in.line = Line(at);
                 FERRY_RETURN_IF_ERROR(
                     Map(v, ctx, key, {"source", "bind_mode"},
                         [&](const std::string& k, const YAML::Node&, const YAML::Node& x) {
                           return String(x, ctx, key + "." + k,
                                         k == "source" ? &in.source : &in.bind_mode);
                         }));
                 s->inputs.push_back(std::move(in));
                 return Status::Ok();
               });
}

Status Parser::Outputs(const YAML::Node& n, const std::string& ctx, Step* s) const {
  return Named(
      n, ctx, "outputs", "a mapping of output names to {destination, datastore, bind_mode}",
      [&](const std::string& name, const YAML::Node& at, const YAML::Node& v) -> Status {
        const std::string key = "outputs." + name;
        StepOutput o;
        o.name = name;
        o.line = Line(at);
        if (IsUnset(v)) {
          s->outputs.push_back(std::move(o));  // all defaults: the destination is the name
          return Status::Ok();
        }
        FERRY_RETURN_IF_ERROR(
            Map(v, ctx, key,
                {"destination", "datastore", "bind_mode", "path_on_datastore", "register_name"},
                [&](const std::string& k, const YAML::Node&, const YAML::Node& x) {
                  std::string* out = k == "destination"         ? &o.destination
                                     : k == "datastore"         ? &o.datastore
                                     : k == "bind_mode"         ? &o.bind_mode
                                     : k == "path_on_datastore" ? &o.path
                                                                : &o.register_name;
                  return String(x, ctx, key + "." + k, out);
                }));
        s->outputs.push_back(std::move(o));
        return Status::Ok();
      });
}

Status Parser::StepParameters(const YAML::Node& n, const std::string& ctx, Step* s) const {
  return Named(n, ctx, "parameters", "a mapping of parameter names to values or {source: NAME}",
               [&](const std::string& name, const YAML::Node& at, const YAML::Node& v) -> Status {
                 StepParameter p;
                 p.name = name;
                 p.line = Line(at);
                 if (v.IsMap()) {
                   FERRY_RETURN_IF_ERROR(
                       Map(v, ctx, "parameters." + name, {"source"},
                           [&](const std::string&, const YAML::Node&, const YAML::Node& x) {
                             return String(x, ctx, "parameters." + name + ".source", &p.source);
                           }));
                 } else {
                   p.value = AnyJson(v);
                 }
                 s->parameters.push_back(std::move(p));
                 return Status::Ok();
               });
}

}  // namespace

Result<PipelineSpec> ParsePipelineYaml(std::string_view text, const std::string& file) {
  // Everything read goes into JSON, which holds text only.
  if (auto bad = FindInvalidUtf8(text)) {
    const size_t line =
        1 + static_cast<size_t>(
                std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(*bad), '\n'));
    return Status::InvalidArgument(file + ":" + std::to_string(line) + ": not UTF-8 text (" +
                                   DescribeInvalidUtf8(text) + "); save the file as UTF-8");
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    std::string where = file;
    if (e.mark.line >= 0) where += ":" + std::to_string(e.mark.line + 1);
    return Status::InvalidArgument(where + ": not valid YAML: " + e.msg);
  }
  try {
    return Parser(file).Pipeline(root);
  } catch (const YAML::Exception& e) {
    // yaml-cpp throws on some malformed trees (an alias to nothing, ...).
    return Status::InvalidArgument(file + ": " + e.what());
  }
}

Result<nlohmann::json> ParseParallelRunConfigYaml(std::string_view text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    std::string where = file;
    if (e.mark.line >= 0) where += ":" + std::to_string(e.mark.line + 1);
    return Status::InvalidArgument(where + ": not valid YAML: " + e.msg);
  }
  if (!root.IsMap()) {
    return Status::InvalidArgument(
        file +
        ": a parallel run configuration is a mapping of "
        "ParallelRunConfig's fields (entry_script, mini_batch_size, ...)");
  }
  json out = AnyJson(root);
  out.erase("display_name");  // Azure's label, nothing to run
  return out;
}

}  // namespace ferry::pipeline
