// Local target: agents are daemons (double fork + setsid) so a server crash does not stop
// runs; a job handle is the agent's pid plus its kernel start time (immune to pid reuse).
// Agents are forked by a fork server (common/fork_server.h) rather than exec'd, unless
// FERRY_FORK_SERVER=0.
#include "compute/local/local_target.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/fork_server.h"
#include "common/fs.h"
#include "common/subprocess.h"
#include "compute/gpu.h"

namespace ferry::compute {
namespace {

using nlohmann::json;

struct Handle {
  pid_t pid = -1;
  unsigned long long start_time = 0;
  std::string agent_dir;  // "" in handles stored before it was recorded
};

Handle ParseHandle(const std::string& text) {
  Handle h;
  json j = json::parse(text, nullptr, false);
  if (j.is_object()) {
    h.pid = j.value("pid", -1);
    h.start_time = j.value("start_time", 0ull);
    h.agent_dir = j.value("agent_dir", "");
  }
  return h;
}

class LocalTarget final : public ComputeTarget {
 public:
  explicit LocalTarget(LocalTargetOptions o)
      : o_(std::move(o)),
        forks_({o_.ferry_executable, "fork-server"}, JoinPath(o_.home, "work/fork-server.log")) {
    const char* fs = std::getenv("FERRY_FORK_SERVER");
    use_fork_server_ = !(fs && std::string(fs) == "0");
    if (o_.max_concurrent_runs <= 0) {
      o_.max_concurrent_runs = std::max(1u, std::thread::hardware_concurrency());
    }
    // GPUs: what nvidia-smi lists, narrowed to CUDA_VISIBLE_DEVICES when the server was
    // started with it (an administrator reserving devices for Ferry).
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    auto gpus = DiscoverGpus(visible ? visible : "");
    if (gpus.ok()) {
      devices_ = std::move(gpus).value();
      for (auto& d : devices_) gpu_ids_.push_back(d.index);
      if (!devices_.empty())
        spdlog::info("local target: {} GPU(s) found with nvidia-smi", devices_.size());
    } else {
      gpu_error_ = gpus.status().message();
      spdlog::warn("local target: no GPUs will be given to runs: {}", gpu_error_);
    }
    for (const char* engine : {"podman", "docker"}) {
      if (container_engine_.empty()) container_engine_ = FindOnPath(engine);
    }
  }

  const std::string& name() const override { return o_.name; }
  std::string kind() const override { return "local"; }
  Capabilities capabilities() const override {
    Capabilities c;
    c.gpus = !gpu_ids_.empty();
    c.containers = !container_engine_.empty();
    return c;
  }
  int max_concurrent_runs() const override { return o_.max_concurrent_runs; }
  std::vector<int> gpus() const override { return gpu_ids_; }

  Result<std::string> Launch(const RunPlan& plan) override {
    std::string agent_dir = JoinPath(o_.home, "work/" + plan.run.id + ".agent");
    FERRY_RETURN_IF_ERROR(MakeDirs(agent_dir));
    std::string log_path = JoinPath(agent_dir, "agent.log");
    UniqueFd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!log.valid()) return ErrnoStatus("cannot create", log_path, errno);
    SpawnOptions so;
    so.argv = {o_.ferry_executable, "--home", o_.home, "agent", "--run-id", plan.run.id};
    so.env_set["FERRY_RUN_TOKEN"] = plan.token;
    so.env_unset.push_back(
        "FERRY_TOKEN");  // a user's token in the server's environment is not the run's
    if (!gpu_ids_.empty()) {
      // Each run sees only the devices it was given; a run that asked for none sees none.
      std::string ids;
      for (size_t i = 0; i < plan.run.gpu_ids.size(); ++i)
        ids += (i ? "," : "") + std::to_string(plan.run.gpu_ids[i]);
      so.env_set["CUDA_VISIBLE_DEVICES"] = ids;
    }
    so.stdout_fd = log.get();
    so.stderr_fd = log.get();
    FERRY_ASSIGN_OR_RETURN(pid_t pid,
                           use_fork_server_ ? forks_.SpawnDetached(so) : SpawnDetached(so));
    auto start = ProcessStartTime(pid);
    json h = {{"pid", pid}, {"start_time", start.value_or(0)}, {"agent_dir", agent_dir}};
    return h.dump();
  }

