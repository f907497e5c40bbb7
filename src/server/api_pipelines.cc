// REST handlers of pipeline runs (docs/pipelines.md): submit a pipeline (its definition as
// src/pipeline's JSON), show one with its steps and data edges, rerun one from its failures.
// The PipelineController (pipelines.cc) drives them once created.
#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "model/assets.h"
#include "model/manifest.h"
#include "model/run_options.h"
#include "pipeline/parallel.h"
#include "pipeline/spec.h"
#include "server/api_internal.h"
#include "server/pipelines.h"
#include "server/targets.h"

namespace ferry::server {

using net::HandlerResult;
using nlohmann::json;

Result<model::Run> Api::PrepareRun(const json& body, const std::string& user) {
  net::HttpRequest req;
  Impl::Context ctx;
  ctx.caller.kind = user.empty() ? Caller::Kind::kWorkspace : Caller::Kind::kUser;
  ctx.caller.role = user.empty() ? Role::kAdmin : Role::kContributor;
  ctx.caller.name = user;
  Impl impl{*this, d_, req, ctx};
  return impl.RunFromBody(body);
}

namespace {

// What can be checked of a step against the workspace before anything runs: its target
// exists and takes the submitter's runs, its snapshot is stored and holds its script.
Status CheckStepAgainstWorkspace(Api::Impl& h, const pipeline::PipelineSpec& spec,
                                 const pipeline::Step& s) {
  auto where = [&](const std::string& key) { return "step '" + s.name + "': key '" + key + "'"; };
  if (s.type == "HyperDriveStep") {
    return Status::InvalidArgument(
        "step '" + s.name +
        "': HyperDriveStep is not run by this server yet; submit the sweep on its own "
        "(ferry run submit-hyperdrive) and pass its best run's outputs to the pipeline as data");
  }
  const std::string target = !s.compute.empty()              ? s.compute
                             : !spec.default_compute.empty() ? spec.default_compute
                                                             : std::string("local");
  auto t = h.d.store->GetTarget(target);
  if (!t.ok()) {
    return Status::InvalidArgument(where(s.compute.empty() ? "default_compute" : "compute") +
                                   ": compute target '" + target +
                                   "' is not attached to the workspace; see 'ferry compute list'");
  }
  FERRY_RETURN_IF_ERROR(
      h.d.targets->CheckSubmit(target, h.user_name).WithContext(where("compute")));
  // Inputs and outputs become environment variables of the step's run (FERRY_INPUT_<name>).
  for (const auto& in : s.inputs) {
    FERRY_RETURN_IF_ERROR(model::ValidateDataIoName("inputs." + in.name, in.name)
                              .WithContext("step '" + s.name + "'"));
  }
  for (const auto& out : s.outputs) {
    FERRY_RETURN_IF_ERROR(model::ValidateDataIoName("outputs." + out.name, out.name)
                              .WithContext("step '" + s.name + "'"));
  }
  if (!IsSha256Hex(s.snapshot_id)) {
    return Status::InvalidArgument(where("snapshot_id") +
                                   ": not a snapshot id (the SHA-256 of an uploaded source "
                                   "directory's manifest; POST /api/v1/snapshots first)");
  }
  auto manifest = h.d.blobs->Get(s.snapshot_id);
  if (!manifest.ok()) {
    return Status::NotFound(where("source_directory") + ": snapshot " + s.snapshot_id +
                            " is not stored; upload it first");
  }
  if (s.type == "ParallelRunStep") {
    FERRY_RETURN_IF_ERROR(
        pipeline::ParallelConfigFromJson(s.parallel_run_config, "step '" + s.name + "': ")
            .status());
  }
  if (s.type != "CommandStep" && !model::ManifestTextHasPath(*manifest, s.script_name)) {
    return Status::InvalidArgument(where("script_name") + ": '" + s.script_name +
                                   "' is not in the step's source directory (check the path, "
                                   "relative to source_directory, and ignore files)");
  }
  if (auto env = s.run_options.find("environment");
      env != s.run_options.end() && env->is_object()) {
    const std::string file = env->value("file", "");
    if (!file.empty() && !model::ManifestTextHasPath(*manifest, file)) {
      return Status::InvalidArgument(where("runconfig") + ": environment file '" + file +
                                     "' is not in the step's source directory");
    }
  }
  return Status::Ok();
}

// A data reference or datapath value resolved to the content a step will read.
Result<json> ResolveData(Api::Impl& h, const std::string& what, const std::string& datastore,
                         const std::string& path, const std::string& dataset_name,
                         int64_t dataset_version) {
  if (!dataset_name.empty()) {
    auto v = h.d.store->Assets().GetDataset(dataset_name, dataset_version);
    if (!v.ok()) return v.status().WithContext(what);
    json out = {{"dataset_name", v->name},
                {"dataset_version", v->version},
                {"manifest", v->manifest_hash},
                {"datastore", v->datastore},
                {"kind", v->kind}};
    // A tabular dataset's format and partitions (what a ParallelRunStep splits it by).
    json def = json::parse(v->definition_json, nullptr, false);
    if (def.is_object()) {
      out["format"] = def.value("format", "delimited");
      out["partition_format"] = def.value("partition_format", "");
    }
    return out;
  }
  auto r = h.ResolveDataContent(datastore, path);
  if (!r.ok()) return r.status().WithContext(what);
  return *r;
}

std::string StepStateName(const std::optional<model::Run>& run, bool reused) {
  if (!run) return "NotStarted";
  if (reused) return "Reused";
  return model::RunStatusName(run->status);
}

}  // namespace

Result<pipeline::PipelineSpec> Api::Impl::CheckPipeline(const json& spec_json) {
  FERRY_ASSIGN_OR_RETURN(pipeline::PipelineSpec spec, pipeline::PipelineFromJson(spec_json));
  FERRY_RETURN_IF_ERROR(pipeline::Validate(spec).status());
  for (const auto& s : spec.steps) FERRY_RETURN_IF_ERROR(CheckStepAgainstWorkspace(*this, spec, s));
  return spec;
}

Result<model::Run> Api::Impl::StartPipelineRun(const json& spec_json, const std::string& experiment,
                                               const std::map<std::string, json>& given,
                                               const std::map<std::string, std::string>& tags,
                                               const std::string& rerun_of,
                                               std::optional<bool> continue_on_step_failure) {
  FERRY_ASSIGN_OR_RETURN(pipeline::PipelineSpec spec, CheckPipeline(spec_json));
  FERRY_ASSIGN_OR_RETURN(auto values, pipeline::BindParameters(spec, given));
  PipelineSettings settings;
  settings.rerun_of = rerun_of;
  settings.continue_on_step_failure =
      continue_on_step_failure.value_or(spec.continue_on_step_failure);
  // The data the pipeline reads from outside, resolved to content now: every step of this
  // run reads the same bytes, and a change after this point is the next run's.
  std::map<std::string, bool> used;
  for (const auto& s : spec.steps) {
    for (const auto& in : s.inputs) used[in.source] = true;
  }
  for (const auto& ref : spec.data_references) {
    if (!used.count(ref.name)) continue;
    FERRY_ASSIGN_OR_RETURN(settings.data["ref:" + ref.name],
                           ResolveData(*this, "data reference '" + ref.name + "'", ref.datastore,
                                       ref.path, ref.dataset_name, ref.dataset_version));
  }
  for (const auto& par : spec.parameters) {
    if (par.type != pipeline::ParamType::kDataPath || !used.count(par.name)) continue;
    const json& v = values.at(par.name);
    FERRY_ASSIGN_OR_RETURN(settings.data["param:" + par.name],
                           ResolveData(*this, "datapath parameter '" + par.name + "'",
                                       v.value("datastore", ""), v.value("path", ""), "", 0));
  }
  model::Run run;
  run.experiment = experiment.empty() ? "default" : experiment;
  run.target = spec.default_compute.empty() ? "local" : spec.default_compute;
  run.name = spec.name;
  run.tags = tags;
  if (!spec.description.empty()) run.tags["description"] = spec.description;
  run.submitted_by = user_name;
  run.id = model::RunIdPrefix(run.experiment) + "_" +
           std::to_string(static_cast<long long>(d.clock->Now())) + "_" + RandomHex(4);
  json params_json = json::object();
  for (const auto& [k, v] : values) params_json[k] = v;
  store::PipelineRunRecord record{pipeline::PipelineToJson(spec).dump(), params_json.dump(),
                                  PipelineSettingsToJson(settings).dump()};
  FERRY_ASSIGN_OR_RETURN(model::Run created,
                         d.store->Pipelines().CreatePipelineRun(run, record, d.clock->Now()));
  d.scheduler->Wake();
  return created;
}

// POST /pipeline-runs {"experiment", "pipeline": SPEC, "parameters": {name: value}, "tags",
// "continue_on_step_failure"}.
HandlerResult Api::Impl::CreatePipelineRun() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto spec = body->find("pipeline");
  if (spec == body->end() || !spec->is_object()) {
    return Bad("field 'pipeline' is required: the pipeline's definition (docs/pipelines.md)");
  }
  auto experiment = StringField(*body, "experiment", false);
  if (!experiment.ok()) return Error(experiment.status());
  auto tags = StringMapField(*body, "tags");
  if (!tags.ok()) return Error(tags.status());
  std::map<std::string, json> given;
  if (auto p = body->find("parameters"); p != body->end() && !p->is_null()) {
    if (!p->is_object()) return Bad("field 'parameters' must be an object {name: value}");
    for (auto& [k, v] : p->items()) given[k] = v;
  }
  std::optional<bool> keep_going;
  if (auto c = body->find("continue_on_step_failure"); c != body->end() && !c->is_null()) {
    if (!c->is_boolean()) return Bad("field 'continue_on_step_failure' must be true or false");
    keep_going = c->get<bool>();
  }
  auto created = StartPipelineRun(*spec, *experiment, given, *tags, "", keep_going);
  if (!created.ok()) return Error(created.status());
  return Json(201, RunToJson(*created));
}

