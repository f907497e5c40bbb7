// HttpServer implementation: Beast + Asio coroutines (Boost 1.74 needs <utility> first).
#include "net/http_server.h"

#include <sys/socket.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <limits>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/byte_source.h"
#include "common/mutex.h"

namespace ferry::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;

// A long poll parked on a channel. Lives in the session coroutine's frame.
struct Waiter {
  std::shared_ptr<asio::steady_timer> timer;  // shared: a posted cancel may outlive the wait
  // Set by Notify on any thread while the session's coroutine reads it: atomic.
  std::atomic<bool> notified{false};
};

// An io_context whose pending handlers can be destroyed on demand. The server's contexts hold
// handlers that refer to each other's executors (a session on an I/O strand awaits a handler
// on a worker pool, which resumes it there; a write started from a worker completes on it), so
// they are all shut down, destroying those handlers, before any of them is destroyed.
class Context : public asio::io_context {
 public:
  void Shutdown() { shutdown(); }
};

// Worker threads running one io_context. After a handler, one thread (at most one at a time)
// keeps polling for the next for a moment before it sleeps: waking a sleeping thread costs
// tens to hundreds of microseconds (more on a virtual machine), which a request arriving
// within the moment does not pay. The others sleep at once.
class WorkerPool {
 public:
  static constexpr auto kSpin = std::chrono::microseconds(200);

