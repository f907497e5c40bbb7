// MLflow 3's logged models (logged-models/*): a model as an experiment logged it, with its
// params, tags, metrics and files, and the runs that produced or used it (runs/outputs,
// runs/log-inputs). Registering one (model-versions/create with its model_id) is the registry's.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "common/byte_source.h"
#include "common/crypto.h"
#include "common/fs.h"
#include "model/manifest.h"
#include "server/mlflow_api_internal.h"

namespace ferry::server::mlflow {

using net::HttpResponse;

namespace {

// LoggedModelStatus: its name, from a name or a number.
Result<std::string> StatusName(const json& v) {
  static const char* kNames[] = {"LOGGED_MODEL_STATUS_UNSPECIFIED", "LOGGED_MODEL_PENDING",
                                 "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"};
  if (v.is_number_integer()) {
    const int64_t n = v.get<int64_t>();
    if (n >= 1 && n <= 3) return std::string(kNames[n]);
  } else if (v.is_string()) {
    for (int i = 1; i <= 3; ++i) {
      if (v.get<std::string>() == kNames[i]) return std::string(kNames[i]);
    }
  }
  return InvalidValue("status", v,
                      "it must be LOGGED_MODEL_PENDING, LOGGED_MODEL_READY or "
                      "LOGGED_MODEL_UPLOAD_FAILED");
}

bool IsLocal(const std::string& uri) {
  return (!uri.empty() && uri[0] == '/') || uri.rfind("file:", 0) == 0;
}

std::string LocalPathOf(const std::string& uri) {
  if (uri.rfind("file://", 0) == 0) return uri.substr(7);
  if (uri.rfind("file:", 0) == 0) return uri.substr(5);
  return uri;
}

// The logged model's local directory, when it lies under the server's default artifact root
// (component by component): only there does the server read files MLflow's client wrote.
Result<std::string> LocalModelDir(const model::LoggedModel& m, const std::string& artifact_root) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(LocalPathOf(m.artifact_location)).lexically_normal();
  const fs::path root = fs::path(LocalPathOf(artifact_root)).lexically_normal();
  auto d = dir.begin();
  bool inside = !artifact_root.empty() && root.is_absolute();
  for (auto r = root.begin(); inside && r != root.end(); ++r, ++d) {
    if (r->empty()) continue;  // a trailing '/'
    inside = d != dir.end() && *d == *r;
  }
  if (!inside) {
    return Status::InvalidArgument("logged model " + m.model_id + "'s files are at '" +
                                   m.artifact_location +
                                   "', outside the server's default artifact root");
  }
  return dir.string();
}

}  // namespace

json Handler::LoggedModelJson(const model::LoggedModel& m) {
  json metrics = json::array();
  for (const auto& pt : m.metrics) {
    json j = {{"key", pt.key},
              {"value", NumberJson(pt.value)},
              {"timestamp", pt.timestamp_ms},
              {"step", pt.step},
              {"model_id", m.model_id}};
    if (!pt.run_id.empty()) j["run_id"] = pt.run_id;
    if (!pt.dataset_name.empty()) j["dataset_name"] = pt.dataset_name;
    if (!pt.dataset_digest.empty()) j["dataset_digest"] = pt.dataset_digest;
    metrics.push_back(std::move(j));
  }
  json info = {{"model_id", m.model_id},
               {"experiment_id", m.experiment_id},
               {"name", m.name},
               {"creation_timestamp_ms", Ms(m.created_at)},
               {"last_updated_timestamp_ms", Ms(m.updated_at)},
               {"artifact_uri", m.artifact_location},
               {"status", m.status},
               {"tags", KeyValueList(m.tags)}};
  if (!m.model_type.empty()) info["model_type"] = m.model_type;
  if (!m.source_run_id.empty()) info["source_run_id"] = m.source_run_id;
  if (!m.status_message.empty()) info["status_message"] = m.status_message;
  return {{"info", info}, {"data", {{"params", KeyValueList(m.params)}, {"metrics", metrics}}}};
}

Result<model::LoggedModel> Handler::PathLoggedModel() {
  if (path_params.empty()) return MissingValue("model_id");
  return d.store->Models().GetLoggedModel(path_params[0]);
}

