// Api: the REST + JSON interface under /api/v1 (see docs/openapi.yaml). Routes requests to
// the store, blob store, log store and scheduler. Handlers run on HTTP threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "common/clock.h"
#include "compute/compute_target.h"
#include "net/http_server.h"
#include "scheduler/scheduler.h"
#include "server/log_store.h"
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
  std::string workspace_token;  // full access
  std::string run_secret;       // HMAC key for per-run agent tokens
  std::function<void(const std::string& channel)> notify;
  std::function<void()> shutdown;
  const class StudioFiles* studio = nullptr;          // the web UI at "/" (may be null)
  const std::atomic<uint64_t>* run_changes = nullptr;  // counts run changes (workspace stream)
};

// The token that authorises the agent of run_id (and only that run).
std::string RunToken(const std::string& secret, const std::string& run_id);
// Who a bearer token is, when it is a person's: the workspace token (admin) or a named
// user's token (looked up by its hash). Unauthenticated without a bearer token; NotFound
// when the token is neither (it may still be a run's).
struct UserCaller {
  bool admin = false;
  std::string name;  // "" for the workspace token
};
Result<std::string> BearerToken(const net::HttpRequest& req);
Result<UserCaller> UserFromToken(const ApiDeps& d, const std::string& token);

// The token a run's script uses with the MLflow API (MLFLOW_TRACKING_TOKEN): that run's
// MLflow endpoints only, nothing of the agent's.
std::string MlflowRunToken(const std::string& secret, const std::string& run_id);
// The long-poll channel that changes of a run are announced on.
std::string RunChannel(const std::string& run_id);

class Api {
 public:
  explicit Api(ApiDeps deps) : d_(std::move(deps)) {}
  net::HandlerResult Handle(net::HttpRequest& req);

 private:
  struct Impl;
  // True when hash is the run's manifest or one of its files (what its agent may read).
  bool RunMayReadBlob(const std::string& run_id, const std::string& hash);

  ApiDeps d_;
  std::mutex blob_sets_mu_;
  std::map<std::string, std::shared_ptr<const std::unordered_set<std::string>>> blob_sets_;
};

}  // namespace ferry::server
