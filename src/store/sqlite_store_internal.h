// SqliteMetadataStore, the SQLite MetadataStore (src/store only, never included outside it):
// the class, whose methods live one file per concern (sqlite_store_<concern>.cc), and its
// connections: one writer behind mu_, a pool of kReaders readers, each method inside the
// lease it takes first (Write/WriteData/Read/ReadOne; src/store/README.md).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include "common/fs.h"
#include "common/mutex.h"
#include "store/metadata_store.h"
#include "store/sqlite_db.h"

namespace ferry::store {

class SqliteMetadataStore final : public MetadataStore,
                                  public AssetStore,
                                  public ModelStore,
                                  public SecretStore,
                                  public PipelineStore,
                                  public PublishedPipelineStore {
 public:
  using Run = model::Run;
  using RunStatus = model::RunStatus;

  SqliteMetadataStore(Db db, std::string path, SqliteStoreOptions options)
      : db_(std::move(db)), path_(std::move(path)), options_(options) {}

  ~SqliteMetadataStore() override {
    {
      MutexLock lock(&sync_mu_);
      stopping_ = true;
    }
    sync_cv_.SignalAll();
    if (syncer_.joinable()) syncer_.join();
    SyncData();
  }

  // Logged data committed without a sync reaches the disk within options_.data_sync_ms: the
  // WAL file is fdatasync'ed (everything written to it so far) from this thread.
  Status StartSyncer();

  Status Init();

  Result<model::Experiment> CreateExperiment(const std::string& name, double now,
                                             const std::string& created_by) override;

  Result<model::Experiment> CreateExperimentWith(const std::string& name,
                                                 const std::string& artifact_location,
                                                 const std::map<std::string, std::string>& tags,
                                                 double now,
                                                 const std::string& created_by) override;

  Result<model::Experiment> EnsureExperiment(const std::string& name, double now) override;

  Result<std::vector<model::Experiment>> ListExperiments() override;

  Status UpdateExperiment(int64_t id, const std::optional<std::string>& name,
                          const std::optional<std::string>& lifecycle_stage, double now) override;

  Status SetExperimentTag(int64_t id, const std::string& key, const std::string& value,
                          double now) override;

  Status DeleteExperimentTag(int64_t id, const std::string& key, double now) override;

  Status SetRunName(const std::string& id, const std::string& name) override;

  Status SetRunLifecycle(const std::string& id, const std::string& stage) override;

  Status SetParams(const std::string& id,
                   const std::map<std::string, std::string>& params) override;

  Status DeleteTag(const std::string& id, const std::string& key) override;

  Result<int64_t> LogMetrics(const std::string& id,
                             std::vector<model::MetricPoint> points) override;

  Status EnsureTarget(const model::ComputeTargetRecord& t) override;

  Status CreateTarget(const model::ComputeTargetRecord& t) override;

  Status UpdateTargetConfig(const std::string& name, const std::string& config_json) override;

  Status DeleteTarget(const std::string& name) override;

  Result<model::ComputeTargetRecord> GetTarget(const std::string& name) override;

  Result<std::vector<model::ComputeTargetRecord>> ListTargets() override;

  Result<model::RegisteredEnvironment> RegisterEnvironment(const model::RegisteredEnvironment& env,
                                                           double now, bool* created) override;

  Result<model::RegisteredEnvironment> GetEnvironment(const std::string& name,
                                                      int64_t version) override;

  Result<std::vector<model::RegisteredEnvironment>> ListEnvironments(
      const std::string& name) override;

  Result<int64_t> NextMetricSeq(const std::string& id, int rank) override;

  Status CreateUser(const UserRecord& u) override;

  Result<std::vector<UserRecord>> ListUsers() override;

  Status SetUserRole(const std::string& name, const std::string& role) override;

  Status DeleteUser(const std::string& name) override;

  Status PutSnapshot(const std::string& id, int64_t files, int64_t bytes, double now) override;

  Result<std::optional<SnapshotRecord>> GetSnapshot(const std::string& id) override;

  Result<Run> CreateRun(const Run& run, const std::map<std::string, std::string>& params,
                        const std::string& token_hash, double now) override;

  Result<Run> GetRun(const std::string& id) override;

  Result<Run> GetRunSummary(const std::string& id) override;

  // The FROM/WHERE (and, for a sort, JOIN) of a filtered run list, with its bindings in order.
  struct RunQuery {
    std::string from_where, order;
    std::vector<std::string> binds;
  };
  static Result<RunQuery> BuildRunQuery(const model::RunFilter& f);

  Result<std::vector<Run>> ListRuns(const model::RunFilter& f) override;

  Result<int64_t> CountRuns(const model::RunFilter& f) override;

  Result<std::vector<Run>> ListActiveRuns() override;

  Result<Run> Transition(const std::string& id, RunStatus to, const std::string& reason, double now,
                         const TransitionExtras& extras) override;

  Status SetJobHandle(const std::string& id, const std::string& handle) override;

  Status RequestCancel(const std::string& id, const std::string& reason) override;

  Result<Run> CreateSweep(const Run& run, const SweepRecord& sweep, double now) override;

  Result<SweepRecord> GetSweep(const std::string& id) override;

  Result<std::vector<model::StatusEvent>> History(const std::string& id) override;

  Result<std::string> RunTokenHash(const std::string& id) override;

  Status SetTags(const std::string& id, const std::map<std::string, std::string>& tags) override;

  Result<std::map<std::string, std::string>> Params(const std::string& id) override;

  Result<int64_t> AppendMetrics(int64_t rid, std::span<const model::MetricPoint> points) override;
  Result<int64_t> AppendValues(int64_t rid, std::span<const model::RunValue> values,
                               bool client) override;
  Result<std::vector<model::RunValue>> GetValues(const std::string& id,
                                                 const std::string& key) override;

  Result<std::vector<model::MetricPoint>> GetMetrics(const std::string& id,
                                                     const std::string& key) override;

  Result<std::vector<model::MetricPoint>> GetMetricsAfter(const std::string& id,
                                                          const std::string& key, int64_t after_seq,
                                                          int64_t limit) override;

  Result<RunKeys> ListRunKeys(const std::string& experiment, int recent) override;

  Result<std::vector<model::MetricPoint>> GetMetricSeries(const std::string& id,
                                                          const std::string& key,
                                                          int64_t max_points, int64_t* total,
                                                          int64_t* max_seq) override;

  Result<std::vector<model::MetricSummary>> MetricSummaries(const std::string& id) override;

  Result<std::map<std::string, std::vector<model::MetricPoint>>> LatestMetrics(
      const std::vector<std::string>& run_ids) override;

  Result<std::map<std::string, std::map<std::string, std::string>>> ParamsOfRuns(
      const std::vector<std::string>& run_ids) override;

  Status AddArtifacts(const std::string& id, const std::vector<model::Artifact>& files) override;

  Result<std::vector<model::Artifact>> ListArtifacts(const std::string& id) override;

  AssetStore& Assets() override { return *this; }

  SecretStore& Secrets() override { return *this; }
  // PipelineStore (sqlite_store_pipelines.cc)
  PipelineStore& Pipelines() override { return *this; }
  Result<model::Run> CreatePipelineRun(const model::Run& run, const PipelineRunRecord& record,
                                       double now) override;
  Result<PipelineRunRecord> GetPipelineRun(const std::string& id) override;
  Status CreatePipelineStep(const std::string& pipeline_id, const PipelineStepRecord& step,
                            const std::optional<model::Run>& run,
                            const std::map<std::string, std::string>& params, double now) override;
  Result<std::vector<PipelineStepRecord>> ListPipelineSteps(
      const std::string& pipeline_id) override;
  Result<std::string> FindReusableRun(const std::string& reuse_key) override;
  Result<int64_t> CreateMiniBatches(const std::string& run_id,
                                    const std::vector<MiniBatch>& batches) override;
  Result<std::optional<MiniBatch>> LeaseMiniBatch(const std::string& run_id,
                                                  const std::string& worker, double now,
                                                  double lease_s, int max_tries) override;
  Result<bool> FinishMiniBatch(const std::string& run_id, const MiniBatch& result, bool ok,
                               int max_tries) override;
  Result<int64_t> ReleaseMiniBatches(const std::string& run_id, const std::string& worker,
                                     const std::string& reason, int max_tries) override;
  Result<MiniBatchCounts> CountMiniBatches(const std::string& run_id) override;
  Result<std::vector<MiniBatch>> ListMiniBatches(const std::string& run_id, int64_t from,
                                                 int64_t limit) override;
  Status PutRunOutputs(const std::vector<RunOutputRecord>& outputs) override;
  Result<std::vector<RunOutputRecord>> RunOutputs(const std::string& run_id) override;
  // PublishedPipelineStore (sqlite_store_published.cc)
  PublishedPipelineStore& Published() override { return *this; }
  Status CreatePublishedPipeline(const PublishedPipelineRecord& p) override;
  Result<PublishedPipelineRecord> GetPublishedPipeline(const std::string& id) override;
  Result<std::vector<PublishedPipelineRecord>> ListPublishedPipelines(bool active_only) override;
  Status SetPublishedPipelineStatus(const std::string& id, const std::string& status) override;
  Result<PipelineEndpointRecord> CreatePipelineEndpoint(const PipelineEndpointRecord& e,
                                                        const std::string& pipeline_id) override;
  Result<PipelineEndpointRecord> GetPipelineEndpoint(const std::string& id_or_name) override;
  Result<std::vector<PipelineEndpointRecord>> ListPipelineEndpoints() override;
  Result<int64_t> AddPipelineEndpointVersion(const std::string& endpoint_id,
                                             const std::string& pipeline_id,
                                             bool set_default) override;
  Status SetPipelineEndpointDefault(const std::string& endpoint_id, int64_t version) override;
  Status SetPipelineEndpointStatus(const std::string& endpoint_id,
                                   const std::string& status) override;
  Status CreateSchedule(const ScheduleRecord& s) override;
  Result<ScheduleRecord> GetSchedule(const std::string& id) override;
  Result<std::vector<ScheduleRecord>> ListSchedules() override;
  Result<ScheduleRecord> UpdateSchedule(
      const std::string& id, const std::function<Status(ScheduleRecord*)>& change) override;
  Status PutSecrets(const std::vector<SecretRecord>& secrets) override;
  Result<SecretRecord> GetSecret(const std::string& name) override;
  Result<std::vector<SecretRecord>> ListSecrets() override;
  Status DeleteSecret(const std::string& name) override;

  Status CreateDatastore(const model::DatastoreRecord& d) override;
  Result<model::DatastoreRecord> GetDatastore(const std::string& name) override;
  Result<std::vector<model::DatastoreRecord>> ListDatastores() override;
  Status DeleteDatastore(const std::string& name) override;
  Status PutDatastoreFiles(const std::string& datastore,
                           const std::vector<model::DatastoreFile>& files, bool overwrite,
                           double now) override;
  Result<std::vector<model::DatastoreFile>> ListDatastoreFiles(const std::string& datastore,
                                                               const std::string& prefix) override;
  Result<model::DatasetVersion> RegisterDataset(const model::DatasetVersion& v, bool new_version,
                                                double now, bool* created) override;
  Result<model::DatasetVersion> GetDataset(const std::string& name, int64_t version) override;
  Result<model::DatasetVersion> GetDatasetById(const std::string& id) override;
  Result<std::vector<model::DatasetVersion>> ListDatasets(const std::string& name,
                                                          bool include_archived) override;
  Status SetDatasetArchived(const std::string& name, int64_t version, bool archived) override;
  Result<model::DatasetVersion> UpdateDataset(const std::string& name, int64_t version,
                                              const std::optional<std::string>& description,
                                              const std::map<std::string, std::string>& add_tags,
                                              const std::vector<std::string>& remove_tags) override;
  Status RecordAssetUses(const std::vector<model::AssetUse>& uses) override;
  Result<std::vector<model::AssetUse>> AssetUsesOfRun(const std::string& run_id) override;
  Result<std::vector<model::AssetUse>> RunsUsingAsset(const std::string& asset,
                                                      const std::string& name,
                                                      int64_t version) override;

  // ModelStore (sqlite_store_models.cc)
  ModelStore& Models() override { return *this; }
  Result<model::RegisteredModel> CreateRegisteredModel(const model::RegisteredModel& m,
                                                       double now) override;
  Result<model::RegisteredModel> GetRegisteredModel(const std::string& name) override;
  Result<std::vector<model::RegisteredModel>> ListRegisteredModels() override;
  Result<model::RegisteredModel> UpdateRegisteredModel(
      const std::string& name, const std::function<Status(model::RegisteredModel*)>& change,
      double now) override;
  Result<model::RegisteredModel> RenameRegisteredModel(const std::string& name,
                                                       const std::string& new_name,
                                                       double now) override;
  Status DeleteRegisteredModel(const std::string& name) override;
  Result<model::ModelVersion> CreateModelVersion(const model::ModelVersion& v, bool create_model,
                                                 double now) override;
  Result<model::ModelVersion> GetModelVersion(const std::string& name, int64_t version) override;
  Result<std::vector<model::ModelVersion>> ListModelVersions(const std::string& name) override;
  Result<std::vector<model::ModelVersion>> ListModelVersionsNewestFirst(const std::string& name,
                                                                        int64_t before,
                                                                        int64_t limit) override;
  Result<model::ModelVersion> UpdateModelVersion(
      const std::string& name, int64_t version,
      const std::function<Status(model::ModelVersion*)>& change, double now) override;
  Result<model::ModelVersion> TransitionModelVersionStage(const std::string& name, int64_t version,
                                                          const std::string& stage,
                                                          bool archive_existing,
                                                          double now) override;
  Status DeleteModelVersion(const std::string& name, int64_t version, double now) override;
  Status SetModelAlias(const std::string& name, const std::string& alias, int64_t version) override;
  Status DeleteModelAlias(const std::string& name, const std::string& alias) override;
  Result<model::ModelVersion> GetModelVersionByAlias(const std::string& name,
                                                     const std::string& alias) override;
  Result<model::LoggedModel> CreateLoggedModel(const model::LoggedModel& m, double now) override;
  Result<model::LoggedModel> GetLoggedModel(const std::string& model_id) override;
  Result<std::vector<model::LoggedModel>> ListLoggedModels(
      const std::vector<std::string>& experiment_ids) override;
  Result<model::LoggedModel> UpdateLoggedModel(
      const std::string& model_id, const std::function<Status(model::LoggedModel*)>& change,
      double now) override;
  Status DeleteLoggedModel(const std::string& model_id, double now) override;
  Status AddLoggedModelMetrics(const std::string& model_id,
                               const std::vector<model::LoggedModelMetric>& points) override;
  Result<std::vector<std::string>> LoggedModelsWithDataset(const std::string& name,
                                                           const std::string& digest) override;
  Status AddLoggedModelFiles(const std::string& model_id,
                             const std::vector<model::Artifact>& files) override;
  Result<std::vector<model::Artifact>> ListLoggedModelFiles(const std::string& model_id) override;
  Status RecordLoggedModelUses(const std::vector<model::LoggedModelUse>& uses) override;
  Result<std::vector<model::LoggedModelUse>> LoggedModelUsesOfRun(
      const std::string& run_id) override;

 private:
  static Status RunNotFound(const std::string& id) {
    return Status::NotFound("run '" + id + "' does not exist; see 'ferry run list'");
  }

  Status Commit();

  // body() inside BEGIN IMMEDIATE ... COMMIT, rolled back when it fails (a Status or a
  // Result). The caller holds the WriteLease.
  template <typename Body>
  auto InWriteTransaction(Body&& body) -> decltype(body()) {
    FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
    auto r = body();
    if (!r.ok()) {
      (void)db().Exec("ROLLBACK");
      return r;
    }
    FERRY_RETURN_IF_ERROR(Commit());
    return r;
  }

  // The model registry's reads and writes on the current connection (sqlite_store_models.cc).
  Result<model::RegisteredModel> RegisteredModelLocked(const std::string& name);
  Result<model::ModelVersion> ModelVersionLocked(const std::string& name, int64_t version);
  Status PutRegisteredModelLocked(const model::RegisteredModel& m);
  Status PutModelVersionLocked(const model::ModelVersion& v, double now);
  Result<model::LoggedModel> LoggedModelLocked(const std::string& model_id);
  Status PutLoggedModelLocked(const model::LoggedModel& m);

  // A new experiment belongs to created_by (the user whose run made it).
  Result<model::Experiment> EnsureExperimentLocked(const std::string& name, double now,
                                                   const std::string& created_by);

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

  Result<int64_t> RidLocked(const std::string& id);

  Status PutKv(const char* sql, int64_t rid, const std::map<std::string, std::string>& kv);

  Result<std::map<std::string, std::string>> ReadKv(const char* sql, int64_t rid);

  Status CreateRunLocked(const Run& run, const std::map<std::string, std::string>& params,
                         const std::string& token_hash, double now);

  Status AppendHistory(int64_t rid, RunStatus s, double now, const std::string& reason);

  Status TransitionLocked(const std::string& id, RunStatus to, const std::string& reason,
                          double now, const TransitionExtras& extras);

  Status AddArtifactsLocked(const std::string& id, const std::vector<model::Artifact>& files);

  Status UpdateRun(const char* sql, const std::string& id, const std::string& value,
                   bool bind_empty = false);

  Result<Run> GetRunLocked(const std::string& id, bool summary = false);

  Result<std::vector<model::RegisteredEnvironment>> ReadEnvironments(const char* sql,
                                                                     const std::string& name,
                                                                     int64_t version);

  Result<std::vector<Run>> ReadRuns(Stmt& st, bool light = false);

  // The runs' rows; light: without parsing arguments, git state, options and GPU ids.
  Result<std::vector<Run>> ReadRunRows(Stmt& st, bool light);

  Result<std::vector<Run>> WithTags(std::vector<Run> out);

  Result<int64_t> KeyId(const std::string& name) REQUIRES(mu_);

  // Groups consecutive rollup buckets into at most `slices` slices; each gives its lowest and
  // highest point in sequence order (one NaN point for a slice of NaNs only).
  Result<std::vector<model::MetricPoint>> SeriesFromRollupsLocked(int64_t rid, int64_t kid,
                                                                  const std::string& key,
                                                                  int64_t rows, int64_t slices);

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

  // NextMetricSeq over the numeric points only.
  Result<int64_t> NextPointSeq(const std::string& id, int rank);
  Result<int64_t> AppendMetricsLocked(int64_t rid, std::span<const model::MetricPoint> points)
      REQUIRES(mu_);

  // ---- connections
  // A method's connection is chosen by a lease it takes first: a WriteLease holds the writer and
  // its mutex; Read() borrows a reader inside a read transaction, so all of the method's
  // queries see one consistent snapshot (WAL: readers run alongside the writer). db() is
  // the connection of the lease this thread holds.
  static constexpr int kReaders = 8;

  // The writer commits with synchronous=NORMAL (in the OS's hands at once, synced by the
  // syncer thread within data_sync_ms) unless every commit must be synced. A lifecycle write
  // (data false) is made durable before the lease ends by a group commit (WaitDurable): the
  // writer mutex is released first, so other writes go on during the sync, and one fdatasync
  // of the WAL covers every commit made before it started. Holds the writer mutex for its
  // scope; declare it (`WriteLease lease(this, false);`) rather than return it, so the
  // analysis sees mu_ held.
  struct SCOPED_CAPABILITY WriteLease {
    WriteLease(SqliteMetadataStore* s, bool data) ACQUIRE(s->mu_)
        : store(s), prev(current_), data(data), relaxed(!s->options_.sync_every_commit) {
      s->mu_.Lock();
      current_ = &s->db_;
    }
    ~WriteLease() RELEASE() {
      uint64_t ticket = 0;
      if (relaxed) {
        if (data)
          store->unsynced_ = true;
        else
          ticket = store->written_.fetch_add(1) + 1;
      }
      current_ = prev;
      store->mu_.Unlock();
      if (ticket != 0) store->WaitDurable(ticket);
    }
    WriteLease(const WriteLease&) = delete;
    WriteLease& operator=(const WriteLease&) = delete;
    SqliteMetadataStore* store;
    Db* prev;
    bool data;
    bool relaxed;
  };

  // snapshot: in a read transaction (for methods of several statements; one statement is
  // a snapshot by itself).
  struct ReadLease {
    ReadLease(SqliteMetadataStore* s, bool snapshot)
        : store(s), conn(s->AcquireReader()), prev(current_) {
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

  void SyncData();
  // Returns once the lifecycle commit numbered ticket (and every commit before it) is on disk:
  // the first waiter syncs the WAL for all who arrived before its sync began; the others wait
  // for it. A failed sync ends the process (the page cache's state is then unknown, and no
  // write may be acknowledged that is not durable); restarting recovers from the WAL.
  void WaitDurable(uint64_t ticket) EXCLUDES(durable_mu_);
  ReadLease Read() { return ReadLease(this, true); }
  ReadLease ReadOne() { return ReadLease(this, false); }  // a method of one statement
  Db& db() { return *current_; }

  // Opens the readers (after the migrations, so they see the current schema).
  Status OpenReaders();

  Db* AcquireReader() EXCLUDES(readers_mu_);

  void ReleaseReader(Db* r) EXCLUDES(readers_mu_);

  static inline thread_local Db* current_ = nullptr;  // the connection of this thread's lease

  // Serialises writes: the writer connection (reached through current_, which the analysis
  // cannot follow, hence no GUARDED_BY on db_) and the caches below.
  Mutex mu_;
  Db db_;
  std::string path_;
  SqliteStoreOptions options_;
  UniqueFd wal_fd_;
  std::atomic<bool> unsynced_{false};  // logged data committed since the last WAL sync
  std::atomic<uint64_t> written_{0};   // lifecycle commits made (group commit tickets)
  Mutex durable_mu_;
  CondVar durable_cv_;
  uint64_t durable_ GUARDED_BY(durable_mu_) = 0;  // tickets up to this one are on disk
  bool syncing_ GUARDED_BY(durable_mu_) = false;
  std::thread syncer_;
  Mutex sync_mu_;
  CondVar sync_cv_;
  bool stopping_ GUARDED_BY(sync_mu_) = false;
  std::vector<std::unique_ptr<Db>> readers_;  // filled by Init, then only read
  Mutex readers_mu_;
  CondVar readers_cv_;
  std::vector<Db*> free_readers_ GUARDED_BY(readers_mu_);
  std::unordered_map<std::string, int64_t> key_cache_ GUARDED_BY(mu_);
  std::unordered_map<int64_t, int64_t> client_seq_ GUARDED_BY(mu_);  // run rid -> next seq
  std::optional<Stmt> key_insert_ GUARDED_BY(mu_), key_select_ GUARDED_BY(mu_),
      metric_insert_ GUARDED_BY(mu_), summary_upsert_ GUARDED_BY(mu_),
      rollup_upsert_ GUARDED_BY(mu_);
};

}  // namespace ferry::store
