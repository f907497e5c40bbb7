// Uploads that stream into the blob store as they arrive (net::BodySink), so that no upload
// is ever held whole in the server's memory.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "net/http_server.h"
#include "store/blob_store.h"

namespace ferry::server {

// A blob batch: records "<sha256> <length>\n<bytes>", back to back (POST /api/v1/blobs and
// /runs/{id}/blobs). Each record is checked against its hash and stored on its own (all or
// nothing per record). Write() runs on one worker at a time, then Finish() once.
class BlobBatchSink final : public net::BodySink {
 public:
  explicit BlobBatchSink(store::BlobStore* blobs) : blobs_(blobs) {}
  Status Write(std::string_view piece) override;
  // After the whole body: how many blobs were stored (durably: the store is synced), or the
  // first error (which names the byte offset or the blob).
  Result<int> Finish();

 private:
  Status Fail(Status st);
  store::BlobStore* blobs_;
  uint64_t offset_ = 0;  // bytes of the body seen
  std::string header_;   // the record header being read
  std::string hash_;
  uint64_t remaining_ = 0;  // bytes of the current blob still to come
  std::unique_ptr<store::BlobWriter> writer_;
  int stored_ = 0;
  Status error_;
};

// One file's bytes as the whole body (MLflow's artifact upload): stored as one blob.
class BlobSink final : public net::BodySink {
 public:
  BlobSink(store::BlobStore* blobs, std::optional<uint64_t> size)
      : writer_(blobs->NewWriter("", size)), blobs_(blobs) {}
  Status Write(std::string_view piece) override;
  // The blob's hash and size once stored and synced, or the first error.
  Result<std::pair<std::string, uint64_t>> Finish();

 private:
  std::unique_ptr<store::BlobWriter> writer_;
  store::BlobStore* blobs_;
  uint64_t size_ = 0;
  Status error_;
};

}  // namespace ferry::server
