// SigV4 signing (AWS's "Signature Version 4 signing process", S3 flavour: no double encoding).
#include "data/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>

#include "common/crypto.h"
#include "common/status.h"

namespace ferry::data {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  FERRY_CHECK(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                   reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
                   &len) != nullptr);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string Hex(std::string_view bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Header values: leading and trailing spaces removed, inner runs of spaces as one.
std::string TrimValue(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::string Scope(std::string_view date, std::string_view region, std::string_view service) {
  return std::string(date) + "/" + std::string(region) + "/" + std::string(service) +
         "/aws4_request";
}

// The canonical request over `headers` (host included by the caller), with `query` as given.
SigV4Parts Sign(const Credentials& creds, std::string_view region, std::string_view service,
                std::string_view amz_date, const SigV4Request& req, const HeaderList& headers,
                const HeaderList& query, std::string_view payload_hash) {
  HeaderList canon;
  canon.reserve(headers.size());
  for (const auto& [k, v] : headers) canon.emplace_back(Lower(k), TrimValue(v));
  std::sort(canon.begin(), canon.end());
  // Repeated names are one line with the values joined by ','.
  std::string header_lines, signed_headers;
  for (size_t i = 0; i < canon.size(); ++i) {
    if (i > 0 && canon[i].first == canon[i - 1].first) {
      header_lines.back() = ',';
      header_lines += canon[i].second + "\n";
      continue;
    }
    header_lines += canon[i].first + ":" + canon[i].second + "\n";
    if (!signed_headers.empty()) signed_headers += ";";
    signed_headers += canon[i].first;
  }
  SigV4Parts p;
  p.signed_headers = signed_headers;
  p.canonical_request = req.method + "\n" + CanonicalUri(req.path) + "\n" +
                        CanonicalQueryString(query) + "\n" + header_lines + "\n" + signed_headers +
                        "\n" + std::string(payload_hash);
  const std::string date(amz_date.substr(0, 8));
  p.string_to_sign = std::string(kAlgorithm) + "\n" + std::string(amz_date) + "\n" +
                     Scope(date, region, service) + "\n" + Sha256Hex(p.canonical_request);
  std::string key = Hmac("AWS4" + creds.secret_key, date);
  key = Hmac(key, region);
  key = Hmac(key, service);
  key = Hmac(key, "aws4_request");
  p.signature = Hex(Hmac(key, p.string_to_sign));
  return p;
}

}  // namespace

std::string UriEncode(std::string_view s, bool encode_slash) {
  static const char* kDigits = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3 / 2);
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (c == '/' && !encode_slash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 15]);
    }
  }
  return out;
}

std::string CanonicalUri(std::string_view path) {
  if (path.empty()) return "/";
  return UriEncode(path, /*encode_slash=*/false);
}

std::string CanonicalQueryString(const HeaderList& query) {
  HeaderList enc;
  enc.reserve(query.size());
  for (const auto& [k, v] : query) enc.emplace_back(UriEncode(k, true), UriEncode(v, true));
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out += "&";
    out += k + "=" + v;
  }
  return out;
}

std::string AmzDate(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

SigV4Parts ComputeSignature(const Credentials& creds, std::string_view region,
                            std::string_view service, std::string_view amz_date,
                            const SigV4Request& req) {
  HeaderList headers = req.headers;
  headers.emplace_back("host", req.host);
  headers.emplace_back("x-amz-date", std::string(amz_date));
  headers.emplace_back("x-amz-content-sha256", req.payload_hash);
  if (!creds.session_token.empty())
    headers.emplace_back("x-amz-security-token", creds.session_token);
  return Sign(creds, region, service, amz_date, req, headers, req.query, req.payload_hash);
}

HeaderList SignHeaders(const Credentials& creds, std::string_view region, std::string_view amz_date,
                       const SigV4Request& req, std::string_view service) {
  SigV4Parts p = ComputeSignature(creds, region, service, amz_date, req);
  HeaderList out;
  out.emplace_back("x-amz-date", std::string(amz_date));
  out.emplace_back("x-amz-content-sha256", req.payload_hash);
  if (!creds.session_token.empty()) out.emplace_back("x-amz-security-token", creds.session_token);
  out.emplace_back("Authorization", std::string(kAlgorithm) + " Credential=" + creds.access_key +
                                        "/" + Scope(amz_date.substr(0, 8), region, service) +
                                        ", SignedHeaders=" + p.signed_headers +
                                        ", Signature=" + p.signature);
  return out;
}

std::string PresignQuery(const Credentials& creds, std::string_view region,
                         std::string_view amz_date, int64_t expires_s, const SigV4Request& req,
                         std::string_view service) {
  HeaderList headers = req.headers;
  headers.emplace_back("host", req.host);
  std::string signed_names;
  {
    std::vector<std::string> names;
    names.reserve(headers.size());
    for (const auto& h : headers) names.push_back(Lower(h.first));
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    for (const auto& n : names) signed_names += (signed_names.empty() ? "" : ";") + n;
  }
  HeaderList query = req.query;
  query.emplace_back("X-Amz-Algorithm", std::string(kAlgorithm));
  query.emplace_back("X-Amz-Credential",
                     creds.access_key + "/" + Scope(amz_date.substr(0, 8), region, service));
  query.emplace_back("X-Amz-Date", std::string(amz_date));
  query.emplace_back("X-Amz-Expires", std::to_string(expires_s));
  if (!creds.session_token.empty()) query.emplace_back("X-Amz-Security-Token", creds.session_token);
  query.emplace_back("X-Amz-SignedHeaders", signed_names);
  SigV4Parts p = Sign(creds, region, service, amz_date, req, headers, query, kUnsignedPayload);
  return CanonicalQueryString(query) + "&X-Amz-Signature=" + p.signature;
}

}  // namespace ferry::data
