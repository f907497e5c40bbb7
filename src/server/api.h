// Api: the REST + JSON interface under /api/v1 (see docs/openapi.yaml), and the front door
// of every request: Admit() checks the route and the caller from the headers alone (on an
// I/O thread, without storage), Handle() runs the handler (on a worker pool). Routes are one
// table in api.cc: method, path, who may call it (docs/security.md), body limit, pool.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/seal.h"
#include "compute/compute_target.h"
#include "net/http_server.h"
#include "scheduler/scheduler.h"
#include "server/auth.h"
#include "server/log_store.h"
#include "server/metrics.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace ferry::server {

struct ApiDeps {
  store::MetadataStore* store = nullptr;
  store::BlobStore* blobs = nullptr;
  LogStore* logs = nullptr;
  scheduler::Scheduler* scheduler = nullptr;
  class TargetManager* targets = nullptr;  // attach/detach/trust of remote targets
  const Clock* clock = nullptr;
  UserDirectory* users = nullptr;    // named users' tokens and roles (reloaded after changes)
  std::string mlflow_artifact_root;  // MLflow's --default-artifact-root ("" : Ferry's store)
  std::string workspace_token;       // full access
  std::string run_secret;            // HMAC key for per-run agent tokens
  std::function<void(const std::string& channel)> notify;
  std::function<void()> shutdown;
  const class StudioFiles* studio = nullptr;           // the web UI at "/" (may be null)
  const std::atomic<uint64_t>* run_changes = nullptr;  // counts run changes (workspace stream)
  IngestCounters* ingest = nullptr;  // metric points stored, for /metrics (may be null)
  const Sealer* sealer = nullptr;    // secrets at rest (an S3 datastore's keys)
  std::string home;                  // the workspace home (default_datastore.json)
  // Seconds in a pipeline schedule's minute (60; less only under the test knob
  // FERRY_SCHEDULE_MINUTE_SECONDS, see server.cc): where a new schedule's first slot falls.
  double schedule_minute_seconds = 60;
};

struct DataFile;  // datastore_io.h

// A published pipeline (or a pipeline endpoint's version) to submit as a pipeline run
// (POST /pipelines/{id}/submit, POST /pipeline-endpoints/{id}/submit, a schedule's slot).
struct PublishedSubmit {
  std::string pipeline_id;       // a published pipeline, or
  std::string endpoint_id;       // an endpoint (id or name) and
  std::string endpoint_version;  // its version ("" = its default)
  std::string experiment;
  std::map<std::string, nlohmann::json> parameters;
  std::map<std::string, std::string> tags;
  std::optional<bool> continue_on_step_failure;  // unset: the published pipeline's
  std::string user;                              // who submits ("" = the workspace)
};

// The token that authorises the agent of run_id (and only that run).
std::string RunToken(const std::string& secret, const std::string& run_id);
// Who a bearer token is, when it is a person's: the workspace token (admin) or a named
// user's token. Unauthenticated without a bearer token; NotFound when the token is neither
// (it may still be a run's).
struct UserCaller {
  bool admin = false;
  std::string name;  // "" for the workspace token
  Role role = Role::kReader;
};
Result<std::string> BearerToken(const net::HttpRequest& req);
Result<UserCaller> UserFromToken(const ApiDeps& d, const std::string& token);

// The token a run's script uses with the MLflow API (MLFLOW_TRACKING_TOKEN): that run's
// MLflow endpoints only, nothing of the agent's.
std::string MlflowRunToken(const std::string& secret, const std::string& run_id);
// The long-poll channel that changes of a run are announced on.
std::string RunChannel(const std::string& run_id);

// Limits on request bodies (docs/security.md): small JSON routes take at most
// kSmallBodyBytes; blob uploads stream into the blob store, up to kStreamedBodyBytes.
inline constexpr uint64_t kSmallBodyBytes = 4ull << 20;
inline constexpr uint64_t kStreamedBodyBytes = 1ull << 40;

class Api {
 public:
  explicit Api(ApiDeps deps) : d_(std::move(deps)) {}
  // Decides from the head alone; sets req.context for Handle().
  net::Admission Admit(net::HttpRequest& head);
  net::HandlerResult Handle(net::HttpRequest& req);
  // The route table's methods and patterns (the HTTP metrics' route labels).
  static std::vector<RouteInfo> RouteTable();

  // A run checked as POST /runs checks one, for the user `user` (a pipeline's step, made on
  // the scheduler's thread); not stored.
  Result<model::Run> PrepareRun(const nlohmann::json& body, const std::string& user);
  // Submits a published pipeline as POST /pipelines/{id}/submit does (the schedule loop).
  // FailedPrecondition when the pipeline or endpoint is disabled.
  Result<model::Run> SubmitPublished(const PublishedSubmit& s);
  // The files of a datastore ("" = the workspace's default) at path: the file itself or those
  // under it as a directory (the schedule loop's datastore triggers).
  Result<std::vector<DataFile>> ListDatastorePath(const std::string& datastore,
                                                  const std::string& path);

  struct Impl;  // one request in its handler (api_internal.h; the handlers, api_*.cc)

 private:
  // True when hash is the run's manifest or one of its files (what its agent may read).
  bool RunMayReadBlob(const std::string& run_id, const std::string& hash) EXCLUDES(blob_sets_mu_);

  ApiDeps d_;
  Mutex blob_sets_mu_;
  std::map<std::string, std::shared_ptr<const std::unordered_set<std::string>>> blob_sets_
      GUARDED_BY(blob_sets_mu_);
};

}  // namespace ferry::server
