// REST handlers of datastores: /datastores, /datastores/{name}. The workspace's own blob store
// (workspaceblobstore) is always there; directory datastores name a directory that this
// machine and the targets share, with the path each target sees it at where that differs.
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "common/json_fields.h"
#include "server/api_internal.h"

namespace ferry::server {

using net::HandlerResult;
using nlohmann::json;

namespace {

json DatastoreJson(const model::DatastoreRecord& d) {
  json config = json::parse(d.config_json, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) config = json::object();
  json j = {{"name", d.name},
            {"kind", d.kind},
            {"default", d.name == model::kWorkspaceBlobStore},
            {"created_by", d.created_by},
            {"created_at", d.created_at}};
  if (d.kind == "directory") {
    j["path"] = config.value("path", "");
    j["mounts"] = config.contains("mounts") ? config["mounts"] : json::object();
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

}  // namespace

HandlerResult Api::Impl::ListDatastores() {
  auto list = d.store->Assets().ListDatastores();
  if (!list.ok()) return Error(list.status());
  json arr = json::array();
  for (const auto& ds : *list) arr.push_back(DatastoreJson(ds));
  return Json(200, {{"datastores", arr}});
}

HandlerResult Api::Impl::GetDatastore() {
  auto ds = d.store->Assets().GetDatastore(P(0));
  if (!ds.ok()) return Error(ds.status());
  return Json(200, DatastoreJson(*ds));
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
  if (*kind != "directory") {
    return Bad("field 'kind': '" + *kind + "' cannot be registered; allowed: directory");
  }
  auto config = DirectoryConfig(*body);
  if (!config.ok()) return Error(config.status());
  model::DatastoreRecord rec{*name, *kind, config->dump(), user_name, d.clock->Now()};
  Status s = d.store->Assets().CreateDatastore(rec);
  if (!s.ok()) return Error(s);
  return Json(201, DatastoreJson(rec));
}

HandlerResult Api::Impl::DeleteDatastore() {
  Status s = d.store->Assets().DeleteDatastore(P(0));
  if (!s.ok()) return Error(s);
  return Json(200, {{"name", P(0)}, {"deleted", true}});
}

}  // namespace ferry::server
