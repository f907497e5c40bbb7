// S3Client over pooled HttpConnections: signing, retries, and the transfer logic (ranged and
// parallel downloads into a temp file, single and multipart uploads, resume).
#include "data/s3_client.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <map>
#include <thread>
#include <utility>

#include "common/crypto.h"
#include "common/fs.h"
#include "common/mutex.h"
#include "data/s3_http.h"
#include "data/sigv4.h"

namespace ferry::data {
namespace {

constexpr uint64_t kMinPartSize = 5ull << 20;
constexpr uint64_t kMaxParts = 10000;
constexpr size_t kMaxIdleConnections = 16;

// Incremental MD5 (OpenSSL EVP), for ETags. Not thread-safe.
class Md5 {
 public:
  Md5() : ctx_(EVP_MD_CTX_new()) { Reset(); }
  ~Md5() { EVP_MD_CTX_free(ctx_); }
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;
  void Reset() { FERRY_CHECK(EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr) == 1); }
  void Update(const void* data, size_t n) { FERRY_CHECK(EVP_DigestUpdate(ctx_, data, n) == 1); }
  std::string HexDigest() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    FERRY_CHECK(EVP_DigestFinal_ex(ctx_, out, &len) == 1);
    static const char* kDigits = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < len; ++i) {
      hex.push_back(kDigits[out[i] >> 4]);
      hex.push_back(kDigits[out[i] & 15]);
    }
    Reset();
    return hex;
  }

 private:
  EVP_MD_CTX* ctx_;
};

// A plain MD5 ETag (32 hex digits): single-part uploads without SSE-KMS. Multipart ETags
// ("<md5>-<parts>") are not the object's MD5.
bool IsPlainMd5(const std::string& etag) {
  if (etag.size() != 32) return false;
  return std::all_of(etag.begin(), etag.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

std::string LowerHex(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// MD5 of length bytes of fd from offset.
Result<std::string> Md5OfRange(int fd, uint64_t offset, uint64_t length, const std::string& path) {
  Md5 md5;
  std::vector<char> buf(1 << 20);
  uint64_t done = 0;
  while (done < length) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), length - done));
    ssize_t n = pread(fd, buf.data(), want, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read", path, errno);
    if (n == 0) return Status::IoError("'" + path + "' ended early (it shrank while being read)");
    md5.Update(buf.data(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
  }
  return md5.HexDigest();
}

Status PwriteAll(int fd, const char* data, size_t n, uint64_t offset, const std::string& path) {
  while (n > 0) {
    ssize_t w = pwrite(fd, data, n, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return ErrnoStatus("write", path, errno);
    data += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return Status::Ok();
}

bool HasControlOrSpace(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

struct Endpoint {
  std::string scheme;
  std::string host;  // without brackets
  std::string port;
  std::string authority;  // as written: host[:port]
  bool is_ip = false;
  // 127.0.0.0/8, ::1 or localhost: a store on this machine.
  bool IsLoopback() const {
    return host == "localhost" || host == "::1" || (is_ip && host.rfind("127.", 0) == 0);
  }
};

Result<Endpoint> ParseEndpoint(const std::string& endpoint) {
  const std::string what = "s3 endpoint '" + endpoint + "'";
  if (endpoint.empty()) {
    return Status::InvalidArgument(
        "s3 endpoint is empty: give the store's URL, e.g. http://minio.internal:9000");
  }
  Endpoint e;
  std::string rest;
  if (endpoint.rfind("https://", 0) == 0) {
    e.scheme = "https";
    rest = endpoint.substr(8);
  } else if (endpoint.rfind("http://", 0) == 0) {
    e.scheme = "http";
    rest = endpoint.substr(7);
  } else {
    return Status::InvalidArgument(what +
                                   " must start with https:// or http:// (e.g. "
                                   "https://s3.example.com or http://host:9000)");
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty()) return Status::InvalidArgument(what + " has no host");
  if (rest.find_first_of("/?#@") != std::string::npos || HasControlOrSpace(rest)) {
    return Status::InvalidArgument(what +
                                   " must be only scheme://host[:port], with no path, query or "
                                   "user name (the bucket is a field of its own)");
  }
  e.authority = rest;
  std::string port;
  if (rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) return Status::InvalidArgument(what + ": unclosed '['");
    e.host = rest.substr(1, close - 1);
    e.is_ip = true;
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return Status::InvalidArgument(what + ": bad port");
      port = rest.substr(close + 2);
    }
  } else {
    auto colon = rest.rfind(':');
    e.host = rest.substr(0, colon);
    if (colon != std::string::npos) port = rest.substr(colon + 1);
    e.is_ip = !e.host.empty() && std::all_of(e.host.begin(), e.host.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
    });
  }
  if (e.host.empty()) return Status::InvalidArgument(what + " has no host");
  if (port.empty() && rest.back() == ':') return Status::InvalidArgument(what + ": empty port");
  if (!port.empty()) {
    bool digits = port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) {
                    return std::isdigit(static_cast<unsigned char>(c));
                  });
    if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535)
      return Status::InvalidArgument(what + ": port '" + port + "' is not a number in 1-65535");
  }
  e.port = port.empty() ? (e.scheme == "https" ? "443" : "80") : port;
  return e;
}

}  // namespace