std::string Handler::LoggedModelLocation(const model::Experiment& e, const std::string& run_id,
                                         const std::string& model_id) {
  std::string location = ArtifactLocation(e);
  if (location.rfind("mlflow-artifacts:", 0) == 0) {
    if (!run_id.empty()) {
      return "mlflow-artifacts:/" + IdOf(e) + "/" + run_id + "/artifacts/models/" + model_id;
    }
    return "mlflow-artifacts:/" + IdOf(e) + "/models/" + model_id + "/artifacts";
  }
  while (!location.empty() && location.back() == '/') location.pop_back();
  return location + "/models/" + model_id + "/artifacts";
}

HttpResponse Handler::CreateLoggedModel() {
  model::LoggedModel m;
  for (auto [field, required, out] : {std::tuple{"experiment_id", true, &m.experiment_id},
                                      {"name", false, &m.name},
                                      {"model_type", false, &m.model_type},
                                      {"source_run_id", false, &m.source_run_id}}) {
    auto s = Str(p, field, required);
    if (!s.ok()) return Fail(s.status());
    *out = *s;
  }
  auto params = KeyValues(p, "params", "parameter");
  if (!params.ok()) return Fail(params.status());
  auto tags = KeyValues(p, "tags", "tag");
  if (!tags.ok()) return Fail(tags.status());
  if (Status c = CheckParams(*params); !c.ok()) return Fail(c);
  if (Status c = CheckTags(*tags); !c.ok()) return Fail(c);
  auto e = ExperimentById(m.experiment_id);
  if (!e.ok()) return Fail(e.status());
  if (!token_run.empty() && m.source_run_id != token_run) {
    return Fail(Status::PermissionDenied("this run's token is for run '" + token_run + "'"));
  }
  std::string run_in_store;  // the source run, when it is one of this workspace's
  if (!m.source_run_id.empty()) {
    if (auto r = d.store->GetRunSummary(m.source_run_id); r.ok()) {
      auto eid = ExperimentIdOfRun(*r);
      if (eid.ok() && *eid == m.experiment_id) run_in_store = m.source_run_id;
    }
  }
  m.model_id = "m-" + RandomHex(16);
  if (m.name.empty()) m.name = "model-" + m.model_id.substr(2, 8);
  m.params = *params;
  m.tags = *tags;
  m.status = "LOGGED_MODEL_PENDING";
  m.artifact_location = LoggedModelLocation(*e, run_in_store, m.model_id);
  m.created_by = caller.name;
  auto made = d.store->Models().CreateLoggedModel(m, Now());
  if (!made.ok()) return Fail(made.status());
  return Reply(200, {{"model", LoggedModelJson(*made)}});
}

HttpResponse Handler::GetLoggedModel() {
  auto m = PathLoggedModel();
  if (!m.ok()) return Fail(m.status());
  return Reply(200, {{"model", LoggedModelJson(*m)}});
}

HttpResponse Handler::FinalizeLoggedModel() {
  auto it = p.find("status");
  if (it == p.end() || it->is_null()) return Fail(MissingValue("status"));
  auto status = StatusName(*it);
  if (!status.ok()) return Fail(status.status());
  if (path_params.empty()) return Fail(MissingValue("model_id"));
  auto m = d.store->Models().UpdateLoggedModel(
      path_params[0],
      [&](model::LoggedModel* lm) {
        lm->status = *status;
        return Status::Ok();
      },
      Now());
  if (!m.ok()) return Fail(m.status());
  auto full = d.store->Models().GetLoggedModel(m->model_id);
  if (!full.ok()) return Fail(full.status());
  return Reply(200, {{"model", LoggedModelJson(*full)}});
}

HttpResponse Handler::DeleteLoggedModel() {
  if (path_params.empty()) return Fail(MissingValue("model_id"));
  Status st = d.store->Models().DeleteLoggedModel(path_params[0], Now());
  if (!st.ok()) return Fail(st);
  return Reply(200, json::object());
}

HttpResponse Handler::SetLoggedModelTags() {
  auto tags = KeyValues(p, "tags", "tag");
  if (!tags.ok()) return Fail(tags.status());
  if (Status c = CheckTags(*tags); !c.ok()) return Fail(c);
  if (path_params.empty()) return Fail(MissingValue("model_id"));
  auto m = d.store->Models().UpdateLoggedModel(
      path_params[0],
      [&](model::LoggedModel* lm) {
        for (const auto& [k, v] : *tags) lm->tags[k] = v;
        return Status::Ok();
      },
      Now());
  if (!m.ok()) return Fail(m.status());
  return Reply(200, json::object());
}

