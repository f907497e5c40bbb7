// Thin RAII wrappers over the SQLite C API; errors become Status values.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ferry::store {

class Stmt;
struct StmtCache;

// One SQLite connection. Not thread-safe: the owner serialises access. Prepared statements
// are kept for reuse: Prepare of SQL text seen before (and not in use) skips parsing and
// planning, which is most of the cost of the small statements a store runs. A Stmt must not
// outlive its Db.
class Db {
 public:
  static Result<Db> Open(const std::string& path);
  Db(Db&& o) noexcept;
  Db& operator=(Db&&) = delete;
  Db(const Db&) = delete;
  ~Db();

  Status Exec(const std::string& sql);
  Result<Stmt> Prepare(std::string_view sql);
  int64_t LastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }
  int Changes() const { return sqlite3_changes(db_); }
  Status Error(const std::string& what) const;
  sqlite3* raw() const { return db_; }

 private:
  Db(sqlite3* db, std::string path);
  sqlite3* db_ = nullptr;
  std::string path_;
  std::unique_ptr<StmtCache> cache_;
};

// A prepared statement; reusable after Reset(). Destroyed, it goes back to its Db's cache
// (reset, bindings cleared) rather than being finalized.
class Stmt {
 public:
  Stmt(Stmt&& o) noexcept : st_(o.st_), db_(o.db_), cache_(o.cache_) { o.st_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept;
  Stmt(const Stmt&) = delete;
  ~Stmt();

  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
  }
  Stmt& Bind(int i, int v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
  }
  Stmt& Bind(int i, double v) {
    sqlite3_bind_double(st_, i, v);
    return *this;
  }
  Stmt& Bind(int i, std::string_view v) {
    sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, const std::string& v) { return Bind(i, std::string_view(v)); }
  Stmt& Bind(int i, const char* v) { return Bind(i, std::string_view(v)); }
  Stmt& BindNull(int i) {
    sqlite3_bind_null(st_, i);
    return *this;
  }
  // Returns true when a row is available, false when done.
  Result<bool> Step();
  // Steps to completion, expecting no rows.
  Status Run();
  void Reset();

  int64_t Int(int col) const { return sqlite3_column_int64(st_, col); }
  double Double(int col) const { return sqlite3_column_double(st_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL; }
  std::string Text(int col) const;

 private:
  friend class Db;
  Stmt(sqlite3_stmt* st, sqlite3* db, StmtCache* cache) : st_(st), db_(db), cache_(cache) {}
  void Release();
  sqlite3_stmt* st_ = nullptr;
  sqlite3* db_ = nullptr;
  StmtCache* cache_ = nullptr;
};

}  // namespace ferry::store
