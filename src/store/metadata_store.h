// MetadataStore: the contract for workspace metadata (experiments, targets, runs, history,
// tags, params, metrics, artifacts, snapshots). The SQLite implementation is the default.
//
// Thread-safety: every method may be called from any thread; implementations serialise.
// Errors: NotFound names the missing thing; AlreadyExists for unique names; FailedPrecondition
// for an illegal status transition; Unavailable/IoError for storage trouble. A failed call
// changes nothing (each call is one transaction).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/run.h"
#include "store/asset_store.h"
#include "store/model_store.h"
#include "store/pipeline_store.h"
#include "store/published_store.h"
#include "store/secret_store.h"

namespace ferry::store {

// Fields a status transition may set in the same transaction.
struct TransitionExtras {
  std::optional<int> exit_code;
  std::optional<std::string> error;
  std::optional<std::string> job_handle;
  std::optional<std::vector<int>> gpu_ids;  // devices given to the run (set when it is scheduled)
  // A run's whole end in one transaction: from Running it first becomes Finalizing with this
  // reason, then the artifacts are registered, then the transition is made.
  std::optional<std::string> finalizing_reason;
  std::vector<model::Artifact> artifacts;
};

// A named user: who they are, what they may do, and their token (as SHA-256 hex only).
struct UserRecord {
  std::string name;
  std::string role;  // "admin", "contributor" or "reader" (docs/security.md)
  std::string token_hash;
  double created_at = 0;
};

// What a sweep's parent run keeps besides the run: its definition as the user wrote it (parsed
// again when the controller loads it) and the submit-time settings.
struct SweepRecord {
  std::string spec_file;  // the name the user gave (for error messages)
  std::string spec_text;  // hdconfig.yml, verbatim
  std::string settings;   // JSON: {"strict": bool, "warm_start": [run ids]}
};

// What the store keeps of a snapshot besides its manifest blob.
struct SnapshotRecord {
  int64_t file_count = 0;
  int64_t total_bytes = 0;
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // created_by: the user who creates it ("" for the workspace token), who may then change it.
  virtual Result<model::Experiment> CreateExperiment(const std::string& name, double now,
                                                     const std::string& created_by) = 0;
  // MLflow's experiments/create: the experiment with its artifact location (kept as given) and
  // tags, in one transaction.
  virtual Result<model::Experiment> CreateExperimentWith(
      const std::string& name, const std::string& artifact_location,
      const std::map<std::string, std::string>& tags, double now,
      const std::string& created_by) = 0;
  // Returns the experiment, creating it when missing.
  virtual Result<model::Experiment> EnsureExperiment(const std::string& name, double now) = 0;
  virtual Result<std::vector<model::Experiment>> ListExperiments() = 0;
  // Renames and/or sets the lifecycle stage ("active", "deleted"); NotFound, AlreadyExists.
  virtual Status UpdateExperiment(int64_t id, const std::optional<std::string>& name,
                                  const std::optional<std::string>& lifecycle_stage,
                                  double now) = 0;
  virtual Status SetExperimentTag(int64_t id, const std::string& key, const std::string& value,
                                  double now) = 0;
  // NotFound when the experiment has no such tag.
  virtual Status DeleteExperimentTag(int64_t id, const std::string& key, double now) = 0;

  // Inserts the target if no target of that name exists; otherwise leaves it as is.
  virtual Status EnsureTarget(const model::ComputeTargetRecord& target) = 0;
  virtual Result<model::ComputeTargetRecord> GetTarget(const std::string& name) = 0;
  virtual Result<std::vector<model::ComputeTargetRecord>> ListTargets() = 0;
  // Inserts a new target; AlreadyExists when the name is taken.
  virtual Status CreateTarget(const model::ComputeTargetRecord& target) = 0;
  virtual Status UpdateTargetConfig(const std::string& name, const std::string& config_json) = 0;
  virtual Status DeleteTarget(const std::string& name) = 0;

  virtual Status PutSnapshot(const std::string& id, int64_t file_count, int64_t total_bytes,
                             double now) = 0;
  // A stored snapshot's totals; nullopt when no snapshot of that id is stored.
  virtual Result<std::optional<SnapshotRecord>> GetSnapshot(const std::string& id) = 0;

