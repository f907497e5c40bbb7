// The access log's lines (text or JSON members) and how it names the caller.
#include "server/access_log.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/utf8.h"
#include "server/api.h"
#include "server/auth.h"
#include "server/metrics.h"

namespace ferry::server {

std::string AccessLog::CallerName(const net::HttpRequest& req) const {
  if (req.Header("authorization").empty()) return "anonymous";
  static const UserDirectory kNoUsers(nullptr);
  auto caller = IdentifyCaller(req, d_.workspace_token, d_.users ? *d_.users : kNoUsers);
  if (!caller.ok()) return "anonymous";
  if (caller->kind == Caller::Kind::kWorkspace) return "workspace";
  if (caller->kind == Caller::Kind::kUser) return caller->name;
  // A run's agent: the run is in the path (/api/v1/runs/<id>/...).
  constexpr std::string_view kRuns = "/api/v1/runs/";
  std::string_view path = req.path;
  if (path.substr(0, kRuns.size()) == kRuns) {
    std::string_view rest = path.substr(kRuns.size());
    std::string run(rest.substr(0, rest.find('/')));
    if (!run.empty() && ConstantTimeEquals(caller->token, RunToken(d_.run_secret, run)))
      return "agent:" + run;
  }
  return "token";
}

void AccessLog::Record(const net::RequestRecord& r) const {
  if (!d_.logger || !d_.logger->should_log(spdlog::level::info)) return;
  const net::HttpRequest& req = r.request;
  const double ms = std::chrono::duration<double, std::milli>(r.duration).count();
  const std::string caller = CallerName(req);
  const std::string_view route = d_.routes ? d_.routes->RouteOf(req.method, req.path) : "";
  std::string line;
  if (d_.json) {
    auto field = [&line](std::string_view key, std::string_view value) {
      if (!line.empty()) line += ',';
      line += '"';
      line += key;
      line += "\":\"";
      AppendJsonString(&line, value);
      line += '"';
    };
    field("method", req.method);
    field("path", req.path);
    line += ",\"status\":" + std::to_string(r.status);
    line += ",\"bytes\":" + std::to_string(r.bytes);
    line += fmt::format(",\"duration_ms\":{:.3f}", ms);
    field("route", route);
    field("caller", caller);
    field("remote", req.remote_address);
  } else {
    line = fmt::format("{} {} {} {}B {:.3f}ms route={} caller={} remote={}",
                       EscapeBytes(req.method), EscapeBytes(req.path), r.status, r.bytes, ms, route,
                       EscapeBytes(caller), req.remote_address);
  }
  d_.logger->log(spdlog::level::info, spdlog::string_view_t(line.data(), line.size()));
}

}  // namespace ferry::server
