// HttpClient: a blocking HTTP/1.1 client with one keep-alive connection (Boost.Beast inside).
// Not thread-safe: use one client per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "net/http.h"

namespace ferry::net {

// The Status for a non-2xx API response: the server's {"error":{"message"}} text, with the
// code that the HTTP status stands for (the inverse of the server's mapping).
Status StatusFromResponse(const HttpResponse& response);

class HttpClient {
 public:
  // base_url: "http://HOST:PORT". token: sent as "Authorization: Bearer <token>" when set.
  static Result<std::unique_ptr<HttpClient>> Create(const std::string& base_url,
                                                    const std::string& token);
  virtual ~HttpClient() = default;
  // Sends one request; reconnects once if a kept-alive connection was closed by the peer.
  // Transport failures are Unavailable; HTTP error statuses are returned as responses.
  virtual Result<HttpResponse> Request(const std::string& method, const std::string& target,
                                       const std::string& body = "",
                                       const std::string& content_type = "application/json",
                                       int timeout_ms = 60000) = 0;
  // A bodyless request with extra headers.
  virtual Result<HttpResponse> RequestWithHeaders(
      const std::string& method, const std::string& target,
      const std::vector<std::pair<std::string, std::string>>& headers, int timeout_ms) = 0;
  // A GET whose 2xx body is handed to on_piece as it arrives (a large download, never held
  // whole), not kept in the response; another status comes back with its body (the first
  // MiB). An error from on_piece stops the transfer and is returned. A body shorter than its
  // Content-Length (the server closed mid-body) is Unavailable. Reconnects once, like
  // Request, but only while no piece has been handed out.
  virtual Result<HttpResponse> Download(
      const std::string& target, const std::vector<std::pair<std::string, std::string>>& headers,
      const std::function<Status(std::string_view piece)>& on_piece, int timeout_ms) = 0;
  // A request whose body is read from a source piece by piece as it is sent (a large file,
  // never held whole), with Content-Length: its size(); the response comes back whole. open()
  // makes the source, again for the one resend Request also makes (only while no byte of the
  // body went out). The source's error stops the request and is returned.
  virtual Result<HttpResponse> Upload(
      const std::string& method, const std::string& target, const std::string& content_type,
      const std::function<Result<std::unique_ptr<ByteSource>>()>& open, int timeout_ms) = 0;
  virtual const std::string& base_url() const = 0;
};

// GETs target into the file at path (its directory must exist), piece by piece: written under
// a temporary name beside it and renamed onto path, with `mode`, only once whole and checked:
// against sha256 when given (a blob's hash), and against expected_size when >= 0. Nothing is
// left at either name on failure; a non-2xx answer is StatusFromResponse's error; errors name
// path. Returns the bytes written. timeout_ms bounds each step, not the whole transfer.
Result<uint64_t> DownloadToFile(HttpClient& client, const std::string& target,
                                const std::vector<std::pair<std::string, std::string>>& headers,
                                const std::string& path, const std::string& sha256,
                                int64_t expected_size, int mode = 0644, int timeout_ms = 120000);

}  // namespace ferry::net
