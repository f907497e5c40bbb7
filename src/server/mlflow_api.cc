// MLflow tracking REST API (see mlflow_api.h): the endpoint table, who may call each
// endpoint, and routing; the endpoints live one file per group (mlflow_api_<group>.cc). Errors are
// MLflow's: {"error_code", "message"} with 400 (INVALID_PARAMETER_VALUE, RESOURCE_ALREADY_EXISTS),
// 404 (RESOURCE_DOES_NOT_EXIST), 401/403, 500.
#include "server/mlflow_api.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string_view>

#include "server/mlflow_api_internal.h"

namespace ferry::server {
namespace mlflow {

using net::HandlerResult;
using net::HttpResponse;

// `endpoint` is the path after /api/<version>/mlflow/; only 2.0's are served.
HandlerResult Handler::Route(const std::string& version) {
  // Parameters: the JSON body of a POST (or PATCH/DELETE), else the query string. A bad
  // body is reported after authentication (which reads only the run id from it).
  Status body = Status::Ok();
  p = json::object();
  if (!req.body.empty() && req.method != "GET") {
    try {
      p = json::parse(req.body);
    } catch (const json::exception& e) {  // also numbers that overflow a double (1e309)
      body = Status::InvalidArgument(std::string("malformed JSON body: ") + e.what());
      p = json::object();
    }
    if (body.ok() && !p.is_object()) {
      body = Status::InvalidArgument("the JSON body must be an object");
      p = json::object();
    }
  } else {
    for (const auto& [k, v] : req.query) p[k] = v;
  }
  if (Status auth = Authenticate(); !auth.ok()) return Fail(auth);
  if (!body.ok()) return Fail(body);
  if (version != "2.0") return NoEndpoint();
  for (const Endpoint& ep : Endpoints()) {
    if (!MatchEndpoint(ep)) continue;
    if (Status may = Authorize(ep); !may.ok()) return ended_ ? Ended(may) : Fail(may);
    return ep.handle(*this);
  }
  return NoEndpoint();
}

const std::vector<Handler::Endpoint>& Handler::Endpoints() {
  using H = Handler;
  static const std::vector<Endpoint> kEndpoints = {
      {"experiments/create", "POST", Need::kCreate, false,
       [](H& h) { return h.CreateExperiment(); }},
      {"experiments/get", "GET", Need::kRead, false, [](H& h) { return h.GetExperiment(); }},
      {"experiments/get-by-name", "GET", Need::kRead, false,
       [](H& h) { return h.GetExperimentByName(); }},
      {"experiments/search", "GET POST", Need::kRead, false,
       [](H& h) { return h.SearchExperiments(); }},
      {"experiments/list", "GET POST", Need::kRead, false,
       [](H& h) { return h.SearchExperiments(); }},
      {"experiments/delete", "POST", Need::kExperiment, false,
       [](H& h) { return h.SetExperimentLifecycle("deleted"); }},
      {"experiments/restore", "POST", Need::kExperiment, false,
       [](H& h) { return h.SetExperimentLifecycle("active"); }},
      {"experiments/update", "POST", Need::kExperiment, false,
       [](H& h) { return h.UpdateExperiment(); }},
      {"experiments/set-experiment-tag", "POST", Need::kExperiment, false,
       [](H& h) { return h.SetExperimentTag(); }},
      {"experiments/delete-experiment-tag", "POST", Need::kExperiment, false,
       [](H& h) { return h.DeleteExperimentTag(); }},
      {"runs/create", "POST", Need::kCreate, false, [](H& h) { return h.CreateRun(); }},
      {"runs/get", "GET", Need::kRead, true, [](H& h) { return h.GetRun(); }},
      {"runs/update", "POST", Need::kRun, true, [](H& h) { return h.UpdateRun(); }},
      {"runs/delete", "POST", Need::kRun, false, [](H& h) { return h.SetRunLifecycle("deleted"); }},
      {"runs/restore", "POST", Need::kRun, false, [](H& h) { return h.SetRunLifecycle("active"); }},
      {"runs/search", "GET POST", Need::kRead, false, [](H& h) { return h.SearchRuns(); }},
      {"runs/log-metric", "POST", Need::kRunData, true, [](H& h) { return h.LogMetric(); }},
      {"runs/log-batch", "POST", Need::kRunData, true, [](H& h) { return h.LogBatch(); }},
      {"runs/log-parameter", "POST", Need::kRunData, true,
       [](H& h) { return h.LogKeyValue(true); }},
      {"runs/set-tag", "POST", Need::kRunData, true, [](H& h) { return h.LogKeyValue(false); }},
      {"runs/delete-tag", "POST", Need::kRunData, true, [](H& h) { return h.DeleteTag(); }},
      {"runs/log-inputs", "POST", Need::kRunData, true, [](H& h) { return h.LogInputs(); }},
      {"metrics/get-history", "GET", Need::kRead, true, [](H& h) { return h.MetricHistory(); }},
      {"runs/outputs", "POST", Need::kRunData, true, [](H& h) { return h.LogOutputs(); }},
      // The model registry.
      {"registered-models/create", "POST", Need::kRegistry, false,
       [](H& h) { return h.CreateRegisteredModel(); }},
      {"registered-models/get", "GET", Need::kRead, true,
       [](H& h) { return h.GetRegisteredModel(); }},
      {"registered-models/rename", "POST", Need::kRegistry, false,
       [](H& h) { return h.RenameRegisteredModel(); }},
      {"registered-models/update", "PATCH", Need::kRegistry, false,
       [](H& h) { return h.UpdateRegisteredModel(); }},
      {"registered-models/delete", "DELETE", Need::kRegistry, false,
       [](H& h) { return h.DeleteRegisteredModel(); }},
      {"registered-models/search", "GET", Need::kRead, true,
       [](H& h) { return h.SearchRegisteredModels(); }},
      {"registered-models/get-latest-versions", "GET POST", Need::kRead, true,
       [](H& h) { return h.GetLatestVersions(); }},
      {"registered-models/set-tag", "POST", Need::kRegistry, false,
       [](H& h) { return h.SetRegisteredModelTag(true); }},
      {"registered-models/delete-tag", "DELETE", Need::kRegistry, false,
       [](H& h) { return h.SetRegisteredModelTag(false); }},
      {"registered-models/alias", "POST", Need::kRegistry, false,
       [](H& h) { return h.SetModelAlias(); }},
      {"registered-models/alias", "DELETE", Need::kRegistry, false,
       [](H& h) { return h.DeleteModelAlias(); }},
      {"registered-models/alias", "GET", Need::kRead, true,
       [](H& h) { return h.GetModelVersionByAlias(); }},
      {"model-versions/create", "POST", Need::kRegistry, false,
       [](H& h) { return h.CreateModelVersion(); }},
      {"model-versions/get", "GET", Need::kRead, true, [](H& h) { return h.GetModelVersion(); }},
      {"model-versions/update", "PATCH", Need::kRegistry, false,
       [](H& h) { return h.UpdateModelVersion(); }},
      {"model-versions/delete", "DELETE", Need::kRegistry, false,
       [](H& h) { return h.DeleteModelVersion(); }},
      {"model-versions/search", "GET", Need::kRead, true,
       [](H& h) { return h.SearchModelVersions(); }},
      {"model-versions/transition-stage", "POST", Need::kRegistry, false,
       [](H& h) { return h.TransitionModelVersionStage(); }},
      {"model-versions/get-download-uri", "GET", Need::kRead, true,
       [](H& h) { return h.GetModelVersionDownloadUri(); }},
      {"model-versions/set-tag", "POST", Need::kRegistry, false,
       [](H& h) { return h.SetModelVersionTag(true); }},
      {"model-versions/delete-tag", "DELETE", Need::kRegistry, false,
       [](H& h) { return h.SetModelVersionTag(false); }},
      // MLflow 3's logged models.
      {"logged-models", "POST", Need::kLoggedModel, true,
       [](H& h) { return h.CreateLoggedModel(); }},
      {"logged-models/search", "POST GET", Need::kRead, false,
       [](H& h) { return h.SearchLoggedModels(); }},
      {"logged-models/{}", "GET", Need::kRead, true, [](H& h) { return h.GetLoggedModel(); }},
      {"logged-models/{}", "PATCH", Need::kLoggedModel, true,
       [](H& h) { return h.FinalizeLoggedModel(); }},
      {"logged-models/{}", "DELETE", Need::kLoggedModel, false,
       [](H& h) { return h.DeleteLoggedModel(); }},
      {"logged-models/{}/tags", "PATCH", Need::kLoggedModel, true,
       [](H& h) { return h.SetLoggedModelTags(); }},
      {"logged-models/{}/tags/{}", "DELETE", Need::kLoggedModel, true,
       [](H& h) { return h.DeleteLoggedModelTag(); }},
      {"logged-models/{}/params", "POST", Need::kLoggedModel, true,
       [](H& h) { return h.LogLoggedModelParams(); }},
      {"logged-models/{}/artifacts/directories", "GET", Need::kRead, true,
       [](H& h) { return h.ListLoggedModelArtifacts(); }},
      {"logged-models/{}/artifacts/files", "GET", Need::kRead, true,
       [](H& h) { return h.GetLoggedModelArtifact(); }},
  };
  return kEndpoints;
}

bool Handler::MatchEndpoint(const Endpoint& ep) {
  std::string_view methods = ep.methods;
  bool method = false;
  for (size_t at = 0; at < methods.size();) {
    size_t end = methods.find(' ', at);
    if (end == std::string_view::npos) end = methods.size();
    method = method || methods.substr(at, end - at) == req.method;
    at = end + 1;
  }
  if (!method) return false;
  path_params.clear();
  std::string_view pattern = ep.name, path = endpoint;
  for (;;) {
    const size_t pe = pattern.find('/'), se = path.find('/');
    std::string_view part = pattern.substr(0, pe), seg = path.substr(0, se);
    if (part == "{}") {
      if (seg.empty()) return false;
      path_params.emplace_back(seg);  // the path arrives decoded
    } else if (part != seg) {
      return false;
    }
    if (pe == std::string_view::npos || se == std::string_view::npos)
      return pe == std::string_view::npos && se == std::string_view::npos;
    pattern.remove_prefix(pe + 1);
    path.remove_prefix(se + 1);
  }
}

Status Handler::Authorize(const Endpoint& ep) {
  if (!caller.person() && !ep.run_token) return NeedRole(Role::kReader, endpoint);
  switch (ep.need) {
    case Need::kRead:
      return Status::Ok();  // a run's token: only its own run (Authenticate)
    case Need::kCreate:
      return NeedRole(Role::kContributor, endpoint);
    case Need::kExperiment: {
      FERRY_ASSIGN_OR_RETURN(std::string id, Str(p, "experiment_id", true));
      return MayChangeExperiment(id);
    }
    case Need::kRun:
    case Need::kRunData: {
      FERRY_ASSIGN_OR_RETURN(std::string id, RunIdParam());
      return MayChangeRun(id, ep.need == Need::kRunData);
    }
    case Need::kRegistry:
      return NeedRole(Role::kContributor, endpoint);
    case Need::kLoggedModel:
      // A run's token got here only for a logged model of its own run (Authenticate).
      if (!caller.person()) return Status::Ok();
      return NeedRole(Role::kContributor, endpoint);
  }
  return Status::Ok();
}
}  // namespace mlflow

using net::HandlerResult;
using net::HttpRequest;

HandlerResult MlflowApi::Handle(HttpRequest& req) {
  const std::string artifacts = "/api/2.0/mlflow-artifacts/";
  if (req.path.rfind(artifacts, 0) == 0) {
    mlflow::Handler h{d_, req, ""};
    return h.RouteArtifacts(req.path.substr(artifacts.size()));
  }
  // /api/<version>/mlflow/<endpoint>, or /ajax-api/<version>/mlflow/<endpoint> (MLflow serves
  // its REST API under both; its web UI calls the latter).
  const size_t at = req.path.find('/', 1) + 1;
  const std::string version = req.path.substr(at, req.path.find('/', at) - at);
  const std::string prefix = req.path.substr(0, at) + version + "/mlflow/";
  mlflow::Handler h{d_, req, req.path.substr(std::min(prefix.size(), req.path.size()))};
  return h.Route(version);
}

}  // namespace ferry::server
