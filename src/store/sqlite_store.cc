// MetadataStore on SQLite (WAL mode, numbered migrations): one writer connection behind a
// mutex, and a small pool of reader connections, so that reads (searches, listings, the
// scheduler's polls) never wait for a write or for each other, and writes wait only for writes.
// This file: the schema's migrations, opening (Init, the syncer) and the connections; the
// methods live one file per concern (sqlite_store_<concern>.cc, sharing
// sqlite_store_internal.h).
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "store/sqlite_store_internal.h"

namespace ferry::store {

namespace {

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
    // 11: data assets (model/assets.h): registered datastores (workspaceblobstore is built
    // in), immutable dataset versions, and which runs read and wrote them.
    R"sql(
CREATE TABLE datastores(
  name TEXT PRIMARY KEY, kind TEXT NOT NULL, config TEXT NOT NULL,
  created_by TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE dataset_versions(
  name TEXT NOT NULL, version INTEGER NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL,
  datastore TEXT NOT NULL, definition TEXT NOT NULL, manifest TEXT NOT NULL,
  file_count INTEGER NOT NULL, total_bytes INTEGER NOT NULL, description TEXT NOT NULL,
  tags TEXT NOT NULL, created_by TEXT NOT NULL, created_at REAL NOT NULL,
  archived INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(name, version)) WITHOUT ROWID;
CREATE INDEX dataset_versions_by_id ON dataset_versions(id);
CREATE INDEX dataset_versions_by_datastore ON dataset_versions(datastore);
CREATE TABLE asset_uses(
  run_id TEXT NOT NULL, direction TEXT NOT NULL, asset TEXT NOT NULL, name TEXT NOT NULL,
  version INTEGER NOT NULL, as_name TEXT NOT NULL,
  PRIMARY KEY(run_id, direction, asset, name, version, as_name)) WITHOUT ROWID;
CREATE INDEX asset_uses_by_asset ON asset_uses(asset, name, version);
)sql",
    // 12: the path namespace of workspaceblobstore (datastore.upload puts files at paths; the
    // bytes are blobs): which blob is at which path, with its size and when it was put.
    R"sql(
CREATE TABLE datastore_files(
  datastore TEXT NOT NULL, path TEXT NOT NULL, blob TEXT NOT NULL, size INTEGER NOT NULL,
  modified_at REAL NOT NULL,
  PRIMARY KEY(datastore, path)) WITHOUT ROWID;
)sql",
    // 13: the model registry (model/registry.h): registered models, their versions (a deleted
    // version keeps its number), aliases, and MLflow 3's logged models with their metrics,
    // files in Ferry's store and the runs that used or produced them.
    R"sql(
CREATE TABLE registered_models(
  name TEXT PRIMARY KEY, description TEXT NOT NULL, tags TEXT NOT NULL,
  created_by TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE model_versions(
  name TEXT NOT NULL, version INTEGER NOT NULL, source TEXT NOT NULL,
  storage_location TEXT NOT NULL, run_id TEXT NOT NULL, run_link TEXT NOT NULL,
  model_id TEXT NOT NULL, status TEXT NOT NULL, status_message TEXT NOT NULL,
  description TEXT NOT NULL, tags TEXT NOT NULL, properties TEXT NOT NULL, stage TEXT NOT NULL,
  manifest TEXT NOT NULL, file_count INTEGER NOT NULL, total_bytes INTEGER NOT NULL,
  created_by TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(name, version)) WITHOUT ROWID;
CREATE INDEX model_versions_by_run ON model_versions(run_id);
CREATE TABLE model_aliases(
  name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
  PRIMARY KEY(name, alias)) WITHOUT ROWID;
CREATE TABLE logged_models(
  model_id TEXT PRIMARY KEY, experiment_id TEXT NOT NULL, name TEXT NOT NULL,
  source_run_id TEXT NOT NULL, status TEXT NOT NULL, status_message TEXT NOT NULL,
  artifact_location TEXT NOT NULL, model_type TEXT NOT NULL, params TEXT NOT NULL,
  tags TEXT NOT NULL, created_by TEXT NOT NULL, created_at REAL NOT NULL,
  updated_at REAL NOT NULL, deleted INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE INDEX logged_models_by_experiment ON logged_models(experiment_id, created_at);
CREATE TABLE logged_model_metrics(
  model_id TEXT NOT NULL, key TEXT NOT NULL, value REAL, timestamp INTEGER NOT NULL,
  step INTEGER NOT NULL, run_id TEXT NOT NULL, dataset_name TEXT NOT NULL,
  dataset_digest TEXT NOT NULL,
  UNIQUE(model_id, key, step, timestamp, run_id, dataset_name, dataset_digest));
CREATE INDEX logged_model_metrics_by_dataset ON logged_model_metrics(dataset_name, dataset_digest);
CREATE TABLE logged_model_files(
  model_id TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, hash TEXT NOT NULL,
  PRIMARY KEY(model_id, path)) WITHOUT ROWID;
CREATE TABLE logged_model_uses(
  run_id TEXT NOT NULL, direction TEXT NOT NULL, model_id TEXT NOT NULL, step INTEGER NOT NULL,
  PRIMARY KEY(run_id, direction, model_id, step)) WITHOUT ROWID;
)sql",
    R"sql(
CREATE TABLE run_values(
  rid INTEGER NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL,
  value TEXT NOT NULL, step INTEGER NOT NULL, time REAL NOT NULL,
  PRIMARY KEY(rid, seq)) WITHOUT ROWID;
)sql",
    // 15: the workspace's secrets (secret_store.h): values sealed by the server, never plain.
    R"sql(
CREATE TABLE secrets(
  name TEXT PRIMARY KEY, sealed_value TEXT NOT NULL, content_type TEXT NOT NULL,
  updated_by TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL) WITHOUT ROWID;
)sql",
    // 16: pipelines (pipeline_store.h): a pipeline run's definition and bound parameters, one
    // record per step (its run, or the run it reused, and the key it was reused by), the
    // content of every run's outputs; published pipelines, pipeline endpoints and their
    // versions, and schedules with the schedule loop's state (published_store.h).
    R"sql(
