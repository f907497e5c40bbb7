// HttpClient implementation: synchronous Beast over one keep-alive TCP connection.
#include "net/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <limits>
#include <optional>
#include <utility>

#include "common/byte_source.h"
#include "common/crypto.h"
#include "common/fs.h"

namespace ferry::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class ClientImpl final : public HttpClient {
 public:
  ClientImpl(std::string base, std::string host, std::string port, std::string token)
      : base_(std::move(base)),
        host_(std::move(host)),
        port_(std::move(port)),
        token_(std::move(token)) {}

  const std::string& base_url() const override { return base_; }

  Result<HttpResponse> Request(const std::string& method, const std::string& target,
                               const std::string& body, const std::string& content_type,
                               int timeout_ms) override {
    return WithRetry(method, target, body, content_type, {}, timeout_ms);
  }

  Result<HttpResponse> RequestWithHeaders(
      const std::string& method, const std::string& target,
      const std::vector<std::pair<std::string, std::string>>& headers, int timeout_ms) override {
    return WithRetry(method, target, "", "", headers, timeout_ms);
  }

  Result<HttpResponse> Download(const std::string& target,
                                const std::vector<std::pair<std::string, std::string>>& headers,
                                const std::function<Status(std::string_view)>& on_piece,
                                int timeout_ms) override {
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool reused = stream_.has_value();
      bool handed_out = false;
      auto r = DownloadOnce(target, headers, on_piece, timeout_ms, &handed_out);
      if (r.ok() || !reused || handed_out) return r;
    }
    return Status::Unavailable("unreachable");
  }

  Result<HttpResponse> Upload(const std::string& method, const std::string& target,
                              const std::string& content_type,
                              const std::function<Result<std::unique_ptr<ByteSource>>()>& open,
                              int timeout_ms) override {
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool reused = stream_.has_value();
      bool body_started = false;
      auto r = UploadOnce(method, target, content_type, open, timeout_ms, &body_started);
      if (r.ok() || !reused || body_started) return r;
    }
    return Status::Unavailable("unreachable");
  }

 private:
  Result<HttpResponse> WithRetry(const std::string& method, const std::string& target,
                                 const std::string& body, const std::string& content_type,
                                 const std::vector<std::pair<std::string, std::string>>& headers,
                                 int timeout_ms) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool reused = stream_.has_value();
      auto r = Once(method, target, body, content_type, headers, timeout_ms);
      if (r.ok() || !reused) return r;
      // A kept-alive connection may have been closed by the server: retry once, fresh.
    }
    return Status::Unavailable("unreachable");
  }

  // Runs the async operation started by start() to completion or until the stream's
  // deadline (beast closes the socket then); sync Beast calls would ignore timeouts.
  template <typename Start>
  beast::error_code RunOp(Start&& start) {
    beast::error_code result = asio::error::would_block;
    start([&](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  Status Connect(std::chrono::milliseconds timeout) {
    if (stream_) return Status::Ok();
    beast::error_code ec;
    tcp::resolver resolver(ioc_);
    auto results = resolver.resolve(host_, port_, ec);
    if (ec) return Fail("resolving " + host_, ec);
    stream_.emplace(ioc_);
    stream_->expires_after(std::min(timeout, std::chrono::milliseconds(10000)));
    ec = RunOp([&](auto handler) { stream_->async_connect(results, handler); });
    if (ec) return Fail("connecting to " + base_, ec);
    stream_->socket().set_option(tcp::no_delay(true), ec);
    return Status::Ok();
  }

  Result<HttpResponse> DownloadOnce(const std::string& target,
                                    const std::vector<std::pair<std::string, std::string>>& headers,
                                    const std::function<Status(std::string_view)>& on_piece,
                                    int timeout_ms, bool* handed_out) {
    const auto timeout = std::chrono::milliseconds(timeout_ms);
    FERRY_RETURN_IF_ERROR(Connect(timeout));
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, host_ + ":" + port_);
    req.set(http::field::user_agent, "ferry");
    if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
    for (const auto& [k, v] : headers) req.set(k, v);
    req.keep_alive(true);
    stream_->expires_after(timeout);
    beast::error_code ec = RunOp([&](auto handler) { http::async_write(*stream_, req, handler); });
    if (ec) return Fail("sending GET " + target, ec);
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(std::numeric_limits<uint64_t>::max());
    if (buffer_.capacity() < (1u << 20)) buffer_.reserve(1 << 20);
    ec = RunOp([&](auto handler) { http::async_read_header(*stream_, buffer_, parser, handler); });
    if (ec) return Fail("reading the response to GET " + target, ec);
    HttpResponse out;
    const auto& head = parser.get();
    out.status = static_cast<int>(head.result_int());
    out.content_type = std::string(head[http::field::content_type]);
    for (const auto& f : head)
      out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    const bool to_sink = out.status / 100 == 2;
    std::string piece(1 << 20, '\0');
    uint64_t received = 0;
    while (!parser.is_done()) {
      parser.get().body().data = piece.data();
      parser.get().body().size = piece.size();
      stream_->expires_after(timeout);
      ec = RunOp([&](auto handler) { http::async_read(*stream_, buffer_, parser, handler); });
      if (ec == http::error::need_buffer) ec = {};
      // What arrived is handed out even when the body then broke off.
      const size_t n = piece.size() - parser.get().body().size;
      received += n;
      if (n > 0 && !to_sink && out.body.size() < (1u << 20)) out.body.append(piece.data(), n);
      if (n > 0 && to_sink) {
        *handed_out = true;
        if (Status st = on_piece(std::string_view(piece.data(), n)); !st.ok()) {
          Close();  // the rest of the body is not read: the connection cannot be reused
          return st;
        }
      }
      if (ec) {
        return Fail("reading the response to GET " + target + " (after " +
                        std::to_string(received) + " bytes of its body)",
                    ec);
      }
    }
    stream_->expires_never();
    if (!parser.get().keep_alive()) Close();
    return out;
  }

  Result<HttpResponse> Once(const std::string& method, const std::string& target,
                            const std::string& body, const std::string& content_type,
                            const std::vector<std::pair<std::string, std::string>>& headers,
                            int timeout_ms) {
    beast::error_code ec;
    const auto timeout = std::chrono::milliseconds(timeout_ms);
    FERRY_RETURN_IF_ERROR(Connect(timeout));
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, host_ + ":" + port_);
    req.set(http::field::user_agent, "ferry");
    if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() || method == "POST" || method == "PUT") {
      req.set(http::field::content_type, content_type);
      req.body() = body;
    }
    req.keep_alive(true);
    req.prepare_payload();
    stream_->expires_after(timeout);
    ec = RunOp([&](auto handler) { http::async_write(*stream_, req, handler); });
    if (ec) return Fail("sending " + method + " " + target, ec);
    return ReadResponse(method, target, timeout);
  }

  Result<HttpResponse> UploadOnce(const std::string& method, const std::string& target,
                                  const std::string& content_type,
                                  const std::function<Result<std::unique_ptr<ByteSource>>()>& open,
                                  int timeout_ms, bool* body_started) {
    const auto timeout = std::chrono::milliseconds(timeout_ms);
    FERRY_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> source, open());
    FERRY_RETURN_IF_ERROR(Connect(timeout));
    const uint64_t size = source->size();
    http::request<http::empty_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, host_ + ":" + port_);
    req.set(http::field::user_agent, "ferry");
    if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
    req.set(http::field::content_type, content_type);
    req.keep_alive(true);
    req.content_length(size);
    http::request_serializer<http::empty_body> sr{req};
    stream_->expires_after(timeout);
    beast::error_code ec =
        RunOp([&](auto handler) { http::async_write_header(*stream_, sr, handler); });
    if (ec) return Fail("sending " + method + " " + target, ec);
    std::string piece;
    uint64_t sent = 0;
    while (sent < size) {
      Status st = source->Read(&piece);
      if (st.ok() && (piece.empty() || piece.size() > size - sent)) {
        st = Status::Internal("the body of " + method + " " + target + " is not the " +
                              std::to_string(size) + " bytes announced");
      }
      if (!st.ok()) {
        Close();  // the request cannot be finished: the connection cannot be reused
        return st;
      }
      *body_started = true;
      stream_->expires_after(timeout);
      ec = RunOp([&](auto handler) { asio::async_write(*stream_, asio::buffer(piece), handler); });
      if (ec) {
        return Fail("sending " + method + " " + target + " (after " + std::to_string(sent) +
                        " bytes of its body)",
                    ec);
      }
      sent += piece.size();
    }
    return ReadResponse(method, target, timeout);
  }

  // The response to the request just sent, whole.
  Result<HttpResponse> ReadResponse(const std::string& method, const std::string& target,
                                    std::chrono::milliseconds timeout) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(1ull << 40);
    if (buffer_.capacity() < (1u << 20)) buffer_.reserve(1 << 20);  // large reads for large bodies
    stream_->expires_after(timeout);
    beast::error_code ec =
        RunOp([&](auto handler) { http::async_read(*stream_, buffer_, parser, handler); });
    if (ec) return Fail("reading the response to " + method + " " + target, ec);
    stream_->expires_never();
    auto& res = parser.get();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    out.content_type = std::string(res[http::field::content_type]);
    for (const auto& f : res)
      out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    out.body = std::move(res.body());
    if (!res.keep_alive()) Close();
    return out;
  }

  Status Fail(const std::string& what, const beast::error_code& ec) {
    Close();
    return Status::Unavailable(what + " (" + base_ + "): " + ec.message());
  }

  void Close() {
    if (stream_) {
      beast::error_code ec;
      stream_->socket().close(ec);
      stream_.reset();
    }
    buffer_.clear();
  }

  std::string base_, host_, port_, token_;
  asio::io_context ioc_;
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
};

}  // namespace

