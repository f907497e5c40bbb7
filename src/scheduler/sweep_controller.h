// SweepController: drives hyperparameter sweeps. A sweep is a parent run (kind "sweep") that
// the scheduler never launches; its trials are ordinary child runs on the sweep's target, so
// they go wherever a run can go. Each scheduler cycle, before launching, the controller:
//   - starts new sweeps (Queued -> Preparing -> Running);
//   - reads the primary metric of running trials and applies the early-termination policy to
//     each new report, canceling stopped trials with the policy's numbers as the reason;
//   - samples and creates trials while fewer than max_concurrent_runs run and fewer than
//     max_total_runs exist (the scheduler launches them in the same cycle);
//   - enforces max_duration_minutes and a user's cancel (trials are canceled too);
//   - ends the sweep when nothing runs and nothing is left to start, with a summary.
//
// Nothing the controller needs lives only in memory: trials are created atomically with their
// sampled values (run parameters), samplers are pure functions of the trials, and policies
// read the stored metrics. After a restart the controller reloads each active sweep from the
// store and goes on without losing or repeating a trial.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "model/run.h"
#include "store/metadata_store.h"
#include "sweep/policy.h"
#include "sweep/sampler.h"
#include "sweep/space.h"

namespace ferry::scheduler {

class Scheduler;

// The settings a sweep was submitted with (stored as SweepRecord::settings JSON).
struct SweepSettings {
  bool azure_strict = false;
  uint64_t seed = 0;                    // used when the file names no seed
  std::vector<std::string> warm_start;  // earlier sweeps whose trials seed the Bayesian model
};
std::string SweepSettingsToJson(const SweepSettings& s);
Result<SweepSettings> SweepSettingsFromJson(const std::string& text);

// Parses the stored definition of a sweep with its settings applied (seed).
Result<sweep::SweepSpec> LoadSweepSpec(const store::SweepRecord& record,
                                       const SweepSettings& settings);

// The observations earlier sweeps give a new one (warm start): their finished trials with a
// value of the primary metric, mapped onto `spec`'s parameters. Errors name the sweep and why
// it does not fit (not a sweep, another metric or goal, a parameter it lacks).
Result<std::vector<sweep::Observation>> WarmStartObservations(
    store::MetadataStore* store, const sweep::SweepSpec& spec,
    const std::vector<std::string>& sweep_ids);

class SweepController {
 public:
  SweepController(store::MetadataStore* store, Scheduler* scheduler, const Clock* clock,
                  std::function<void(const std::string& run_id)> on_change);
  ~SweepController();
  SweepController(const SweepController&) = delete;
  SweepController& operator=(const SweepController&) = delete;

  // One pass over the active sweeps (the scheduler's thread, at the start of each cycle).
  void Step();

 private:
  struct Trial;
  struct Sweep;
  void Drive(const model::Run& parent, const std::map<std::string, const model::Run*>& active);
  Status Load(const model::Run& parent, Sweep* sw);
  void Refresh(Sweep* sw, Trial* t, const std::map<std::string, const model::Run*>& active);
  void ApplyPolicy(Sweep* sw);
  void Launch(const model::Run& parent, Sweep* sw, int running);
  void Finish(const model::Run& parent, Sweep* sw);
  void Stop(Trial* t, const std::string& reason);
  void Changed(const std::string& id);

  store::MetadataStore* store_;
  Scheduler* scheduler_;
  const Clock* clock_;
  std::function<void(const std::string&)> on_change_;
  std::map<std::string, std::unique_ptr<Sweep>> sweeps_;  // active sweeps by run id
};

}  // namespace ferry::scheduler
