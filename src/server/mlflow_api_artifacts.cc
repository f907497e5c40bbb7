// MLflow's artifact service (mlflow-artifacts): a run's or a logged model's files, uploaded,
// listed, downloaded; a registered version's snapshot, listed and downloaded.
#include <any>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "model/manifest.h"
#include "server/mlflow_api_internal.h"
#include "server/uploads.h"

namespace ferry::server::mlflow {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;

// <experiment id>/<run id>/artifacts[/<path>], <experiment id>/models/<model id>/artifacts[/..]
// or _ferry/snapshots/<id>[/<path>], read without looking anything up (the caller
// authenticates first). "." components are dropped, as MLflow normalises them
// (download_artifacts(artifact_path=".") asks for the run's root).
Result<Handler::ArtifactPath> Handler::SplitArtifactPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start && path.compare(start, end - start, ".") != 0)
      parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  ArtifactPath a;
  size_t first = 3;
  if (parts.size() >= 3 && parts[0] == "_ferry" && parts[1] == "snapshots") {
    a.snapshot = parts[2];
  } else if (parts.size() >= 4 && parts[1] == "models" && parts[3] == "artifacts") {
    a.experiment_id = parts[0];
    a.model_id = parts[2];
    first = 4;
  } else if (parts.size() >= 3 && parts[2] == "artifacts") {
    a.experiment_id = parts[0];
    a.run_id = parts[1];
  } else {
    return Status::InvalidArgument("artifact path '" + path +
                                   "' is not <experiment id>/<run id>/artifacts[/<path>] or "
                                   "<experiment id>/models/<model id>/artifacts[/<path>]");
  }
  for (size_t i = first; i < parts.size(); ++i) a.rel += (a.rel.empty() ? "" : "/") + parts[i];
  if (!a.rel.empty()) FERRY_RETURN_IF_ERROR(model::ValidateRelativePath(a.rel));
  return a;
}

Result<std::vector<model::Artifact>> Handler::OwnerFiles(const ArtifactPath& a) {
  if (!a.run_id.empty()) return d.store->ListArtifacts(a.run_id);
  if (!a.model_id.empty()) return d.store->Models().ListLoggedModelFiles(a.model_id);
  FERRY_ASSIGN_OR_RETURN(auto known, d.store->GetSnapshot(a.snapshot));
  if (!known) return Status::NotFound("snapshot '" + a.snapshot + "' is not stored");
  FERRY_ASSIGN_OR_RETURN(std::string text, d.blobs->Get(a.snapshot));
  FERRY_ASSIGN_OR_RETURN(model::Manifest m, model::Manifest::Parse(text));
  std::vector<model::Artifact> out;
  for (auto& e : m.entries) out.push_back({e.path, e.size, e.hash});
  return out;
}

// The run (or logged model) exists and is in the experiment the path names.
Status Handler::CheckArtifactRun(const ArtifactPath& a) {
  if (!a.snapshot.empty()) return Status::Ok();
  if (!a.model_id.empty()) {
    FERRY_ASSIGN_OR_RETURN(auto m, d.store->Models().GetLoggedModel(a.model_id));
    if (m.experiment_id != a.experiment_id) {
      return Status::NotFound("logged model '" + a.model_id + "' is not in experiment '" +
                              a.experiment_id + "'");
    }
    return Status::Ok();
  }
  FERRY_ASSIGN_OR_RETURN(auto run, GetRunOr404(a.run_id));
  FERRY_ASSIGN_OR_RETURN(std::string eid, ExperimentIdOfRun(run));
  if (eid != a.experiment_id) {
    return Status::NotFound("run '" + a.run_id + "' is not in experiment '" + a.experiment_id +
                            "' (it is in '" + eid + "')");
  }
  return Status::Ok();
}

// The file's bytes streamed into the blob store as they arrived (admission made the sink);
// a request that was not streamed carries them in its body.
HttpResponse Handler::UploadArtifact(const ArtifactPath& a) {
  if (a.rel.empty())
    return Fail(Status::InvalidArgument("an artifact needs a file path after 'artifacts/'"));
  if (!a.run_id.empty()) {
    if (Status act = ActiveRun(a.run_id); !act.ok()) return Fail(act);
  }
  Result<std::pair<std::string, uint64_t>> stored = Status::Internal("not stored");
  if (auto* sink = std::any_cast<std::shared_ptr<BlobSink>>(&req.context); sink && *sink) {
    stored = (*sink)->Finish();
  } else {
    auto hash = d.blobs->Put(req.body, "");
    Status synced = hash.ok() ? d.blobs->Sync() : hash.status();  // durable before the run names it
    stored = synced.ok()
                 ? Result<std::pair<std::string, uint64_t>>(std::make_pair(*hash, req.body.size()))
                 : synced;
  }
  if (!stored.ok()) return Fail(stored.status());
  if (!a.model_id.empty()) {
    Status st =
        d.store->Models().AddLoggedModelFiles(a.model_id, {{a.rel, stored->second, stored->first}});
    if (!st.ok()) return Fail(st);
    return Reply(200, json::object());
  }
  Status st = d.store->AddArtifacts(a.run_id, {{a.rel, stored->second, stored->first}});
  if (!st.ok()) return Fail(st);
  Changed(a.run_id);
  return Reply(200, json::object());
}

