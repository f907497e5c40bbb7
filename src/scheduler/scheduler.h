// Scheduler: owns orchestration of runs on compute targets. One thread runs cycles; other
// threads only Wake() it or record cancel requests. Each cycle: notices jobs whose agent
// is gone, forwards cancel requests to drivers, and launches queued runs in FIFO order while
// each target has free slots. Every status change goes through the store first.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "compute/compute_target.h"
#include "store/metadata_store.h"

namespace ferry::scheduler {

struct SchedulerOptions {
  double poll_interval_s = 1.0;
  // The token that authorises the agent of a run (required).
  std::function<std::string(const std::string& run_id)> token_for;
  // Called after the scheduler changed a run's status (e.g. to wake long polls). Optional.
  std::function<void(const std::string& run_id)> on_change;
  // Called at the start of every cycle, on the scheduler's thread, before queued runs are
  // launched (the sweep controller: it creates trials the same cycle then starts). Optional.
  std::function<void()> before_cycle;
};

class Scheduler {
 public:
  Scheduler(store::MetadataStore* store, const Clock* clock, SchedulerOptions options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;
  // Sets SchedulerOptions::before_cycle; call before Start().
  void SetBeforeCycle(std::function<void()> hook) { options_.before_cycle = std::move(hook); }

  // Registers (or replaces) a target. Any thread. The raw-pointer form does not own it.
  void AddTarget(std::shared_ptr<compute::ComputeTarget> target);
  void AddTarget(compute::ComputeTarget* target);
  // Unregisters a target: later cycles treat its runs as on an unknown target.
  void RemoveTarget(const std::string& name);
  std::shared_ptr<compute::ComputeTarget> GetTarget(const std::string& name) const;
  // Why a queued run has not started yet (no slot, GPUs, target not ready); empty when
  // unknown. Any thread.
  std::string QueueReason(const std::string& run_id) const;
  // One cycle, on the caller's thread (tests call this directly instead of Start()).
  void RunOnce();
  void Start();
  void Stop();
  // Asks for a cycle soon (new run, run ended). Any thread.
  void Wake();
  // Whether the run can ever be placed on its target (GPUs, containers): an error that says
  // what the target lacks, so a submit fails at once instead of queueing forever. Any thread.
  Status CheckFits(const model::Run& run) const;
  // Records a cancel request. A queued run is canceled at once; an active one is asked to
  // stop by its driver on the next cycle. Any thread.
  Status Cancel(const std::string& run_id, const std::string& reason);

 private:
  using TargetMap = std::map<std::string, std::shared_ptr<compute::ComputeTarget>>;
  struct Cycle;  // one cycle's slots, devices and runs per target (scheduler.cc)

  void Loop() EXCLUDES(mu_);
  void Changed(const std::string& run_id);
  TargetMap Targets() const EXCLUDES(targets_mu_);

  // The steps of RunOnce, in order; each runs on the scheduler's thread.
  Cycle Classify(std::vector<model::Run>& active, bool startup);
  void ReconcileJobs(const TargetMap& targets, Cycle& cycle);
  void ReconcileJob(compute::ComputeTarget& target, const model::Run& run, compute::JobState state,
                    Cycle& cycle);
  void JobGone(const compute::ComputeTarget& target, const model::Run& run, Cycle& cycle);
  void ForgetEndedCancels(const std::vector<model::Run>& active);
  void LaunchQueued(const TargetMap& targets, Cycle& cycle);
  std::string WhyWaiting(const compute::ComputeTarget& target, const model::Run& run,
                         const std::string& not_ready, Cycle& cycle) const;
  std::optional<std::vector<int>> PickGpus(const compute::ComputeTarget& target,
                                           const model::Run& run, Cycle& cycle);
  void Launch(compute::ComputeTarget& target, const model::Run& run, const std::vector<int>& gpus,
              Cycle& cycle);
  // Ends a run's hold on its target: stores `to`; when the store takes it, the run's slot and
  // `gpus` are free for the rest of the cycle and on_change is told. Returns whether it was
  // stored (it is not when the run changed meanwhile, e.g. its agent reported an end).
  bool TransitionAndRelease(Cycle& cycle, const model::Run& run, const std::vector<int>& gpus,
                            model::RunStatus to, const std::string& reason,
                            const store::TransitionExtras& extras = {});
  void SendCancel(compute::ComputeTarget& target, const std::string& run_id,
                  const std::string& handle);

  store::MetadataStore* store_;
  const Clock* clock_;
  SchedulerOptions options_;

  mutable Mutex targets_mu_;
  TargetMap targets_ GUARDED_BY(targets_mu_);
  std::map<std::string, std::string> queue_reasons_ GUARDED_BY(targets_mu_);
  // The scheduler thread's own (RunOnce's): no lock.
  std::set<std::string> cancel_sent_;
  bool first_cycle_ = true;

  Mutex mu_;
  CondVar cv_;
  bool wake_ GUARDED_BY(mu_) = false;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace ferry::scheduler
