// MLflow's model registry: registered-models/* and model-versions/* over Ferry's one registry
// (store/model_store.h), the same records as /api/v1/models. Errors are MLflow's: unknown
// models and versions RESOURCE_DOES_NOT_EXIST (404), taken names RESOURCE_ALREADY_EXISTS,
// bad values INVALID_PARAMETER_VALUE (400).
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>

#include "model/manifest.h"
#include "net/http.h"
#include "server/mlflow_api_internal.h"

namespace ferry::server::mlflow {

using net::HttpResponse;

namespace {

// A decimal count: digits only.
std::optional<uint64_t> ParseCount(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

bool IsLocalUri(const std::string& uri) {
  const size_t colon = uri.find(':');
  const size_t slash = uri.find('/');
  const bool has_scheme =
      colon != std::string::npos && colon > 0 && (slash == std::string::npos || colon < slash);
  return !has_scheme || uri.rfind("file:", 0) == 0;
}

// A local URI as a path: file:///a/b and file:/a/b -> /a/b.
std::string LocalPath(const std::string& uri) {
  if (uri.rfind("file://", 0) == 0) {
    std::string rest = uri.substr(7);
    if (!rest.empty() && rest[0] != '/') rest = rest.substr(std::min(rest.find('/'), rest.size()));
    return net::UrlDecode(rest, false);
  }
  if (uri.rfind("file:", 0) == 0) return net::UrlDecode(uri.substr(5), false);
  return uri;
}

bool Inside(const std::string& path, const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path p = fs::path(path).lexically_normal(), d = fs::path(dir).lexically_normal();
  std::string ps = p.string(), ds = d.string();
  while (ds.size() > 1 && ds.back() == '/') ds.pop_back();
  while (ps.size() > 1 && ps.back() == '/') ps.pop_back();
  return ps == ds || ps.rfind(ds + "/", 0) == 0;
}

// A URI's path without "..": percent-decoded until stable, scheme and authority dropped,
// repeated slashes folded; "." components must not change it either.
bool ClimbsOut(std::string source) {
  for (;;) {
    std::string once = net::UrlDecode(source, true);
    if (once == source) break;
    source = once;
  }
  if (source.find('\0') != std::string::npos) return true;
  size_t at = 0;
  while (at <= source.size()) {
    size_t end = source.find('/', at);
    if (end == std::string::npos) end = source.size();
    if (source.compare(at, end - at, "..") == 0) return true;
    at = end + 1;
  }
  std::string path = source;
  if (size_t colon = path.find(':'); colon != std::string::npos && colon < path.find('/')) {
    path = path.substr(colon + 1);
    if (path.rfind("//", 0) == 0) path = path.substr(std::min(path.find('/', 2), path.size()));
  }
  if (size_t q = path.find_first_of("?#"); q != std::string::npos) path.resize(q);
  std::string folded;
  for (char c : path) {
    if (c == '/' && !folded.empty() && folded.back() == '/') continue;
    folded.push_back(c);
  }
  while (folded.size() > 1 && folded.back() == '/') folded.pop_back();
  const std::string normal = std::filesystem::path(folded).lexically_normal().string();
  std::string n = normal;
  while (n.size() > 1 && n.back() == '/') n.pop_back();
  return !folded.empty() && n != folded;
}

// models:/<name>/<version>, models:/<name>@<alias> or models:/<model id>.
struct ModelsUri {
  std::string model_id, name, alias;
  int64_t version = 0;
};

std::optional<ModelsUri> ParseModelsUri(const std::string& uri) {
  if (uri.rfind("models:/", 0) != 0) return std::nullopt;
  std::string rest = uri.substr(8);
  while (!rest.empty() && rest[0] == '/') rest.erase(0, 1);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  ModelsUri m;
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    m.name = rest.substr(0, slash);
    std::string v = rest.substr(slash + 1);
    auto n = ParseCount(v);
    if (!n || *n < 1) return std::nullopt;
    m.version = static_cast<int64_t>(*n);
    return m;
  }
  if (size_t at = rest.find('@'); at != std::string::npos) {
    m.name = rest.substr(0, at);
    m.alias = rest.substr(at + 1);
    return m;
  }
  if (rest.rfind("m-", 0) == 0) {
    m.model_id = rest;
    return m;
  }
  return std::nullopt;
}

// The registry's filters: as runs', except that "tags.k != 'v'" also matches when the tag is
// missing (MLflow's client adds tags.`mlflow.prompt.is_prompt` != 'true' to every search).
bool RegistryMatches(const Filter& f, const RunView& v) {
  for (const auto& c : f.all) {
    if (c.kind == "tags" && c.op == "!=" && !v.tags.count(c.key)) continue;
    Filter one;
    one.all.push_back(c);
    if (!one.Matches(v)) return false;
  }
  return true;
}

}  // namespace

// ---- JSON -----------------------------------------------------------------------------------

json Handler::ModelVersionJson(const model::ModelVersion& v) {
  json j = {{"name", v.name},
            {"version", std::to_string(v.version)},
            {"creation_timestamp", Ms(v.created_at)},
            {"last_updated_timestamp", Ms(v.updated_at)},
            {"current_stage", v.stage},
            {"description", v.description},
            {"source", v.source},
            {"run_id", v.run_id},
            {"status", v.status},
            {"tags", KeyValueList(v.tags)},
            {"aliases", v.aliases}};
  if (!v.created_by.empty()) j["user_id"] = v.created_by;
  if (!v.run_link.empty()) j["run_link"] = v.run_link;
  if (!v.status_message.empty()) j["status_message"] = v.status_message;
  if (!v.model_id.empty()) j["model_id"] = v.model_id;
  return j;
}

json Handler::RegisteredModelJson(const model::RegisteredModel& m,
                                  const std::vector<model::ModelVersion>& versions) {
  std::map<std::string, const model::ModelVersion*> latest;  // per stage
  for (const auto& v : versions) {
    if (v.name != m.name) continue;
    auto& l = latest[v.stage];
    if (!l || l->version < v.version) l = &v;
  }
  json lv = json::array();
  for (const auto& [stage, v] : latest) lv.push_back(ModelVersionJson(*v));
  json aliases = json::array();
  for (const auto& a : m.aliases)
    aliases.push_back({{"alias", a.alias}, {"version", std::to_string(a.version)}});
  json j = {{"name", m.name},
            {"creation_timestamp", Ms(m.created_at)},
            {"last_updated_timestamp", Ms(m.updated_at)},
            {"description", m.description},
            {"tags", KeyValueList(m.tags)},
            {"aliases", aliases}};
  if (!lv.empty()) j["latest_versions"] = lv;
  if (!m.created_by.empty()) j["user_id"] = m.created_by;
  return j;
}

Result<int64_t> Handler::VersionParam() {
  auto it = p.find("version");
  if (it == p.end() || it->is_null() || (it->is_string() && it->get<std::string>().empty()))
    return MissingValue("version");
  std::string text = it->is_string() ? it->get<std::string>() : it->dump();
  auto n = ParseCount(text);
  if (!n || *n < 1 || *n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return InvalidValue("version", *it, "a model version is a positive integer");
  }
  return static_cast<int64_t>(*n);
}

// ---- files ----------------------------------------------------------------------------------

Result<std::string> Handler::ResolveSource(const std::string& source) {
  auto m = ParseModelsUri(source);
  if (!m) return source;
  if (!m->model_id.empty()) {
    FERRY_ASSIGN_OR_RETURN(auto lm, d.store->Models().GetLoggedModel(m->model_id));
    return lm.artifact_location;
  }
  auto v = m->alias.empty() ? d.store->Models().GetModelVersion(m->name, m->version)
                            : d.store->Models().GetModelVersionByAlias(m->name, m->alias);
  if (!v.ok()) return v.status();
  return v->storage_location.empty() ? v->source : v->storage_location;
}

Result<std::vector<model::Artifact>> Handler::FilesAt(const std::string& uri) {
  std::string path;
  if (uri.rfind("mlflow-artifacts:", 0) == 0) {
    path = uri.substr(std::string("mlflow-artifacts:").size());
    if (path.rfind("//", 0) == 0) path = path.substr(std::min(path.find('/', 2), path.size()));
  } else if (uri.rfind("runs:/", 0) == 0) {
    std::string rest = uri.substr(6);
    while (!rest.empty() && rest[0] == '/') rest.erase(0, 1);
    const std::string run_id = rest.substr(0, rest.find('/'));
    const std::string rel = rest.size() > run_id.size() ? rest.substr(run_id.size() + 1) : "";
    FERRY_ASSIGN_OR_RETURN(auto run, GetRunOr404(run_id, true));
    FERRY_ASSIGN_OR_RETURN(std::string eid, ExperimentIdOfRun(run));
    path = eid + "/" + run_id + "/artifacts/" + rel;
  } else if (ParseModelsUri(uri)) {
    FERRY_ASSIGN_OR_RETURN(std::string resolved, ResolveSource(uri));
    if (resolved == uri) return Status::NotFound("'" + uri + "' does not resolve");
    return FilesAt(resolved);
  } else {
    return Status::NotFound("'" + uri + "' is not in Ferry's store");
  }
  FERRY_ASSIGN_OR_RETURN(ArtifactPath a, SplitArtifactPath(path));
  FERRY_ASSIGN_OR_RETURN(auto all, OwnerFiles(a));
  std::vector<model::Artifact> out;
  const std::string prefix = a.rel.empty() ? "" : a.rel + "/";
  for (auto& f : all) {
    if (!a.rel.empty() && f.path == a.rel) {
      // The source is one file: the version holds it under its own name.
      out.push_back(
          {f.path.substr(f.path.rfind('/') == std::string::npos ? 0 : f.path.rfind('/') + 1),
           f.size, f.hash});
      return out;
    }
    if (f.path.rfind(prefix, 0) == 0) out.push_back({f.path.substr(prefix.size()), f.size, f.hash});
  }
  return out;
}

Status Handler::CheckVersionSource(const std::string& source, const std::string& run_id,
                                   const std::string& model_id) {
  if (source.rfind("file://", 0) == 0) {
    const std::string host = source.substr(7, source.find('/', 7) - 7);
    if (!host.empty() && host != "localhost" && host != "127.0.0.1") {
      // MLflow answers this with its internal error (500), which its tests expect.
      return Status::Internal("'" + source +
                              "' is not a valid remote uri: a file: URI names a path on this "
                              "server; use a scheme such as smb:// for files elsewhere");
    }
  }
  if (IsLocalUri(source)) {
    std::string dir;
    if (!model_id.empty()) {
      FERRY_ASSIGN_OR_RETURN(auto lm, d.store->Models().GetLoggedModel(model_id));
      if (IsLocalUri(lm.artifact_location)) dir = LocalPath(lm.artifact_location);
    } else if (!run_id.empty()) {
      FERRY_ASSIGN_OR_RETURN(auto run, GetRunOr404(run_id, true));
      FERRY_ASSIGN_OR_RETURN(auto experiments, Experiments());
      for (const auto& e : *experiments) {
        if (e.name != run.experiment) continue;
        std::string uri = ArtifactUri(run, e);
        if (IsLocalUri(uri)) dir = LocalPath(uri);
      }
    }
    if (dir.empty() || !Inside(LocalPath(source), dir)) {
      const std::string owner = model_id.empty() ? "run_id" : "model_id";
      return Status::InvalidArgument("Invalid model version source: '" + source +
                                     "'. To use a local path as a model version source, name the " +
                                     (model_id.empty() ? "run" : "logged model") + " with " +
                                     owner + " and keep the path inside that " +
                                     (model_id.empty() ? "run" : "model") +
                                     "'s artifact directory");
    }
    return Status::Ok();
  }
  if (ClimbsOut(source)) {
    return Status::InvalidArgument(
        "Invalid model version source: '" + source +
        "'. If supplying a source as an http, https, mlflow-artifacts or other URI, give an "
        "absolute path without '..' or '.' components");
  }
  return Status::Ok();
}

// ---- registered models ----------------------------------------------------------------------

HttpResponse Handler::CreateRegisteredModel() {
  auto name = Str(p, "name", true);
  if (!name.ok()) return Fail(name.status());
  auto description = Str(p, "description", false);
  if (!description.ok()) return Fail(description.status());
  auto tags = KeyValues(p, "tags", "tag");
  if (!tags.ok()) return Fail(tags.status());
  if (Status t = CheckTags(*tags); !t.ok()) return Fail(t);
  model::RegisteredModel m;
  m.name = *name;
  m.description = *description;
  m.tags = *tags;
  m.created_by = caller.name;
  auto made = d.store->Models().CreateRegisteredModel(m, Now());
  if (!made.ok()) return Fail(made.status());
  return Reply(200, {{"registered_model", RegisteredModelJson(*made, {})}});
}

HttpResponse Handler::GetRegisteredModel() {
  auto name = Str(p, "name", true);
  if (!name.ok()) return Fail(name.status());
  auto m = d.store->Models().GetRegisteredModel(*name);
  if (!m.ok()) return Fail(m.status());
  auto versions = d.store->Models().ListModelVersions(*name);
  if (!versions.ok()) return Fail(versions.status());
  return Reply(200, {{"registered_model", RegisteredModelJson(*m, *versions)}});
}

HttpResponse Handler::RenameRegisteredModel() {
  auto name = Str(p, "name", true);
  if (!name.ok()) return Fail(name.status());
  auto new_name = Str(p, "new_name", true);
  if (!new_name.ok()) return Fail(new_name.status());
  auto m = d.store->Models().RenameRegisteredModel(*name, *new_name, Now());
  if (!m.ok()) return Fail(m.status());
  auto versions = d.store->Models().ListModelVersions(*new_name);
  if (!versions.ok()) return Fail(versions.status());
  return Reply(200, {{"registered_model", RegisteredModelJson(*m, *versions)}});
}

HttpResponse Handler::UpdateRegisteredModel() {
  auto name = Str(p, "name", true);
  if (!name.ok()) return Fail(name.status());
  auto description = Str(p, "description", false);
  if (!description.ok()) return Fail(description.status());
  const bool has = p.contains("description") && !p["description"].is_null();
  auto m = d.store->Models().UpdateRegisteredModel(
      *name,
      [&](model::RegisteredModel* rm) {
        if (has) rm->description = *description;
        return Status::Ok();
      },
      Now());
  if (!m.ok()) return Fail(m.status());
  auto versions = d.store->Models().ListModelVersions(*name);
  if (!versions.ok()) return Fail(versions.status());
  return Reply(200, {{"registered_model", RegisteredModelJson(*m, *versions)}});
}

HttpResponse Handler::DeleteRegisteredModel() {
  auto name = Str(p, "name", true);
  if (!name.ok()) return Fail(name.status());
  Status st = d.store->Models().DeleteRegisteredModel(*name);
  if (!st.ok()) return Fail(st);
  return Reply(200, json::object());
}

HttpResponse Handler::SearchRegisteredModels() {
  auto page = Page(100, 1000);
  if (!page.ok()) return Fail(page.status());
  auto filter_text = Str(p, "filter", false);
  if (!filter_text.ok()) return Fail(filter_text.status());
  auto filter = ParseFilter(*filter_text);
  if (!filter.ok()) return Fail(filter.status());
  std::vector<std::string> order_text = OrderByTexts();
  order_text.push_back("name ASC");
  auto order = ParseOrderBy(order_text);
  if (!order.ok()) return Fail(order.status());
  auto models = d.store->Models().ListRegisteredModels();
  if (!models.ok()) return Fail(models.status());
  std::vector<std::pair<RunView, const model::RegisteredModel*>> hits;
  for (const auto& m : *models) {
    RunView v;
    v.tags = m.tags;
    v.attributes = {{"name", m.name}, {"run_id", m.name}};
    v.times = {{"creation_timestamp", static_cast<double>(Ms(m.created_at))},
               {"last_updated_timestamp", static_cast<double>(Ms(m.updated_at))}};
    if (RegistryMatches(*filter, v)) hits.emplace_back(std::move(v), &m);
  }
  std::stable_sort(hits.begin(), hits.end(),
                   [&](const auto& a, const auto& b) { return Before(*order, a.first, b.first); });
  auto versions = d.store->Models().ListModelVersions("");
  if (!versions.ok()) return Fail(versions.status());
  json out = json::array();
  for (size_t i = page->first; i < hits.size() && out.size() < page->second; ++i)
    out.push_back(RegisteredModelJson(*hits[i].second, *versions));
  json r = json::object();
  const size_t shown = out.size();
  if (shown > 0) r["registered_models"] = std::move(out);
  if (page->first + shown < hits.size()) r["next_page_token"] = std::to_string(page->first + shown);
  return Reply(200, r);
}

HttpResponse Handler::GetLatestVersions() {
  auto name = Str(p, "name", true);
  if (!name.ok()) return Fail(name.status());
  std::vector<std::string> stages;
  if (auto it = p.find("stages"); it != p.end() && !it->is_null()) {
    if (it->is_string()) {
      stages.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      for (auto& s : *it) {
        if (!s.is_string()) return Fail(InvalidValue("stages", *it, "a list of stage names"));
        stages.push_back(s.get<std::string>());
      }
    }
  }
  std::set<std::string> wanted;
  for (const auto& s : stages) {
    auto c = model::CanonicalStage(s);
    if (!c.ok()) return Fail(c.status());
    wanted.insert(*c);
  }
  auto m = d.store->Models().GetRegisteredModel(*name);
  if (!m.ok()) return Fail(m.status());
  auto versions = d.store->Models().ListModelVersions(*name);
  if (!versions.ok()) return Fail(versions.status());
  std::map<std::string, const model::ModelVersion*> latest;
  for (const auto& v : *versions) {
    if (!wanted.empty() && !wanted.count(v.stage)) continue;
    auto& l = latest[v.stage];
    if (!l || l->version < v.version) l = &v;
  }
  json out = json::array();
  for (const auto& [stage, v] : latest) out.push_back(ModelVersionJson(*v));
  return Reply(200, out.empty() ? json::object() : json{{"model_versions", out}});
}

HttpResponse Handler::SetRegisteredModelTag(bool set) {
  auto name = Str(p, "name", true);
  if (!name.ok()) return Fail(name.status());
  auto key = Str(p, "key", true);
  if (!key.ok()) return Fail(key.status());
  auto value = Str(p, "value", false);
  if (!value.ok()) return Fail(value.status());
  if (Status k = CheckKey("tag", *key); !k.ok()) return Fail(k);
  if (Status t = CheckTags({{*key, *value}}); !t.ok()) return Fail(t);
  auto m = d.store->Models().UpdateRegisteredModel(
      *name,
      [&](model::RegisteredModel* rm) {
        if (set)
          rm->tags[*key] = *value;
        else
          rm->tags.erase(*key);
        return Status::Ok();
      },
      Now());
  if (!m.ok()) return Fail(m.status());
  return Reply(200, json::object());
}

HttpResponse Handler::SetModelAlias() {
  auto name = Str(p, "name", true);
  if (!name.ok()) return Fail(name.status());
  auto alias = Str(p, "alias", true);
  if (!alias.ok()) return Fail(alias.status());
  auto version = VersionParam();
  if (!version.ok()) return Fail(version.status());
  Status st = d.store->Models().SetModelAlias(*name, *alias, *version);
  if (!st.ok()) return Fail(st);
  return Reply(200, json::object());
}

HttpResponse Handler::DeleteModelAlias() {
  auto name = Str(p, "name", true);
  if (!name.ok()) return Fail(name.status());
  auto alias = Str(p, "alias", true);
  if (!alias.ok()) return Fail(alias.status());
  Status st = d.store->Models().DeleteModelAlias(*name, *alias);
  if (!st.ok()) return Fail(st);
  return Reply(200, json::object());
}

HttpResponse Handler::GetModelVersionByAlias() {
  auto name = Str(p, "name", true);
  if (!name.ok()) return Fail(name.status());
  auto alias = Str(p, "alias", true);
  if (!alias.ok()) return Fail(alias.status());
  auto v = d.store->Models().GetModelVersionByAlias(*name, *alias);
  if (!v.ok()) return Fail(v.status());
  return Reply(200, {{"model_version", ModelVersionJson(*v)}});
}

// ---- versions -------------------------------------------------------------------------------

HttpResponse Handler::CreateModelVersion() {
  model::ModelVersion v;
  for (auto [field, required, out] : {std::tuple{"name", true, &v.name},
                                      {"source", true, &v.source},
                                      {"run_id", false, &v.run_id},
                                      {"run_link", false, &v.run_link},
                                      {"description", false, &v.description},
                                      {"model_id", false, &v.model_id}}) {
    auto s = Str(p, field, required);
    if (!s.ok()) return Fail(s.status());
    *out = *s;
  }
  auto tags = KeyValues(p, "tags", "tag");
  if (!tags.ok()) return Fail(tags.status());
  if (Status t = CheckTags(*tags); !t.ok()) return Fail(t);
  v.tags = *tags;
  if (Status n = model::ValidateRegistryName(v.name); !n.ok()) return Fail(n);
  if (Status src = CheckVersionSource(v.source, v.run_id, v.model_id); !src.ok()) return Fail(src);
  auto m = d.store->Models().GetRegisteredModel(v.name);
  if (!m.ok()) return Fail(m.status());
  std::string resolved = v.source;
  if (ParseModelsUri(v.source)) {
    auto r = ResolveSource(v.source);
    if (!r.ok()) {
      return Fail(Status::InvalidArgument("Unable to fetch model from model URI source '" +
                                          v.source + "': " + r.status().message()));
    }
    resolved = *r;
    if (resolved != v.source) v.storage_location = resolved;
  }
  if (!v.model_id.empty() && v.run_id.empty()) {
    auto lm = d.store->Models().GetLoggedModel(v.model_id);
    if (!lm.ok()) return Fail(lm.status());
    v.run_id = lm->source_run_id;
  }
  // The files, when they are in Ferry's store: kept as a snapshot, so the version keeps them
  // whatever happens to the run or logged model later (and Ferry's API can download them).
  if (auto files = FilesAt(resolved); files.ok() && !files->empty()) {
    model::Manifest manifest;
    for (const auto& f : *files) manifest.entries.push_back({f.path, 0644, f.size, f.hash});
    if (manifest.Normalize().ok()) {
      const std::string text = manifest.Serialize();
      auto id = d.blobs->Put(text, "");
      Status st = id.ok() ? d.blobs->Sync() : id.status();
      if (st.ok()) {
        st = d.store->PutSnapshot(*id, static_cast<int64_t>(manifest.entries.size()),
                                  static_cast<int64_t>(manifest.TotalBytes()), Now());
      }
      if (!st.ok()) return Fail(st);
      v.manifest_hash = *id;
      v.storage_location = "mlflow-artifacts:/_ferry/snapshots/" + *id;  // what clients download
      v.file_count = static_cast<int64_t>(manifest.entries.size());
      v.total_bytes = static_cast<int64_t>(manifest.TotalBytes());
    }
  }
  v.created_by = caller.name;
  auto made = d.store->Models().CreateModelVersion(v, /*create_model=*/false, Now());
  if (!made.ok()) return Fail(made.status());
  if (!v.model_id.empty()) {
    // The logged model lists where it was registered (MLflow's mlflow.modelVersions tag).
    (void)d.store->Models().UpdateLoggedModel(
        v.model_id,
        [&](model::LoggedModel* lm) {
          json list = json::parse(lm->tags["mlflow.modelVersions"], nullptr, false);
          if (!list.is_array()) list = json::array();
          list.push_back({{"name", made->name}, {"version", made->version}});
          std::string text;
          for (const auto& e : list) {
            text += text.empty() ? "[" : ", ";
            text += "{\"name\": " + json(e.value("name", "")).dump() +
                    ", \"version\": " + std::to_string(e.value("version", 0)) + "}";
          }
          lm->tags["mlflow.modelVersions"] = text + "]";
          return Status::Ok();
        },
        Now());
  }
  return Reply(200, {{"model_version", ModelVersionJson(*made)}});
}

HttpResponse Handler::GetModelVersion() {
  auto name = Str(p, "name", true);
  if (!name.ok()) return Fail(name.status());
  auto version = VersionParam();
  if (!version.ok()) return Fail(version.status());
  auto v = d.store->Models().GetModelVersion(*name, *version);
  if (!v.ok()) return Fail(v.status());
  return Reply(200, {{"model_version", ModelVersionJson(*v)}});
}

HttpResponse Handler::UpdateModelVersion() {
  auto name = Str(p, "name", true);
  if (!name.ok()) return Fail(name.status());
  auto version = VersionParam();
  if (!version.ok()) return Fail(version.status());
  auto description = Str(p, "description", false);
  if (!description.ok()) return Fail(description.status());
  const bool has = p.contains("description") && !p["description"].is_null();
  auto v = d.store->Models().UpdateModelVersion(
      *name, *version,
      [&](model::ModelVersion* mv) {
        if (has) mv->description = *description;
        return Status::Ok();
      },
      Now());
  if (!v.ok()) return Fail(v.status());
  return Reply(200, {{"model_version", ModelVersionJson(*v)}});
}

HttpResponse Handler::DeleteModelVersion() {
  auto name = Str(p, "name", true);
  if (!name.ok()) return Fail(name.status());
  auto version = VersionParam();
  if (!version.ok()) return Fail(version.status());
  Status st = d.store->Models().DeleteModelVersion(*name, *version, Now());
  if (!st.ok()) return Fail(st);
  return Reply(200, json::object());
}

HttpResponse Handler::SearchModelVersions() {
  auto page = Page(10000, 200000);
  if (!page.ok()) return Fail(page.status());
  auto filter_text = Str(p, "filter", false);
  if (!filter_text.ok()) return Fail(filter_text.status());
  auto filter = ParseFilter(*filter_text);
  if (!filter.ok()) return Fail(filter.status());
  std::vector<std::string> order_text = OrderByTexts();
  order_text.push_back("name ASC");
  order_text.push_back("version_number DESC");
  auto order = ParseOrderBy(order_text);
  if (!order.ok()) return Fail(order.status());
  std::string only;  // a name = '...' clause reads one model's versions
  for (const auto& c : filter->all) {
    if (c.kind == "attributes" && c.key == "name" && c.op == "=") only = c.values[0];
  }
  auto view_of = [](const model::ModelVersion& v) {
    RunView view;
    view.tags = v.tags;
    view.attributes = {{"name", v.name},
                       {"run_id", v.run_id},
                       {"source_path", v.source},
                       {"model_id", v.model_id},
                       {"status", v.status}};
    view.times = {{"version_number", static_cast<double>(v.version)},
                  {"creation_timestamp", static_cast<double>(Ms(v.created_at))},
                  {"last_updated_timestamp", static_cast<double>(Ms(v.updated_at))}};
    return view;
  };
  if (!only.empty() && order_text.size() == 2) {
    // One model in the default order (newest first): read only as many versions as the page
    // needs, in batches, instead of every version of the model.
    json out = json::array();
    size_t skipped = 0;
    bool more = false;
    int64_t before = 0;
    const int64_t batch = std::max<int64_t>(static_cast<int64_t>(page->second) + 1, 16);
    while (!more) {
      auto versions = d.store->Models().ListModelVersionsNewestFirst(only, before, batch);
      if (!versions.ok()) return Fail(versions.status());
      for (const auto& v : *versions) {
        before = v.version;
        if (!RegistryMatches(*filter, view_of(v))) continue;
        if (skipped < page->first) {
          ++skipped;
        } else if (out.size() < page->second) {
          out.push_back(ModelVersionJson(v));
        } else {
          more = true;
          break;
        }
      }
      if (static_cast<int64_t>(versions->size()) < batch) break;
    }
    json r = json::object();
    const size_t shown = out.size();
    if (shown > 0) r["model_versions"] = std::move(out);
    if (more) r["next_page_token"] = std::to_string(page->first + shown);
    return Reply(200, r);
  }
  auto versions = d.store->Models().ListModelVersions(only);
  if (!versions.ok()) return Fail(versions.status());
  std::vector<std::pair<RunView, const model::ModelVersion*>> hits;
  for (const auto& v : *versions) {
    RunView view = view_of(v);
    if (RegistryMatches(*filter, view)) hits.emplace_back(std::move(view), &v);
  }
  std::stable_sort(hits.begin(), hits.end(),
                   [&](const auto& a, const auto& b) { return Before(*order, a.first, b.first); });
  json out = json::array();
  for (size_t i = page->first; i < hits.size() && out.size() < page->second; ++i)
    out.push_back(ModelVersionJson(*hits[i].second));
  json r = json::object();
  const size_t shown = out.size();
  if (shown > 0) r["model_versions"] = std::move(out);
  if (page->first + shown < hits.size()) r["next_page_token"] = std::to_string(page->first + shown);
  return Reply(200, r);
}

HttpResponse Handler::TransitionModelVersionStage() {
  auto name = Str(p, "name", true);
  if (!name.ok()) return Fail(name.status());
  auto version = VersionParam();
  if (!version.ok()) return Fail(version.status());
  auto stage_text = Str(p, "stage", true);
  if (!stage_text.ok()) return Fail(stage_text.status());
  auto stage = model::CanonicalStage(*stage_text);
  if (!stage.ok()) return Fail(stage.status());
  bool archive = false;
  if (auto it = p.find("archive_existing_versions"); it != p.end() && !it->is_null()) {
    if (it->is_boolean()) {
      archive = it->get<bool>();
    } else if (it->is_string() && (*it == "true" || *it == "false")) {
      archive = *it == "true";
    } else {
      return Fail(InvalidValue("archive_existing_versions", *it, "it must be true or false"));
    }
  }
  if (archive && *stage != model::kStageStaging && *stage != model::kStageProduction) {
    return Fail(Status::InvalidArgument(
        "Model version transition cannot archive existing model versions because '" + *stage +
        "' is not an Active stage. Valid stages are Staging and Production"));
  }
  auto v = d.store->Models().TransitionModelVersionStage(*name, *version, *stage, archive, Now());
  if (!v.ok()) return Fail(v.status());
  return Reply(200, {{"model_version", ModelVersionJson(*v)}});
}

HttpResponse Handler::GetModelVersionDownloadUri() {
  auto name = Str(p, "name", true);
  if (!name.ok()) return Fail(name.status());
  auto version = VersionParam();
  if (!version.ok()) return Fail(version.status());
  auto v = d.store->Models().GetModelVersion(*name, *version);
  if (!v.ok()) return Fail(v.status());
  if (!token_run.empty()) {
    // A run's script loading the version (load_model("models:/...")): the run used it.
    Status used =
        d.store->Assets().RecordAssetUses({{token_run, "input", "model", v->name, v->version, ""}});
    if (!used.ok()) return Fail(used);
  }
  return Reply(200,
               {{"artifact_uri", v->storage_location.empty() ? v->source : v->storage_location}});
}

HttpResponse Handler::SetModelVersionTag(bool set) {
  auto name = Str(p, "name", true);
  if (!name.ok()) return Fail(name.status());
  auto version = VersionParam();
  if (!version.ok()) return Fail(version.status());
  auto key = Str(p, "key", true);
  if (!key.ok()) return Fail(key.status());
  auto value = Str(p, "value", false);
  if (!value.ok()) return Fail(value.status());
  if (Status k = CheckKey("tag", *key); !k.ok()) return Fail(k);
  if (Status t = CheckTags({{*key, *value}}); !t.ok()) return Fail(t);
  auto v = d.store->Models().UpdateModelVersion(
      *name, *version,
      [&](model::ModelVersion* mv) {
        if (set)
          mv->tags[*key] = *value;
        else
          mv->tags.erase(*key);
        return Status::Ok();
      },
      Now());
  if (!v.ok()) return Fail(v.status());
  return Reply(200, json::object());
}

}  // namespace ferry::server::mlflow
