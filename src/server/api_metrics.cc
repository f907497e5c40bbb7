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

// The JSON text of one non-numeric metric value (a table of a few thousand cells fits).
constexpr size_t kMaxValueBytes = 1 << 20;

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

// {key: [{"type", "value", "step", "time"}...]} of the run's non-numeric values.
Result<json> ValuesJson(const ApiDeps& d, const std::string& id, const std::string& key) {
  FERRY_ASSIGN_OR_RETURN(std::vector<model::RunValue> vals, d.store->GetValues(id, key));
  json values = json::object();
  for (auto& v : vals) {
    json value = json::parse(v.value, nullptr, false);
    if (value.is_discarded()) value = v.value;  // stored as JSON text; never expected
    values[v.key].push_back(
        {{"type", v.type}, {"value", std::move(value)}, {"step", v.step}, {"time", v.time}});
  }
  return values;
}

}  // namespace

HandlerResult Api::Impl::GetValues() {
  auto values = ValuesJson(d, P(0), req.Query("key"));
  if (!values.ok()) return Error(values.status());
  return Json(200, {{"values", std::move(values).value()}});
}

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
  // The non-numeric values (strings, tables, images...), apart: charts read numbers only.
  auto values = ValuesJson(d, id, key);
  if (!values.ok()) return Error(values.status());
  out["values"] = std::move(values).value();
  return Json(200, out);
}

// {"values":[{"q":seq,"k":key,"y":type,"x":value,"s":step,"t":time}...]}: a run's non-numeric
// metric values. From the run's agent "q" numbers each value (the metrics file's line, so a
// resend is ignored); from a person (a run logged from a notebook) "q" is not used and the
// server numbers them. "x" is any JSON value, "y" names its kind; "s" and "t" may be omitted.
HandlerResult Api::Impl::PostValues() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto items = body->find("values");
  if (items == body->end() || !items->is_array())
    return Bad("the body needs 'values': a list of {\"k\":key,\"y\":type,\"x\":value}");
  const bool from_agent = !agent_run.empty();
  std::vector<model::RunValue> values;
  for (const auto& item : *items) {
    const std::string at = "values[" + std::to_string(values.size()) + "]";
    if (!item.is_object()) return Bad(at + " must be an object, got " + Shown(item));
    model::RunValue v;
    auto k = item.find("k");
    if (k == item.end() || !k->is_string()) return Bad(at + " needs 'k', the metric's name");
    v.key = k->get<std::string>();
    if (Status st = model::ValidateKey("metric", v.key); !st.ok()) return Error(st.WithContext(at));
    auto y = item.find("y");
    if (y == item.end() || !y->is_string() || y->get<std::string>().empty() ||
        y->get<std::string>().size() > 64)
      return Bad(at + " ('" + v.key +
                 "') needs 'y', the value's type (a name of 1 to 64 characters)");
    v.type = y->get<std::string>();
    auto x = item.find("x");
    if (x == item.end()) return Bad(at + " ('" + v.key + "') needs 'x', the value");
    v.value = x->dump(-1, ' ', false, json::error_handler_t::replace);
    if (v.value.size() > kMaxValueBytes)
      return Bad(at + " ('" + v.key + "') is " + std::to_string(v.value.size()) +
                 " bytes of JSON; a value may be at most " + std::to_string(kMaxValueBytes) +
                 " (upload larger data as a file)");
    auto q = item.find("q");
    if (from_agent) {
      if (q == item.end() || !q->is_number_integer() || q->get<int64_t>() < 0)
        return Bad(at + " ('" + v.key + "') needs 'q', a sequence number of 0 or more");
      v.seq = q->get<int64_t>();
    }
    auto s = item.find("s");
    v.step = s != item.end() && s->is_number_integer() ? s->get<int64_t>() : 0;
    auto t = item.find("t");
    v.time = t != item.end() && t->is_number() ? t->get<double>() : d.clock->Now();
    values.push_back(std::move(v));
  }
  auto r = RunForWrite(true);
  if (!r.ok()) return WriteRefused(r.status());
  auto n = d.store->AppendValues(r->rid, values, !from_agent);
  if (!n.ok()) return Error(n.status());
  Changed(r->id);
  return Json(
      200,
      {{"stored", *n}, {"received", values.size()}, {"cancel_requested", r->cancel_requested}});
}

}  // namespace ferry::server
