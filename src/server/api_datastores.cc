// REST handlers of datastores: /datastores, /datastores/{name}. The workspace's own blob store
// (workspaceblobstore) is always there; directory datastores name a directory that this
// machine and the targets share, with the path each target sees it at where that differs.
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/json_fields.h"
#include "data/s3_client.h"
#include "server/api_internal.h"
#include "server/datastore_io.h"

namespace ferry::server {

using net::HandlerResult;
using nlohmann::json;

namespace {

json DatastoreJson(const model::DatastoreRecord& d, const std::string& default_name) {
  json config = json::parse(d.config_json, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) config = json::object();
  json j = {{"name", d.name},
            {"kind", d.kind},
            {"default", d.name == default_name},
            {"created_by", d.created_by},
            {"created_at", d.created_at}};
  if (d.kind == "directory") {
    j["path"] = config.value("path", "");
    j["mounts"] = config.contains("mounts") ? config["mounts"] : json::object();
  }
  if (d.kind == "s3") {  // never the secret key
    for (const char* k : {"endpoint", "bucket", "region", "prefix", "access_key", "ca_file"}) {
      j[k] = config.value(k, "");
    }
    j["path_style"] = config.value("path_style", true);
  }
  return j;
}

// A directory datastore's configuration from a request: {"path": absolute directory on this
// machine, "mounts": {target: absolute path there}}; each error names the field.
Result<json> DirectoryConfig(const json& body) {
  FERRY_ASSIGN_OR_RETURN(std::string path, StringField(body, "path", true));
  if (path.empty() || path[0] != '/') {
    return Status::InvalidArgument("field 'path': '" + path +
                                   "' is not an absolute path; give the directory as this "
                                   "server's machine sees it");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("field 'path': '" + path +
                                   "' is not a directory on the server's machine");
  }
  FERRY_ASSIGN_OR_RETURN(auto mounts, StringMapField(body, "mounts"));
  json m = json::object();
  for (const auto& [target, at] : mounts) {
    if (at.empty() || at[0] != '/') {
      return Status::InvalidArgument("field 'mounts': target '" + target + "': '" + at +
                                     "' is not an absolute path");
    }
    m[target] = at;
  }
  return json{{"path", path}, {"mounts", m}};
}

// An S3 datastore's configuration from a request: endpoint, bucket, region, path_style, prefix,
// access_key, secret_key (sealed here; it never leaves the server again), ca_file.
Result<json> S3Config(const json& body, const Sealer* sealer) {
  json c = json::object();
  for (auto [f, required] : {std::pair{"endpoint", true},
                             {"bucket", true},
                             {"region", false},
                             {"prefix", false},
                             {"access_key", true},
                             {"ca_file", false}}) {
    FERRY_ASSIGN_OR_RETURN(std::string v, StringField(body, f, required));
    c[f] = v;
  }
  if (c["region"] == "") c["region"] = "us-east-1";
  FERRY_ASSIGN_OR_RETURN(std::string prefix,
                         DatastorePath("prefix", c["prefix"].get<std::string>()));
  c["prefix"] = prefix;
  c["path_style"] = true;
  if (auto ps = body.find("path_style"); ps != body.end() && !ps->is_null()) {
    if (!ps->is_boolean())
      return Status::InvalidArgument("field 'path_style' must be true or false");
    c["path_style"] = ps->get<bool>();
  }
  FERRY_ASSIGN_OR_RETURN(std::string secret, StringField(body, "secret_key", true));
  if (sealer == nullptr) return Status::Internal("this server cannot seal secrets");
  c["secret_key"] = sealer->Seal(secret);
  return c;
}

}  // namespace

HandlerResult Api::Impl::ListDatastores() {
  auto list = d.store->Assets().ListDatastores();
  if (!list.ok()) return Error(list.status());
  json arr = json::array();
  const std::string def = DefaultDatastore();
  for (const auto& ds : *list) arr.push_back(DatastoreJson(ds, def));
  return Json(200, {{"datastores", arr}});
}

HandlerResult Api::Impl::GetDatastore() {
  auto ds = d.store->Assets().GetDatastore(P(0));
  if (!ds.ok()) return Error(ds.status());
  return Json(200, DatastoreJson(*ds, DefaultDatastore()));
}

HandlerResult Api::Impl::RegisterDatastore() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto name = StringField(*body, "name", true);
  if (!name.ok()) return Error(name.status());
  Status valid = model::ValidateDatastoreName(*name);
  if (!valid.ok()) return Error(valid.WithContext("field 'name'"));
  auto kind = StringField(*body, "kind", true);
  if (!kind.ok()) return Error(kind.status());
  if (*kind != "directory" && *kind != "s3") {
    return Bad("field 'kind': '" + *kind + "' cannot be registered; allowed: directory, s3");
  }
  auto config = *kind == "s3" ? S3Config(*body, d.sealer) : DirectoryConfig(*body);
  if (!config.ok()) return Error(config.status());
  model::DatastoreRecord rec{*name, *kind, config->dump(), user_name, d.clock->Now()};
  if (*kind == "s3") {
    // The store's own answer to these credentials, now rather than at the first upload.
    auto client = OpenS3Datastore(rec, d.sealer, /*max_attempts=*/1);
    Status reach = client.ok() ? (*client)->HeadBucket() : client.status();
    if (!reach.ok()) return Error(reach.WithContext("datastore '" + *name + "'"));
  }
  Status s = d.store->Assets().CreateDatastore(rec);
  if (!s.ok()) return Error(s);
  return Json(201, DatastoreJson(rec, DefaultDatastore()));
}

