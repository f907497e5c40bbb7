// The server's Prometheus endpoint, GET /metrics (docs/operating.md): the text exposition
// format 0.0.4 of run, queue, cluster-node and agent gauges (from the store, at most once a
// second), the count of metric points ingested, and a latency histogram of HTTP requests by
// method, route pattern and code class, counted at the HTTP layer without locks.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "net/http_server.h"

namespace ferry::store {
class MetadataStore;
class RunCounter;
}  // namespace ferry::store

namespace ferry::server {

class UserDirectory;

// Builds a text exposition (format 0.0.4). Label values are escaped here.
class Exposition {
 public:
  using Label = std::pair<std::string_view, std::string_view>;
  // A family's "# HELP" and "# TYPE" lines; its samples follow.
  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, std::initializer_list<Label> labels, double value);
  void Sample(std::string_view name, std::initializer_list<Label> labels, uint64_t value);
  void Append(std::string_view text) { out_ += text; }
  std::string Take() { return std::move(out_); }

 private:
  void Labels(std::initializer_list<Label> labels);
  std::string out_;
};

// A label value as the format writes it: \ " and newline escaped.
std::string EscapeLabelValue(std::string_view v);
// A sample value: shortest exact decimal, "+Inf", "-Inf", "NaN".
std::string FormatSampleValue(double v);

// A route of the REST API, as the histogram labels it.
struct RouteInfo {
  const char* method;
  const char* pattern;  // after /api/v1/; "{}" is one segment
  bool agent = false;   // an agent's write (counts its run as connected)
};

// Request counts and latencies by (method, route, code class) in fixed cells of relaxed
// atomics: Record() allocates nothing and takes no lock (except, for an agent's request, a
// short one on the map of connected agents). Thread-safe.
class HttpMetrics {
 public:
  static constexpr std::array<double, 14> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                      0.25,  0.5,    1,     2.5,  5,     10,   30};
  // How long after its last request an agent still counts as connected.
  static constexpr std::chrono::seconds kAgentWindow{60};

  explicit HttpMetrics(const std::vector<RouteInfo>& routes);
  void Record(std::string_view method, std::string_view path, int status,
              std::chrono::nanoseconds duration, std::chrono::steady_clock::time_point now);
  void Expose(Exposition& out) const;
  // Runs whose agent made a successful request within kAgentWindow of now.
  int AgentsConnected(std::chrono::steady_clock::time_point now);

  // The route label of a request ("/api/v1/runs/{}/logs", "mlflow", "studio", ...), for
  // tests and the access log; the route's index in *index when not null.
  std::string_view RouteOf(std::string_view method, std::string_view path,
                           size_t* index = nullptr) const;

 private:
  static constexpr size_t kMethods = 8;  // GET HEAD POST PUT PATCH DELETE OPTIONS other
  static constexpr size_t kCodes = 5;    // 1xx .. 5xx
  struct Cell {
    std::array<std::atomic<uint64_t>, kBuckets.size()> buckets{};  // not cumulative
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum_ns{0};
  };
  struct Route {
    std::string method;
    std::vector<std::string> segments;  // of the pattern
    std::string label;
    bool agent = false;
  };
  size_t Classify(std::string_view method, std::string_view path) const;

  std::vector<Route> routes_;  // the API's, then the fixed classes below
  size_t mlflow_, mlflow_artifacts_, metrics_, studio_, unmatched_;
  std::unique_ptr<Cell[]> cells_;  // routes_.size() * kMethods * kCodes
  Mutex agents_mu_;
  std::map<std::string, std::chrono::steady_clock::time_point, std::less<>> agents_
      GUARDED_BY(agents_mu_);
};

// Counters the handlers bump (REST and MLflow).
struct IngestCounters {
  std::atomic<uint64_t> rest_points{0};    // POST /api/v1/runs/{id}/metrics (agents)
  std::atomic<uint64_t> mlflow_points{0};  // MLflow's log-metric and log-batch
};

struct MetricsDeps {
  store::MetadataStore* store = nullptr;  // targets (cluster nodes)
  store::RunCounter* runs = nullptr;      // runs by status, target, kind
  HttpMetrics* http = nullptr;
  const IngestCounters* ingest = nullptr;
  std::string workspace_token;
  const UserDirectory* users = nullptr;
};

// GET /metrics. Who may scrape: any person's token (a reader's is enough), as for the rest of
// the API; Prometheus sends it with `authorization: {credentials_file: ...}`.
class MetricsEndpoint {
 public:
  explicit MetricsEndpoint(MetricsDeps deps) : d_(std::move(deps)) {}
  // From the head alone: the token (401/403) and the method (405); the bulk pool.
  net::Admission Admit(net::HttpRequest& head) const;
  net::HttpResponse Serve();

 private:
  std::string StoreSection() EXCLUDES(mu_);  // cached for a second

  MetricsDeps d_;
  Mutex mu_;
  std::chrono::steady_clock::time_point cached_at_ GUARDED_BY(mu_);
  std::string cached_ GUARDED_BY(mu_);
};

}  // namespace ferry::server
