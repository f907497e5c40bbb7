// The MLflow client's floor: an endpoint that answers every MLflow tracking and model registry
// call at once with a fixed, well-formed reply (no storage), so that bench/mlflow_tracking.py
// and bench/mlflow_registry.py can show how much of a loop of client calls is the client
// itself. Prints its URL, serves until killed.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>

#include "net/http_server.h"

namespace {

using ferry::net::HandlerResult;
using ferry::net::HttpRequest;
using ferry::net::HttpResponse;

const char* kExperiment =
    R"({"experiment_id":"1","name":"bench","artifact_location":"mlflow-artifacts:/1","lifecycle_stage":"active",)"
    R"("creation_time":0,"last_update_time":0,"tags":[]})";
const char* kRunInfo =
    R"({"run_id":"r1","run_uuid":"r1","run_name":"r1","experiment_id":"1","user_id":"","status":"RUNNING",)"
    R"("start_time":0,"artifact_uri":"mlflow-artifacts:/1/r1/artifacts","lifecycle_stage":"active"})";

// A model version as the servers return it (status READY, so that the client does not poll).
const char* kModelVersion =
    R"({"name":"bench","version":"1","creation_timestamp":0,"last_updated_timestamp":0,)"
    R"("current_stage":"None","description":"","source":"s3://bench-models/bench/model",)"
    R"("run_id":"","status":"READY","tags":[],"aliases":["champion"]})";
const char* kRegisteredModel =
    R"({"name":"bench","creation_timestamp":0,"last_updated_timestamp":0,"description":"",)"
    R"("latest_versions":[],"tags":[],"aliases":[]})";

// model-versions/search: max_results versions (at most 1,000) and a next-page token, as a
// server with more versions than that answers.
std::string SearchReply(const HttpRequest& req) {
  int n = 10;
  try {
    n = std::stoi(req.Query("max_results", "10"));
  } catch (const std::exception&) {
  }
  n = std::clamp(n, 0, 1000);
  std::string out = R"({"model_versions":[)";
  for (int i = 0; i < n; ++i) {
    if (i > 0) out += ",";
    out += kModelVersion;
  }
  return out + R"(],"next_page_token":"eyJvZmZzZXQiOiAxMH0="})";
}

HttpResponse Reply(std::string body) {
  HttpResponse r;
  r.body = std::move(body);
  return r;
}

HandlerResult Answer(HttpRequest& req) {
  const std::string& p = req.path;
  auto ends = [&](const char* s) {
    return p.size() >= std::string(s).size() && p.rfind(s) == p.size() - std::string(s).size();
  };
  if (ends("/experiments/get-by-name") || ends("/experiments/get"))
    return Reply(std::string(R"({"experiment":)") + kExperiment + "}");
  if (ends("/experiments/create")) return Reply(R"({"experiment_id":"1"})");
  if (ends("/runs/create") || ends("/runs/get")) {
    return Reply(std::string(R"({"run":{"info":)") + kRunInfo +
                 R"(,"data":{"metrics":[],"params":[],"tags":[]},"inputs":{}}})");
  }
  if (ends("/runs/update")) return Reply(std::string(R"({"run_info":)") + kRunInfo + "}");
  if (ends("/metrics/get-history")) return Reply(R"({"metrics":[]})");
  if (ends("/registered-models/create") || ends("/registered-models/get"))
    return Reply(std::string(R"({"registered_model":)") + kRegisteredModel + "}");
  if (ends("/model-versions/create") || ends("/model-versions/get") ||
      (ends("/registered-models/alias") && req.method == "GET"))
    return Reply(std::string(R"({"model_version":)") + kModelVersion + "}");
  if (ends("/model-versions/search")) return Reply(SearchReply(req));
  return Reply("{}");
}

}  // namespace

int main() {
  ferry::net::HttpServerOptions o;
  o.threads = 1;
  o.workers = 1;
  o.bulk_workers = 1;
  o.admit = [](HttpRequest&) {
    ferry::net::Admission a;
    a.lane = ferry::net::Lane::kInline;
    return a;
  };
  o.handler = Answer;
  auto srv = ferry::net::HttpServer::Start(o);
  if (!srv.ok()) {
    std::fprintf(stderr, "%s\n", srv.status().ToString().c_str());
    return 1;
  }
  std::printf("http://127.0.0.1:%d\n", (*srv)->port());
  std::fflush(stdout);
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  int sig = 0;
  sigwait(&sigs, &sig);
  return 0;
}