Result<std::unique_ptr<DatastoreIo>> Api::Impl::OpenDatastore(const std::string& name) {
  FERRY_ASSIGN_OR_RETURN(auto ds, d.store->Assets().GetDatastore(name));
  return OpenDatastoreIo(ds, &d.store->Assets(), d.blobs, d.sealer, d.clock->Now());
}

HandlerResult Api::Impl::ListDatastoreFiles() {
  auto prefix = DatastorePath("prefix", req.Query("prefix"));
  if (!prefix.ok()) return Error(prefix.status());
  auto io = OpenDatastore(P(0));
  if (!io.ok()) return Error(io.status());
  auto files = (*io)->List(*prefix);
  if (!files.ok()) return Error(files.status());
  json arr = json::array();
  for (const auto& f : *files) {
    json j = {{"path", f.path}, {"size", f.size}, {"modified_at", f.modified_at}};
    if (!f.blob.empty()) j["blob"] = f.blob;
    arr.push_back(std::move(j));
  }
  return Json(200, {{"datastore", P(0)}, {"prefix", *prefix}, {"files", arr}});
}

// Body: {"snapshot": a stored snapshot (POST /snapshots), "target_path": where its files go,
// "overwrite": false}. All of the files or none.
HandlerResult Api::Impl::UploadToDatastore() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto snapshot = StringField(*body, "snapshot", true);
  if (!snapshot.ok()) return Error(snapshot.status());
  auto target_field = StringField(*body, "target_path", false);
  if (!target_field.ok()) return Error(target_field.status());
  auto target = DatastorePath("target_path", *target_field);
  if (!target.ok()) return Error(target.status());
  bool overwrite = false;
  if (body->contains("overwrite") && !(*body)["overwrite"].is_null()) {
    if (!(*body)["overwrite"].is_boolean()) return Bad("field 'overwrite' must be true or false");
    overwrite = (*body)["overwrite"].get<bool>();
  }
  auto known = d.store->GetSnapshot(*snapshot);
  if (!known.ok()) return Error(known.status());
  if (!*known) {
    return Error(Status::NotFound("field 'snapshot': snapshot '" + *snapshot +
                                  "' is not stored; upload the files (POST /api/v1/snapshots) "
                                  "first"));
  }
  auto text = d.blobs->Get(*snapshot);
  if (!text.ok()) return Error(text.status());
  auto manifest = model::Manifest::Parse(*text);
  if (!manifest.ok()) return Error(manifest.status());
  auto io = OpenDatastore(P(0));
  if (!io.ok()) return Error(io.status());
  auto written = (*io)->Put(*manifest, *target, overwrite);
  if (!written.ok()) return Error(written.status());
  return Json(200, {{"datastore", P(0)},
                    {"target_path", *target},
                    {"files", manifest->entries.size()},
                    {"written", *written},
                    {"bytes", manifest->TotalBytes()}});
}