  explicit WorkerPool(int threads) : guard_(asio::make_work_guard(ctx_)) {
    for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~WorkerPool() { Stop(); }
  asio::io_context& context() { return ctx_; }
  void Shutdown() { ctx_.Shutdown(); }
  void Stop() {
    guard_.reset();
    ctx_.stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void Loop() {
    while (!ctx_.stopped()) {
      bool expected = false;
      if (spinning_.compare_exchange_strong(expected, true)) {
        auto until = std::chrono::steady_clock::now() + kSpin;
        while (!ctx_.stopped()) {
          if (ctx_.poll_one() > 0) {
            until = std::chrono::steady_clock::now() + kSpin;
          } else if (std::chrono::steady_clock::now() >= until) {
            break;
          }
        }
        spinning_ = false;
      }
      ctx_.run_one();
    }
  }

  Context ctx_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::atomic<bool> spinning_{false};
  std::vector<std::thread> threads_;
};

// After refusing a request whose body is still coming, read and drop what arrives for at
// most this long (a "lingering close"), so that the client sees the answer rather than a
// reset; the bytes are never kept.
constexpr auto kLingerTime = std::chrono::seconds(5);
// Pieces of a streamed body handed to its sink.
constexpr size_t kSinkPiece = 256 << 10;
using Clock = std::chrono::steady_clock;

class ServerImpl final : public HttpServer {
 public:
  explicit ServerImpl(HttpServerOptions o)
      : options_(std::move(o)), workers_(options_.workers), bulk_(options_.bulk_workers) {}

  ~ServerImpl() override {
    Stop();
    workers_.Shutdown();
    bulk_.Shutdown();
    ioc_.Shutdown();
  }

  Status Listen() {
    FERRY_ASSIGN_OR_RETURN(port_, Open(options_.bind_address, options_.port));
    for (int i = 0; i < std::max(1, options_.threads); ++i) {
      threads_.emplace_back([this] { ioc_.run(); });
    }
    return Status::Ok();
  }

  int port() const override { return port_; }

  Result<int> AddListener(const std::string& address, int port) override {
    if (stopped_) return Status::Unavailable("the server is stopping");
    return Open(address, port);
  }

  void Notify(const std::string& channel) override {
    MutexLock lock(&mu_);
    auto it = waiters_.find(channel);
    if (it == waiters_.end()) return;
    for (Waiter* w : it->second) {
      w->notified = true;
      auto t = w->timer;
      asio::post(t->get_executor(), [t] { t->cancel(); });
    }
  }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    {
      // Every open connection ends now (its socket is closed when its session goes away);
      // shutdown(2) is safe from here whatever the session is doing.
      MutexLock lock(&sessions_mu_);
      for (int fd : session_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    asio::post(ioc_, [this] {
      MutexLock lock(&acceptors_mu_);
      for (auto& a : acceptors_) {
        beast::error_code ec;
        a->close(ec);
      }
    });
    ioc_.stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    workers_.Stop();
    bulk_.Stop();
  }

 private:
  // Binds, listens and starts accepting on one more address; returns its port.
  Result<int> Open(const std::string& address, int port) {
    beast::error_code ec;
    auto addr = asio::ip::make_address(address, ec);
    if (ec) return Status::InvalidArgument("bad bind address '" + address + "': " + ec.message());
    tcp::endpoint ep(addr, static_cast<unsigned short>(port));
    auto acceptor = std::make_shared<tcp::acceptor>(ioc_);
    acceptor->open(ep.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(ep, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return Status::Unavailable("cannot listen on " + address + ":" + std::to_string(port) + ": " +
                                 ec.message());
    int bound = acceptor->local_endpoint().port();
    {
      MutexLock lock(&acceptors_mu_);
      acceptors_.push_back(acceptor);
    }
    asio::co_spawn(ioc_, Accept(acceptor), asio::detached);
    return bound;
  }

  awaitable<void> Accept(std::shared_ptr<tcp::acceptor> acceptor) {
    for (;;) {
      beast::error_code ec;
      tcp::socket sock = co_await acceptor->async_accept(asio::make_strand(ioc_),
                                                         asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || stopped_) co_return;
        continue;
      }
      auto executor = sock.get_executor();  // before the move (arguments are unordered)
      asio::co_spawn(executor, Session(std::move(sock)), asio::detached);
    }
  }

  void Register(const std::string& ch, Waiter* w) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    waiters_[ch].insert(w);
  }
  void Unregister(const std::string& ch, Waiter* w) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    auto it = waiters_.find(ch);
    if (it == waiters_.end()) return;
    it->second.erase(w);
    if (it->second.empty()) waiters_.erase(it);
  }

  template <class Message>
  static HttpRequest ToRequest(const Message& req, const std::string& remote) {
    HttpRequest r;
    r.method = std::string(req.method_string());
    std::string_view target(req.target().data(), req.target().size());
    auto q = target.find('?');
    r.path = UrlDecode(target.substr(0, q), false);
    if (q != std::string_view::npos) r.query = ParseQuery(target.substr(q + 1));
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string(f.value());
    }
    r.remote_address = remote;
    return r;
  }

  static HttpResponse ErrorResponse(int status, const std::string& msg) {
    HttpResponse r;
    r.status = status;
    std::string esc;
    for (char c : msg) {
      if (c == '"' || c == '\\') esc.push_back('\\');
      if (static_cast<unsigned char>(c) < 0x20) continue;
      esc.push_back(c);
    }
    const char* code = status == 413   ? "PayloadTooLarge"
                       : status >= 500 ? "Internal"
                                       : "BadRequest";
    r.body = "{\"error\":{\"code\":\"" + std::string(code) + "\",\"message\":\"" + esc + "\"}}";
    return r;
  }

  // Runs f on the lane's pool (or right here for kInline) and resumes this coroutine on its
  // own executor with the result. Exceptions from f are rethrown here.
  template <typename F>
  awaitable<std::invoke_result_t<F&>> OnLane(Lane lane, F f) {
    using R = std::invoke_result_t<F&>;
    if (lane == Lane::kInline) co_return f();
    asio::io_context& pool = (lane == Lane::kBulk ? bulk_ : workers_).context();
    co_return co_await asio::co_spawn(
        pool, [&f]() -> awaitable<R> { co_return f(); }, use_awaitable);
  }

  static HttpResponse TooLarge(uint64_t limit) {
    return ErrorResponse(413, "the request body is larger than this endpoint takes (" +
                                  std::to_string(limit) + " bytes); send less per request");
  }

  // Answers a refused request and closes. When its body may still be on the way, the
  // rest is read and dropped for a bounded time first, so the client gets the answer.
  awaitable<void> Refuse(beast::tcp_stream& stream, beast::flat_buffer& buffer, HttpResponse r,
                         unsigned version, bool body_pending, const HttpRequest& req,
                         Clock::time_point started) {
    if (r.body_source) {  // not read on an I/O thread: the request is being refused anyway
      r = ErrorResponse(500,
                        "internal error: a streamed answer to a request whose body was "
                        "not read; send the request again");
    }
    const int status = r.status;
    const uint64_t bytes = r.body.size();
    co_await Write(stream, r, version, false);
    Observed(req, status, bytes, started);
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (!body_pending) co_return;
    buffer.clear();
    buffer.shrink_to_fit();
    std::vector<char> sink(64 << 10);
    const auto until = std::chrono::steady_clock::now() + kLingerTime;
    while (std::chrono::steady_clock::now() < until) {
      stream.expires_at(until);
      co_await stream.async_read_some(asio::buffer(sink), asio::redirect_error(use_awaitable, ec));
      if (ec) break;
    }
  }

  // Keeps a session's socket in session_fds_ for as long as the session lives.
  struct SessionFd {
    SessionFd(ServerImpl* s, int fd) : server(s), fd(fd) {
      MutexLock lock(&s->sessions_mu_);
      s->session_fds_.insert(fd);
    }
    ~SessionFd() {
      MutexLock lock(&server->sessions_mu_);
      server->session_fds_.erase(fd);
    }
    ServerImpl* server;
    int fd;
  };

  awaitable<void> Session(tcp::socket sock) {
    beast::tcp_stream stream(std::move(sock));
    SessionFd registered(this, stream.socket().native_handle());
    // Beast reads at most the buffer's free space (and at least 512 bytes); a streamed
    // upload gets more room below.
    beast::flat_buffer buffer;
    buffer.reserve(16 << 10);
    std::string remote;
    {
      beast::error_code ec;
      auto ep = stream.socket().remote_endpoint(ec);
      if (!ec) remote = ep.address().to_string();
    }
    for (;;) {
      http::request_parser<http::empty_body> head;
      head.header_limit(64 * 1024);
      head.body_limit(std::numeric_limits<std::uint64_t>::max());  // admission decides
      stream.expires_after(std::chrono::minutes(10));
      beast::error_code ec;
      co_await http::async_read_header(stream, buffer, head,
                                       asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (ec != http::error::end_of_stream && ec != asio::error::eof &&
            ec != beast::error::timeout && ec != asio::error::connection_reset &&
            ec != asio::error::operation_aborted) {
          HttpResponse bad = ErrorResponse(400, "malformed HTTP request: " + ec.message());
          co_await Write(stream, bad, 11, false);
        }
        break;
      }
      const auto started = Clock::now();
      const auto& h = head.get();
      const bool keep_alive = h.keep_alive();
      const unsigned version = h.version();
      const bool has_body = head.chunked() || head.content_length().value_or(0) > 0;
      HttpRequest hreq = ToRequest(h, remote);
      Admission adm;
      adm.max_body_bytes = options_.max_body_bytes;
      if (h.count(http::field::authorization) > 1) {
        adm.reject = ErrorResponse(
            400, "the request has more than one Authorization header; send exactly one");
      } else if (options_.admit) {
        try {
          adm = options_.admit(hreq);
        } catch (const std::exception& e) {
          adm.reject = ErrorResponse(500, std::string("internal error: ") + e.what());
        }
      }
      if (!adm.reject && head.content_length() && *head.content_length() > adm.max_body_bytes) {
        adm.reject = TooLarge(adm.max_body_bytes);
      }
      if (adm.reject) {
        co_await Refuse(stream, buffer, std::move(*adm.reject), version, has_body, hreq, started);
        co_return;
      }
      if (has_body && beast::iequals(h[http::field::expect], "100-continue")) {
        http::response<http::empty_body> cont{http::status::continue_, version};
        co_await http::async_write(stream, cont, asio::redirect_error(use_awaitable, ec));
        if (ec) break;
      }
      bool read_whole_body = true;
      if (adm.sink) {
        auto result = co_await ReadIntoSink(stream, buffer, head, adm);
        if (result == SinkRead::kBroken) break;
        if (result == SinkRead::kTooLarge) {
          co_await Refuse(stream, buffer, TooLarge(adm.max_body_bytes), version, true, hreq,
                          started);
          co_return;
        }
        read_whole_body = result == SinkRead::kDone;
      } else {
        http::request_parser<http::string_body> full{std::move(head)};
        full.body_limit(adm.max_body_bytes);
        co_await http::async_read(stream, buffer, full, asio::redirect_error(use_awaitable, ec));
        if (ec == http::error::body_limit) {
          co_await Refuse(stream, buffer, TooLarge(adm.max_body_bytes), version, true, hreq,
                          started);
          co_return;
        }
        if (ec) break;
        hreq.body = std::move(full.get().body());
      }
      // The handler runs on the lane's pool, and a plain answer is written from there too: it
      // leaves as soon as it is ready instead of first being handed back to this I/O thread.
      Outcome outcome =
          co_await Handle(hreq, stream, adm.lane, version, keep_alive && read_whole_body);
      if (outcome.written) {
        if (outcome.write_ok || !outcome.aborted.empty())
          Observed(hreq, outcome.status, outcome.bytes, started, outcome.aborted);
        if (!outcome.write_ok || !keep_alive) break;
        continue;
      }
      HttpResponse resp;
      std::optional<EventStream> streamed;
      try {
        HandlerResult& hr = *outcome.pending;
        if (auto* r = std::get_if<HttpResponse>(&hr)) {
          resp = std::move(*r);
        } else if (auto* es = std::get_if<EventStream>(&hr)) {
          streamed = std::move(*es);
        } else {
          resp = co_await WaitLongPoll(std::get<LongPoll>(hr), stream, adm.lane);
        }
      } catch (const std::exception& e) {
        resp = ErrorResponse(500, std::string("internal error: ") + e.what());
      }
      if (streamed) {
        const uint64_t sent = co_await ServeStream(*streamed, stream, version, adm.lane);
        Observed(hreq, 200, sent, started);
        break;
      }
      if (!read_whole_body) {  // the rest of the body is still coming: answer, drain, close
        co_await Refuse(stream, buffer, std::move(resp), version, true, hreq, started);
        co_return;
      }
      if (resp.body_source) {
        Sent sent = co_await SendSourceOnLane(stream, resp, version, keep_alive, adm.lane);
        if (sent.ok || !sent.aborted.empty())
          Observed(hreq, resp.status, sent.bytes, started, sent.aborted);
        if (!sent.ok || !keep_alive) break;
        continue;
      }
      const int status = resp.status;
      const uint64_t bytes = resp.body.size();
      bool ok = co_await Write(stream, resp, version, keep_alive);
      if (ok) Observed(hreq, status, bytes, started);
      if (!ok || !keep_alive) break;
    }
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  struct Outcome {
    std::optional<HandlerResult> pending;  // not answered yet (a long poll, a stream, a refusal)
    bool written = false;
    bool write_ok = false;
    int status = 0;       // written: the response's
    uint64_t bytes = 0;   // written: its body's bytes sent
    std::string aborted;  // written: a streamed body cut short after its head went out: why
  };

  void Observed(const HttpRequest& req, int status, uint64_t bytes, Clock::time_point started,
                std::string aborted = {}) {
    if (!options_.observe) return;
    try {
      options_.observe(
          RequestRecord{req, status, bytes, Clock::now() - started, std::move(aborted)});
    } catch (const std::exception&) {
      // An observer's failure (e.g. a log write) never takes a connection down.
    }
  }

  // Runs the handler on the lane's pool; when it answers with a plain response and `write`,
  // writes it from there. Exceptions become a 500.
  awaitable<Outcome> Handle(HttpRequest& hreq, beast::tcp_stream& stream, Lane lane,
                            unsigned version, bool write) {
    auto run = [&]() -> HandlerResult {
      try {
        return options_.handler(hreq);
      } catch (const std::exception& e) {
        return ErrorResponse(500, std::string("internal error: ") + e.what());
      }
    };
    if (lane == Lane::kInline) co_return Outcome{run(), false, false, 0, 0, {}};
    asio::io_context& pool = (lane == Lane::kBulk ? bulk_ : workers_).context();
    co_return co_await asio::co_spawn(
        pool,
        [&]() -> awaitable<Outcome> {
          HandlerResult hr = run();
          if (auto* r = std::get_if<HttpResponse>(&hr); r && write && r->body_source) {
            Sent sent = co_await SendSource(stream, *r, version, true);
            co_return Outcome{std::nullopt, true,       sent.ok,
                              r->status,    sent.bytes, std::move(sent.aborted)};
          }
          if (auto* r = std::get_if<HttpResponse>(&hr); r && write) {
            const int status = r->status;
            const uint64_t bytes = r->body.size();
            const bool ok = co_await Write(stream, *r, version, true);
            co_return Outcome{std::nullopt, true, ok, status, bytes, {}};
          }
          co_return Outcome{std::move(hr), false, false, 0, 0, {}};
        },
        use_awaitable);
  }

  enum class SinkRead { kDone, kSinkFailed, kTooLarge, kBroken };

  // Reads the body in pieces into adm.sink (on the lane's pool). kSinkFailed: the sink
  // refused a piece and the rest was left unread.
  awaitable<SinkRead> ReadIntoSink(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                   http::request_parser<http::empty_body>& head,
                                   const Admission& adm) {
    http::request_parser<http::buffer_body> p{std::move(head)};
    p.body_limit(adm.max_body_bytes);
    buffer.reserve(1 << 20);  // read large pieces off the socket
    std::vector<char> piece(kSinkPiece);
    while (!p.is_done()) {
      p.get().body().data = piece.data();
      p.get().body().size = piece.size();
      beast::error_code ec;
      stream.expires_after(std::chrono::minutes(10));
      co_await http::async_read(stream, buffer, p, asio::redirect_error(use_awaitable, ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec == http::error::body_limit) co_return SinkRead::kTooLarge;
      if (ec) co_return SinkRead::kBroken;
      const size_t n = piece.size() - p.get().body().size;
      if (n == 0) continue;
      Status st = co_await OnLane(
          adm.lane, [&] { return adm.sink->Write(std::string_view(piece.data(), n)); });
      if (!st.ok()) co_return SinkRead::kSinkFailed;
    }
    if (buffer.capacity() > (64u << 10)) buffer.shrink_to_fit();
    co_return SinkRead::kDone;
  }

  awaitable<HttpResponse> WaitLongPoll(LongPoll lp, beast::tcp_stream& stream, Lane lane) {
    auto timer = std::make_shared<asio::steady_timer>(stream.get_executor());
    Waiter w{timer};
    for (;;) {
      w.notified = false;
      Register(lp.channel, &w);
      std::optional<HttpResponse> r = co_await OnLane(lane, [&] { return lp.poll(false); });
      if (r) {
        Unregister(lp.channel, &w);
        co_return std::move(*r);
      }
      if (std::chrono::steady_clock::now() >= lp.deadline || stopped_) {
        Unregister(lp.channel, &w);
        r = co_await OnLane(lane, [&] { return lp.poll(true); });
        co_return r ? std::move(*r) : ErrorResponse(500, "long poll produced no response");
      }
      if (!w.notified) {
        timer->expires_at(lp.deadline);
        beast::error_code ec;
        co_await timer->async_wait(asio::redirect_error(use_awaitable, ec));
      }
      Unregister(lp.channel, &w);
    }
  }

  // Chunked transfer of an event stream; returns when it is done, the client is gone or the
  // server stops, with the bytes of events sent. poll() runs on the request's lane, like a
  // long poll's.
  awaitable<uint64_t> ServeStream(EventStream es, beast::tcp_stream& stream, unsigned version,
                                  Lane lane) {
    http::response<http::empty_body> res{http::status::ok, version};
    res.set(http::field::server, "ferry");
    res.set(http::field::content_type, "text/event-stream; charset=utf-8");
    res.set(http::field::cache_control, "no-cache");
    for (auto& [k, v] : es.headers) res.set(k, v);
    res.keep_alive(false);
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    beast::error_code ec;
    stream.expires_after(std::chrono::minutes(1));
    co_await http::async_write_header(stream, sr, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return 0;
    uint64_t total = 0;
    auto timer = std::make_shared<asio::steady_timer>(stream.get_executor());
    Waiter w{timer};
    auto send = [&](std::string text) -> awaitable<bool> {
      total += text.size();
      beast::error_code wec;
      stream.expires_after(std::chrono::minutes(1));
      co_await asio::async_write(stream, http::make_chunk(asio::buffer(text)),
                                 asio::redirect_error(use_awaitable, wec));
      co_return !wec;
    };
    bool alive = true;
    while (alive && !stopped_) {
      w.notified = false;
      for (auto& ch : es.channels) Register(ch, &w);
      bool done = false;
      std::string chunk;
      try {
        chunk = co_await OnLane(lane, [&] { return es.poll(&done); });
      } catch (const std::exception&) {
        chunk = "event: error\ndata: {\"message\":\"internal error\"}\n\n";
        done = true;
      }
      const bool sent = !chunk.empty();
      if (sent && !co_await send(std::move(chunk))) alive = false;
      if (done || !alive) {
        for (auto& ch : es.channels) Unregister(ch, &w);
        break;
      }
      // After a chunk, poll again (after min_interval) before waiting: there may be more.
      if (!w.notified && !sent) {
        timer->expires_after(es.keepalive);
        beast::error_code tec;
        co_await timer->async_wait(asio::redirect_error(use_awaitable, tec));
        if (!w.notified && !co_await send(": keepalive\n\n")) alive = false;
      }
      for (auto& ch : es.channels) Unregister(ch, &w);
      // Coalesce bursts of changes: at most one poll per min_interval.
      timer->expires_after(es.min_interval);
      beast::error_code tec;
      co_await timer->async_wait(asio::redirect_error(use_awaitable, tec));
    }
    if (alive) {
      stream.expires_after(std::chrono::seconds(10));
      co_await asio::async_write(stream, http::make_chunk_last(),
                                 asio::redirect_error(use_awaitable, ec));
    }
    co_return total;
  }

  struct Sent {
    bool ok = false;      // the whole body went out
    uint64_t bytes = 0;   // of the body
    std::string aborted;  // the head went out but not the whole body: why
  };

  // Writes a response whose body comes from r.body_source: the head with Content-Length, then
  // piece after piece, each written before the next is read. Must run on a worker pool (the
  // source may read storage) unless the lane is kInline. A source that fails, ends early or
  // gives too much closes the connection mid-body.
  awaitable<Sent> SendSource(beast::tcp_stream& stream, HttpResponse& r, unsigned version,
                             bool keep_alive) {
    ByteSource& source = *r.body_source;
    const uint64_t size = source.size();
    http::response<http::empty_body> res{static_cast<http::status>(r.status), version};
    res.set(http::field::server, "ferry");
    res.set(http::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) res.set(k, v);
    res.keep_alive(keep_alive);
    res.content_length(size);
    http::response_serializer<http::empty_body> sr{res};
    beast::error_code ec;
    stream.expires_after(std::chrono::minutes(10));
    co_await http::async_write_header(stream, sr, asio::redirect_error(use_awaitable, ec));
    Sent sent;
    if (ec) co_return sent;  // never answered
    std::string piece;
    while (sent.bytes < size) {
      Status st;
      try {
        st = source.Read(&piece);
      } catch (const std::exception& e) {
        st = Status::Internal(std::string("internal error: ") + e.what());
      }
      if (st.ok() && piece.empty()) {
        st = Status::Internal("the body ended after " + std::to_string(sent.bytes) + " of the " +
                              std::to_string(size) + " bytes announced");
      } else if (st.ok() && piece.size() > size - sent.bytes) {
        st = Status::Internal("the body has more than the " + std::to_string(size) +
                              " bytes announced");
      }
      if (!st.ok()) {
        // The client must see a short body, not a whole one: end the connection here.
        stream.socket().shutdown(tcp::socket::shutdown_both, ec);
        sent.aborted = st.ToString();
        co_return sent;
      }
      stream.expires_after(std::chrono::minutes(2));
      co_await asio::async_write(stream, asio::buffer(piece),
                                 asio::redirect_error(use_awaitable, ec));
      if (ec) {
        sent.aborted = "the client went away: " + ec.message();
        co_return sent;
      }
      sent.bytes += piece.size();
    }
    sent.ok = true;
    co_return sent;
  }

  // SendSource from an I/O thread: on the lane's pool.
  awaitable<Sent> SendSourceOnLane(beast::tcp_stream& stream, HttpResponse& r, unsigned version,
                                   bool keep_alive, Lane lane) {
    if (lane == Lane::kInline) co_return co_await SendSource(stream, r, version, keep_alive);
    asio::io_context& pool = (lane == Lane::kBulk ? bulk_ : workers_).context();
    co_return co_await asio::co_spawn(
        pool,
        [&]() -> awaitable<Sent> { co_return co_await SendSource(stream, r, version, keep_alive); },
        use_awaitable);
  }

  awaitable<bool> Write(beast::tcp_stream& stream, HttpResponse& r, unsigned version,
                        bool keep_alive) {
    http::response<http::string_body> res{static_cast<http::status>(r.status), version};
    res.set(http::field::server, "ferry");
    res.set(http::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) res.set(k, v);
    res.keep_alive(keep_alive);
    res.body() = std::move(r.body);
    res.prepare_payload();
    beast::error_code ec;
    stream.expires_after(std::chrono::minutes(10));
    co_await http::async_write(stream, res, asio::redirect_error(use_awaitable, ec));
    co_return !ec;
  }

  HttpServerOptions options_;
  // Declared before the execution contexts: sessions' frames, destroyed with them, unregister
  // here. The pools go before ioc_ (a handler queued in a pool owns the session it resumes).
  Mutex sessions_mu_;
  std::set<int> session_fds_ GUARDED_BY(sessions_mu_);
  Context ioc_;
  WorkerPool workers_;
  WorkerPool bulk_;
  Mutex acceptors_mu_;
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors_ GUARDED_BY(acceptors_mu_);
  int port_ = 0;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopped_{false};
  Mutex mu_;
  std::unordered_map<std::string, std::set<Waiter*>> waiters_ GUARDED_BY(mu_);
};

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options) {
  if (!options.handler) return Status::InvalidArgument("HttpServer needs a handler");
  auto s = std::make_unique<ServerImpl>(std::move(options));
  FERRY_RETURN_IF_ERROR(s->Listen());
  return std::unique_ptr<HttpServer>(std::move(s));
}

}  // namespace ferry::net
