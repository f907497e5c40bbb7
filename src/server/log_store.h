// LogStore: each run's captured output as an append-only file, written at explicit byte
// offsets so that resends after a lost acknowledgement are idempotent. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

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
    std::mutex mu;
    bool loaded = false;
    uint64_t size = 0;
  };
  Entry* Get(const std::string& run_id);
  std::string PathOf(const std::string& run_id) const;
  Status Load(const std::string& run_id, Entry* e);

  std::string root_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_;
};

}  // namespace ferry::server
