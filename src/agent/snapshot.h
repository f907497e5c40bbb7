// The run's snapshot on this node: its blobs come from the workspace's blob store when this
// node shares the workspace home, else from the server (verified, and kept in this node's
// cache when it has one: --blob-cache), and the working copy is made from them (workdir.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "agent/server_api.h"
#include "agent/spool.h"
#include "agent/workdir.h"
#include "common/status.h"
#include "model/manifest.h"

namespace ferry::store {
class BlobStore;
}

namespace ferry::agent {

// Not thread-safe: the agent's thread only.
class Snapshot {
 public:
  struct Options {
    std::string home;         // blobs/ here is the workspace's store, or this node's cache
    bool blob_cache = false;  // the home is this node's own: blobs/ is a cache
  };
  // `server` outlives this; `note` adds a line to the run's log.
  Snapshot(const Options& options, ServerApi* server, NoteFn note);
  ~Snapshot();

  // Makes work_dir an exact copy of the snapshot whose manifest is the blob `manifest_id`,
  // through `pool` (a reused copy when there is one). Gives up when the agent is asked to stop.
  Result<WorkdirStats> Materialize(const std::string& manifest_id, WorkdirPool& pool,
                                   const std::string& work_dir, const std::string& record_path);
  // The files of the manifest blob `manifest_id` (a dataset version's) as a read-only tree
  // under <home>/datacache/<manifest_id>, made once per node (written beside it, then
  // renamed into place) and then used as it is: *hit says no byte moved. Returns its path.
  Result<std::string> DataTree(const std::string& manifest_id, bool* hit);
  // A small blob's content, whole (a manifest): from this node's store or cache, else the
  // server's, verified.
  Result<std::string> Blob(const std::string& hash) { return GetBlob(hash); }
  // Writes a blob of any size to fd (a new, empty file at path), piece by piece: from this
  // node's store or cache, else streamed from the server (and kept in the cache). Corruption
  // when the content does not match the hash; the file's content is then void.
  Status WriteBlob(const std::string& hash, int fd, const std::string& path);
  // With a cache: "snapshot: N files; fetched ..." (for logs/ferry-agent.txt); else "".
  const std::string& note() const { return note_text_; }
  // The workspace's blob store when this node shares it (outputs go straight in); else null.
  store::BlobStore* shared_blobs() const { return blob_cache_ ? nullptr : blobs_.get(); }

 private:
  Result<std::string> GetBlob(const std::string& hash);
  void OpenStore();
  Status FillCache(const model::Manifest& m);
  // A large blob streamed from the server into the cache.
  Status CacheLarge(const std::string& hash, uint64_t size);

  std::string home_;
  bool blob_cache_;
  ServerApi& server_;
  NoteFn note_;
  bool blobs_opened_ = false;
  std::unique_ptr<store::BlobStore> blobs_;
  int64_t cached_blobs_ = 0, fetched_bytes_ = 0;
  double cache_check_ms_ = 0;
  std::string note_text_;
};

}  // namespace ferry::agent
