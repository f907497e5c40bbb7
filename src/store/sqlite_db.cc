// SQLite wrappers.
#include "store/sqlite_db.h"

#include <unordered_map>

namespace ferry::store {

// Idle prepared statements by SQL text (several per text when they were in use at once).
struct StmtCache {
  static constexpr size_t kMaxIdle = 256;
  std::unordered_multimap<std::string, sqlite3_stmt*> idle;
  ~StmtCache() {
    for (auto& [sql, st] : idle) sqlite3_finalize(st);
  }
};

Db::Db(sqlite3* db, std::string path)
    : db_(db), path_(std::move(path)), cache_(std::make_unique<StmtCache>()) {}

Db::Db(Db&& o) noexcept : db_(o.db_), path_(std::move(o.path_)), cache_(std::move(o.cache_)) {
  o.db_ = nullptr;
}

Result<Db> Db::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Status::IoError("cannot open database '" + path + "': " + msg);
  }
  sqlite3_busy_timeout(db, 10000);
  return Db(db, path);
}

Db::~Db() {
  cache_.reset();  // finalizes the idle statements before the connection closes
  if (db_) sqlite3_close_v2(db_);
}

Status Db::Error(const std::string& what) const {
  int code = sqlite3_errcode(db_);
  std::string msg = what + " (" + path_ + "): " + sqlite3_errmsg(db_);
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return Status::Unavailable(msg);
  if (code == SQLITE_FULL || code == SQLITE_IOERR) return Status::IoError(msg);
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return Status::Corruption(msg);
  return Status::Internal(msg);
}

Status Db::Exec(const std::string& sql) {
  if (sql.find(';') == std::string::npos) {  // one statement (BEGIN, COMMIT...): reuse its plan
    FERRY_ASSIGN_OR_RETURN(Stmt st, Prepare(sql));
    for (;;) {
      auto r = st.Step();
      if (!r.ok()) return r.status().WithContext("executing '" + sql + "'");
      if (!*r) return Status::Ok();
    }
  }
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Error("executing SQL").WithContext(msg);
  }
  return Status::Ok();
}

Result<Stmt> Db::Prepare(std::string_view sql) {
  if (cache_) {
    auto it = cache_->idle.find(std::string(sql));
    if (it != cache_->idle.end()) {
      sqlite3_stmt* st = it->second;
      cache_->idle.erase(it);
      return Stmt(st, db_, cache_.get());
    }
  }
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &st, nullptr) != SQLITE_OK) {
    return Error("preparing '" + std::string(sql) + "'");
  }
  // Text with more than one statement: only the first was prepared; do not cache it under
  // the whole text.
  return Stmt(st, db_,
              sqlite3_sql(st) && std::string_view(sqlite3_sql(st)) == sql ? cache_.get() : nullptr);
}

void Stmt::Release() {
  if (!st_) return;
  if (cache_ && cache_->idle.size() < StmtCache::kMaxIdle) {
    sqlite3_reset(st_);  // ends its read transaction, if a step left one open
    sqlite3_clear_bindings(st_);
    cache_->idle.emplace(sqlite3_sql(st_), st_);
  } else {
    sqlite3_finalize(st_);
  }
  st_ = nullptr;
}

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    Release();
    st_ = o.st_;
    db_ = o.db_;
    cache_ = o.cache_;
    o.st_ = nullptr;
  }
  return *this;
}

Stmt::~Stmt() { Release(); }

Result<bool> Stmt::Step() {
  int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  int code = sqlite3_extended_errcode(db_);
  std::string msg = std::string("sqlite: ") + sqlite3_errmsg(db_);
  if ((code & 0xff) == SQLITE_CONSTRAINT) return Status::AlreadyExists(msg);
  if ((code & 0xff) == SQLITE_BUSY) return Status::Unavailable(msg);
  if ((code & 0xff) == SQLITE_FULL || (code & 0xff) == SQLITE_IOERR) return Status::IoError(msg);
  return Status::Internal(msg);
}

Status Stmt::Run() {
  auto r = Step();
  Reset();
  if (!r.ok()) return r.status();
  return Status::Ok();
}

void Stmt::Reset() {
  sqlite3_reset(st_);
  sqlite3_clear_bindings(st_);
}

std::string Stmt::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(st_, col);
  if (!p) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(st_, col)));
}

}  // namespace ferry::store
