// REST handlers of datasets: /datasets, /datasets/by-id/{id}, /datasets/{name}[/{version}],
// /datasets/{name}/archive|reactivate. A file dataset version is registered from a snapshot the
// client uploaded (POST /snapshots: its files' blobs are in the workspace's store); the
// version's content id covers its kind, datastore, definition and manifest, so registering
// the same files again is the same version.
#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "common/json_fields.h"
#include "server/api_internal.h"
#include "server/datastore_io.h"

namespace ferry::server {

using net::HandlerResult;
using nlohmann::json;

namespace {

json DatasetJson(const model::DatasetVersion& v) {
  json definition = json::parse(v.definition_json, nullptr, /*allow_exceptions=*/false);
  if (!definition.is_object()) definition = json::object();
  return {{"name", v.name},
          {"version", v.version},
          {"id", v.id},
          {"kind", v.kind},
          {"datastore", v.datastore},
          {"definition", definition},
          {"manifest", v.manifest_hash},
          {"file_count", v.file_count},
          {"total_bytes", v.total_bytes},
          {"description", v.description},
          {"tags", v.tags},
          {"created_by", v.created_by},
          {"created_at", v.created_at},
          {"archived", v.archived}};
}

// What a dataset's path patterns matched: the version's files.
struct ResolvedFiles {
  std::string datastore;
  std::string manifest;  // the blob holding the manifest
  int64_t file_count = 0, total_bytes = 0;
  json files = json::array();  // [{path, size}] as the dataset shows them
};

constexpr size_t kMaxDatasetPaths = 100;

// "paths": [{"datastore": name, "path": pattern}] (model::GlobMatch). Each pattern must match
// a file; the files' paths in the dataset are relative to their pattern's base. Files of the
// workspace's store make a snapshot manifest (mountable like a snapshot); files of another
// datastore an external manifest with each file's size and modification time, which a run
// checks before it reads them.
Result<ResolvedFiles> ResolveDatasetPaths(Api::Impl& h, const json& paths) {
  if (!paths.is_array() || paths.empty() || paths.size() > kMaxDatasetPaths) {
    return Status::InvalidArgument("field 'paths' must be a list of 1 to " +
                                   std::to_string(kMaxDatasetPaths) +
                                   " {\"datastore\": NAME, \"path\": PATTERN} objects");
  }
  ResolvedFiles out;
  std::unique_ptr<DatastoreIo> io;
  std::map<std::string, DataFile> files;  // by the path in the dataset
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string field = "paths[" + std::to_string(i) + "]";
    if (!paths[i].is_object())
      return Status::InvalidArgument("field '" + field + "' must be an object");
    FERRY_ASSIGN_OR_RETURN(std::string store, StringField(paths[i], "datastore", false));
    if (store.empty()) store = h.DefaultDatastore();
    FERRY_ASSIGN_OR_RETURN(std::string raw, StringField(paths[i], "path", false));
    FERRY_ASSIGN_OR_RETURN(std::string pattern, DatastorePath(field + ".path", raw));
    if (out.datastore.empty()) {
      out.datastore = store;
      FERRY_ASSIGN_OR_RETURN(io, h.OpenDatastore(store));
    } else if (store != out.datastore) {
      return Status::InvalidArgument("field '" + field + ".datastore': '" + store +
                                     "' differs from '" + out.datastore +
                                     "'; a dataset's files are all in one datastore");
    }
    std::vector<std::pair<std::string, DataFile>> matched;  // (dataset path, file)
    if (model::HasGlob(pattern)) {
      const std::string base = model::GlobBase(pattern);
      FERRY_ASSIGN_OR_RETURN(auto listed, io->List(base.empty() ? "" : base + "/"));
      for (auto& f : listed) {
        if (!model::GlobMatch(pattern, f.path)) continue;
        std::string rel = base.empty() ? f.path : f.path.substr(base.size() + 1);
        matched.emplace_back(std::move(rel), std::move(f));
      }
    } else {
      FERRY_ASSIGN_OR_RETURN(auto listed, io->List(pattern));
      for (auto& f : listed) {
        if (f.path == pattern) {  // one file: its name
          matched.emplace_back(f.path.substr(f.path.rfind('/') + 1), std::move(f));
        } else if (pattern.empty() || f.path.compare(0, pattern.size() + 1, pattern + "/") == 0) {
          std::string rel = pattern.empty() ? f.path : f.path.substr(pattern.size() + 1);
          matched.emplace_back(std::move(rel), std::move(f));
        }
      }
    }
    if (matched.empty()) {
      return Status::NotFound("field '" + field + "': nothing in datastore '" + store +
                              "' matches '" + (pattern.empty() ? "/" : pattern) +
                              "'; see 'ferry datastore show " + store + " --files'");
    }
    for (auto& [rel, f] : matched) {
      auto [it, fresh] = files.emplace(rel, f);
      if (!fresh && it->second.path != f.path) {
        return Status::InvalidArgument("field '" + field + "': '" + f.path + "' and '" +
                                       it->second.path + "' would both be '" + rel +
                                       "' in the dataset; use patterns whose files do not collide");
      }
    }
  }
  std::string manifest_text;
  if (out.datastore == model::kWorkspaceBlobStore) {
    model::Manifest m;
    for (const auto& [rel, f] : files) {
      m.entries.push_back({rel, 0644, static_cast<uint64_t>(f.size), f.blob});
    }
    FERRY_RETURN_IF_ERROR(m.Normalize());
    manifest_text = m.Serialize();
  } else {
    json arr = json::array();
    for (const auto& [rel, f] : files) {
      json one = {
          {"path", rel}, {"source", f.path}, {"size", f.size}, {"modified_at", f.modified_at}};
      if (!f.etag.empty()) one["etag"] = f.etag;
      arr.push_back(std::move(one));
    }
    manifest_text = json{
        {"format", "ferry-external-files/1"},
        {"datastore", out.datastore},
        {"files", arr}}.dump();
  }
  FERRY_ASSIGN_OR_RETURN(out.manifest, h.d.blobs->Put(manifest_text, ""));
  for (const auto& [rel, f] : files) {
    out.file_count += 1;
    out.total_bytes += f.size;
    if (out.files.size() < 1000) out.files.push_back({{"path", rel}, {"size", f.size}});
  }
  return out;
}

// The version a request describes: "name", "kind" ("file" | "tabular"), "description", "tags",
// "definition" (kept as given: tabular options, transforms), and its files: "paths" (patterns
// over a datastore) or "snapshot" (files uploaded with POST /snapshots).
Result<model::DatasetVersion> DatasetFromBody(Api::Impl& h, const json& body, bool need_name,
                                              ResolvedFiles* resolved) {
  model::DatasetVersion v;
  std::string snapshot;
  for (auto [f, required, out] : {std::tuple{"name", need_name, &v.name},
                                  {"snapshot", false, &snapshot},
                                  {"kind", false, &v.kind},
                                  {"description", false, &v.description}}) {
    FERRY_ASSIGN_OR_RETURN(*out, StringField(body, f, required));
  }
  if (v.kind.empty()) v.kind = "file";
  if (v.kind != "file" && v.kind != "tabular") {
    return Status::InvalidArgument("field 'kind': '" + v.kind +
                                   "' is not known; use file or tabular");
  }
  if (need_name) {
    FERRY_RETURN_IF_ERROR(model::ValidateAssetName("dataset", v.name).WithContext("field 'name'"));
  }
  FERRY_ASSIGN_OR_RETURN(v.tags, StringMapField(body, "tags"));
  json definition = json::object();
  if (body.contains("definition") && !body["definition"].is_null()) {
    if (!body["definition"].is_object()) {
      return Status::InvalidArgument("field 'definition' must be an object");
    }
    definition = body["definition"];
  }
  const bool has_paths = body.contains("paths") && !body["paths"].is_null();
  if (has_paths == !snapshot.empty()) {
    return Status::InvalidArgument(
        "give the dataset's files as either 'paths' (patterns over a datastore) or 'snapshot' "
        "(uploaded files), not both or neither");
  }
  if (v.kind == "tabular") {
    static const char* const kFormats[] = {"delimited", "parquet", "json_lines"};
    const std::string format = definition.value("format", "");
    if (std::find(std::begin(kFormats), std::end(kFormats), format) == std::end(kFormats)) {
      return Status::InvalidArgument("field 'definition.format': '" + format +
                                     "' is not a tabular format; use delimited, parquet or "
                                     "json_lines");
    }
  }
  if (has_paths) {
    FERRY_ASSIGN_OR_RETURN(*resolved, ResolveDatasetPaths(h, body["paths"]));
    definition["paths"] = body["paths"];
  } else {
    // Files the client uploaded: a snapshot the server has (each blob stored and verified).
    // Its totals were stored with it: the manifest need not be read again.
    FERRY_ASSIGN_OR_RETURN(auto known, h.d.store->GetSnapshot(snapshot));
    if (!known) {
      return Status::NotFound("field 'snapshot': snapshot '" + snapshot +
                              "' is not stored; upload the files (POST /api/v1/snapshots) first");
    }
    if (known->file_count == 0) {
      return Status::InvalidArgument("field 'snapshot': snapshot '" + snapshot +
                                     "' has no files; a dataset needs at least one");
    }
    resolved->datastore = std::string(model::kWorkspaceBlobStore);
    resolved->manifest = snapshot;
    resolved->file_count = known->file_count;
    resolved->total_bytes = known->total_bytes;
  }
  v.datastore = resolved->datastore;
  v.definition_json = definition.dump();
  v.manifest_hash = resolved->manifest;
  v.file_count = resolved->file_count;
  v.total_bytes = resolved->total_bytes;
  v.id = Sha256Hex(v.kind + "\n" + v.datastore + "\n" + v.definition_json + "\n" + v.manifest_hash);
  return v;
}

}  // namespace

