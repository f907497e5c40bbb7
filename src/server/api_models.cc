// REST handlers of the model registry in Azure ML's shape: /models, /models/{name},
// /models/{name}/{version}[/files]. A version is registered from a snapshot the client
// uploaded (POST /snapshots) or from a run's outputs (run.register_model); its files are kept
// as a snapshot in the workspace's blob store. The records are the ones MLflow's
// registered-models/model-versions show (mlflow_api_registry.cc): a version registered here
// has the MLflow source mlflow-artifacts:/_ferry/snapshots/<manifest>, which the MLflow client
// downloads through the mlflow-artifacts service.
#include <nlohmann/json.hpp>

#include "common/json_fields.h"
#include "model/assets.h"
#include "model/manifest.h"
#include "server/api_internal.h"

namespace ferry::server {

using net::HandlerResult;
using nlohmann::json;

namespace {

constexpr const char* kSnapshotUri = "mlflow-artifacts:/_ferry/snapshots/";

json ModelJson(const model::ModelVersion& v) {
  return {{"name", v.name},
          {"version", v.version},
          {"id", v.name + ":" + std::to_string(v.version)},
          {"description", v.description},
          {"tags", v.tags},
          {"properties", v.properties},
          {"run_id", v.run_id},
          {"model_id", v.model_id},
          {"source", v.source},
          {"download_uri", v.storage_location.empty() ? v.source : v.storage_location},
          {"stage", v.stage},
          {"status", v.status},
          {"aliases", v.aliases},
          {"manifest", v.manifest_hash},
          {"file_count", v.file_count},
          {"total_bytes", v.total_bytes},
          {"created_by", v.created_by},
          {"created_at", v.created_at},
          {"updated_at", v.updated_at}};
}

// Ferry's wording for the registry's not-found errors (the store words them as MLflow does).
Status Named(const Status& st, const std::string& name, int64_t version) {
  if (st.code() != StatusCode::kNotFound) return st;
  if (version > 0) {
    return Status::NotFound("model '" + name + "' has no version " + std::to_string(version) +
                            "; see 'ferry model list -n " + name + "'");
  }
  return Status::NotFound("model '" + name + "' is not registered; see 'ferry model list'");
}

// "k=v,k2" (from ?tag= or ?property=): each key with the value it must have ("" for any).
std::map<std::string, std::optional<std::string>> Conditions(const std::string& text) {
  std::map<std::string, std::optional<std::string>> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find(',', at);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(at, end - at);
    if (!item.empty()) {
      size_t eq = item.find('=');
      if (eq == std::string::npos)
        out[item] = std::nullopt;
      else
        out[item.substr(0, eq)] = item.substr(eq + 1);
    }
    at = end + 1;
  }
  return out;
}

bool Meets(const std::map<std::string, std::string>& have,
           const std::map<std::string, std::optional<std::string>>& want) {
  for (const auto& [k, v] : want) {
    auto it = have.find(k);
    if (it == have.end() || (v && it->second != *v)) return false;
  }
  return true;
}

}  // namespace

HandlerResult Api::Impl::ListModels() {
  const std::string name = req.Query("name");
  const std::string latest = req.Query("latest");
  const auto tags = Conditions(req.Query("tag"));
  const auto properties = Conditions(req.Query("property"));
  auto list = d.store->Models().ListModelVersions(name);
  if (!list.ok()) return Error(list.status());
  std::map<std::string, const model::ModelVersion*> newest;
  std::vector<const model::ModelVersion*> hits;
  for (const auto& v : *list) {
    if (!Meets(v.tags, tags) || !Meets(v.properties, properties)) continue;
    hits.push_back(&v);
    auto& n = newest[v.name];
    if (!n || n->version < v.version) n = &v;
  }
  json arr = json::array();
  const bool only_latest = latest == "true" || latest == "1";
  for (const auto* v : hits) {
    if (only_latest && newest[v->name] != v) continue;
    arr.push_back(ModelJson(*v));
  }
  return Json(200, {{"models", arr}});
}

