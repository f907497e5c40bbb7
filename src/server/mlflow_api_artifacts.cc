// MLflow's artifact service (mlflow-artifacts): a run's files, uploaded, listed, downloaded.
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

// <experiment id>/<run id>/artifacts[/<path>], read without looking anything up (the caller
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
  if (parts.size() < 3 || parts[2] != "artifacts") {
    return Status::InvalidArgument("artifact path '" + path +
                                   "' is not <experiment id>/<run id>/artifacts[/<path>]");
  }
  ArtifactPath a{parts[0], parts[1], ""};
  for (size_t i = 3; i < parts.size(); ++i) a.rel += (a.rel.empty() ? "" : "/") + parts[i];
  if (!a.rel.empty()) FERRY_RETURN_IF_ERROR(model::ValidateRelativePath(a.rel));
  return a;
}

// The run exists and is in the experiment the path names.
Status Handler::CheckArtifactRun(const ArtifactPath& a) {
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
  if (Status act = ActiveRun(a.run_id); !act.ok()) return Fail(act);
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
  Status st = d.store->AddArtifacts(a.run_id, {{a.rel, stored->second, stored->first}});
  if (!st.ok()) return Fail(st);
  Changed(a.run_id);
  return Reply(200, json::object());
}

HttpResponse Handler::DownloadArtifact(const ArtifactPath& a) {
  auto list = d.store->ListArtifacts(a.run_id);
  if (!list.ok()) return Fail(list.status());
  for (const auto& f : *list) {
    if (f.path != a.rel) continue;
    auto content = d.blobs->Get(f.hash);
    if (!content.ok()) return Fail(content.status());
    HttpResponse r;
    r.content_type = "application/octet-stream";
    r.body = std::move(content).value();
    return r;
  }
  return Fail(Status::NotFound("run '" + a.run_id + "' has no artifact '" + a.rel + "'"));
}

// The entries directly under a directory: {"files": [{path, is_dir, file_size}]}, paths
// relative to the listed directory.
HttpResponse Handler::ListArtifactDir(const ArtifactPath& a) {
  auto list = d.store->ListArtifacts(a.run_id);
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
  if (a.ok()) p["run_id"] = a->run_id;
  if (Status auth = Authenticate(); !auth.ok()) return Fail(auth);
  if (!a.ok()) return Fail(a.status());
  if (Status run = CheckArtifactRun(*a); !run.ok()) return Fail(run);
  if (req.method == "PUT") {
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
