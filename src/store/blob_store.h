// BlobStore: content-addressed storage of immutable byte strings keyed by SHA-256.
//
// Thread-safety: all methods may be called concurrently. Put is atomic: a blob is either
// fully present and verifiable or absent. Get and Open verify the content against its hash
// and report Corruption rather than returning wrong bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_source.h"
#include "common/status.h"

namespace ferry::store {

// A blob written piece by piece (an upload too large to hold in memory). Nothing is stored
// before Commit(); a writer dropped without it leaves nothing behind. Not thread-safe.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  virtual Status Append(std::string_view piece) = 0;
  // Stores the blob (as Put does) and returns its hash. InvalidArgument when the content
  // differs from the expected hash or size the writer was made with; nothing is stored then.
  virtual Result<std::string> Commit() = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  virtual bool Has(const std::string& hash) = 0;
  // Stores content. When expected_hash is non-empty the content must hash to it
  // (InvalidArgument otherwise). Returns the hash. Storing an existing blob is a no-op.
  virtual Result<std::string> Put(std::string_view content, const std::string& expected_hash) = 0;
  // Like Put, for a caller that computed hash from exactly these bytes itself (the same
  // buffer, in this process): the store skips hashing them again. Returns true when the
  // blob was new.
  virtual Result<bool> PutHashed(std::string_view content, const std::string& hash) = 0;
  // A writer for one blob; expected_hash and size (when given) are checked at Commit().
  virtual std::unique_ptr<BlobWriter> NewWriter(const std::string& expected_hash,
                                                std::optional<uint64_t> size) = 0;
  // Reads and verifies a blob, whole: for small blobs (manifests). NotFound when absent,
  // Corruption when it fails verification (the blob is then forgotten, so that the next
  // upload of its content stores it again).
  virtual Result<std::string> Get(const std::string& hash) = 0;
  // A blob's content in pieces (ByteSource), for one that may be large: memory stays constant
  // whatever its size. NotFound when absent. The content is verified as it is read; a
  // mismatch is Corruption from the Read() that would have handed out the last piece, and the
  // blob is forgotten as by Get. The store must outlive the reader; several readers may run
  // at once, each on one thread at a time.
  virtual Result<std::unique_ptr<ByteSource>> Open(const std::string& hash) = 0;
  // The size of a stored blob's content, without reading it all; NotFound when absent.
  virtual Result<uint64_t> Size(const std::string& hash) = 0;
  // Size() of each hash, in the order given (nullopt: absent), for checking a whole manifest:
  // much cheaper than one Size() call each. InvalidArgument when a hash is not SHA-256 hex.
  virtual Result<std::vector<std::optional<uint64_t>>> Sizes(
      const std::vector<std::string>& hashes) = 0;
  // Makes every Put that returned so far durable (survives power loss).
  virtual Status Sync() = 0;
};

// Under root: blobs up to 1 MiB appended to per-process pack files (indexed in SQLite once
// synced), larger ones as loose files root/ab/<hash>; all zstd-compressed. Several processes
// may share one root.
Result<std::unique_ptr<BlobStore>> OpenFsBlobStore(const std::string& root);

}  // namespace ferry::store
