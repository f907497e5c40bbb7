// GET /metrics: the exposition format, the HTTP histogram and the store's gauges.
#include "server/metrics.h"

#include <fmt/format.h>

#include <cmath>
#include <iterator>
#include <set>

#include "common/log.h"
#include "common/version.h"
#include "compute/cluster/cluster.h"
#include "model/run.h"
#include "server/auth.h"
#include "store/metadata_store.h"
#include "store/run_counts.h"

namespace ferry::server {
namespace {

constexpr std::string_view kMethodNames[] = {"GET",   "HEAD",   "POST",    "PUT",
                                             "PATCH", "DELETE", "OPTIONS", "other"};
constexpr std::string_view kCodeNames[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

size_t MethodIndex(std::string_view m) {
  for (size_t i = 0; i + 1 < std::size(kMethodNames); ++i) {
    if (m == kMethodNames[i]) return i;
  }
  return std::size(kMethodNames) - 1;
}

size_t CodeIndex(int status) {
  if (status < 100) return 4;  // never sent; counted with server errors
  return static_cast<size_t>(std::min(5, status / 100) - 1);
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// The path's segments (empty ones skipped, as the API's router does), at most N; false when
// there are more.
template <size_t N>
bool Segments(std::string_view path, std::array<std::string_view, N>* out, size_t* n) {
  *n = 0;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) {
      if (*n == N) return false;
      (*out)[(*n)++] = path.substr(start, end - start);
    }
    start = end + 1;
  }
  return true;
}

const char* kTextType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

// ---- exposition

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
  return out;
}

std::string FormatSampleValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

void Exposition::Family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  for (char c : help) {  // HELP escapes only \ and newline
    if (c == '\\')
      out_ += "\\\\";
    else if (c == '\n')
      out_ += "\\n";
    else
      out_.push_back(c);
  }
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void Exposition::Labels(std::initializer_list<Label> labels) {
  if (labels.size() == 0) return;
  out_ += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out_ += ',';
    first = false;
    out_ += k;
    out_ += "=\"";
    out_ += EscapeLabelValue(v);
    out_ += '"';
  }
  out_ += '}';
}

void Exposition::Sample(std::string_view name, std::initializer_list<Label> labels, double value) {
  out_ += name;
  Labels(labels);
  out_ += ' ';
  out_ += FormatSampleValue(value);
  out_ += '\n';
}

void Exposition::Sample(std::string_view name, std::initializer_list<Label> labels,
                        uint64_t value) {
  out_ += name;
  Labels(labels);
  out_ += ' ';
  out_ += std::to_string(value);
  out_ += '\n';
}

// ---- HTTP requests

HttpMetrics::HttpMetrics(const std::vector<RouteInfo>& routes) {
  for (const RouteInfo& r : routes) {
    Route route;
    route.method = r.method;
    std::array<std::string_view, 16> seg;
    size_t n = 0;
    (void)Segments(r.pattern, &seg, &n);
    route.segments.assign(seg.begin(), seg.begin() + n);
    route.label = std::string("/api/v1/") + r.pattern;
    route.agent = r.agent;
    routes_.push_back(std::move(route));
  }
  auto fixed = [this](const char* label) {
    routes_.push_back(Route{"", {}, label, false});
    return routes_.size() - 1;
  };
  mlflow_ = fixed("mlflow");
  mlflow_artifacts_ = fixed("mlflow-artifacts");
  metrics_ = fixed("/metrics");
  studio_ = fixed("studio");
  unmatched_ = fixed("unmatched");
  cells_ = std::make_unique<Cell[]>(routes_.size() * kMethods * kCodes);
}

size_t HttpMetrics::Classify(std::string_view method, std::string_view path) const {
  if (path == "/metrics") return metrics_;
  if (StartsWith(path, "/api/2.0/mlflow-artifacts/")) return mlflow_artifacts_;
  if (StartsWith(path, "/api/2.0/mlflow/") || StartsWith(path, "/api/3.0/mlflow/") ||
      StartsWith(path, "/ajax-api/2.0/mlflow/"))
    return mlflow_;
  if (!(path == "/api" || StartsWith(path, "/api/") || path == "/ajax-api" ||
        StartsWith(path, "/ajax-api/")))
    return studio_;
  if (!(path == "/api/v1" || StartsWith(path, "/api/v1/"))) return unmatched_;
  std::array<std::string_view, 16> seg;
  size_t n = 0;
  if (!Segments(path.substr(7), &seg, &n)) return unmatched_;
  for (size_t i = 0; i < mlflow_; ++i) {  // the API's routes, in its table's order
    const Route& r = routes_[i];
    if (r.segments.size() != n || r.method != method) continue;
    bool match = true;
    for (size_t k = 0; k < n && match; ++k) {
      match = r.segments[k] == "{}" || r.segments[k] == seg[k];
    }
    // A literal route listed before a pattern matching it wins, as in the API's router.
    if (match) return i;
  }
  return unmatched_;
}