Status ValidateS3Config(const S3Config& c) {
  FERRY_ASSIGN_OR_RETURN(Endpoint e, ParseEndpoint(c.endpoint));
  const std::string& b = c.bucket;
  auto bucket_char = [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-';
  };
  auto alnum = [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'); };
  if (b.size() < 3 || b.size() > 63 || !std::all_of(b.begin(), b.end(), bucket_char) ||
      !alnum(b.front()) || !alnum(b.back())) {
    return Status::InvalidArgument(
        "s3 bucket '" + b +
        "' is not a valid bucket name: 3-63 characters of a-z, 0-9, '.' and '-', starting and "
        "ending with a letter or digit");
  }
  if (c.region.empty() || !std::all_of(c.region.begin(), c.region.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
      })) {
    return Status::InvalidArgument("s3 region '" + c.region +
                                   "' must be a region name such as us-east-1 (a-z, 0-9, '-')");
  }
  if (!c.path_style && e.is_ip) {
    return Status::InvalidArgument(
        "s3 endpoint '" + c.endpoint +
        "' is an IP address: virtual-hosted addressing needs a DNS name (bucket.host); use "
        "path-style addressing for this store");
  }
  if (c.access_key.empty() || HasControlOrSpace(c.access_key)) {
    return Status::InvalidArgument(
        "s3 access key is empty or has spaces or control characters: give the store's access "
        "key id");
  }
  if (c.secret_key.empty() || std::any_of(c.secret_key.begin(), c.secret_key.end(), [](char ch) {
        return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
      })) {
    return Status::InvalidArgument(
        "s3 secret key is empty or has control characters (e.g. a trailing newline from a "
        "file): give the store's secret access key");
  }
  if (HasControlOrSpace(c.session_token)) {
    return Status::InvalidArgument("s3 session token has spaces or control characters");
  }
  if (!c.ca_file.empty() && e.scheme != "https") {
    return Status::InvalidArgument("s3 CA file '" + c.ca_file + "' is for https endpoints; '" +
                                   c.endpoint + "' is plain http");
  }
  return Status::Ok();
}

namespace {

// One request as the client means it: key empty for the bucket itself.
struct Request {
  std::string method{};
  std::string key{};
  HeaderList query{};
  HeaderList headers{};
  std::string_view body{};
  int body_fd = -1;
  uint64_t body_offset = 0;
  uint64_t body_length = 0;
  std::function<void(const char*, size_t)> on_body_sent{};
  std::function<void()> on_attempt{};  // before each attempt (resets per-attempt state)
};

bool RetriableReply(const HttpReply& r, const S3Error& e) {
  if (r.status >= 500 || r.status == 429) return true;
  return e.code == "SlowDown" || e.code == "RequestTimeout" || e.code == "InternalError" ||
         e.code == "ServiceUnavailable";
}

class S3ClientImpl final : public S3Client {
 public:
  S3ClientImpl(S3Config config, const S3ClientOptions& options, Endpoint endpoint,
               std::shared_ptr<TlsContext> tls)
      : config_(std::move(config)),
        options_(options),
        endpoint_(std::move(endpoint)),
        clock_(options.clock != nullptr ? options.clock : &DefaultClock()),
        tls_(std::move(tls)) {
    creds_ = {config_.access_key, config_.secret_key, config_.session_token};
    if (config_.path_style) {
      connect_host_ = endpoint_.host;
      host_header_ = endpoint_.authority;
    } else {
      connect_host_ = config_.bucket + "." + endpoint_.host;
      host_header_ = config_.bucket + "." + endpoint_.authority;
    }
    if (options_.max_attempts < 1) options_.max_attempts = 1;
  }

  std::string Describe() const override {
    return "s3 endpoint " + config_.endpoint + " bucket '" + config_.bucket + "'";
  }

  Status HeadBucket() override {
    Request req{.method = "HEAD"};
    FERRY_ASSIGN_OR_RETURN(HttpReply r, Call(req));
    if (r.status / 100 == 2) return Status::Ok();
    // HEAD answers carry no error document: ask again with a GET to get the store's words.
    Request list{.method = "GET", .query = {{"list-type", "2"}, {"max-keys", "0"}}};
    auto detail = Call(list);
    if (detail.ok() && detail.value().status / 100 != 2 && !detail.value().body.empty())
      return ReplyError(detail.value(), "");
    return ReplyError(r, "");
  }

  Result<ListPage> ListObjectsPage(const std::string& prefix, const std::string& token,
                                   int max_keys, const std::string& delimiter) override {
    Request req{.method = "GET", .query = {{"list-type", "2"}, {"encoding-type", "url"}}};
    if (!prefix.empty()) req.query.emplace_back("prefix", prefix);
    if (!token.empty()) req.query.emplace_back("continuation-token", token);
    if (!delimiter.empty()) req.query.emplace_back("delimiter", delimiter);
    req.query.emplace_back("max-keys", std::to_string(std::clamp(max_keys, 1, 1000)));
    FERRY_ASSIGN_OR_RETURN(HttpReply r, Call(req));
    if (r.status / 100 != 2) return ReplyError(r, "");
    auto page = ParseListObjectsV2(r.body);
    if (!page.ok()) return page.status().WithContext(Describe());
    return page;
  }

  Result<std::vector<S3Object>> ListObjects(const std::string& prefix, int page_size) override {
    std::vector<S3Object> out;
    std::string token;
    do {
      FERRY_ASSIGN_OR_RETURN(ListPage page, ListObjectsPage(prefix, token, page_size, ""));
      for (auto& o : page.objects) out.push_back(std::move(o));
      token = page.truncated ? page.next_continuation_token : "";
    } while (!token.empty());
    return out;
  }

