// SHA-256 via OpenSSL's EVP interface (uses SHA-NI where the CPU has it).
#include "common/crypto.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>

#include "common/fs.h"

namespace ferry {

namespace {

// SHA-256, fetched once. OpenSSL is initialised without reading openssl.cnf: Ferry uses only
// the default provider's SHA-256 and HMAC, and every short-lived process (an agent per run)
// would otherwise parse the system's configuration and load its providers again. No exit
// handler either: freeing OpenSSL's tables at exit is work the kernel does anyway.
const EVP_MD* Sha256Md() {
  static const EVP_MD* md = [] {
    OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT, nullptr);
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched ? fetched : EVP_sha256();
  }();
  return md;
}

}  // namespace

struct Sha256::Impl {
  EVP_MD_CTX* ctx = nullptr;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  FERRY_CHECK(impl_->ctx != nullptr);
  FERRY_CHECK(EVP_DigestInit_ex(impl_->ctx, Sha256Md(), nullptr) == 1);
}

Sha256::~Sha256() { EVP_MD_CTX_free(impl_->ctx); }

void Sha256::Update(const void* data, size_t len) {
  FERRY_CHECK(EVP_DigestUpdate(impl_->ctx, data, len) == 1);
}

static std::string ToHex(const unsigned char* p, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[p[i] >> 4];
    out[2 * i + 1] = kHex[p[i] & 15];
  }
  return out;
}

std::string Sha256::HexDigest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  FERRY_CHECK(EVP_DigestFinal_ex(impl_->ctx, md, &len) == 1);
  FERRY_CHECK(EVP_DigestInit_ex(impl_->ctx, Sha256Md(), nullptr) == 1);
  return ToHex(md, len);
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[32];
  unsigned int len = 0;
  FERRY_CHECK(EVP_Digest(data.data(), data.size(), md, &len, Sha256Md(), nullptr) == 1);
  return ToHex(md, len);
}

Result<std::string> Sha256File(const std::string& path, uint64_t* size_out) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return ErrnoStatus("cannot open", path, errno);
  Sha256 h;
  uint64_t total = 0;
  static thread_local std::string buf(1 << 20, '\0');
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot read", path, errno);
    }
    if (n == 0) break;
    h.Update(buf.data(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
  }
  if (size_out) *size_out = total;
  return h.HexDigest();
}

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  FERRY_CHECK(HMAC(Sha256Md(), key.data(), static_cast<int>(key.size()),
                   reinterpret_cast<const unsigned char*>(data.data()), data.size(), md,
                   &len) != nullptr);
  return ToHex(md, len);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool IsSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  // Without a branch per character: hex digits are as likely letters as not, and the
  // mispredicted branches made this a tenth of the server's work checking a large manifest.
  bool ok = true;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    ok &= (static_cast<unsigned>(u - '0') < 10u) | (static_cast<unsigned>(u - 'a') < 6u);
  }
  return ok;
}

std::string RandomHex(size_t n_bytes) {
  std::string raw(n_bytes, '\0');
  // The kernel's generator: no DRBG to set up in every short-lived process.
  size_t got = 0;
  while (got < n_bytes) {
    ssize_t n = ::getrandom(raw.data() + got, n_bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (got < n_bytes) {
    FERRY_CHECK(
        RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(n_bytes)) == 1);
  }
  return ToHex(reinterpret_cast<const unsigned char*>(raw.data()), n_bytes);
}

}  // namespace ferry
