// PipelineController (pipelines.h): pipeline runs driven from the scheduler's cycle.
#include "server/pipelines.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "model/run.h"
#include "pipeline/parallel.h"
#include "pipeline/spec.h"
#include "scheduler/scheduler.h"

namespace ferry::server {

using model::RunStatus;
using nlohmann::json;

json PipelineSettingsToJson(const PipelineSettings& s) {
  json j = {{"continue_on_step_failure", s.continue_on_step_failure}, {"data", s.data}};
  if (!s.rerun_of.empty()) j["rerun_of"] = s.rerun_of;
  return j;
}

Result<PipelineSettings> PipelineSettingsFromJson(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return Status::Corruption("a pipeline run's stored settings are not a JSON object");
  }
  PipelineSettings s;
  s.rerun_of = j.value("rerun_of", "");
  s.continue_on_step_failure = j.value("continue_on_step_failure", false);
  if (auto it = j.find("data"); it != j.end() && it->is_object()) s.data = *it;
  return s;
}

// What the controller keeps of an active pipeline run between cycles (all of it derived from
// the store, so a new controller rebuilds it).
struct PipelineController::Loaded {
  pipeline::PipelineSpec spec;
  pipeline::Graph graph;
  std::map<std::string, json> params;
  PipelineSettings settings;
  // The steps of the run this one reruns, by name.
  std::map<std::string, store::PipelineStepRecord> earlier;
  std::set<std::string> cancel_sent;  // step runs already asked to stop
};

PipelineController::PipelineController(PipelineDeps deps) : d_(std::move(deps)) {}
PipelineController::~PipelineController() = default;

void PipelineController::Changed(const std::string& id) {
  if (d_.on_change) d_.on_change(id);
}

void PipelineController::Step() {
  auto active = d_.store->ListActiveRuns();
  if (!active.ok()) {
    spdlog::error("pipelines: listing active runs: {}", active.status().ToString());
    return;
  }
  std::set<std::string> live;
  for (const auto& r : *active) {
    if (r.kind != "pipeline") continue;
    live.insert(r.id);
    auto& slot = active_[r.id];
    if (!slot) {
      auto p = std::make_unique<Loaded>();
      if (Status st = Load(r, p.get()); !st.ok()) {
        active_.erase(r.id);
        End(r, RunStatus::kFailed, "pipeline failed",
            "the pipeline run cannot be loaded: " + st.message());
        continue;
      }
      slot = std::move(p);
    }
    Drive(r, slot.get());
  }
  for (auto it = active_.begin(); it != active_.end();) {
    it = live.count(it->first) ? std::next(it) : active_.erase(it);
  }
}

Status PipelineController::Load(const model::Run& parent, Loaded* p) {
  FERRY_ASSIGN_OR_RETURN(store::PipelineRunRecord rec,
                         d_.store->Pipelines().GetPipelineRun(parent.id));
  json spec = json::parse(rec.spec, nullptr, /*allow_exceptions=*/false);
  FERRY_ASSIGN_OR_RETURN(p->spec, pipeline::PipelineFromJson(spec));
  FERRY_ASSIGN_OR_RETURN(p->graph, pipeline::Validate(p->spec));
  json params = json::parse(rec.parameters, nullptr, /*allow_exceptions=*/false);
  if (!params.is_object()) return Status::Corruption("stored parameter values are not an object");
  for (auto& [k, v] : params.items()) p->params[k] = v;
  FERRY_ASSIGN_OR_RETURN(p->settings, PipelineSettingsFromJson(rec.settings));
  if (!p->settings.rerun_of.empty()) {
    FERRY_ASSIGN_OR_RETURN(auto earlier,
                           d_.store->Pipelines().ListPipelineSteps(p->settings.rerun_of));
    for (auto& s : earlier) p->earlier[s.step] = std::move(s);
  }
  return Status::Ok();
}

