// REST handlers of a run's metrics: the agent's batches in, points and downsampled series out.
#include <simdjson.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "server/api_internal.h"

namespace ferry::server {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

namespace {

// An agent's metrics batch: {"points":[{"q":seq,"k":key,"v":value,"s":step,"t":time}...]},
// values numbers or "nan", "inf", "-inf". InvalidArgument names the point at fault.
Result<std::vector<model::MetricPoint>> ParseMetricBatch(std::string_view body) {
  std::vector<model::MetricPoint> points;
  try {
    thread_local simdjson::ondemand::parser parser;
    simdjson::padded_string padded(body);
    auto doc = parser.iterate(padded);
    for (auto item : doc["points"].get_array()) {
      auto obj = item.get_object();
      model::MetricPoint p;
      p.seq = obj["q"].get_int64();
      p.key = std::string(std::string_view(obj["k"].get_string()));
      if (Status key = model::ValidateKey("metric", p.key); !key.ok())
        return key.WithContext("point " + std::to_string(points.size()));
      if (p.seq < 0)
        return Status::InvalidArgument("metric '" + p.key + "' has the negative sequence number " +
                                       std::to_string(p.seq) + " ('q')");
      auto v = obj["v"];
      if (v.type() == simdjson::ondemand::json_type::string) {
        std::string_view s = v.get_string();
        if (s == "nan")
          p.value = std::nan("");
        else if (s == "inf")
          p.value = INFINITY;
        else if (s == "-inf")
          p.value = -INFINITY;
        else
          return Status::InvalidArgument("metric '" + p.key + "' has the non-numeric value '" +
                                         std::string(s.substr(0, 60)) + "'");
      } else {
        p.value = v.get_double();
      }
      p.step = obj["s"].get_int64();
      p.time = obj["t"].get_double();
      points.push_back(std::move(p));
    }
  } catch (const simdjson::simdjson_error& e) {
    return Status::InvalidArgument(
        std::string("malformed metrics batch: ") + e.what() +
        "; expected {\"points\":[{\"q\":seq,\"k\":key,\"v\":value,\"s\":step,\"t\":time}]}");
  }
  return points;
}

}  // namespace

HandlerResult Api::Impl::PostMetrics() {
  const std::string& id = P(0);
  auto r = d.store->GetRun(id);
  if (!r.ok()) return Error(r.status());
  auto parsed = ParseMetricBatch(req.body);
  if (!parsed.ok()) return Error(parsed.status());
  std::vector<model::MetricPoint>& points = *parsed;
  if (Status st = AcceptsData(*r); !st.ok()) return Ended(*r, st);
  auto n = d.store->AppendMetrics(r->rid, points);
  if (!n.ok()) return Error(n.status());
  if (d.ingest) d.ingest->rest_points += static_cast<uint64_t>(*n);
  Changed(id);
  if (!r->parent_id.empty() && *n > 0) d.scheduler->Wake();  // a sweep's policy judges new reports
  return Json(
      200,
      {{"stored", *n}, {"received", points.size()}, {"cancel_requested", r->cancel_requested}});
}

HandlerResult Api::Impl::GetMetrics() {
  const std::string& id = P(0);
  const std::string key = req.Query("key");
  const std::string max_text = req.Query("max_points");
  json downsampled = json::object();
  Result<std::vector<model::MetricPoint>> pts = std::vector<model::MetricPoint>{};
  if (!max_text.empty()) {
    // A chart's series: at most max_points per key (the extremes of equal slices).
    auto max_points = ParseCount(max_text);
    if (!max_points || *max_points < 2 || *max_points > 100000) {
      return Bad("'max_points' must be a whole number from 2 to 100000, got '" + max_text + "'");
    }
    std::vector<std::string> keys;
    if (!key.empty()) {
      keys.push_back(key);
    } else {
      auto sums = d.store->MetricSummaries(id);
      if (!sums.ok()) return Error(sums.status());
      for (auto& s : *sums) keys.push_back(s.key);
    }
    for (const auto& k : keys) {
      int64_t total = 0;
      auto series = d.store->GetMetricSeries(id, k, static_cast<int64_t>(*max_points), &total);
      if (!series.ok()) return Error(series.status());
      if (total > static_cast<int64_t>(series->size())) {
        downsampled[k] = {{"points", total}, {"returned", series->size()}};
      }
      pts->insert(pts->end(), series->begin(), series->end());
    }
  } else {
    pts = d.store->GetMetrics(id, key);
  }
  if (!pts.ok()) return Error(pts.status());
  json metrics = json::object();
  for (auto& p : *pts) metrics[p.key].push_back(MetricPointJson(p));
  json out = {{"metrics", metrics}};
  if (!downsampled.empty()) out["downsampled"] = downsampled;
  return Json(200, out);
}

}  // namespace ferry::server