CREATE TABLE pipeline_runs(
  rid INTEGER PRIMARY KEY, spec TEXT NOT NULL, parameters TEXT NOT NULL, settings TEXT NOT NULL);
CREATE TABLE pipeline_steps(
  prid INTEGER NOT NULL, step TEXT NOT NULL, run_id TEXT NOT NULL, reuse_key TEXT NOT NULL,
  reused_from TEXT NOT NULL, inputs TEXT NOT NULL, created_at REAL NOT NULL,
  PRIMARY KEY(prid, step)) WITHOUT ROWID;
CREATE INDEX pipeline_steps_by_key ON pipeline_steps(reuse_key) WHERE reuse_key != '';
CREATE TABLE run_outputs(
  rid INTEGER NOT NULL, name TEXT NOT NULL, datastore TEXT NOT NULL, path TEXT NOT NULL,
  manifest TEXT NOT NULL, file_count INTEGER NOT NULL, total_bytes INTEGER NOT NULL,
  PRIMARY KEY(rid, name)) WITHOUT ROWID;
CREATE TABLE minibatches(
  rid INTEGER NOT NULL, idx INTEGER NOT NULL, items TEXT NOT NULL, item_count INTEGER NOT NULL,
  state TEXT NOT NULL, attempts INTEGER NOT NULL, worker TEXT NOT NULL, lease_until REAL NOT NULL,
  rows TEXT NOT NULL, failed_items INTEGER NOT NULL, error TEXT NOT NULL,
  PRIMARY KEY(rid, idx)) WITHOUT ROWID;
CREATE INDEX minibatches_by_state ON minibatches(rid, state, idx);
CREATE TABLE published_pipelines(
  id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL, version TEXT NOT NULL,
  spec TEXT NOT NULL, status TEXT NOT NULL, continue_on_step_failure INTEGER NOT NULL,
  created_by TEXT NOT NULL, created_at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE pipeline_endpoints(
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT NOT NULL,
  default_version INTEGER NOT NULL, status TEXT NOT NULL, created_by TEXT NOT NULL,
  created_at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE pipeline_endpoint_versions(
  endpoint_id TEXT NOT NULL, version INTEGER NOT NULL, pipeline_id TEXT NOT NULL,
  PRIMARY KEY(endpoint_id, version)) WITHOUT ROWID;
CREATE TABLE schedules(
  id TEXT PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL, status TEXT NOT NULL,
  next_fire REAL NOT NULL, pending_fire REAL NOT NULL, last_fire REAL NOT NULL,
  last_run_id TEXT NOT NULL, poll_state TEXT NOT NULL, created_by TEXT NOT NULL,
  created_at REAL NOT NULL, updated_at REAL NOT NULL) WITHOUT ROWID;
)sql",
};

}  // namespace

using model::Run;
using model::RunStatus;
using nlohmann::json;