void PipelineController::End(const model::Run& parent, RunStatus to, const std::string& reason,
                             const std::string& error) {
  store::TransitionExtras ex;
  if (!error.empty()) ex.error = error;
  // Completed comes from Finalizing only (model::IsLegalTransition).
  if (to == RunStatus::kCompleted) ex.finalizing_reason = "every step has completed";
  auto done = d_.store->Transition(parent.id, to, reason, d_.clock->Now(), ex);
  if (done.ok()) {
    Changed(parent.id);
  } else {
    spdlog::warn("pipeline {}: ending it {}: {}", parent.id, model::RunStatusName(to),
                 done.status().ToString());
  }
}

namespace {

// A step's state as the controller sees it.
enum class StepState { kNotStarted, kActive, kCompleted, kFailed, kCanceled };

StepState StateOf(RunStatus s) {
  switch (s) {
    case RunStatus::kCompleted:
      return StepState::kCompleted;
    case RunStatus::kFailed:
      return StepState::kFailed;
    case RunStatus::kCanceled:
      return StepState::kCanceled;
    default:
      return StepState::kActive;
  }
}

std::string Plural(size_t n, const char* one) {
  return std::to_string(n) + " " + one + (n == 1 ? "" : "s");
}

}  // namespace

void PipelineController::Drive(const model::Run& parent, Loaded* p) {
  model::Run run = parent;
  const size_t n = p->spec.steps.size();
  if (run.status == RunStatus::kQueued || run.status == RunStatus::kPreparing) {
    if (run.cancel_requested) {
      End(run, RunStatus::kCanceled, "canceled before it started", "");
      return;
    }
    if (run.status == RunStatus::kQueued) {
      auto prep = d_.store->Transition(run.id, RunStatus::kPreparing,
                                       "pipeline: " + Plural(n, "step"), d_.clock->Now());
      if (!prep.ok()) return;
    }
    auto started = d_.store->Transition(run.id, RunStatus::kRunning, "starting the first steps",
                                        d_.clock->Now());
    if (!started.ok()) return;
    run = *started;
    Changed(run.id);
  }

  auto listed = d_.store->Pipelines().ListPipelineSteps(run.id);
  if (!listed.ok()) {
    spdlog::warn("pipeline {}: listing its steps: {}", run.id, listed.status().ToString());
    return;
  }
  std::map<std::string, store::PipelineStepRecord> records;
  std::map<std::string, StepState> state;
  for (auto& r : *listed) {
    auto step_run = d_.store->GetRunSummary(r.run_id);
    if (!step_run.ok()) {
      spdlog::warn("pipeline {}: step '{}': its run {}: {}", run.id, r.step, r.run_id,
                   step_run.status().ToString());
      state[r.step] = StepState::kActive;  // looked at again next cycle
    } else {
      state[r.step] = StateOf(step_run->status);
    }
    records[r.step] = std::move(r);
  }
  auto active_steps = [&] {
    std::vector<std::string> out;
    for (const auto& [name, st] : state) {
      if (st == StepState::kActive && records[name].reused_from.empty()) out.push_back(name);
    }
    return out;
  };
  auto stop_all = [&](const std::string& reason) {
    for (const auto& name : active_steps()) {
      const std::string& id = records[name].run_id;
      if (p->cancel_sent.insert(id).second) {
        Status st = d_.scheduler->Cancel(id, reason);
        if (!st.ok() && st.code() != StatusCode::kFailedPrecondition) {
          spdlog::warn("pipeline {}: canceling step '{}' ({}): {}", run.id, name, id,
                       st.ToString());
        }
      }
    }
  };

  // A user's cancel reaches every running step; the pipeline ends when they have.
  if (run.cancel_requested) {
    stop_all("the pipeline run " + run.id + " was canceled");
    if (active_steps().empty()) {
      End(run, RunStatus::kCanceled, run.cancel_reason.empty() ? "canceled" : run.cancel_reason,
          "");
    }
    return;
  }

  std::vector<std::string> failed;
  for (size_t i : p->graph.order) {
    const std::string& name = p->spec.steps[i].name;
    auto it = state.find(name);
    if (it != state.end() &&
        (it->second == StepState::kFailed || it->second == StepState::kCanceled)) {
      failed.push_back(name);
    }
  }
  auto failure_text = [&] {
    std::string text;
    for (const auto& name : failed) {
      auto r = d_.store->GetRunSummary(records[name].run_id);
      std::string why = r.ok() ? (r->status == RunStatus::kCanceled ? "canceled" : r->error)
                               : r.status().message();
      if (why.size() > 300) why = why.substr(0, 300) + "...";
      text += (text.empty() ? "" : "; ") + std::string("step '") + name + "' (" +
              records[name].run_id + ") " +
              (r.ok() && r->status == RunStatus::kCanceled ? "was canceled" : "failed") +
              (why.empty() || why == "canceled" ? "" : ": " + why);
    }
    return text;
  };
  const bool keep_going = p->settings.continue_on_step_failure;
  if (!failed.empty() && !keep_going) {
    stop_all("step '" + failed.front() + "' of the pipeline failed");
    if (active_steps().empty()) {
      End(run, RunStatus::kFailed, "pipeline failed",
          failure_text() + "; rerun the failed steps with 'ferry pipeline rerun " + run.id + "'");
    }
    return;
  }

  // Start every step whose dependencies have completed (a reused step completes at once, so
  // its consumers may start in the same pass).
  for (size_t i : p->graph.order) {
    const pipeline::Step& s = p->spec.steps[i];
    if (state.count(s.name)) continue;
    bool ready = true;
    for (size_t dep : p->graph.depends[i]) {
      auto it = state.find(p->spec.steps[dep].name);
      if (it == state.end() || it->second != StepState::kCompleted) ready = false;
    }
    if (!ready) continue;
    auto started = StartStep(run, p, i, records);
    if (!started.ok()) {
      spdlog::warn("pipeline {}: step '{}': {}", run.id, s.name, started.status().ToString());
      stop_all("step '" + s.name + "' of the pipeline could not be started");
      if (active_steps().empty()) {
        End(run, RunStatus::kFailed, "pipeline failed",
            "step '" + s.name + "' could not be started: " + started.status().message());
      }
      return;
    }
    // A reused step took a completed run; a new run is queued.
    state[s.name] = started->reused_from.empty() ? StepState::kActive : StepState::kCompleted;
    records[s.name] = std::move(started).value();
  }

  size_t completed = 0, reused = 0;
  for (const auto& [name, st] : state) {
    if (st != StepState::kCompleted) continue;
    ++completed;
    if (!records[name].reused_from.empty()) ++reused;
  }
  if (completed == n) {
    End(run, RunStatus::kCompleted,
        Plural(n, "step") + " completed: " + std::to_string(n - reused) + " ran, " +
            std::to_string(reused) + " reused",
        "");
    return;
  }
  if (active_steps().empty()) {
    // Nothing runs and nothing more can start: the failed steps (continue_on_step_failure)
    // left the rest without their inputs.
    std::string not_run;
    for (const auto& s : p->spec.steps) {
      if (!state.count(s.name)) not_run += (not_run.empty() ? "" : ", ") + s.name;
    }
    End(run, RunStatus::kFailed, "pipeline failed",
        failure_text() + (not_run.empty() ? "" : "; not run: " + not_run) +
            "; rerun the failed steps with 'ferry pipeline rerun " + run.id + "'");
  }
}

