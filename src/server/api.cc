// The REST API's front door: the route table (every route with who may call it, its body
// limit and its pool), admission from a request's head, and dispatch to the handlers, which
// live one file per resource (api_<resource>.cc, sharing api_internal.h). Errors are
// {"error":{"code","message"}} with a 4xx/5xx status; messages name the run, field or value at
// fault and say what to do.
#include "server/api.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "common/crypto.h"
#include "model/manifest.h"
#include "server/api_internal.h"
#include "server/mlflow_api.h"
#include "server/studio.h"
#include "server/uploads.h"

namespace ferry::server {

using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

std::string RunToken(const std::string& secret, const std::string& run_id) {
  return HmacSha256Hex(secret, "run:" + run_id);
}

std::string RunChannel(const std::string& run_id) { return "run:" + run_id; }

Result<std::string> BearerToken(const net::HttpRequest& req) {
  std::string auth = req.Header("authorization");
  const std::string prefix = "Bearer ";
  if (auth.rfind(prefix, 0) != 0) {
    return Status::Unauthenticated(
        "missing 'Authorization: Bearer <token>'; the workspace token is in "
        "the workspace home's 'token' file (MLflow clients: MLFLOW_TRACKING_TOKEN)");
  }
  return auth.substr(prefix.size());
}

Result<UserCaller> UserFromToken(const ApiDeps& d, const std::string& token) {
  if (ConstantTimeEquals(token, d.workspace_token)) return UserCaller{true, "", Role::kAdmin};
  if (d.users) {
    if (auto u = d.users->ByToken(token)) {
      auto role = ParseRole(u->role);
      Role r = role.ok() ? *role : Role::kReader;
      return UserCaller{r == Role::kAdmin, u->name, r};
    }
  }
  return Status::NotFound("not a workspace or user token");
}

std::string MlflowRunToken(const std::string& secret, const std::string& run_id) {
  return HmacSha256Hex(secret, "mlflow:" + run_id);
}

namespace {

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

bool Api::RunMayReadBlob(const std::string& run_id, const std::string& hash) {
  std::shared_ptr<const std::unordered_set<std::string>> set;
  {
    MutexLock lock(&blob_sets_mu_);
    auto it = blob_sets_.find(run_id);
    if (it != blob_sets_.end()) set = it->second;
  }
  if (!set) {
    auto run = d_.store->GetRun(run_id);
    if (!run.ok()) return false;
    auto text = d_.blobs->Get(run->snapshot_id);
    if (!text.ok()) return false;
    auto m = model::Manifest::Parse(*text);
    if (!m.ok()) return false;
    auto s = std::make_shared<std::unordered_set<std::string>>();
    s->insert(run->snapshot_id);
    for (auto& e : m->entries) s->insert(e.hash);
    // Its dataset inputs: their manifests, and the files of those in the workspace's store.
    for (const auto& in : run->options.inputs) {
      s->insert(in.manifest);
      if (!in.external_root.empty()) continue;
      auto in_text = d_.blobs->Get(in.manifest);
      auto in_m = in_text.ok() ? model::Manifest::Parse(*in_text)
                               : Result<model::Manifest>(in_text.status());
      if (!in_m.ok()) return false;
      for (auto& e : in_m->entries) s->insert(e.hash);
    }
    set = s;
    MutexLock lock(&blob_sets_mu_);
    if (blob_sets_.size() > 256) blob_sets_.clear();  // bounded: agents fetch at start only
    blob_sets_[run_id] = set;
  }
  return set->count(hash) > 0;
}

const std::vector<Api::Impl::Route>& Api::Impl::Routes() {
  using I = Impl;
  using L = net::Lane;
  constexpr uint64_t kNone = 64 * kKiB;  // bodies of GET and DELETE are ignored
  constexpr uint64_t kSmall = kSmallBodyBytes;
  // Literal paths before patterns that would also match them (runs/keys before runs/{}).
  static const std::vector<Route> kRoutes = {
      {"GET", "health", Access::kPublic, kNone, L::kInline, &I::Health},
      {"GET", "openapi.yaml", Access::kPublic, kNone, L::kInline, &I::OpenApiDocument},
      {"POST", "shutdown", Access::kWorkspace, kNone, L::kDefault, &I::Shutdown},
      {"GET", "stream", Access::kRead, kNone, L::kDefault, &I::WorkspaceStream},
      {"GET", "experiments", Access::kRead, kNone, L::kDefault, &I::ListExperiments},
      {"POST", "experiments", Access::kContribute, kSmall, L::kDefault, &I::CreateExperiment},
      {"GET", "computes", Access::kRead, kNone, L::kDefault, &I::ListComputes},
      {"POST", "computes", Access::kAdmin, kSmall, L::kDefault, &I::AttachCompute},
      {"GET", "compute-kinds", Access::kRead, kNone, L::kDefault, &I::ComputeKinds},
      {"GET", "computes/{}", Access::kRead, kNone, L::kDefault, &I::GetCompute},
      {"PATCH", "computes/{}", Access::kAdmin, kSmall, L::kDefault, &I::UpdateCompute},
      {"DELETE", "computes/{}", Access::kAdmin, kNone, L::kDefault, &I::DetachCompute},
      {"POST", "computes/{}/stop", Access::kAdmin, kNone, L::kDefault, &I::StopCompute},
      {"POST", "computes/{}/start", Access::kAdmin, kNone, L::kDefault, &I::StartCompute},
      {"POST", "computes/{}/trust", Access::kAdmin, kNone, L::kDefault, &I::TrustCompute},
      {"GET", "quota", Access::kRead, kNone, L::kDefault, &I::GetQuota},
      {"PUT", "quota", Access::kAdmin, kSmall, L::kDefault, &I::SetQuota},
      {"GET", "node-sizes", Access::kRead, kNone, L::kDefault, &I::ListNodeSizes},
      {"PUT", "node-sizes/{}", Access::kAdmin, kSmall, L::kDefault, &I::SetNodeSize},
      {"DELETE", "node-sizes/{}", Access::kAdmin, kNone, L::kDefault, &I::DeleteNodeSize},
      {"PUT", "node-provider", Access::kAdmin, kSmall, L::kDefault, &I::SetNodeProvider},
      {"POST", "blobs/missing", Access::kContribute, 16 * kMiB, L::kDefault, &I::MissingBlobs},
      {"POST", "blobs", Access::kContribute, kStreamed, L::kDefault, &I::UploadBlobs},
      {"GET", "blobs/{}", Access::kBlobRead, kNone, L::kBulk, &I::GetBlob},
      {"GET", "snapshots/{}", Access::kRead, kNone, L::kDefault, &I::GetSnapshot},
      {"POST", "snapshots", Access::kContribute, 64 * kMiB, L::kDefault, &I::PostSnapshot},
      {"GET", "environments", Access::kRead, kNone, L::kDefault, &I::ListEnvironments},
      {"POST", "environments", Access::kContribute, kSmall, L::kDefault, &I::RegisterEnvironment},
      {"GET", "environments/{}", Access::kRead, kNone, L::kDefault, &I::EnvironmentVersions},
      {"GET", "environments/{}/{}", Access::kRead, kNone, L::kDefault, &I::GetEnvironment},
      {"GET", "datastores", Access::kRead, kNone, L::kDefault, &I::ListDatastores},
      {"POST", "datastores", Access::kAdmin, kSmall, L::kDefault, &I::RegisterDatastore},
      {"GET", "datastores/{}", Access::kRead, kNone, L::kDefault, &I::GetDatastore},
      {"DELETE", "datastores/{}", Access::kAdmin, kNone, L::kDefault, &I::DeleteDatastore},
      {"PUT", "datastores/{}/default", Access::kAdmin, kNone, L::kDefault, &I::SetDefaultDatastore},
      {"GET", "datastores/{}/files", Access::kRead, kNone, L::kDefault, &I::ListDatastoreFiles},
      {"POST", "datastores/{}/files", Access::kContribute, kSmall, L::kDefault,
       &I::UploadToDatastore},
      {"GET", "datastores/{}/content", Access::kRead, kNone, L::kBulk, &I::ReadDatastoreFile},
      {"GET", "secrets", Access::kRead, kNone, L::kDefault, &I::ListSecrets},
      {"POST", "secrets", Access::kContribute, kSmall, L::kDefault, &I::PutSecrets},
      {"POST", "secrets/fetch", Access::kSecretRead, kSmall, L::kDefault, &I::FetchSecrets},
      {"PUT", "secrets/{}", Access::kContribute, kSmall, L::kDefault, &I::PutSecret},
      {"GET", "secrets/{}", Access::kSecretRead, kNone, L::kDefault, &I::GetSecret},
      {"DELETE", "secrets/{}", Access::kContribute, kNone, L::kDefault, &I::DeleteSecret},
      {"GET", "datasets", Access::kRead, kNone, L::kDefault, &I::ListDatasets},
      {"POST", "datasets", Access::kContribute, kSmall, L::kDefault, &I::RegisterDataset},
      {"POST", "datasets/resolve", Access::kContribute, kSmall, L::kDefault, &I::ResolveDataset},
      {"GET", "datasets/by-id/{}", Access::kRead, kNone, L::kDefault, &I::GetDatasetById},
      {"GET", "datasets/{}", Access::kRead, kNone, L::kDefault, &I::DatasetVersions},
      {"POST", "datasets/{}/archive", Access::kContribute, kNone, L::kDefault, &I::ArchiveDataset},
      {"POST", "datasets/{}/reactivate", Access::kContribute, kNone, L::kDefault,
       &I::ReactivateDataset},
      {"GET", "datasets/{}/{}", Access::kRead, kNone, L::kDefault, &I::GetDataset},
      {"PATCH", "datasets/{}/{}", Access::kContribute, kSmall, L::kDefault, &I::UpdateDataset},
      {"GET", "models", Access::kRead, kNone, L::kDefault, &I::ListModels},
      {"POST", "models", Access::kContribute, kSmall, L::kDefault, &I::RegisterModel},
      {"GET", "models/{}", Access::kModelRead, kNone, L::kDefault, &I::ModelVersions},
      {"GET", "models/{}/{}", Access::kModelRead, kNone, L::kDefault, &I::GetModel},
      {"PATCH", "models/{}/{}", Access::kContribute, kSmall, L::kDefault, &I::UpdateModel},
      {"DELETE", "models/{}/{}", Access::kContribute, kNone, L::kDefault, &I::DeleteModel},
      {"GET", "models/{}/{}/files", Access::kModelRead, kNone, L::kDefault, &I::ModelFiles},
      {"GET", "models/{}/{}/content", Access::kModelRead, kNone, L::kBulk, &I::ModelContent},
      {"POST", "runconfigs/parse", Access::kRead, kSmall, L::kDefault, &I::ParseRunConfigFile},
      {"GET", "users", Access::kAdmin, kNone, L::kDefault, &I::ListUsers},
      {"POST", "users", Access::kAdmin, kSmall, L::kDefault, &I::CreateUser},
      {"PATCH", "users/{}", Access::kAdmin, kSmall, L::kDefault, &I::UpdateUser},
      {"DELETE", "users/{}", Access::kAdmin, kNone, L::kDefault, &I::DeleteUser},
      {"POST", "sweeps", Access::kContribute, kSmall, L::kDefault, &I::CreateSweep},
      {"GET", "sweeps/{}", Access::kRead, kNone, L::kBulk, &I::GetSweep},
      {"POST", "sweeps/{}/cancel", Access::kContribute, kNone, L::kDefault, &I::CancelSweep},
      {"POST", "pipeline-runs", Access::kContribute, kSmall, L::kDefault, &I::CreatePipelineRun},
      {"GET", "pipeline-runs/{}", Access::kRead, kNone, L::kBulk, &I::GetPipelineRun},
      {"POST", "pipeline-runs/{}/rerun", Access::kContribute, kNone, L::kDefault,
       &I::RerunPipeline},
      {"GET", "pipelines", Access::kRead, kNone, L::kDefault, &I::ListPublishedPipelines},
      {"POST", "pipelines", Access::kContribute, kSmall, L::kDefault, &I::PublishPipeline},
      {"GET", "pipelines/{}", Access::kRead, kNone, L::kDefault, &I::GetPublishedPipeline},
      {"POST", "pipelines/{}/enable", Access::kContribute, kNone, L::kDefault,
       &I::EnablePublishedPipeline},
      {"POST", "pipelines/{}/disable", Access::kContribute, kNone, L::kDefault,
       &I::DisablePublishedPipeline},
      {"POST", "pipelines/{}/submit", Access::kContribute, kSmall, L::kDefault,
       &I::SubmitPublishedPipeline},
      {"GET", "pipeline-endpoints", Access::kRead, kNone, L::kDefault, &I::ListPipelineEndpoints},
      {"POST", "pipeline-endpoints", Access::kContribute, kSmall, L::kDefault,
       &I::CreatePipelineEndpoint},
      {"GET", "pipeline-endpoints/{}", Access::kRead, kNone, L::kDefault, &I::GetPipelineEndpoint},
      {"POST", "pipeline-endpoints/{}/pipelines", Access::kContribute, kSmall, L::kDefault,
       &I::AddPipelineEndpointVersion},
      {"PUT", "pipeline-endpoints/{}/default", Access::kContribute, kSmall, L::kDefault,
       &I::SetPipelineEndpointDefault},
      {"POST", "pipeline-endpoints/{}/submit", Access::kContribute, kSmall, L::kDefault,
       &I::SubmitPipelineEndpoint},
      {"POST", "pipeline-endpoints/{}/enable", Access::kContribute, kNone, L::kDefault,
       &I::EnablePipelineEndpoint},
      {"POST", "pipeline-endpoints/{}/disable", Access::kContribute, kNone, L::kDefault,
       &I::DisablePipelineEndpoint},
      {"GET", "schedules", Access::kRead, kNone, L::kDefault, &I::ListSchedules},
      {"POST", "schedules", Access::kContribute, kSmall, L::kDefault, &I::CreateSchedule},
      {"GET", "schedules/{}", Access::kRead, kNone, L::kDefault, &I::GetSchedule},
      {"PATCH", "schedules/{}", Access::kContribute, kSmall, L::kDefault, &I::UpdateSchedule},
      {"POST", "schedules/{}/enable", Access::kContribute, kNone, L::kDefault, &I::EnableSchedule},
      {"POST", "schedules/{}/disable", Access::kContribute, kNone, L::kDefault,
       &I::DisableSchedule},
      {"GET", "schedules/{}/runs", Access::kRead, kNone, L::kBulk, &I::ScheduleRuns},
      {"GET", "runs", Access::kRead, kNone, L::kBulk, &I::ListRuns},
      {"POST", "runs", Access::kContribute, kSmall, L::kDefault, &I::CreateRun},
      {"GET", "runs/keys", Access::kRead, kNone, L::kBulk, &I::RunKeys},
      {"GET", "runs/{}", Access::kRead, kNone, L::kDefault, &I::GetRun},
      {"GET", "runs/{}/stream", Access::kRead, kNone, L::kBulk, &I::RunStream},
      {"GET", "runs/{}/history", Access::kRead, kNone, L::kDefault, &I::RunHistory},
      {"POST", "runs/{}/cancel", Access::kContribute, kNone, L::kDefault, &I::CancelRun},
      {"POST", "runs/{}/end", Access::kContribute, kSmall, L::kDefault, &I::EndRun},
      {"GET", "runs/{}/plan", Access::kAgent, kNone, L::kDefault, &I::GetPlan},
      {"POST", "runs/{}/status", Access::kAgent, 64 * kMiB, L::kDefault, &I::PostStatus},
      {"POST", "runs/{}/logs", Access::kAgent, 4 * kMiB, L::kDefault, &I::PostLogs},
      {"GET", "runs/{}/logs", Access::kAgentOrRead, kNone, L::kDefault, &I::GetLogs},
      {"POST", "runs/{}/minibatches/lease", Access::kScriptOrContribute, kSmall, L::kDefault,
       &I::LeaseMiniBatch},
      {"POST", "runs/{}/minibatches/release", Access::kScriptOrContribute, kSmall, L::kDefault,
       &I::ReleaseMiniBatches},
      {"GET", "runs/{}/minibatches", Access::kScriptOrRead, kNone, L::kDefault,
       &I::MiniBatchProgress},
      {"GET", "runs/{}/minibatches/results", Access::kScriptOrRead, kNone, L::kBulk,
       &I::MiniBatchResults},
      {"POST", "runs/{}/metrics", Access::kAgent, 16 * kMiB, L::kDefault, &I::PostMetrics},
      {"GET", "runs/{}/metrics", Access::kAgentOrRead, kNone, L::kBulk, &I::GetMetrics},
      {"POST", "runs/{}/values", Access::kAgentOrContribute, 16 * kMiB, L::kDefault,
       &I::PostValues},
      {"GET", "runs/{}/values", Access::kAgentOrRead, kNone, L::kDefault, &I::GetValues},
      {"POST", "runs/{}/tags", Access::kAgentOrContribute, kSmall, L::kDefault, &I::PostTags},
      {"POST", "runs/{}/artifacts", Access::kAgent, 64 * kMiB, L::kDefault, &I::PostArtifacts},
      {"GET", "runs/{}/artifacts", Access::kAgentOrRead, kNone, L::kDefault, &I::ListArtifacts},
      {"GET", "runs/{}/artifacts/content", Access::kRead, kNone, L::kBulk, &I::ArtifactContent},
      {"POST", "runs/{}/artifacts/link", Access::kRead, kNone, L::kDefault, &I::ArtifactLink},
      {"POST", "runs/{}/blobs/fetch", Access::kAgentOrRead, kSmall, L::kBulk, &I::FetchBlobs},
      {"POST", "runs/{}/blobs", Access::kAgent, kStreamed, L::kDefault, &I::UploadRunBlobs},
  };
  return kRoutes;
}

std::vector<RouteInfo> Api::RouteTable() {
  std::vector<RouteInfo> out;
  for (const auto& r : Impl::Routes())
    out.push_back({r.method, r.pattern, r.access == Access::kAgent});
  return out;
}

namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool IsMlflowPath(std::string_view path) {
  return StartsWith(path, "/api/2.0/mlflow/") || StartsWith(path, "/api/2.0/mlflow-artifacts/") ||
         StartsWith(path, "/api/3.0/mlflow/") || StartsWith(path, "/ajax-api/2.0/mlflow/");
}

// Studio answers everything outside the APIs (its pages are routes of the app).
bool IsStudioPath(std::string_view path) {
  return !(path == "/api" || StartsWith(path, "/api/") || path == "/ajax-api" ||
           StartsWith(path, "/ajax-api/"));
}

net::Admission Refuse(HttpResponse r) {
  net::Admission a;
  a.reject = std::move(r);
  return a;
}

// "{}" segments match any one segment, which is passed on.
bool Matches(const char* pattern, const std::vector<std::string>& seg,
             std::vector<std::string>* params) {
  std::vector<std::string> parts = SplitPath(pattern);
  if (parts.size() != seg.size()) return false;
  params->clear();
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] == "{}")
      params->push_back(seg[i]);
    else if (parts[i] != seg[i])
      return false;
  }
  return true;
}

