// REST handlers of experiments: GET and POST /experiments.
#include <nlohmann/json.hpp>

#include "server/api_internal.h"

namespace ferry::server {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

HandlerResult Api::Impl::ListExperiments() {
  auto list = d.store->ListExperiments();
  if (!list.ok()) return Error(list.status());
  json arr = json::array();
  for (auto& e : *list) arr.push_back({{"name", e.name}, {"created_at", e.created_at}});
  return Json(200, {{"experiments", arr}});
}

HandlerResult Api::Impl::CreateExperiment() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto name = StringField(*body, "name", true);
  if (!name.ok()) return Error(name.status());
  auto e = d.store->CreateExperiment(*name, d.clock->Now(), user_name);
  if (!e.ok()) return Error(e.status());
  return Json(201, {{"name", e->name}, {"created_at", e->created_at}});
}

}  // namespace ferry::server
