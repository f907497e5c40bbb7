// What the REST handlers share (src/server only, never included outside it): the route
// and access types, the per-request context Api::Impl whose member functions are the
// handlers (one file per resource, api_<resource>.cc), and the replies and request parsing
// every handler uses. api.cc holds the route table, admission and dispatch.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_fields.h"
#include "common/status.h"
#include "model/run.h"
#include "net/http_server.h"
#include "pipeline/spec.h"
#include "server/api.h"
#include "server/api_json.h"
#include "server/auth.h"
#include "server/uploads.h"

namespace ferry::pipeline {
struct ParallelConfig;
}

namespace ferry::server {

class DatastoreIo;

// Who may use a route (docs/security.md). The role is checked from the headers, before the
// body is read; whether a person may change a particular run (its submitter, or an admin) is
// checked by the handler, which reads the run.
enum class Access {
  kPublic,              // no token
  kWorkspace,           // the workspace token itself
  kAdmin,               // admin role
  kContribute,          // contributor role or above
  kRead,                // any person
  kAgent,               // the agent token of the run in the path, or admin
  kAgentOrRead,         // the agent token of the run in the path, or any person
  kAgentOrContribute,   // the agent token of the run in the path, or contributor or above
  kBlobRead,            // any person, or an agent naming its run in X-Ferry-Run
  kModelRead,           // any person, or a run's script (its MLflow token, its run in X-Ferry-Run)
  kSecretRead,          // contributor or above, or a run's script (its MLflow token, its run in
                        // X-Ferry-Run)
  kScriptOrContribute,  // the script (MLflow token) or agent of the run in the path, or contributor
  kScriptOrRead,        // the script (MLflow token) or agent of the run in the path, or any person
};

inline constexpr uint64_t kKiB = 1024, kMiB = kKiB * kKiB;
inline constexpr uint64_t kStreamed = ~uint64_t{0};  // the body streams into the blob store

// ---- replies and request parsing (api_common.cc)
// A JSON answer (invalid UTF-8 in strings replaced).
net::HttpResponse Json(int status, const nlohmann::json& j);
// {"error": {"code", "message", ...extra}} with the HTTP status of st's code.
net::HttpResponse Error(const Status& st, nlohmann::json extra = nlohmann::json::object());
net::HttpResponse Bad(const std::string& msg);  // 400 with msg
// The answer of a call that yields JSON: it, with `status`, or its error.
net::HttpResponse JsonOr(int status, const Result<nlohmann::json>& r);
// The body as a JSON object; InvalidArgument when it is empty, malformed or not an object.
Result<nlohmann::json> ParseBody(const net::HttpRequest& req);
// A JSON value as an error message shows it: compact, at most 80 characters.
std::string Shown(const nlohmann::json& v);
// A whole number in decimal digits only (no sign, no spaces); nullopt otherwise or on overflow.
std::optional<uint64_t> ParseCount(std::string_view s);
// A registered asset's version in a path or query: "latest" (or nothing) -> 0, a positive
// number -> itself; anything else InvalidArgument naming `what` ("dataset", "model") and s.
Result<int64_t> AssetVersion(const std::string& what, const std::string& s);

// One request on its way through a handler: the API, the request and what admission learnt
// about it. Built per request by Api::Handle; the handlers are its member functions.
struct Api::Impl {
  using json = nlohmann::json;
  using HandlerResult = net::HandlerResult;
  using HttpResponse = net::HttpResponse;

  struct Route {
    const char* method;
    const char* pattern;  // after /api/v1; "{}" is one path segment, passed to the handler
    Access access;
    uint64_t max_body;  // bytes, or kStreamed
    net::Lane lane;
    HandlerResult (Impl::*handler)();
  };
  // What admission learnt about a request, for its handler.
  struct Context {
    Caller caller;
    const Route* route = nullptr;
    std::vector<std::string> params;
    std::string agent_run;                 // the run whose agent token was presented
    std::shared_ptr<BlobBatchSink> batch;  // a streamed blob upload
  };
  // Every route, with who may call it, its body limit and its pool (api.cc).
  static const std::vector<Route>& Routes();

  Api& api;
  ApiDeps& d;
  net::HttpRequest& req;
  Context& ctx;
  const Caller& caller = ctx.caller;
  const std::vector<std::string>& params = ctx.params;
  const bool is_user = ctx.caller.person();  // the workspace token or a named user's token
  const bool is_admin = ctx.caller.at_least(Role::kAdmin);
  const std::string& user_name = ctx.caller.name;  // "" for the workspace token
  std::string agent_run = ctx.agent_run;           // the run whose agent token was presented

  // The i-th "{}" segment of the path.
  const std::string& P(size_t i) const { return params.at(i); }

