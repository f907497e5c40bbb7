// The access log: one line per answered HTTP request (method, path without its query, status,
// bytes, duration, route, caller, remote address) in the server's log format. The caller is a
// user's name, "workspace", "agent:<run>", "token" (a token that is no one's here) or
// "anonymous"; never a token, and the query (signed links' signatures) is never written.
#pragma once

#include <memory>
#include <string>

#include "net/http_server.h"

namespace spdlog {
class logger;
}

namespace ferry::server {

class HttpMetrics;
class UserDirectory;

struct AccessLogDeps {
  std::shared_ptr<spdlog::logger> logger;  // the "access" component (common/log.h)
  bool json = false;                       // the logger's messages are JSON members
  std::string workspace_token;
  std::string run_secret;
  const UserDirectory* users = nullptr;
  const HttpMetrics* routes = nullptr;  // names the route (may be null)
};

class AccessLog {
 public:
  explicit AccessLog(AccessLogDeps deps) : d_(std::move(deps)) {}
  // The HTTP server's observer; thread-safe.
  void Record(const net::RequestRecord& r) const;
  // Who the request's token is, as the line names it.
  std::string CallerName(const net::HttpRequest& req) const;

 private:
  AccessLogDeps d_;
};

}  // namespace ferry::server
