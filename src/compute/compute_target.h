// ComputeTarget: the contract every compute kind implements (local, ssh/instance, slurm,
// cluster; the kind table in kind.h says how each is attached and made).
//
// A driver starts one agent per run and keeps a serialisable job handle (JSON text) that the
// store persists, so a restarted server can ask the driver about jobs it launched before.
//
// Threads (each method says which of these applies):
//  - [scheduler] only the scheduler's thread calls it (Launch, Poll, GoneReason): no other
//    thread ever does, so state only these touch needs no lock. May block (spawn, SSH,
//    sbatch) within its own timeouts.
//  - [any] any thread may call it at any time: HTTP workers (compute list/show, detach),
//    the TargetManager's workers (instance stop/start), the scheduler. Implementations lock
//    what they share with their own threads (monitors, autoscalers) and never hold such a
//    lock while they block.
//  - [fixed] set at construction and never changed: any thread, no lock.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/run.h"

namespace ferry::compute {

// What a kind can do, declared up front rather than discovered by failure.
struct Capabilities {
  bool multi_node = false;
  bool gpus = false;
  bool preemption = false;
  bool autoscaling = false;
  bool containers = false;
};

// Everything a driver needs to start a run.
struct RunPlan {
  model::Run run;
  std::string token;  // authorises this run only; pass it to the agent out of band (env)
};

// kWaiting: the job is in the cluster's queue (again, when it had already started: the
// cluster requeued it — preemption or a node failure — and will start it again itself).
enum class JobState { kAlive, kGone, kWaiting };

class ComputeTarget {
 public:
  virtual ~ComputeTarget() = default;
  // [fixed]
  virtual const std::string& name() const = 0;
  // [fixed] The kind's name in the kind table.
  virtual std::string kind() const = 0;
  // [fixed]
  virtual Capabilities capabilities() const = 0;
  // [fixed] How many runs may be active (Preparing, Running, Finalizing) at once.
  virtual int max_concurrent_runs() const = 0;
  // [fixed] The GPU devices runs may be given (indices as the node's driver numbers them);
  // the scheduler hands each run its own. Empty: none.
  virtual std::vector<int> gpus() const { return {}; }
  // [scheduler] Starts the run's agent. Success: the job handle to persist. Failure: a Status that
  // says why (the run is then marked Failed with that reason).
  virtual Result<std::string> Launch(const RunPlan& plan) = 0;
  // [scheduler] One call for all jobs of this target: the state of each handle, in order. A job
  // whose state cannot be known now (host unreachable) is kAlive: only a job known to be gone is
  // kGone.
  virtual std::vector<JobState> Poll(const std::vector<std::string>& handles) = 0;
  // [scheduler] Why a job Poll reported kGone ended without a final status (e.g. "the host
  // rebooted"); empty: the scheduler's generic reason.
  virtual std::string GoneReason(const std::string& handle) const {
    (void)handle;
    return "";
  }
  // [any] Empty when runs can be launched now; else why not (host unreachable, stopped),
  // shown with the queued runs. Never blocks (remote drivers answer from their last check).
  virtual std::string NotReady() const { return ""; }
  // [any] Holds launches with a reason (a compute instance being stopped), or resumes
  // (empty). Never blocks.
  virtual void SetPaused(const std::string& reason) { (void)reason; }
  // [any] Asks the job to stop gracefully (the agent then cancels the script and reports
  // Canceled). A job that is already gone is not an error. Called by the scheduler and by a
  // detach on an HTTP worker; may block within its own timeout (ssh, scancel).
  virtual Status Cancel(const std::string& handle) = 0;
  // [any] Facts for 'ferry compute show' (JSON object text). Called on HTTP workers; may
  // block within its own timeout (Slurm asks sinfo for its nodes' states), never while
  // holding a lock its other threads need.
  virtual std::string Describe() const = 0;
};

}  // namespace ferry::compute