Result<json> Api::Impl::ResolveDataContent(const std::string& datastore, const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(
      auto r,
      ResolveDatasetPaths(*this, json::array({{{"datastore", datastore}, {"path", path}}})));
  return json{{"datastore", r.datastore},
              {"manifest", r.manifest},
              {"kind", "file"},
              {"file_count", r.file_count},
              {"total_bytes", r.total_bytes}};
}

HandlerResult Api::Impl::ResolveDataset() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  ResolvedFiles resolved;
  auto v = DatasetFromBody(*this, *body, /*need_name=*/false, &resolved);
  if (!v.ok()) return Error(v.status());
  json j = DatasetJson(*v);
  j.erase("version");
  j["files"] = resolved.files;
  return Json(200, j);
}

HandlerResult Api::Impl::ListDatasets() {
  const std::string all = req.Query("include_archived");
  auto list = d.store->Assets().ListDatasets("", all == "true" || all == "1");
  if (!list.ok()) return Error(list.status());
  json arr = json::array();
  for (const auto& v : *list) arr.push_back(DatasetJson(v));
  return Json(200, {{"datasets", arr}});
}

Result<model::DatasetVersion> Api::Impl::RegisterDatasetFrom(const json& body, bool new_version,
                                                             const std::string& created_by,
                                                             bool* created) {
  ResolvedFiles resolved;
  FERRY_ASSIGN_OR_RETURN(model::DatasetVersion v,
                         DatasetFromBody(*this, body, /*need_name=*/true, &resolved));
  v.created_by = created_by;
  bool fresh = false;
  FERRY_ASSIGN_OR_RETURN(auto stored,
                         d.store->Assets().RegisterDataset(v, new_version, d.clock->Now(), &fresh));
  if (created != nullptr) *created = fresh;
  return stored;
}

