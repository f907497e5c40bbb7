// PipelineStore: what the store keeps of pipelines (src/pipeline, src/server/pipelines.cc).
// A pipeline run is a parent run of kind "pipeline" with its definition and bound parameter
// values; each of its steps gets one record, written in the same transaction as the step's run
// (so a restarted server neither loses a step nor runs it twice), or pointing at an earlier
// run whose result it reuses. A run's outputs (the data versions it wrote) are recorded by
// content so that a consumer, or a later reuse check, reads exactly those bytes.
//
// Thread-safety, errors and atomicity as MetadataStore's: any thread; NotFound names the run;
// a failed call changes nothing.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/run.h"

namespace ferry::store {

struct PipelineRunRecord {
  std::string spec;        // pipeline::PipelineToJson, as validated at submit
  std::string parameters;  // JSON: the bound values {name: value}
  std::string settings;    // JSON: {"rerun_of": run id, "continue_on_step_failure": bool}
};

struct PipelineStepRecord {
  std::string step;         // the step's name in the pipeline
  std::string run_id;       // the step's run; a reused step: the run whose result it takes
  std::string reuse_key;    // pipeline::StepReuseKey ("" when the step never reuses)
  std::string reused_from;  // "" or run_id, when the step was reused
  std::string inputs;       // JSON: {input name: {"source", "content"}} as the step got them
  double created_at = 0;
};

// One output of a run: the files it wrote there, as a manifest in the workspace's blob store
// (the content consumers mount), and where they were put.
struct RunOutputRecord {
  std::string run_id;
  std::string name;
  std::string datastore;
  std::string path;
  std::string manifest;  // SHA-256 of the manifest blob
  int64_t file_count = 0;
  int64_t total_bytes = 0;
};

// One mini-batch of a ParallelRunStep's run: its items (file paths, or {"path","start","end"}
// byte ranges of tabular files) and where it is in the queue.
struct MiniBatch {
  int64_t index = 0;
  std::string items;  // JSON array
  int64_t item_count = 0;
  std::string state;   // pending | leased | done | failed
  int attempts = 0;    // tries started (leases given)
  std::string worker;  // leased: who holds it; done: who did it
  double lease_until = 0;
  std::string rows;  // done: JSON array of the rows run() returned
  int64_t failed_items = 0;
  std::string error;  // failed: the last try's error
};

struct MiniBatchCounts {
  int64_t total = 0, pending = 0, leased = 0, done = 0, failed = 0;
  int64_t items = 0, failed_items = 0;
  std::string first_error;  // of the lowest failed batch
};

class PipelineStore {
 public:
  virtual ~PipelineStore() = default;

  // The parent run (kind "pipeline", status Queued) and its record, in one transaction.
  virtual Result<model::Run> CreatePipelineRun(const model::Run& run,
                                               const PipelineRunRecord& record, double now) = 0;
  // NotFound when the run is not a pipeline run.
  virtual Result<PipelineRunRecord> GetPipelineRun(const std::string& id) = 0;
  // The step's record and, when it runs (run given), its run with these parameters, in one
  // transaction; AlreadyExists when the step has a record in this pipeline run already.
  virtual Status CreatePipelineStep(const std::string& pipeline_id, const PipelineStepRecord& step,
                                    const std::optional<model::Run>& run,
                                    const std::map<std::string, std::string>& params,
                                    double now) = 0;
  virtual Result<std::vector<PipelineStepRecord>> ListPipelineSteps(
      const std::string& pipeline_id) = 0;
  // The latest Completed run of a step that ran (not reused) under this key; "" when none.
  virtual Result<std::string> FindReusableRun(const std::string& reuse_key) = 0;

  // The queue of a ParallelRunStep's run (docs/pipelines.md#parallelrunstep). Every change is
  // one transaction; a result is taken only from the try that holds the batch (a late answer
  // from a worker whose lease was given to another is ignored).
  // Creates the batches unless the run has some already; returns how many the run has.
  virtual Result<int64_t> CreateMiniBatches(const std::string& run_id,
                                            const std::vector<MiniBatch>& batches) = 0;
  // Leased batches whose lease ran out go back to pending (or fail after max_tries), then the
  // lowest pending batch is leased to `worker` until now + lease_s. nullopt when none is pending.
  virtual Result<std::optional<MiniBatch>> LeaseMiniBatch(const std::string& run_id,
                                                          const std::string& worker, double now,
                                                          double lease_s, int max_tries) = 0;
  // The result of try `attempt` of a batch: done with its rows, or back to pending (failed once
  // max_tries tries have failed). false when that try no longer holds the batch.
  virtual Result<bool> FinishMiniBatch(const std::string& run_id, const MiniBatch& result, bool ok,
                                       int max_tries) = 0;
  // A worker that died: its leased batches go back to pending (or fail after max_tries) at once.
  virtual Result<int64_t> ReleaseMiniBatches(const std::string& run_id, const std::string& worker,
                                             const std::string& reason, int max_tries) = 0;
  virtual Result<MiniBatchCounts> CountMiniBatches(const std::string& run_id) = 0;
  // Batches from index `from` on, in order, at most `limit` (all states).
  virtual Result<std::vector<MiniBatch>> ListMiniBatches(const std::string& run_id, int64_t from,
                                                         int64_t limit) = 0;

  // Replaces the run's output records of these names.
  virtual Status PutRunOutputs(const std::vector<RunOutputRecord>& outputs) = 0;
  virtual Result<std::vector<RunOutputRecord>> RunOutputs(const std::string& run_id) = 0;
};

}  // namespace ferry::store