HandlerResult Api::Impl::ReadDatastoreFile() {
  auto path = DatastorePath("path", req.Query("path"));
  if (!path.ok()) return Error(path.status());
  if (path->empty()) return Bad("query parameter 'path' is required: the file to read");
  auto io = OpenDatastore(P(0));
  if (!io.ok()) return Error(io.status());
  // A dataset version's file (size and modified_at given): refused when it changed since.
  if (const std::string size = req.Query("size"); !size.empty()) {
    auto listed = (*io)->List(*path);
    if (!listed.ok()) return Error(listed.status());
    const DataFile* f = listed->empty() || (*listed)[0].path != *path ? nullptr : &(*listed)[0];
    const double mtime = std::strtod(req.Query("modified_at", "0").c_str(), nullptr);
    if (f == nullptr || std::to_string(f->size) != size ||
        std::abs(f->modified_at - mtime) > 1e-6) {
      return Error(Status::FailedPrecondition(
          "datastore '" + P(0) + "': '" + *path + "' " +
          (f == nullptr ? std::string("is gone")
           : std::to_string(f->size) != size
               ? "changed (size " + size + ", now " + std::to_string(f->size) + ")"
               : std::string("was modified")) +
          " since the dataset version was made; a version never changes: register the data "
          "again as a new version"));
    }
  }
  auto source = (*io)->Open(*path);
  if (!source.ok()) return Error(source.status());
  HttpResponse r;
  r.content_type = "application/octet-stream";
  r.body_source = std::move(source).value();
  return r;
}

HandlerResult Api::Impl::DeleteDatastore() {
  if (P(0) != model::kWorkspaceBlobStore && P(0) == DefaultDatastore()) {
    return Error(Status::FailedPrecondition(
        "datastore '" + P(0) +
        "' is the workspace's default; make another the default first (PUT "
        "/api/v1/datastores/NAME/default, Datastore.set_as_default())"));
  }
  Status s = d.store->Assets().DeleteDatastore(P(0));
  if (!s.ok()) return Error(s);
  return Json(200, {{"name", P(0)}, {"deleted", true}});
}

std::string Api::Impl::DefaultDatastore() {
  auto text = ReadFile(JoinPath(d.home, "default_datastore.json"));
  if (!text.ok()) return std::string(model::kWorkspaceBlobStore);
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  std::string name = j.is_object() ? j.value("name", "") : "";
  if (name.empty() || !d.store->Assets().GetDatastore(name).ok())
    return std::string(model::kWorkspaceBlobStore);
  return name;
}

// PUT /datastores/{name}/default: what runs' outputs and datasets' paths use when they name
// no datastore, and what Workspace.get_default_datastore() returns.
HandlerResult Api::Impl::SetDefaultDatastore() {
  auto ds = d.store->Assets().GetDatastore(P(0));
  if (!ds.ok()) return Error(ds.status());
  if (d.home.empty()) return Error(Status::Internal("this server has no workspace home"));
  Status st = WriteFileAtomic(JoinPath(d.home, "default_datastore.json"),
                              json{{"name", ds->name}}.dump() + "\n", 0600);
  if (!st.ok()) return Error(st);
  return Json(200, DatastoreJson(*ds, ds->name));
}

}  // namespace ferry::server
