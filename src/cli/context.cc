// CLI context: server discovery and auto-start.
#include "cli/context.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/term.h"
#include "common/backoff.h"
#include "common/fs.h"
#include "common/home.h"
#include "common/subprocess.h"
#include "common/utf8.h"
#include "net/http_client.h"

namespace ferry::cli {

// FERRY_TOKEN (a named user's token, from 'ferry user add') wins over the workspace token.
static Result<std::string> ClientToken(const std::string& home) {
  if (const char* t = std::getenv("FERRY_TOKEN"); t && *t) return std::string(t);
  return ReadSecretFile(HomePath(home, "token"));
}

using nlohmann::json;

Context::Context() : home(DefaultHome()) {}
Context::~Context() = default;

namespace {

Result<std::unique_ptr<net::HttpClient>> TryServer(const std::string& home) {
  auto info = ReadServerInfo(home);
  if (!info.ok()) return info.status();
  auto token = ClientToken(home);
  if (!token.ok()) return token.status();
  auto c = net::HttpClient::Create(info->url, *token);
  if (!c.ok()) return c.status();
  auto health = (*c)->Request("GET", "/api/v1/health", "", "application/json", 2000);
  if (!health.ok()) return health.status();
  if (health->status != 200)
    return Status::Unavailable("server at " + info->url + " is not healthy");
  return c;
}

}  // namespace

Status Context::StartServer() {
  FERRY_RETURN_IF_ERROR(MakeDirs(home));
  std::string log_path = HomePath(home, "server.log");
  UniqueFd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log.valid()) return ErrnoStatus("cannot open", log_path, errno);
  SpawnOptions so;
  so.argv = {JoinPath(ExecutableDir(), "ferry"), "--home", home, "server", "--port", "0"};
  so.stdout_fd = log.get();
  so.stderr_fd = log.get();
  FERRY_ASSIGN_OR_RETURN(pid_t pid, SpawnDetached(so));
  // Wait for it (or for another CLI's server that won the race) to answer.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  Backoff backoff({.initial = std::chrono::milliseconds(2), .max = std::chrono::milliseconds(100)});
  while (std::chrono::steady_clock::now() < deadline) {
    auto c = TryServer(home);
    if (c.ok()) {
      client_ = std::move(c).value();
      return Status::Ok();
    }
    if (!ProcessAlive(pid, 0)) {
      // Our server exited. If another one holds the workspace, wait for it; else give up now.
      auto log_text = ReadFile(log_path);
      if (!log_text.ok() || log_text->find("already running") == std::string::npos) break;
    }
    std::this_thread::sleep_for(backoff.Next());
  }
  auto tail = ReadFile(log_path);
  return Status::Unavailable(
      "the workspace server did not start; see " + log_path +
      (tail.ok() && !tail->empty()
           ? ":\n" + tail->substr(tail->size() > 2000 ? tail->size() - 2000 : 0)
           : ""));
}

Status Context::Connect() {
  if (client_) return Status::Ok();
  auto c = TryServer(home);
  if (c.ok()) {
    client_ = std::move(c).value();
    return Status::Ok();
  }
  return StartServer();
}

Result<std::unique_ptr<net::HttpClient>> Context::NewClient() {
  FERRY_RETURN_IF_ERROR(Connect());
  FERRY_ASSIGN_OR_RETURN(std::string token, ClientToken(home));
  return net::HttpClient::Create(client_->base_url(), token);
}

Status Context::Reconnect() {
  client_.reset();
  return Connect();
}

Result<net::HttpResponse> Context::Raw(const std::string& method, const std::string& path,
                                       const std::string& body, int timeout_ms) {
  FERRY_RETURN_IF_ERROR(Connect());
  return client_->Request(method, path, body, "application/json", timeout_ms);
}

Result<uint64_t> Context::Download(const std::string& path, const std::string& dest,
                                   const std::string& sha256, int64_t size, int mode) {
  FERRY_RETURN_IF_ERROR(Connect());
  return net::DownloadToFile(*client_, path, {}, dest, sha256, size, mode);
}

Result<json> Context::Call(const std::string& method, const std::string& path,
                           const std::string& body, const std::string& content_type) {
  FERRY_RETURN_IF_ERROR(Connect());
  FERRY_ASSIGN_OR_RETURN(net::HttpResponse r,
                         client_->Request(method, path, body, content_type, 300000));
  if (r.status < 200 || r.status >= 300) return net::StatusFromResponse(r);
  json j = json::parse(r.body, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

int ReportError(const Status& st) {
  std::fprintf(stderr, "%s%s\n", ErrorPrefix().c_str(), st.message().c_str());
  return kExitFailed;
}

int ReportUsageError(const Status& st) {
  std::fprintf(stderr, "%s%s\n", ErrorPrefix().c_str(), st.message().c_str());
  return kExitUsage;
}

Status CheckUtf8(const std::string& what, const std::string& value) {
  std::string why = DescribeInvalidUtf8(value);
  if (why.empty()) return Status::Ok();
  return Status::InvalidArgument(
      what + ": value '" + EscapeBytes(value) + "' is not valid UTF-8 (" + why +
      "); Ferry sends it to the server as JSON text, which must be UTF-8");
}

void PrintJson(const json& j) {
  std::printf("%s\n", j.dump(2, ' ', false, json::error_handler_t::replace).c_str());
}

Result<std::map<std::string, std::string>> ParseKeyValues(const std::string& option,
                                                          const std::string& form,
                                                          const std::vector<std::string>& given,
                                                          bool empty_value_ok) {
  std::map<std::string, std::string> out;
  for (const auto& g : given) {
    auto eq = g.find('=');
    if (eq == std::string::npos || eq == 0 || (!empty_value_ok && eq + 1 == g.size())) {
      return Status::InvalidArgument(option + " '" + EscapeBytes(g) + "': expected " + form);
    }
    out[g.substr(0, eq)] = g.substr(eq + 1);
  }
  return out;
}

std::string FormatTime(double t) {
  if (t <= 0) return "-";
  time_t s = static_cast<time_t>(t);
  struct tm tm;
  ::localtime_r(&s, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string ScalarText(const nlohmann::json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", v.get<double>());
    return buf;
  }
  return v.dump();
}

}  // namespace ferry::cli