Status StatusFromResponse(const HttpResponse& r) {
  std::string msg = r.body;
  // The error body is small JSON: pick out "message" without a JSON library here.
  auto key = r.body.find("\"message\":\"");
  if (key != std::string::npos) {
    msg.clear();
    for (size_t i = key + 11; i < r.body.size() && r.body[i] != '"'; ++i) {
      if (r.body[i] == '\\' && i + 1 < r.body.size()) {
        char c = r.body[++i];
        msg.push_back(c == 'n' ? '\n' : c == 't' ? '\t' : c);
      } else {
        msg.push_back(r.body[i]);
      }
    }
  }
  StatusCode code = r.status == 400 || r.status == 405 || r.status == 413
                        ? StatusCode::kInvalidArgument
                    : r.status == 401 ? StatusCode::kUnauthenticated
                    : r.status == 403 ? StatusCode::kPermissionDenied
                    : r.status == 404 ? StatusCode::kNotFound
                    : r.status == 409 ? StatusCode::kFailedPrecondition
                    : r.status == 503 ? StatusCode::kUnavailable
                    : r.status == 507 ? StatusCode::kIoError
                                      : StatusCode::kInternal;
  return Status(code, msg);
}

Result<uint64_t> DownloadToFile(HttpClient& client, const std::string& target,
                                const std::vector<std::pair<std::string, std::string>>& headers,
                                const std::string& path, const std::string& sha256,
                                int64_t expected_size, int mode, int timeout_ms) {
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> file, AtomicFile::Create(path, mode));
  Sha256 hasher;
  auto r = client.Download(
      target, headers,
      [&](std::string_view piece) {
        if (!sha256.empty()) hasher.Update(piece);
        return file->Append(piece);
      },
      timeout_ms);
  if (!r.ok()) return r.status().WithContext("downloading '" + path + "'");
  if (r->status / 100 != 2) return StatusFromResponse(*r).WithContext("'" + path + "'");
  if (expected_size >= 0 && file->size() != static_cast<uint64_t>(expected_size)) {
    return Status::Corruption("'" + path + "' arrived with " + std::to_string(file->size()) +
                              " bytes, not the " + std::to_string(expected_size) +
                              " expected; download it again");
  }
  if (!sha256.empty() && hasher.HexDigest() != sha256) {
    return Status::Corruption("'" + path + "' arrived corrupted (its content does not match " +
                              "hash " + sha256 + "); download it again");
  }
  FERRY_RETURN_IF_ERROR(file->Commit(/*sync=*/false));
  return file->size();
}

Result<std::unique_ptr<HttpClient>> HttpClient::Create(const std::string& base_url,
                                                       const std::string& token) {
  const std::string prefix = "http://";
  if (base_url.rfind(prefix, 0) != 0) {
    return Status::InvalidArgument("server URL '" + base_url + "' must start with http://");
  }
  std::string rest = base_url.substr(prefix.size());
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon + 1 == rest.size()) {
    return Status::InvalidArgument("server URL '" + base_url +
                                   "' must name a port (http://HOST:PORT)");
  }
  std::string host = rest.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return std::unique_ptr<HttpClient>(
      std::make_unique<ClientImpl>(base_url, host, rest.substr(colon + 1), token));
}

}  // namespace ferry::net
