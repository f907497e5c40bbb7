// RunCounter: the run counts of /metrics from a read connection of its own.
#include "store/run_counts.h"

#include "store/sqlite_db.h"

namespace ferry::store {

RunCounter::RunCounter(std::unique_ptr<Db> db) : db_(std::move(db)) {}
RunCounter::~RunCounter() = default;

Result<std::unique_ptr<RunCounter>> RunCounter::Open(const std::string& db_path) {
  FERRY_ASSIGN_OR_RETURN(Db db, Db::Open(db_path));
  FERRY_RETURN_IF_ERROR(db.Exec("PRAGMA query_only = ON"));
  return std::unique_ptr<RunCounter>(new RunCounter(std::make_unique<Db>(std::move(db))));
}

Result<std::vector<RunCount>> RunCounter::Count() {
  MutexLock lock(&mu_);
  FERRY_ASSIGN_OR_RETURN(
      Stmt st,
      db_->Prepare(
          "SELECT status, target, kind, COUNT(*) FROM runs GROUP BY status, target, kind"));
  std::vector<RunCount> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.Text(0), st.Text(1), st.Text(2), st.Int(3)});
  }
  return out;
}

}  // namespace ferry::store
