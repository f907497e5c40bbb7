// ComputeTarget: the contract every compute kind implements (local now; ssh, slurm later).
//
// A driver starts one agent per run and keeps a serialisable job handle (JSON text) that the
// store persists, so a restarted server can ask the driver about jobs it launched before.
// Thread-safety: methods are called from the scheduler's thread only; they may block (spawn,
// SSH, sbatch) but must return within their own timeouts.
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
  virtual const std::string& name() const = 0;
  virtual std::string kind() const = 0;
  virtual Capabilities capabilities() const = 0;
  // How many runs may be active (Preparing, Running, Finalizing) at once.
  virtual int max_concurrent_runs() const = 0;
  // The GPU devices runs may be given (indices as the node's driver numbers them); the
  // scheduler hands each run its own. Empty: none. Fixed after construction (thread-safe).
  virtual std::vector<int> gpus() const { return {}; }
  // Starts the run's agent. Success: the job handle to persist. Failure: a Status that says
  // why (the run is then marked Failed with that reason).
  virtual Result<std::string> Launch(const RunPlan& plan) = 0;
  // One call for all jobs of this target: the state of each handle, in order. A job whose
  // state cannot be known now (host unreachable) is kAlive: only a job known to be gone is kGone.
  virtual std::vector<JobState> Poll(const std::vector<std::string>& handles) = 0;
  // Why a job Poll reported kGone ended without a final status (e.g. "the host rebooted");
  // empty: the scheduler's generic reason.
  virtual std::string GoneReason(const std::string& handle) const {
    (void)handle;
    return "";
  }
  // Empty when runs can be launched now; else why not (host unreachable, stopped), shown
  // with the queued runs. Must not block (remote drivers answer from their last check).
  virtual std::string NotReady() const { return ""; }
  // Holds launches with a reason (a compute instance being stopped), or resumes (empty).
  virtual void SetPaused(const std::string& reason) { (void)reason; }
  // Asks the job to stop gracefully (the agent then cancels the script and reports Canceled).
  // A job that is already gone is not an error.
  virtual Status Cancel(const std::string& handle) = 0;
  // Facts for 'ferry compute show' (JSON object text).
  virtual std::string Describe() const = 0;
};

}  // namespace ferry::compute
