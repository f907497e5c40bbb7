// HttpConnection: synchronous use of async Beast (so every step has a deadline) over one TCP
// connection, bodies streamed in 128 KiB pieces.
#include "data/s3_http.h"

#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <limits>
#include <optional>
#include <vector>

#include "common/fs.h"

namespace ferry::data {

class TlsContext {
 public:
  boost::asio::ssl::context ctx{boost::asio::ssl::context::tls_client};
};

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Body pieces: small enough to stay in a core's L2 cache between recv and pwrite (1 MiB pieces
// halved download throughput: the copy into the page cache then reads from memory).
constexpr size_t kPiece = 128 << 10;
namespace ssl = asio::ssl;
constexpr size_t kMaxErrorBody = 1 << 20;

class BeastConnection final : public HttpConnection {
 public:
  BeastConnection(std::string host, std::string port, std::string host_header, int timeout_ms,
                  std::shared_ptr<TlsContext> tls)
      : host_(std::move(host)),
        port_(std::move(port)),
        host_header_(std::move(host_header)),
        timeout_(timeout_ms),
        tls_context_(std::move(tls)),
        piece_(kPiece) {}

  const std::string& host_header() const override { return host_header_; }

  Result<HttpReply> Send(const HttpCall& call, const BodySink* sink,
                         const HeadCheck* check) override {
    FERRY_RETURN_IF_ERROR(Connect());
    beast::error_code ec;
    const http::verb verb = http::string_to_verb(call.method);
    if (verb == http::verb::unknown) return Status::Internal("unknown HTTP method " + call.method);
    http::request<http::empty_body> req{verb, call.target, 11};
    req.set(http::field::host, host_header_);
    req.set(http::field::user_agent, "ferry-s3");
    for (const auto& [k, v] : call.headers) req.set(k, v);
    const uint64_t length = call.body_fd >= 0 ? call.body_length : call.body.size();
    if (length > 0 || verb == http::verb::put || verb == http::verb::post)
      req.set(http::field::content_length, std::to_string(length));
    req.keep_alive(true);
    http::request_serializer<http::empty_body> serializer(req);
    Lowest().expires_after(timeout_);
    ec = RunIo([&](auto& stream, auto handler) { http::async_write(stream, serializer, handler); });
    if (ec) return Fail("sending " + call.method + " " + call.target, ec);
    FERRY_RETURN_IF_ERROR(WriteBody(call, length));

    // Beast reads at most the buffer's free capacity (up to 64 KiB) per call: without room it
    // would read a large body 512 bytes at a time.
    if (buffer_.capacity() < kPiece) buffer_.reserve(kPiece);
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (verb == http::verb::head) parser.skip(true);
    Lowest().expires_after(timeout_);
    ec = RunIo([&](auto& stream, auto handler) {
      http::async_read_header(stream, buffer_, parser, handler);
    });
    if (ec) return Fail("reading the response to " + call.method + " " + call.target, ec);
    HttpReply reply;
    reply.status = static_cast<int>(parser.get().result_int());
    for (const auto& f : parser.get()) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      reply.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    const bool to_sink = sink != nullptr && reply.status / 100 == 2;
    if (check != nullptr && reply.status / 100 == 2) {
      Status st = (*check)(reply);
      if (!st.ok()) {
        Close();
        return st;
      }
    }
    while (!parser.is_done()) {
      parser.get().body().data = piece_.data();
      parser.get().body().size = piece_.size();
      Lowest().expires_after(timeout_);
      ec = RunIo(
          [&](auto& stream, auto handler) { http::async_read(stream, buffer_, parser, handler); });
      if (ec == http::error::need_buffer) ec = {};
      // Bytes that arrived before a failure still count: a resumed read starts after them.
      const size_t n = piece_.size() - parser.get().body().size;
      if (n > 0 && to_sink) {
        Status st = (*sink)(piece_.data(), n);
        if (!st.ok()) {
          Close();
          return st;
        }
      } else if (n > 0 && reply.body.size() < kMaxErrorBody) {
        reply.body.append(piece_.data(), std::min(n, kMaxErrorBody - reply.body.size()));
      }
      if (ec) return Fail("reading the body of " + call.method + " " + call.target, ec);
    }
    Lowest().expires_never();
    if (!parser.get().keep_alive()) Close();
    return reply;
  }