  Result<ObjectInfo> HeadObject(const std::string& key) override {
    FERRY_RETURN_IF_ERROR(CheckKey(key));
    Request req{.method = "HEAD", .key = key};
    FERRY_ASSIGN_OR_RETURN(HttpReply r, Call(req));
    if (r.status / 100 != 2) {
      // HEAD answers carry no error document: a one-byte GET gets the store's own words.
      Request get{.method = "GET", .key = key, .headers = {{"range", "bytes=0-0"}}};
      auto detail = Call(get);
      if (detail.ok() && detail.value().status == r.status && !detail.value().body.empty())
        return ReplyError(detail.value(), key);
      return ReplyError(r, key);
    }
    ObjectInfo info;
    std::string len = r.Header("content-length");
    try {
      info.size = std::stoull(len);
    } catch (const std::exception&) {
      return Status::Internal(Describe() + " key '" + key + "': HEAD answered without a valid " +
                              "Content-Length ('" + len + "')");
    }
    info.etag = StripQuotes(r.Header("etag"));
    info.last_modified = r.Header("last-modified");
    info.content_type = r.Header("content-type");
    return info;
  }

  Result<ObjectInfo> GetObjectToFile(const std::string& key, const std::string& path,
                                     const GetOptions& options) override {
    FERRY_ASSIGN_OR_RETURN(ObjectInfo info, HeadObject(key));
    const std::string what = Describe() + " key '" + key + "'";
    if (options.offset > info.size ||
        (options.length > 0 && options.offset + options.length > info.size)) {
      return Status::InvalidArgument(what + ": range " + std::to_string(options.offset) + "+" +
                                     std::to_string(options.length) + " lies beyond the " +
                                     std::to_string(info.size) + "-byte object");
    }
    const uint64_t start = options.offset;
    const uint64_t length = options.length > 0 ? options.length : info.size - start;
    const bool whole = start == 0 && length == info.size;
    const bool verify = options.verify_etag && whole && IsPlainMd5(info.etag);

    const std::string tmp = path + ".ferry-tmp-" + RandomHex(6);
    UniqueFd fd(
        open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));  // read back for the MD5
    if (!fd.valid()) return ErrnoStatus("create", tmp, errno);
    struct Unlinker {
      const std::string& p;
      bool keep = false;
      ~Unlinker() {
        if (!keep) unlink(p.c_str());
      }
    } unlinker{tmp};
    if (ftruncate(fd.get(), static_cast<off_t>(length)) != 0)
      return ErrnoStatus("size", tmp, errno);

