// The run model: statuses and their legal transitions, and the records the store keeps.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/run_options.h"

namespace ferry::model {

enum class RunStatus {
  kQueued,
  kPreparing,
  kRunning,
  kFinalizing,
  kCompleted,
  kFailed,
  kCanceled,
  kPreempted
};

const char* RunStatusName(RunStatus s);
// Accepts the exact names ("Running"); the error lists the allowed values.
Result<RunStatus> ParseRunStatus(std::string_view name);
bool IsTerminal(RunStatus s);
// Queued -> Preparing -> Running -> Finalizing -> Completed | Failed | Canceled; any
// non-terminal state may go to Failed or Canceled; Preparing/Running may go back to Queued
// (a lost node); Preparing/Running may be Preempted (a cluster took the nodes back), which
// goes back to Queued. Terminal states are final.
bool IsLegalTransition(RunStatus from, RunStatus to);

// MLflow's limit on an experiment name, in characters.
constexpr size_t kMaxExperimentNameChars = 500;
// An experiment name is what MLflow accepts: any non-empty text of at most 500 characters.
// Ferry adds only that it is valid UTF-8 without NUL (names travel in JSON, URLs and files).
// The error names the value and the rule.
Status ValidateExperimentName(std::string_view name);
// The first part of the ids of runs submitted to an experiment (`<prefix>_<time>_<hex>`): the
// name itself when it is made of letters, digits, '-', '_' and '.' (the only names Ferry took
// before, so ids keep their form); else the name with every other run of bytes made one '_'
// and cut to 64 characters, or "exp-<8 hex of its SHA-256>" when nothing is left. A run id is
// then always safe in a URL path segment, a file name and a comma-separated list.
std::string RunIdPrefix(std::string_view experiment);

struct Experiment {
  int64_t id = 0;
  std::string name;
  double created_at = 0;
  // MLflow's view of an experiment (see src/server/mlflow_api.h).
  std::string lifecycle_stage = "active";  // "active" or "deleted"
  double last_update_time = 0;
  std::string artifact_location;
  std::map<std::string, std::string> tags;
  std::string created_by;  // the user who created it ("" for the workspace token or a run)
};

struct ComputeTargetRecord {
  std::string name;
  std::string kind;         // a row of compute/kinds.cc: "local", "ssh", "instance", ...
  std::string config_json;  // kind-specific settings
  double created_at = 0;
};

struct GitState {
  std::string remote_url, branch, commit;
  bool dirty = false;
  bool present = false;  // false: the source dir is not in a git work tree
};

struct Run {
  std::string id;
  int64_t rid = 0;  // internal integer key (FIFO order of submission)
  std::string experiment;
  std::string target;
  RunStatus status = RunStatus::kQueued;
  std::string script;
  std::vector<std::string> arguments;
  std::string python;  // interpreter path on the target
  std::string snapshot_id;
  GitState git;
  std::map<std::string, std::string> tags;
  double created_at = 0, started_at = 0, ended_at = 0;
  std::optional<int> exit_code;
  std::string error;  // on failure: reason and the last log lines
  int attempt = 1;
  std::string job_handle;  // driver-specific JSON, for reconciliation after a restart
  bool cancel_requested = false;
  RunOptions options;         // from the run configuration
  std::string submitted_by;   // the user whose token submitted it ("" for the workspace token)
  std::vector<int> gpu_ids;   // devices the scheduler gave the run (indices on its node)
  std::string kind = "run";   // "run"; "sweep": a parent whose controller starts trials;
                              // "external": created by a client (MLflow) that runs it
                              // itself. The scheduler launches only "run".
  std::string parent_id;      // a sweep's trial: the sweep's run id
  std::string cancel_reason;  // why a cancel was requested (recorded as the Canceled reason)
  std::string name;           // display name (MLflow's run_name); "" for none
  std::string lifecycle_stage = "active";  // "deleted": hidden by MLflow's searches
};

struct StatusEvent {
  RunStatus status;
  double time = 0;
  std::string reason;
};

// One metric point. seq is assigned by the agent (line number in the metrics file, so unique
// within a run) and is what makes ingestion idempotent: (run, key, seq) identifies a point.
struct MetricPoint {
  int64_t seq = 0;
  std::string key;
  double value = 0;
  int64_t step = 0;
  double time = 0;
};

// One non-numeric metric value (Azure ML's string, table, row, image... metrics). Kept apart
// from the numeric points, so charts, rollups and MLflow's metric endpoints see numbers only.
// seq plays the same part as a point's: (run, seq) identifies a value, so a resend is ignored.
struct RunValue {
  int64_t seq = 0;
  std::string key;
  std::string type;   // "string", "table", "row", "list", "image", or a logged table's kind
  std::string value;  // the value as JSON text
  int64_t step = 0;
  double time = 0;
};

struct MetricSummary {
  std::string key;
  int64_t count = 0;
  double min = 0, max = 0, last = 0;
  int64_t last_step = 0;
  int64_t last_seq = 0;  // the highest sequence number stored for the key
};

struct Artifact {
  std::string path;  // relative, validated
  uint64_t size = 0;
  std::string hash;  // blob hash
};

// The parameters a run's arguments set: "--alpha 0.5", "--alpha=0.5" -> {"alpha": "0.5"}; a
// flag without a value is "true".
std::map<std::string, std::string> ParamsFromArguments(const std::vector<std::string>& args);

struct RunFilter {
  std::string experiment, target;
  std::string parent;             // non-empty: the trials of that sweep only
  bool include_children = false;  // parent empty: also list sweeps' trials
  // Only what a run list shows: arguments, git state, options and GPU ids are left empty
  // (they are JSON to parse per run; MLflow's search reads none of them).
  bool light = false;
  std::optional<RunStatus> status;
  std::map<std::string, std::string> tags;    // every one must match (equality)
  std::map<std::string, std::string> params;  // every one must match (equality)
  // Metric conditions on the key's last value: op is one of < <= > >= =; every one must hold.
  struct MetricCondition {
    std::string key, op;
    double value = 0;
  };
  std::vector<MetricCondition> metrics;
  // Order: "" (newest first), "metric:<key>" (its last value), "param:<key>" (numbers as
  // numbers), "started", "ended"; runs without the value come last either way.
  std::string sort;
  bool ascending = false;
  int limit = 100;
  int offset = 0;
};

// Keys of metrics, tags and parameters (what MLflow allows, and what every reader can show):
// 1 to 250 bytes of valid UTF-8 without control characters. `what` names the kind in the
// error ("metric", "tag", "parameter").
inline constexpr size_t kMaxKeyBytes = 250;
Status ValidateKey(std::string_view what, std::string_view key);
// True when s is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool IsValidUtf8(std::string_view s);

}  // namespace ferry::model
