// The script's process and its supervision (see supervisor.h).
#include "agent/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/stop_signal.h"
#include "agent/system_metrics.h"
#include "common/fs.h"

namespace ferry::agent {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

class ProcessScript final : public Script {
 public:
  ProcessScript(Subprocess child, std::string agent_dir, GroupWatchdog watchdog)
      : child_(std::move(child)),
        agent_dir_(std::move(agent_dir)),
        watchdog_(std::move(watchdog)) {}

  pid_t pid() const override { return child_.pid(); }
  std::optional<int> TryWait() override { return child_.TryWait(); }
  int Wait() override { return child_.Wait(); }
  void SignalGroup(int sig) override { child_.SignalGroup(sig); }

  void Unguard() override {
    int left = KillGroupInSession(child_.pid(), ::getsid(0));
    if (left > 0) {
      note_("stopped " + std::to_string(left) +
            " process(es) that the script left running in its process group");
    }
    watchdog_.Dismiss();
    (void)RemoveAll(JoinPath(agent_dir_, kScriptGroupFile));
  }

  void SetNote(NoteFn note) { note_ = std::move(note); }

 private:
  Subprocess child_;
  std::string agent_dir_;
  GroupWatchdog watchdog_;  // while the script runs
  NoteFn note_;
};

class ProcessScriptRunner final : public ScriptRunner {
 public:
  Result<std::unique_ptr<Script>> Start(const SpawnOptions& options,
                                        const ScriptGuard& guard) override {
    FERRY_ASSIGN_OR_RETURN(Subprocess child, Subprocess::Spawn(options));
    const pid_t pgid = child.pid();
    const std::string stopped = JoinPath(guard.agent_dir, kScriptStoppedFile);
    (void)RemoveAll(stopped);  // an earlier attempt's
    GroupWatchdog::Options w;
    w.pgid = pgid;
    w.marker_path = stopped;
    w.cleanup_argv = guard.cleanup_argv;
    GroupWatchdog watchdog;
    auto dog = GroupWatchdog::Start(w);
    if (dog.ok()) {
      watchdog = std::move(dog).value();
    } else {
      guard.note("the script will not be stopped if this agent is killed: " +
                 dog.status().message());
    }
    (void)WriteFileReplace(JoinPath(guard.agent_dir, kScriptGroupFile),
                           FormatGroupRecord(pgid, ::getsid(0)));
    auto script =
        std::make_unique<ProcessScript>(std::move(child), guard.agent_dir, std::move(watchdog));
    script->SetNote(guard.note);
    return std::unique_ptr<Script>(std::move(script));
  }
};

// FERRY_SYSTEM_METRICS_INTERVAL: seconds between samples (default 10; 0 turns them off).
double SystemMetricsInterval() {
  const char* v = std::getenv("FERRY_SYSTEM_METRICS_INTERVAL");
  if (!v || !*v) return 10.0;
  char* end = nullptr;
  double d = std::strtod(v, &end);
  return end != v && d >= 0 ? std::max(d, d > 0 ? 0.05 : 0.0) : 10.0;
}

}  // namespace

std::unique_ptr<ScriptRunner> NewProcessScriptRunner() {
  return std::make_unique<ProcessScriptRunner>();
}

bool CancelRequestedOnServer(ServerApi& server) {
  auto plan = server.GetPlan(-1, std::chrono::seconds(20));
  if (!plan.ok() || !plan->is_object()) return false;
  auto run = plan->find("run");
  if (run == plan->end() || !run->is_object()) return false;
  auto c = run->find("cancel_requested");
  return c != run->end() && c->is_boolean() && c->get<bool>();
}

Supervisor::Supervisor(const Options& options, ServerApi* server, Spool* spool, NoteFn note)
    : o_(options), server_(server), spool_(spool), note_(std::move(note)) {}