HttpResponse Handler::DeleteLoggedModelTag() {
  if (path_params.size() < 2) return Fail(MissingValue("tag_key"));
  const std::string& key = path_params[1];
  auto m = d.store->Models().UpdateLoggedModel(
      path_params[0],
      [&](model::LoggedModel* lm) {
        if (lm->tags.erase(key) == 0) {
          return Status::NotFound("No tag with key '" + key + "' on logged model " + lm->model_id);
        }
        return Status::Ok();
      },
      Now());
  if (!m.ok()) return Fail(m.status());
  return Reply(200, json::object());
}

HttpResponse Handler::LogLoggedModelParams() {
  auto params = KeyValues(p, "params", "parameter");
  if (!params.ok()) return Fail(params.status());
  if (Status c = CheckParams(*params); !c.ok()) return Fail(c);
  if (path_params.empty()) return Fail(MissingValue("model_id"));
  auto m = d.store->Models().UpdateLoggedModel(
      path_params[0],
      [&](model::LoggedModel* lm) {
        for (const auto& [k, v] : *params) lm->params[k] = v;
        return Status::Ok();
      },
      Now());
  if (!m.ok()) return Fail(m.status());
  return Reply(200, json::object());
}

HttpResponse Handler::SearchLoggedModels() {
  std::vector<std::string> experiment_ids;
  if (auto it = p.find("experiment_ids"); it != p.end() && !it->is_null()) {
    if (it->is_array()) {
      for (auto& e : *it) experiment_ids.push_back(e.is_string() ? e.get<std::string>() : e.dump());
    } else if (it->is_string()) {
      experiment_ids.push_back(it->get<std::string>());
    }
  }
  for (const auto& id : experiment_ids) {
    auto exp = ExperimentById(id);
    if (!exp.ok()) return Fail(exp.status());
  }
  auto page = Page(100, 50000);
  if (!page.ok()) return Fail(page.status());
  auto filter_text = Str(p, "filter", false);
  if (!filter_text.ok()) return Fail(filter_text.status());
  auto filter = ParseFilter(*filter_text);
  if (!filter.ok()) return Fail(filter.status());
  std::vector<OrderBy> order;
  if (auto it = p.find("order_by"); it != p.end() && it->is_array()) {
    for (const auto& o : *it) {
      if (!o.is_object() || !o.contains("field_name") || !o["field_name"].is_string()) {
        return Fail(InvalidValue("order_by", o, "each entry is {field_name, ascending}"));
      }
      std::string field = o["field_name"].get<std::string>();
      OrderBy ob;
      ob.ascending = o.value("ascending", true);
      if (field.rfind("metrics.", 0) == 0) {
        ob.kind = "metrics";
        ob.key = field.substr(8);
      } else {
        ob.kind = "attributes";
        ob.key = field == "creation_time" ? "creation_timestamp" : field;
        if (ob.key == "last_updated_time") ob.key = "last_updated_timestamp";
      }
      order.push_back(ob);
    }
  }
  order.push_back({"attributes", "creation_timestamp", false});
  std::optional<std::set<std::string>> with_data;
  if (auto it = p.find("datasets"); it != p.end() && it->is_array() && !it->empty()) {
    with_data.emplace();
    for (const auto& ds : *it) {
      if (!ds.is_object() || !ds.contains("dataset_name")) {
        return Fail(InvalidValue("datasets", ds, "each entry is {dataset_name, dataset_digest}"));
      }
      auto ids = d.store->Models().LoggedModelsWithDataset(ds.value("dataset_name", ""),
                                                           ds.value("dataset_digest", ""));
      if (!ids.ok()) return Fail(ids.status());
      with_data->insert(ids->begin(), ids->end());
    }
  }
  bool need_metrics = false;
  for (const auto& c : filter->all) need_metrics = need_metrics || c.kind == "metrics";
  for (const auto& o : order) need_metrics = need_metrics || o.kind == "metrics";
  auto models = d.store->Models().ListLoggedModels(experiment_ids);
  if (!models.ok()) return Fail(models.status());
  std::vector<std::pair<RunView, model::LoggedModel>> hits;
  for (auto& m : *models) {
    if (with_data && !with_data->count(m.model_id)) continue;
    if (need_metrics) {
      auto full = d.store->Models().GetLoggedModel(m.model_id);
      if (!full.ok()) return Fail(full.status());
      m = std::move(full).value();
    }
    RunView v;
    v.params = m.params;
    v.tags = m.tags;
    for (const auto& pt : m.metrics) v.metrics[pt.key] = pt.value;
    v.attributes = {{"name", m.name},         {"run_id", m.model_id},
                    {"model_id", m.model_id}, {"model_type", m.model_type},
                    {"status", m.status},     {"source_run_id", m.source_run_id}};
    v.times = {{"creation_timestamp", static_cast<double>(Ms(m.created_at))},
               {"last_updated_timestamp", static_cast<double>(Ms(m.updated_at))}};
    if (filter->Matches(v)) hits.emplace_back(std::move(v), std::move(m));
  }
  std::stable_sort(hits.begin(), hits.end(),
                   [&](const auto& a, const auto& b) { return Before(order, a.first, b.first); });
  json out = json::array();
  for (size_t i = page->first; i < hits.size() && out.size() < page->second; ++i) {
    auto full = d.store->Models().GetLoggedModel(hits[i].second.model_id);
    if (!full.ok()) return Fail(full.status());
    out.push_back(LoggedModelJson(*full));
  }
  const size_t shown = out.size();
  json r = {{"models", std::move(out)}};
  if (page->first + shown < hits.size()) r["next_page_token"] = std::to_string(page->first + shown);
  return Reply(200, r);
}

