// MetadataStore on SQLite (WAL mode, numbered migrations): one writer connection behind a
// mutex, and a small pool of reader connections, so that reads (searches, listings, the
// scheduler's polls) never wait for a write or for each other, and writes wait only for writes.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <unordered_map>

#include "common/fs.h"
#include "store/metadata_store.h"
#include "store/sqlite_db.h"

namespace ferry::store {
namespace {

using model::Run;
using model::RunStatus;
using nlohmann::json;

// Numbered migrations; index i holds migration number i + 1. Never edit a released one:
// append a new one.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE experiments(
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at REAL NOT NULL);
CREATE TABLE compute_targets(
  name TEXT PRIMARY KEY, kind TEXT NOT NULL, config TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE snapshots(
  id TEXT PRIMARY KEY, file_count INTEGER NOT NULL, total_bytes INTEGER NOT NULL,
  created_at REAL NOT NULL);
CREATE TABLE runs(
  rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  target TEXT NOT NULL, status TEXT NOT NULL, script TEXT NOT NULL, arguments TEXT NOT NULL,
  python TEXT NOT NULL, snapshot_id TEXT NOT NULL, git TEXT NOT NULL,
  created_at REAL NOT NULL, started_at REAL NOT NULL DEFAULT 0, ended_at REAL NOT NULL DEFAULT 0,
  exit_code INTEGER, error TEXT NOT NULL DEFAULT '', attempt INTEGER NOT NULL DEFAULT 1,
  job_handle TEXT NOT NULL DEFAULT '', cancel_requested INTEGER NOT NULL DEFAULT 0,
  token_hash TEXT NOT NULL);
CREATE INDEX runs_by_status ON runs(status, rid);
CREATE INDEX runs_by_experiment ON runs(experiment_id, rid);
CREATE INDEX runs_by_target ON runs(target, rid);
CREATE TABLE run_status_history(
  rid INTEGER NOT NULL, seq INTEGER NOT NULL, status TEXT NOT NULL, time REAL NOT NULL,
  reason TEXT NOT NULL, PRIMARY KEY(rid, seq)) WITHOUT ROWID;
CREATE TABLE run_params(
  rid INTEGER NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY(rid, name)) WITHOUT ROWID;
CREATE TABLE run_tags(
  rid INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY(rid, key)) WITHOUT ROWID;
CREATE TABLE metric_keys(kid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
-- value NULL encodes NaN (SQLite stores NaN as NULL).
CREATE TABLE metrics(
  rid INTEGER NOT NULL, kid INTEGER NOT NULL, seq INTEGER NOT NULL, step INTEGER NOT NULL,
  value REAL, time REAL NOT NULL, PRIMARY KEY(rid, kid, seq)) WITHOUT ROWID;
CREATE TABLE metric_summaries(
  rid INTEGER NOT NULL, kid INTEGER NOT NULL, count INTEGER NOT NULL, min REAL, max REAL,
  last REAL, last_step INTEGER NOT NULL, last_seq INTEGER NOT NULL,
  PRIMARY KEY(rid, kid)) WITHOUT ROWID;
CREATE TABLE artifacts(
  rid INTEGER NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, hash TEXT NOT NULL,
  PRIMARY KEY(rid, path)) WITHOUT ROWID;
)sql",
    // 2: settings from run configurations (environment variables, duration limit), as JSON.
    R"sql(
ALTER TABLE runs ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
)sql",
    // 3: GPUs given to a run by the scheduler; registered environments (immutable versions).
    R"sql(
ALTER TABLE runs ADD COLUMN gpu_ids TEXT NOT NULL DEFAULT '[]';
CREATE TABLE environments(
  name TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL, content TEXT NOT NULL,
  hash TEXT NOT NULL, description TEXT NOT NULL, created_at REAL NOT NULL,
  PRIMARY KEY(name, version)) WITHOUT ROWID;
)sql",
    // 4: named users with their own tokens (stored as SHA-256), and who submitted each run.
    R"sql(
CREATE TABLE users(
  name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, created_at REAL NOT NULL) WITHOUT ROWID;
ALTER TABLE runs ADD COLUMN submitted_by TEXT NOT NULL DEFAULT '';
)sql",
    // 5: sweeps: parent runs (kind 'sweep') with their definition, trials as child runs, and
    // the reason a cancel was requested for (a policy's numbers, the user).
    R"sql(
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'run';
ALTER TABLE runs ADD COLUMN parent_id TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN cancel_reason TEXT NOT NULL DEFAULT '';
CREATE INDEX runs_by_parent ON runs(parent_id, rid) WHERE parent_id != '';
CREATE TABLE sweeps(
  rid INTEGER PRIMARY KEY, spec_file TEXT NOT NULL, spec_text TEXT NOT NULL, settings TEXT NOT NULL);
)sql",
    // 6: what MLflow's tracking API needs: experiment tags and lifecycle, run names and
    // lifecycle (deleted runs are kept, hidden from searches).
    R"sql(
ALTER TABLE experiments ADD COLUMN lifecycle_stage TEXT NOT NULL DEFAULT 'active';
ALTER TABLE experiments ADD COLUMN last_update_time REAL NOT NULL DEFAULT 0;
ALTER TABLE experiments ADD COLUMN artifact_location TEXT NOT NULL DEFAULT '';
CREATE TABLE experiment_tags(
  eid INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(eid, key)) WITHOUT ROWID;
ALTER TABLE runs ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN lifecycle_stage TEXT NOT NULL DEFAULT 'active';
)sql",
    // 7: per 256 consecutive sequence numbers of a run's key, the count and the lowest and
    // highest points (whole; `any` for a bucket of NaNs only), kept with every append, so a
    // chart of a long series reads these rows instead of every point. Series stored before
    // this migration have none (their counts do not add up) and are read point by point.
    R"sql(
CREATE TABLE metric_rollups(
  rid INTEGER NOT NULL, kid INTEGER NOT NULL, bucket INTEGER NOT NULL, count INTEGER NOT NULL,
  lo_seq INTEGER, lo_step INTEGER, lo_value REAL, lo_time REAL,
  hi_seq INTEGER, hi_step INTEGER, hi_value REAL, hi_time REAL,
  any_seq INTEGER NOT NULL, any_step INTEGER NOT NULL, any_time REAL NOT NULL,
  PRIMARY KEY(rid, kid, bucket)) WITHOUT ROWID;
)sql",
    // 8: roles (docs/security.md). Users made before roles keep what they could do then:
    // submit and manage runs.
    R"sql(
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'contributor';
)sql",
    // 9: each key's latest point by MLflow's rule (MlflowLater below), kept with the summaries
    // so that MLflow's run view reads one row per key instead of every point; backfilled here.
    R"sql(
ALTER TABLE metric_summaries ADD COLUMN latest_seq INTEGER NOT NULL DEFAULT -1;
ALTER TABLE metric_summaries ADD COLUMN latest_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE metric_summaries ADD COLUMN latest_time REAL NOT NULL DEFAULT 0;
ALTER TABLE metric_summaries ADD COLUMN latest_value REAL;
UPDATE metric_summaries SET (latest_seq, latest_step, latest_time, latest_value) = (
  SELECT m.seq, m.step, m.time, m.value FROM metrics m
  WHERE m.rid = metric_summaries.rid AND m.kid = metric_summaries.kid
  ORDER BY m.step DESC, m.time DESC, COALESCE(m.value, 0) DESC, m.seq ASC LIMIT 1);
)sql",
    // 10: who created each experiment (a contributor may change only their own).
    R"sql(
ALTER TABLE experiments ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
)sql",
};

// MLflow's latest point of a metric (its SQLAlchemy store's latest_metrics): the highest step,
// then the latest time, then the largest value, a NaN counting as 0 - a point replaces the
// latest only when strictly later by these, so of equal ones the first logged stays, which
// is the lowest sequence number (sequence numbers follow the order of logging). This is a
// total order, so the latest does not depend on the order batches arrive in. True when a is
// later than b. The SQL of the summaries' upsert (kLatestWins) is the same rule.
bool MlflowLater(const model::MetricPoint& a, const model::MetricPoint& b) {
  if (a.step != b.step) return a.step > b.step;
  if (a.time != b.time) return a.time > b.time;
  const double av = std::isnan(a.value) ? 0 : a.value, bv = std::isnan(b.value) ? 0 : b.value;
  if (av != bv) return av > bv;
  return a.seq < b.seq;
}
constexpr const char* kLatestWins =
    "(latest_seq < 0 OR excluded.latest_step > latest_step OR (excluded.latest_step = latest_step "
    "AND "
    "(excluded.latest_time > latest_time OR (excluded.latest_time = latest_time AND "
    "(COALESCE(excluded.latest_value, 0) > COALESCE(latest_value, 0) OR "
    "(COALESCE(excluded.latest_value, 0) = COALESCE(latest_value, 0) AND excluded.latest_seq < "
    "latest_seq))))))";

// Sequence numbers per rollup bucket (as a shift).
constexpr int kRollupShift = 8;


// A metric point from columns seq, step, value, time starting at col (NULL value: NaN).
model::MetricPoint PointFrom(const Stmt& st, int col, std::string key) {
  model::MetricPoint p;
  p.key = std::move(key);
  p.seq = st.Int(col);
  p.step = st.Int(col + 1);
  p.value = st.IsNull(col + 2) ? std::numeric_limits<double>::quiet_NaN() : st.Double(col + 2);
  p.time = st.Double(col + 3);
  return p;
}

model::Experiment MakeExperiment(int64_t id, std::string name, double created_at) {
  model::Experiment e;
  e.id = id;
  e.name = std::move(name);
  e.created_at = created_at;
  e.last_update_time = created_at;
  return e;
}

constexpr const char* kRunColumns =
    "r.rid, r.id, e.name, r.target, r.status, r.script, r.arguments, r.python, r.snapshot_id, "
    "r.git, r.created_at, r.started_at, r.ended_at, r.exit_code, r.error, r.attempt, "
    "r.job_handle, r.cancel_requested, r.options, r.gpu_ids, r.submitted_by, r.kind, r.parent_id, "
    "r.cancel_reason, r.name, r.lifecycle_stage";

