// SHA-256 (OpenSSL) and random tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ferry {

// Incremental SHA-256. Not thread-safe; one per thread.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t len);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // Lowercase hex digest; the hasher is reset afterwards.
  std::string HexDigest();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string Sha256Hex(std::string_view data);
// SHA-256 of a file's content, streamed.
Result<std::string> Sha256File(const std::string& path, uint64_t* size_out = nullptr);
// True when s is 64 lowercase hex characters.
bool IsSha256Hex(std::string_view s);
// HMAC-SHA-256 of data under key, hex.
std::string HmacSha256Hex(std::string_view key, std::string_view data);
// Constant-time comparison of equal-length strings (false when lengths differ).
bool ConstantTimeEquals(std::string_view a, std::string_view b);
// n random bytes from the OS CSPRNG, hex-encoded (2n characters).
std::string RandomHex(size_t n_bytes);

}  // namespace ferry
