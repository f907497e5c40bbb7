// The script's process: starting it guarded so that it cannot outlive the agent (the
// ScriptRunner seam, faked in tests), and supervising it while it runs — shipping the spool,
// cancel (SIGTERM to its group, SIGKILL after a grace), maxRunDurationSeconds, system metrics.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/container.h"
#include "agent/server_api.h"
#include "agent/spool.h"
#include "common/status.h"
#include "common/subprocess.h"

namespace ferry::agent {

class SystemSampler;

// A started script. Not thread-safe.
class Script {
 public:
  virtual ~Script() = default;
  // Its process (and process group) id; 0 when there is no process to sample (a fake).
  virtual pid_t pid() const = 0;
  // Non-blocking: the raw wait status once it has exited.
  virtual std::optional<int> TryWait() = 0;
  // Blocks until it exits; the raw wait status.
  virtual int Wait() = 0;
  // sig to its whole process group.
  virtual void SignalGroup(int sig) = 0;
  // After it exited: stops what it left running in its group (as Slurm ends a job step's
  // processes: a forgotten worker must not hold a GPU) and lifts the guard.
  virtual void Unguard() = 0;
};

// How the script must not outlive the agent.
struct ScriptGuard {
  std::string agent_dir;                  // where script.group (and script.stopped) go
  std::vector<std::string> cleanup_argv;  // run when the agent dies (removing a container)
  NoteFn note;
};

// Starts scripts. Not thread-safe.
class ScriptRunner {
 public:
  virtual ~ScriptRunner() = default;
  // Starts `options.argv` and guards it (see NewProcessScriptRunner). An error means that
  // nothing was started.
  virtual Result<std::unique_ptr<Script>> Start(const SpawnOptions& options,
                                                const ScriptGuard& guard) = 0;
};

// The real runner: the script in its own process group (Subprocess), guarded however the
// agent ends (kill -9 included): PR_SET_PDEATHSIG stops the script itself
// (SpawnOptions::die_with_parent), a GroupWatchdog its whole process group (and its
// container), and the record in the agent directory (kScriptGroupFile) lets whoever finds the
// agent gone (the local and ssh targets) stop what is left and say so.
std::unique_ptr<ScriptRunner> NewProcessScriptRunner();

// Whether a user asked to cancel the run (then a stop signal means Canceled).
bool CancelRequestedOnServer(ServerApi& server);

// Watches one script until it exits. Not thread-safe.
class Supervisor {
 public:
  struct Options {
    double cancel_grace_s = 10;               // SIGTERM to SIGKILL
    int64_t max_duration_s = 0;               // maxRunDurationSeconds; 0: none
    const ContainerRun* container = nullptr;  // the script runs in this container
    std::vector<int> gpu_ids;                 // sampled as system metrics
    std::string metrics_path;                 // system metrics are appended here
  };
  // `server` and `spool` outlive the supervisor.
  Supervisor(const Options& options, ServerApi* server, Spool* spool, NoteFn note);

  // Waits for the script, shipping logs and metrics (the spool) every 100 ms, seeing cancel
  // requests (the server's acknowledgements, a stop signal) and the time limit. Returns the
  // raw wait status. Makes the server calls interruptible while it runs.
  int Supervise(Script& script);
  // Stops the script: through its container engine when it has one, then its process group.
  void Stop(Script& script, int sig);

  bool canceled() const { return canceled_; }    // stopped by a cancel or a stop signal
  bool timed_out() const { return timed_out_; }  // stopped at maxRunDurationSeconds

 private:
  void RecordSystemMetrics(SystemSampler& sampler);

  Options o_;
  ServerApi* server_;
  Spool* spool_;
  NoteFn note_;
  bool canceled_ = false;
  bool timed_out_ = false;
  int container_root_ = 0;
  int64_t system_step_ = 0;
};

}  // namespace ferry::agent