json GitToJson(const model::GitState& g) {
  if (!g.present) return json::object();
  return {{"remote_url", g.remote_url}, {"branch", g.branch}, {"commit", g.commit}, {"dirty", g.dirty}};
}

model::GitState GitFromJson(const std::string& s) {
  model::GitState g;
  json j = json::parse(s, nullptr, false);
  if (!j.is_object() || j.empty()) return g;
  g.present = true;
  g.remote_url = j.value("remote_url", "");
  g.branch = j.value("branch", "");
  g.commit = j.value("commit", "");
  g.dirty = j.value("dirty", false);
  return g;
}

json OptionsToJson(const model::Run& r) {
  json j = json::object();
  model::RunOptionsToJson(r.options, &j);
  return j;
}

void OptionsFromJson(const std::string& s, model::Run* r) {
  json j = json::parse(s, nullptr, false);
  if (!j.is_object()) return;
  // Stored options were validated when the run was created.
  auto o = model::RunOptionsFromJson(j);
  if (o.ok()) r->options = std::move(o).value();
}

std::vector<int> GpuIdsFromJson(const std::string& s) {
  std::vector<int> out;
  json j = json::parse(s, nullptr, false);
  if (!j.is_array()) return out;
  for (auto& v : j) {
    if (v.is_number_integer()) out.push_back(v.get<int>());
  }
  return out;
}

class SqliteMetadataStore final : public MetadataStore {
 public:
  SqliteMetadataStore(Db db, std::string path, SqliteStoreOptions options)
      : db_(std::move(db)), path_(std::move(path)), options_(options) {}

  ~SqliteMetadataStore() override {
    {
      std::lock_guard lock(sync_mu_);
      stopping_ = true;
    }
    sync_cv_.notify_all();
    if (syncer_.joinable()) syncer_.join();
    SyncData();
  }

  // Logged data committed without a sync reaches the disk within options_.data_sync_ms: the
  // WAL file is fdatasync'ed (everything written to it so far) from this thread.
  Status StartSyncer() {
    if (options_.sync_every_commit) return Status::Ok();
    std::string wal = path_ + "-wal";
    wal_fd_.Reset(::open(wal.c_str(), O_RDONLY | O_CLOEXEC));
    if (!wal_fd_.valid()) return ErrnoStatus("cannot open", wal, errno);
    syncer_ = std::thread([this] {
      std::unique_lock lock(sync_mu_);
      while (!stopping_) {
        sync_cv_.wait_for(lock, std::chrono::milliseconds(options_.data_sync_ms));
        lock.unlock();
        SyncData();
        lock.lock();
      }
    });
    return Status::Ok();
  }