 private:
  template <typename Start>
  beast::error_code RunOp(Start&& start) {
    beast::error_code result = asio::error::would_block;
    start([&](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  Status Connect() {
    if (tcp_ || tls_) return Status::Ok();
    beast::error_code ec;
    tcp::resolver resolver(ioc_);
    auto results = resolver.resolve(host_, port_, ec);
    if (ec) return Status::Unavailable("resolving " + host_ + ": " + ec.message());
    if (tls_context_) {
      tls_.emplace(ioc_, tls_context_->ctx);
    } else {
      tcp_.emplace(ioc_);
    }
    Lowest().expires_after(timeout_);
    ec = RunOp([&](auto handler) { Lowest().async_connect(results, handler); });
    if (ec) return Fail("connecting to " + host_ + ":" + port_, ec);
    Lowest().socket().set_option(tcp::no_delay(true), ec);
    if (tls_) {
      // SNI for names (not addresses), and the certificate must be for host_.
      beast::error_code addr_ec;
      asio::ip::make_address(host_, addr_ec);
      if (addr_ec) SSL_set_tlsext_host_name(tls_->native_handle(), host_.c_str());
      tls_->set_verify_callback(ssl::host_name_verification(host_));
      Lowest().expires_after(timeout_);
      ec = RunOp([&](auto handler) { tls_->async_handshake(ssl::stream_base::client, handler); });
      if (ec && ec.category() == asio::error::get_ssl_category()) {
        Close();
        return Status::FailedPrecondition(
            "TLS handshake with " + host_ + ":" + port_ + " failed: " + ec.message() +
            " (is the store's certificate for this host and signed by a CA this machine trusts? "
            "for a private CA give the datastore's CA file)");
      }
      if (ec) return Fail("TLS handshake with " + host_ + ":" + port_, ec);
    }
    return Status::Ok();
  }

  Status WriteBody(const HttpCall& call, uint64_t length) {
    beast::error_code ec;
    if (call.body_fd < 0) {
      if (call.body.empty()) return Status::Ok();
      if (call.on_body_sent) call.on_body_sent(call.body.data(), call.body.size());
      Lowest().expires_after(timeout_);
      ec = RunIo([&](auto& stream, auto handler) {
        asio::async_write(stream, asio::buffer(call.body.data(), call.body.size()), handler);
      });
      if (ec) return Fail("sending the body of " + call.method + " " + call.target, ec);
      return Status::Ok();
    }
    uint64_t done = 0;
    while (done < length) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(piece_.size(), length - done));
      ssize_t n =
          pread(call.body_fd, piece_.data(), want, static_cast<off_t>(call.body_offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        Close();  // the request is half sent: the connection cannot be reused
        return n < 0 ? ErrnoStatus("reading the upload's source", "fd", errno)
                     : Status::IoError(
                           "the upload's source file ended early (it shrank while "
                           "being uploaded)");
      }
      if (call.on_body_sent) call.on_body_sent(piece_.data(), static_cast<size_t>(n));
      Lowest().expires_after(timeout_);
      ec = RunIo([&](auto& stream, auto handler) {
        asio::async_write(stream, asio::buffer(piece_.data(), static_cast<size_t>(n)), handler);
      });
      if (ec) return Fail("sending the body of " + call.method + " " + call.target, ec);
      done += static_cast<uint64_t>(n);
    }
    return Status::Ok();
  }

  Status Fail(const std::string& what, const beast::error_code& ec) {
    Close();
    return Status::Unavailable(what + ": " + ec.message());
  }

  // The TCP layer (deadlines, the socket) of whichever stream is open.
  beast::tcp_stream& Lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *tcp_; }

  // Runs op(stream, handler) on the open stream, TLS or not.
  template <typename Op>
  beast::error_code RunIo(Op&& op) {
    if (tls_) return RunOp([&](auto handler) { op(*tls_, handler); });
    return RunOp([&](auto handler) { op(*tcp_, handler); });
  }

  void Close() {
    // No TLS close_notify: the connection is dropped either way, and a peer that went away
    // would make it wait.
    if (tcp_ || tls_) {
      beast::error_code ec;
      Lowest().socket().close(ec);
      tls_.reset();
      tcp_.reset();
    }
    buffer_.clear();
  }

  std::string host_, port_, host_header_;
  std::chrono::milliseconds timeout_;
  asio::io_context ioc_;
  std::shared_ptr<TlsContext> tls_context_;
  std::optional<beast::tcp_stream> tcp_;                     // plain http
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;  // https
  beast::flat_buffer buffer_;
  std::vector<char> piece_;
};

}  // namespace

std::string HttpReply::Header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return v;
  return "";
}

std::unique_ptr<HttpConnection> HttpConnection::Create(std::string host, std::string port,
                                                       std::string host_header, int timeout_ms,
                                                       std::shared_ptr<TlsContext> tls) {
  return std::make_unique<BeastConnection>(std::move(host), std::move(port), std::move(host_header),
                                           timeout_ms, std::move(tls));
}

Result<std::shared_ptr<TlsContext>> MakeTlsContext(const std::string& ca_file) {
  auto tls = std::make_shared<TlsContext>();
  beast::error_code ec;
  SSL_CTX_set_min_proto_version(tls->ctx.native_handle(), TLS1_2_VERSION);
  tls->ctx.set_verify_mode(ssl::verify_peer, ec);
  if (ca_file.empty()) {
    tls->ctx.set_default_verify_paths(ec);
    if (ec) return Status::Internal("loading the system's CA certificates: " + ec.message());
  } else {
    tls->ctx.load_verify_file(ca_file, ec);
    if (ec) {
      return Status::InvalidArgument("s3 CA file '" + ca_file +
                                     "' could not be loaded as PEM certificates: " + ec.message());
    }
  }
  return tls;
}

}  // namespace ferry::data
