// CLI context: the workspace home, output format and a connection to the server, started
// in the background when none is running (the embedded default workspace).
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "net/http.h"

namespace CLI {
class App;
}

namespace ferry::net {
class HttpClient;
}

namespace ferry::cli {

// Exit codes of the CLI.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;    // an error, or a waited-for run that Failed
inline constexpr int kExitUsage = 2;     // bad command line
inline constexpr int kExitCanceled = 3;  // a waited-for run was Canceled

class Context {
 public:
  Context();
  ~Context();

  std::string home;
  std::string output = "text";
  std::vector<std::string>
      argv;  // the command line as given (for verbs that must see "--")  // "text" or "json"
  bool json_output() const { return output == "json"; }

  // Connects to the workspace server, starting a local one in the background if needed.
  Status Connect();
  // Drops the connection and connects again (after the server restarted or crashed).
  Status Reconnect();
  // Calls the API; a non-2xx answer becomes a Status carrying the server's message.
  Result<nlohmann::json> Call(const std::string& method, const std::string& path,
                              const std::string& body = "",
                              const std::string& content_type = "application/json");
  // A second connection to the same server (for a sender thread). Connect() first.
  Result<std::unique_ptr<net::HttpClient>> NewClient();
  // Like Call but returns the raw response (for logs and small downloads).
  Result<net::HttpResponse> Raw(const std::string& method, const std::string& path,
                                const std::string& body = "", int timeout_ms = 120000);
  // GETs path into the file dest piece by piece (a file of any size): written beside it and
  // renamed onto it only once checked against sha256 (when given) and size (when >= 0). The
  // server's refusal carries its message; errors name dest. Returns the bytes written.
  Result<uint64_t> Download(const std::string& path, const std::string& dest,
                            const std::string& sha256, int64_t size, int mode = 0644);

 private:
  Status StartServer();
  std::unique_ptr<net::HttpClient> client_;
};

// Prints "ferry: <message>" to stderr and returns kExitFailed.
int ReportError(const Status& st);
// The same for a bad command line: returns kExitUsage.
int ReportUsageError(const Status& st);
// A command-line value that goes to the server as JSON text: InvalidArgument naming it (`what`,
// e.g. "tag 'x'") and where it breaks when it is not valid UTF-8.
Status CheckUtf8(const std::string& what, const std::string& value);
// Repeated "KEY=VALUE" options (--tag, --mount) as a map. `form` is what the error asks for
// ("KEY=VALUE", "TARGET=PATH"); an empty key, or an empty value unless allowed, is refused
// naming the option and the value.
Result<std::map<std::string, std::string>> ParseKeyValues(const std::string& option,
                                                          const std::string& form,
                                                          const std::vector<std::string>& given,
                                                          bool empty_value_ok);
// Prints JSON pretty to stdout.
void PrintJson(const nlohmann::json& j);
std::string FormatTime(double unix_seconds);
// A JSON scalar as a table cell: strings as is, numbers %.6g, null "-".
std::string ScalarText(const nlohmann::json& v);

// One verb group registers its subcommands on the app; the table lives in verbs.cc.
using Register = void (*)(CLI::App& app, Context& ctx, int* exit_code);

}  // namespace ferry::cli