  Status Init() {
    FERRY_RETURN_IF_ERROR(db_.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                                   "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"));
    FERRY_RETURN_IF_ERROR(db_.Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, applied_at REAL)"));
    FERRY_ASSIGN_OR_RETURN(Stmt q, db_.Prepare("SELECT COALESCE(MAX(version),0) FROM schema_migrations"));
    FERRY_ASSIGN_OR_RETURN(bool row, q.Step());
    int64_t current = row ? q.Int(0) : 0;
    const int64_t n = static_cast<int64_t>(std::size(kMigrations));
    if (current > n) {
      return Status::FailedPrecondition("the workspace database has schema version " +
                                        std::to_string(current) + " but this ferry knows only " +
                                        std::to_string(n) + "; upgrade ferry");
    }
    for (int64_t v = current + 1; v <= n; ++v) {
      FERRY_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
      Status st = db_.Exec(kMigrations[v - 1]);
      if (st.ok()) st = db_.Exec("INSERT INTO schema_migrations VALUES(" + std::to_string(v) + ", unixepoch())");
      if (!st.ok()) {
        (void)db_.Exec("ROLLBACK");
        return st.WithContext("applying migration " + std::to_string(v));
      }
      FERRY_RETURN_IF_ERROR(db_.Exec("COMMIT"));
    }
    if (!options_.sync_every_commit) FERRY_RETURN_IF_ERROR(db_.Exec("PRAGMA synchronous=NORMAL"));
    return OpenReaders();
  }

  Result<model::Experiment> CreateExperiment(const std::string& name, double now,
                                             const std::string& created_by) override {
    auto lease = Write();
    FERRY_RETURN_IF_ERROR(model::ValidateExperimentName(name));
    FERRY_ASSIGN_OR_RETURN(
        Stmt st,
        db().Prepare("INSERT INTO experiments(name, created_at, created_by) VALUES(?,?,?)"));
    st.Bind(1, name).Bind(2, now).Bind(3, created_by);
    Status s = st.Run();
    if (s.code() == StatusCode::kAlreadyExists) return Status::AlreadyExists("experiment '" + name + "' already exists");
    FERRY_RETURN_IF_ERROR(s);
    model::Experiment e = MakeExperiment(db().LastInsertRowid(), name, now);
    e.created_by = created_by;
    return e;
  }

  Result<model::Experiment> CreateExperimentWith(const std::string& name,
                                                 const std::string& artifact_location,
                                                 const std::map<std::string, std::string>& tags,
                                                 double now,
                                                 const std::string& created_by) override {
    auto lease = Write();
    FERRY_RETURN_IF_ERROR(model::ValidateExperimentName(name));
    FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
    Result<model::Experiment> e = [&]() -> Result<model::Experiment> {
      FERRY_ASSIGN_OR_RETURN(
          Stmt st,
          db().Prepare("INSERT INTO experiments(name, created_at, "
                       "last_update_time, artifact_location, created_by) VALUES(?,?,?,?,?)"));
      Status s = st.Bind(1, name)
                     .Bind(2, now)
                     .Bind(3, now)
                     .Bind(4, artifact_location)
                     .Bind(5, created_by)
                     .Run();
      if (s.code() == StatusCode::kAlreadyExists)
        return Status::AlreadyExists("experiment '" + name + "' already exists");
      FERRY_RETURN_IF_ERROR(s);
      model::Experiment out = MakeExperiment(db().LastInsertRowid(), name, now);
      out.artifact_location = artifact_location;
      out.tags = tags;
      out.created_by = created_by;
      FERRY_ASSIGN_OR_RETURN(Stmt tag,
                             db().Prepare("INSERT OR REPLACE INTO experiment_tags VALUES(?,?,?)"));
      for (const auto& [k, v] : tags)
        FERRY_RETURN_IF_ERROR(tag.Bind(1, out.id).Bind(2, k).Bind(3, v).Run());
      return out;
    }();
    if (!e.ok()) {
      (void)db().Exec("ROLLBACK");
      return e;
    }
    FERRY_RETURN_IF_ERROR(Commit());
    return e;
  }

  Result<model::Experiment> EnsureExperiment(const std::string& name, double now) override {
    auto lease = Write();
    return EnsureExperimentLocked(name, now, "");
  }

  Result<std::vector<model::Experiment>> ListExperiments() override {
    auto lease = Read();
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT id, name, created_at, lifecycle_stage, "
                                                 "last_update_time, artifact_location, created_by "
                                                 "FROM experiments ORDER BY name"));
    std::vector<model::Experiment> out;
    for (;;) {
      FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      model::Experiment e = MakeExperiment(st.Int(0), st.Text(1), st.Double(2));
      e.lifecycle_stage = st.Text(3);
      e.last_update_time = st.Double(4) > 0 ? st.Double(4) : e.created_at;
      e.artifact_location = st.Text(5);
      e.created_by = st.Text(6);
      out.push_back(std::move(e));
    }
    for (auto& e : out) {
      FERRY_ASSIGN_OR_RETURN(e.tags, ReadKv("SELECT key, value FROM experiment_tags WHERE eid=? ORDER BY key", e.id));
    }
    return out;
  }

  Status UpdateExperiment(int64_t id, const std::optional<std::string>& name,
                          const std::optional<std::string>& lifecycle_stage, double now) override {
    auto lease = Write();
    if (name) FERRY_RETURN_IF_ERROR(model::ValidateExperimentName(*name));
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("UPDATE experiments SET name=COALESCE(?2, name), "
                                                 "lifecycle_stage=COALESCE(?3, lifecycle_stage), "
                                                 "last_update_time=?4 WHERE id=?1"));
    st.Bind(1, id).Bind(4, now);
    if (name) st.Bind(2, *name);
    if (lifecycle_stage) st.Bind(3, *lifecycle_stage);
    Status s = st.Run();
    if (s.code() == StatusCode::kAlreadyExists) return Status::AlreadyExists("experiment '" + *name + "' already exists");
    FERRY_RETURN_IF_ERROR(s);
    if (db().Changes() == 0)
      return Status::NotFound("experiment " + std::to_string(id) + " does not exist");
    return Status::Ok();
  }

  Status SetExperimentTag(int64_t id, const std::string& key, const std::string& value, double now) override {
    auto lease = Write();
    FERRY_ASSIGN_OR_RETURN(Stmt q,
                           db().Prepare("UPDATE experiments SET last_update_time=?2 WHERE id=?1"));
    FERRY_RETURN_IF_ERROR(q.Bind(1, id).Bind(2, now).Run());
    if (db().Changes() == 0)
      return Status::NotFound("experiment " + std::to_string(id) + " does not exist");
    FERRY_ASSIGN_OR_RETURN(Stmt st,
                           db().Prepare("INSERT OR REPLACE INTO experiment_tags VALUES(?,?,?)"));
    return st.Bind(1, id).Bind(2, key).Bind(3, value).Run();
  }

  Status DeleteExperimentTag(int64_t id, const std::string& key, double now) override {
    auto lease = Write();
    FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
    Status s = [&]() -> Status {
      FERRY_ASSIGN_OR_RETURN(Stmt del,
                             db().Prepare("DELETE FROM experiment_tags WHERE eid=? AND key=?"));
      FERRY_RETURN_IF_ERROR(del.Bind(1, id).Bind(2, key).Run());
      if (db().Changes() == 0) {
        return Status::NotFound("No tag with name: " + key + " in experiment with id " +
                                std::to_string(id));
      }
      FERRY_ASSIGN_OR_RETURN(
          Stmt up, db().Prepare("UPDATE experiments SET last_update_time=?2 WHERE id=?1"));
      return up.Bind(1, id).Bind(2, now).Run();
    }();
    if (!s.ok()) {
      (void)db().Exec("ROLLBACK");
      return s;
    }
    return Commit();
  }

  Status SetRunName(const std::string& id, const std::string& name) override {
    auto lease = Write();
    return UpdateRun("UPDATE runs SET name=?2 WHERE id=?1", id, name, true);
  }

  Status SetRunLifecycle(const std::string& id, const std::string& stage) override {
    auto lease = Write();
    return UpdateRun("UPDATE runs SET lifecycle_stage=?2 WHERE id=?1", id, stage);
  }

  Status SetParams(const std::string& id, const std::map<std::string, std::string>& params) override {
    auto lease = WriteData();
    FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
    FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
    Status s = [&]() -> Status {
      FERRY_ASSIGN_OR_RETURN(Stmt q,
                             db().Prepare("SELECT value FROM run_params WHERE rid=? AND name=?"));
      FERRY_ASSIGN_OR_RETURN(Stmt ins, db().Prepare("INSERT INTO run_params VALUES(?,?,?)"));
      for (const auto& [k, v] : params) {
        q.Bind(1, rid).Bind(2, k);
        FERRY_ASSIGN_OR_RETURN(bool row, q.Step());
        std::string old = row ? q.Text(0) : "";
        q.Reset();
        if (row) {
          if (old == v) continue;
          return Status::FailedPrecondition("parameter '" + k + "' of run '" + id + "' is '" + old +
                                            "' already; a parameter cannot be changed (tried '" + v + "')");
        }
        FERRY_RETURN_IF_ERROR(ins.Bind(1, rid).Bind(2, k).Bind(3, v).Run());
      }
      return Status::Ok();
    }();
    if (!s.ok()) {
      (void)db().Exec("ROLLBACK");
      return s;
    }
    return Commit();
  }

  Status DeleteTag(const std::string& id, const std::string& key) override {
    auto lease = Write();
    FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("DELETE FROM run_tags WHERE rid=? AND key=?"));
    FERRY_RETURN_IF_ERROR(st.Bind(1, rid).Bind(2, key).Run());
    if (db().Changes() == 0) return Status::NotFound("run '" + id + "' has no tag '" + key + "'");
    return Status::Ok();
  }

  Result<int64_t> LogMetrics(const std::string& id, std::vector<model::MetricPoint> points) override {
    auto lease = WriteData();
    FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
    if (points.empty()) return int64_t{0};
    // Client-logged points take sequence numbers from their own range, above every rank's:
    // an agent's metrics file and a client may log to the same run.
    auto next = client_seq_.find(rid);
    if (next == client_seq_.end()) {
      FERRY_ASSIGN_OR_RETURN(Stmt q,
                             db().Prepare("SELECT MAX(seq) FROM metrics WHERE rid=? AND seq>=?"));
      q.Bind(1, rid).Bind(2, kClientSeqBase);
      FERRY_ASSIGN_OR_RETURN(bool row, q.Step());
      int64_t first = row && !q.IsNull(0) ? q.Int(0) + 1 : kClientSeqBase;
      next = client_seq_.emplace(rid, first).first;
    }
    for (auto& p : points) p.seq = next->second++;
    FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
    auto r = AppendMetricsLocked(rid, points);
    Status done = r.ok() ? Commit() : r.status();
    if (!done.ok()) {
      if (!r.ok()) (void)db().Exec("ROLLBACK");  // Commit rolls back itself
      key_cache_.clear();      // ids assigned in the rolled-back transaction are gone
      client_seq_.erase(rid);  // read again from what is stored
      return done;
    }
    return r;
  }

  Status EnsureTarget(const model::ComputeTargetRecord& t) override {
    auto lease = Write();
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("INSERT OR IGNORE INTO compute_targets(name, "
                                                 "kind, config, created_at) VALUES(?,?,?,?)"));
    return st.Bind(1, t.name).Bind(2, t.kind).Bind(3, t.config_json).Bind(4, t.created_at).Run();
  }

  Status CreateTarget(const model::ComputeTargetRecord& t) override {
    auto lease = Write();
    FERRY_ASSIGN_OR_RETURN(
        Stmt st,
        db().Prepare(
            "INSERT INTO compute_targets(name, kind, config, created_at) VALUES(?,?,?,?)"));
    Status s = st.Bind(1, t.name).Bind(2, t.kind).Bind(3, t.config_json).Bind(4, t.created_at).Run();
    if (s.code() == StatusCode::kAlreadyExists) {
      return Status::AlreadyExists("compute target '" + t.name + "' exists already; detach it first or choose another name");
    }
    return s;
  }

  Status UpdateTargetConfig(const std::string& name, const std::string& config_json) override {
    auto lease = Write();
    FERRY_ASSIGN_OR_RETURN(Stmt st,
                           db().Prepare("UPDATE compute_targets SET config=? WHERE name=?"));
    FERRY_RETURN_IF_ERROR(st.Bind(1, config_json).Bind(2, name).Run());
    if (db().Changes() == 0)
      return Status::NotFound("compute target '" + name + "' does not exist");
    return Status::Ok();
  }

  Status DeleteTarget(const std::string& name) override {
    auto lease = Write();
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("DELETE FROM compute_targets WHERE name=?"));
    FERRY_RETURN_IF_ERROR(st.Bind(1, name).Run());
    if (db().Changes() == 0)
      return Status::NotFound("compute target '" + name + "' does not exist");
    return Status::Ok();
  }

  Result<model::ComputeTargetRecord> GetTarget(const std::string& name) override {
    auto lease = Read();
    FERRY_ASSIGN_OR_RETURN(
        Stmt st,
        db().Prepare("SELECT name, kind, config, created_at FROM compute_targets WHERE name=?"));
    st.Bind(1, name);
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("compute target '" + name + "' does not exist; see 'ferry compute list'");
    return model::ComputeTargetRecord{st.Text(0), st.Text(1), st.Text(2), st.Double(3)};
  }

  Result<std::vector<model::ComputeTargetRecord>> ListTargets() override {
    auto lease = Read();
    FERRY_ASSIGN_OR_RETURN(
        Stmt st,
        db().Prepare("SELECT name, kind, config, created_at FROM compute_targets ORDER BY name"));
    std::vector<model::ComputeTargetRecord> out;
    for (;;) {
      FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back({st.Text(0), st.Text(1), st.Text(2), st.Double(3)});
    }
    return out;
  }

  Result<model::RegisteredEnvironment> RegisterEnvironment(const model::RegisteredEnvironment& env, double now,
                                                           bool* created) override {
    auto lease = Write();
    FERRY_ASSIGN_OR_RETURN(auto latest, ReadEnvironments(
        "SELECT * FROM environments WHERE name=?1 ORDER BY version DESC LIMIT 1", env.name, 0));
    if (!latest.empty() && latest[0].hash == env.hash) {
      *created = false;
      return latest[0];
    }
    model::RegisteredEnvironment e = env;
    e.version = latest.empty() ? 1 : latest[0].version + 1;
    e.created_at = now;
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("INSERT INTO environments VALUES(?,?,?,?,?,?,?)"));
    FERRY_RETURN_IF_ERROR(st.Bind(1, e.name).Bind(2, e.version).Bind(3, e.type).Bind(4, e.content)
                              .Bind(5, e.hash).Bind(6, e.description).Bind(7, now).Run());
    *created = true;
    return e;
  }

  Result<model::RegisteredEnvironment> GetEnvironment(const std::string& name, int64_t version) override {
    auto lease = Read();
    FERRY_ASSIGN_OR_RETURN(auto found, ReadEnvironments(
        version > 0 ? "SELECT * FROM environments WHERE name=?1 AND version=?2"
                    : "SELECT * FROM environments WHERE name=?1 ORDER BY version DESC LIMIT 1",
        name, version));
    if (found.empty()) {
      return Status::NotFound("environment '" + name + "'" +
                              (version > 0 ? " version " + std::to_string(version) : std::string()) +
                              " is not registered; see 'ferry environment list'");
    }
    return found[0];
  }

  Result<std::vector<model::RegisteredEnvironment>> ListEnvironments(const std::string& name) override {
    auto lease = Read();
    if (!name.empty()) return ReadEnvironments("SELECT * FROM environments WHERE name=?1 ORDER BY version", name, 0);
    return ReadEnvironments(
        "SELECT e.* FROM environments e WHERE e.version = "
        "(SELECT MAX(version) FROM environments WHERE name = e.name) ORDER BY e.name", "", 0);
  }

  Result<int64_t> NextMetricSeq(const std::string& id, int rank) override {
    auto lease = Read();
    const int64_t lo = static_cast<int64_t>(rank) << kRankSeqShift, hi = static_cast<int64_t>(rank + 1) << kRankSeqShift;
    // The summaries' highest sequence number answers when it is in this rank's range (always
    // for single-process runs); else the rank's own points are looked at.
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT MAX(s.last_seq) FROM metric_summaries s "
                                                 "JOIN runs r ON r.rid = s.rid WHERE r.id=?"));
    st.Bind(1, id);
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row || st.IsNull(0) || st.Int(0) < lo) return lo;
    if (st.Int(0) < hi) return st.Int(0) + 1;
    FERRY_ASSIGN_OR_RETURN(Stmt q,
                           db().Prepare("SELECT MAX(m.seq) FROM metrics m JOIN runs r ON r.rid = "
                                        "m.rid WHERE r.id=? AND m.seq>=? AND m.seq<?"));
    q.Bind(1, id).Bind(2, lo).Bind(3, hi);
    FERRY_ASSIGN_OR_RETURN(row, q.Step());
    if (!row || q.IsNull(0)) return lo;
    return q.Int(0) + 1;
  }

  Status CreateUser(const UserRecord& u) override {
    auto lease = Write();
    FERRY_ASSIGN_OR_RETURN(
        Stmt st,
        db().Prepare("INSERT INTO users(name, token_hash, created_at, role) VALUES(?,?,?,?)"));
    Status s = st.Bind(1, u.name).Bind(2, u.token_hash).Bind(3, u.created_at).Bind(4, u.role).Run();
    if (s.code() == StatusCode::kAlreadyExists)
      return Status::AlreadyExists("user '" + u.name + "' exists already");
    return s;
  }

  Result<std::vector<UserRecord>> ListUsers() override {
    auto lease = Read();
    FERRY_ASSIGN_OR_RETURN(
        Stmt st,
        db().Prepare("SELECT name, role, token_hash, created_at FROM users ORDER BY name"));
    std::vector<UserRecord> out;
    for (;;) {
      FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back({st.Text(0), st.Text(1), st.Text(2), st.Double(3)});
    }
    return out;
  }

  Status SetUserRole(const std::string& name, const std::string& role) override {
    auto lease = Write();
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("UPDATE users SET role=? WHERE name=?"));
    FERRY_RETURN_IF_ERROR(st.Bind(1, role).Bind(2, name).Run());
    if (db().Changes() == 0)
      return Status::NotFound("no user '" + name + "'; see 'ferry user list'");
    return Status::Ok();
  }

  Status DeleteUser(const std::string& name) override {
    auto lease = Write();
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("DELETE FROM users WHERE name=?"));
    FERRY_RETURN_IF_ERROR(st.Bind(1, name).Run());
    if (db().Changes() == 0)
      return Status::NotFound("no user '" + name + "'; see 'ferry user list'");
    return Status::Ok();
  }

  Status PutSnapshot(const std::string& id, int64_t files, int64_t bytes, double now) override {
    auto lease = Write();
    FERRY_ASSIGN_OR_RETURN(Stmt st,
                           db().Prepare("INSERT OR IGNORE INTO snapshots VALUES(?,?,?,?)"));
    return st.Bind(1, id).Bind(2, files).Bind(3, bytes).Bind(4, now).Run();
  }

  Result<bool> HasSnapshot(const std::string& id) override {
    auto lease = Read();
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT 1 FROM snapshots WHERE id=?"));
    st.Bind(1, id);
    return st.Step();
  }

  Result<Run> CreateRun(const Run& run, const std::map<std::string, std::string>& params,
                        const std::string& token_hash, double now) override {
    auto lease = Write();
    FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
    Status created = CreateRunLocked(run, params, token_hash, now);
    if (!created.ok()) {
      (void)db().Exec("ROLLBACK");
      return created;
    }
    FERRY_RETURN_IF_ERROR(Commit());
    return GetRunLocked(run.id);
  }

  Result<Run> GetRun(const std::string& id) override {
    auto lease = Read();
    return GetRunLocked(id);
  }

  Result<Run> GetRunSummary(const std::string& id) override {
    auto lease = ReadOne();
    return GetRunLocked(id, true);
  }

  // The FROM/WHERE (and, for a sort, JOIN) of a filtered run list, with its bindings in order.
  struct RunQuery {
    std::string from_where, order;
    std::vector<std::string> binds;
  };
  static Result<RunQuery> BuildRunQuery(const model::RunFilter& f) {
    RunQuery q;
    std::string join, where = " WHERE 1=1";
    auto bind = [&](const std::string& v) {
      q.binds.push_back(v);
      return "?" + std::to_string(q.binds.size());
    };
    std::string dir = f.ascending ? " ASC" : " DESC";
    if (f.sort.rfind("metric:", 0) == 0 && f.sort.size() > 7) {
      join += " LEFT JOIN metric_summaries so ON so.rid = r.rid AND so.kid = (SELECT kid FROM metric_keys WHERE name = " +
              bind(f.sort.substr(7)) + ")";
      q.order = " ORDER BY so.last IS NULL, so.last" + dir + ", r.rid DESC";
    } else if (f.sort.rfind("param:", 0) == 0 && f.sort.size() > 6) {
      join += " LEFT JOIN run_params po ON po.rid = r.rid AND po.name = " + bind(f.sort.substr(6));
      // Numbers first and as numbers, then other text in text order.
      q.order = " ORDER BY po.value IS NULL, (po.value = '' OR po.value GLOB '*[^0-9.eE+-]*'), CAST(po.value AS REAL)" +
                dir + ", po.value" + dir + ", r.rid DESC";
    } else if (f.sort == "started" || f.sort == "ended") {
      std::string col = f.sort == "started" ? "r.started_at" : "r.ended_at";
      q.order = " ORDER BY " + col + " = 0, " + col + dir + ", r.rid DESC";
    } else if (f.sort.empty() || f.sort == "created") {
      q.order = std::string(" ORDER BY r.rid") + (f.ascending ? " ASC" : " DESC");
    } else {
      return Status::InvalidArgument("'sort' must be created, started, ended, metric:<key> or param:<key>; got '" +
                                     f.sort + "'");
    }
    if (!f.experiment.empty()) where += " AND e.name = " + bind(f.experiment);
    if (!f.target.empty()) where += " AND r.target = " + bind(f.target);
    if (f.status) where += " AND r.status = " + bind(model::RunStatusName(*f.status));
    if (!f.parent.empty()) {
      where += " AND r.parent_id = " + bind(f.parent);
    } else if (!f.include_children) {
      where += " AND r.parent_id = ''";
    }
    for (const auto& [k, v] : f.tags) {
      where += " AND EXISTS (SELECT 1 FROM run_tags t WHERE t.rid = r.rid AND t.key = " + bind(k) + " AND t.value = " +
               bind(v) + ")";
    }
    for (const auto& [k, v] : f.params) {
      where += " AND EXISTS (SELECT 1 FROM run_params p WHERE p.rid = r.rid AND p.name = " + bind(k) +
               " AND p.value = " + bind(v) + ")";
    }
    static const std::set<std::string> kOps = {"<", "<=", ">", ">=", "="};
    for (const auto& m : f.metrics) {
      if (!kOps.count(m.op)) return Status::InvalidArgument("metric condition operator must be one of < <= > >= =, got '" + m.op + "'");
      where += " AND EXISTS (SELECT 1 FROM metric_summaries ms WHERE ms.rid = r.rid AND ms.kid = (SELECT kid FROM "
               "metric_keys WHERE name = " + bind(m.key) + ") AND ms.last " + m.op + " CAST(" +
               bind([&] {
                 char buf[32];
                 std::snprintf(buf, sizeof buf, "%.17g", m.value);
                 return std::string(buf);
               }()) + " AS REAL))";
    }
    q.from_where = " FROM runs r JOIN experiments e ON e.id = r.experiment_id" + join + where;
    return q;
  }

  Result<std::vector<Run>> ListRuns(const model::RunFilter& f) override {
    auto lease = Read();
    FERRY_ASSIGN_OR_RETURN(RunQuery q, BuildRunQuery(f));
    const int n = static_cast<int>(q.binds.size());
    std::string sql = std::string("SELECT ") + kRunColumns + q.from_where + q.order + " LIMIT ?" +
                      std::to_string(n + 1) + " OFFSET ?" + std::to_string(n + 2);
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql));
    for (int i = 0; i < n; ++i) st.Bind(i + 1, q.binds[i]);
    st.Bind(n + 1, f.limit).Bind(n + 2, f.offset);
    return ReadRuns(st, f.light);
  }

  Result<int64_t> CountRuns(const model::RunFilter& f) override {
    auto lease = Read();
    model::RunFilter unsorted = f;
    unsorted.sort.clear();  // no join needed to count
    FERRY_ASSIGN_OR_RETURN(RunQuery q, BuildRunQuery(unsorted));
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT COUNT(*)" + q.from_where));
    for (size_t i = 0; i < q.binds.size(); ++i) st.Bind(static_cast<int>(i + 1), q.binds[i]);
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    return row ? st.Int(0) : int64_t{0};
  }

  Result<std::vector<Run>> ListActiveRuns() override {
    auto lease = Read();
    FERRY_ASSIGN_OR_RETURN(
        Stmt st,
        db().Prepare(std::string("SELECT ") + kRunColumns +
                     " FROM runs r JOIN experiments e ON e.id = r.experiment_id"
                     " WHERE r.status NOT IN ('Completed','Failed','Canceled') ORDER BY r.rid"));
    return ReadRuns(st);
  }

  Result<Run> Transition(const std::string& id, RunStatus to, const std::string& reason, double now,
                         const TransitionExtras& extras) override {
    auto lease = Write();
    FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
    Status st = Status::Ok();
    if (extras.finalizing_reason) st = TransitionLocked(id, RunStatus::kFinalizing, *extras.finalizing_reason, now, {});
    if (st.ok() && !extras.artifacts.empty()) st = AddArtifactsLocked(id, extras.artifacts);
    if (st.ok()) st = TransitionLocked(id, to, reason, now, extras);
    if (!st.ok()) {
      (void)db().Exec("ROLLBACK");
      return st;
    }
    FERRY_RETURN_IF_ERROR(Commit());
    return GetRunLocked(id);
  }

  Status SetJobHandle(const std::string& id, const std::string& handle) override {
    auto lease = Write();
    return UpdateRun("UPDATE runs SET job_handle=?2 WHERE id=?1", id, handle);
  }

  Status RequestCancel(const std::string& id, const std::string& reason) override {
    auto lease = Write();
    FERRY_ASSIGN_OR_RETURN(
        Stmt st,
        db().Prepare(
            "UPDATE runs SET cancel_requested=1, "
            "cancel_reason=CASE WHEN cancel_reason='' THEN ?2 ELSE cancel_reason END WHERE id=?1"));
    st.Bind(1, id).Bind(2, reason);
    FERRY_RETURN_IF_ERROR(st.Run());
    if (db().Changes() == 0) return RunNotFound(id);
    return Status::Ok();
  }

  Result<Run> CreateSweep(const Run& run, const SweepRecord& sweep, double now) override {
    auto lease = Write();
    FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
    Run parent = run;
    parent.kind = "sweep";
    Status st = CreateRunLocked(parent, {}, "", now);
    if (st.ok()) {
      auto ins =
          db().Prepare("INSERT INTO sweeps(rid, spec_file, spec_text, settings) VALUES(?,?,?,?)");
      st = ins.ok() ? ins->Bind(1, db().LastInsertRowid())
                          .Bind(2, sweep.spec_file)
                          .Bind(3, sweep.spec_text)
                          .Bind(4, sweep.settings.empty() ? "{}" : sweep.settings)
                          .Run()
                    : ins.status();
    }
    if (!st.ok()) {
      (void)db().Exec("ROLLBACK");
      return st;
    }
    FERRY_RETURN_IF_ERROR(Commit());
    return GetRunLocked(run.id);
  }

  Result<SweepRecord> GetSweep(const std::string& id) override {
    auto lease = Read();
    FERRY_ASSIGN_OR_RETURN(Stmt st,
                           db().Prepare("SELECT s.spec_file, s.spec_text, s.settings FROM sweeps s "
                                        "JOIN runs r ON r.rid = s.rid WHERE r.id=?"));
    st.Bind(1, id);
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("run '" + id + "' is not a sweep; see 'ferry run list'");
    return SweepRecord{st.Text(0), st.Text(1), st.Text(2)};
  }

  Result<std::vector<model::StatusEvent>> History(const std::string& id) override {
    auto lease = Read();
    FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
    FERRY_ASSIGN_OR_RETURN(
        Stmt st,
        db().Prepare(
            "SELECT status, time, reason FROM run_status_history WHERE rid=? ORDER BY seq"));
    st.Bind(1, rid);
    std::vector<model::StatusEvent> out;
    for (;;) {
      FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      FERRY_ASSIGN_OR_RETURN(RunStatus s, model::ParseRunStatus(st.Text(0)));
      out.push_back({s, st.Double(1), st.Text(2)});
    }
    return out;
  }

  Result<std::string> RunTokenHash(const std::string& id) override {
    auto lease = Read();
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT token_hash FROM runs WHERE id=?"));
    st.Bind(1, id);
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return RunNotFound(id);
    return st.Text(0);
  }

  Status SetTags(const std::string& id, const std::map<std::string, std::string>& tags) override {
    auto lease = WriteData();
    FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
    FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
    Status s = PutKv("INSERT OR REPLACE INTO run_tags VALUES(?,?,?)", rid, tags);
    if (!s.ok()) {
      (void)db().Exec("ROLLBACK");
      return s;
    }
    return Commit();
  }

  Result<std::map<std::string, std::string>> Params(const std::string& id) override {
    auto lease = Read();
    FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
    return ReadKv("SELECT name, value FROM run_params WHERE rid=? ORDER BY name", rid);
  }

  Result<int64_t> AppendMetrics(int64_t rid, std::span<const model::MetricPoint> points) override {
    auto lease = WriteData();
    if (points.empty()) return int64_t{0};
    FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
    auto r = AppendMetricsLocked(rid, points);
    if (!r.ok()) {
      (void)db().Exec("ROLLBACK");
      key_cache_.clear();  // ids assigned in the rolled-back transaction are gone
      return r.status();
    }
    FERRY_RETURN_IF_ERROR(Commit());
    return r;
  }

  Result<std::vector<model::MetricPoint>> GetMetrics(const std::string& id, const std::string& key) override {
    auto lease = Read();
    FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
    std::string sql =
        "SELECT k.name, m.seq, m.step, m.value, m.time FROM metrics m JOIN metric_keys k ON k.kid = m.kid "
        "WHERE m.rid=?1";
    if (!key.empty()) sql += " AND k.name=?2";
    sql += " ORDER BY k.name, m.seq";
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql));
    st.Bind(1, rid);
    if (!key.empty()) st.Bind(2, key);
    std::vector<model::MetricPoint> out;
    for (;;) {
      FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(PointFrom(st, 1, st.Text(0)));
    }
    return out;
  }

  Result<std::vector<model::MetricPoint>> GetMetricsAfter(const std::string& id, const std::string& key,
                                                          int64_t after_seq, int64_t limit) override {
    auto lease = Read();
    FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
    FERRY_ASSIGN_OR_RETURN(
        Stmt st,
        db().Prepare("SELECT m.seq, m.step, m.value, m.time FROM metrics m WHERE m.rid=?1 AND "
                     "m.kid=(SELECT kid FROM metric_keys WHERE name=?2) AND m.seq>?3 ORDER BY "
                     "m.seq LIMIT ?4"));
    st.Bind(1, rid).Bind(2, key).Bind(3, after_seq).Bind(4, limit);
    std::vector<model::MetricPoint> out;
    for (;;) {
      FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(PointFrom(st, 0, key));
    }
    return out;
  }

  Result<RunKeys> ListRunKeys(const std::string& experiment, int recent) override {
    auto lease = Read();
    // The newest runs only: a bounded scan however many runs the workspace holds.
    std::string runs = "SELECT r.rid FROM runs r";
    if (!experiment.empty()) runs += " JOIN experiments e ON e.id = r.experiment_id WHERE e.name = ?1";
    runs += " ORDER BY r.rid DESC LIMIT ?2";
    RunKeys out;
    auto read = [&](const std::string& sql, std::vector<std::string>* into) -> Status {
      FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql));
      st.Bind(1, experiment).Bind(2, recent);
      for (;;) {
        FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        into->push_back(st.Text(0));
      }
      return Status::Ok();
    };
    FERRY_RETURN_IF_ERROR(read("SELECT DISTINCT name FROM run_params WHERE rid IN (" + runs +
                               ") ORDER BY name LIMIT 1000", &out.params));
    FERRY_RETURN_IF_ERROR(read("SELECT DISTINCT k.name FROM metric_summaries s JOIN metric_keys k ON k.kid = s.kid "
                               "WHERE s.rid IN (" + runs + ") ORDER BY k.name LIMIT 1000", &out.metrics));
    FERRY_RETURN_IF_ERROR(read("SELECT DISTINCT key FROM run_tags WHERE rid IN (" + runs +
                               ") ORDER BY key LIMIT 1000", &out.tags));
    return out;
  }

  Result<std::vector<model::MetricPoint>> GetMetricSeries(const std::string& id, const std::string& key,
                                                          int64_t max_points, int64_t* total,
                                                          int64_t* max_seq) override {
    auto lease = Read();
    FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
    std::vector<model::MetricPoint> out;
    *total = 0;
    if (max_seq) *max_seq = 0;
    FERRY_ASSIGN_OR_RETURN(Stmt k, db().Prepare("SELECT kid FROM metric_keys WHERE name=?"));
    k.Bind(1, key);
    FERRY_ASSIGN_OR_RETURN(bool has_key, k.Step());
    if (!has_key) return out;
    const int64_t kid = k.Int(0);
    FERRY_ASSIGN_OR_RETURN(
        Stmt c, db().Prepare("SELECT count, last_seq FROM metric_summaries WHERE rid=? AND kid=?"));
    c.Bind(1, rid).Bind(2, kid);
    FERRY_ASSIGN_OR_RETURN(bool has_count, c.Step());
    *total = has_count ? c.Int(0) : 0;
    if (max_seq && has_count) *max_seq = c.Int(1);
    FERRY_ASSIGN_OR_RETURN(
        Stmt st,
        db().Prepare(
            "SELECT seq, step, value, time FROM metrics WHERE rid=? AND kid=? ORDER BY seq"));
    st.Bind(1, rid).Bind(2, kid);
    auto point = [&]() { return PointFrom(st, 0, key); };
    const int64_t buckets = std::max<int64_t>(1, max_points / 2);
    if (max_points > 0 && *total > max_points) {
      // A long series: from its rollups when they are complete and at least half as fine as
      // the slices asked for (a few thousand rows instead of every point).
      FERRY_ASSIGN_OR_RETURN(Stmt rc, db().Prepare("SELECT COUNT(*), COALESCE(SUM(count), 0) FROM "
                                                   "metric_rollups WHERE rid=? AND kid=?"));
      rc.Bind(1, rid).Bind(2, kid);
      FERRY_ASSIGN_OR_RETURN(bool any_row, rc.Step());
      if (any_row && rc.Int(1) == *total && rc.Int(0) * 2 >= buckets) {
        return SeriesFromRollupsLocked(rid, kid, key, rc.Int(0), buckets);
      }
    }
    if (max_points <= 0 || *total <= max_points) {
      for (;;) {
        FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        out.push_back(point());
      }
      return out;
    }
    // One pass: slice b holds rows [b * total / buckets, (b + 1) * total / buckets).
    out.reserve(static_cast<size_t>(2 * buckets));
    int64_t i = 0, bucket = -1;
    std::optional<model::MetricPoint> lo, hi, any;
    auto flush = [&]() {
      if (lo && hi) {
        if (lo->seq == hi->seq) out.push_back(*lo);
        else if (lo->seq < hi->seq) out.push_back(*lo), out.push_back(*hi);
        else out.push_back(*hi), out.push_back(*lo);
      } else if (any) {
        out.push_back(*any);  // a slice of NaNs only
      }
      lo.reset();
      hi.reset();
      any.reset();
    };
    for (;; ++i) {
      FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      const int64_t b = std::min(buckets - 1, i * buckets / std::max<int64_t>(*total, 1));
      if (b != bucket) {
        flush();
        bucket = b;
      }
      model::MetricPoint p = point();
      if (std::isnan(p.value)) {
        if (!any) any = p;
        continue;
      }
      if (!lo || p.value < lo->value) lo = p;
      if (!hi || p.value > hi->value) hi = p;
    }
    flush();
    *total = std::max(*total, i);
    return out;
  }

  Result<std::vector<model::MetricSummary>> MetricSummaries(const std::string& id) override {
    auto lease = Read();
    FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
    FERRY_ASSIGN_OR_RETURN(
        Stmt st, db().Prepare("SELECT k.name, s.count, s.min, s.max, s.last, s.last_step, "
                              "s.last_seq FROM metric_summaries s "
                              "JOIN metric_keys k ON k.kid = s.kid WHERE s.rid=? ORDER BY k.name"));
    st.Bind(1, rid);
    std::vector<model::MetricSummary> out;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (;;) {
      FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back({st.Text(0), st.Int(1), st.IsNull(2) ? nan : st.Double(2),
                     st.IsNull(3) ? nan : st.Double(3), st.IsNull(4) ? nan : st.Double(4), st.Int(5),
                     st.Int(6)});
    }
    return out;
  }

  Result<std::map<std::string, std::vector<model::MetricPoint>>> LatestMetrics(
      const std::vector<std::string>& run_ids) override {
    auto lease = Read();
    std::map<std::string, std::vector<model::MetricPoint>> out;
    FERRY_RETURN_IF_ERROR(ForRunsLocked(
        "SELECT r.id, k.name, s.latest_seq, s.latest_step, s.latest_value, s.latest_time FROM runs "
        "r "
        "JOIN metric_summaries s ON s.rid = r.rid JOIN metric_keys k ON k.kid = s.kid WHERE r.id "
        "IN (%s) "
        "ORDER BY r.id, k.name",
        run_ids, [&](const Stmt& st) { out[st.Text(0)].push_back(PointFrom(st, 2, st.Text(1))); }));
    return out;
  }

  Result<std::map<std::string, std::map<std::string, std::string>>> ParamsOfRuns(
      const std::vector<std::string>& run_ids) override {
    auto lease = Read();
    std::map<std::string, std::map<std::string, std::string>> out;
    FERRY_RETURN_IF_ERROR(
        ForRunsLocked("SELECT r.id, p.name, p.value FROM runs r JOIN run_params p ON p.rid = r.rid "
                      "WHERE r.id IN (%s)",
                      run_ids, [&](const Stmt& st) { out[st.Text(0)][st.Text(1)] = st.Text(2); }));
    return out;
  }

  Status AddArtifacts(const std::string& id, const std::vector<model::Artifact>& files) override {
    auto lease = Write();
    FERRY_RETURN_IF_ERROR(RidLocked(id).status());
    FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
    Status s = AddArtifactsLocked(id, files);
    if (!s.ok()) {
      (void)db().Exec("ROLLBACK");
      return s;
    }
    return Commit();
  }

  Result<std::vector<model::Artifact>> ListArtifacts(const std::string& id) override {
    auto lease = Read();
    FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
    FERRY_ASSIGN_OR_RETURN(
        Stmt st, db().Prepare("SELECT path, size, hash FROM artifacts WHERE rid=? ORDER BY path"));
    st.Bind(1, rid);
    std::vector<model::Artifact> out;
    for (;;) {
      FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back({st.Text(0), static_cast<uint64_t>(st.Int(1)), st.Text(2)});
    }
    return out;
  }

 private:
  static Status RunNotFound(const std::string& id) {
    return Status::NotFound("run '" + id + "' does not exist; see 'ferry run list'");
  }

  Status Commit() {
    Status s = db().Exec("COMMIT");
    if (!s.ok()) (void)db().Exec("ROLLBACK");
    return s;
  }

  // A new experiment belongs to created_by (the user whose run made it).
  Result<model::Experiment> EnsureExperimentLocked(const std::string& name, double now,
                                                   const std::string& created_by) {
    FERRY_RETURN_IF_ERROR(model::ValidateExperimentName(name));
    FERRY_ASSIGN_OR_RETURN(
        Stmt ins,
        db().Prepare(
            "INSERT OR IGNORE INTO experiments(name, created_at, created_by) VALUES(?,?,?)"));
    FERRY_RETURN_IF_ERROR(ins.Bind(1, name).Bind(2, now).Bind(3, created_by).Run());
    FERRY_ASSIGN_OR_RETURN(Stmt q,
                           db().Prepare("SELECT id, created_at FROM experiments WHERE name=?"));
    q.Bind(1, name);
    FERRY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::Internal("experiment vanished: " + name);
    return MakeExperiment(q.Int(0), name, q.Double(1));
  }

  // Runs `sql` (its "%s" the list of run ids) over run_ids in chunks of up to 512 ids, calling
  // row for every row. The list has a power-of-two length (the first id repeated to fill it),
  // so the connection's statement cache holds at most ten forms of each query.
  template <typename Id>
  Status ForRunsLocked(const std::string& sql, const std::vector<Id>& run_ids,
                       const std::function<void(const Stmt&)>& row) {
    constexpr size_t kChunk = 512;
    const size_t at = sql.find("%s");
    for (size_t first = 0; first < run_ids.size(); first += kChunk) {
      const size_t n = std::min(kChunk, run_ids.size() - first);
      size_t slots = 1;
      while (slots < n) slots *= 2;
      std::string marks;
      for (size_t i = 0; i < slots; ++i) marks += i ? ",?" : "?";
      FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql.substr(0, at) + marks + sql.substr(at + 2)));
      for (size_t i = 0; i < slots; ++i)
        st.Bind(static_cast<int>(i + 1), run_ids[first + (i < n ? i : 0)]);
      for (;;) {
        FERRY_ASSIGN_OR_RETURN(bool more, st.Step());
        if (!more) break;
        row(st);
      }
    }
    return Status::Ok();
  }

  Result<int64_t> RidLocked(const std::string& id) {
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT rid FROM runs WHERE id=?"));
    st.Bind(1, id);
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return RunNotFound(id);
    return st.Int(0);
  }

  Status PutKv(const char* sql, int64_t rid, const std::map<std::string, std::string>& kv) {
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql));
    for (const auto& [k, v] : kv) {
      if (k.empty()) return Status::InvalidArgument("empty tag or parameter name");
      FERRY_RETURN_IF_ERROR(st.Bind(1, rid).Bind(2, k).Bind(3, v).Run());
    }
    return Status::Ok();
  }

  Result<std::map<std::string, std::string>> ReadKv(const char* sql, int64_t rid) {
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql));
    st.Bind(1, rid);
    std::map<std::string, std::string> out;
    for (;;) {
      FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out[st.Text(0)] = st.Text(1);
    }
    return out;
  }

  Status CreateRunLocked(const Run& run, const std::map<std::string, std::string>& params,
                         const std::string& token_hash, double now) {
    FERRY_ASSIGN_OR_RETURN(model::Experiment exp,
                           EnsureExperimentLocked(run.experiment, now, run.submitted_by));
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("INSERT INTO runs(id, experiment_id, target, "
                                                 "status, script, arguments, python, snapshot_id, "
                                                 "git, created_at, token_hash, options, "
                                                 "submitted_by, kind, parent_id, name, started_at) "
                                                 "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    // A run is created Queued (whatever run.status says); an external one (an MLflow
    // client's) in its given status, Running, as its client already runs it.
    const bool external = run.kind == "external";
    const RunStatus status = external ? run.status : RunStatus::kQueued;
    st.Bind(1, run.id).Bind(2, exp.id).Bind(3, run.target).Bind(4, model::RunStatusName(status)).Bind(5, run.script)
        .Bind(6, json(run.arguments).dump()).Bind(7, run.python).Bind(8, run.snapshot_id)
        .Bind(9, GitToJson(run.git).dump()).Bind(10, now).Bind(11, token_hash).Bind(12, OptionsToJson(run).dump())
        .Bind(13, run.submitted_by).Bind(14, run.kind.empty() ? "run" : run.kind).Bind(15, run.parent_id)
        .Bind(16, run.name).Bind(17, status == RunStatus::kRunning ? (run.started_at > 0 ? run.started_at : now) : 0.0);
    Status s = st.Run();
    if (s.code() == StatusCode::kAlreadyExists) return Status::AlreadyExists("run '" + run.id + "' already exists");
    FERRY_RETURN_IF_ERROR(s);
    int64_t rid = db().LastInsertRowid();
    FERRY_RETURN_IF_ERROR(AppendHistory(rid, status, now, external ? "started by its client" : "submitted"));
    FERRY_RETURN_IF_ERROR(PutKv("INSERT OR REPLACE INTO run_tags VALUES(?,?,?)", rid, run.tags));
    FERRY_RETURN_IF_ERROR(PutKv("INSERT OR REPLACE INTO run_params VALUES(?,?,?)", rid, params));
    return Status::Ok();
  }

  Status AppendHistory(int64_t rid, RunStatus s, double now, const std::string& reason) {
    FERRY_ASSIGN_OR_RETURN(
        Stmt st,
        db().Prepare("INSERT INTO run_status_history SELECT ?1, COALESCE(MAX(seq),0)+1, ?2, ?3, ?4 "
                     "FROM run_status_history WHERE rid=?1"));
    return st.Bind(1, rid).Bind(2, model::RunStatusName(s)).Bind(3, now).Bind(4, reason).Run();
  }

  Status TransitionLocked(const std::string& id, RunStatus to, const std::string& reason, double now,
                          const TransitionExtras& extras) {
    FERRY_ASSIGN_OR_RETURN(Stmt q,
                           db().Prepare("SELECT rid, status, cancel_reason FROM runs WHERE id=?"));
    q.Bind(1, id);
    FERRY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return RunNotFound(id);
    int64_t rid = q.Int(0);
    // A requested cancel says why (the user, a sweep's policy with its numbers); whoever
    // reports the end (agent, scheduler) only knows that it was canceled.
    const std::string cancel_reason = q.Text(2);
    FERRY_ASSIGN_OR_RETURN(RunStatus from, model::ParseRunStatus(q.Text(1)));
    if (!model::IsLegalTransition(from, to)) {
      return Status::FailedPrecondition("run '" + id + "' is " + model::RunStatusName(from) +
                                        "; it cannot become " + model::RunStatusName(to));
    }
    FERRY_RETURN_IF_ERROR(
        AppendHistory(rid, to, now, to == RunStatus::kCanceled && !cancel_reason.empty() ? cancel_reason : reason));
    std::string sql = "UPDATE runs SET status=?2";
    if (to == RunStatus::kRunning) sql += ", started_at=?3";
    if (model::IsTerminal(to)) sql += ", ended_at=?3";
    if (to == RunStatus::kQueued) sql += ", attempt=attempt+1";
    if (extras.exit_code) sql += ", exit_code=?4";
    if (extras.error) sql += ", error=?5";
    if (extras.job_handle) sql += ", job_handle=?6";
    if (extras.gpu_ids) sql += ", gpu_ids=?7";
    sql += " WHERE rid=?1";
    FERRY_ASSIGN_OR_RETURN(Stmt up, db().Prepare(sql));
    up.Bind(1, rid).Bind(2, model::RunStatusName(to)).Bind(3, now);
    if (extras.exit_code) up.Bind(4, *extras.exit_code);
    if (extras.error) up.Bind(5, *extras.error);
    if (extras.job_handle) up.Bind(6, *extras.job_handle);
    if (extras.gpu_ids) up.Bind(7, json(*extras.gpu_ids).dump());
    return up.Run();
  }

  Status AddArtifactsLocked(const std::string& id, const std::vector<model::Artifact>& files) {
    FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
    FERRY_ASSIGN_OR_RETURN(Stmt st,
                           db().Prepare("INSERT OR REPLACE INTO artifacts VALUES(?,?,?,?)"));
    for (const auto& f : files) {
      FERRY_RETURN_IF_ERROR(st.Bind(1, rid).Bind(2, f.path).Bind(3, static_cast<int64_t>(f.size)).Bind(4, f.hash).Run());
    }
    return Status::Ok();
  }

  Status UpdateRun(const char* sql, const std::string& id, const std::string& value, bool bind_empty = false) {
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql));
    st.Bind(1, id);
    if (!value.empty() || bind_empty) st.Bind(2, value);
    FERRY_RETURN_IF_ERROR(st.Run());
    if (db().Changes() == 0) return RunNotFound(id);
    return Status::Ok();
  }

  Result<Run> GetRunLocked(const std::string& id, bool summary = false) {
    FERRY_ASSIGN_OR_RETURN(
        Stmt st,
        db().Prepare(std::string("SELECT ") + kRunColumns +
                     " FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE r.id=?"));
    st.Bind(1, id);
    if (summary) {
      FERRY_ASSIGN_OR_RETURN(auto runs, ReadRunRows(st, true));
      if (runs.empty()) return RunNotFound(id);
      return std::move(runs[0]);
    }
    FERRY_ASSIGN_OR_RETURN(auto runs, ReadRuns(st));
    if (runs.empty()) return RunNotFound(id);
    return std::move(runs[0]);
  }

  Result<std::vector<model::RegisteredEnvironment>> ReadEnvironments(const char* sql, const std::string& name,
                                                                      int64_t version) {
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql));
    if (!name.empty()) st.Bind(1, name);
    if (version > 0) st.Bind(2, version);
    std::vector<model::RegisteredEnvironment> out;
    for (;;) {
      FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back({st.Text(0), st.Int(1), st.Text(2), st.Text(3), st.Text(4), st.Text(5), st.Double(6)});
    }
    return out;
  }

  Result<std::vector<Run>> ReadRuns(Stmt& st, bool light = false) {
    FERRY_ASSIGN_OR_RETURN(std::vector<Run> out, ReadRunRows(st, light));
    return WithTags(std::move(out));
  }

  // The runs' rows; light: without parsing arguments, git state, options and GPU ids.
  Result<std::vector<Run>> ReadRunRows(Stmt& st, bool light) {
    std::vector<Run> out;
    for (;;) {
      FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      Run r;
      r.rid = st.Int(0);
      r.id = st.Text(1);
      r.experiment = st.Text(2);
      r.target = st.Text(3);
      FERRY_ASSIGN_OR_RETURN(r.status, model::ParseRunStatus(st.Text(4)));
      r.script = st.Text(5);
      if (!light) {
        json args = json::parse(st.Text(6), nullptr, false);
        if (args.is_array()) {
          for (auto& a : args) r.arguments.push_back(a.get<std::string>());
        }
        r.git = GitFromJson(st.Text(9));
      }
      r.python = st.Text(7);
      r.snapshot_id = st.Text(8);
      r.created_at = st.Double(10);
      r.started_at = st.Double(11);
      r.ended_at = st.Double(12);
      if (!st.IsNull(13)) r.exit_code = static_cast<int>(st.Int(13));
      r.error = st.Text(14);
      r.attempt = static_cast<int>(st.Int(15));
      r.job_handle = st.Text(16);
      r.cancel_requested = st.Int(17) != 0;
      if (!light) {
        OptionsFromJson(st.Text(18), &r);
        r.gpu_ids = GpuIdsFromJson(st.Text(19));
      }
      r.submitted_by = st.Text(20);
      r.kind = st.Text(21);
      r.parent_id = st.Text(22);
      r.cancel_reason = st.Text(23);
      r.name = st.Text(24);
      r.lifecycle_stage = st.Text(25);
      out.push_back(std::move(r));
    }
    return out;
  }

  Result<std::vector<Run>> WithTags(std::vector<Run> out) {
    if (out.size() == 1) {
      FERRY_ASSIGN_OR_RETURN(out[0].tags, ReadKv("SELECT key, value FROM run_tags WHERE rid=? ORDER BY key", out[0].rid));
      return out;
    }
    // Many runs: their tags in a few queries, not one per run.
    std::unordered_map<int64_t, Run*> by_rid;
    std::vector<int64_t> rids;
    for (auto& r : out) {
      by_rid.emplace(r.rid, &r);
      rids.push_back(r.rid);
    }
    FERRY_RETURN_IF_ERROR(ForRunsLocked("SELECT rid, key, value FROM run_tags WHERE rid IN (%s)", rids,
                                        [&](const Stmt& t) { by_rid.at(t.Int(0))->tags.emplace(t.Text(1), t.Text(2)); }));
    return out;
  }

  Result<int64_t> KeyId(const std::string& name) {
    auto it = key_cache_.find(name);
    if (it != key_cache_.end()) return it->second;
    if (!key_insert_) {
      FERRY_ASSIGN_OR_RETURN(Stmt a,
                             db().Prepare("INSERT OR IGNORE INTO metric_keys(name) VALUES(?)"));
      FERRY_ASSIGN_OR_RETURN(Stmt b, db().Prepare("SELECT kid FROM metric_keys WHERE name=?"));
      key_insert_.emplace(std::move(a));
      key_select_.emplace(std::move(b));
    }
    FERRY_RETURN_IF_ERROR(key_insert_->Bind(1, name).Run());
    key_select_->Bind(1, name);
    FERRY_ASSIGN_OR_RETURN(bool row, key_select_->Step());
    int64_t kid = row ? key_select_->Int(0) : -1;
    key_select_->Reset();
    if (kid < 0) return Status::Internal("metric key vanished: " + name);
    key_cache_.emplace(name, kid);
    return kid;
  }

  // Groups consecutive rollup buckets into at most `slices` slices; each gives its lowest and
  // highest point in sequence order (one NaN point for a slice of NaNs only).
  Result<std::vector<model::MetricPoint>> SeriesFromRollupsLocked(int64_t rid, int64_t kid, const std::string& key,
                                                                  int64_t rows, int64_t slices) {
    FERRY_ASSIGN_OR_RETURN(
        Stmt st, db().Prepare("SELECT lo_seq, lo_step, lo_value, lo_time, hi_seq, hi_step, "
                              "hi_value, hi_time, any_seq, any_step, any_time "
                              "FROM metric_rollups WHERE rid=? AND kid=? ORDER BY bucket"));
    st.Bind(1, rid).Bind(2, kid);
    const int64_t per = (rows + slices - 1) / slices;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    std::vector<model::MetricPoint> out;
    out.reserve(static_cast<size_t>(2 * slices));
    std::optional<model::MetricPoint> lo, hi, any;

    auto flush = [&] {
      if (lo && hi) {
        if (lo->seq == hi->seq) out.push_back(*lo);
        else if (lo->seq < hi->seq) out.push_back(*lo), out.push_back(*hi);
        else out.push_back(*hi), out.push_back(*lo);
      } else if (any) {
        out.push_back(*any);
      }
      lo.reset();
      hi.reset();
      any.reset();
    };
    for (int64_t i = 0;; ++i) {
      FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      if (i > 0 && i % per == 0) flush();
      if (!any) any = model::MetricPoint{st.Int(8), key, nan, st.Int(9), st.Double(10)};  // a NaN point
      if (!st.IsNull(0) && (!lo || st.Double(2) < lo->value)) lo = PointFrom(st, 0, key);
      if (!st.IsNull(4) && (!hi || st.Double(6) > hi->value)) hi = PointFrom(st, 4, key);
    }
    flush();
    return out;
  }

  // A batch's new points in one rollup bucket (pointers into the batch).
  struct Rollup {
    int64_t count = 0;
    const model::MetricPoint *lo = nullptr, *hi = nullptr, *any = nullptr;
  };

  struct Agg {
    int64_t count = 0;
    double min = std::numeric_limits<double>::infinity();
    double max = -std::numeric_limits<double>::infinity();
    double last = 0;
    int64_t last_step = 0, last_seq = -1;
    const model::MetricPoint* latest = nullptr;  // MLflow's (MlflowLater)
  };

  Result<int64_t> AppendMetricsLocked(int64_t rid, std::span<const model::MetricPoint> points) {
    if (!metric_insert_) {
      FERRY_ASSIGN_OR_RETURN(Stmt a,
                             db().Prepare("INSERT OR IGNORE INTO metrics VALUES(?,?,?,?,?,?)"));
      std::string summary_sql =
          "INSERT INTO metric_summaries VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12) ON "
          "CONFLICT(rid,kid) DO UPDATE SET "
          "count=count+excluded.count, "
          "min=CASE WHEN excluded.min IS NULL THEN min WHEN min IS NULL OR excluded.min<min THEN "
          "excluded.min ELSE min END, "
          "max=CASE WHEN excluded.max IS NULL THEN max WHEN max IS NULL OR excluded.max>max THEN "
          "excluded.max ELSE max END, "
          "last=CASE WHEN excluded.last_seq>last_seq THEN excluded.last ELSE last END, "
          "last_step=CASE WHEN excluded.last_seq>last_seq THEN excluded.last_step ELSE last_step "
          "END, "
          "last_seq=MAX(last_seq, excluded.last_seq)";
      for (const char* col : {"latest_seq", "latest_step", "latest_time", "latest_value"}) {
        summary_sql += std::string(", ") + col + "=CASE WHEN " + kLatestWins + " THEN excluded." +
                       col + " ELSE " + col + " END";
      }
      FERRY_ASSIGN_OR_RETURN(Stmt b, db().Prepare(summary_sql));
      // A batch's lowest/highest point replaces the stored one (NaN-only sides are NULL).
      std::string rollup_sql =
          "INSERT INTO metric_rollups VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15) "
          "ON CONFLICT(rid,kid,bucket) DO UPDATE SET count=count+excluded.count";
      for (auto [side, cmp] : {std::pair{"lo", "<"}, std::pair{"hi", ">"}}) {
        std::string s(side), wins = "excluded." + s + "_value IS NOT NULL AND (" + s + "_value IS NULL OR excluded." + s +
                                    "_value " + cmp + " " + s + "_value)";
        for (const char* col : {"_seq", "_step", "_time", "_value"}) {
          rollup_sql += ", " + s + col + "=CASE WHEN " + wins + " THEN excluded." + s + col + " ELSE " + s + col + " END";
        }
      }
      FERRY_ASSIGN_OR_RETURN(Stmt c, db().Prepare(rollup_sql));
      metric_insert_.emplace(std::move(a));
      summary_upsert_.emplace(std::move(b));
      rollup_upsert_.emplace(std::move(c));
    }
    std::unordered_map<int64_t, Agg> aggs;
    std::map<std::pair<int64_t, int64_t>, Rollup> rollups;  // (kid, bucket)
    int64_t inserted = 0;
    Stmt& ins = *metric_insert_;
    for (const auto& p : points) {
      FERRY_ASSIGN_OR_RETURN(int64_t kid, KeyId(p.key));
      ins.Bind(1, rid).Bind(2, kid).Bind(3, p.seq).Bind(4, p.step);
      if (std::isnan(p.value)) ins.BindNull(5);
      else ins.Bind(5, p.value);
      ins.Bind(6, p.time);
      auto r = ins.Step();
      ins.Reset();
      if (!r.ok()) return r.status();
      if (db().Changes() == 0) continue;  // already stored: a resend after a lost ack
      ++inserted;
      Rollup& roll = rollups[{kid, p.seq >> kRollupShift}];
      if (roll.count++ == 0) roll.any = &p;
      if (!std::isnan(p.value)) {
        if (!roll.lo || p.value < roll.lo->value) roll.lo = &p;
        if (!roll.hi || p.value > roll.hi->value) roll.hi = &p;
      }
      Agg& a = aggs[kid];
      ++a.count;
      if (!std::isnan(p.value)) {
        a.min = std::min(a.min, p.value);
        a.max = std::max(a.max, p.value);
      }
      if (p.seq > a.last_seq) {
        a.last_seq = p.seq;
        a.last = p.value;
        a.last_step = p.step;
      }
      if (!a.latest || MlflowLater(p, *a.latest)) a.latest = &p;
    }
    Stmt& up = *summary_upsert_;
    for (const auto& [kid, a] : aggs) {
      up.Bind(1, rid).Bind(2, kid).Bind(3, a.count);
      if (a.min > a.max) up.BindNull(4).BindNull(5);  // only NaN values so far
      else up.Bind(4, a.min).Bind(5, a.max);
      if (std::isnan(a.last)) up.BindNull(6);
      else up.Bind(6, a.last);
      up.Bind(7, a.last_step).Bind(8, a.last_seq);
      up.Bind(9, a.latest->seq).Bind(10, a.latest->step).Bind(11, a.latest->time);
      if (std::isnan(a.latest->value))
        up.BindNull(12);
      else
        up.Bind(12, a.latest->value);
      FERRY_RETURN_IF_ERROR(up.Run());
    }
    Stmt& ru = *rollup_upsert_;
    for (const auto& [kb, r] : rollups) {
      ru.Bind(1, rid).Bind(2, kb.first).Bind(3, kb.second).Bind(4, r.count);
      for (auto [pt, col] : {std::pair{r.lo, 5}, std::pair{r.hi, 9}}) {
        if (pt) ru.Bind(col, pt->seq).Bind(col + 1, pt->step).Bind(col + 2, pt->value).Bind(col + 3, pt->time);
        else ru.BindNull(col).BindNull(col + 1).BindNull(col + 2).BindNull(col + 3);
      }
      ru.Bind(13, r.any->seq).Bind(14, r.any->step).Bind(15, r.any->time);
      FERRY_RETURN_IF_ERROR(ru.Run());
    }
    return inserted;
  }

  // ---- connections
  // A method's connection is chosen by a lease it takes first: Write() holds the writer and
  // its mutex; Read() borrows a reader inside a read transaction, so all of the method's
  // queries see one consistent snapshot (WAL: readers run alongside the writer). db() is
  // the connection of the lease this thread holds.
  static constexpr int kReaders = 8;

  // The writer commits with synchronous=NORMAL (in the OS's hands at once, synced by the
  // syncer thread within data_sync_ms) unless every commit must be synced. A lifecycle write
  // (data false) switches to FULL for its commits: it, and everything before it in the WAL,
  // is on disk when the call returns.
  struct WriteLease {
    WriteLease(SqliteMetadataStore* s, bool data)
        : store(s), lock(s->mu_), prev(current_), data(data), relaxed(!s->options_.sync_every_commit) {
      current_ = &s->db_;
      if (relaxed && !data) (void)s->db_.Exec("PRAGMA synchronous=FULL");
    }
    ~WriteLease() {
      if (relaxed) {
        if (data) store->unsynced_ = true;
        else (void)store->db_.Exec("PRAGMA synchronous=NORMAL");
      }
      current_ = prev;
    }
    WriteLease(const WriteLease&) = delete;
    WriteLease& operator=(const WriteLease&) = delete;
    SqliteMetadataStore* store;
    std::unique_lock<std::mutex> lock;
    Db* prev;
    bool data;
    bool relaxed;
  };

  // snapshot: in a read transaction (for methods of several statements; one statement is
  // a snapshot by itself).
  struct ReadLease {
    ReadLease(SqliteMetadataStore* s, bool snapshot) : store(s), conn(s->AcquireReader()), prev(current_) {
      current_ = conn;
      if (snapshot) in_txn = conn->Exec("BEGIN").ok();
    }
    ~ReadLease() {
      if (in_txn) (void)conn->Exec("COMMIT");
      current_ = prev;
      store->ReleaseReader(conn);
    }
    ReadLease(const ReadLease&) = delete;
    ReadLease& operator=(const ReadLease&) = delete;
    SqliteMetadataStore* store;
    Db* conn;
    Db* prev;
    bool in_txn = false;
  };

  WriteLease Write() { return WriteLease(this, false); }
  WriteLease WriteData() { return WriteLease(this, true); }

  void SyncData() {
    if (wal_fd_.valid() && unsynced_.exchange(false)) (void)::fdatasync(wal_fd_.get());
  }
  ReadLease Read() { return ReadLease(this, true); }
  ReadLease ReadOne() { return ReadLease(this, false); }  // a method of one statement
  Db& db() { return *current_; }

  // Opens the readers (after the migrations, so they see the current schema).
  Status OpenReaders() {
    for (int i = 0; i < kReaders; ++i) {
      FERRY_ASSIGN_OR_RETURN(Db r, Db::Open(path_));
      FERRY_RETURN_IF_ERROR(r.Exec("PRAGMA query_only=ON; PRAGMA temp_store=MEMORY;"));
      readers_.push_back(std::make_unique<Db>(std::move(r)));
      free_readers_.push_back(readers_.back().get());
    }
    return Status::Ok();
  }

  Db* AcquireReader() {
    std::unique_lock lock(readers_mu_);
    readers_cv_.wait(lock, [this] { return !free_readers_.empty(); });
    Db* r = free_readers_.back();
    free_readers_.pop_back();
    return r;
  }

  void ReleaseReader(Db* r) {
    {
      std::lock_guard lock(readers_mu_);
      free_readers_.push_back(r);
    }
    readers_cv_.notify_one();
  }

  static thread_local Db* current_;

  std::mutex mu_;  // serialises writes (the writer connection and the caches below)
  Db db_;
  std::string path_;
  SqliteStoreOptions options_;
  UniqueFd wal_fd_;
  std::atomic<bool> unsynced_{false};  // logged data committed since the last WAL sync
  std::thread syncer_;
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  bool stopping_ = false;  // guarded by sync_mu_
  std::vector<std::unique_ptr<Db>> readers_;
  std::mutex readers_mu_;
  std::condition_variable readers_cv_;
  std::vector<Db*> free_readers_;  // guarded by readers_mu_
  std::unordered_map<std::string, int64_t> key_cache_;
  std::unordered_map<int64_t, int64_t> client_seq_;  // run rid -> next client metric seq
  std::optional<Stmt> key_insert_, key_select_, metric_insert_, summary_upsert_, rollup_upsert_;
};

thread_local Db* SqliteMetadataStore::current_ = nullptr;

}  // namespace

Result<std::unique_ptr<MetadataStore>> OpenSqliteMetadataStore(const std::string& path,
                                                               const SqliteStoreOptions& options) {
  FERRY_ASSIGN_OR_RETURN(Db db, Db::Open(path));
  auto store = std::make_unique<SqliteMetadataStore>(std::move(db), path, options);
  FERRY_RETURN_IF_ERROR(store->Init().WithContext("opening workspace database " + path));
  FERRY_RETURN_IF_ERROR(store->StartSyncer().WithContext("opening workspace database " + path));
  return std::unique_ptr<MetadataStore>(std::move(store));
}

}  // namespace ferry::store
