// HTTP request/response values shared by the server and the client (no Asio here).
#pragma once

#include <algorithm>
#include <any>
#include <cctype>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferry {
class ByteSource;  // common/byte_source.h
}

namespace ferry::net {

struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string path;                            // decoded path without the query
  std::map<std::string, std::string> query;    // decoded query parameters
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;  // empty when the body was streamed into an admission's sink
  std::string remote_address;
  // Set by the server's admission hook from the headers (e.g. who the caller is), for the
  // handler to read; the net layer never looks inside.
  std::any context;

  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
  std::string Query(const std::string& name, const std::string& def = "") const {
    auto it = query.find(name);
    return it == query.end() ? def : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Server only: a body sent piece by piece (a large file) instead of `body`, which is then
  // ignored. Content-Length is its size(); see HttpServer for how and where it is read.
  std::shared_ptr<ByteSource> body_source{};

  // Case-insensitive lookup; empty when absent.
  std::string Header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k.size() == name.size() &&
          std::equal(k.begin(), k.end(), name.begin(),
                     [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
        return v;
    }
    return {};
  }
};

// Percent-decoding ('+' is kept as is in paths, decoded to ' ' in queries).
std::string UrlDecode(std::string_view s, bool plus_is_space);
std::string UrlEncode(std::string_view s);
// Splits "a=1&b=2" into decoded pairs.
std::map<std::string, std::string> ParseQuery(std::string_view q);

}  // namespace ferry::net
