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
  std::lock_guard lock(targets_mu_);
  targets_[target->name()] = std::move(target);
}

void Scheduler::AddTarget(compute::ComputeTarget* target) {
  AddTarget(std::shared_ptr<compute::ComputeTarget>(target, [](compute::ComputeTarget*) {}));
}

void Scheduler::RemoveTarget(const std::string& name) {
  std::lock_guard lock(targets_mu_);
  targets_.erase(name);
}

std::shared_ptr<compute::ComputeTarget> Scheduler::GetTarget(const std::string& name) const {
  std::lock_guard lock(targets_mu_);
  auto it = targets_.find(name);
  return it == targets_.end() ? nullptr : it->second;
}

std::map<std::string, std::shared_ptr<compute::ComputeTarget>> Scheduler::Targets() const {
  std::lock_guard lock(targets_mu_);
  return targets_;
}

std::string Scheduler::QueueReason(const std::string& run_id) const {
  std::lock_guard lock(targets_mu_);
  auto it = queue_reasons_.find(run_id);
  return it == queue_reasons_.end() ? "" : it->second;
}

void Scheduler::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void Scheduler::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::Wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
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
    if (store_->Transition(run_id, RunStatus::kCanceled, reason, clock_->Now()).ok()) Changed(run_id);
  }
  Wake();
  return Status::Ok();
}

Status Scheduler::CheckFits(const model::Run& run) const {
  auto t = GetTarget(run.target);
  if (!t) return Status::Ok();  // failed by the first cycle, with the reason
  if (run.options.gpus > 0) {
    size_t have = t->gpus().size();
    if (have < static_cast<size_t>(run.options.gpus)) {
      return Status::FailedPrecondition(
          "the run asks for " + std::to_string(run.options.gpus) + " GPU(s) (resources.gpus) but compute target '" +
          run.target + "' has " + std::to_string(have) +
          (have == 0 ? " (no GPU was found with nvidia-smi when the server started)" : "") +
          "; ask for at most " + std::to_string(have) + " or choose another target");
    }
  }
  if (run.options.node_count > 1 && !t->capabilities().multi_node) {
    return Status::FailedPrecondition("nodeCount " + std::to_string(run.options.node_count) + ": compute target '" +
                                      run.target + "' (" + t->kind() + ") runs on one node; use nodeCount: 1 or a "
                                      "multi-node target such as a Slurm cluster");
  }
  if (run.options.communicator == "ParameterServer" &&
      run.options.node_count != run.options.worker_count + run.options.parameter_server_count) {
    return Status::FailedPrecondition(
        "communicator ParameterServer runs one task per node: nodeCount (" + std::to_string(run.options.node_count) +
        ") must equal tensorflow.workerCount + tensorflow.parameterServerCount (" +
        std::to_string(run.options.worker_count) + " + " + std::to_string(run.options.parameter_server_count) + ")");
  }
  if (run.options.process_count_per_node > 1 && !t->capabilities().multi_node) {
    return Status::FailedPrecondition("mpi.processCountPerNode " + std::to_string(run.options.process_count_per_node) +
                                      ": compute target '" + run.target + "' (" + t->kind() +
                                      ") starts one process per run; use 1, or a Slurm cluster, which starts "
                                      "processCountPerNode tasks on each node");
  }
  if (run.options.process_count_per_node > 1 && run.options.communicator == "ParameterServer") {
    return Status::FailedPrecondition("communicator ParameterServer runs one task per node: use "
                                      "mpi.processCountPerNode 1");
  }
  if (run.options.docker.enabled && !t->capabilities().containers) {
    return Status::FailedPrecondition("the run asks for a container (docker.enabled) but compute target '" +
                                      run.target + "' has no container engine (podman or docker) on its PATH; "
                                      "install one, or set docker.enabled: false");
  }
  return Status::Ok();
}

void Scheduler::Loop() {
  for (;;) {
    RunOnce();
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::duration<double>(options_.poll_interval_s),
                 [this] { return wake_ || stop_; });
    if (stop_) return;
    wake_ = false;
  }
}

