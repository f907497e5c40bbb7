// One blocking HTTP/1.1 keep-alive connection for the S3 client (Boost.Beast inside, confined
// to s3_http.cc): request bodies streamed from a file range or a string, response bodies
// handed to a sink piece by piece, so memory stays constant whatever the object's size.
// Internal to src/data. Not thread-safe: one connection per thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "data/sigv4.h"

namespace ferry::data {

struct HttpCall {
  std::string method{};
  std::string target{};  // encoded path and query, as sent
  HeaderList headers{};  // Host is added by the connection
  // The body: `body` when body_fd < 0, else body_length bytes of body_fd from body_offset.
  std::string_view body{};
  int body_fd = -1;
  uint64_t body_offset = 0;
  uint64_t body_length = 0;
  // Sees every body byte as it is sent (e.g. an MD5 of a part).
  std::function<void(const char*, size_t)> on_body_sent{};
};

struct HttpReply;
// Sees the reply's status and headers before any of its body; an error stops the transfer.
using HeadCheck = std::function<Status(const HttpReply& head)>;

struct HttpReply {
  int status = 0;
  HeaderList headers;  // names lower-case
  std::string body;    // the whole body, unless a sink took it (2xx with a sink)
  std::string Header(std::string_view lower_name) const;
};

// Receives a 2xx response body in pieces; an error stops the transfer and is returned as is.
using BodySink = std::function<Status(const char* data, size_t size)>;

// The TLS settings a client's connections share (an OpenSSL client context: TLS 1.2 or
// later, the peer's certificate checked against ca_file's PEM certificates, or the system's
// when it is empty, and its name against the host). Thread-safe once made.
class TlsContext;
Result<std::shared_ptr<TlsContext>> MakeTlsContext(const std::string& ca_file);

class HttpConnection {
 public:
  // host and port of the endpoint; host_header is sent as Host (and signed); tls: https with
  // that context (null: plain http). Connects lazily.
  static std::unique_ptr<HttpConnection> Create(std::string host, std::string port,
                                                std::string host_header, int timeout_ms,
                                                std::shared_ptr<TlsContext> tls = nullptr);
  virtual ~HttpConnection() = default;
  // Sends call and reads the reply. Transport failures (connect, write, read, a step idle
  // for longer than timeout_ms) are Unavailable and close the connection; a TLS handshake
  // the peer fails (its certificate not trusted or not for this host) is FailedPrecondition; a
  // sink's error is returned unchanged, and so is check's (run on a 2xx head only). A 2xx body goes
  // to sink when one is given; any other body (an S3 error document) is kept in reply.body, up to 1
  // MiB.
  virtual Result<HttpReply> Send(const HttpCall& call, const BodySink* sink,
                                 const HeadCheck* check = nullptr) = 0;
  virtual const std::string& host_header() const = 0;
};

}  // namespace ferry::data