// The role a route needs, for messages.
const char* Needs(Access a) {
  switch (a) {
    case Access::kAdmin:
      return "the admin role";
    case Access::kContribute:
    case Access::kAgentOrContribute:
    case Access::kScriptOrContribute:
      return "the contributor role";
    case Access::kSecretRead:
      return "the contributor role (or, in a run's script, its run's own token)";
    default:
      return "a person's token";
  }
}

}  // namespace

namespace {

// MLflow's requests: authenticated from the headers here; what a token may do is decided
// once the body is read (mlflow_api.cc). Artifact uploads stream into the blob store.
net::Admission AdmitMlflow(const ApiDeps& d, HttpRequest& head) {
  if (head.Header("authorization").empty()) {
    return Refuse(
        Json(401, {{"error_code", "UNAUTHENTICATED"},
                   {"message",
                    "missing 'Authorization: Bearer <token>'; set MLFLOW_TRACKING_TOKEN to the "
                    "workspace token (the workspace home's 'token' file) or a user's token "
                    "('ferry user add')"}}));
  }
  net::Admission a;
  a.max_body_bytes = kSmallBodyBytes;
  if (StartsWith(head.path, "/api/2.0/mlflow-artifacts/artifacts/") && head.method == "PUT") {
    // A file upload streams into the blob store, so its writer must be someone who may
    // write files to runs at all: a contributor or above, or the MLflow token of the run
    // the path names (whether this caller may change that run is checked at the end).
    static const UserDirectory kNoUsers(nullptr);
    auto caller = IdentifyCaller(head, d.workspace_token, d.users ? *d.users : kNoUsers);
    std::vector<std::string> parts =
        SplitPath(head.path.substr(std::string("/api/2.0/mlflow-artifacts/artifacts/").size()));
    const bool own_run = caller.ok() && !caller->person() && parts.size() >= 2 &&
                         ConstantTimeEquals(caller->token, MlflowRunToken(d.run_secret, parts[1]));
    if (!caller.ok() || !(own_run || caller->at_least(Role::kContributor))) {
      return Refuse(
          Json(403, {{"error_code", "PERMISSION_DENIED"},
                     {"message",
                      "uploading an artifact needs the contributor role or the run's own token"}}));
    }
    a.max_body_bytes = kStreamedBodyBytes;
    std::optional<uint64_t> size;
    if (auto n = ParseCount(head.Header("content-length"));
        n && head.Header("transfer-encoding").empty())
      size = *n;
    auto sink = std::make_shared<BlobSink>(d.blobs, size);
    a.sink = sink;
    head.context = sink;
  }
  const bool bulk = head.path.find("/search") != std::string::npos ||
                    head.path.find("/get-history") != std::string::npos ||
                    (StartsWith(head.path, "/api/2.0/mlflow-artifacts/") && head.method == "GET");
  a.lane = bulk ? net::Lane::kBulk : net::Lane::kDefault;
  return a;
}

// Who the caller of a route is (from its token) and whether the route's access lets them in
// (docs/security.md): sets ctx->caller and, for a run's agent, ctx->agent_run.
Status CheckAccess(const ApiDeps& d, const Api::Impl::Route& route, const HttpRequest& head,
                   const std::string& run, Api::Impl::Context* ctx) {
  static const UserDirectory kNoUsers(nullptr);
  auto caller = IdentifyCaller(head, d.workspace_token, d.users ? *d.users : kNoUsers);
  if (!caller.ok()) return caller.status();
  ctx->caller = std::move(caller).value();
  const Caller& c = ctx->caller;
  auto agent_of = [&](const std::string& run_id) {
    return !c.person() && !run_id.empty() &&
           ConstantTimeEquals(c.token, RunToken(d.run_secret, run_id));
  };
  Status denied = Status::Ok();
  const std::string what = head.method + " " + head.path;
  const std::string who =
      c.kind == Caller::Kind::kUser ? "user '" + c.name + "' (" + RoleName(c.role) + ")" : "";
  auto need = [&](Role role) {
    if (!c.person()) {
      denied =
          Status::PermissionDenied("the token is not valid for " + what +
                                   " (a run's token works only for its own run's agent endpoints)");
    } else if (c.role < role) {
      denied = Status::PermissionDenied(what + " needs " + Needs(route.access) + "; " + who +
                                        " may not (an admin can "
                                        "change it: ferry user set-role " +
                                        c.name + " " + RoleName(role) + ")");
    }
  };
  switch (route.access) {
    case Access::kPublic:
      break;
    case Access::kWorkspace:
      if (c.kind != Caller::Kind::kWorkspace) {
        denied =
            Status::PermissionDenied(what +
                                     " needs the workspace token itself (the 'token' file in the "
                                     "workspace home); no user's token may stop the server");
      }
      break;
    case Access::kAdmin:
      need(Role::kAdmin);
      break;
    case Access::kContribute:
      need(Role::kContributor);
      break;
    case Access::kRead:
      need(Role::kReader);
      break;
    case Access::kAgent:
      if (agent_of(run))
        ctx->agent_run = run;
      else if (!c.person())
        denied = Status::PermissionDenied("the token is not valid for " + what +
                                          ": it is not this run's");
      else
        need(Role::kAdmin);
      break;
    case Access::kAgentOrRead:
    case Access::kAgentOrContribute:
      if (agent_of(run))
        ctx->agent_run = run;
      else
        need(route.access == Access::kAgentOrRead ? Role::kReader : Role::kContributor);
      break;
    case Access::kModelRead: {
      // A script reads models (Model.get_model_path) with the MLflow token its run gave it.
      std::string named = head.Header("x-ferry-run");
      if (c.person() || named.empty() ||
          !ConstantTimeEquals(c.token, MlflowRunToken(d.run_secret, named)))
        need(Role::kReader);
      break;
    }
    case Access::kSecretRead: {
      // A script reads the workspace's secrets (run.get_secret) with the MLflow token its run
      // gave it, its run in X-Ferry-Run; whether that run still runs is the handler's check.
      std::string named = head.Header("x-ferry-run");
      if (c.person() || named.empty() ||
          !ConstantTimeEquals(c.token, MlflowRunToken(d.run_secret, named)))
        need(Role::kContributor);
      break;
    }
    case Access::kScriptOrContribute:
    case Access::kScriptOrRead:
      // A ParallelRunStep's driver works its run's queue with the token the run gave its
      // script (or its agent's).
      if (agent_of(run) ||
          (!c.person() && ConstantTimeEquals(c.token, MlflowRunToken(d.run_secret, run)))) {
        ctx->agent_run = run;
      } else {
        need(route.access == Access::kScriptOrRead ? Role::kReader : Role::kContributor);
      }
      break;
    case Access::kBlobRead: {
      std::string named = head.Header("x-ferry-run");
      if (agent_of(named))
        ctx->agent_run = named;
      else
        need(Role::kReader);
      break;
    }
  }
  return denied;
}

}  // namespace

