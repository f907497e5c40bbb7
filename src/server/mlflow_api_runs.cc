// MLflow's runs: their JSON (info, data, inputs), create, get, update, delete/restore.
#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "server/mlflow_api_internal.h"
#include "server/mlflow_filter.h"

namespace ferry::server::mlflow {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;

Result<std::string> Handler::ExperimentIdOfRun(const model::Run& r) {
  FERRY_ASSIGN_OR_RETURN(auto e, ExperimentByName(r.experiment));
  return IdOf(e);
}

// MLflow's user_id: the Ferry user who made the run, else what its client said it was.
std::string Handler::UserId(const model::Run& r) {
  if (!r.submitted_by.empty()) return r.submitted_by;
  auto it = r.tags.find("mlflow.user");
  return it == r.tags.end() ? "" : it->second;
}

Result<json> Handler::RunInfoJson(const model::Run& r) {
  FERRY_ASSIGN_OR_RETURN(model::Experiment e, ExperimentByName(r.experiment));
  const std::string eid = IdOf(e);
  json info = {{"run_id", r.id},
               {"run_uuid", r.id},
               {"run_name", r.name.empty() ? r.id : r.name},
               {"experiment_id", eid},
               {"user_id", UserId(r)},
               {"status", MlflowStatus(r.status)},
               {"start_time", Ms(r.started_at > 0 ? r.started_at : r.created_at)},
               {"artifact_uri", ArtifactUri(r, e)},
               {"lifecycle_stage", r.lifecycle_stage}};
  if (r.ended_at > 0) info["end_time"] = Ms(r.ended_at);
  return info;
}

Result<std::map<std::string, Handler::RunData>> Handler::LoadRunData(
    const std::vector<std::string>& ids, bool metrics, bool params) {
  std::map<std::string, RunData> out;
  if (metrics) {
    FERRY_ASSIGN_OR_RETURN(auto latest, d.store->LatestMetrics(ids));
    for (auto& [id, pts] : latest) out[id].latest = std::move(pts);
  }
  if (params) {
    FERRY_ASSIGN_OR_RETURN(auto all, d.store->ParamsOfRuns(ids));
    for (auto& [id, kv] : all) out[id].params = std::move(kv);
  }
  return out;
}

// The run's tags as MLflow shows them: its name and user as tags, datasets moved out.
std::map<std::string, std::string> Handler::MlflowTags(const model::Run& r,
                                                       const std::string& run_name,
                                                       json* dataset_inputs) {
  std::map<std::string, std::string> tags = r.tags;
  if (auto t = tags.find(kDatasetsTag); t != tags.end()) {
    if (dataset_inputs) *dataset_inputs = json::parse(t->second, nullptr, false);
    tags.erase(t);
  }
  tags["mlflow.runName"] = run_name;
  if (!r.submitted_by.empty() && !tags.count("mlflow.user")) tags["mlflow.user"] = r.submitted_by;
  return tags;
}

// What a filter or an ordering reads of a run (metrics and params from data, when loaded).
// Built from the run directly (no JSON: a search makes one per run it considers).
Result<mlflow::RunView> Handler::ViewOf(const model::Run& r, const RunData* data) {
  FERRY_ASSIGN_OR_RETURN(model::Experiment e, ExperimentByName(r.experiment));
  const std::string run_name = r.name.empty() ? r.id : r.name;
  mlflow::RunView v;
  if (data) {
    for (const auto& pt : data->latest) v.metrics[pt.key] = pt.value;
    v.params = data->params;
  }
  v.tags = MlflowTags(r, run_name, nullptr);
  v.attributes = {{"status", MlflowStatus(r.status)},
                  {"run_id", r.id},
                  {"run_name", run_name},
                  {"user_id", UserId(r)},
                  {"artifact_uri", ArtifactUri(r, e)},
                  {"lifecycle_stage", r.lifecycle_stage}};
  v.times = {
      {"start_time", static_cast<double>(Ms(r.started_at > 0 ? r.started_at : r.created_at))}};
  if (r.ended_at > 0) v.times["end_time"] = static_cast<double>(Ms(r.ended_at));
  return v;
}

Result<json> Handler::RunJson(const model::Run& r, const RunData& data) {
  FERRY_ASSIGN_OR_RETURN(json info, RunInfoJson(r));
  json inputs = json::object(), datasets;
  auto tags = MlflowTags(r, info["run_name"].get<std::string>(), &datasets);
  if (datasets.is_array()) inputs["dataset_inputs"] = datasets;
  json metrics = json::array();
  for (const auto& pt : data.latest) {
    metrics.push_back({{"key", pt.key},
                       {"value", NumberJson(pt.value)},
                       {"timestamp", Ms(pt.time)},
                       {"step", pt.step}});
  }
  // MLflow 3's logged models the run used and produced.
  FERRY_ASSIGN_OR_RETURN(auto uses, d.store->Models().LoggedModelUsesOfRun(r.id));
  json outputs = json::object();
  for (const auto& u : uses) {
    if (u.direction == "input") {
      inputs["model_inputs"].push_back({{"model_id", u.model_id}});
    } else {
      outputs["model_outputs"].push_back({{"model_id", u.model_id}, {"step", u.step}});
    }
  }
  return json{
      {"info", info},
      {"data",
       {{"metrics", metrics}, {"params", KeyValueList(data.params)}, {"tags", KeyValueList(tags)}}},
      {"inputs", inputs},
      {"outputs", outputs}};
}

// One run's full MLflow JSON.
Result<json> Handler::RunJson(const model::Run& r) {
  FERRY_ASSIGN_OR_RETURN(auto data, LoadRunData({r.id}, true, true));
  return RunJson(r, data[r.id]);
}

// The run, or MLflow's not-found error for it.
// summary: without tags and the run's configuration (enough for checks).
Result<model::Run> Handler::GetRunOr404(const std::string& id, bool summary) {
  auto r = summary ? d.store->GetRunSummary(id) : d.store->GetRun(id);
  if (r.status().code() == StatusCode::kNotFound)
    return Status::NotFound("Run with id=" + id + " not found");
  return r;
}

Result<std::string> Handler::RunIdParam() {
  FERRY_ASSIGN_OR_RETURN(std::string id, Str(p, "run_id", false));
  if (id.empty()) {
    FERRY_ASSIGN_OR_RETURN(id, Str(p, "run_uuid", false));
  }
  if (id.empty()) return MissingValue("run_id");
  return id;
}

HttpResponse Handler::CreateRun() {
  auto eid = Str(p, "experiment_id", false);
  if (!eid.ok()) return Fail(eid.status());
  auto e = ExperimentById(eid->empty() ? "0" : *eid);
  if (!e.ok()) return Fail(e.status());
  if (e->lifecycle_stage == "deleted") {
    return Fail(Status::FailedPrecondition("experiment '" + e->name +
                                           "' is deleted; restore it to create runs in it"));
  }
  auto tags = KeyValues(p, "tags", "tag");
  auto name = Str(p, "run_name", false);
  auto user_id = Str(p, "user_id", false);
  auto start = IntField(p, "start_time");
  if (!tags.ok()) return Fail(tags.status());
  if (!name.ok()) return Fail(name.status());
  if (!user_id.ok()) return Fail(user_id.status());
  if (!start.ok()) return Fail(start.status());
  model::Run run;
  run.kind = "external";
  run.status = RunStatus::kRunning;
  run.experiment = e->name;
  run.target = "";
  run.id = "mlflow_" + std::to_string(static_cast<long long>(Now())) + "_" + RandomHex(6);
  run.name = !name->empty() ? *name
                            : (tags->count("mlflow.runName") ? tags->at("mlflow.runName") : run.id);
  tags->erase("mlflow.runName");
  run.tags = *tags;
  // The run belongs to whoever created it; the client's user_id is MLflow's mlflow.user.
  run.submitted_by = caller.name;
  if (!user_id->empty() && !run.tags.count("mlflow.user")) run.tags["mlflow.user"] = *user_id;
  run.started_at = *start ? static_cast<double>(**start) / 1000.0 : Now();
  auto created = d.store->CreateRun(run, {}, "", Now());
  if (!created.ok()) return Fail(created.status());
  Changed(created->id);
  auto j = RunJson(*created);
  return j.ok() ? Reply(200, {{"run", *j}}) : Fail(j.status());
}

HttpResponse Handler::GetRun() {
  auto id = RunIdParam();
  if (!id.ok()) return Fail(id.status());
  auto r = GetRunOr404(*id);
  if (!r.ok()) return Fail(r.status());
  auto j = RunJson(*r);
  return j.ok() ? Reply(200, {{"run", *j}}) : Fail(j.status());
}

HttpResponse Handler::UpdateRun() {
  auto id = RunIdParam();
  if (!id.ok()) return Fail(id.status());
  auto r = GetRunOr404(*id);
  if (!r.ok()) return Fail(r.status());
  auto status = Str(p, "status", false);
  auto end = IntField(p, "end_time");
  auto name = Str(p, "run_name", false);
  if (!status.ok()) return Fail(status.status());
  if (!end.ok()) return Fail(end.status());
  if (!name.ok()) return Fail(name.status());
  if (!name->empty()) {
    Status st = d.store->SetRunName(*id, *name);
    if (!st.ok()) return Fail(st);
  }
  // Only a client's own run takes its status from the client: a run Ferry launched is
  // ended by its agent (a script's mlflow.end_run() must not end it early).
  if (!status->empty() && r->kind == "external" && !model::IsTerminal(r->status)) {
    std::optional<RunStatus> to;
    if (*status == "FINISHED")
      to = RunStatus::kCompleted;
    else if (*status == "FAILED")
      to = RunStatus::kFailed;
    else if (*status == "KILLED")
      to = RunStatus::kCanceled;
    else if (*status != "RUNNING" && *status != "SCHEDULED") {
      return Fail(Status::InvalidArgument(
          "'status' must be RUNNING, SCHEDULED, FINISHED, FAILED or KILLED, got '" + *status +
          "'"));
    }
    if (to) {
      store::TransitionExtras ex;
      if (*to == RunStatus::kCompleted) ex.finalizing_reason = "ended by its client";
      double when = *end ? static_cast<double>(**end) / 1000.0 : Now();
      auto t = d.store->Transition(*id, *to, "ended by its client (" + *status + ")", when, ex);
      if (!t.ok()) return Fail(t.status());
    }
  }
  Changed(*id);
  auto again = d.store->GetRun(*id);
  if (!again.ok()) return Fail(again.status());
  auto info = RunInfoJson(*again);
  return info.ok() ? Reply(200, {{"run_info", *info}}) : Fail(info.status());
}

HttpResponse Handler::SetRunLifecycle(const std::string& stage) {
  auto id = RunIdParam();
  if (!id.ok()) return Fail(id.status());
  Status st = d.store->SetRunLifecycle(*id, stage);
  if (!st.ok()) return Fail(st);
  Changed(*id);
  return Reply(200, json::object());
}

}  // namespace ferry::server::mlflow
