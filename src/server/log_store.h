// LogStore: each run's captured output as an append-only file, written at explicit byte
// offsets so that resends after a lost acknowledgement are idempotent. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"

namespace ferry::server {

class LogStore {
 public:
  explicit LogStore(std::string root) : root_(std::move(root)) {}

  // Appends data that starts at byte offset `offset` of the run's log. Bytes before the
  // stored size are already there and are skipped; an offset past the stored size is a gap
  // (FailedPrecondition, the caller resends from Size()). Returns the new size.
  Result<uint64_t> Append(const std::string& run_id, uint64_t offset, std::string_view data);
  Result<uint64_t> Size(const std::string& run_id);
  // Up to max_bytes from offset (empty at or past the end).
  Result<std::string> Read(const std::string& run_id, uint64_t offset, uint64_t max_bytes);
  // The ranks that have a log stream of their own ("<id>/rank<k>", k > 0), sorted; rank 0
  // (the run's log) is always first.
  std::vector<int> Ranks(const std::string& run_id) const;

 private:
  struct Entry {
    Mutex mu;  // one append or size look-up of this run's log at a time
    bool loaded GUARDED_BY(mu) = false;
    uint64_t size GUARDED_BY(mu) = 0;
  };
  Entry* Get(const std::string& run_id) EXCLUDES(mu_);
  std::string PathOf(const std::string& run_id) const;
  Status Load(const std::string& run_id, Entry* e) REQUIRES(e->mu);

  std::string root_;
  Mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_ GUARDED_BY(mu_);
};

}  // namespace ferry::server
