// S3Client: an S3-compatible object store (AWS S3, MinIO, Ceph RGW, s3proxy, ...) for Ferry's
// S3 datastores: list, head, streamed and parallel downloads to files, single and multipart
// (resumable) uploads from files, deletes and presigned URLs. Held by the server, which alone
// has the credentials; agents and the CLI get presigned URLs.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/status.h"
#include "data/s3_xml.h"

namespace ferry::data {

struct S3Config {
  // "https://host[:port]" or "http://host[:port]" (plain http only on a trusted network).
  // No path.
  std::string endpoint{};
  std::string bucket{};
  std::string region = "us-east-1";
  // true: http://endpoint/bucket/key (MinIO, s3proxy, most self-hosted stores);
  // false: virtual-hosted http://bucket.endpoint/key (AWS's default).
  bool path_style = true;
  std::string access_key{};
  std::string secret_key{};     // never in an error, a log line or a URL
  std::string session_token{};  // optional (temporary credentials)
  // https: a PEM file of the CA certificates to trust instead of the system's (a store with a
  // private CA or a self-signed certificate). Empty: the system's CAs.
  std::string ca_file{};
};

// InvalidArgument naming the field and what is wrong; never quotes the secret key.
Status ValidateS3Config(const S3Config& config);

struct S3ClientOptions {
  // Attempts per request (1 = no retry). Retried: connection failures and timeouts, 5xx, 429,
  // SlowDown, RequestTimeout; never other 4xx (credentials, missing keys).
  int max_attempts = 5;
  Backoff::Options backoff{.initial = std::chrono::milliseconds(200),
                           .max = std::chrono::milliseconds(10000),
                           .factor = 2.0,
                           .jitter = 0.5};
  // Longest wait for one network step (connect, a write, a read) before it counts as failed.
  int timeout_ms = 60000;
  // Signing time; the system clock by default. Must outlive the client.
  const Clock* clock = nullptr;
};

struct ObjectInfo {
  uint64_t size = 0;
  std::string etag{};  // without quotes
  std::string last_modified{};
  std::string content_type{};
};

struct GetOptions {
  // A byte range of the object: [offset, offset + length); length 0 = to the end.
  uint64_t offset = 0;
  uint64_t length = 0;
  // Ranges of at least parallel_threshold bytes download in chunk_size pieces (written with
  // pwrite) over up to `connections` connections: they are added one at a time while each
  // speeds the transfer up (a distant store gets them all; a local one, limited by itself or
  // the disk, keeps one or two). Smaller ranges go over one. 0 = automatic: one connection to
  // a loopback endpoint (the store shares this machine's cores and disk, so more connections
  // only compete with it and with the MD5), kAutoConnections to any other.
  static constexpr int kAutoConnections = 4;
  int connections = 0;
  uint64_t chunk_size = 16ull << 20;
  uint64_t parallel_threshold = 64ull << 20;
  // Compare a whole object's MD5 with its ETag when the ETag is a plain MD5 (not multipart).
  bool verify_etag = true;
};

struct PutOptions {
  // Files of at least multipart_threshold bytes go up as a multipart upload in parts of
  // part_size (at least 5 MiB, S3's minimum; raised to fit S3's 10,000 parts), with
  // parts_in_flight parts sent at once.
  uint64_t multipart_threshold = 64ull << 20;
  uint64_t part_size = 16ull << 20;
  int parts_in_flight = 4;
  std::string content_type = "application/octet-stream";
  // Continue this multipart upload: parts already there whose size and MD5 match the file's
  // are kept, the others sent. Empty: start a new one.
  std::string resume_upload_id{};
  // After a failure (or a stop by `progress`), abort the multipart upload (its parts are
  // deleted). false keeps it: the error names the upload id to resume with.
  bool abort_on_failure = true;
  // Called with the upload id once a multipart upload exists (to record it for a resume).
  std::function<void(const std::string& upload_id)> on_upload_id{};
  // Called after each part (multipart only; from the uploading threads, one call at a time)
  // with the bytes done so far; returning false stops the upload.
  std::function<bool(uint64_t bytes_done)> progress{};
};

struct PutResult {
  std::string etag{};       // without quotes
  std::string upload_id{};  // multipart only
  int parts_sent = 0;       // multipart: parts uploaded by this call
  int parts_kept = 0;       // multipart: parts a resumed upload already had
};

// Thread-safe: every method may be called from any thread at once; each request takes a
// kept-alive connection from the client's pool (or opens one) and returns it afterwards.
// Errors name the endpoint, the bucket and the key, and carry the store's error code and
// message ("s3 endpoint http://h:9000 bucket 'b' key 'k': NoSuchKey: ..."); NotFound for a
// missing key or bucket, PermissionDenied for refused credentials, Unavailable once the
// retries of a transient failure are spent, IoError for local files.
class S3Client {
 public:
  static Result<std::unique_ptr<S3Client>> Open(const S3Config& config,
                                                const S3ClientOptions& options = {});
  virtual ~S3Client() = default;

