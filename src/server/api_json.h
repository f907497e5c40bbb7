// JSON views shared by the REST handlers (api.cc) and the Studio's event streams (studio.cc).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/run.h"
#include "server/api.h"

namespace ferry::server {

// A metric value: a number, or "nan", "inf", "-inf".
nlohmann::json MetricValue(double v);
// The run as GET /api/v1/runs/{id}/... lists it.
nlohmann::json RunToJson(const model::Run& r);
// GET /api/v1/runs/{id}: the run with queue_reason, params and metric summaries.
nlohmann::json RunDetailJson(const ApiDeps& d, const model::Run& r);
// Per key: {last, min, max, count, last_step}.
nlohmann::json MetricSummariesJson(const std::vector<model::MetricSummary>& sums);
// One point: {step, value, time[, rank]} (rank: which process of a distributed run; none for 0).
nlohmann::json MetricPointJson(const model::MetricPoint& p);
// GET /api/v1/runs/{id}/history's list: [{status, time, reason}].
nlohmann::json HistoryJson(const std::vector<model::StatusEvent>& events);

}  // namespace ferry::server
