// JSON views of runs, metrics and history shared by the REST handlers and Studio's event
// streams (api_json.h).
#include "server/api_json.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "scheduler/scheduler.h"
#include "store/metadata_store.h"

namespace ferry::server {

using model::RunStatus;
using nlohmann::json;

// Metric values: numbers, or the strings "nan", "inf", "-inf" (as the metrics file writes them).
json MetricValue(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

json RunToJson(const model::Run& r) {
  json j = {{"id", r.id},
            {"experiment", r.experiment},
            {"target", r.target},
            {"status", model::RunStatusName(r.status)},
            {"script", r.script},
            {"arguments", r.arguments},
            {"python", r.python},
            {"snapshot_id", r.snapshot_id},
            {"tags", r.tags},
            {"created_at", r.created_at},
            {"started_at", r.started_at},
            {"ended_at", r.ended_at},
            {"exit_code", r.exit_code ? json(*r.exit_code) : json(nullptr)},
            {"error", r.error},
            {"attempt", r.attempt},
            {"cancel_requested", r.cancel_requested},
            {"gpu_ids", r.gpu_ids},
            {"submitted_by", r.submitted_by},
            {"kind", r.kind},
            {"parent_id", r.parent_id.empty() ? json(nullptr) : json(r.parent_id)},
            {"name", r.name}};
  model::RunOptionsToJson(r.options, &j);
  if (r.git.present) {
    j["git"] = {{"remote_url", r.git.remote_url},
                {"branch", r.git.branch},
                {"commit", r.git.commit},
                {"dirty", r.git.dirty}};
  } else {
    j["git"] = nullptr;
  }
  return j;
}

json MetricSummariesJson(const std::vector<model::MetricSummary>& sums) {
  json m = json::object();
  for (auto& s : sums) {
    m[s.key] = {{"last", MetricValue(s.last)},
                {"min", MetricValue(s.min)},
                {"max", MetricValue(s.max)},
                {"count", s.count},
                {"last_step", s.last_step}};
  }
  return m;
}

json MetricPointJson(const model::MetricPoint& p) {
  json point = {{"step", p.step}, {"value", MetricValue(p.value)}, {"time", p.time}};
  if (int64_t rank = p.seq >> store::MetadataStore::kRankSeqShift;
      rank > 0 && p.seq < store::MetadataStore::kClientSeqBase) {
    point["rank"] = rank;
  }
  return point;
}

json HistoryJson(const std::vector<model::StatusEvent>& events) {
  json arr = json::array();
  for (auto& e : events)
    arr.push_back(
        {{"status", model::RunStatusName(e.status)}, {"time", e.time}, {"reason", e.reason}});
  return arr;
}

json RunDetailJson(const ApiDeps& d, const model::Run& r) {
  json j = RunToJson(r);
  if (r.status == RunStatus::kQueued) j["queue_reason"] = d.scheduler->QueueReason(r.id);
  if (auto params = d.store->Params(r.id); params.ok()) j["params"] = *params;
  if (auto sums = d.store->MetricSummaries(r.id); sums.ok())
    j["metrics"] = MetricSummariesJson(*sums);
  return j;
}

}  // namespace ferry::server