void Scheduler::RunOnce() {
  if (options_.before_cycle) options_.before_cycle();
  auto active = store_->ListActiveRuns();
  if (!active.ok()) {
    spdlog::error("scheduler: listing active runs: {}", active.status().ToString());
    return;
  }
  const auto targets = Targets();
  std::map<std::string, std::string> reasons;  // queued run -> why it waits
  const bool startup = first_cycle_;
  first_cycle_ = false;
  std::map<std::string, int> busy;  // target -> active runs
  std::map<std::string, std::set<int>> gpus_in_use;  // target -> devices given to active runs
  std::map<std::string, std::vector<model::Run*>> launched;
  std::vector<model::Run*> queued;
  for (auto& run : *active) {
    // A sweep's controller runs it (its trials come here); an external run is run by its client.
    if (run.kind != "run") continue;
    // A queued run that still has a job is waiting in its cluster's queue (requeued there):
    // the driver, not this scheduler, starts it again.
    if (run.status == RunStatus::kQueued && run.job_handle.empty()) {
      queued.push_back(&run);
      continue;
    }
    if (run.status == RunStatus::kQueued) {
      launched[run.target].push_back(&run);
      continue;
    }
    gpus_in_use[run.target].insert(run.gpu_ids.begin(), run.gpu_ids.end());
    if (run.job_handle.empty()) {
      if (startup) {
        // The server stopped between scheduling and recording the agent's handle.
        store::TransitionExtras ex;
        ex.error = "the server stopped while launching this run; submit it again";
        if (store_->Transition(run.id, RunStatus::kFailed, *ex.error, clock_->Now(), ex).ok()) {
          Changed(run.id);
        }
        continue;
      }
      ++busy[run.target];
      continue;
    }
    ++busy[run.target];
    launched[run.target].push_back(&run);
  }

  // Reconcile launched jobs: one Poll per target for all its jobs.
  for (auto& [target_name, runs] : launched) {
    auto it = targets.find(target_name);
    if (it == targets.end()) continue;
    std::vector<std::string> handles;
    for (auto* r : runs) handles.push_back(r->job_handle);
    auto states = it->second->Poll(handles);
    for (size_t i = 0; i < runs.size() && i < states.size(); ++i) {
      model::Run& r = *runs[i];
      if (states[i] == compute::JobState::kWaiting &&
          (r.status == RunStatus::kRunning || r.status == RunStatus::kFinalizing)) {
        // The cluster took the job back and queued it again (preemption, node failure).
        std::string why = it->second->GoneReason(r.job_handle);
        if (why.empty()) why = "the cluster requeued the job";
        if (store_->Transition(r.id, RunStatus::kPreempted, why, clock_->Now()).ok() &&
            store_->Transition(r.id, RunStatus::kQueued, "waiting in the cluster's queue to start again", clock_->Now()).ok()) {
          --busy[target_name];
          Changed(r.id);
        }
        continue;
      }
      if (states[i] == compute::JobState::kGone) {
        store::TransitionExtras ex;
        std::string why = it->second->GoneReason(r.job_handle);
        ex.error = !why.empty() ? why
                                : "the agent of this run exited without reporting a final status (job " + r.job_handle +
                                      "); its own log is work/" + r.id + ".agent/agent.log in the workspace home";
        if (r.cancel_requested) {
          // Canceled before its agent ran (e.g. a job still waiting in a cluster's queue).
          if (store_->Transition(r.id, RunStatus::kCanceled, "canceled by the user", clock_->Now()).ok()) {
            --busy[target_name];
            for (int g : r.gpu_ids) gpus_in_use[target_name].erase(g);
            Changed(r.id);
          }
          continue;
        }
        if (r.options.requeue_on_node_loss && r.attempt < model::kMaxNodeLossAttempts) {
          // requeueOnNodeLoss: back to the queue; the next attempt's log and metrics continue
          // after this one's.
          store::TransitionExtras clear;
          clear.job_handle = "";  // queued for this scheduler to launch again
          auto q = store_->Transition(r.id, RunStatus::kQueued, "requeued (requeueOnNodeLoss): " + *ex.error,
                                      clock_->Now(), clear);
          if (q.ok()) {
            --busy[target_name];
            for (int g : r.gpu_ids) gpus_in_use[target_name].erase(g);
            Changed(r.id);
            Wake();
          }
          continue;
        }
        auto t = store_->Transition(r.id, RunStatus::kFailed, "agent lost", clock_->Now(), ex);
        if (t.ok()) {
          --busy[target_name];
          for (int g : r.gpu_ids) gpus_in_use[target_name].erase(g);
          Changed(r.id);
        }
        // Not ok: the agent reported a final status after our listing; nothing to do.
        continue;
      }
      if (r.cancel_requested && !cancel_sent_.count(r.id)) {
        Status st = it->second->Cancel(r.job_handle);
        if (!st.ok()) spdlog::warn("cancel of run {}: {}", r.id, st.ToString());
        cancel_sent_.insert(r.id);
      }
    }
  }

  // Forget cancel requests of runs that have ended.
  for (auto it = cancel_sent_.begin(); it != cancel_sent_.end();) {
    bool active_still = std::any_of(active->begin(), active->end(), [&](const model::Run& r) { return r.id == *it; });
    it = active_still ? std::next(it) : cancel_sent_.erase(it);
  }

  // Launch queued runs in submission order while their target has room. A run waiting for
  // GPUs holds back later GPU runs on its target (so small requests can't starve a large
  // one); runs without GPUs still start in free slots.
  std::set<std::string> gpu_blocked;
  std::map<std::string, std::string> not_ready;
  for (auto& [name, t] : targets) not_ready[name] = t->NotReady();
  for (model::Run* r : queued) {
    auto it = targets.find(r->target);
    if (r->cancel_requested) {
      if (store_->Transition(r->id, RunStatus::kCanceled, "canceled before it started", clock_->Now()).ok())
        Changed(r->id);
      continue;
    }
    if (it == targets.end()) {
      store::TransitionExtras ex;
      ex.error = "compute target '" + r->target + "' is not available on this server";
      if (store_->Transition(r->id, RunStatus::kFailed, "unknown target", clock_->Now(), ex).ok())
        Changed(r->id);
      continue;
    }
    compute::ComputeTarget* target = it->second.get();
    if (!not_ready[r->target].empty()) {
      reasons[r->id] = not_ready[r->target];
      continue;
    }
    if (busy[r->target] >= target->max_concurrent_runs()) {
      reasons[r->id] = "waiting for a free slot on " + r->target + " (" + std::to_string(busy[r->target]) + " of " +
                       std::to_string(target->max_concurrent_runs()) + " in use)";
      continue;
    }
    std::vector<int> given;
    std::string where = "scheduled on " + r->target;
    if (r->options.gpus > 0) {
      if (gpu_blocked.count(r->target)) {
        reasons[r->id] = "waiting behind an earlier run for GPUs on " + r->target;
        continue;
      }
      Status fits = CheckFits(*r);
      if (!fits.ok()) {  // the target changed since the submit (e.g. restarted without GPUs)
        store::TransitionExtras ex;
        ex.error = fits.message();
        if (store_->Transition(r->id, RunStatus::kFailed, "cannot be placed", clock_->Now(), ex).ok()) Changed(r->id);
        continue;
      }
      std::set<int>& used = gpus_in_use[r->target];
      for (int g : target->gpus()) {
        if (static_cast<int>(given.size()) == r->options.gpus) break;
        if (!used.count(g)) given.push_back(g);
      }
      if (static_cast<int>(given.size()) < r->options.gpus) {
        gpu_blocked.insert(r->target);
        reasons[r->id] = "waiting for " + std::to_string(r->options.gpus) + " GPU(s) on " + r->target + " (" +
                         std::to_string(given.size()) + " free)";
        continue;
      }
      where += " with GPU";
      where += given.size() > 1 ? "s " : " ";
      for (size_t i = 0; i < given.size(); ++i) where += (i ? "," : "") + std::to_string(given[i]);
    }
    store::TransitionExtras prep_ex;
    prep_ex.gpu_ids = given;
    auto prep = store_->Transition(r->id, RunStatus::kPreparing, where, clock_->Now(), prep_ex);
    if (!prep.ok()) continue;  // canceled meanwhile
    gpus_in_use[r->target].insert(given.begin(), given.end());
    ++busy[r->target];
    Changed(r->id);
    compute::RunPlan plan{*prep, options_.token_for(r->id)};
    auto handle = target->Launch(plan);
    if (!handle.ok() && handle.status().code() == StatusCode::kUnavailable) {
      // The target went away between the readiness check and the launch: back to the queue
      // (nothing started), to be retried when the target is ready again.
      if (store_->Transition(r->id, RunStatus::kQueued, "not started: " + handle.status().message(), clock_->Now()).ok()) {
        --busy[r->target];
        for (int g : given) gpus_in_use[r->target].erase(g);
        reasons[r->id] = handle.status().message();
        Changed(r->id);
      }
      continue;
    }
    if (!handle.ok()) {
      store::TransitionExtras ex;
      ex.error = handle.status().message();
      if (store_->Transition(r->id, RunStatus::kFailed, "launch failed", clock_->Now(), ex).ok()) {
        --busy[r->target];
        for (int g : given) gpus_in_use[r->target].erase(g);
        Changed(r->id);
      }
      continue;
    }
    Status st = store_->SetJobHandle(r->id, *handle);
    if (!st.ok()) spdlog::error("recording the job handle of run {}: {}", r->id, st.ToString());
    // A cancel request that arrived while launching (the run may even be Canceled already).
    auto now = store_->GetRun(r->id);
    if (now.ok() && (now->cancel_requested || model::IsTerminal(now->status)) &&
        !cancel_sent_.count(r->id)) {
      Status cs = target->Cancel(*handle);
      if (!cs.ok()) spdlog::warn("cancel of run {}: {}", r->id, cs.ToString());
      cancel_sent_.insert(r->id);
    }
  }
  std::lock_guard lock(targets_mu_);
  queue_reasons_ = std::move(reasons);
}

}  // namespace ferry::scheduler