  // Inserts the run (status Queued, history row "submitted"), its tags and params, and
  // the experiment if missing. run.id must be unique. Returns the stored run (rid set).
  virtual Result<model::Run> CreateRun(const model::Run& run,
                                       const std::map<std::string, std::string>& params,
                                       const std::string& token_hash, double now) = 0;
  // A sweep: the parent run (kind "sweep") and its record, in one transaction.
  virtual Result<model::Run> CreateSweep(const model::Run& run, const SweepRecord& sweep,
                                         double now) = 0;
  virtual Result<SweepRecord> GetSweep(const std::string& id) = 0;
  virtual Result<model::Run> GetRun(const std::string& id) = 0;
  // The run without its tags, arguments, git state, options and GPU ids: what a check of
  // its owner, kind and state needs, at a fraction of GetRun's cost.
  virtual Result<model::Run> GetRunSummary(const std::string& id) = 0;
  virtual Result<std::vector<model::Run>> ListRuns(const model::RunFilter& filter) = 0;
  // How many runs the filter matches (its limit and offset ignored).
  virtual Result<int64_t> CountRuns(const model::RunFilter& filter) = 0;
  // Runs not in a terminal state, in submission order.
  virtual Result<std::vector<model::Run>> ListActiveRuns() = 0;
  // Atomically checks the transition against the status machine, appends the history row
  // and updates the run. Sets started_at on Running and ended_at on terminal states.
  virtual Result<model::Run> Transition(const std::string& id, model::RunStatus to,
                                        const std::string& reason, double now,
                                        const TransitionExtras& extras = {}) = 0;
  virtual Status SetJobHandle(const std::string& id, const std::string& handle) = 0;
  // Marks the run as cancel-requested (idempotent; the first reason is kept). A later
  // transition to Canceled records that reason.
  virtual Status RequestCancel(const std::string& id, const std::string& reason = "") = 0;
  virtual Result<std::vector<model::StatusEvent>> History(const std::string& id) = 0;
  virtual Result<std::string> RunTokenHash(const std::string& id) = 0;
  virtual Status SetTags(const std::string& id, const std::map<std::string, std::string>& tags) = 0;
  virtual Result<std::map<std::string, std::string>> Params(const std::string& id) = 0;
  // Adds parameters; one that exists with another value is refused (FailedPrecondition) and
  // none of them is stored.
  virtual Status SetParams(const std::string& id,
                           const std::map<std::string, std::string>& params) = 0;
  virtual Status DeleteTag(const std::string& id, const std::string& key) = 0;
  virtual Status SetRunName(const std::string& id, const std::string& name) = 0;
  // "active" or "deleted" (MLflow's soft delete).
  virtual Status SetRunLifecycle(const std::string& id, const std::string& stage) = 0;

  // Inserts points idempotently: a point whose (run, key, seq) is stored already is ignored.
  // Updates the per-run summaries for new points only. Returns how many were new.
  virtual Result<int64_t> AppendMetrics(int64_t rid,
                                        std::span<const model::MetricPoint> points) = 0;
  // All points of a run (key empty) or of one key, in key then seq order.
  virtual Result<std::vector<model::MetricPoint>> GetMetrics(const std::string& id,
                                                             const std::string& key) = 0;
  virtual Result<std::vector<model::MetricSummary>> MetricSummaries(const std::string& id) = 0;
  // MLflow's run view of many runs in a few queries, however many points they hold: per run
  // id given, the latest point of each metric key by MLflow's rule (the highest step, then
  // the latest time, then the largest value with NaN as 0, then the first logged), in key
  // order. Runs that do not exist or have no metrics are absent.
  virtual Result<std::map<std::string, std::vector<model::MetricPoint>>> LatestMetrics(
      const std::vector<std::string>& run_ids) = 0;
  // Per run id given, its parameters; runs that do not exist or have none are absent.
  virtual Result<std::map<std::string, std::map<std::string, std::string>>> ParamsOfRuns(
      const std::vector<std::string>& run_ids) = 0;
  // One key's points for a chart: all of them when there are at most max_points, else at most
  // max_points in sequence order, the lowest and the highest of each of max_points/2 equal
  // slices of the series (spikes survive; NaNs are kept only where a slice has nothing else).
  // *total: the key's number of points.
  // *max_seq (when given): the key's highest sequence number, read together with the points
  // (0 when the key has none), so a reader can continue with GetMetricsAfter without gaps.
  virtual Result<std::vector<model::MetricPoint>> GetMetricSeries(const std::string& id,
                                                                  const std::string& key,
                                                                  int64_t max_points,
                                                                  int64_t* total,
                                                                  int64_t* max_seq = nullptr) = 0;
  // Up to limit points of one key with a sequence number above after_seq, in sequence order.
  virtual Result<std::vector<model::MetricPoint>> GetMetricsAfter(const std::string& id,
                                                                  const std::string& key,
                                                                  int64_t after_seq,
                                                                  int64_t limit) = 0;
  // The parameter names, metric keys and tag keys used by the newest `recent` runs (of one
  // experiment when it is given), sorted; for pickers.
  struct RunKeys {
    std::vector<std::string> params, metrics, tags;
  };
  virtual Result<RunKeys> ListRunKeys(const std::string& experiment, int recent) = 0;
  // Distributed runs: rank k's metric sequence numbers are [k << 40, (k + 1) << 40).
  static constexpr int kRankSeqShift = 40;
  // One past the highest metric sequence number stored for the run's rank (rank << 40 when
  // none).
  virtual Result<int64_t> NextMetricSeq(const std::string& id, int rank = 0) = 0;
  // Points logged by a client (MLflow's log-metric/log-batch) rather than from an agent's
  // metrics file: numbered from kClientSeqBase up, in the order given. Returns how many.
  static constexpr int64_t kClientSeqBase = int64_t{1} << 62;
  virtual Result<int64_t> LogMetrics(const std::string& id,
                                     std::vector<model::MetricPoint> points) = 0;

