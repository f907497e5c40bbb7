// The MLflow client's floor: an endpoint that answers every MLflow tracking call at once with
// a fixed, well-formed reply (no storage), so that bench/mlflow_tracking.py can show how much
// of a `mlflow.log_metric` loop is the client itself. Prints its URL, serves until killed.
#include <csignal>
#include <cstdio>
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
