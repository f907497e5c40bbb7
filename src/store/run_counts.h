// Counts of runs by status, target and kind for the server's /metrics: one COUNT ... GROUP BY
// on a read connection of its own (WAL: never waits for the store's writer).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"

namespace ferry::store {

class Db;

struct RunCount {
  std::string status, target, kind;
  int64_t count = 0;
};

class RunCounter {
 public:
  // db_path: the workspace's ferry.db, already created by the metadata store.
  static Result<std::unique_ptr<RunCounter>> Open(const std::string& db_path);
  ~RunCounter();
  // Every (status, target, kind) with at least one run. Thread-safe (serialised).
  Result<std::vector<RunCount>> Count() EXCLUDES(mu_);

 private:
  explicit RunCounter(std::unique_ptr<Db> db);
  Mutex mu_;
  const std::unique_ptr<Db> db_ PT_GUARDED_BY(mu_);
};

}  // namespace ferry::store
