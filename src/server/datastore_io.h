// Reading and writing the files of a datastore, whatever its kind: the workspace's blob store
// (paths in the store's index, bytes in the blob store) or a directory this machine shares
// with the targets. Used by the datastore and dataset handlers; S3 comes as a third kind.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/assets.h"
#include "model/manifest.h"

namespace ferry {
class ByteSource;
class Sealer;
}  // namespace ferry
namespace ferry::data {
class S3Client;
}
namespace ferry::store {
class AssetStore;
class BlobStore;
}  // namespace ferry::store

namespace ferry::server {

// A file of a datastore: its path there, size and modification time; `blob` is its content
// hash where the datastore is content-addressed (workspaceblobstore), else "".
struct DataFile {
  std::string path;
  int64_t size = 0;
  double modified_at = 0;
  std::string blob;
  std::string etag;  // S3: the object's ETag
};

// Not thread-safe; one per request.
class DatastoreIo {
 public:
  virtual ~DatastoreIo() = default;
  // Every file whose path starts with prefix, sorted by path. InvalidArgument names a prefix
  // that leaves the datastore.
  virtual Result<std::vector<DataFile>> List(const std::string& prefix) = 0;
  // Puts the files of a stored snapshot under target ("" the datastore's root): all of them or
  // none (a file that is there with other content is AlreadyExists naming it, unless
  // overwrite). Returns the number of files written.
  virtual Result<int64_t> Put(const model::Manifest& files, const std::string& target,
                              bool overwrite) = 0;
  // One file's content, to be read piece by piece (a file of any size); NotFound names the
  // datastore and path. The reader may outlive this DatastoreIo.
  virtual Result<std::unique_ptr<ByteSource>> Open(const std::string& path) = 0;
};

// The datastore's I/O; `assets`, `blobs` and `sealer` (which opens an S3 datastore's secret
// key) outlive it.
Result<std::unique_ptr<DatastoreIo>> OpenDatastoreIo(const model::DatastoreRecord& d,
                                                     store::AssetStore* assets,
                                                     store::BlobStore* blobs, const Sealer* sealer,
                                                     double now);

// An S3 datastore's client, its secret key unsealed (errors never carry it). max_attempts 1:
// no retries (a check a person waits for).
Result<std::unique_ptr<data::S3Client>> OpenS3Datastore(const model::DatastoreRecord& d,
                                                        const Sealer* sealer, int max_attempts = 5);
// An S3 datastore's key prefix ("" for the whole bucket), and the key of a datastore path
// under it.
std::string S3Prefix(const model::DatastoreRecord& d);
std::string S3Key(const std::string& prefix, const std::string& path);

// A datastore path from a client: "" (the root) or a relative path ("/" at either end is
// ignored); InvalidArgument names the field and the value otherwise.
Result<std::string> DatastorePath(const std::string& field, const std::string& path);

}  // namespace ferry::server