    std::string md5_hex;
    const uint64_t chunk = std::max<uint64_t>(options.chunk_size, 1 << 20);
    const int connections = options.connections > 0  ? options.connections
                            : endpoint_.IsLoopback() ? 1
                                                     : GetOptions::kAutoConnections;
    if (length >= options.parallel_threshold && connections > 1 && length > chunk) {
      const uint64_t chunks = (length + chunk - 1) / chunk;
      std::atomic<uint64_t> next{0};
      std::atomic<bool> failed{false};
      Mutex mu;
      CondVar chunk_done;
      Status first_error;
      std::vector<char> done(chunks, 0);  // GUARDED_BY(mu)
      auto fail = [&](Status st) {
        MutexLock lock(&mu);
        if (first_error.ok()) first_error = std::move(st);
        failed = true;
        chunk_done.SignalAll();
      };
      uint64_t completed = 0;      // GUARDED_BY(mu)
      std::atomic<int> wanted{1};  // workers numbered from `wanted` on stop after their chunk
      auto worker = [&](int id) {
        for (;;) {
          if (id >= wanted.load()) return;
          uint64_t i = next.fetch_add(1);
          if (i >= chunks || failed.load()) return;
          const uint64_t off = i * chunk;
          const uint64_t n = std::min(chunk, length - off);
          Status st = FetchRange(key, info.etag, start + off, n,
                                 [&](uint64_t at, const char* data, size_t size) {
                                   return PwriteAll(fd.get(), data, size, at - start, tmp);
                                 });
          if (!st.ok()) return fail(std::move(st));
          MutexLock lock(&mu);
          done[i] = 1;
          ++completed;
          chunk_done.SignalAll();
        }
      };
      // The MD5 is of the bytes in order: a hasher reads each chunk back (from the page cache)
      // as soon as it and all before it are written, beside the downloads, not after them.
      Md5 md5;
      auto hasher = [&] {
        std::vector<char> buf(1 << 20);
        for (uint64_t i = 0; i < chunks; ++i) {
          {
            MutexLock lock(&mu);
            while (!done[i] && !failed.load()) chunk_done.Wait(&mu);
            if (!done[i]) return;
          }
          const uint64_t off = i * chunk;
          const uint64_t n = std::min(chunk, length - off);
          for (uint64_t got = 0; got < n;) {
            const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), n - got));
            ssize_t r = pread(fd.get(), buf.data(), want, static_cast<off_t>(off + got));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0)
              return fail(r < 0 ? ErrnoStatus("read back", tmp, errno)
                                : Status::IoError("'" + tmp + "' ended early"));
            md5.Update(buf.data(), static_cast<size_t>(r));
            got += static_cast<uint64_t>(r);
          }
        }
      };
      // Connections are added one at a time, each kept only while it speeds the download up
      // by a sixth or more: a distant store (latency-bound per connection) gets them all, a
      // store or disk that is the limit itself (a local server) keeps one or two.
      const int most =
          static_cast<int>(std::min<uint64_t>(static_cast<uint64_t>(connections), chunks));
      std::vector<std::thread> threads;
      threads.reserve(static_cast<size_t>(most) + 1);
      threads.emplace_back(worker, 0);
      if (verify) threads.emplace_back(hasher);
      double last_rate = 0;
      for (int active = 1; active < most;) {
        const auto t0 = std::chrono::steady_clock::now();
        const uint64_t window = 2 * static_cast<uint64_t>(active);
        {
          MutexLock lock(&mu);
          const uint64_t base = completed;
          while (!failed.load() && completed < base + window && completed < chunks)
            chunk_done.Wait(&mu);
          if (failed.load() || completed >= chunks || chunks - completed <= window) break;
        }
        const double rate =
            static_cast<double>(window) /
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (last_rate > 0 && rate < last_rate * 7 / 6) {
          wanted = active - 1;  // the last one added did not help: it stops after its chunk
          break;
        }
        last_rate = rate;
        wanted = ++active;
        threads.emplace_back(worker, active - 1);
      }
      for (auto& t : threads) t.join();
      {
        MutexLock lock(&mu);
        if (!first_error.ok()) return first_error;
      }
      if (verify) md5_hex = md5.HexDigest();
    } else if (length > 0) {
      Md5 md5;
      FERRY_RETURN_IF_ERROR(FetchRange(key, info.etag, start, length,
                                       [&](uint64_t at, const char* data, size_t size) {
                                         if (verify) md5.Update(data, size);
                                         return PwriteAll(fd.get(), data, size, at - start, tmp);
                                       }));
      if (verify) md5_hex = md5.HexDigest();
    } else if (verify) {
      md5_hex = Md5().HexDigest();
    }
    if (verify && md5_hex != LowerHex(info.etag)) {
      return Status::Corruption(what + ": the downloaded bytes' MD5 " + md5_hex +
                                " differs from the object's ETag " + info.etag +
                                "; the transfer was damaged: download it again");
    }
    if (fsync(fd.get()) != 0) return ErrnoStatus("fsync", tmp, errno);
    fd.Reset();
    if (rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus("rename onto", path, errno);
    unlinker.keep = true;
    UniqueFd dir(open(DirName(AbsolutePath(path)).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.valid()) fsync(dir.get());
    if (!whole) info.size = length;
    return info;
  }

  Result<std::string> GetObjectToString(const std::string& key, uint64_t max_bytes) override {
    FERRY_ASSIGN_OR_RETURN(ObjectInfo info, HeadObject(key));
    if (info.size > max_bytes) {
      return Status::FailedPrecondition(Describe() + " key '" + key + "': the object has " +
                                        std::to_string(info.size) + " bytes, more than the " +
                                        std::to_string(max_bytes) +
                                        " this call reads into memory; download it to a file");
    }
    std::string out(info.size, '\0');
    if (info.size == 0) return out;
    FERRY_RETURN_IF_ERROR(
        FetchRange(key, info.etag, 0, info.size, [&](uint64_t at, const char* data, size_t n) {
          std::copy(data, data + n, out.begin() + at);
          return Status::Ok();
        }));
    return out;
  }

  Result<std::string> GetObjectRange(const std::string& key, const std::string& etag,
                                     uint64_t offset, uint64_t length) override {
    FERRY_RETURN_IF_ERROR(CheckKey(key));
    std::string out(length, '\0');
    if (length == 0) return out;
    FERRY_RETURN_IF_ERROR(
        FetchRange(key, etag, offset, length, [&](uint64_t at, const char* data, size_t n) {
          std::copy(data, data + n, out.begin() + static_cast<std::ptrdiff_t>(at - offset));
          return Status::Ok();
        }));
    return out;
  }

  Result<PutResult> PutObjectFromString(const std::string& key, const std::string& data) override {
    FERRY_RETURN_IF_ERROR(CheckKey(key));
    Md5 md5;
    Request req{.method = "PUT",
                .key = key,
                .headers = {{"content-type", "application/octet-stream"}},
                .body = data};
    req.on_attempt = [&] { md5.Reset(); };
    req.on_body_sent = [&](const char* p, size_t n) { md5.Update(p, n); };
    if (data.empty()) md5.Reset();
    return FinishPut(key, req, md5);
  }

  Result<PutResult> PutObjectFromFile(const std::string& key, const std::string& path,
                                      const PutOptions& options) override {
    FERRY_RETURN_IF_ERROR(CheckKey(key));
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoStatus("open", path, errno);
    struct stat st {};
    if (fstat(fd.get(), &st) != 0) return ErrnoStatus("stat", path, errno);
    if (!S_ISREG(st.st_mode)) {
      return Status::InvalidArgument("'" + path + "' is not a regular file: only files upload");
    }
    if (std::any_of(options.content_type.begin(), options.content_type.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
      return Status::InvalidArgument("content type '" + options.content_type +
                                     "' has control characters");
    }
    const auto size = static_cast<uint64_t>(st.st_size);
    if (size >= options.multipart_threshold && size > 0)
      return Multipart(key, path, fd.get(), size, options);
    Md5 md5;
    Request req{.method = "PUT",
                .key = key,
                .headers = {{"content-type", options.content_type}},
                .body_fd = fd.get(),
                .body_length = size};
    req.on_attempt = [&] { md5.Reset(); };
    req.on_body_sent = [&](const char* p, size_t n) { md5.Update(p, n); };
    return FinishPut(key, req, md5);
  }

  Status DeleteObject(const std::string& key) override {
    FERRY_RETURN_IF_ERROR(CheckKey(key));
    Request req{.method = "DELETE", .key = key};
    FERRY_ASSIGN_OR_RETURN(HttpReply r, Call(req));
    if (r.status / 100 != 2 && r.status != 404) return ReplyError(r, key);
    return Status::Ok();
  }

  Result<std::vector<UploadedPart>> ListParts(const std::string& key,
                                              const std::string& upload_id) override {
    FERRY_RETURN_IF_ERROR(CheckKey(key));
    std::vector<UploadedPart> out;
    int marker = 0;
    for (;;) {
      Request req{.method = "GET", .key = key, .query = {{"uploadId", upload_id}}};
      if (marker > 0) req.query.emplace_back("part-number-marker", std::to_string(marker));
      FERRY_ASSIGN_OR_RETURN(HttpReply r, Call(req));
      if (r.status / 100 != 2) return ReplyError(r, key);
      auto page = ParseListParts(r.body);
      if (!page.ok()) return page.status().WithContext(Describe() + " key '" + key + "'");
      for (auto& p : page.value().parts) out.push_back(std::move(p));
      if (!page.value().truncated || page.value().next_part_number_marker <= marker) break;
      marker = page.value().next_part_number_marker;
    }
    return out;
  }

  Status AbortMultipartUpload(const std::string& key, const std::string& upload_id) override {
    FERRY_RETURN_IF_ERROR(CheckKey(key));
    Request req{.method = "DELETE", .key = key, .query = {{"uploadId", upload_id}}};
    FERRY_ASSIGN_OR_RETURN(HttpReply r, Call(req));
    if (r.status / 100 != 2) return ReplyError(r, key);
    return Status::Ok();
  }

  Result<std::string> PresignUrl(const std::string& method, const std::string& key,
                                 int64_t expires_s) override {
    FERRY_RETURN_IF_ERROR(CheckKey(key));
    if (method != "GET" && method != "PUT") {
      return Status::InvalidArgument("presigned URLs are for GET or PUT, not '" + method + "'");
    }
    if (expires_s < 1 || expires_s > 604800) {
      return Status::InvalidArgument(
          "a presigned URL's lifetime must be 1 to 604800 seconds "
          "(7 days), not " +
          std::to_string(expires_s));
    }
    SigV4Request sr{.method = method, .host = host_header_, .path = PathOf(key)};
    std::string query = PresignQuery(creds_, config_.region, Now(), expires_s, sr);
    return endpoint_.scheme + "://" + host_header_ + CanonicalUri(sr.path) + "?" + query;
  }

 private:
  std::string Now() const { return AmzDate(static_cast<std::time_t>(std::floor(clock_->Now()))); }

  std::string PathOf(const std::string& key) const {
    if (config_.path_style) return "/" + config_.bucket + (key.empty() ? "" : "/" + key);
    return "/" + key;
  }

  Status CheckKey(const std::string& key) const {
    if (key.empty() || key.size() > 1024) {
      return Status::InvalidArgument(Describe() + ": object key '" + key +
                                     "' must be 1 to 1024 bytes");
    }
    return Status::Ok();
  }

  // The Status of an S3 error reply: the store's code and message, with what this client
  // knows (endpoint, bucket, key) and a hint of what to do. Never the secret.
  Status ReplyError(const HttpReply& r, const std::string& key) const {
    S3Error e = ParseError(r.body);
    if (e.code.empty()) {
      e.code = r.status == 404   ? (key.empty() ? "NoSuchBucket" : "NoSuchKey")
               : r.status == 403 ? "AccessDenied"
                                 : "HTTP" + std::to_string(r.status);
      e.message = "HTTP " + std::to_string(r.status) + " with no error document";
    }
    // The store never has the secret to echo, but a proxy in between might: never pass it on.
    const std::string& secret = config_.secret_key;
    const std::string mask = "[secret]";
    for (std::string* text : {&e.code, &e.message}) {
      for (size_t at = secret.empty() ? std::string::npos : text->find(secret);
           at != std::string::npos; at = text->find(secret, at + mask.size())) {
        text->replace(at, secret.size(), mask);
      }
    }
    std::string msg =
        Describe() + (key.empty() ? "" : " key '" + key + "'") + ": " + e.code + ": " + e.message;
    if (e.code == "InvalidAccessKeyId" || e.code == "SignatureDoesNotMatch" ||
        e.code == "AccessDenied") {
      msg += " (check the datastore's access key, secret key and region)";
    } else if (e.code == "NoSuchBucket") {
      msg += " (check the datastore's bucket name)";
    } else if (e.code == "AuthorizationHeaderMalformed" || e.code == "PermanentRedirect" ||
               r.status == 301) {
      msg += " (check the datastore's region and path-style setting)";
    }
    StatusCode code = r.status == 404                      ? StatusCode::kNotFound
                      : r.status == 403                    ? StatusCode::kPermissionDenied
                      : r.status == 401                    ? StatusCode::kUnauthenticated
                      : r.status == 409 || r.status == 412 ? StatusCode::kFailedPrecondition
                      : r.status == 400 || r.status == 416 ? StatusCode::kInvalidArgument
                      : r.status >= 500 || r.status == 429 ? StatusCode::kUnavailable
                                                           : StatusCode::kInternal;
    if (e.code == "SlowDown" || e.code == "RequestTimeout") code = StatusCode::kUnavailable;
    return Status(code, msg);
  }

  std::unique_ptr<HttpConnection> Lease() {
    {
      MutexLock lock(&mu_);
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
    }
    return HttpConnection::Create(connect_host_, endpoint_.port, host_header_, options_.timeout_ms,
                                  tls_);
  }

  void Return(std::unique_ptr<HttpConnection> c) {
    MutexLock lock(&mu_);
    if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(c));
  }

  // One attempt: sign with the current time and send.
  Result<HttpReply> Once(const Request& req, const BodySink* sink, const HeadCheck* check) {
    SigV4Request sr{.method = req.method,
                    .host = host_header_,
                    .path = PathOf(req.key),
                    .query = req.query,
                    .headers = req.headers};
    HttpCall call{.method = req.method,
                  .target = CanonicalUri(sr.path),
                  .headers = req.headers,
                  .body = req.body,
                  .body_fd = req.body_fd,
                  .body_offset = req.body_offset,
                  .body_length = req.body_length,
                  .on_body_sent = req.on_body_sent};
    if (!req.query.empty()) call.target += "?" + CanonicalQueryString(req.query);
    for (auto& h : SignHeaders(creds_, config_.region, Now(), sr)) call.headers.push_back(h);
    auto conn = Lease();
    auto r = conn->Send(call, sink, check);
    Return(std::move(conn));
    return r;
  }

  // A request with retries (transport failures and retriable replies), returning the last
  // reply (2xx or not) or the last transport error. A sink must not be given (bodies of
  // retried requests would be doubled): ranged reads go through FetchRange.
  Result<HttpReply> Call(const Request& req) {
    Backoff backoff(options_.backoff);
    Status last;
    for (int attempt = 1;; ++attempt) {
      if (req.on_attempt) req.on_attempt();
      auto r = Once(req, nullptr, nullptr);
      if (r.ok()) {
        S3Error e = r.value().status / 100 == 2 ? S3Error{} : ParseError(r.value().body);
        if (r.value().status / 100 == 2 || !RetriableReply(r.value(), e) ||
            attempt >= options_.max_attempts)
          return r;
      } else if (r.status().code() != StatusCode::kUnavailable) {
        // Not worth retrying (a TLS peer not trusted, a local write failing): said as is.
        return r.status().WithContext(Describe() +
                                      (req.key.empty() ? "" : " key '" + req.key + "'"));
      } else {
        last = r.status();
        if (attempt >= options_.max_attempts) break;
      }
      std::this_thread::sleep_for(backoff.Next());
    }
    return Status::Unavailable(
        Describe() + (req.key.empty() ? "" : " key '" + req.key + "'") + ": " + req.method +
        " failed after " + std::to_string(options_.max_attempts) + " attempts: " + last.message() +
        " (is the store reachable at that address?)");
  }

  // Reads [offset, offset + length) of key with If-Match etag, handing bytes to write(at, ...)
  // in order. A transfer cut short resumes where it stopped; attempts that make no progress
  // count against max_attempts.
  Status FetchRange(const std::string& key, const std::string& etag, uint64_t offset,
                    uint64_t length,
                    const std::function<Status(uint64_t, const char*, size_t)>& write) {
    Backoff backoff(options_.backoff);
    uint64_t done = 0;
    Status last;
    int failures = 0;
    const std::string what = Describe() + " key '" + key + "'";
    while (done < length) {
      const uint64_t first = offset + done;
      Request req{.method = "GET",
                  .key = key,
                  .headers = {{"range", "bytes=" + std::to_string(first) + "-" +
                                            std::to_string(offset + length - 1)}}};
      if (!etag.empty()) req.headers.emplace_back("if-match", "\"" + etag + "\"");
      const uint64_t before = done;
      BodySink sink = [&](const char* data, size_t n) -> Status {
        if (done + n > length) {
          return Status::Internal(what + ": the store sent more bytes than the range asked");
        }
        FERRY_RETURN_IF_ERROR(write(offset + done, data, n));
        done += n;
        return Status::Ok();
      };
      HeadCheck check = [&](const HttpReply& head) -> Status {
        if (head.status != 206 && first != 0) {
          return Status::Internal(what + ": the store ignored the Range header (HTTP " +
                                  std::to_string(head.status) + ")");
        }
        return Status::Ok();
      };
      auto r = Once(req, &sink, &check);
      if (r.ok() && r.value().status / 100 == 2) {
        if (done < length) last = Status::Unavailable("the response ended early");
      } else if (r.ok()) {
        S3Error e = ParseError(r.value().body);
        if (!RetriableReply(r.value(), e)) {
          Status st = ReplyError(r.value(), key);
          if (r.value().status == 412) {
            return Status::FailedPrecondition(st.message() +
                                              " (the object changed during the download: "
                                              "download it again)");
          }
          return st;
        }
        last = ReplyError(r.value(), key);
      } else if (r.status().code() != StatusCode::kUnavailable) {
        return r.status();  // the sink's and the check's errors name the object or the file
      } else {
        last = r.status();
      }
      if (done >= length) break;
      if (done > before) {
        failures = 0;
        backoff.Reset();
        continue;
      }
      if (++failures >= options_.max_attempts) {
        return Status::Unavailable(what + ": GET failed after " + std::to_string(failures) +
                                   " attempts without progress at byte " + std::to_string(first) +
                                   ": " + last.message());
      }
      std::this_thread::sleep_for(backoff.Next());
    }
    return Status::Ok();
  }

  // A single PUT; the returned ETag, when a plain MD5, must be the MD5 of what was sent.
  Result<PutResult> FinishPut(const std::string& key, const Request& req, Md5& md5) {
    FERRY_ASSIGN_OR_RETURN(HttpReply r, Call(req));
    if (r.status / 100 != 2) return ReplyError(r, key);
    PutResult out;
    out.etag = StripQuotes(r.Header("etag"));
    std::string sent = md5.HexDigest();
    if (IsPlainMd5(out.etag) && LowerHex(out.etag) != sent) {
      return Status::Corruption(Describe() + " key '" + key + "': the store's ETag " + out.etag +
                                " is not the MD5 of the bytes sent (" + sent +
                                "); the upload was damaged: upload it again");
    }
    return out;
  }

  Result<PutResult> Multipart(const std::string& key, const std::string& path, int fd,
                              uint64_t size, const PutOptions& options) {
    const std::string what = Describe() + " key '" + key + "'";
    const uint64_t part_size = MultipartPartSize(size, options);
    const auto nparts = static_cast<int>((size + part_size - 1) / part_size);
    PutResult result;
    std::map<int, UploadedPart> existing;
    if (options.resume_upload_id.empty()) {
      Request req{.method = "POST",
                  .key = key,
                  .query = {{"uploads", ""}},
                  .headers = {{"content-type", options.content_type}}};
      FERRY_ASSIGN_OR_RETURN(HttpReply r, Call(req));
      if (r.status / 100 != 2) return ReplyError(r, key);
      auto id = ParseInitiateMultipartUpload(r.body);
      if (!id.ok()) return id.status().WithContext(what);
      result.upload_id = id.value();
    } else {
      result.upload_id = options.resume_upload_id;
      auto parts = ListParts(key, result.upload_id);
      if (!parts.ok()) {
        return parts.status().WithContext("resuming multipart upload " + result.upload_id +
                                          " (gone? start a new upload without it)");
      }
      for (auto& p : parts.value()) existing[p.number] = p;
    }
    if (options.on_upload_id) options.on_upload_id(result.upload_id);

    std::vector<UploadedPart> done(static_cast<size_t>(nparts));
    std::atomic<int> next{0};
    std::atomic<bool> stop{false};
    Mutex mu;
    Status first_error;
    uint64_t bytes_done = 0;
    int sent = 0, kept = 0;
    auto fail = [&](Status st) {
      MutexLock lock(&mu);
      if (first_error.ok()) first_error = std::move(st);
      stop = true;
    };
    auto worker = [&] {
      Md5 md5;
      for (;;) {
        const int i = next.fetch_add(1);
        if (i >= nparts || stop.load()) return;
        const int number = i + 1;
        const uint64_t off = static_cast<uint64_t>(i) * part_size;
        const uint64_t len = std::min(part_size, size - off);
        UploadedPart part{.number = number, .size = len};
        bool reused = false;
        if (auto it = existing.find(number); it != existing.end() && it->second.size == len) {
          auto local = Md5OfRange(fd, off, len, path);
          if (!local.ok()) return fail(local.status());
          if (LowerHex(it->second.etag) == local.value()) {
            part.etag = it->second.etag;
            reused = true;
          }
        }
        if (!reused) {
          Request req{
              .method = "PUT",
              .key = key,
              .query = {{"partNumber", std::to_string(number)}, {"uploadId", result.upload_id}},
              .body_fd = fd,
              .body_offset = off,
              .body_length = len};
          req.on_attempt = [&] { md5.Reset(); };
          req.on_body_sent = [&](const char* p, size_t n) { md5.Update(p, n); };
          auto r = Call(req);
          if (!r.ok()) return fail(r.status());
          if (r.value().status / 100 != 2) return fail(ReplyError(r.value(), key));
          part.etag = StripQuotes(r.value().Header("etag"));
          std::string local = md5.HexDigest();
          if (IsPlainMd5(part.etag) && LowerHex(part.etag) != local) {
            return fail(Status::Corruption(what + ": part " + std::to_string(number) +
                                           " arrived damaged (its ETag " + part.etag +
                                           " is not the MD5 " + local + " of what was sent)"));
          }
        }
        MutexLock lock(&mu);
        done[static_cast<size_t>(i)] = part;
        (reused ? kept : sent) += 1;
        bytes_done += len;
        if (options.progress && !options.progress(bytes_done)) {
          if (first_error.ok()) {
            first_error = Status::FailedPrecondition(
                what + ": upload stopped by the caller after " + std::to_string(bytes_done) +
                " of " + std::to_string(size) + " bytes");
          }
          stop = true;
          return;
        }
      }
    };
    const int workers = std::clamp(options.parts_in_flight, 1, nparts);
    std::vector<std::thread> threads;
    threads.reserve(static_cast<size_t>(workers));
    for (int w = 0; w < workers; ++w) threads.emplace_back(worker);
    for (auto& t : threads) t.join();

    Status error;
    {
      MutexLock lock(&mu);
      error = first_error;
      result.parts_sent = sent;
      result.parts_kept = kept;
    }
    if (error.ok()) {
      Request req{.method = "POST",
                  .key = key,
                  .query = {{"uploadId", result.upload_id}},
                  .headers = {{"content-type", "application/xml"}}};
      const std::string xml = CompleteMultipartUploadXml(done);
      req.body = xml;
      auto r = Call(req);
      if (!r.ok()) {
        error = r.status();
      } else if (r.value().status / 100 != 2 || !ParseError(r.value().body).code.empty()) {
        // S3 may answer 200 and then an <Error> document for a failed completion.
        HttpReply reply = r.value();
        if (reply.status / 100 == 2) reply.status = 500;
        error = ReplyError(reply, key);
        // NoSuchUpload after a retry: the completion whose answer was lost did complete it.
        // The object is ours if it has the file's size and a multipart ETag of as many parts.
        if (ParseError(reply.body).code == "NoSuchUpload") {
          auto info = HeadObject(key);
          const std::string suffix = "-" + std::to_string(nparts);
          if (info.ok() && info.value().size == size && info.value().etag.size() > suffix.size() &&
              info.value().etag.compare(info.value().etag.size() - suffix.size(), suffix.size(),
                                        suffix) == 0) {
            result.etag = info.value().etag;
            return result;
          }
        }
      } else {
        auto etag = ParseCompleteMultipartUpload(r.value().body);
        if (!etag.ok()) return etag.status().WithContext(what);
        result.etag = etag.value();
        return result;
      }
    }
    if (options.abort_on_failure) {
      Status aborted = AbortMultipartUpload(key, result.upload_id);
      return Status(error.code(),
                    error.message() + (aborted.ok() ? " (multipart upload aborted)"
                                                    : " (aborting the multipart upload "
                                                      "failed too: " +
                                                          aborted.message() + ")"));
    }
    return Status(error.code(), error.message() + " (multipart upload " + result.upload_id +
                                    " kept: resume it with that upload id)");
  }

  S3Config config_;
  S3ClientOptions options_;
  Endpoint endpoint_;
  const Clock* clock_;
  std::shared_ptr<TlsContext> tls_;  // null for http
  Credentials creds_;
  std::string connect_host_, host_header_;
  Mutex mu_;
  std::vector<std::unique_ptr<HttpConnection>> idle_ GUARDED_BY(mu_);
};

}  // namespace