net::Admission Api::Admit(HttpRequest& head) {
  if (IsMlflowPath(head.path)) return AdmitMlflow(d_, head);
  if (IsStudioPath(head.path)) {
    net::Admission a;
    a.max_body_bytes = 64 * kKiB;  // GET and HEAD only
    return a;
  }
  const std::string prefix = "/api/v1";
  if (!(head.path == prefix || StartsWith(head.path, prefix + "/"))) {
    return Refuse(Error(
        Status::NotFound("no endpoint " + head.method + " " + head.path +
                         "; Ferry's API is under /api/v1 and MLflow's under /api/2.0/mlflow")));
  }
  std::vector<std::string> seg = SplitPath(head.path.substr(prefix.size()));
  Impl::Context ctx;
  bool path_known = false;
  std::vector<std::string> params;
  for (const auto& r : Impl::Routes()) {
    if (!Matches(r.pattern, seg, &params)) continue;
    path_known = true;
    if (head.method != r.method) continue;
    ctx.route = &r;
    ctx.params = params;
    break;
  }
  if (!ctx.route) {
    if (!path_known)
      return Refuse(Error(Status::NotFound("no endpoint " + head.method + " " + head.path)));
    HttpResponse r =
        Error(Status::InvalidArgument(head.method + " is not supported on " + head.path));
    r.status = 405;
    return Refuse(std::move(r));
  }
  const Impl::Route& route = *ctx.route;
  const std::string run = ctx.params.empty() ? "" : ctx.params[0];
  // A signed download link (POST .../artifacts/link) stands in for a token.
  const bool signed_link = route.handler == &Impl::ArtifactContent && !head.Query("sig").empty() &&
                           head.Header("authorization").empty();
  if (signed_link) {
    if (!ArtifactLinkValid(d_.run_secret, run, head.Query("path"), head.Query("expires"),
                           head.Query("sig"), static_cast<int64_t>(d_.clock->Now()))) {
      return Refuse(Error(Status::PermissionDenied(
          "this download link is not valid or has expired (links last " +
          std::to_string(kArtifactLinkSeconds / 60) + " minutes); open the run's outputs again")));
    }
    ctx.caller.kind = Caller::Kind::kUser;  // a reader of this one file
  } else if (route.access != Access::kPublic) {
    if (Status st = CheckAccess(d_, route, head, run, &ctx); !st.ok()) return Refuse(Error(st));
  }
  net::Admission a;
  a.lane = route.lane;
  if (route.max_body == kStreamed) {
    a.max_body_bytes = kStreamedBodyBytes;
    ctx.batch = std::make_shared<BlobBatchSink>(d_.blobs);
    a.sink = ctx.batch;
  } else {
    a.max_body_bytes = route.max_body;
  }
  head.context = std::move(ctx);
  return a;
}

HandlerResult Api::Handle(HttpRequest& req) {
  if (IsMlflowPath(req.path)) return MlflowApi(d_).Handle(req);
  if (IsStudioPath(req.path)) {
    if (d_.studio) return d_.studio->Serve(req);
    return StudioFiles("").Serve(req);
  }
  if (!std::any_cast<Impl::Context>(&req.context)) {
    // Not admitted yet (a caller that skipped Admit): decide now, body in hand.
    net::Admission a = Admit(req);
    if (a.reject) return std::move(*a.reject);
    if (a.sink && !req.body.empty()) {
      if (Status st = a.sink->Write(req.body); !st.ok()) return Error(st);
    }
  }
  auto* ctx = std::any_cast<Impl::Context>(&req.context);
  Impl impl{*this, d_, req, *ctx};
  try {
    return (impl.*(ctx->route->handler))();
  } catch (const json::exception& e) {
    // A field of the wrong type read without a check: the request's fault, but a bug to fix.
    spdlog::warn("{} {}: unchecked JSON field: {}", req.method, req.path, e.what());
    return Bad(std::string("a field of the request has the wrong type or value: ") + e.what());
  }
}

}  // namespace ferry::server
