// AWS Signature Version 4 for S3: signed request headers and presigned (query-string) URLs.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferry::data {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct Credentials {
  std::string access_key{};
  std::string secret_key{};
  std::string session_token{};  // temporary credentials (STS); empty when there is none
};

// The x-amz-content-sha256 value for a body that is not hashed before it is sent.
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

// One request to sign. Every string is as the application means it (not percent-encoded):
// the signer encodes the path per segment and the query per key and value.
struct SigV4Request {
  std::string method{};  // "GET", "PUT", ...
  std::string host{};    // the Host header exactly as sent: "host" or "host:port"
  std::string path{};    // "/bucket/key" or "/key"; "/" for none. Never double-encoded (S3).
  HeaderList query{};    // decoded names and values; order does not matter
  HeaderList headers{};  // headers to sign besides host and the x-amz-* ones added here
  std::string payload_hash = std::string(kUnsignedPayload);  // hex SHA-256 of the body
};

// RFC 3986 percent-encoding as SigV4 wants it: A-Z a-z 0-9 - _ . ~ stay, every other byte is
// %XX (upper-case hex); '/' stays only when encode_slash is false.
std::string UriEncode(std::string_view s, bool encode_slash);
// The canonical URI of a decoded path: each segment encoded, '/' kept; "" becomes "/".
std::string CanonicalUri(std::string_view path);
// Encoded "k=v" pairs joined by '&', sorted by encoded name, then value.
std::string CanonicalQueryString(const HeaderList& query);
// "YYYYMMDDTHHMMSSZ" of a unix time, UTC.
std::string AmzDate(std::time_t t);

// The canonical request and string-to-sign, exposed for tests and diagnostics.
struct SigV4Parts {
  std::string canonical_request;
  std::string signed_headers;  // "host;x-amz-date"
  std::string string_to_sign;
  std::string signature;  // hex
};
SigV4Parts ComputeSignature(const Credentials& creds, std::string_view region,
                            std::string_view service, std::string_view amz_date,
                            const SigV4Request& req);

// The headers to add to req before sending it: x-amz-date, x-amz-content-sha256,
// x-amz-security-token (with a session token) and Authorization. The caller must send the
// request's own headers and Host unchanged. service is "s3" for S3.
HeaderList SignHeaders(const Credentials& creds, std::string_view region, std::string_view amz_date,
                       const SigV4Request& req, std::string_view service = "s3");

// The query string (no leading '?') of a presigned URL for req, valid expires_s seconds from
// amz_date: req.query plus the X-Amz-* parameters and X-Amz-Signature. Only Host and
// req.headers are signed; the payload is UNSIGNED-PAYLOAD whatever req.payload_hash says.
std::string PresignQuery(const Credentials& creds, std::string_view region,
                         std::string_view amz_date, int64_t expires_s, const SigV4Request& req,
                         std::string_view service = "s3");

}  // namespace ferry::data