Result<std::unique_ptr<S3Client>> S3Client::Open(const S3Config& config,
                                                 const S3ClientOptions& options) {
  FERRY_RETURN_IF_ERROR(ValidateS3Config(config));
  FERRY_ASSIGN_OR_RETURN(Endpoint e, ParseEndpoint(config.endpoint));
  std::shared_ptr<TlsContext> tls;
  if (e.scheme == "https") {
    FERRY_ASSIGN_OR_RETURN(tls, MakeTlsContext(config.ca_file));
  }
  return std::unique_ptr<S3Client>(std::make_unique<S3ClientImpl>(config, options, e, tls));
}

uint64_t MultipartPartSize(uint64_t size, const PutOptions& options) {
  uint64_t part_size = std::max(options.part_size, kMinPartSize);
  if ((size + part_size - 1) / part_size > kMaxParts) {
    const uint64_t mib = 1ull << 20;
    part_size = ((size + kMaxParts - 1) / kMaxParts + mib - 1) / mib * mib;
  }
  return part_size;
}

Result<ObjectInfo> DownloadPresigned(const std::string& url, const std::string& path,
                                     int64_t expected_size, bool read_only, int timeout_ms) {
  const size_t slash =
      url.find('/', url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
  if (slash == std::string::npos) return Status::InvalidArgument("'" + path + "': not a URL");
  FERRY_ASSIGN_OR_RETURN(Endpoint e, ParseEndpoint(url.substr(0, slash)));
  std::shared_ptr<TlsContext> tls;
  if (e.scheme == "https") {
    FERRY_ASSIGN_OR_RETURN(tls, MakeTlsContext(""));
  }
  const std::string port = !e.port.empty() ? e.port : (e.scheme == "https" ? "443" : "80");
  const std::string tmp = path + ".ferry-tmp-" + std::to_string(::getpid());
  Status last;
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200 << attempt));
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) return ErrnoStatus("open", tmp, errno);
    auto conn = HttpConnection::Create(e.host, port, e.authority, timeout_ms, tls);
    HttpCall call;
    call.method = "GET";
    call.target = url.substr(slash);
    BodySink sink = [&fd, &tmp](const char* data, size_t size) {
      return WriteAll(fd.get(), std::string_view(data, size), tmp);
    };
    auto reply = conn->Send(call, &sink);
    if (!reply.ok()) {
      last = reply.status();
      if (last.code() == StatusCode::kUnavailable) continue;
      break;
    }
    if (reply->status / 100 != 2) {
      std::string code = reply->body.substr(0, 300);
      last = Status::FailedPrecondition("'" + path + "': the store answered HTTP " +
                                        std::to_string(reply->status) + ": " + code);
      if (reply->status >= 500) continue;
      break;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat", tmp, errno);
    if (expected_size >= 0 && st.st_size != expected_size) {
      ::unlink(tmp.c_str());
      return Status::FailedPrecondition("'" + path + "': the object has " +
                                        std::to_string(st.st_size) + " bytes, not the " +
                                        std::to_string(expected_size) + " it had when recorded");
    }
    if (read_only) ::fchmod(fd.get(), 0444);
    fd.Reset(-1);
    if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus("rename", path, errno);
    ObjectInfo info;
    info.size = static_cast<uint64_t>(st.st_size);
    info.etag = reply->Header("etag");
    info.etag.erase(std::remove(info.etag.begin(), info.etag.end(), '"'), info.etag.end());
    return info;
  }
  ::unlink(tmp.c_str());
  return last.WithContext("downloading '" + path + "'");
}

}  // namespace ferry::data