HandlerResult Api::Impl::RegisterModel() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  model::ModelVersion v;
  std::string snapshot, path;
  for (auto [f, required, out] : {std::tuple{"name", true, &v.name},
                                  {"snapshot", false, &snapshot},
                                  {"run_id", false, &v.run_id},
                                  {"path", false, &path},
                                  {"description", false, &v.description}}) {
    auto s = StringField(*body, f, required);
    if (!s.ok()) return Error(s.status());
    *out = *s;
  }
  Status valid = model::ValidateAssetName("model", v.name);
  if (!valid.ok()) return Error(valid.WithContext("field 'name'"));
  auto tags = StringMapField(*body, "tags");
  if (!tags.ok()) return Error(tags.status());
  v.tags = *tags;
  auto properties = StringMapField(*body, "properties");
  if (!properties.ok()) return Error(properties.status());
  v.properties = *properties;
  if (snapshot.empty() && (v.run_id.empty() || path.empty())) {
    return Bad(
        "give field 'snapshot' (files uploaded with POST /api/v1/snapshots) or fields "
        "'run_id' and 'path' (a file or directory of the run's outputs)");
  }
  if (!v.run_id.empty()) {
    auto r = d.store->GetRunSummary(v.run_id);
    if (!r.ok()) return Error(r.status().WithContext("field 'run_id'"));
  }
  auto stored = RegisterModelVersion(v, snapshot, path);
  if (!stored.ok()) return Error(stored.status());
  return Json(201, ModelJson(*stored));
}

// The snapshot holds the files (stored and verified); else the run's artifacts under path
// become one (a file under its own name, a directory's files relative to it).
Result<model::ModelVersion> Api::Impl::RegisterModelVersion(model::ModelVersion v,
                                                            const std::string& snapshot,
                                                            const std::string& path) {
  if (!snapshot.empty()) {
    FERRY_ASSIGN_OR_RETURN(auto known, d.store->GetSnapshot(snapshot));
    if (!known) {
      return Status::NotFound("field 'snapshot': snapshot '" + snapshot +
                              "' is not stored; upload the files (POST /api/v1/snapshots) first");
    }
    if (known->file_count == 0) {
      return Status::InvalidArgument("field 'snapshot': snapshot '" + snapshot +
                                     "' has no files; a model needs at least one");
    }
    v.manifest_hash = snapshot;
    v.file_count = known->file_count;
    v.total_bytes = known->total_bytes;
    v.source = kSnapshotUri + snapshot;
  } else {
    std::string prefix = path;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    FERRY_RETURN_IF_ERROR(model::ValidateRelativePath(prefix).WithContext("field 'path'"));
    FERRY_ASSIGN_OR_RETURN(auto files, d.store->ListArtifacts(v.run_id));
    model::Manifest m;
    for (const auto& f : files) {
      if (f.path == prefix) {
        m.entries.push_back(
            {prefix.substr(prefix.rfind('/') == std::string::npos ? 0 : prefix.rfind('/') + 1),
             0644, f.size, f.hash});
        break;
      }
      if (f.path.rfind(prefix + "/", 0) == 0)
        m.entries.push_back({f.path.substr(prefix.size() + 1), 0644, f.size, f.hash});
    }
    if (m.entries.empty()) {
      return Status::NotFound("run '" + v.run_id + "' has no output '" + path +
                              "' (a file or directory); see 'ferry run show " + v.run_id +
                              "' for its files");
    }
    FERRY_RETURN_IF_ERROR(m.Normalize());
    const std::string text = m.Serialize();
    FERRY_ASSIGN_OR_RETURN(std::string id, d.blobs->Put(text, ""));
    FERRY_RETURN_IF_ERROR(d.blobs->Sync());
    FERRY_RETURN_IF_ERROR(d.store->PutSnapshot(id, static_cast<int64_t>(m.entries.size()),
                                               static_cast<int64_t>(m.TotalBytes()),
                                               d.clock->Now()));
    v.manifest_hash = id;
    v.file_count = static_cast<int64_t>(m.entries.size());
    v.total_bytes = static_cast<int64_t>(m.TotalBytes());
    v.source = "runs:/" + v.run_id + "/" + prefix;
    v.storage_location = kSnapshotUri + id;
  }
  if (v.created_by.empty()) v.created_by = user_name;
  return d.store->Models().CreateModelVersion(v, /*create_model=*/true, d.clock->Now());
}

