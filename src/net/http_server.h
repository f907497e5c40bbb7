// HttpServer: HTTP/1.1 on Boost.Beast with C++20 coroutines, a fixed pool of I/O threads,
// bounded worker pools for handlers, and long polls that wake on named channels. The Asio
// types stay inside http_server.cc.
//
// Thread model: I/O threads (Options::threads) only read and write sockets and run the
// admission hook, which must be cheap (no storage). Handlers, long-poll and stream polls, body
// sinks and response body sources run on a worker pool chosen per request (Lane): `workers`
// threads for ordinary requests, `bulk_workers` for expensive reads, so that a burst of
// searches cannot delay an agent's writes or a health check. Long polls hold no thread while
// they wait, and neither does a streamed response while its socket drains. Notify() may be
// called from any thread.
//
// A response with a body_source (HttpResponse) goes out with Content-Length: size(); its pieces
// are read one at a time on the request's pool, each written before the next is read (one
// piece in memory, whatever the size). When the source fails (or ends early, or gives more
// than its size) the connection is closed mid-body, so the client sees a body shorter than
// its Content-Length, never a complete wrong one.
//
// Every request goes through admission once its headers are in and before its body is
// read: a request is refused (401, 403, 404, 413...) without its body ever being buffered.
// A request with more than one Authorization header is answered 400. Every answered request
// is reported to the observer (Options::observe), if any, with its status, size and time.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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
// keepalive passed, until it sets *done or the client goes away. A comment line keeps an idle
// connection alive. The connection is closed when the stream ends.
struct EventStream {
  std::vector<std::string> channels;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds min_interval{250};
  std::chrono::milliseconds keepalive{15000};
  std::function<std::string(bool* done)> poll;
};

using HandlerResult = std::variant<HttpResponse, LongPoll, EventStream>;
using Handler = std::function<HandlerResult(HttpRequest&)>;

// Consumes a request body as it arrives (uploads), so that a large body is never held whole.
// Write() gets each piece in order, on the request's worker pool. When it fails, the rest of
// the body is not read and the connection is closed after the response; the handler still
// runs and learns the outcome from the sink it made (e.g. a Finish() of its own).
class BodySink {
 public:
  virtual ~BodySink() = default;
  virtual Status Write(std::string_view piece) = 0;
};

// Which threads run a request's handler.
enum class Lane {
  kInline,   // the I/O thread itself: only for handlers that touch no storage (health), and
             // whose body_source (if any) touches none either
  kDefault,  // the worker pool
  kBulk,     // the bulk pool: searches, listings, downloads
};

// What to do with a request, decided from its method, path and headers alone.
struct Admission {
  std::optional<HttpResponse> reject;  // answer this at once; the body is not read
  uint64_t max_body_bytes = 1 << 20;   // a longer body is answered 413 before it is read
  std::shared_ptr<BodySink> sink;      // stream the body into this instead of req.body
  Lane lane = Lane::kDefault;
};
// Runs on an I/O thread with the request's head (no body); may set req.context.
using Admit = std::function<Admission(HttpRequest& head)>;

// One answered request, for an observer (metrics, the access log). Valid during the call only.
struct RequestRecord {
  const HttpRequest& request;  // the head as admission left it (context set); the body may be gone
  int status = 0;
  uint64_t bytes = 0;  // the response body's bytes sent (an event stream: every chunk's)
  std::chrono::nanoseconds duration{0};  // from the head read to the response written
  // A streamed body that stopped short (the connection was closed): why; else empty.
  std::string aborted;
};
// Called once for every request that got an answer (not for connections that broke before),
// on the thread that answered it: must be thread-safe, cheap, and must not throw.
using Observe = std::function<void(const RequestRecord&)>;

struct HttpServerOptions {
  std::string bind_address = "127.0.0.1";
  int port = 0;          // 0: the OS picks one; see HttpServer::port()
  int threads = 2;       // I/O threads
  int workers = 4;       // Lane::kDefault handlers
  int bulk_workers = 2;  // Lane::kBulk handlers
  Admit admit;           // empty: every request admitted with max_body_bytes
  uint64_t max_body_bytes = 1 << 20;
  Handler handler;
  Observe observe;  // optional
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
