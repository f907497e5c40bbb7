// REST handlers of a run's outputs: the list, their content, signed download links.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "model/manifest.h"
#include "net/http.h"
#include "server/api_internal.h"
#include "server/studio.h"

namespace ferry::server {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

// [{path, size, hash}...]: valid paths, blobs already stored.
Result<std::vector<model::Artifact>> Api::Impl::ArtifactsFromJson(const std::string& id,
                                                                  const json& list,
                                                                  const char* field) {
  if (!list.is_array())
    return Status::InvalidArgument(std::string("field '") + field + "' must be an array");
  std::vector<model::Artifact> files;
  for (auto& f : list) {
    const std::string where = std::string(field) + "[" + std::to_string(files.size()) + "]";
    if (!f.is_object())
      return Status::InvalidArgument("each entry of '" + std::string(field) +
                                     "' must be an object");
    model::Artifact a;
    auto path = StringField(f, "path", true);
    if (!path.ok()) return path.status().WithContext(where);
    auto hash = StringField(f, "hash", true);
    if (!hash.ok()) return hash.status().WithContext(where);
    a.path = *path;
    a.hash = *hash;
    auto size = f.find("size");
    if (size == f.end() || !size->is_number_unsigned()) {
      return Status::InvalidArgument(where + ": field 'size' must be a whole number of bytes");
    }
    a.size = size->get<uint64_t>();
    Status st = model::ValidateRelativePath(a.path);
    if (!st.ok()) return st.WithContext("artifact of run '" + id + "'");
    if (!IsSha256Hex(a.hash))
      return Status::InvalidArgument(where +
                                     ": field 'hash' is not a lowercase SHA-256 hex digest");
    if (!d.blobs->Has(a.hash)) {
      return Status::FailedPrecondition("artifact '" + a.path + "' names blob " + a.hash +
                                        ", which is not uploaded; upload it first");
    }
    files.push_back(std::move(a));
  }
  return files;
}

HandlerResult Api::Impl::PostArtifacts() {
  const std::string& id = P(0);
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto it = body->find("files");
  if (it == body->end()) return Bad("field 'files' must be an array");
  auto files = ArtifactsFromJson(id, *it, "files");
  if (!files.ok()) return Error(files.status());
  auto r = RunForWrite(true);
  if (!r.ok()) return WriteRefused(r.status());
  Status st = d.store->AddArtifacts(id, *files);
  if (!st.ok()) return Error(st);
  Changed(id);
  return Json(200, {{"stored", files->size()}});
}

HandlerResult Api::Impl::ListArtifacts() {
  auto a = d.store->ListArtifacts(P(0));
  if (!a.ok()) return Error(a.status());
  json arr = json::array();
  for (auto& f : *a) arr.push_back({{"path", f.path}, {"size", f.size}, {"hash", f.hash}});
  return Json(200, {{"artifacts", arr}});
}

HandlerResult Api::Impl::ArtifactContent() {
  const std::string& id = P(0);
  std::string path = req.Query("path");
  Status st = model::ValidateRelativePath(path);
  if (!st.ok()) return Error(st);
  auto list = d.store->ListArtifacts(id);
  if (!list.ok()) return Error(list.status());
  for (auto& a : *list) {
    if (a.path != path) continue;
    auto source = d.blobs->Open(a.hash);
    if (!source.ok()) return Error(source.status());
    HttpResponse r;
    r.content_type = "application/octet-stream";
    r.body_source = std::move(source).value();
    // A download saves under the file's own name (quotes and controls cannot break out).
    std::string name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
    std::string safe;
    for (char c : name)
      safe.push_back(c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 ? '_' : c);
    r.headers.push_back(
        {"Content-Disposition",
         "attachment; filename=\"" + safe + "\"; filename*=UTF-8''" + net::UrlEncode(name)});
    r.headers.push_back({"X-Content-Type-Options", "nosniff"});
    return r;
  }
  return Error(Status::NotFound("run '" + id + "' has no artifact '" + path +
                                "'; see 'ferry run show " + id + "'"));
}

HandlerResult Api::Impl::ArtifactLink() {
  const std::string& id = P(0);
  std::string path = req.Query("path");
  auto list = d.store->ListArtifacts(id);
  if (!list.ok()) return Error(list.status());
  bool found = std::any_of(list->begin(), list->end(),
                           [&](const model::Artifact& a) { return a.path == path; });
  if (!found) return Error(Status::NotFound("run " + id + " has no output '" + path + "'"));
  return Json(
      200,
      {{"url", "/api/v1/runs/" + net::UrlEncode(id) + "/artifacts/content?" +
                   ArtifactLinkQuery(d.run_secret, id, path, static_cast<int64_t>(d.clock->Now()))},
       {"expires_in", kArtifactLinkSeconds}});
}

}  // namespace ferry::server