HandlerResult Api::Impl::ModelVersions() {
  auto list = d.store->Models().ListModelVersions(P(0));
  if (!list.ok()) return Error(list.status());
  if (list->empty()) return Error(Named(Status::NotFound(""), P(0), 0));
  json arr = json::array();
  for (const auto& v : *list) arr.push_back(ModelJson(v));
  return Json(200, {{"name", P(0)}, {"versions", arr}});
}

HandlerResult Api::Impl::GetModel() {
  auto version = AssetVersion("model", P(1));
  if (!version.ok()) return Error(version.status());
  auto v = d.store->Models().GetModelVersion(P(0), *version);
  if (!v.ok()) return Error(Named(v.status(), P(0), *version));
  json j = ModelJson(*v);
  auto uses = d.store->Assets().RunsUsingAsset("model", v->name, v->version);
  if (!uses.ok()) return Error(uses.status());
  json runs = json::array();
  for (const auto& u : *uses) {
    runs.push_back({{"run_id", u.run_id}, {"direction", u.direction}, {"as_name", u.as_name}});
  }
  j["runs"] = runs;
  return Json(200, j);
}

HandlerResult Api::Impl::UpdateModel() {
  auto version = AssetVersion("model", P(1));
  if (!version.ok()) return Error(version.status());
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto add_tags = StringMapField(*body, "add_tags");
  if (!add_tags.ok()) return Error(add_tags.status());
  auto add_properties = StringMapField(*body, "add_properties");
  if (!add_properties.ok()) return Error(add_properties.status());
  std::vector<std::string> remove;
  if (auto it = body->find("remove_tags"); it != body->end() && !it->is_null()) {
    if (!it->is_array()) return Bad("field 'remove_tags' must be a list of tag keys");
    for (const auto& k : *it) {
      if (!k.is_string()) return Bad("field 'remove_tags' must be a list of tag keys");
      remove.push_back(k.get<std::string>());
    }
  }
  std::optional<std::string> description;
  if (auto it = body->find("description"); it != body->end() && !it->is_null()) {
    if (!it->is_string()) return Bad("field 'description' must be a string");
    description = it->get<std::string>();
  }
  auto v = d.store->Models().UpdateModelVersion(
      P(0), *version,
      [&](model::ModelVersion* mv) -> Status {
        for (const auto& [k, val] : *add_properties) {
          auto it = mv->properties.find(k);
          if (it != mv->properties.end() && it->second != val) {
            return Status::FailedPrecondition(
                "property '" + k + "' of model '" + mv->name + "' version " +
                std::to_string(mv->version) + " is '" + it->second +
                "' already; properties never change (use a tag for values that do)");
          }
          mv->properties[k] = val;
        }
        for (const auto& [k, val] : *add_tags) mv->tags[k] = val;
        for (const auto& k : remove) mv->tags.erase(k);
        if (description) mv->description = *description;
        return Status::Ok();
      },
      d.clock->Now());
  if (!v.ok()) return Error(Named(v.status(), P(0), *version));
  return Json(200, ModelJson(*v));
}

HandlerResult Api::Impl::DeleteModel() {
  auto version = AssetVersion("model", P(1));
  if (!version.ok()) return Error(version.status());
  if (*version == 0) return Bad("name the version to delete: DELETE /models/{name}/{version}");
  Status st = d.store->Models().DeleteModelVersion(P(0), *version, d.clock->Now());
  if (!st.ok()) return Error(Named(st, P(0), *version));
  return Json(200, {{"name", P(0)}, {"version", *version}, {"deleted", true}});
}