int Supervisor::Supervise(Script& child) {
  server_->SetInterruptible(true);
  std::optional<SteadyClock::time_point> kill_at;
  auto last_ship = SteadyClock::now() - std::chrono::seconds(10);
  const auto started = SteadyClock::now();
  const auto grace = std::chrono::milliseconds(static_cast<int>(o_.cancel_grace_s * 1000));
  // A container's processes are not our children: follow its first process once it runs.
  SystemSampler sampler(o_.container ? 0 : child.pid(), o_.gpu_ids);
  const double interval_s = SystemMetricsInterval();
  const auto interval = std::chrono::milliseconds(static_cast<int>(interval_s * 1000));
  auto next_sample = SteadyClock::now() + interval;
  for (;;) {
    if (auto st = child.TryWait()) {
      if (!canceled_ && !timed_out_ && WIFSIGNALED(*st)) {
        // Killed by a signal we did not send: a cluster that signals every process of the
        // job (scancel, preemption) may reach the script before this agent. Then it is a
        // stop from outside, not a failure of the script.
        for (int i = 0; i < 10 && !StopRequested(); ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        if (StopRequested()) {
          canceled_ = true;
        } else if (spool_->cancel_requested() || CancelRequestedOnServer(*server_)) {
          canceled_ = true;
          spool_->MarkCancelRequested();
        }
      }
      return *st;
    }
    if (interval_s > 0 && SteadyClock::now() >= next_sample) {
      RecordSystemMetrics(sampler);
      next_sample = SteadyClock::now() + interval;
    }
    if ((StopRequested() || spool_->cancel_requested()) && !canceled_ && !timed_out_) {
      canceled_ = true;
      Stop(child, SIGTERM);
      kill_at = SteadyClock::now() + grace;
    }
    if (o_.max_duration_s > 0 && !timed_out_ && !canceled_ &&
        SteadyClock::now() - started >= std::chrono::seconds(o_.max_duration_s)) {
      timed_out_ = true;  // maxRunDurationSeconds: stopped like a cancel, reported as Failed
      note_("the run exceeded maxRunDurationSeconds (" + std::to_string(o_.max_duration_s) +
            " s); stopping it");
      Stop(child, SIGTERM);
      kill_at = SteadyClock::now() + grace;
    }
    if (kill_at && SteadyClock::now() >= *kill_at) {
      Stop(child, SIGKILL);
      kill_at.reset();
    }
    auto now = SteadyClock::now();
    if (now - last_ship >= std::chrono::milliseconds(100)) {
      spool_->ShipOnce(now - last_ship >= std::chrono::seconds(1));
      last_ship = SteadyClock::now();
    }
    pollfd p{SignalWakeFd(), POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) DrainWakeFd();
  }
}

void Supervisor::Stop(Script& child, int sig) {
  if (o_.container) {
    SignalContainer(*o_.container, sig);
    if (sig != SIGKILL) return;
  }
  child.SignalGroup(sig);
}

// Appends one sample to the metrics file, as the in-script library does (one O_APPEND write
// per line), so it ships with the script's own metrics, in order, idempotently.
void Supervisor::RecordSystemMetrics(SystemSampler& sampler) {
  if (o_.container && !container_root_) {
    container_root_ = ContainerPid(*o_.container);
    if (!container_root_) return;
    sampler.set_root(container_root_);
  }
  std::string note;
  double now = WallClockNow();
  auto values = sampler.Sample(now, &note);
  if (!note.empty()) note_(note);
  if (values.empty()) return;
  std::string lines;
  for (auto& [k, v] : values) {
    if (!std::isfinite(v)) continue;
    lines += json{{"k", k}, {"v", v}, {"s", system_step_}, {"t", now}}.dump() + "\n";
  }
  ++system_step_;
  UniqueFd fd(
      ::open(o_.metrics_path.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (fd.valid()) (void)WriteAll(fd.get(), lines, o_.metrics_path);
}

}  // namespace ferry::agent
