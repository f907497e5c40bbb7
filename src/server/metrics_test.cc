// Tests of the /metrics exposition: escaping, values, the HTTP histogram and its route labels.
#include "server/metrics.h"

#include <gtest/gtest.h>

#include <sstream>

namespace ferry::server {
namespace {

using std::chrono::milliseconds;

std::vector<RouteInfo> Routes() {
  return {{"GET", "health", false},       {"GET", "runs/keys", false},
          {"GET", "runs/{}", false},      {"POST", "runs/{}/logs", true},
          {"GET", "runs/{}/logs", false}, {"GET", "environments/{}/{}", false}};
}

// The lines of `text` that start with `prefix`.
std::vector<std::string> Lines(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  }
  return out;
}

TEST(Exposition, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  Exposition out;
  out.Family("x_total", "counter", "with \\ and\nnewline");
  out.Sample("x_total", {{"target", "gpu \"box\""}, {"state", "up"}}, uint64_t{3});
  out.Sample("y", {}, 0.25);
  EXPECT_EQ(out.Take(),
            "# HELP x_total with \\\\ and\\nnewline\n# TYPE x_total counter\n"
            "x_total{target=\"gpu \\\"box\\\"\",state=\"up\"} 3\ny 0.25\n");
}

TEST(Exposition, FormatsSpecialValues) {
  EXPECT_EQ(FormatSampleValue(1), "1");
  EXPECT_EQ(FormatSampleValue(0.005), "0.005");
  EXPECT_EQ(FormatSampleValue(2.5), "2.5");
  EXPECT_EQ(FormatSampleValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatSampleValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatSampleValue(0.0 / 0.0), "NaN");
}

TEST(HttpMetrics, LabelsRoutesByPatternNotPath) {
  HttpMetrics m(Routes());
  EXPECT_EQ(m.RouteOf("GET", "/api/v1/health"), "/api/v1/health");
  EXPECT_EQ(m.RouteOf("GET", "/api/v1/runs/keys"), "/api/v1/runs/keys");  // literal first
  EXPECT_EQ(m.RouteOf("GET", "/api/v1/runs/r_1"), "/api/v1/runs/{}");
  EXPECT_EQ(m.RouteOf("GET", "/api/v1/runs/r_2/"), "/api/v1/runs/{}");
  EXPECT_EQ(m.RouteOf("POST", "/api/v1/runs/r_1/logs"), "/api/v1/runs/{}/logs");
  EXPECT_EQ(m.RouteOf("GET", "/api/v1/environments/e/3"), "/api/v1/environments/{}/{}");
  EXPECT_EQ(m.RouteOf("DELETE", "/api/v1/runs/r_1/logs"), "unmatched");  // 405
  EXPECT_EQ(m.RouteOf("GET", "/api/v1/nope/a/b/c"), "unmatched");
  EXPECT_EQ(m.RouteOf("GET", "/api/v2/runs"), "unmatched");
  EXPECT_EQ(m.RouteOf("POST", "/api/2.0/mlflow/runs/log-batch"), "mlflow");
  EXPECT_EQ(m.RouteOf("POST", "/ajax-api/2.0/mlflow/runs/create"), "mlflow");
  EXPECT_EQ(m.RouteOf("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/x"), "mlflow-artifacts");
  EXPECT_EQ(m.RouteOf("GET", "/metrics"), "/metrics");
  EXPECT_EQ(m.RouteOf("GET", "/assets/app.js"), "studio");
  EXPECT_EQ(m.RouteOf("GET", "/" + std::string(100, 'a') + "/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q"),
            "studio");
  EXPECT_EQ(m.RouteOf("GET", "/api/v1/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r"), "unmatched");
}

TEST(HttpMetrics, HistogramBucketsAreCumulativeWithSumAndCount) {
  HttpMetrics m(Routes());
  const auto now = std::chrono::steady_clock::now();
  m.Record("GET", "/api/v1/runs/a", 200, milliseconds(3), now);           // le 0.005
  m.Record("GET", "/api/v1/runs/b", 204, milliseconds(40), now);          // le 0.05
  m.Record("GET", "/api/v1/runs/c", 200, std::chrono::seconds(60), now);  // only +Inf
  m.Record("GET", "/api/v1/runs/c", 404, milliseconds(1), now);           // another code class
  Exposition out;
  m.Expose(out);
  const std::string text = out.Take();
  const std::string series =
      "ferry_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/runs/"
      "{}\",code=\"2xx\",";
  auto buckets = Lines(text, series);
  ASSERT_EQ(buckets.size(), HttpMetrics::kBuckets.size() + 1);
  EXPECT_EQ(buckets[0], series + "le=\"0.001\"} 0");
  EXPECT_EQ(buckets[2], series + "le=\"0.005\"} 1");
  EXPECT_EQ(buckets[5], series + "le=\"0.05\"} 2");
  EXPECT_EQ(buckets[13], series + "le=\"30\"} 2");
  EXPECT_EQ(buckets[14], series + "le=\"+Inf\"} 3");
  auto count = Lines(text,
                     "ferry_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/"
                     "runs/{}\",code=\"2xx\"}");
  ASSERT_EQ(count.size(), 1u);
  EXPECT_EQ(count[0].substr(count[0].rfind(' ') + 1), "3");
  auto sum = Lines(text,
                   "ferry_http_request_duration_seconds_sum{method=\"GET\",route=\"/api/v1/runs/"
                   "{}\",code=\"2xx\"}");
  ASSERT_EQ(sum.size(), 1u);
  EXPECT_NEAR(std::stod(sum[0].substr(sum[0].rfind(' ') + 1)), 60.043, 1e-9);
  EXPECT_EQ(Lines(text,
                  "ferry_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/runs/"
                  "{}\",code=\"4xx\"} 1")
                .size(),
            1u);
  // Nothing for series that saw no request; one HELP and TYPE.
  EXPECT_TRUE(
      Lines(text,
            "ferry_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/health\"")
          .empty());
  EXPECT_EQ(Lines(text, "# TYPE ferry_http_request_duration_seconds histogram").size(), 1u);
}

TEST(HttpMetrics, AgentsCountAsConnectedForAWindow) {
  HttpMetrics m(Routes());
  const auto t0 = std::chrono::steady_clock::now();
  m.Record("POST", "/api/v1/runs/r1/logs", 200, milliseconds(1), t0);
  m.Record("POST", "/api/v1/runs/r1/logs", 200, milliseconds(1), t0);
  m.Record("POST", "/api/v1/runs/r2/logs", 409, milliseconds(1), t0);  // refused: not counted
  m.Record("GET", "/api/v1/runs/r3/logs", 200, milliseconds(1), t0);   // a reader's
  EXPECT_EQ(m.AgentsConnected(t0), 1);
  EXPECT_EQ(m.AgentsConnected(t0 + HttpMetrics::kAgentWindow + std::chrono::seconds(1)), 0);
}

}  // namespace
}  // namespace ferry::server
