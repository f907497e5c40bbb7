// PipelineController: drives pipeline runs (docs/pipelines.md). A pipeline run is a parent
// run (kind "pipeline") that the scheduler never launches; each step becomes an ordinary run
// (a child, on the step's own compute target) once every step it depends on has completed.
// Each scheduler cycle, before launching, the controller:
//   - starts new pipeline runs (Queued -> Preparing -> Running);
//   - for each step whose dependencies completed: resolves its inputs to content (the data
//     references resolved at submit, or the outputs its producers wrote), computes its reuse
//     key, and either records the completed run it reuses (no compute) or creates its run;
//   - on a failed step stops the rest (cancels running steps) unless continue_on_step_failure,
//     then fails the pipeline naming the step; forwards a user's cancel to every running step;
//   - completes the pipeline when every step has completed.
// A step's record and its run are created in one transaction, and everything the controller
// decides from is in the store, so a restarted server resumes every pipeline run with no step
// lost or run twice.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "model/run.h"
#include "store/metadata_store.h"

namespace ferry::scheduler {
class Scheduler;
}

namespace ferry::server {

// What a pipeline run's settings record (PipelineRunRecord::settings).
struct PipelineSettings {
  std::string rerun_of;  // a pipeline run whose completed steps are reused whatever allow_reuse
  bool continue_on_step_failure = false;
  // Data references and datapath parameters resolved at submit: "ref:NAME" / "param:NAME" ->
  // {"datastore", "manifest", "dataset_name", "dataset_version", "kind"}.
  nlohmann::json data = nlohmann::json::object();
};
nlohmann::json PipelineSettingsToJson(const PipelineSettings& s);
Result<PipelineSettings> PipelineSettingsFromJson(const std::string& text);

struct PipelineDeps {
  store::MetadataStore* store = nullptr;
  scheduler::Scheduler* scheduler = nullptr;
  const Clock* clock = nullptr;
  std::function<void(const std::string& run_id)> on_change;
  // A step's run checked as POST /api/v1/runs checks one (snapshot, script, target, data), for
  // the pipeline's submitter; not stored.
  std::function<Result<model::Run>(const nlohmann::json& body, const std::string& user)>
      prepare_run;
};

class PipelineController {
 public:
  explicit PipelineController(PipelineDeps deps);
  ~PipelineController();
  PipelineController(const PipelineController&) = delete;
  PipelineController& operator=(const PipelineController&) = delete;

  // One pass over the active pipeline runs (the scheduler's thread, at the start of a cycle).
  void Step();

 private:
  struct Loaded;
  void Drive(const model::Run& parent, Loaded* p);
  Status Load(const model::Run& parent, Loaded* p);
  // Creates step i's record (reused) or its run, and returns the record; the error says why
  // it could not be made.
  Result<store::PipelineStepRecord> StartStep(
      const model::Run& parent, Loaded* p, size_t i,
      const std::map<std::string, store::PipelineStepRecord>& records);
  void End(const model::Run& parent, model::RunStatus to, const std::string& reason,
           const std::string& error);
  void Changed(const std::string& id);

  PipelineDeps d_;
  std::map<std::string, std::unique_ptr<Loaded>> active_;  // by pipeline run id
};

}  // namespace ferry::server
