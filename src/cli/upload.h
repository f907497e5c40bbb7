// Putting a directory's files into the workspace, as `run submit` does with its source and
// datasets with their files: walk and hash (with the stat cache), store what the server lacks
// (straight into the workspace's blob store when this CLI runs on its machine, else uploaded
// in batches), and post the manifest. Progress on a terminal, never with JSON output.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "cli/context.h"
#include "common/status.h"
#include "snapshot/snapshot.h"

namespace ferry::cli {

struct UploadOptions {
  std::string dir;  // absolute
  // false: every file, whatever .ferryignore/.amlignore/.gitignore say (data); .git stays out.
  bool use_ignore_files = true;
  // Called with the walked snapshot before anything is sent; an error stops the upload.
  std::function<Status(const snapshot::SnapshotResult&)> check;
};

// The snapshot as the server now has it, and what this call had to store for it.
struct StoredSnapshot {
  snapshot::SnapshotResult snap;
  uint64_t up_files = 0, up_bytes = 0;
};

Result<StoredSnapshot> UploadTree(Context& ctx, const UploadOptions& o);

// A file to fetch from the workspace: by content hash (verified) from its blob store, else
// through its datastore (`source`, checked against its recorded size and time when known).
struct RemoteFile {
  std::string path;  // where it goes under the target directory
  int64_t size = 0;
  std::string blob;
  std::string datastore, source;
  double modified_at = -1;  // < 0: not checked
};

// Writes each file under dir (atomically; an existing file is AlreadyExists naming it unless
// overwrite). Returns the bytes written.
Result<int64_t> DownloadFiles(Context& ctx, const std::vector<RemoteFile>& files,
                              const std::string& dir, bool overwrite);

}  // namespace ferry::cli
