// MLflow's experiments: create, get, search, update, delete/restore, tags.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "server/mlflow_api_internal.h"

namespace ferry::server::mlflow {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;

// Every experiment, MLflow's Default (id 0) among them: a workspace that has never had it
// gets it here, as a fresh MLflow server has it.
Result<std::vector<model::Experiment>*> Handler::Experiments() {
  if (!experiments_loaded_) {
    FERRY_ASSIGN_OR_RETURN(experiments_, d.store->ListExperiments());
    auto is_default = [](const model::Experiment& e) { return e.name == kDefaultExperiment; };
    if (std::none_of(experiments_.begin(), experiments_.end(), is_default)) {
      FERRY_RETURN_IF_ERROR(d.store->EnsureExperiment(kDefaultExperiment, Now()).status());
      FERRY_ASSIGN_OR_RETURN(experiments_, d.store->ListExperiments());
    }
    experiments_loaded_ = true;
  }
  return &experiments_;
}

Result<model::Experiment> Handler::ExperimentById(const std::string& id) {
  FERRY_ASSIGN_OR_RETURN(auto* all, Experiments());
  for (const auto& e : *all) {
    if (IdOf(e) == id) return e;
  }
  return Status::NotFound("Could not find experiment with ID " + id);
}

Result<model::Experiment> Handler::ExperimentByName(const std::string& name) {
  FERRY_ASSIGN_OR_RETURN(auto* all, Experiments());
  for (const auto& e : *all) {
    if (e.name == name) return e;
  }
  return Status::NotFound("Could not find experiment with name '" + name + "'");
}

// Where an experiment's MLflow clients keep artifacts: the location it was created with,
// else the server's default artifact root (ferry server --default-artifact-root) plus its
// id, else Ferry's store (mlflow-artifacts:/<id>, served by this API).
std::string Handler::ArtifactLocation(const model::Experiment& e) {
  if (!e.artifact_location.empty()) return e.artifact_location;
  if (!d.mlflow_artifact_root.empty()) return d.mlflow_artifact_root + "/" + IdOf(e);
  return "mlflow-artifacts:/" + IdOf(e);
}

// A run's artifact_uri. A run an MLflow client created keeps its artifacts where its
// experiment says (a path or URI there is read and written by the client itself, as with
// mlflow server); a run Ferry launched has its outputs in Ferry's store.
std::string Handler::ArtifactUri(const model::Run& r, const model::Experiment& e) {
  std::string store = "mlflow-artifacts:/" + IdOf(e) + "/" + r.id + "/artifacts";
  if (r.kind != "external") return store;
  std::string location = ArtifactLocation(e);
  if (location.rfind("mlflow-artifacts:", 0) == 0) return store;
  while (!location.empty() && location.back() == '/') location.pop_back();
  return location + "/" + r.id + "/artifacts";
}

json Handler::ExperimentJson(const model::Experiment& e) {
  json tags = KeyValueList(e.tags);
  return {{"experiment_id", IdOf(e)},
          {"name", e.name},
          {"artifact_location", ArtifactLocation(e)},
          {"lifecycle_stage", e.lifecycle_stage},
          {"creation_time", Ms(e.created_at)},
          {"last_update_time", Ms(e.last_update_time)},
          {"tags", tags}};
}

// artifact_location is kept and answered as the experiment's (a relative local path made
// absolute against the server's working directory, as MLflow does); the experiment's MLflow
// runs keep their artifacts there (ArtifactUri; docs/mlflow.md).
HttpResponse Handler::CreateExperiment() {
  auto name = Str(p, "name", true);
  if (!name.ok()) return Fail(name.status());
  auto location = Str(p, "artifact_location", false);
  if (!location.ok()) return Fail(location.status());
  auto tags = KeyValues(p, "tags", "tag");
  if (!tags.ok()) return Fail(tags.status());
  if (Status t = CheckTags(*tags); !t.ok()) return Fail(t);
  std::string where = *location;
  if (!where.empty() && where.find(':') == std::string::npos && where[0] != '/') {
    std::error_code ec;
    auto cwd = std::filesystem::current_path(ec);
    if (!ec) where = (cwd / where).lexically_normal().string();
  }
  auto e = d.store->CreateExperimentWith(*name, where, *tags, Now(), caller.name);
  if (!e.ok()) return Fail(e.status());
  return Reply(200, {{"experiment_id", IdOf(*e)}});
}

HttpResponse Handler::GetExperiment() {
  auto id = Str(p, "experiment_id", true);
  if (!id.ok()) return Fail(id.status());
  auto e = ExperimentById(*id);
  if (!e.ok()) return Fail(e.status());
  return Reply(200, {{"experiment", ExperimentJson(*e)}});
}

HttpResponse Handler::GetExperimentByName() {
  auto name = Str(p, "experiment_name", true);
  if (!name.ok()) return Fail(name.status());
  auto e = ExperimentByName(*name);
  if (!e.ok()) return Fail(e.status());
  return Reply(200, {{"experiment", ExperimentJson(*e)}});
}

HttpResponse Handler::SearchExperiments() {
  auto args = SearchArgs("view_type");
  if (!args.ok()) return Fail(args.status());
  const auto& view = args->view;
  const auto& page = args->page;
  const auto& filter = args->filter;
  auto all = Experiments();
  if (!all.ok()) return Fail(all.status());
  std::vector<const model::Experiment*> hits;
  std::map<const model::Experiment*, mlflow::RunView> views;
  for (const auto& e : **all) {
    if (!InView(view, e.lifecycle_stage)) continue;
    // An experiment seen as a run: name, experiment_id, creation and update times.
    mlflow::RunView v;
    v.attributes = {{"name", e.name}, {"run_id", IdOf(e)}};
    v.tags = e.tags;
    v.times = {{"start_time", static_cast<double>(Ms(e.created_at))},
               {"end_time", static_cast<double>(Ms(e.last_update_time))}};
    if (!filter.Matches(v)) continue;
    hits.push_back(&e);
    views[&e] = std::move(v);
  }
  std::stable_sort(hits.begin(), hits.end(), [&](auto* a, auto* b) {
    return mlflow::Before(args->order, views[a], views[b]);
  });
  json out = json::array();
  for (size_t i = page.first; i < hits.size() && out.size() < page.second; ++i)
    out.push_back(ExperimentJson(*hits[i]));
  json r = {{"experiments", out}};
  if (page.first + out.size() < hits.size())
    r["next_page_token"] = std::to_string(page.first + out.size());
  return Reply(200, r);
}

HttpResponse Handler::SetExperimentLifecycle(const std::string& stage) {
  auto id = Str(p, "experiment_id", true);
  if (!id.ok()) return Fail(id.status());
  auto e = ExperimentById(*id);
  if (!e.ok()) return Fail(e.status());
  Status st = d.store->UpdateExperiment(e->id, std::nullopt, stage, Now());
  return st.ok() ? Reply(200, json::object()) : Fail(st);
}

HttpResponse Handler::UpdateExperiment() {
  auto id = Str(p, "experiment_id", true);
  auto name = Str(p, "new_name", false);
  if (!id.ok()) return Fail(id.status());
  if (!name.ok()) return Fail(name.status());
  auto e = ExperimentById(*id);
  if (!e.ok()) return Fail(e.status());
  Status st = d.store->UpdateExperiment(
      e->id, name->empty() ? std::nullopt : std::optional<std::string>(*name), std::nullopt, Now());
  return st.ok() ? Reply(200, json::object()) : Fail(st);
}

HttpResponse Handler::SetExperimentTag() {
  auto id = Str(p, "experiment_id", true);
  auto key = Str(p, "key", true);
  auto value = Str(p, "value", false);
  for (auto* r : {&id, &key, &value}) {
    if (!r->ok()) return Fail(r->status());
  }
  if (Status k = CheckKey("tag", *key); !k.ok()) return Fail(k);
  auto e = ExperimentById(*id);
  if (!e.ok()) return Fail(e.status());
  Status st = d.store->SetExperimentTag(e->id, *key, *value, Now());
  return st.ok() ? Reply(200, json::object()) : Fail(st);
}

HttpResponse Handler::DeleteExperimentTag() {
  auto id = Str(p, "experiment_id", true);
  if (!id.ok()) return Fail(id.status());
  auto key = Str(p, "key", true);
  if (!key.ok()) return Fail(key.status());
  auto e = ExperimentById(*id);
  if (!e.ok()) return Fail(e.status());
  Status st = d.store->DeleteExperimentTag(e->id, *key, Now());
  if (st.code() == StatusCode::kNotFound) {
    st = Status::NotFound("No tag with name: " + *key + " in experiment with id " + *id);
  }
  return st.ok() ? Reply(200, json::object()) : Fail(st);
}

}  // namespace ferry::server::mlflow