  // ---- the context (api_common.cc)
  // Wakes whoever waits on the run's channel (long polls, event streams).
  void Changed(const std::string& run_id);
  // A person may change the runs they submitted; an admin any run; an agent only its own.
  Status MayChange(const model::Run& r);
  // Data for a run that has ended is refused, except its agent's final flush just after the end.
  Status AcceptsData(const model::Run& r);
  // The error st (a refusal of data) with the run's status.
  HttpResponse Ended(const model::Run& r, const Status& st);
  // The run in the path, which this caller may change and which still takes data (when data).
  Result<model::Run> RunForWrite(bool data);
  // The answer to a refusal from RunForWrite (with the run's status when it has ended).
  HttpResponse WriteRefused(const Status& st);

  // ---- handlers, one group per file
  // api_server.cc
  HandlerResult Health();
  HandlerResult OpenApiDocument();
  HandlerResult Shutdown();
  HandlerResult WorkspaceStream();
  HandlerResult ParseRunConfigFile();

  // api_experiments.cc
  HandlerResult ListExperiments();
  HandlerResult CreateExperiment();

  // api_environments.cc
  HandlerResult ListEnvironments();
  HandlerResult RegisterEnvironment();
  HandlerResult EnvironmentVersions();
  HandlerResult GetEnvironment();

  // api_datastores.cc
  HandlerResult ListDatastores();
  HandlerResult GetDatastore();
  HandlerResult RegisterDatastore();
  HandlerResult DeleteDatastore();
  HandlerResult SetDefaultDatastore();
  // The workspace's default datastore (default_datastore.json, set by an admin):
  // workspaceblobstore when none is set or the one set no longer exists.
  std::string DefaultDatastore();
  HandlerResult ListDatastoreFiles();
  HandlerResult UploadToDatastore();
  HandlerResult ReadDatastoreFile();
  Result<std::unique_ptr<DatastoreIo>> OpenDatastore(const std::string& name);

  // api_secrets.cc
  HandlerResult ListSecrets();
  HandlerResult PutSecret();
  HandlerResult PutSecrets();
  HandlerResult GetSecret();
  HandlerResult FetchSecrets();
  HandlerResult DeleteSecret();
  // A person admitted to read values may; a run's script only while its run has not ended.
  Status MayReadSecrets();
  // The value of a stored secret, unsealed; NotFound names it.
  Result<std::string> OpenSecret(const std::string& name);

  // api_datasets.cc
  HandlerResult ListDatasets();
  HandlerResult RegisterDataset();
  HandlerResult ResolveDataset();
  // The files a datastore path names (a file, a directory or a pattern), as content:
  // {"datastore", "manifest", "kind": "file", "file_count", "total_bytes"}; NotFound when
  // nothing matches.
  Result<nlohmann::json> ResolveDataContent(const std::string& datastore, const std::string& path);
  // Registers the version a POST /datasets body describes (created_by its creator).
  Result<model::DatasetVersion> RegisterDatasetFrom(const nlohmann::json& body, bool new_version,
                                                    const std::string& created_by,
                                                    bool* created = nullptr);
  // api_run_data.cc: a submit's inputs and outputs resolved against the workspace; the
  // lineage of a created run's inputs; a completing run's output datasets.
  Status ResolveRunData(model::Run* run);
  Status RecordRunInputs(const model::Run& run);
  Status FinishDatasetOutputs(const model::Run& run, const std::vector<model::Artifact>& reported);
  Result<nlohmann::json> InputUrls(const model::Run& run);
  HandlerResult GetDatasetById();
  HandlerResult DatasetVersions();
  HandlerResult GetDataset();
  HandlerResult ArchiveDataset();
  HandlerResult ReactivateDataset();
  HandlerResult SetDatasetArchived(bool archived);
  HandlerResult UpdateDataset();

  // api_models.cc
  HandlerResult ListModels();
  HandlerResult RegisterModel();
  HandlerResult ModelVersions();
  HandlerResult GetModel();
  HandlerResult UpdateModel();
  HandlerResult DeleteModel();
  HandlerResult ModelFiles();
  HandlerResult ModelContent();
  // Stores v as the next version of v.name (made on first use) with the snapshot's files,
  // or (snapshot "") the files of run v.run_id's outputs under path; records the lineage.
  Result<model::ModelVersion> RegisterModelVersion(model::ModelVersion v,
                                                   const std::string& snapshot,
                                                   const std::string& path);
  // The registrations a completed run's script asked for (its "ferry.register_model/<name>"
  // tags), each done once.
  void RegisterModelsOfRun(const model::Run& r);