  std::vector<JobState> Poll(const std::vector<std::string>& handles) override {
    std::vector<JobState> out;
    out.reserve(handles.size());
    // Reasons of jobs the scheduler no longer asks about (their runs have ended) are not kept.
    std::set<std::string> current(handles.begin(), handles.end());
    std::erase_if(gone_, [&](const auto& kv) { return !current.count(kv.first); });
    for (const auto& text : handles) {
      Handle h = ParseHandle(text);
      bool alive = ProcessAlive(h.pid, h.start_time);
      out.push_back(alive ? JobState::kAlive : JobState::kGone);
      if (!alive && !gone_.count(text)) gone_[text] = StopOrphanedScript(h);
    }
    return out;
  }

  std::string GoneReason(const std::string& handle) const override {
    auto it = gone_.find(handle);
    return it == gone_.end() ? "" : it->second;
  }

  Status Cancel(const std::string& text) override {
    Handle h = ParseHandle(text);
    if (ProcessAlive(h.pid, h.start_time)) ::kill(h.pid, SIGTERM);
    return Status::Ok();
  }

  // An agent that ended without a final status (kill -9, OOM killer, crash) leaves its
  // script's process group record behind: whatever of that group is still running is stopped
  // (its watchdog normally has done so already). Returns the run's failure text.
  static std::string StopOrphanedScript(const Handle& h) {
    std::string why = "the agent (pid " + std::to_string(h.pid) +
                      ") ended without reporting a final status (killed?)";
    if (h.agent_dir.empty()) return "";  // an old handle: the scheduler's generic text
    std::string log = "; its own log is " + JoinPath(h.agent_dir, "agent.log");
    auto record = ReadFile(JoinPath(h.agent_dir, kScriptGroupFile));
    pid_t pgid = 0, sid = 0;
    if (!record.ok() || !ParseGroupRecord(*record, &pgid, &sid)) {
      return why + "; its script was not running" + log;
    }
    int killed = KillGroupInSession(pgid, sid);
    bool by_watchdog = PathExists(JoinPath(h.agent_dir, kScriptStoppedFile));
    if (killed > 0) {
      spdlog::warn("stopped {} process(es) of group {} left by agent {}", killed, pgid, h.pid);
    }
    std::string group = "its script (process group " + std::to_string(pgid) + ")";
    return why + "; " + group +
           (killed > 0 || by_watchdog ? " was stopped" : " had already ended") + log;
  }

  std::string Describe() const override {
    json j = {{"kind", "local"},
              {"max_concurrent_runs", o_.max_concurrent_runs},
              {"cores", std::thread::hardware_concurrency()},
              {"work_dir", JoinPath(o_.home, "work")}};
    json gpus = json::array();
    for (auto& d : devices_) {
      gpus.push_back({{"index", d.index},
                      {"name", d.name},
                      {"uuid", d.uuid},
                      {"memory_total_mib", d.memory_total_mib}});
    }
    j["gpus"] = gpus;
    if (!gpu_error_.empty()) j["gpu_error"] = gpu_error_;
    j["container_engine"] = container_engine_.empty() ? json(nullptr) : json(container_engine_);
    return j.dump();
  }

 private:
  LocalTargetOptions o_;
  ForkServer forks_;
  bool use_fork_server_ = true;
  std::vector<GpuDevice> devices_;
  std::vector<int> gpu_ids_;
  std::string gpu_error_;
  std::string container_engine_;
  std::map<std::string, std::string> gone_;  // handle -> why its agent is gone (scheduler thread)
};

}  // namespace

std::unique_ptr<ComputeTarget> MakeLocalTarget(LocalTargetOptions options) {
  return std::make_unique<LocalTarget>(std::move(options));
}

}  // namespace ferry::compute
