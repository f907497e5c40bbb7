// REST handlers of registered environments: /environments, /environments/{name}[/{version}].
#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "server/api_internal.h"

namespace ferry::server {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

namespace {

json EnvironmentJson(const model::RegisteredEnvironment& e, bool with_content) {
  json j = {{"name", e.name}, {"version", e.version},         {"type", e.type},
            {"hash", e.hash}, {"description", e.description}, {"created_at", e.created_at}};
  if (with_content) j["content"] = e.content;
  return j;
}

}  // namespace

HandlerResult Api::Impl::ListEnvironments() {
  auto list = d.store->ListEnvironments("");
  if (!list.ok()) return Error(list.status());
  json arr = json::array();
  for (auto& e : *list) arr.push_back(EnvironmentJson(e, false));
  return Json(200, {{"environments", arr}});
}

HandlerResult Api::Impl::RegisterEnvironment() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  model::RegisteredEnvironment e;
  for (auto [f, required, out] : {std::tuple{"name", true, &e.name},
                                  {"type", true, &e.type},
                                  {"content", true, &e.content},
                                  {"description", false, &e.description}}) {
    auto v = StringField(*body, f, required);
    if (!v.ok()) return Error(v.status());
    *out = *v;
  }
  Status valid = model::ValidateEnvironmentName(e.name);
  if (!valid.ok()) return Error(valid);
  if (e.type != "pip" && e.type != "conda")
    return Bad("field 'type' must be one of: pip, conda (got '" + e.type + "')");
  if (e.content.size() > (1u << 20)) return Bad("field 'content' is larger than 1 MiB");
  e.hash = Sha256Hex(e.type + "\n" + e.content);
  bool created = false;
  auto stored = d.store->RegisterEnvironment(e, d.clock->Now(), &created);
  if (!stored.ok()) return Error(stored.status());
  json j = EnvironmentJson(*stored, false);
  j["created"] = created;
  return Json(created ? 201 : 200, j);
}

HandlerResult Api::Impl::EnvironmentVersions() {
  auto list = d.store->ListEnvironments(P(0));
  if (!list.ok()) return Error(list.status());
  if (list->empty()) return Error(Status::NotFound("environment '" + P(0) + "' is not registered"));
  json arr = json::array();
  for (auto& e : *list) arr.push_back(EnvironmentJson(e, false));
  return Json(200, {{"name", P(0)}, {"versions", arr}});
}

HandlerResult Api::Impl::GetEnvironment() {
  int64_t version = 0;
  if (P(1) != "latest") {
    auto v = ParseCount(P(1));
    if (!v || *v < 1)
      return Bad("environment version must be a positive integer or 'latest', got '" + P(1) + "'");
    version = static_cast<int64_t>(*v);
  }
  auto e = d.store->GetEnvironment(P(0), version);
  if (!e.ok()) return Error(e.status());
  return Json(200, EnvironmentJson(*e, true));
}

}  // namespace ferry::server