// The files under the logged model's location: from Ferry's store, or from a local directory
// under the server's default artifact root (where MLflow's client wrote them itself).
HttpResponse Handler::ListLoggedModelArtifacts() {
  auto m = PathLoggedModel();
  if (!m.ok()) return Fail(m.status());
  auto dir = Str(p, "artifact_directory_path", false);
  if (!dir.ok()) return Fail(dir.status());
  std::string sub = *dir;
  while (!sub.empty() && sub.back() == '/') sub.pop_back();
  if (!sub.empty()) {
    if (Status v = model::ValidateRelativePath(sub); !v.ok()) return Fail(v);
  }
  std::map<std::string, json> entries;
  const std::string prefix = sub.empty() ? "" : sub + "/";
  if (IsLocal(m->artifact_location)) {
    namespace fs = std::filesystem;
    auto root = LocalModelDir(*m, d.mlflow_artifact_root);
    if (!root.ok()) return Fail(root.status());
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::path(*root) / sub, ec)) {
      const std::string name = e.path().filename().string();
      if (e.is_symlink(ec)) continue;  // never followed (as the file route does not)
      if (e.is_directory(ec)) {
        entries[name] = {{"path", prefix + name}, {"is_dir", true}};
      } else {
        entries[name] = {{"path", prefix + name},
                         {"is_dir", false},
                         {"file_size", static_cast<int64_t>(e.file_size(ec))}};
      }
    }
  } else {
    auto files = FilesAt(m->artifact_location);
    if (!files.ok()) return Fail(files.status());
    for (const auto& f : *files) {
      if (f.path.rfind(prefix, 0) != 0) continue;
      std::string rest = f.path.substr(prefix.size());
      size_t slash = rest.find('/');
      if (slash == std::string::npos) {
        entries[rest] = {{"path", prefix + rest}, {"is_dir", false}, {"file_size", f.size}};
      } else {
        std::string name = rest.substr(0, slash);
        entries.emplace(name, json{{"path", prefix + name}, {"is_dir", true}});
      }
    }
  }
  json files = json::array();
  for (auto& [name, e] : entries) files.push_back(e);
  return Reply(200, {{"root_uri", m->artifact_location}, {"files", files}});
}

