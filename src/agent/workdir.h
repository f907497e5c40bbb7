// Working copies, reused across runs on a node. Writing a fresh copy of a large project for
// every run costs seconds (10,000 files: inode allocation dominates, worse right after the
// previous copy was deleted). Instead, a finished run's copy is kept in a small pool; the next
// run claims one and only rewrites what differs from its own snapshot.
//
// A kept file is one whose path, content hash and mode match the new snapshot AND whose
// (inode, size, mtime, ctime) are exactly those recorded right after Ferry wrote it. ctime
// cannot be set by a script, and the script starts only after the file-time clock has moved
// past the last write, so any change a script made to a file is seen. Everything else —
// changed files, files the run created, symlinks, special files, directories the snapshot
// does not have — is removed, so the copy is the snapshot exactly.
//
// The pool (<home>/work/.reuse) holds "c-<ns>-<rand>" copies, each beside its record
// "c-<ns>-<rand>.record". Releasing and claiming only rename (record first on release, copy
// first on claim); records are rewritten in place and end with "end <boot id>", so a torn
// record, or one written before a reboot (nothing here is fsynced), is never trusted.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"
#include "model/manifest.h"

namespace ferry::agent {

struct WorkdirStats {
  int64_t kept = 0, written = 0, removed = 0;
  bool reused = false;  // a pooled copy was claimed
};

class WorkdirPool {
 public:
  // pool_dir: <home>/work/.reuse; capacity: copies kept (0 disables reuse).
  WorkdirPool(std::string pool_dir, int capacity)
      : pool_(std::move(pool_dir)), capacity_(capacity) {}

  // Makes `dir` (replaced if present) an exact copy of the snapshot `m` (id `snapshot_id`),
  // reusing a pooled copy when there is one. The record of what was written is kept at
  // `record_path` (outside the copy). write_blob writes a blob's content (hash) to fd, a new
  // empty file at path.
  Result<WorkdirStats> Materialize(const model::Manifest& m, const std::string& snapshot_id,
                                   const std::string& dir, const std::string& record_path,
                                   const std::function<Status(const std::string& hash, int fd,
                                                              const std::string& path)>& write_blob,
                                   const std::function<bool()>& stop);

  // After the run: moves `dir` and its record into the pool, or removes it when the pool is
  // full or disabled.
  Status Release(const std::string& dir, const std::string& record_path);

 private:
  // Moves a pooled copy to dir and its record to record_path; returns its pool name, or ""
  // when there is none to claim.
  std::string Claim(const std::string& snapshot_id, const std::string& dir,
                    const std::string& record_path, std::string* record_text);
  std::string pool_;
  int capacity_;
};

}  // namespace ferry::agent