  // A run's non-numeric metric values (model::RunValue), apart from the numeric points.
  // Idempotent by (run, seq): a value whose seq is stored already is ignored. With `client`
  // the seqs given are ignored and values are numbered from kClientSeqBase up, in the order
  // given (a client's log, not an agent's metrics file). Returns how many were new.
  virtual Result<int64_t> AppendValues(int64_t rid, std::span<const model::RunValue> values,
                                       bool client) = 0;
  // All values of a run (key empty) or of one key, in key then seq order.
  virtual Result<std::vector<model::RunValue>> GetValues(const std::string& id,
                                                         const std::string& key) = 0;

  // Registered environments. Registering stores a new version unless the latest version of
  // that name has the same hash, which is then returned with `created` false.
  virtual Result<model::RegisteredEnvironment> RegisterEnvironment(
      const model::RegisteredEnvironment& env, double now, bool* created) = 0;
  // version 0: the latest.
  virtual Result<model::RegisteredEnvironment> GetEnvironment(const std::string& name,
                                                              int64_t version) = 0;
  // name empty: the latest version of every environment; else every version of that one.
  virtual Result<std::vector<model::RegisteredEnvironment>> ListEnvironments(
      const std::string& name) = 0;

  // Named users. AlreadyExists for a taken name; NotFound for an unknown one.
  virtual Status CreateUser(const UserRecord& user) = 0;
  virtual Result<std::vector<UserRecord>> ListUsers() = 0;  // by name
  virtual Status SetUserRole(const std::string& name, const std::string& role) = 0;
  virtual Status DeleteUser(const std::string& name) = 0;

  // Adds or replaces artifacts of a run.
  virtual Status AddArtifacts(const std::string& id, const std::vector<model::Artifact>& files) = 0;
  virtual Result<std::vector<model::Artifact>> ListArtifacts(const std::string& id) = 0;

  // The data assets kept beside the runs (asset_store.h), on the same database.
  virtual AssetStore& Assets() = 0;
  // The model registry (model_store.h), on the same database.
  virtual ModelStore& Models() = 0;
  // The workspace's secrets (secret_store.h), sealed, on the same database.
  virtual SecretStore& Secrets() = 0;
  // Pipeline runs, their steps and runs' outputs (pipeline_store.h), on the same database.
  virtual PipelineStore& Pipelines() = 0;
  // Published pipelines, pipeline endpoints and schedules (published_store.h), same database.
  virtual PublishedPipelineStore& Published() = 0;
};

// How the SQLite store's commits reach the disk. Every commit is in the operating system's
// hands before the call returns, so a crash or kill -9 of any process loses nothing. Against a
// power loss: a run's lifecycle (runs created, status changes, outputs, users, targets) is
// synced before each call returns (a group commit: concurrent lifecycle writes share one sync
// of the WAL, and other writes go on while it runs); logged data (metric points, parameters,
// tags) is synced within `data_sync_ms` (and by the next lifecycle sync), unless
// sync_every_commit.
struct SqliteStoreOptions {
  bool sync_every_commit = false;
  int data_sync_ms = 1000;
};

// Opens (creating if needed) the SQLite store at path, in WAL mode, and applies the
// numbered migrations that are not yet applied.
Result<std::unique_ptr<MetadataStore>> OpenSqliteMetadataStore(
    const std::string& path, const SqliteStoreOptions& options = {});

}  // namespace ferry::store