Result<store::PipelineStepRecord> PipelineController::StartStep(
    const model::Run& parent, Loaded* p, size_t i,
    const std::map<std::string, store::PipelineStepRecord>& records) {
  const pipeline::Step& s = p->spec.steps[i];
  // Inputs: their content (the manifest hash: what the reuse key takes) and their entries in
  // the run's JSON body.
  std::map<std::string, std::string> content;
  std::map<std::string, json> entries;
  for (const auto& in : s.inputs) {
    std::string c;
    json dataset;
    bool from_ref = false;
    for (const auto& ref : p->spec.data_references) from_ref = from_ref || ref.name == in.source;
    bool from_param = false;
    for (const auto& par : p->spec.parameters) {
      from_param =
          from_param || (par.name == in.source && par.type == pipeline::ParamType::kDataPath);
    }
    if (from_ref || from_param) {
      const std::string key = (from_ref ? "ref:" : "param:") + in.source;
      auto it = p->settings.data.find(key);
      if (it == p->settings.data.end() || !it->is_object()) {
        return Status::Internal("input '" + in.name + "': '" + in.source +
                                "' was not resolved when the pipeline was submitted");
      }
      c = it->value("manifest", "");
      if (std::string name = it->value("dataset_name", ""); !name.empty()) {
        dataset = {{"name", name}, {"version", it->value("dataset_version", int64_t{1})}};
      } else {
        dataset = {{"manifest", c},
                   {"datastore", it->value("datastore", "")},
                   {"kind", it->value("kind", "file")}};
      }
    } else {
      auto producer = p->graph.producer.find(in.source);
      if (producer == p->graph.producer.end()) {
        return Status::Internal("input '" + in.name + "': no step writes '" + in.source + "'");
      }
      const pipeline::Step& from = p->spec.steps[producer->second];
      auto rec = records.find(from.name);
      if (rec == records.end()) {
        return Status::Internal("input '" + in.name + "': step '" + from.name + "' has no run");
      }
      std::string output_name;
      for (const auto& o : from.outputs) {
        if ((o.destination.empty() ? o.name : o.destination) == in.source) output_name = o.name;
      }
      FERRY_ASSIGN_OR_RETURN(auto outs, d_.store->Pipelines().RunOutputs(rec->second.run_id));
      for (const auto& o : outs) {
        if (o.name == output_name) c = o.manifest;
      }
      if (c.empty()) {
        return Status::FailedPrecondition(
            "input '" + in.name + "': step '" + from.name + "' (run " + rec->second.run_id +
            ") completed without recording its output '" + output_name + "'");
      }
      dataset = {{"manifest", c},
                 {"datastore", std::string(model::kWorkspaceBlobStore)},
                 {"kind", "file"}};
    }
    entries[in.name] = {{"name", in.name}, {"mode", in.bind_mode}, {"dataset", dataset}};
    content[in.name] = std::move(c);
  }

  // Arguments with placeholders resolved: data placeholders become the markers the agent
  // replaces with the path on the node; parameters their values.
  const auto values = pipeline::StepParameterValues(s, p->params);
  std::vector<std::string> args;
  for (const auto& a : s.arguments) {
    switch (a.kind) {
      case pipeline::Argument::Kind::kLiteral:
        args.push_back(a.text);
        break;
      case pipeline::Argument::Kind::kInput:
      case pipeline::Argument::Kind::kSideInput:
        args.push_back("DatasetConsumptionConfig:" + a.text);
        break;
      case pipeline::Argument::Kind::kOutput:
        args.push_back("OutputFileDatasetConfig:" + a.text);
        break;
      case pipeline::Argument::Kind::kParameter: {
        auto it = values.find(a.text);
        args.push_back(it == values.end() ? "" : pipeline::ArgumentText(it->second));
        break;
      }
    }
  }

  pipeline::ReuseInputs ri;
  ri.arguments = args;
  ri.parameters = values;
  ri.input_content = content;
  const std::string key = pipeline::StepReuseKey(s, ri);
  json inputs_json = json::object();
  for (const auto& in : s.inputs) {
    inputs_json[in.name] = {{"source", in.source}, {"content", content[in.name]}};
  }

  // Reuse: a rerun takes the earlier run's completed step of the same key whatever
  // allow_reuse says; otherwise any completed run of the key, when the step allows it.
  std::string reuse;
  if (auto e = p->earlier.find(s.name); e != p->earlier.end() && e->second.reuse_key == key) {
    auto r = d_.store->GetRunSummary(e->second.run_id);
    if (r.ok() && r->status == RunStatus::kCompleted) reuse = e->second.run_id;
  }
  if (reuse.empty() && s.allow_reuse) {
    FERRY_ASSIGN_OR_RETURN(reuse, d_.store->Pipelines().FindReusableRun(key));
  }
  store::PipelineStepRecord rec;
  rec.step = s.name;
  rec.reuse_key = key;
  rec.inputs = inputs_json.dump();
  if (!reuse.empty()) {
    rec.run_id = reuse;
    rec.reused_from = reuse;
    FERRY_RETURN_IF_ERROR(d_.store->Pipelines().CreatePipelineStep(parent.id, rec, std::nullopt, {},
                                                                   d_.clock->Now()));
    spdlog::info("pipeline {}: step '{}' reuses run {}", parent.id, s.name, reuse);
    Changed(parent.id);
    return rec;
  }

  json body = s.run_options.is_object() ? s.run_options : json::object();
  body["experiment"] = parent.experiment;
  body["target"] = !s.compute.empty()                 ? s.compute
                   : !p->spec.default_compute.empty() ? p->spec.default_compute
                                                      : std::string("local");
  if (s.type == "CommandStep") {
    body["command"] = s.command;  // run by a shell in the step's working copy
  } else {
    body["script"] = s.script_name;
  }
  if (!s.python.empty()) body["python"] = s.python;
  body["snapshot_id"] = s.snapshot_id;
  body["arguments"] = args;
  body["tags"] = {{"ferry.pipeline.run", parent.id}, {"ferry.pipeline.step", s.name}};
  json env = body.value("environment_variables", json::object());
  if (!env.is_object()) env = json::object();
  std::map<std::string, std::string> params;
  for (const auto& [name, v] : values) {
    params[name] = pipeline::ArgumentText(v);
    env["AML_PARAMETER_" + name] = params[name];
  }
  body["environment_variables"] = env;
  json in_arr = json::array();
  for (const auto& in : s.inputs) in_arr.push_back(entries[in.name]);
  body["inputs"] = in_arr;
  json out_arr = json::array();
  for (const auto& o : s.outputs) {
    json e = {{"name", o.name}, {"datastore", o.datastore}, {"path", o.path}};
    if (!o.register_name.empty()) e["register_on_complete"] = {{"name", o.register_name}};
    out_arr.push_back(std::move(e));
  }
  body["outputs"] = out_arr;
  if (s.type == "ParallelRunStep") {
    // The agent runs the parallel driver (python/ferry/_parallel_run.py) over the entry script;
    // the server splits the first input that is not a side input into mini-batches.
    FERRY_ASSIGN_OR_RETURN(
        pipeline::ParallelConfig cfg,
        pipeline::ParallelConfigFromJson(s.parallel_run_config, "step '" + s.name + "': "));
    for (const auto& in : s.inputs) {
      if (!in.side && cfg.input.empty()) cfg.input = in.name;
    }
    if (cfg.input.empty()) {
      return Status::InvalidArgument("step '" + s.name +
                                     "': a ParallelRunStep needs an input to split into "
                                     "mini-batches (its side inputs are given whole)");
    }
    if (!s.outputs.empty()) cfg.output = s.outputs.front().name;
    // A tabular dataset's format and partitions come from its definition (resolved at submit);
    // a step's output is files.
    const std::string source = inputs_json[cfg.input].value("source", "");
    if (auto d = p->settings.data.find("ref:" + source); d != p->settings.data.end()) {
      cfg.input_kind = d->value("kind", "file");
      cfg.input_format = d->value("format", "delimited");
      cfg.partition_format = d->value("partition_format", "");
    }
    if (cfg.output_action == "append_row" && cfg.output.empty()) {
      return Status::InvalidArgument("step '" + s.name +
                                     "': output_action append_row needs an output for its rows; "
                                     "give the step an output, or use summary_only");
    }
    body["script"] = s.script_name.empty() ? cfg.entry_script : s.script_name;
    body["node_count"] = cfg.node_count;
    body["parallel"] = pipeline::ParallelConfigToJson(cfg);
  }
  FERRY_ASSIGN_OR_RETURN(model::Run step_run, d_.prepare_run(body, parent.submitted_by));
  step_run.parent_id = parent.id;
  step_run.kind = "run";
  step_run.name = s.name;
  rec.run_id = step_run.id;
  FERRY_RETURN_IF_ERROR(
      d_.store->Pipelines().CreatePipelineStep(parent.id, rec, step_run, params, d_.clock->Now()));
  spdlog::info("pipeline {}: step '{}' submitted as run {} on {}", parent.id, s.name, step_run.id,
               step_run.target);
  d_.scheduler->Wake();
  Changed(step_run.id);
  Changed(parent.id);
  return rec;
}

}  // namespace ferry::server