HandlerResult Api::Impl::ModelFiles() {
  auto version = AssetVersion("model", P(1));
  if (!version.ok()) return Error(version.status());
  auto v = d.store->Models().GetModelVersion(P(0), *version);
  if (!v.ok()) return Error(Named(v.status(), P(0), *version));
  if (v->manifest_hash.empty()) {
    return Error(Status::NotFound("model '" + v->name + "' version " + std::to_string(v->version) +
                                  " has no files in Ferry's store: they are at '" + v->source +
                                  "' (download them from there, e.g. with the MLflow client)"));
  }
  auto text = d.blobs->Get(v->manifest_hash);
  if (!text.ok()) return Error(text.status());
  auto m = model::Manifest::Parse(*text);
  if (!m.ok()) return Error(m.status());
  if (!is_user) {
    // A run's script fetching the files (Model.get_model_path; admission checked its token for
    // the run it names): the run used this version.
    Status used = d.store->Assets().RecordAssetUses(
        {{req.Header("x-ferry-run"), "input", "model", v->name, v->version, ""}});
    if (!used.ok()) return Error(used);
  }
  json files = json::array();
  for (const auto& e : m->entries)
    files.push_back({{"path", e.path}, {"size", e.size}, {"hash", e.hash}});
  return Json(200, {{"name", v->name},
                    {"version", v->version},
                    {"manifest", v->manifest_hash},
                    {"files", files}});
}

HandlerResult Api::Impl::ModelContent() {
  auto version = AssetVersion("model", P(1));
  if (!version.ok()) return Error(version.status());
  const std::string path = req.Query("path");
  Status valid = model::ValidateRelativePath(path);
  if (!valid.ok()) return Error(valid.WithContext("query 'path'"));
  auto v = d.store->Models().GetModelVersion(P(0), *version);
  if (!v.ok()) return Error(Named(v.status(), P(0), *version));
  if (!v->manifest_hash.empty()) {
    auto text = d.blobs->Get(v->manifest_hash);
    if (!text.ok()) return Error(text.status());
    auto m = model::Manifest::Parse(*text);
    if (!m.ok()) return Error(m.status());
    for (const auto& e : m->entries) {
      if (e.path != path) continue;
      auto source = d.blobs->Open(e.hash);
      if (!source.ok()) return Error(source.status());
      net::HttpResponse r;
      r.content_type = "application/octet-stream";
      r.body_source = std::move(source).value();
      r.headers.push_back({"X-Content-Type-Options", "nosniff"});
      return r;
    }
  }
  return Error(Status::NotFound("model '" + v->name + "' version " + std::to_string(v->version) +
                                " has no file '" + path + "'; see 'ferry model show " + v->name +
                                ":" + std::to_string(v->version) + "'"));
}

// A script's run.register_model(...) (tags "ferry.register_model/<name>" written through its
// metrics file): registered from its outputs once the run has completed with them.
void Api::Impl::RegisterModelsOfRun(const model::Run& r) {
  constexpr std::string_view kPrefix = "ferry.register_model/";
  for (const auto& [key, value] : r.tags) {
    if (key.rfind(kPrefix, 0) != 0) continue;
    json spec = json::parse(value, nullptr, /*allow_exceptions=*/false);
    if (!spec.is_object() || spec.contains("registered") || spec.contains("error")) continue;
    model::ModelVersion v;
    v.name = key.substr(kPrefix.size());
    v.run_id = r.id;
    v.created_by = r.submitted_by;
    v.description = spec.value("description", "");
    auto tags = StringMapField(spec, "tags");
    auto properties = StringMapField(spec, "properties");
    if (tags.ok()) v.tags = *tags;
    if (properties.ok()) v.properties = *properties;
    Status valid = model::ValidateAssetName("model", v.name);
    Result<model::ModelVersion> made =
        valid.ok() ? RegisterModelVersion(v, "", spec.value("path", "outputs"))
                   : Result<model::ModelVersion>(valid);
    // Done once (a resent report finds it marked); a failure is kept on the run, where its
    // owner sees it.
    spec[made.ok() ? "registered" : "error"] =
        made.ok() ? json(made->version) : json(made.status().message());
    (void)d.store->SetTags(r.id, {{key, spec.dump()}});
  }
}

}  // namespace ferry::server
