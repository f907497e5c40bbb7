// Scheduler cycles.
#include "scheduler/scheduler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

namespace ferry::scheduler {

using model::RunStatus;

Scheduler::Scheduler(store::MetadataStore* store, const Clock* clock, SchedulerOptions options)
    : store_(store), clock_(clock), options_(std::move(options)) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::AddTarget(std::shared_ptr<compute::ComputeTarget> target) {
  MutexLock lock(&targets_mu_);
  targets_[target->name()] = std::move(target);
}

void Scheduler::AddTarget(compute::ComputeTarget* target) {
  AddTarget(std::shared_ptr<compute::ComputeTarget>(target, [](compute::ComputeTarget*) {}));
}

void Scheduler::RemoveTarget(const std::string& name) {
  MutexLock lock(&targets_mu_);
  targets_.erase(name);
}

std::shared_ptr<compute::ComputeTarget> Scheduler::GetTarget(const std::string& name) const {
  MutexLock lock(&targets_mu_);
  auto it = targets_.find(name);
  return it == targets_.end() ? nullptr : it->second;
}

std::map<std::string, std::shared_ptr<compute::ComputeTarget>> Scheduler::Targets() const {
  MutexLock lock(&targets_mu_);
  return targets_;
}

std::string Scheduler::QueueReason(const std::string& run_id) const {
  MutexLock lock(&targets_mu_);
  auto it = queue_reasons_.find(run_id);
  return it == queue_reasons_.end() ? "" : it->second;
}

void Scheduler::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void Scheduler::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::Wake() {
  {
    MutexLock lock(&mu_);
    wake_ = true;
  }
  cv_.SignalAll();
}

void Scheduler::Changed(const std::string& run_id) {
  if (options_.on_change) options_.on_change(run_id);
}

Status Scheduler::Cancel(const std::string& run_id, const std::string& reason) {
  FERRY_ASSIGN_OR_RETURN(model::Run run, store_->GetRun(run_id));
  if (model::IsTerminal(run.status)) {
    return Status::FailedPrecondition("run '" + run_id + "' has already ended (" +
                                      model::RunStatusName(run.status) + ")");
  }
  FERRY_RETURN_IF_ERROR(store_->RequestCancel(run_id, reason));
  // Read the status again after recording the request: a cycle that launches the run from
  // now on sees the request (it checks again after Launch), so a Queued status read here
  // can't orphan a launched agent.
  FERRY_ASSIGN_OR_RETURN(run, store_->GetRun(run_id));
  if (run.status == RunStatus::kQueued) {
    // May lose a race with the scheduler launching it; then the cycle that launched it
    // forwards the request to the driver.
    if (store_->Transition(run_id, RunStatus::kCanceled, reason, clock_->Now()).ok())
      Changed(run_id);
  }
  Wake();
  return Status::Ok();
}

namespace {

// The parts of Scheduler::CheckFits: each an error that says what the target lacks.
Status GpusFit(const compute::ComputeTarget& t, const model::Run& run) {
  if (run.options.gpus > 0) {
    size_t have = t.gpus().size();
    if (have < static_cast<size_t>(run.options.gpus)) {
      return Status::FailedPrecondition(
          "the run asks for " + std::to_string(run.options.gpus) +
          " GPU(s) (resources.gpus) but compute target '" + run.target + "' has " +
          std::to_string(have) +
          (have == 0 ? " (no GPU was found with nvidia-smi when the server started)" : "") +
          "; ask for at most " + std::to_string(have) + " or choose another target");
    }
  }
  return Status::Ok();
}

// nodeCount, processCountPerNode and the ParameterServer layout.
Status LayoutFits(const compute::ComputeTarget& t, const model::Run& run) {
  if (run.options.node_count > 1 && !t.capabilities().multi_node) {
    return Status::FailedPrecondition("nodeCount " + std::to_string(run.options.node_count) +
                                      ": compute target '" + run.target + "' (" + t.kind() +
                                      ") runs on one node; use nodeCount: 1 or a "
                                      "multi-node target such as a Slurm cluster");
  }
  if (run.options.communicator == "ParameterServer" &&
      run.options.node_count != run.options.worker_count + run.options.parameter_server_count) {
    return Status::FailedPrecondition(
        "communicator ParameterServer runs one task per node: nodeCount (" +
        std::to_string(run.options.node_count) +
        ") must equal tensorflow.workerCount + tensorflow.parameterServerCount (" +
        std::to_string(run.options.worker_count) + " + " +
        std::to_string(run.options.parameter_server_count) + ")");
  }
  if (run.options.process_count_per_node > 1 && !t.capabilities().multi_node) {
    return Status::FailedPrecondition(
        "mpi.processCountPerNode " + std::to_string(run.options.process_count_per_node) +
        ": compute target '" + run.target + "' (" + t.kind() +
        ") starts one process per run; use 1, or a Slurm cluster, which starts "
        "processCountPerNode tasks on each node");
  }
  if (run.options.process_count_per_node > 1 && run.options.communicator == "ParameterServer") {
    return Status::FailedPrecondition(
        "communicator ParameterServer runs one task per node: use "
        "mpi.processCountPerNode 1");
  }
  return Status::Ok();
}

Status ContainerFits(const compute::ComputeTarget& t, const model::Run& run) {
  if (run.options.docker.enabled && !t.capabilities().containers) {
    return Status::FailedPrecondition(
        "the run asks for a container (docker.enabled) but compute target '" + run.target +
        "' has no container engine (podman or docker) on its PATH; "
        "install one, or set docker.enabled: false");
  }
  return Status::Ok();
}

}  // namespace

Status Scheduler::CheckFits(const model::Run& run) const {
  auto t = GetTarget(run.target);
  if (!t) return Status::Ok();  // failed by the first cycle, with the reason
  FERRY_RETURN_IF_ERROR(GpusFit(*t, run));
  FERRY_RETURN_IF_ERROR(LayoutFits(*t, run));
  return ContainerFits(*t, run);
}

void Scheduler::Loop() {
  for (;;) {
    RunOnce();
    MutexLock lock(&mu_);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(options_.poll_interval_s);
    while (!wake_ && !stop_ && cv_.WaitUntil(&mu_, deadline)) {
    }
    if (stop_) return;
    wake_ = false;
  }
}

// One cycle's picture of the targets, built from the store's active runs and kept current as
// the cycle changes statuses: a slot or a device given back is free for the same cycle's
// launches.
struct Scheduler::Cycle {
  std::map<std::string, int> busy;                           // target -> runs holding a slot
  std::map<std::string, std::set<int>> gpus_in_use;          // target -> devices of active runs
  std::map<std::string, std::vector<model::Run*>> launched;  // target -> runs with a job to poll
  std::vector<model::Run*> queued;                           // runs to launch, submission order
  std::set<std::string> gpu_blocked;                         // targets where a GPU run waits
  std::map<std::string, std::string> reasons;                // queued run -> why it waits
};

void Scheduler::RunOnce() {
  if (options_.before_cycle) options_.before_cycle();
  auto active = store_->ListActiveRuns();
  if (!active.ok()) {
    spdlog::error("scheduler: listing active runs: {}", active.status().ToString());
    return;
  }
  const TargetMap targets = Targets();
  const bool startup = first_cycle_;
  first_cycle_ = false;
  Cycle cycle = Classify(*active, startup);
  ReconcileJobs(targets, cycle);
  ForgetEndedCancels(*active);
  LaunchQueued(targets, cycle);
  MutexLock lock(&targets_mu_);
  queue_reasons_ = std::move(cycle.reasons);
}

bool Scheduler::TransitionAndRelease(Cycle& cycle, const model::Run& run,
                                     const std::vector<int>& gpus, RunStatus to,
                                     const std::string& reason,
                                     const store::TransitionExtras& extras) {
  if (!store_->Transition(run.id, to, reason, clock_->Now(), extras).ok()) return false;
  --cycle.busy[run.target];
  for (int g : gpus) cycle.gpus_in_use[run.target].erase(g);
  Changed(run.id);
  return true;
}

void Scheduler::SendCancel(compute::ComputeTarget& target, const std::string& run_id,
                           const std::string& handle) {
  Status st = target.Cancel(handle);
  if (!st.ok()) spdlog::warn("cancel of run {}: {}", run_id, st.ToString());
  cancel_sent_.insert(run_id);
}

// Sorts the active runs into queued (to launch), launched (to poll), the slots they hold and
// the devices they were given. On the first cycle after a start, fails runs left between
// scheduling and the recording of their agent's handle.
Scheduler::Cycle Scheduler::Classify(std::vector<model::Run>& active, bool startup) {
  Cycle cycle;
  for (auto& run : active) {
    // A sweep's controller runs it (its trials come here); an external run is run by its client.
    if (run.kind != "run") continue;
    if (run.status == RunStatus::kQueued) {
      // A queued run that still has a job is waiting in its cluster's queue (requeued there):
      // the driver, not this scheduler, starts it again.
      if (run.job_handle.empty()) {
        cycle.queued.push_back(&run);
      } else {
        cycle.launched[run.target].push_back(&run);
      }
      continue;
    }
    cycle.gpus_in_use[run.target].insert(run.gpu_ids.begin(), run.gpu_ids.end());
    if (run.job_handle.empty() && startup) {
      // The server stopped between scheduling and recording the agent's handle.
      store::TransitionExtras ex;
      ex.error = "the server stopped while launching this run; submit it again";
      if (store_->Transition(run.id, RunStatus::kFailed, *ex.error, clock_->Now(), ex).ok()) {
        Changed(run.id);
      }
      continue;
    }
    ++cycle.busy[run.target];
    if (!run.job_handle.empty()) cycle.launched[run.target].push_back(&run);
  }
  return cycle;
}

// Reconciles launched jobs: one Poll per target for all its jobs.
void Scheduler::ReconcileJobs(const TargetMap& targets, Cycle& cycle) {
  for (auto& [target_name, runs] : cycle.launched) {
    auto it = targets.find(target_name);
    if (it == targets.end()) continue;
    std::vector<std::string> handles;
    for (auto* r : runs) handles.push_back(r->job_handle);
    auto states = it->second->Poll(handles);
    for (size_t i = 0; i < runs.size() && i < states.size(); ++i) {
      ReconcileJob(*it->second, *runs[i], states[i], cycle);
    }
  }
}

void Scheduler::ReconcileJob(compute::ComputeTarget& target, const model::Run& r,
                             compute::JobState state, Cycle& cycle) {
  if (state == compute::JobState::kWaiting &&
      (r.status == RunStatus::kRunning || r.status == RunStatus::kFinalizing)) {
    // The cluster took the job back and queued it again (preemption, node failure); the job
    // is kept, so its devices stay counted until the next cycle.
    std::string why = target.GoneReason(r.job_handle);
    if (why.empty()) why = "the cluster requeued the job";
    if (store_->Transition(r.id, RunStatus::kPreempted, why, clock_->Now()).ok()) {
      TransitionAndRelease(cycle, r, {}, RunStatus::kQueued,
                           "waiting in the cluster's queue to start again");
    }
    return;
  }
  if (state == compute::JobState::kGone) {
    JobGone(target, r, cycle);
    return;
  }
  if (r.cancel_requested && !cancel_sent_.count(r.id)) SendCancel(target, r.id, r.job_handle);
}

// A job that ended without its agent reporting a final status.
void Scheduler::JobGone(const compute::ComputeTarget& target, const model::Run& r, Cycle& cycle) {
  if (r.cancel_requested) {
    // Canceled before its agent ran (e.g. a job still waiting in a cluster's queue).
    TransitionAndRelease(cycle, r, r.gpu_ids, RunStatus::kCanceled, "canceled by the user");
    return;
  }
  std::string why = target.GoneReason(r.job_handle);
  if (why.empty()) {
    why = "the agent of this run exited without reporting a final status (job " + r.job_handle +
          "); its own log is work/" + r.id + ".agent/agent.log in the workspace home";
  }
  if (r.options.requeue_on_node_loss && r.attempt < model::kMaxNodeLossAttempts) {
    // requeueOnNodeLoss: back to the queue; the next attempt's log and metrics continue after
    // this one's.
    store::TransitionExtras clear;
    clear.job_handle = "";  // queued for this scheduler to launch again
    if (TransitionAndRelease(cycle, r, r.gpu_ids, RunStatus::kQueued,
                             "requeued (requeueOnNodeLoss): " + why, clear)) {
      Wake();
    }
    return;
  }
  store::TransitionExtras ex;
  ex.error = why;
  // Not stored: the agent reported a final status after our listing; nothing to do.
  TransitionAndRelease(cycle, r, r.gpu_ids, RunStatus::kFailed, "agent lost", ex);
}

// Forgets cancel requests of runs that have ended.
void Scheduler::ForgetEndedCancels(const std::vector<model::Run>& active) {
  for (auto it = cancel_sent_.begin(); it != cancel_sent_.end();) {
    bool active_still =
        std::any_of(active.begin(), active.end(), [&](const model::Run& r) { return r.id == *it; });
    it = active_still ? std::next(it) : cancel_sent_.erase(it);
  }
}

// Launches queued runs in submission order while their target has room. A run waiting for
// GPUs holds back later GPU runs on its target (so small requests can't starve a large one);
// runs without GPUs still start in free slots.
void Scheduler::LaunchQueued(const TargetMap& targets, Cycle& cycle) {
  std::map<std::string, std::string> not_ready;
  for (auto& [name, t] : targets) not_ready[name] = t->NotReady();
  for (model::Run* r : cycle.queued) {
    if (r->cancel_requested) {
      if (store_
              ->Transition(r->id, RunStatus::kCanceled, "canceled before it started", clock_->Now())
              .ok()) {
        Changed(r->id);
      }
      continue;
    }
    auto it = targets.find(r->target);
    if (it == targets.end()) {
      store::TransitionExtras ex;
      ex.error = "compute target '" + r->target + "' is not available on this server";
      if (store_->Transition(r->id, RunStatus::kFailed, "unknown target", clock_->Now(), ex).ok()) {
        Changed(r->id);
      }
      continue;
    }
    compute::ComputeTarget& target = *it->second;
    std::string waits = WhyWaiting(target, *r, not_ready[r->target], cycle);
    if (!waits.empty()) {
      cycle.reasons[r->id] = std::move(waits);
      continue;
    }
    auto gpus = PickGpus(target, *r, cycle);
    if (!gpus) continue;
    Launch(target, *r, *gpus, cycle);
  }
}

// Why a queued run cannot start on its (known) target now, before devices: empty if it can.
std::string Scheduler::WhyWaiting(const compute::ComputeTarget& target, const model::Run& r,
                                  const std::string& not_ready, Cycle& cycle) const {
  if (!not_ready.empty()) return not_ready;
  int busy = cycle.busy[r.target];
  if (busy >= target.max_concurrent_runs()) {
    return "waiting for a free slot on " + r.target + " (" + std::to_string(busy) + " of " +
           std::to_string(target.max_concurrent_runs()) + " in use)";
  }
  return "";
}

// The devices for a queued run: none when it asks for none; nullopt when it waits (the reason
// recorded) or can no longer be placed on its target (then it is failed).
std::optional<std::vector<int>> Scheduler::PickGpus(const compute::ComputeTarget& target,
                                                    const model::Run& r, Cycle& cycle) {
  std::vector<int> given;
  if (r.options.gpus <= 0) return given;
  if (cycle.gpu_blocked.count(r.target)) {
    cycle.reasons[r.id] = "waiting behind an earlier run for GPUs on " + r.target;
    return std::nullopt;
  }
  Status fits = CheckFits(r);
  if (!fits.ok()) {  // the target changed since the submit (e.g. restarted without GPUs)
    store::TransitionExtras ex;
    ex.error = fits.message();
    if (store_->Transition(r.id, RunStatus::kFailed, "cannot be placed", clock_->Now(), ex).ok()) {
      Changed(r.id);
    }
    return std::nullopt;
  }
  const std::set<int>& used = cycle.gpus_in_use[r.target];
  for (int g : target.gpus()) {
    if (static_cast<int>(given.size()) == r.options.gpus) break;
    if (!used.count(g)) given.push_back(g);
  }
  if (static_cast<int>(given.size()) < r.options.gpus) {
    cycle.gpu_blocked.insert(r.target);
    cycle.reasons[r.id] = "waiting for " + std::to_string(r.options.gpus) + " GPU(s) on " +
                          r.target + " (" + std::to_string(given.size()) + " free)";
    return std::nullopt;
  }
  return given;
}

// Stores Preparing with the run's devices, then asks the driver to start it and records the
// job's handle. A launch the target could not take now (kUnavailable: nothing started) puts
// the run back in the queue; any other failure fails it.
void Scheduler::Launch(compute::ComputeTarget& target, const model::Run& r,
                       const std::vector<int>& gpus, Cycle& cycle) {
  std::string where = "scheduled on " + r.target;
  if (!gpus.empty()) {
    where += gpus.size() > 1 ? " with GPUs " : " with GPU ";
    for (size_t i = 0; i < gpus.size(); ++i) where += (i ? "," : "") + std::to_string(gpus[i]);
  }
  store::TransitionExtras prep_ex;
  prep_ex.gpu_ids = gpus;
  auto prep = store_->Transition(r.id, RunStatus::kPreparing, where, clock_->Now(), prep_ex);
  if (!prep.ok()) return;  // canceled meanwhile
  cycle.gpus_in_use[r.target].insert(gpus.begin(), gpus.end());
  ++cycle.busy[r.target];
  Changed(r.id);
  compute::RunPlan plan{*prep, options_.token_for(r.id)};
  auto handle = target.Launch(plan);
  if (!handle.ok()) {
    const std::string& why = handle.status().message();
    if (handle.status().code() == StatusCode::kUnavailable) {
      // The target went away between the readiness check and the launch: back to the queue,
      // to be retried when the target is ready again.
      if (TransitionAndRelease(cycle, r, gpus, RunStatus::kQueued, "not started: " + why)) {
        cycle.reasons[r.id] = why;
      }
      return;
    }
    store::TransitionExtras ex;
    ex.error = why;
    TransitionAndRelease(cycle, r, gpus, RunStatus::kFailed, "launch failed", ex);
    return;
  }
  Status st = store_->SetJobHandle(r.id, *handle);
  if (!st.ok()) spdlog::error("recording the job handle of run {}: {}", r.id, st.ToString());
  // A cancel request that arrived while launching (the run may even be Canceled already).
  auto now = store_->GetRun(r.id);
  if (now.ok() && (now->cancel_requested || model::IsTerminal(now->status)) &&
      !cancel_sent_.count(r.id)) {
    SendCancel(target, r.id, *handle);
  }
}

}  // namespace ferry::scheduler
