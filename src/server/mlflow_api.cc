// MLflow tracking REST API (see mlflow_api.h): the endpoint table, who may call each
// endpoint, and routing; the endpoints live one file per group (mlflow_api_<group>.cc). Errors are
// MLflow's: {"error_code", "message"} with 400 (INVALID_PARAMETER_VALUE, RESOURCE_ALREADY_EXISTS),
// 404 (RESOURCE_DOES_NOT_EXIST), 401/403, 500.
#include "server/mlflow_api.h"

#include <algorithm>
#include <nlohmann/json.hpp>

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
  const bool get = req.method == "GET", post = req.method == "POST";
  for (const Endpoint& ep : Endpoints()) {
    if (endpoint != ep.name || !((get && ep.get) || (post && ep.post))) continue;
    if (Status may = Authorize(ep); !may.ok()) return ended_ ? Ended(may) : Fail(may);
    return ep.handle(*this);
  }
  return NoEndpoint();
}

const std::vector<Handler::Endpoint>& Handler::Endpoints() {
  using H = Handler;
  static const std::vector<Endpoint> kEndpoints = {
      {"experiments/create", false, true, Need::kCreate, false,
       [](H& h) { return h.CreateExperiment(); }},
      {"experiments/get", true, false, Need::kRead, false, [](H& h) { return h.GetExperiment(); }},
      {"experiments/get-by-name", true, false, Need::kRead, false,
       [](H& h) { return h.GetExperimentByName(); }},
      {"experiments/search", true, true, Need::kRead, false,
       [](H& h) { return h.SearchExperiments(); }},
      {"experiments/list", true, true, Need::kRead, false,
       [](H& h) { return h.SearchExperiments(); }},
      {"experiments/delete", false, true, Need::kExperiment, false,
       [](H& h) { return h.SetExperimentLifecycle("deleted"); }},
      {"experiments/restore", false, true, Need::kExperiment, false,
       [](H& h) { return h.SetExperimentLifecycle("active"); }},
      {"experiments/update", false, true, Need::kExperiment, false,
       [](H& h) { return h.UpdateExperiment(); }},
      {"experiments/set-experiment-tag", false, true, Need::kExperiment, false,
       [](H& h) { return h.SetExperimentTag(); }},
      {"experiments/delete-experiment-tag", false, true, Need::kExperiment, false,
       [](H& h) { return h.DeleteExperimentTag(); }},
      {"runs/create", false, true, Need::kCreate, false, [](H& h) { return h.CreateRun(); }},
      {"runs/get", true, false, Need::kRead, true, [](H& h) { return h.GetRun(); }},
      {"runs/update", false, true, Need::kRun, true, [](H& h) { return h.UpdateRun(); }},
      {"runs/delete", false, true, Need::kRun, false,
       [](H& h) { return h.SetRunLifecycle("deleted"); }},
      {"runs/restore", false, true, Need::kRun, false,
       [](H& h) { return h.SetRunLifecycle("active"); }},
      {"runs/search", true, true, Need::kRead, false, [](H& h) { return h.SearchRuns(); }},
      {"runs/log-metric", false, true, Need::kRunData, true, [](H& h) { return h.LogMetric(); }},
      {"runs/log-batch", false, true, Need::kRunData, true, [](H& h) { return h.LogBatch(); }},
      {"runs/log-parameter", false, true, Need::kRunData, true,
       [](H& h) { return h.LogKeyValue(true); }},
      {"runs/set-tag", false, true, Need::kRunData, true,
       [](H& h) { return h.LogKeyValue(false); }},
      {"runs/delete-tag", false, true, Need::kRunData, true, [](H& h) { return h.DeleteTag(); }},
      {"runs/log-inputs", false, true, Need::kRunData, true, [](H& h) { return h.LogInputs(); }},
      {"metrics/get-history", true, false, Need::kRead, true,
       [](H& h) { return h.MetricHistory(); }},
      {"logged-models/search", true, true, Need::kRead, false,
       [](H& h) { return h.SearchLoggedModels(); }},
  };
  return kEndpoints;
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