// POST /pipeline-runs/{id}/rerun: the same pipeline and parameter values again; the steps that
// completed in that run (and still see the same inputs) are reused, the rest run.
HandlerResult Api::Impl::RerunPipeline() {
  auto earlier = d.store->GetRun(P(0));
  if (!earlier.ok()) return Error(earlier.status());
  auto rec = d.store->Pipelines().GetPipelineRun(P(0));
  if (!rec.ok()) return Error(rec.status());
  if (!model::IsTerminal(earlier->status)) {
    return Error(Status::FailedPrecondition("pipeline run '" + P(0) + "' is still " +
                                            model::RunStatusName(earlier->status) +
                                            "; rerun it once it has ended (or cancel it first)"));
  }
  json spec = json::parse(rec->spec, nullptr, false);
  json params = json::parse(rec->parameters, nullptr, false);
  auto settings = PipelineSettingsFromJson(rec->settings);
  if (!settings.ok()) return Error(settings.status());
  std::map<std::string, json> given;
  if (params.is_object()) {
    for (auto& [k, v] : params.items()) given[k] = v;
  }
  auto tags = earlier->tags;
  tags["ferry.pipeline.rerun_of"] = P(0);
  auto created = StartPipelineRun(spec, earlier->experiment, given, tags, P(0),
                                  settings->continue_on_step_failure);
  if (!created.ok()) return Error(created.status());
  return Json(201, RunToJson(*created));
}