// Logged data committed without a sync reaches the disk within options_.data_sync_ms: the
// WAL file is fdatasync'ed (everything written to it so far) from this thread.
Status SqliteMetadataStore::StartSyncer() {
  if (options_.sync_every_commit) return Status::Ok();
  std::string wal = path_ + "-wal";
  wal_fd_.Reset(::open(wal.c_str(), O_RDONLY | O_CLOEXEC));
  if (!wal_fd_.valid()) return ErrnoStatus("cannot open", wal, errno);
  syncer_ = std::thread([this] {
    MutexLock lock(&sync_mu_);
    while (!stopping_) {
      sync_cv_.WaitFor(&sync_mu_, std::chrono::milliseconds(options_.data_sync_ms));
      sync_mu_.Unlock();
      SyncData();
      sync_mu_.Lock();
    }
  });
  return Status::Ok();
}

Status SqliteMetadataStore::Init() {
  FERRY_RETURN_IF_ERROR(
      db_.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
               "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"));
  FERRY_RETURN_IF_ERROR(
      db_.Exec("CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, "
               "applied_at REAL)"));
  FERRY_ASSIGN_OR_RETURN(Stmt q,
                         db_.Prepare("SELECT COALESCE(MAX(version),0) FROM schema_migrations"));
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
    if (st.ok())
      st = db_.Exec("INSERT INTO schema_migrations VALUES(" + std::to_string(v) + ", unixepoch())");
    if (!st.ok()) {
      (void)db_.Exec("ROLLBACK");
      return st.WithContext("applying migration " + std::to_string(v));
    }
    FERRY_RETURN_IF_ERROR(db_.Exec("COMMIT"));
  }
  if (!options_.sync_every_commit) FERRY_RETURN_IF_ERROR(db_.Exec("PRAGMA synchronous=NORMAL"));
  return OpenReaders();
}

Status SqliteMetadataStore::Commit() {
  Status s = db().Exec("COMMIT");
  if (!s.ok()) (void)db().Exec("ROLLBACK");
  return s;
}

void SqliteMetadataStore::SyncData() {
  if (wal_fd_.valid() && unsynced_.exchange(false)) (void)::fdatasync(wal_fd_.get());
}

void SqliteMetadataStore::WaitDurable(uint64_t ticket) {
  MutexLock lock(&durable_mu_);
  while (durable_ < ticket) {
    if (syncing_) {
      durable_cv_.Wait(&durable_mu_);
      continue;
    }
    syncing_ = true;
    const uint64_t covered = written_.load();  // every commit counted so far is in the WAL
    durable_mu_.Unlock();
    unsynced_ = false;  // logged data committed so far is covered too
    if (::fdatasync(wal_fd_.get()) != 0) {
      const int err = errno;
      std::fprintf(stderr,
                   "ferry: syncing %s-wal failed (%s); stopping so that no write is acknowledged "
                   "before it is on disk. Fix the disk, then start the server again: it recovers "
                   "from the WAL.\n",
                   path_.c_str(), std::strerror(err));
      std::abort();
    }
    durable_mu_.Lock();
    syncing_ = false;
    durable_ = std::max(durable_, covered);
    durable_cv_.SignalAll();
  }
}

// Opens the readers (after the migrations, so they see the current schema).
Status SqliteMetadataStore::OpenReaders() {
  for (int i = 0; i < kReaders; ++i) {
    FERRY_ASSIGN_OR_RETURN(Db r, Db::Open(path_));
    FERRY_RETURN_IF_ERROR(r.Exec("PRAGMA query_only=ON; PRAGMA temp_store=MEMORY;"));
    readers_.push_back(std::make_unique<Db>(std::move(r)));
    MutexLock lock(&readers_mu_);
    free_readers_.push_back(readers_.back().get());
  }
  return Status::Ok();
}

Db* SqliteMetadataStore::AcquireReader() {
  MutexLock lock(&readers_mu_);
  while (free_readers_.empty()) readers_cv_.Wait(&readers_mu_);
  Db* r = free_readers_.back();
  free_readers_.pop_back();
  return r;
}

void SqliteMetadataStore::ReleaseReader(Db* r) {
  {
    MutexLock lock(&readers_mu_);
    free_readers_.push_back(r);
  }
  readers_cv_.Signal();
}

Result<std::unique_ptr<MetadataStore>> OpenSqliteMetadataStore(const std::string& path,
                                                               const SqliteStoreOptions& options) {
  FERRY_ASSIGN_OR_RETURN(Db db, Db::Open(path));
  auto store = std::make_unique<SqliteMetadataStore>(std::move(db), path, options);
  FERRY_RETURN_IF_ERROR(store->Init().WithContext("opening workspace database " + path));
  FERRY_RETURN_IF_ERROR(store->StartSyncer().WithContext("opening workspace database " + path));
  return std::unique_ptr<MetadataStore>(std::move(store));
}

}  // namespace ferry::store