HttpResponse Handler::GetLoggedModelArtifact() {
  auto m = PathLoggedModel();
  if (!m.ok()) return Fail(m.status());
  auto path = Str(p, "artifact_file_path", true);
  if (!path.ok()) return Fail(path.status());
  if (Status v = model::ValidateRelativePath(*path); !v.ok()) return Fail(v);
  HttpResponse r;
  r.content_type = "application/octet-stream";
  r.headers.push_back({"X-Content-Type-Options", "nosniff"});
  if (IsLocal(m->artifact_location)) {
    // Opened without following a symlink in any component (MLflow's client wrote the tree).
    auto root = LocalModelDir(*m, d.mlflow_artifact_root);
    if (!root.ok()) return Fail(root.status());
    UniqueFd dir(::open(root->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) return Fail(ErrnoStatus("cannot open", *root, errno));
    auto fd = OpenBeneath(dir.get(), *path, O_RDONLY | O_CLOEXEC);
    if (!fd.ok()) {
      return Fail(Status::NotFound("logged model " + m->model_id + " has no file '" + *path +
                                   "' (" + fd.status().message() + ")"));
    }
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) return Fail(ErrnoStatus("cannot stat", *path, errno));
    if (!S_ISREG(st.st_mode)) {
      return Fail(Status::NotFound("logged model " + m->model_id + " has no file '" + *path +
                                   "' (it is not a file)"));
    }
    r.body_source = FileSource(std::move(fd).value(), static_cast<uint64_t>(st.st_size), *path);
    return r;
  }
  auto files = FilesAt(m->artifact_location);
  if (!files.ok()) return Fail(files.status());
  for (const auto& f : *files) {
    if (f.path != *path) continue;
    auto source = d.blobs->Open(f.hash);
    if (!source.ok()) return Fail(source.status());
    r.body_source = std::move(source).value();
    return r;
  }
  return Fail(Status::NotFound("logged model " + m->model_id + " has no file '" + *path + "'"));
}

HttpResponse Handler::LogOutputs() {
  auto id = RunIdParam();
  if (!id.ok()) return Fail(id.status());
  auto it = p.find("models");
  if (it == p.end() || it->is_null()) return Fail(MissingValue("models"));
  if (!it->is_array()) return Fail(InvalidValue("models", *it, "a list of {model_id, step}"));
  if (Status a = ActiveRun(*id); !a.ok()) return Fail(a);
  std::vector<model::LoggedModelUse> uses;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& o = (*it)[i];
    const std::string at = "models[" + std::to_string(i) + "]";
    if (!o.is_object()) return Fail(InvalidValue(at, o, "it must be {model_id, step}"));
    auto model_id = Str(o, "model_id", true, at + ".model_id");
    if (!model_id.ok()) return Fail(model_id.status());
    auto step = IntField(o, "step", at + ".step");
    if (!step.ok()) return Fail(step.status());
    uses.push_back({*id, "output", *model_id, step->value_or(0)});
  }
  Status st = d.store->Models().RecordLoggedModelUses(uses);
  if (!st.ok()) return Fail(st);
  Changed(*id);
  return Reply(200, json::object());
}

Status Handler::LogModelMetrics(const std::string& run_id, const std::vector<json>& points) {
  std::map<std::string, std::vector<model::LoggedModelMetric>> by_model;
  for (const auto& j : points) {
    auto model_id = j.find("model_id");
    if (model_id == j.end() || !model_id->is_string() || model_id->get<std::string>().empty())
      continue;
    model::LoggedModelMetric m;
    m.key = j.value("key", "");
    FERRY_ASSIGN_OR_RETURN(m.value, NumberField(j, "value"));
    FERRY_ASSIGN_OR_RETURN(auto ts, IntField(j, "timestamp"));
    FERRY_ASSIGN_OR_RETURN(auto step, IntField(j, "step"));
    m.timestamp_ms = ts.value_or(0);
    m.step = step.value_or(0);
    m.run_id = run_id;
    FERRY_ASSIGN_OR_RETURN(m.dataset_name, Str(j, "dataset_name", false));
    FERRY_ASSIGN_OR_RETURN(m.dataset_digest, Str(j, "dataset_digest", false));
    by_model[model_id->get<std::string>()].push_back(std::move(m));
  }
  for (const auto& [id, ms] : by_model)
    FERRY_RETURN_IF_ERROR(d.store->Models().AddLoggedModelMetrics(id, ms));
  return Status::Ok();
}

}  // namespace ferry::server::mlflow
