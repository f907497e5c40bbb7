// HttpClient: a blocking HTTP/1.1 client with one keep-alive connection (Boost.Beast inside).
// Not thread-safe: use one client per thread.
#pragma once

#include <memory>
#include <string>
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
  virtual const std::string& base_url() const = 0;
};

}  // namespace ferry::net