std::string_view HttpMetrics::RouteOf(std::string_view method, std::string_view path,
                                      size_t* index) const {
  size_t i = Classify(method, path);
  if (index) *index = i;
  return routes_[i].label;
}

void HttpMetrics::Record(std::string_view method, std::string_view path, int status,
                         std::chrono::nanoseconds duration,
                         std::chrono::steady_clock::time_point now) {
  const size_t route = Classify(method, path);
  Cell& c = cells_[(route * kMethods + MethodIndex(method)) * kCodes + CodeIndex(status)];
  const double seconds = std::chrono::duration<double>(duration).count();
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  if (b < kBuckets.size()) c.buckets[b].fetch_add(1, std::memory_order_relaxed);
  c.sum_ns.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, duration.count())),
                     std::memory_order_relaxed);
  c.count.fetch_add(1, std::memory_order_relaxed);
  if (routes_[route].agent && status < 400) {
    // runs/{id}/...: the run is the second segment.
    std::array<std::string_view, 16> seg;
    size_t n = 0;
    if (Segments(path.substr(7), &seg, &n) && n >= 2) {
      MutexLock lock(&agents_mu_);
      auto it = agents_.find(seg[1]);
      if (it != agents_.end())
        it->second = now;
      else
        agents_.emplace(std::string(seg[1]), now);
    }
  }
}

int HttpMetrics::AgentsConnected(std::chrono::steady_clock::time_point now) {
  MutexLock lock(&agents_mu_);
  for (auto it = agents_.begin(); it != agents_.end();) {
    if (now - it->second > kAgentWindow)
      it = agents_.erase(it);
    else
      ++it;
  }
  return static_cast<int>(agents_.size());
}

void HttpMetrics::Expose(Exposition& out) const {
  constexpr std::string_view kName = "ferry_http_request_duration_seconds";
  out.Family(kName, "histogram",
             "HTTP requests answered, by method, route pattern and status class, and how long "
             "each took from its head to the last byte of its answer (event streams: their life).");
  std::array<std::string, kBuckets.size()> les;
  for (size_t b = 0; b < kBuckets.size(); ++b) les[b] = FormatSampleValue(kBuckets[b]);
  for (size_t r = 0; r < routes_.size(); ++r) {
    for (size_t m = 0; m < kMethods; ++m) {
      for (size_t k = 0; k < kCodes; ++k) {
        const Cell& c = cells_[(r * kMethods + m) * kCodes + k];
        const uint64_t count = c.count.load(std::memory_order_relaxed);
        if (count == 0) continue;
        // Read the buckets first: a request recorded meanwhile may be in count but not in a
        // bucket, never the other way round ("+Inf" is the count, so buckets stay <= it).
        uint64_t cumulative = 0;
        std::array<uint64_t, kBuckets.size()> cum{};
        for (size_t b = 0; b < kBuckets.size(); ++b) {
          cumulative += c.buckets[b].load(std::memory_order_relaxed);
          cum[b] = cumulative;
        }
        const uint64_t total = std::max(count, cumulative);
        const double sum = static_cast<double>(c.sum_ns.load(std::memory_order_relaxed)) / 1e9;
        const std::string_view method = kMethodNames[m], route = routes_[r].label,
                               code = kCodeNames[k];
        for (size_t b = 0; b < kBuckets.size(); ++b) {
          out.Sample("ferry_http_request_duration_seconds_bucket",
                     {{"method", method}, {"route", route}, {"code", code}, {"le", les[b]}},
                     cum[b]);
        }
        out.Sample("ferry_http_request_duration_seconds_bucket",
                   {{"method", method}, {"route", route}, {"code", code}, {"le", "+Inf"}}, total);
        out.Sample("ferry_http_request_duration_seconds_sum",
                   {{"method", method}, {"route", route}, {"code", code}}, sum);
        out.Sample("ferry_http_request_duration_seconds_count",
                   {{"method", method}, {"route", route}, {"code", code}}, total);
      }
    }
  }
}

// ---- the endpoint

net::Admission MetricsEndpoint::Admit(net::HttpRequest& head) const {
  net::Admission a;
  a.lane = net::Lane::kBulk;
  a.max_body_bytes = 64 << 10;
  auto refuse = [&a](int status, const std::string& code, const std::string& message) {
    net::HttpResponse r;
    r.status = status;
    std::string body = "{\"error\":{\"code\":\"" + code + "\",\"message\":\"";
    AppendJsonString(&body, message);
    body += "\"}}";
    r.body = std::move(body);
    a.reject = std::move(r);
    return a;
  };
  if (head.method != "GET" && head.method != "HEAD") {
    auto r = refuse(405, "BadRequest", head.method + " is not supported on /metrics; use GET");
    r.reject->headers.push_back({"Allow", "GET, HEAD"});
    return r;
  }
  static const UserDirectory kNoUsers(nullptr);
  auto caller = IdentifyCaller(head, d_.workspace_token, d_.users ? *d_.users : kNoUsers);
  if (!caller.ok()) return refuse(401, "Unauthenticated", caller.status().message());
  if (!caller->person()) {
    return refuse(403, "PermissionDenied",
                  "GET /metrics needs a person's token (a reader's is enough: ferry user add "
                  "prometheus --role reader)");
  }
  return a;
}