  // api_computes.cc
  json TargetJson(const model::ComputeTargetRecord& t, const std::vector<model::Run>& active);
  HandlerResult ComputeKinds();
  HandlerResult ListComputes();
  HandlerResult GetCompute();
  HandlerResult AttachCompute();
  HandlerResult DetachCompute();
  HandlerResult StopCompute();
  HandlerResult StartCompute();
  HandlerResult UpdateCompute();
  HandlerResult TrustCompute();
  HandlerResult GetQuota();
  HandlerResult SetQuota();
  HandlerResult ListNodeSizes();
  HandlerResult SetNodeSize();
  HandlerResult DeleteNodeSize();
  HandlerResult SetNodeProvider();

  // api_users.cc
  HandlerResult ListUsers();
  HandlerResult CreateUser();
  HandlerResult UpdateUser();
  HandlerResult DeleteUser();

  // api_blobs.cc
  HandlerResult MissingBlobs();
  HandlerResult GetBlob();
  HandlerResult FetchBlobs();
  HandlerResult UploadBlobs();
  HandlerResult UploadRunBlobs();
  HandlerResult GetSnapshot();
  HandlerResult PostSnapshot();

  // api_runs.cc
  Result<model::Run> RunFromBody(const json& j);
  Status CheckPlacement(const model::Run& run);
  HandlerResult CreateRun();
  HandlerResult CancelRun();
  HandlerResult ListRuns();
  HandlerResult RunKeys();
  HandlerResult GetRun();
  HandlerResult RunStream();
  HandlerResult RunHistory();
  HandlerResult PostTags();

  // api_sweeps.cc
  HandlerResult CreateSweep();
  HandlerResult CancelSweep();
  HandlerResult GetSweep();

  // api_pipelines.cc
  HandlerResult CreatePipelineRun();
  HandlerResult GetPipelineRun();
  HandlerResult RerunPipeline();
  // Creates a pipeline run of spec with the given parameter values (data resolved now).
  Result<model::Run> StartPipelineRun(const nlohmann::json& spec_json,
                                      const std::string& experiment,
                                      const std::map<std::string, nlohmann::json>& given,
                                      const std::map<std::string, std::string>& tags,
                                      const std::string& rerun_of,
                                      std::optional<bool> continue_on_step_failure);

  // The pipeline of a submit or a publish, checked as a submit checks it (the definition, its
  // graph, each step against the workspace: targets, snapshots, scripts); nothing created.
  Result<pipeline::PipelineSpec> CheckPipeline(const nlohmann::json& spec_json);

  // api_published.cc
  HandlerResult PublishPipeline();
  HandlerResult ListPublishedPipelines();
  HandlerResult GetPublishedPipeline();
  HandlerResult EnablePublishedPipeline();
  HandlerResult DisablePublishedPipeline();
  HandlerResult SubmitPublishedPipeline();
  HandlerResult CreatePipelineEndpoint();
  HandlerResult ListPipelineEndpoints();
  HandlerResult GetPipelineEndpoint();
  HandlerResult AddPipelineEndpointVersion();
  HandlerResult SetPipelineEndpointDefault();
  HandlerResult SubmitPipelineEndpoint();
  HandlerResult EnablePipelineEndpoint();
  HandlerResult DisablePipelineEndpoint();
  HandlerResult CreateSchedule();
  HandlerResult ListSchedules();
  HandlerResult GetSchedule();
  HandlerResult UpdateSchedule();
  HandlerResult EnableSchedule();
  HandlerResult DisableSchedule();
  HandlerResult ScheduleRuns();
  // Resolves s to its published pipeline (refusing a disabled one or a disabled endpoint) and
  // starts its run.
  Result<model::Run> RunPublished(const PublishedSubmit& s);

  // api_parallel.cc: a ParallelRunStep's mini-batch queue.
  Result<pipeline::ParallelConfig> ParallelRunOf(model::Run* run);
  Result<nlohmann::json> MiniBatchProgressJson(const model::Run& run);
  HandlerResult LeaseMiniBatch();
  HandlerResult ReleaseMiniBatches();
  HandlerResult MiniBatchProgress();
  HandlerResult MiniBatchResults();

  // api_agent.cc
  HandlerResult GetPlan();
  HandlerResult PostStatus();
  Result<int> RankParam();
  HandlerResult PostLogs();
  HandlerResult GetLogs();

  // api_metrics.cc
  HandlerResult PostMetrics();
  HandlerResult GetMetrics();
  HandlerResult PostValues();
  HandlerResult GetValues();
  HandlerResult EndRun();

  // api_artifacts.cc
  Result<std::vector<model::Artifact>> ArtifactsFromJson(const std::string& id, const json& list,
                                                         const char* field);
  HandlerResult PostArtifacts();
  HandlerResult ListArtifacts();
  HandlerResult ArtifactContent();
  HandlerResult ArtifactLink();
};

}  // namespace ferry::server
