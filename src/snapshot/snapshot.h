// Builds a content-addressed snapshot (manifest + id) of a source directory, with a stat cache, and
// reads its git state.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "model/manifest.h"
#include "model/run.h"

namespace ferry::snapshot {

struct SnapshotOptions {
  std::string source_dir;       // must exist and be a directory
  std::string stat_cache_path;  // "" = no cache; else a file (created if missing) keyed by the
                                // absolute source dir
  int hash_threads = 2;
  // false: every file is taken whatever .ferryignore, .amlignore or .gitignore say (data,
  // not code: a dataset's files are often what a .gitignore leaves out); .git stays out.
  bool use_ignore_files = true;
  // Directories left out whatever the ignore files say, relative to source_dir (e.g. the
  // workspace home when it lies inside the source directory).
  std::vector<std::string> exclude_dirs;
  // Called (from the hashing threads, concurrently) with the content of every file that had
  // to be hashed and is at most on_content_max_bytes, so a caller can store it from the same
  // read (hash, content). An error aborts the snapshot. Larger files are only hashed.
  std::function<Status(const std::string& hash, std::string_view content)> on_content;
  uint64_t on_content_max_bytes = 64ull << 20;
  // Optional: called from the hashing threads (concurrently, so it must be thread-safe and
  // cheap) after each file that had to be hashed, with the work done so far and the work in
  // all (the stat-cache misses); for a progress display. Never called when nothing is hashed.
  struct HashProgress {
    uint64_t files_done = 0, bytes_done = 0, files_total = 0, bytes_total = 0;
  };
  std::function<void(const HashProgress&)> on_hashed;
  // Optional: called once, on the calling thread, when every file is hashed (and handed to
  // on_content), before the stat cache and the manifest are written: a caller can start
  // making what on_content stored durable meanwhile.
  std::function<void()> on_all_hashed;
};

struct SnapshotResult {
  model::Manifest manifest;       // sorted, normalised
  std::string manifest_text;      // manifest.Serialize()
  std::string id;                 // Sha256Hex(manifest_text): the snapshot id
  std::string root_prefix;        // the source dir's absolute path with a trailing '/'
  uint64_t files = 0, bytes = 0;  // totals in the manifest
  uint64_t files_hashed = 0, bytes_hashed = 0;  // work actually done (stat-cache misses)
  std::vector<std::string> warnings;  // e.g. skipped special files, directory symlinks not followed
};

// Walks options.source_dir (honouring .ferryignore/.amlignore/.gitignore, always skipping .git),
// hashes the files the stat cache does not vouch for, and returns the manifest and its id.
// Symlinks to regular files inside the source dir are recorded as those files; a symlink to a
// file outside it is an error; dangling and directory symlinks and special files are skipped
// with a warning.
Result<SnapshotResult> BuildSnapshot(const SnapshotOptions& options);

// hash -> absolute path of one file with that content (what an upload reads). Built on
// demand: an unchanged re-snapshot that the server already has never needs it.
std::unordered_map<std::string, std::string> PathsByHash(const SnapshotResult& snapshot);

// The git state of the work tree holding dir; present=false (not an error) when dir is not in a
// work tree or git is not installed.
Result<model::GitState> ReadGitState(const std::string& dir);

}  // namespace ferry::snapshot
