// HttpServer: HTTP/1.1 on Boost.Beast with C++20 coroutines, a fixed pool of I/O threads,
// and long polls that wake on named channels. The Asio types stay inside http_server.cc.
//
// Thread model: handlers run on the server's I/O threads (Options::threads of them) and may
// block briefly (store calls). Long polls hold no thread while they wait. Notify() may be
// called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/status.h"
#include "net/http.h"

namespace ferry::net {

// A response that is not ready yet: poll() is called at once, again after each Notify() on
// channel, and finally with timed_out=true at the deadline, when it must return a response.
struct LongPoll {
  std::string channel;
  std::chrono::steady_clock::time_point deadline;
  std::function<std::optional<HttpResponse>(bool timed_out)> poll;
};

// A streamed response (server-sent events): the headers go out at once, then whatever poll()
// returns, as chunks. poll() runs at once, again min_interval after a chunk (there may be
// more), else when a channel is notified (coalesced: at most once per min_interval) or
// keepalive passed, until it sets *done or the client goes away. A comment line keeps an idle connection alive.
// The connection is closed when the stream ends.
struct EventStream {
  std::vector<std::string> channels;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds min_interval{250};
  std::chrono::milliseconds keepalive{15000};
  std::function<std::string(bool* done)> poll;
};

using HandlerResult = std::variant<HttpResponse, LongPoll, EventStream>;
using Handler = std::function<HandlerResult(HttpRequest&)>;

struct HttpServerOptions {
  std::string bind_address = "127.0.0.1";
  int port = 0;                    // 0: the OS picks one; see HttpServer::port()
  int threads = 4;
  uint64_t max_body_bytes = 1ull << 32;
  Handler handler;
};

class HttpServer {
 public:
  // Binds and listens before returning (so port() is valid), then serves on its threads.
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options);
  virtual ~HttpServer() = default;
  virtual int port() const = 0;
  // Listens on one more address (e.g. the bridge of a managed cluster's nodes), port 0: any;
  // returns the port. Same handler, same rules.
  virtual Result<int> AddListener(const std::string& address, int port) = 0;
  virtual void Notify(const std::string& channel) = 0;
  // Stops accepting and closes connections; returns once the I/O threads have exited.
  virtual void Stop() = 0;
};

}  // namespace ferry::net
