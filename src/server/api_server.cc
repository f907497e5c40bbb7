// REST handlers of the server itself: health, the OpenAPI document, shutdown, the workspace event
// stream, and the run-configuration parser the SDK uses.
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/version.h"
#include "runconfig/runconfig.h"
#include "server/api_internal.h"
#include "server/openapi.h"
#include "server/studio.h"

namespace ferry::server {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

HandlerResult Api::Impl::Health() {
  return Json(200, {{"status", "ok"},
                    {"version", std::string(Version())},
                    {"pid", static_cast<int>(::getpid())}});
}

HandlerResult Api::Impl::OpenApiDocument() { return OpenApiResponse(); }

HandlerResult Api::Impl::Shutdown() {
  if (d.shutdown) d.shutdown();
  return Json(202, {{"status", "stopping"}});
}

HandlerResult Api::Impl::WorkspaceStream() { return WorkspaceEventStream(d); }

// The SDK's RunConfiguration.load: a run configuration file parsed by the same code as the
// CLI's (errors name file:line:column and the field), returned with the file's field names.
HandlerResult Api::Impl::ParseRunConfigFile() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto text = StringField(*body, "text", true);
  if (!text.ok()) return Error(text.status());
  auto name = StringField(*body, "name", false);
  if (!name.ok()) return Error(name.status());
  auto loaded = runconfig::ParseRunConfig(*text, name->empty() ? "run configuration" : *name);
  if (!loaded.ok()) return Error(loaded.status());
  return Json(200, {{"config", json::parse(runconfig::RunConfigToJson(loaded->config))},
                    {"unused_fields", loaded->unused_fields}});
}

}  // namespace ferry::server
