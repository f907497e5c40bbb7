// libsodium secretbox sealing.
#include "common/seal.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fs.h"

namespace ferry {
namespace {

constexpr std::string_view kPrefix = "sealed:v1:";

std::string ToBase64(const unsigned char* data, size_t n) {
  std::string out(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), data, n, sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

}  // namespace

Result<Sealer> Sealer::Open(const std::string& key_path) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  Sealer s;
  auto existing = ReadFile(key_path);
  if (existing.ok()) {
    if (existing->size() != crypto_secretbox_KEYBYTES) {
      return Status::Corruption("the sealing key " + key_path +
                                " has the wrong size; restore it from a backup "
                                "(secrets sealed under it cannot be opened without it)");
    }
    s.key_ = std::move(existing).value();
    return s;
  }
  if (existing.status().code() != StatusCode::kNotFound) return existing.status();
  std::string key(crypto_secretbox_KEYBYTES, '\0');
  crypto_secretbox_keygen(reinterpret_cast<unsigned char*>(key.data()));
  // O_EXCL: two processes creating it at once must not end up with different keys.
  UniqueFd fd(::open(key_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    if (errno == EEXIST) return Open(key_path);
    return ErrnoStatus("cannot create", key_path, errno);
  }
  FERRY_RETURN_IF_ERROR(WriteAll(fd.get(), key, key_path));
  if (::fsync(fd.get()) != 0) return ErrnoStatus("fsync", key_path, errno);
  s.key_ = std::move(key);
  return s;
}

bool Sealer::IsSealed(std::string_view s) { return s.substr(0, kPrefix.size()) == kPrefix; }

std::string Sealer::Seal(std::string_view plaintext) const {
  std::string buf(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plaintext.size(), '\0');
  auto* out = reinterpret_cast<unsigned char*>(buf.data());
  randombytes_buf(out, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
                        out, reinterpret_cast<const unsigned char*>(key_.data()));
  return std::string(kPrefix) + ToBase64(out, buf.size());
}

Result<std::string> Sealer::Unseal(std::string_view sealed) const {
  if (!IsSealed(sealed)) return Status::InvalidArgument("not a sealed value");
  std::string_view b64 = sealed.substr(kPrefix.size());
  std::string bin(b64.size(), '\0');
  size_t n = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bin.data()), bin.size(), b64.data(),
                        b64.size(), nullptr, &n, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      n < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    return Status::Corruption("a sealed secret is damaged");
  }
  const auto* in = reinterpret_cast<const unsigned char*>(bin.data());
  std::string plain(n - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()),
                                 in + crypto_secretbox_NONCEBYTES, n - crypto_secretbox_NONCEBYTES,
                                 in, reinterpret_cast<const unsigned char*>(key_.data())) != 0) {
    return Status::Corruption(
        "a sealed secret cannot be opened with this workspace's key (seal.key changed or the "
        "value was altered); set the secret again");
  }
  return plain;
}

}  // namespace ferry
