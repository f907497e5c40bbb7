// Secrets at rest: values sealed with libsodium's secretbox (XSalsa20-Poly1305) under a
// per-workspace key file (<home>/seal.key, 0600, created on first use). A sealed value is
// "sealed:v1:" + base64(nonce || ciphertext); tampering or another workspace's key fails
// to open, with an error that names no secret.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace ferry {

class Sealer {
 public:
  // Loads (or creates) the key file.
  static Result<Sealer> Open(const std::string& key_path);
  std::string Seal(std::string_view plaintext) const;
  Result<std::string> Unseal(std::string_view sealed) const;
  static bool IsSealed(std::string_view s);

 private:
  std::string key_;
};

}  // namespace ferry
