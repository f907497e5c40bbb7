// SQLite wrappers.
#include "store/sqlite_db.h"

namespace ferry::store {

Result<Db> Db::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Status::IoError("cannot open database '" + path + "': " + msg);
  }
  sqlite3_busy_timeout(db, 10000);
  return Db(db, path);
}

Db::~Db() {
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
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Error("executing SQL").WithContext(msg);
  }
  return Status::Ok();
}

Result<Stmt> Db::Prepare(std::string_view sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &st, nullptr) != SQLITE_OK) {
    return Error("preparing '" + std::string(sql) + "'");
  }
  return Stmt(st, db_);
}

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    if (st_) sqlite3_finalize(st_);
    st_ = o.st_;
    db_ = o.db_;
    o.st_ = nullptr;
  }
  return *this;
}

Stmt::~Stmt() {
  if (st_) sqlite3_finalize(st_);
}

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
  return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(st_, col)));
}

}  // namespace ferry::store
