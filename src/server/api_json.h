// JSON views shared by the REST handlers (api.cc) and the Studio's event streams (studio.cc).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"
#include "model/run.h"
#include "server/api.h"

namespace ferry::server {

// A metric value: a number, or "nan", "inf", "-inf".
nlohmann::json MetricValue(double v);
// The run as GET /api/v1/runs/{id}/... lists it.
nlohmann::json RunToJson(const model::Run& r);
// GET /api/v1/runs/{id}: the run with queue_reason, params and metric summaries.
Result<nlohmann::json> RunDetailJson(const ApiDeps& d, const std::string& id);

}  // namespace ferry::server