net::HttpResponse MetricsEndpoint::Serve() {
  net::HttpResponse r;
  r.content_type = kTextType;
  std::string body = StoreSection();
  Exposition out;
  out.Family("ferry_agents_connected", "gauge",
             "Runs whose agent called the server (a successful write or plan) in the last 60 s.");
  out.Sample("ferry_agents_connected", {},
             static_cast<uint64_t>(
                 d_.http ? d_.http->AgentsConnected(std::chrono::steady_clock::now()) : 0));
  out.Family(
      "ferry_metric_points_ingested_total", "counter",
      "Metric points stored since the server started, by the API that took them (agents' "
      "REST posts, MLflow clients' log-metric and log-batch); resent points are not counted.");
  out.Sample("ferry_metric_points_ingested_total", {{"api", "rest"}},
             d_.ingest ? d_.ingest->rest_points.load(std::memory_order_relaxed) : uint64_t{0});
  out.Sample("ferry_metric_points_ingested_total", {{"api", "mlflow"}},
             d_.ingest ? d_.ingest->mlflow_points.load(std::memory_order_relaxed) : uint64_t{0});
  if (d_.http) d_.http->Expose(out);
  body += out.Take();
  r.body = std::move(body);
  return r;
}

std::string MetricsEndpoint::StoreSection() {
  const auto now = std::chrono::steady_clock::now();
  MutexLock lock(&mu_);
  if (!cached_.empty() && now - cached_at_ < std::chrono::seconds(1)) return cached_;
  Exposition out;
  out.Family("ferry_build_info", "gauge", "The server's version (the value is always 1).");
  out.Sample("ferry_build_info", {{"version", Version()}}, uint64_t{1});

  std::map<std::string, uint64_t> by_status;
  std::map<std::string, uint64_t> queued;  // by target
  uint64_t agents_active = 0;
  bool counted = false;
  std::vector<model::ComputeTargetRecord> targets;
  if (d_.store) {
    if (auto t = d_.store->ListTargets(); t.ok()) targets = std::move(*t);
  }
  for (const auto& t : targets) queued[t.name] = 0;
  if (d_.runs) {
    if (auto rows = d_.runs->Count(); rows.ok()) {
      counted = true;
      for (const auto& row : *rows) {
        by_status[row.status] += static_cast<uint64_t>(row.count);
        if (row.status == "Queued") queued[row.target] += static_cast<uint64_t>(row.count);
        // Only "run" kinds have agents (sweeps are controllers, external runs MLflow clients').
        if (row.kind == "run" &&
            (row.status == "Preparing" || row.status == "Running" || row.status == "Finalizing"))
          agents_active += static_cast<uint64_t>(row.count);
      }
    }
  }
  out.Family("ferry_runs", "gauge",
             "Runs in the workspace by status (sweeps and MLflow runs included).");
  for (auto s :
       {model::RunStatus::kQueued, model::RunStatus::kPreparing, model::RunStatus::kRunning,
        model::RunStatus::kFinalizing, model::RunStatus::kCompleted, model::RunStatus::kFailed,
        model::RunStatus::kCanceled, model::RunStatus::kPreempted}) {
    const std::string name = model::RunStatusName(s);
    out.Sample("ferry_runs", {{"status", name}}, by_status[name]);
  }
  out.Family("ferry_queue_length", "gauge",
             "Runs waiting to be launched (Queued), by compute target.");
  for (const auto& [target, n] : queued) out.Sample("ferry_queue_length", {{"target", target}}, n);
  out.Family("ferry_agents_active", "gauge",
             "Runs whose agent should be alive: launched runs Preparing, Running or Finalizing.");
  out.Sample("ferry_agents_active", {}, agents_active);
  out.Family("ferry_cluster_nodes", "gauge",
             "Nodes of managed clusters by the node provider's last state (starting, started, "
             "failed, stopping, stopped).");
  for (const auto& t : targets) {
    if (t.kind != "cluster") continue;
    auto c = compute::ClusterConfig::FromJson(t.config_json);
    if (!c.ok()) continue;
    std::map<std::string, uint64_t> states;
    for (auto s : {"starting", "started", "failed", "stopping", "stopped"}) states[s] = 0;
    for (const auto& node : compute::ReadNodeRecords(*c)) ++states[node.state];
    for (const auto& [state, n] : states)
      out.Sample("ferry_cluster_nodes", {{"target", t.name}, {"state", state}}, n);
  }
  out.Family("ferry_store_up", "gauge", "1 when the last scrape could count the runs, else 0.");
  out.Sample("ferry_store_up", {}, uint64_t{counted ? 1u : 0u});
  cached_ = out.Take();
  cached_at_ = now;
  return cached_;
}

}  // namespace ferry::server
