// Validate: the checks that need no workspace (names, step kinds, sources, placeholders,
// parameter types, run_after, cycles) and the dependency graph they leave.
#include <algorithm>
#include <cctype>
#include <set>

#include "pipeline/spec.h"
#include "pipeline/spec_internal.h"

namespace ferry::pipeline {
namespace {

using internal::IsValidName;
using internal::kNameRule;

// A step's own names for its inputs and outputs become environment variables of its run
// (FERRY_INPUT_<name>, FERRY_OUTPUT_<name>): the rule of model::ValidateDataIoName.
constexpr const char* kDataIoNameRule =
    "1 to 128 of A-Z, a-z, 0-9 and '_', not starting with a digit (it becomes an environment "
    "variable's name)";
bool IsDataIoName(std::string_view n) {
  if (n.empty() || n.size() > 128 || std::isdigit(static_cast<unsigned char>(n[0]))) return false;
  for (char c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

bool OneOf(const std::string& v, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed) {
    if (v == a) return true;
  }
  return false;
}

std::string Destination(const StepOutput& o) {
  return o.destination.empty() ? o.name : o.destination;
}

class Checker {
 public:
  explicit Checker(const PipelineSpec& spec) : spec_(spec), yaml_(!spec.file.empty()) {}

  Result<Graph> Run() {
    if (spec_.steps.empty()) return Err(0, "", "steps", "the pipeline has no steps; add one");
    FERRY_RETURN_IF_ERROR(Parameters());
    FERRY_RETURN_IF_ERROR(DataReferences());
    for (size_t i = 0; i < spec_.steps.size(); ++i) FERRY_RETURN_IF_ERROR(StepAlone(i));
    for (size_t i = 0; i < spec_.steps.size(); ++i) FERRY_RETURN_IF_ERROR(StepLinks(i));
    return Order();
  }

 private:
  // "FILE:LINE: CONTEXT key 'KEY': WHAT" (FILE:LINE for a spec from YAML only).
  Status Err(int line, const std::string& context, const std::string& key,
             const std::string& what) const {
    std::string s;
    if (yaml_) {
      s = spec_.file;
      if (line > 0) s += ":" + std::to_string(line);
      s += ": ";
    }
    s += context;
    if (!key.empty()) s += "key '" + key + "': ";
    return Status::InvalidArgument(s + what);
  }

  // An error about a step's own key, at that key's line when the YAML recorded it.
  Status StepErr(const Step& s, const std::string& key, const std::string& what) const {
    auto it = s.key_lines.find(key);
    return Err(it == s.key_lines.end() ? s.line : it->second, Ctx(s), key, what);
  }

  static std::string Ctx(const Step& s) { return "step '" + s.name + "': "; }

  // The YAML and the JSON spell a few keys differently.
  const char* PathKey() const { return yaml_ ? "path_on_datastore" : "path"; }
  const char* VersionKey() const { return yaml_ ? "version" : "dataset_version"; }
  std::string InputKey(const StepInput& in) const {
    return std::string(in.side && yaml_ ? "side_inputs." : "inputs.") + in.name;
  }

  Status Parameters() {
    for (const auto& p : spec_.parameters) {
      const std::string key = "parameters." + p.name;
      if (!IsValidName(p.name)) {
        return Err(p.line, "", key, "'" + p.name + "' is not a valid name: use " + kNameRule);
      }
      if (!params_.emplace(p.name, &p).second) {
        return Err(p.line, "", key, "two parameters have this name; rename one");
      }
      if (p.default_value.is_null()) continue;
      std::string e = internal::ParamValueError(p.type, p.default_value);
      if (!e.empty()) {
        return Err(p.line, "", key + ".default",
                   std::string("the default of a ") + ParamTypeName(p.type) + " parameter: " + e);
      }
    }
    return Status::Ok();
  }

  Status DataReferences() {
    const std::string section = "data_references.";
    for (const auto& d : spec_.data_references) {
      const std::string key = section + d.name;
      if (!IsValidName(d.name)) {
        return Err(d.line, "", key, "'" + d.name + "' is not a valid name: use " + kNameRule);
      }
      if (!refs_.emplace(d.name, &d).second) {
        return Err(d.line, "", key, "two data references have this name; rename one");
      }
      auto p = params_.find(d.name);
      if (p != params_.end() && p->second->type == ParamType::kDataPath) {
        return Err(d.line, "", key,
                   "a datapath parameter has this name too, so inputs naming it are ambiguous; "
                   "rename one");
      }
      if (!d.dataset_name.empty() && (!d.datastore.empty() || !d.path.empty())) {
        return Err(
            d.line, "", key,
            std::string("give a dataset_name or a datastore and ") + PathKey() + ", not both");
      }
      if (d.dataset_name.empty() && d.datastore.empty() && d.path.empty()) {
        return Err(d.line, "", key,
                   std::string("says nothing to read; give a datastore and ") + PathKey() +
                       ", or a dataset_name");
      }
      if (d.dataset_version < 0 || (d.dataset_version > 0 && d.dataset_name.empty())) {
        return Err(d.line, "", key + "." + VersionKey(),
                   "a version is a positive number, and only with a dataset_name");
      }
      if (!OneOf(d.bind_mode, {"mount", "download"})) {
        return Err(d.line, "", key + ".bind_mode",
                   "'" + d.bind_mode + "' is not a bind mode here; use mount or download");
      }
    }
    return Status::Ok();
  }

  // What one step says of itself: its name, kind, program, inputs', outputs' and parameters'
  // own fields. Records outputs' destinations for StepLinks.
  Status StepAlone(size_t i) {
    const Step& s = spec_.steps[i];
    if (!IsValidName(s.name)) {
      return Err(s.line, "step '" + s.name + "': ", "",
                 "not a valid step name: use " + std::string(kNameRule));
    }
    if (!steps_.emplace(s.name, i).second) {
      return Err(s.line, Ctx(s), "", "two steps have this name; rename one");
    }
    std::string e = internal::StepTypeError(s.type);
    if (!e.empty()) return StepErr(s, "type", e);
    FERRY_RETURN_IF_ERROR(Program(s));
    std::set<std::string> names;
    for (const auto& in : s.inputs) {
      const std::string key = InputKey(in);
      if (!IsDataIoName(in.name))
        return Err(in.line, Ctx(s), key, "not a valid name: use " + std::string(kDataIoNameRule));
      if (!names.insert(in.name).second) {
        return Err(in.line, Ctx(s), key, "two inputs of the step have this name; rename one");
      }
      if (in.side && s.type != "ParallelRunStep") {
        return Err(in.line, Ctx(s), key, "side inputs belong to ParallelRunStep steps only");
      }
      if (in.source.empty()) {
        return Err(in.line, Ctx(s), key + ".source",
                   "required: a data reference, a datapath parameter or another step's output "
                   "destination");
      }
      if (!OneOf(in.bind_mode, {"mount", "download"})) {
        return Err(in.line, Ctx(s), key + ".bind_mode",
                   "'" + in.bind_mode +
                       "' is not a bind mode for an input; use mount or "
                       "download");
      }
    }
    names.clear();
    for (const auto& o : s.outputs) {
      const std::string key = "outputs." + o.name;
      if (!IsDataIoName(o.name))
        return Err(o.line, Ctx(s), key, "not a valid name: use " + std::string(kDataIoNameRule));
      if (!names.insert(o.name).second) {
        return Err(o.line, Ctx(s), key, "two outputs of the step have this name; rename one");
      }
      const std::string dest = Destination(o);
      if (!IsValidName(dest)) {
        return Err(o.line, Ctx(s), key + ".destination",
                   "'" + dest + "' is not a valid name: use " + kNameRule);
      }
      auto [it, fresh] = producers_.emplace(dest, std::make_pair(i, &o));
      if (!fresh) {
        const Step& other = spec_.steps[it->second.first];
        return Err(o.line, Ctx(s), key + ".destination",
                   "'" + dest + "' is also the destination of step '" + other.name + "' output '" +
                       it->second.second->name +
                       "'; destinations are pipeline-wide, so give each output its own");
      }
      if (refs_.count(dest) ||
          (params_.count(dest) && params_[dest]->type == ParamType::kDataPath)) {
        return Err(o.line, Ctx(s), key + ".destination",
                   "'" + dest + "' is also the name of a " +
                       (refs_.count(dest) ? "data reference" : "datapath parameter") +
                       ", so inputs naming it are ambiguous; rename one");
      }
      if (!OneOf(o.bind_mode, {"mount", "upload"})) {
        return Err(o.line, Ctx(s), key + ".bind_mode",
                   "'" + o.bind_mode + "' is not a bind mode for an output; use mount or upload");
      }
    }
    names.clear();
    for (const auto& p : s.parameters) {
      const std::string key = "parameters." + p.name;
      if (!IsValidName(p.name))
        return Err(p.line, Ctx(s), key, "not a valid name: use " + std::string(kNameRule));
      if (!names.insert(p.name).second) {
        return Err(p.line, Ctx(s), key, "two parameters of the step have this name; rename one");
      }
      if (p.source.empty() && p.value.is_null()) {
        return Err(p.line, Ctx(s), key,
                   "give a value, or {source: NAME} to take a pipeline parameter's");
      }
      if (!p.source.empty() && params_.count(p.source) == 0) {
        return Err(p.line, Ctx(s), key + ".source",
                   "'" + p.source + "' is not a pipeline parameter; " + ParamNames());
      }
    }
    return Status::Ok();
  }

  // The step's program: what its kind needs, and no field of another kind.
  Status Program(const Step& s) const {
    const bool script = s.type == "PythonScriptStep" || s.type == "ParallelRunStep";
    if (script && s.script_name.empty()) {
      return StepErr(s, "script_name", "required for a " + s.type + ": the script to run");
    }
    if (!s.script_name.empty()) {
      if (s.type == "CommandStep") {
        return StepErr(s, "script_name",
                       "a CommandStep runs its command; put the script in the command line");
      }
      const std::string& n = s.script_name;
      const bool escapes = n[0] == '/' || n == ".." || n.rfind("../", 0) == 0 ||
                           n.find("/../") != std::string::npos ||
                           (n.size() >= 3 && n.compare(n.size() - 3, 3, "/..") == 0);
      if (escapes) {
        return StepErr(s, "script_name", "'" + n + "' must be a path inside the source directory");
      }
    }
    if (s.type == "CommandStep" && s.command.empty()) {
      return StepErr(s, "command", "required for a CommandStep: the command line to run");
    }
    if (s.type != "CommandStep" && !s.command.empty()) {
      return StepErr(s, "command", "only a CommandStep has a command; this is a " + s.type);
    }
    if (s.type == "ParallelRunStep" && !s.parallel_run_config.is_object()) {
      return StepErr(s, "parallel_run_config",
                     "required for a ParallelRunStep: a file path or the fields");
    }
    if (s.type != "ParallelRunStep" && !s.parallel_run_config.is_null()) {
      return StepErr(s, "parallel_run_config", "only a ParallelRunStep has one");
    }
    if (s.type == "HyperDriveStep" && !s.hyperdrive.is_object()) {
      return StepErr(s, "hyperdrive", "required for a HyperDriveStep: the sweep definition");
    }
    if (s.type != "HyperDriveStep" && !s.hyperdrive.is_null()) {
      return StepErr(s, "hyperdrive", "only a HyperDriveStep has one");
    }
    if (!s.run_options.is_object()) return StepErr(s, "run_options", "expected an object");
    return Status::Ok();
  }

  std::string ParamNames() const {
    if (params_.empty()) return "the pipeline declares none";
    std::string s;
    for (const auto& [n, p] : params_) s += (s.empty() ? "" : ", ") + n;
    return "the pipeline declares: " + s;
  }

  // The step's references to the rest: input sources, placeholders, run_after.
  Status StepLinks(size_t i) {
    const Step& s = spec_.steps[i];
    std::set<size_t> deps;
    std::map<std::string, const StepInput*> inputs;
    for (const auto& in : s.inputs) {
      inputs[in.name] = &in;
      if (refs_.count(in.source)) continue;
      auto p = params_.find(in.source);
      if (p != params_.end()) {
        if (p->second->type == ParamType::kDataPath) continue;
        return Err(in.line, Ctx(s), InputKey(in) + ".source",
                   "parameter '" + in.source + "' is a " + ParamTypeName(p->second->type) +
                       "; an input's source must be a datapath parameter, a data reference or "
                       "an output destination");
      }
      auto o = producers_.find(in.source);
      if (o == producers_.end()) {
        return Err(in.line, Ctx(s), InputKey(in) + ".source",
                   "'" + in.source +
                       "' is not a data reference, a datapath parameter or any "
                       "step's output destination");
      }
      if (o->second.first == i) {
        return Err(in.line, Ctx(s), InputKey(in) + ".source",
                   "'" + in.source +
                       "' is this step's own output; a step cannot read what it "
                       "writes");
      }
      deps.insert(o->second.first);
    }
    for (size_t a = 0; a < s.arguments.size(); ++a) {
      FERRY_RETURN_IF_ERROR(Placeholder(s, a, inputs));
    }
    for (const auto& name : s.run_after) {
      auto it = steps_.find(name);
      if (it == steps_.end()) {
        return StepErr(s, "run_after", "'" + name + "' is not a step of this pipeline");
      }
      if (it->second == i) return StepErr(s, "run_after", "a step cannot run after itself");
      deps.insert(it->second);
    }
    depends_.emplace_back(deps.begin(), deps.end());
    return Status::Ok();
  }

  Status Placeholder(const Step& s, size_t a,
                     const std::map<std::string, const StepInput*>& inputs) const {
    const Argument& arg = s.arguments[a];
    const std::string key = "arguments[" + std::to_string(a) + "]";
    const int line = arg.line > 0 ? arg.line : s.line;
    auto it = inputs.find(arg.text);
    switch (arg.kind) {
      case Argument::Kind::kLiteral:
        return Status::Ok();
      case Argument::Kind::kInput:
        if (it != inputs.end() && !it->second->side) return Status::Ok();
        return Err(
            line, Ctx(s), key,
            "input:" + arg.text + " names no input of the step" +
                (it != inputs.end() ? " (it is a side input: write side_input:" + arg.text + ")"
                                    : "; declare it under inputs"));
      case Argument::Kind::kSideInput:
        if (it != inputs.end() && it->second->side) return Status::Ok();
        return Err(line, Ctx(s), key,
                   "side_input:" + arg.text + " names no side input of the step" +
                       (it != inputs.end() ? " (it is an input: write input:" + arg.text + ")"
                                           : "; declare it under side_inputs"));
      case Argument::Kind::kOutput:
        for (const auto& o : s.outputs) {
          if (o.name == arg.text) return Status::Ok();
        }
        return Err(line, Ctx(s), key,
                   "output:" + arg.text + " names no output of the step; declare it under outputs");
      case Argument::Kind::kParameter:
        for (const auto& p : s.parameters) {
          if (p.name == arg.text) return Status::Ok();
        }
        return Err(line, Ctx(s), key,
                   "parameter:" + arg.text +
                       " names no parameter of the step; declare it under the step's parameters "
                       "(a pipeline parameter is reached by {source: NAME})");
    }
    return Status::Ok();
  }

  // Kahn's order, the smallest ready index first (ties in written order); a cycle is reported
  // with its steps in the order data flows.
  Result<Graph> Order() {
    const size_t n = spec_.steps.size();
    Graph g;
    g.depends = depends_;
    for (const auto& [dest, producer] : producers_) g.producer[dest] = producer.first;
    std::vector<size_t> waiting(n);
    std::vector<std::vector<size_t>> dependents(n);
    for (size_t i = 0; i < n; ++i) {
      waiting[i] = g.depends[i].size();
      for (size_t d : g.depends[i]) dependents[d].push_back(i);
    }
    std::set<size_t> ready;
    for (size_t i = 0; i < n; ++i) {
      if (waiting[i] == 0) ready.insert(i);
    }
    while (!ready.empty()) {
      const size_t i = *ready.begin();
      ready.erase(ready.begin());
      g.order.push_back(i);
      for (size_t d : dependents[i]) {
        if (--waiting[d] == 0) ready.insert(d);
      }
    }
    if (g.order.size() == n) return g;
    return Cycle(waiting);
  }

  // Every step left waiting waits for another left waiting, so following those edges from
  // any of them comes back round.
  Status Cycle(const std::vector<size_t>& waiting) const {
    size_t at = 0;
    while (waiting[at] == 0) ++at;
    std::vector<size_t> path;
    std::vector<int> pos(spec_.steps.size(), -1);
    while (pos[at] < 0) {
      pos[at] = static_cast<int>(path.size());
      path.push_back(at);
      for (size_t d : depends_[at]) {
        if (waiting[d] > 0) {
          at = d;
          break;
        }
      }
    }
    // path[pos[at]..] waits for the next one: reversed, it is the order data flows.
    std::vector<size_t> cycle(path.rbegin(), path.rend() - pos[at]);
    size_t first = 0;
    for (size_t k = 1; k < cycle.size(); ++k) {
      if (cycle[k] < cycle[first]) first = k;
    }
    std::rotate(cycle.begin(), cycle.begin() + static_cast<std::ptrdiff_t>(first), cycle.end());
    std::string text;
    for (size_t c : cycle) text += spec_.steps[c].name + " -> ";
    text += spec_.steps[cycle[0]].name;
    // Report at the first step, on the link from the step before it in the cycle.
    const Step& s = spec_.steps[cycle[0]];
    const size_t before = cycle.back();
    const std::string what = "the steps form a cycle: " + text +
                             " (each needs the one before it done first); remove one of these "
                             "links";
    for (const auto& in : s.inputs) {
      auto o = producers_.find(in.source);
      if (o != producers_.end() && o->second.first == before) {
        return Err(in.line, Ctx(s), InputKey(in) + ".source", what);
      }
    }
    return StepErr(s, "run_after", what);
  }

  const PipelineSpec& spec_;
  const bool yaml_;
  std::map<std::string, const Parameter*> params_;
  std::map<std::string, const DataReference*> refs_;
  std::map<std::string, size_t> steps_;
  std::map<std::string, std::pair<size_t, const StepOutput*>> producers_;
  std::vector<std::vector<size_t>> depends_;
};

}  // namespace

Result<Graph> Validate(const PipelineSpec& spec) { return Checker(spec).Run(); }

}  // namespace ferry::pipeline
