// REST handlers of datasets: /datasets, /datasets/by-id/{id}, /datasets/{name}[/{version}],
// /datasets/{name}/archive|reactivate. A file dataset version is registered from a snapshot the
// client uploaded (POST /snapshots: its files' blobs are in the workspace's store); the
// version's content id covers its kind, datastore, definition and manifest, so registering
// the same files again is the same version.
#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "common/json_fields.h"
#include "server/api_internal.h"

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

// "latest" -> 0; a positive number -> itself; anything else an error naming it.
Result<int64_t> VersionParam(const std::string& s) {
  if (s == "latest" || s.empty()) return int64_t{0};
  auto v = ParseCount(s);
  if (!v || *v < 1) {
    return Status::InvalidArgument("dataset version must be a positive integer or 'latest', got '" +
                                   s + "'");
  }
  return static_cast<int64_t>(*v);
}

}  // namespace

HandlerResult Api::Impl::ListDatasets() {
  const std::string all = req.Query("include_archived");
  auto list = d.store->Assets().ListDatasets("", all == "true" || all == "1");
  if (!list.ok()) return Error(list.status());
  json arr = json::array();
  for (const auto& v : *list) arr.push_back(DatasetJson(v));
  return Json(200, {{"datasets", arr}});
}

HandlerResult Api::Impl::RegisterDataset() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  model::DatasetVersion v;
  std::string snapshot;
  for (auto [f, required, out] : {std::tuple{"name", true, &v.name},
                                  {"snapshot", true, &snapshot},
                                  {"kind", false, &v.kind},
                                  {"description", false, &v.description}}) {
    auto s = StringField(*body, f, required);
    if (!s.ok()) return Error(s.status());
    *out = *s;
  }
  if (v.kind.empty()) v.kind = "file";
  if (v.kind != "file") {
    return Bad("field 'kind': '" + v.kind +
               "' cannot be registered from uploaded files; allowed: file");
  }
  Status valid = model::ValidateAssetName("dataset", v.name);
  if (!valid.ok()) return Error(valid.WithContext("field 'name'"));
  auto tags = StringMapField(*body, "tags");
  if (!tags.ok()) return Error(tags.status());
  v.tags = *tags;
  json definition = json::object();
  if (body->contains("definition") && !(*body)["definition"].is_null()) {
    if (!(*body)["definition"].is_object()) return Bad("field 'definition' must be an object");
    definition = (*body)["definition"];
  }
  bool new_version = false;
  if (body->contains("create_new_version") && !(*body)["create_new_version"].is_null()) {
    if (!(*body)["create_new_version"].is_boolean())
      return Bad("field 'create_new_version' must be true or false");
    new_version = (*body)["create_new_version"].get<bool>();
  }
  // The files: a snapshot the server has (so every blob of it is stored and verified).
  // Its totals were stored with it: the manifest need not be read again.
  auto known = d.store->GetSnapshot(snapshot);
  if (!known.ok()) return Error(known.status());
  if (!*known) {
    return Error(Status::NotFound("field 'snapshot': snapshot '" + snapshot +
                                  "' is not stored; upload the files (POST /api/v1/snapshots) "
                                  "first"));
  }
  if ((*known)->file_count == 0) {
    return Bad("field 'snapshot': snapshot '" + snapshot +
               "' has no files; a dataset needs at least one");
  }
  v.datastore = std::string(model::kWorkspaceBlobStore);
  v.definition_json = definition.dump();
  v.manifest_hash = snapshot;
  v.file_count = (*known)->file_count;
  v.total_bytes = (*known)->total_bytes;
  v.id = Sha256Hex(v.kind + "\n" + v.datastore + "\n" + v.definition_json + "\n" + snapshot);
  v.created_by = user_name;
  bool created = false;
  auto stored = d.store->Assets().RegisterDataset(v, new_version, d.clock->Now(), &created);
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
  auto version = VersionParam(P(1));
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

HandlerResult Api::Impl::ArchiveDataset() { return SetDatasetArchived(true); }
HandlerResult Api::Impl::ReactivateDataset() { return SetDatasetArchived(false); }

HandlerResult Api::Impl::SetDatasetArchived(bool archived) {
  auto version = VersionParam(req.Query("version"));
  if (!version.ok()) return Error(version.status());
  Status s = d.store->Assets().SetDatasetArchived(P(0), *version, archived);
  if (!s.ok()) return Error(s);
  return Json(200, {{"name", P(0)}, {"version", *version}, {"archived", archived}});
}

}  // namespace ferry::server
