// REST handlers of blobs and snapshots: /blobs, /snapshots, and a run's blob fetch and upload.
#include <nlohmann/json.hpp>

#include "common/byte_source.h"
#include "common/crypto.h"
#include "model/manifest.h"
#include "server/api_internal.h"
#include "server/uploads.h"

namespace ferry::server {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

HandlerResult Api::Impl::MissingBlobs() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto it = body->find("hashes");
  if (it == body->end() || !it->is_array())
    return Bad("field 'hashes' must be an array of SHA-256 hex strings");
  json missing = json::array();
  for (auto& h : *it) {
    if (!h.is_string() || !IsSha256Hex(h.get_ref<const std::string&>())) {
      return Bad("'hashes' contains " + Shown(h) + ", which is not a lowercase SHA-256 hex digest");
    }
    if (!d.blobs->Has(h.get<std::string>())) missing.push_back(h);
  }
  return Json(200, {{"missing", missing}});
}

HandlerResult Api::Impl::GetBlob() {
  if (!is_user && !api.RunMayReadBlob(agent_run, P(0))) {
    return Error(
        Status::PermissionDenied("blob " + P(0) + " is not part of run '" + agent_run + "'"));
  }
  auto source = d.blobs->Open(P(0));
  if (!source.ok()) return Error(source.status());
  HttpResponse r;
  r.content_type = "application/octet-stream";
  r.body_source = std::move(source).value();
  return r;
}

// POST /runs/{id}/blobs/fetch. Many small blobs in one answer (a node filling its cache): body
// {"hashes": [...]} (at most 20,000, at most kFetchBytes of content in all; a large blob comes
// alone through GET /blobs/{hash}, streamed); answer: records "<hash> <length>\n<bytes>", back
// to back, in the order asked. A run token may fetch only its own snapshot's blobs; so may a
// person (a run's files).
HandlerResult Api::Impl::FetchBlobs() {
  const std::string run = agent_run.empty() ? P(0) : agent_run;
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto it = body->find("hashes");
  if (it == body->end() || !it->is_array())
    return Bad("field 'hashes' must be an array of SHA-256 hex strings");
  if (it->size() > 20000)
    return Bad("at most 20000 hashes per fetch, got " + std::to_string(it->size()));
  constexpr uint64_t kFetchBytes = 256u << 20;
  const std::string too_much = "the blobs asked for exceed " + std::to_string(kFetchBytes >> 20) +
                               " MiB; ask for fewer at a time, and for a large blob alone with " +
                               "GET /api/v1/blobs/{hash}";
  HttpResponse r;
  r.content_type = "application/octet-stream";
  uint64_t total = 0;
  for (auto& h : *it) {
    if (!h.is_string() || !IsSha256Hex(h.get_ref<const std::string&>())) {
      return Bad("'hashes' contains " + Shown(h) + ", which is not a lowercase SHA-256 hex digest");
    }
    const std::string& hash = h.get_ref<const std::string&>();
    if (!api.RunMayReadBlob(run, hash)) {
      return Error(Status::PermissionDenied("blob " + hash + " is not part of run '" + run + "'"));
    }
    // Opened (and sized) before it is read, so that a large blob is refused unread.
    auto source = d.blobs->Open(hash);
    if (!source.ok()) return Error(source.status().WithContext("blob " + hash));
    total += (*source)->size();
    if (total > kFetchBytes) return Bad(too_much);
    auto content = ReadWhole(**source);
    if (!content.ok()) return Error(content.status().WithContext("blob " + hash));
    r.body += hash + " " + std::to_string(content->size()) + "\n";
    r.body += *content;
  }
  return r;
}

// Body: records "<hash> <length>\n<bytes>", back to back, streamed into the blob store
// as they arrive (uploads.h). All-or-nothing per record; durable before it is acknowledged.
HandlerResult Api::Impl::UploadBlobs() {
  if (!ctx.batch) return Error(Status::Internal("the upload was not streamed"));
  auto stored = ctx.batch->Finish();
  if (!stored.ok()) return Error(stored.status());
  return Json(200, {{"stored", *stored}});
}

// The agent's upload of its artifacts' content (the same batch format).
HandlerResult Api::Impl::UploadRunBlobs() {
  auto r = d.store->GetRun(P(0));
  if (!r.ok()) return Error(r.status());
  if (Status st = AcceptsData(*r); !st.ok()) return Ended(*r, st);
  return UploadBlobs();
}

HandlerResult Api::Impl::GetSnapshot() {
  auto has = d.store->GetSnapshot(P(0));
  if (!has.ok()) return Error(has.status());
  if (!*has) return Error(Status::NotFound("snapshot " + P(0) + " is not stored"));
  return Json(200, {{"id", P(0)}});
}

HandlerResult Api::Impl::PostSnapshot() {
  auto m = model::Manifest::Parse(req.body);
  if (!m.ok()) return Error(m.status());
  json missing = json::array();
  size_t n_missing = 0;
  std::vector<std::string> hashes;
  hashes.reserve(m->entries.size());
  for (auto& e : m->entries) hashes.push_back(e.hash);
  auto sizes = d.blobs->Sizes(hashes);
  if (!sizes.ok()) return Error(sizes.status());
  for (size_t i = 0; i < m->entries.size(); ++i) {
    const model::ManifestEntry& e = m->entries[i];
    const std::optional<uint64_t>& size = (*sizes)[i];
    if (!size) {
      if (++n_missing <= 20) missing.push_back(e.path);
      continue;
    }
    if (*size != e.size) {
      return Bad("the snapshot manifest says '" + e.path + "' has " + std::to_string(e.size) +
                 " bytes, but blob " + e.hash + " has " + std::to_string(*size) +
                 "; rebuild the manifest from the files");
    }
  }
  if (n_missing > 0) {
    return Error(
        Status::FailedPrecondition(std::to_string(n_missing) +
                                   " file(s) of the snapshot have no uploaded content; upload "
                                   "the missing blobs first"),
        {{"missing_paths", missing}});
  }
  auto id = d.blobs->Put(req.body, "");
  if (!id.ok()) return Error(id.status());
  Status st = d.blobs->Sync();
  if (st.ok())
    st = d.store->PutSnapshot(*id, static_cast<int64_t>(m->entries.size()),
                              static_cast<int64_t>(m->TotalBytes()), d.clock->Now());
  if (!st.ok()) return Error(st);
  return Json(201, {{"id", *id}, {"files", m->entries.size()}, {"bytes", m->TotalBytes()}});
}

}  // namespace ferry::server