  // Checks that the bucket exists and the credentials may use it.
  virtual Status HeadBucket() = 0;
  // One page of keys under prefix, in key order; token from the previous page ("" first).
  virtual Result<ListPage> ListObjectsPage(const std::string& prefix, const std::string& token,
                                           int max_keys = 1000,
                                           const std::string& delimiter = "") = 0;
  // Every key under prefix (all pages).
  virtual Result<std::vector<S3Object>> ListObjects(const std::string& prefix,
                                                    int page_size = 1000) = 0;
  virtual Result<ObjectInfo> HeadObject(const std::string& key) = 0;
  // Downloads the object (or a range) into path: written into a temp file beside it, which
  // is checked (size; MD5 against a plain-MD5 ETag), fsynced and renamed onto path. Memory
  // is constant in the object's size. Ranged GETs carry If-Match, so an object replaced
  // during the download fails it (FailedPrecondition) rather than mixing two versions.
  virtual Result<ObjectInfo> GetObjectToFile(const std::string& key, const std::string& path,
                                             const GetOptions& options = {}) = 0;
  // A small object (at most max_bytes) in memory.
  virtual Result<std::string> GetObjectToString(const std::string& key,
                                                uint64_t max_bytes = 64ull << 20) = 0;
  // Bytes [offset, offset + length) of an object in memory (a piece of a large one being
  // streamed). With an etag (HeadObject's), an object replaced meanwhile is FailedPrecondition
  // rather than a mix of two versions.
  virtual Result<std::string> GetObjectRange(const std::string& key, const std::string& etag,
                                             uint64_t offset, uint64_t length) = 0;
  virtual Result<PutResult> PutObjectFromFile(const std::string& key, const std::string& path,
                                              const PutOptions& options = {}) = 0;
  virtual Result<PutResult> PutObjectFromString(const std::string& key,
                                                const std::string& data) = 0;
  // Deleting a missing key succeeds (S3's semantics).
  virtual Status DeleteObject(const std::string& key) = 0;
  virtual Result<std::vector<UploadedPart>> ListParts(const std::string& key,
                                                      const std::string& upload_id) = 0;
  virtual Status AbortMultipartUpload(const std::string& key, const std::string& upload_id) = 0;
  // A URL for one plain HTTP GET or PUT of key by someone without the credentials, valid for
  // expires_s seconds (1 to 604800). method: "GET" or "PUT".
  virtual Result<std::string> PresignUrl(const std::string& method, const std::string& key,
                                         int64_t expires_s) = 0;
  // "s3 endpoint E bucket 'b'": how errors name this store.
  virtual std::string Describe() const = 0;
};

// The part size PutObjectFromFile uses for a multipart upload of `size` bytes: options.part_size
// (at least S3's 5 MiB), raised to whole MiB when the object would need more than 10,000 parts.
uint64_t MultipartPartSize(uint64_t size, const PutOptions& options);

// Downloads one object through a presigned GET URL (S3Client::PresignUrl) to path, for an
// agent or CLI that has no credentials: written beside it, its size checked against
// expected_size (when >= 0), then renamed into place (mode 0444 when read_only). Transport
// failures are retried a few times. Returns the object's size and ETag from the reply. Errors
// name the path, never the URL's signature.
Result<ObjectInfo> DownloadPresigned(const std::string& url, const std::string& path,
                                     int64_t expected_size, bool read_only, int timeout_ms = 60000);

}  // namespace ferry::data
