// MLflow's REST tracking API under /api/2.0/mlflow, as the standard `mlflow` client calls it:
// experiments, runs, params, tags, metrics and their history, search. MLflow runs are Ferry
// runs (same rows): a run created by an MLflow client is kind "external" (its client runs
// it; the scheduler never launches it), and a run Ferry launches is visible and writable
// through this API (its agent exports MLFLOW_TRACKING_URI and MLFLOW_RUN_ID).
//
// Identifiers: an experiment's MLflow id is its integer id; a run's MLflow run_id is its
// Ferry id. Statuses: Queued/Preparing are SCHEDULED, Running/Finalizing RUNNING, Completed
// FINISHED, Failed FAILED, Canceled KILLED. Times are milliseconds.
//
// Authentication is Ferry's: the workspace token or a user's token (the client sends
// MLFLOW_TRACKING_TOKEN as a bearer token), or a run's MLflow token (MlflowRunToken, given
// to its script) for that run's own data only.
#pragma once

#include "net/http_server.h"
#include "server/api.h"

namespace ferry::server {

class MlflowApi {
 public:
  explicit MlflowApi(ApiDeps& deps) : d_(deps) {}
  // Requests whose path starts with /api/2.0/mlflow/ (or /ajax-api/2.0/mlflow/, the same API as
  // MLflow's web UI calls it), /api/3.0/mlflow/ (none served: answered ENDPOINT_NOT_FOUND in
  // MLflow's error shape) or /api/2.0/mlflow-artifacts/. Every request is authenticated before
  // anything is looked up.
  net::HandlerResult Handle(net::HttpRequest& req);

 private:
  ApiDeps& d_;
};

}  // namespace ferry::server