// GET /pipeline-runs/{id}: the run, its definition and values, each step's state and run,
// and the edges of its graph.
HandlerResult Api::Impl::GetPipelineRun() {
  auto run = d.store->GetRun(P(0));
  if (!run.ok()) return Error(run.status());
  auto rec = d.store->Pipelines().GetPipelineRun(P(0));
  if (!rec.ok()) return Error(rec.status());
  json spec_json = json::parse(rec->spec, nullptr, false);
  auto spec = pipeline::PipelineFromJson(spec_json);
  if (!spec.ok()) return Error(spec.status());
  auto graph = pipeline::Validate(*spec);
  if (!graph.ok()) return Error(graph.status());
  auto records = d.store->Pipelines().ListPipelineSteps(P(0));
  if (!records.ok()) return Error(records.status());
  std::map<std::string, store::PipelineStepRecord> by_step;
  for (auto& r : *records) by_step[r.step] = r;
  json steps = json::array();
  json edges = json::array();
  for (size_t i = 0; i < spec->steps.size(); ++i) {
    const auto& s = spec->steps[i];
    json row = {{"name", s.name},
                {"type", s.type},
                {"compute", !s.compute.empty()               ? s.compute
                            : !spec->default_compute.empty() ? spec->default_compute
                                                             : std::string("local")},
                {"run_id", nullptr},
                {"reused_from", nullptr},
                {"allow_reuse", s.allow_reuse}};
    std::optional<model::Run> step_run;
    bool reused = false;
    if (auto it = by_step.find(s.name); it != by_step.end()) {
      auto r = d.store->GetRunSummary(it->second.run_id);
      if (r.ok()) step_run = *r;
      reused = !it->second.reused_from.empty();
      row["run_id"] = it->second.run_id;
      if (reused) row["reused_from"] = it->second.reused_from;
      row["reuse_key"] = it->second.reuse_key;
      json inputs = json::parse(it->second.inputs, nullptr, false);
      row["inputs_content"] = inputs.is_object() ? inputs : json::object();
      auto outs = d.store->Pipelines().RunOutputs(it->second.run_id);
      json oj = json::array();
      if (outs.ok()) {
        for (const auto& o : *outs) {
          oj.push_back({{"name", o.name},
                        {"datastore", o.datastore},
                        {"path", o.path},
                        {"manifest", o.manifest},
                        {"file_count", o.file_count},
                        {"total_bytes", o.total_bytes}});
        }
      }
      row["outputs_content"] = oj;
    }
    row["status"] = StepStateName(step_run, reused);
    if (s.type == "ParallelRunStep" && step_run && !reused) {
      // Live progress of its mini-batches (none before its first worker asked for one).
      auto full = d.store->GetRun(step_run->id);
      if (full.ok() && !full->options.parallel.empty()) {
        auto progress = MiniBatchProgressJson(*full);
        if (progress.ok()) row["parallel"] = *progress;
      }
    }
    if (step_run) {
      row["run_status"] = model::RunStatusName(step_run->status);
      row["started_at"] = step_run->started_at;
      row["ended_at"] = step_run->ended_at;
      if (!step_run->error.empty()) row["error"] = step_run->error;
    }
    json deps = json::array();
    for (size_t dep : graph->depends[i]) deps.push_back(spec->steps[dep].name);
    row["depends_on"] = deps;
    json ins = json::array();
    for (const auto& in : s.inputs) {
      ins.push_back({{"name", in.name}, {"source", in.source}, {"bind_mode", in.bind_mode}});
      if (auto pr = graph->producer.find(in.source); pr != graph->producer.end()) {
        edges.push_back(
            {{"from", spec->steps[pr->second].name}, {"to", s.name}, {"data", in.source}});
      }
    }
    row["inputs"] = ins;
    json outs = json::array();
    for (const auto& o : s.outputs) {
      outs.push_back(
          {{"name", o.name}, {"destination", o.destination.empty() ? o.name : o.destination}});
    }
    row["outputs"] = outs;
    for (const auto& after : s.run_after) {
      edges.push_back({{"from", after}, {"to", s.name}, {"data", nullptr}});
    }
    steps.push_back(std::move(row));
  }
  json params = json::parse(rec->parameters, nullptr, false);
  json settings = json::parse(rec->settings, nullptr, false);
  return Json(200, {{"run", RunToJson(*run)},
                    {"pipeline", spec_json},
                    {"parameters", params},
                    {"settings", settings},
                    {"steps", steps},
                    {"edges", edges}});
}

}  // namespace ferry::server