HttpResponse Handler::DownloadArtifact(const ArtifactPath& a) {
  auto list = OwnerFiles(a);
  if (!list.ok()) return Fail(list.status());
  for (const auto& f : *list) {
    if (f.path != a.rel) continue;
    auto source = d.blobs->Open(f.hash);
    if (!source.ok()) return Fail(source.status());
    HttpResponse r;
    r.content_type = "application/octet-stream";
    r.body_source = std::move(source).value();
    return r;
  }
  const std::string owner = !a.run_id.empty()     ? "run '" + a.run_id + "'"
                            : !a.model_id.empty() ? "logged model '" + a.model_id + "'"
                                                  : "snapshot '" + a.snapshot + "'";
  return Fail(Status::NotFound(owner + " has no artifact '" + a.rel + "'"));
}

// The entries directly under a directory: {"files": [{path, is_dir, file_size}]}, paths
// relative to the listed directory.
HttpResponse Handler::ListArtifactDir(const ArtifactPath& a) {
  auto list = OwnerFiles(a);
  if (!list.ok()) return Fail(list.status());
  const std::string prefix = a.rel.empty() ? "" : a.rel + "/";
  std::map<std::string, json> entries;
  for (const auto& f : *list) {
    if (f.path.rfind(prefix, 0) != 0) continue;
    std::string rest = f.path.substr(prefix.size());
    size_t slash = rest.find('/');
    if (slash == std::string::npos) {
      entries[rest] = {{"path", rest}, {"is_dir", false}, {"file_size", f.size}};
    } else {
      std::string dir = rest.substr(0, slash);
      entries.emplace(dir, json{{"path", dir}, {"is_dir", true}});
    }
  }
  json files = json::array();
  for (auto& [name, e] : entries) files.push_back(e);
  return Reply(200, files.empty() ? json::object() : json{{"files", files}});
}

HandlerResult Handler::RouteArtifacts(const std::string& rest) {
  // rest: "artifacts" (list, ?path=) or "artifacts/<path>" (PUT upload, GET download).
  std::string path;
  if (rest == "artifacts") {
    path = req.Query("path");
  } else if (rest.rfind("artifacts/", 0) == 0) {
    path = rest.substr(std::string("artifacts/").size());
  } else {
    if (Status auth = Authenticate(); !auth.ok()) return Fail(auth);
    return NoEndpoint();
  }
  // Authenticated before anything is looked up: an unauthenticated caller learns nothing
  // about runs or experiments. The path's run id is what a run's own token is checked for.
  p = json::object();
  auto a = SplitArtifactPath(path);
  if (a.ok() && !a->run_id.empty()) p["run_id"] = a->run_id;
  // A model's files (a registered version's snapshot, a logged model's files, in a run's
  // artifacts under models/m-...) may be read by any running run's script, as it loads them.
  script_reads_models_ =
      a.ok() && req.method == "GET" &&
      (!a->snapshot.empty() || !a->model_id.empty() || a->rel.rfind("models/m-", 0) == 0);
  if (Status auth = Authenticate(); !auth.ok()) return Fail(auth);
  if (!a.ok()) return Fail(a.status());
  if (Status run = CheckArtifactRun(*a); !run.ok()) return Fail(run);
  if (!caller.person() && !a->snapshot.empty()) {
    // A script reads the snapshots that hold registered versions' files, no other.
    auto versions = d.store->Models().ListModelVersions("");
    if (!versions.ok()) return Fail(versions.status());
    if (std::none_of(versions->begin(), versions->end(),
                     [&](const auto& v) { return v.manifest_hash == a->snapshot; })) {
      return Fail(Status::PermissionDenied("a run's token reads only registered models' files"));
    }
  }
  if (req.method == "PUT") {
    if (!a->snapshot.empty()) {
      return Fail(Status::InvalidArgument(
          "a snapshot's files never change; upload to a run's or a logged model's artifacts"));
    }
    if (!a->model_id.empty()) {
      if (Status may = NeedRole(Role::kContributor, "uploading a logged model's files"); !may.ok())
        return Fail(may);
      return UploadArtifact(*a);
    }
    if (Status may = MayChangeRun(a->run_id, true); !may.ok())
      return ended_ ? Ended(may) : Fail(may);
    return UploadArtifact(*a);
  }
  if (req.method != "GET")
    return Fail(Status::InvalidArgument(req.method + " is not supported on " + req.path));
  if (rest == "artifacts") return ListArtifactDir(*a);
  return DownloadArtifact(*a);
}

}  // namespace ferry::server::mlflow