HandlerResult Api::Impl::RegisterDataset() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  bool new_version = false;
  if (body->contains("create_new_version") && !(*body)["create_new_version"].is_null()) {
    if (!(*body)["create_new_version"].is_boolean())
      return Bad("field 'create_new_version' must be true or false");
    new_version = (*body)["create_new_version"].get<bool>();
  }
  bool created = false;
  auto stored = RegisterDatasetFrom(*body, new_version, user_name, &created);
  if (!stored.ok()) return Error(stored.status());
  json j = DatasetJson(*stored);
  j["created"] = created;
  return Json(created ? 201 : 200, j);
}

HandlerResult Api::Impl::GetDatasetById() {
  auto v = d.store->Assets().GetDatasetById(P(0));
  if (!v.ok()) return Error(v.status());
  return Json(200, DatasetJson(*v));
}

HandlerResult Api::Impl::DatasetVersions() {
  auto list = d.store->Assets().ListDatasets(P(0), /*include_archived=*/true);
  if (!list.ok()) return Error(list.status());
  if (list->empty()) {
    return Error(
        Status::NotFound("dataset '" + P(0) + "' is not registered; see 'ferry dataset list'"));
  }
  json arr = json::array();
  for (const auto& v : *list) arr.push_back(DatasetJson(v));
  return Json(200, {{"name", P(0)}, {"versions", arr}});
}

HandlerResult Api::Impl::GetDataset() {
  auto version = AssetVersion("dataset", P(1));
  if (!version.ok()) return Error(version.status());
  auto v = d.store->Assets().GetDataset(P(0), *version);
  if (!v.ok()) return Error(v.status());
  json j = DatasetJson(*v);
  auto uses = d.store->Assets().RunsUsingAsset("dataset", v->name, v->version);
  if (!uses.ok()) return Error(uses.status());
  json runs = json::array();
  for (const auto& u : *uses) {
    runs.push_back({{"run_id", u.run_id}, {"direction", u.direction}, {"as_name", u.as_name}});
  }
  j["runs"] = runs;
  return Json(200, j);
}

// PATCH /datasets/{name}/{version}: {"description"?, "add_tags"?: {k: v}, "remove_tags"?: [k]}
// (Azure's Dataset.update, add_tags, remove_tags). The files and definition never change.
HandlerResult Api::Impl::UpdateDataset() {
  auto version = AssetVersion("dataset", P(1));
  if (!version.ok()) return Error(version.status());
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  if (!body->is_object()) return Bad("the body must be a JSON object");
  std::optional<std::string> description;
  if (auto it = body->find("description"); it != body->end() && !it->is_null()) {
    if (!it->is_string()) return Bad("field 'description' must be a string");
    description = it->get<std::string>();
  }
  auto add = StringMapField(*body, "add_tags");
  if (!add.ok()) return Error(add.status());
  std::vector<std::string> remove;
  if (auto it = body->find("remove_tags"); it != body->end() && !it->is_null()) {
    if (!it->is_array()) return Bad("field 'remove_tags' must be an array of tag names");
    for (const auto& k : *it) {
      if (!k.is_string()) return Bad("field 'remove_tags' must be an array of tag names");
      remove.push_back(k.get<std::string>());
    }
  }
  int64_t v = *version;
  if (v == 0) {  // "latest"
    auto latest = d.store->Assets().GetDataset(P(0), 0);
    if (!latest.ok()) return Error(latest.status());
    v = latest->version;
  }
  auto updated = d.store->Assets().UpdateDataset(P(0), v, description, *add, remove);
  if (!updated.ok()) return Error(updated.status());
  return Json(200, DatasetJson(*updated));
}

HandlerResult Api::Impl::ArchiveDataset() { return SetDatasetArchived(true); }
HandlerResult Api::Impl::ReactivateDataset() { return SetDatasetArchived(false); }

HandlerResult Api::Impl::SetDatasetArchived(bool archived) {
  auto version = AssetVersion("dataset", req.Query("version"));
  if (!version.ok()) return Error(version.status());
  Status s = d.store->Assets().SetDatasetArchived(P(0), *version, archived);
  if (!s.ok()) return Error(s);
  return Json(200, {{"name", P(0)}, {"version", *version}, {"archived", archived}});
}

}  // namespace ferry::server
