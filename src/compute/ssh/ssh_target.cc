// SSH target: monitor thread (reverse tunnel, job states, reachability), agent bundle
// upload, launch and cancel over a multiplexed OpenSSH connection.
#include "compute/ssh/ssh_target.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "common/backoff.h"
#include "common/crypto.h"
#include "common/fs.h"
#include "common/mutex.h"
#include "common/subprocess.h"
#include "compute/bundle.h"
#include "compute/config_json.h"

namespace ferry::compute {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

std::string LocalArch() {
  utsname u{};
  ::uname(&u);
  return u.machine;
}

struct Handle {
  int pid = 0;
  std::string start_time;
  std::string boot_id;
  std::string run_id;  // "" in handles stored before it was recorded
};

Handle ParseHandle(const std::string& text) {
  Handle h;
  json j = json::parse(text, nullptr, false);
  if (j.is_object()) {
    h.pid = j.value("pid", 0);
    h.start_time = j.contains("start_time")
                       ? (j["start_time"].is_string() ? j["start_time"].get<std::string>()
                                                      : j["start_time"].dump())
                       : "";
    h.boot_id = j.value("boot_id", "");
    h.run_id = j.value("run_id", "");
  }
  return h;
}

class SshTarget final : public ComputeTarget {
 public:
  SshTarget(std::string name, SshTargetConfig c, SshTargetDeps d)
      : name_(std::move(name)), c_(std::move(c)), d_(std::move(d)), client_(MakeEndpoint()) {
    thread_ = std::thread([this] { Monitor(); });
  }

  ~SshTarget() override {
    {
      MutexLock lock(&mu_);
      stop_ = true;
    }
    cv_.SignalAll();
    if (thread_.joinable()) thread_.join();
    StopTunnel();
    client_.CloseMaster();
  }

  const std::string& name() const override { return name_; }
  std::string kind() const override { return c_.kind; }
  void SetPaused(const std::string& reason) override {
    MutexLock lock(&mu_);
    paused_ = reason;
  }
  Capabilities capabilities() const override {
    Capabilities caps;
    json f = json::parse(c_.facts_json, nullptr, false);
    caps.gpus = f.is_object() && f.contains("gpus") && !f["gpus"].empty();
    caps.containers = f.is_object() && !f.value("container_engine", "").empty();
    return caps;
  }
  int max_concurrent_runs() const override { return c_.max_concurrent_runs; }
  std::vector<int> gpus() const override {
    std::vector<int> out;
    json f = json::parse(c_.facts_json, nullptr, false);
    if (f.is_object() && f.contains("gpus")) {
      for (auto& g : f["gpus"]) out.push_back(g.value("index", 0));
    }
    return out;
  }

  std::string NotReady() const override {
    MutexLock lock(&mu_);
    if (!paused_.empty()) return paused_;
    if (tunnel_port_ > 0 && reachable_) return "";
    std::string why = last_error_.empty() ? "connecting to " + client_.Describe() : last_error_;
    return why + "; retrying";
  }

  Result<std::string> Launch(const RunPlan& plan) override {
    FERRY_ASSIGN_OR_RETURN(AgentBundle b,
                           BuildAgentBundle(d_.home, d_.ferry_executable, d_.python_package_dir));
    std::string bin = RemoteDir() + "/agent/" + b.hash + "/bin/ferry";
    std::string env;
    if (!gpus().empty()) {
      std::string ids;
      for (size_t i = 0; i < plan.run.gpu_ids.size(); ++i)
        ids += (i ? "," : "") + std::to_string(plan.run.gpu_ids[i]);
      env = "CUDA_VISIBLE_DEVICES=" + ShellQuote(ids) + " ";
    }
    std::string cmd = "test -x " + ShellQuote(bin) + " || exit 97; " + env + "exec " +
                      ShellQuote(bin) + " --home " + ShellQuote(RemoteDir()) +
                      " agent --detach --blob-cache --run-id " + ShellQuote(plan.run.id);
    for (int attempt = 0; attempt < 2; ++attempt) {
      FERRY_ASSIGN_OR_RETURN(SshResult r, client_.Run(cmd, plan.token + "\n", 60000));
      if (r.failure != SshFailure::kNone) {
        MarkUnreachable(r.message);
        return Status::Unavailable(r.message);
      }
      if (r.exit_code == 97 && attempt == 0) {
        FERRY_RETURN_IF_ERROR(Upload(b));
        continue;
      }
      if (r.exit_code != 0) {
        return Status::FailedPrecondition("starting the agent on " + client_.Describe() +
                                          " failed (exit code " + std::to_string(r.exit_code) +
                                          "): " + (r.err.empty() ? r.out : r.err));
      }
      json h = json::parse(r.out, nullptr, false);
      if (!h.is_object() || !h.contains("pid")) {
        return Status::FailedPrecondition("the agent on " + client_.Describe() + " answered '" +
                                          r.out.substr(0, 200) + "' instead of its process id");
      }
      h["run_id"] = plan.run.id;  // where its script's group is recorded, if the agent dies
      return h.dump(-1, ' ', false, json::error_handler_t::replace);
    }
    return Status::FailedPrecondition("the agent bundle did not appear on " + client_.Describe());
  }

  std::vector<JobState> Poll(const std::vector<std::string>& handles) override {
    MutexLock lock(&mu_);
    watched_ = handles;
    // Reasons of jobs the scheduler no longer asks about (their runs have ended) are not kept.
    std::set<std::string> current(handles.begin(), handles.end());
    std::erase_if(gone_, [&](const auto& kv) { return !current.count(kv.first); });
    std::vector<JobState> out;
    for (auto& h : handles) {
      auto it = gone_.find(h);
      out.push_back(it != gone_.end() ? JobState::kGone : JobState::kAlive);
    }
    return out;
  }

  std::string GoneReason(const std::string& handle) const override {
    MutexLock lock(&mu_);
    auto it = gone_.find(handle);
    return it == gone_.end() ? "" : it->second;
  }

  Status Cancel(const std::string& handle) override {
    Handle h = ParseHandle(handle);
    if (h.pid <= 0) return Status::Ok();
    std::string cmd =
        "s=$(sed 's/.*) //' /proc/" + std::to_string(h.pid) +
        "/stat 2>/dev/null | cut -d' ' -f20); [ \"$s\" = " + ShellQuote(h.start_time) +
        " ] && kill -TERM " + std::to_string(h.pid) + "; true";
    FERRY_ASSIGN_OR_RETURN(SshResult r, client_.Run(cmd, "", 15000));
    // Unreachable: the agent also sees the request through the server once the tunnel is back.
    if (r.failure != SshFailure::kNone) return Status::Unavailable(r.message);
    return Status::Ok();
  }

  std::string Describe() const override {
    json j = {{"kind", c_.kind},
              {"host", c_.host},
              {"port", c_.port},
              {"user", c_.user},
              {"auth", c_.key_file.empty() ? "password" : "key"},
              {"remote_dir", c_.remote_dir},
              {"max_concurrent_runs", c_.max_concurrent_runs}};
    if (!c_.key_file.empty()) j["key_file"] = c_.key_file;
    if (c_.kind == "instance") {
      j["owner"] = c_.owner;
      j["stop_command"] = c_.stop_command;
      j["start_command"] = c_.start_command;
    }
    j["facts"] = json::parse(c_.facts_json, nullptr, false);
    MutexLock lock(&mu_);
    j["reachable"] = reachable_ && tunnel_port_ > 0;
    if (!last_error_.empty()) j["last_error"] = last_error_;
    return j.dump();
  }

 private:
  SshEndpoint MakeEndpoint() {
    SshEndpoint e;
    e.host = c_.host;
    e.port = c_.port;
    e.user = c_.user;
    e.key_file = c_.key_file;
    e.secret = d_.secret;
    std::string dir = JoinPath(d_.home, "ssh");
    (void)MakeDirs(dir);
    ::chmod(dir.c_str(), 0700);
    e.known_hosts = JoinPath(dir, name_ + ".known_hosts");
    (void)WriteFileAtomic(e.known_hosts, c_.known_hosts, 0600);
    e.control_dir = SshControlDir(d_.home);
    e.askpass = d_.ferry_executable;
    return e;
  }

  std::string RemoteDir() const { return c_.remote_dir; }

  Status Upload(const AgentBundle& b) {
    std::string dir = RemoteDir() + "/agent";
    std::string final_dir = dir + "/" + b.hash, tmp = final_dir + ".tmp";
    std::string cmd = "set -e; mkdir -p " + ShellQuote(dir) + "; rm -rf " + ShellQuote(tmp) +
                      "; mkdir " + ShellQuote(tmp) + "; tar -xf - -C " + ShellQuote(tmp) +
                      "; rm -rf " + ShellQuote(final_dir) + "; mv " + ShellQuote(tmp) + " " +
                      ShellQuote(final_dir) + "; " + ShellQuote(final_dir + "/bin/ferry") +
                      " --version";
    spdlog::info("ssh target {}: copying the agent ({} bytes) to {}", name_, b.tar.size(),
                 client_.Describe());
    FERRY_ASSIGN_OR_RETURN(SshResult r, client_.Run(cmd, b.tar, 300000));
    if (r.failure != SshFailure::kNone) return Status::Unavailable(r.message);
    if (r.exit_code != 0 || r.out.find("ferry") == std::string::npos) {
      return Status::FailedPrecondition(
          "the Ferry agent cannot run on " + client_.Describe() + ": " +
          (r.err.empty() ? r.out : r.err).substr(0, 500) +
          " (the host needs the same CPU architecture and shared libraries as the server)");
    }
    return Status::Ok();
  }

  void MarkUnreachable(const std::string& why) {
    MutexLock lock(&mu_);
    reachable_ = false;
    last_error_ = why;
  }

  // ---- the monitor thread
  void Monitor() {
    Backoff backoff({.initial = std::chrono::seconds(1), .max = std::chrono::seconds(30)});
    auto next_try = SteadyClock::now();
    for (;;) {
      {
        MutexLock lock(&mu_);
        if (!stop_) cv_.WaitFor(&mu_, std::chrono::milliseconds(500));
        if (stop_) return;
      }
      if (SteadyClock::now() < next_try) continue;
      Status st = KeepTunnel();
      if (st.ok()) st = CheckJobs();
      if (st.ok()) {
        backoff.Reset();
        next_try = SteadyClock::now() + std::chrono::seconds(1);
      } else {
        MarkUnreachable(st.message());
        next_try = SteadyClock::now() + backoff.Next();
      }
    }
  }

  void StopTunnel() {
    if (tunnel_) {
      tunnel_->SignalGroup(SIGTERM);
      tunnel_->Wait();
      tunnel_.reset();
    }
    MutexLock lock(&mu_);
    tunnel_port_ = 0;
  }

  // Keeps `ssh -N -R 0:<server address>:<server port>` running; when it (re)starts, the allocated
  // remote port is written to the host's server.json, where the agents read it.
  Status KeepTunnel() {
    if (tunnel_) {
      if (auto done = tunnel_->TryWait()) {
        auto log = ReadFileTail(tunnel_log_, 4000);
        SshResult r;
        r.exit_code = ExitCodeFromWaitStatus(*done) == 0 ? 255 : ExitCodeFromWaitStatus(*done);
        r.err = log.ok() ? *log : "";
        SshClient::Classify(&r, client_.Describe());
        tunnel_.reset();
        {
          MutexLock lock(&mu_);
          tunnel_port_ = 0;
        }
        return Status::Unavailable(
            r.message.empty() ? "the tunnel to " + client_.Describe() + " closed" : r.message);
      }
    }
    int port;
    {
      MutexLock lock(&mu_);
      port = tunnel_port_;
    }
    if (tunnel_ && port > 0) return Status::Ok();
    if (!tunnel_) {
      tunnel_log_ = JoinPath(d_.home, "ssh/" + name_ + ".tunnel.log");
      UniqueFd log(::open(tunnel_log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
      if (!log.valid()) return ErrnoStatus("cannot create", tunnel_log_, errno);
      std::vector<std::string> argv = client_.Argv(false, false);
      // INFO: ssh reports the allocated port ("Allocated port N for remote forward ..."); the
      // first value of an option wins, so the default's LogLevel is replaced, not appended to.
      for (auto& a : argv) {
        if (a == "LogLevel=ERROR") a = "LogLevel=INFO";
      }
      argv.insert(argv.end() - 1,
                  {"-N", "-o", "ExitOnForwardFailure=yes", "-R",
                   "0:" + d_.server_address + ":" + std::to_string(d_.server_port())});
      SpawnOptions so = client_.Spawn(argv);
      so.stdout_fd = log.get();
      so.stderr_fd = log.get();
      FERRY_ASSIGN_OR_RETURN(Subprocess p, Subprocess::Spawn(so));
      tunnel_ = std::make_unique<Subprocess>(std::move(p));
      tunnel_started_ = SteadyClock::now();
    }
    auto text = ReadFile(tunnel_log_);
    size_t at = text.ok() ? text->find("Allocated port ") : std::string::npos;
    if (at == std::string::npos) {
      if (SteadyClock::now() - tunnel_started_ > std::chrono::seconds(20)) {
        StopTunnel();
        return Status::Unavailable("the tunnel to " + client_.Describe() +
                                   " did not come up within 20 s");
      }
      return Status::Ok();  // still connecting; not reachable yet
    }
    int remote_port = std::atoi(text->c_str() + at + 15);
    json info = {{"url", "http://127.0.0.1:" + std::to_string(remote_port)},
                 {"pid", 0},
                 {"port", remote_port}};
    std::string dir = RemoteDir();
    std::string cmd = "umask 077; mkdir -p " + ShellQuote(dir) + " && cat > " +
                      ShellQuote(dir + "/server.json.tmp") + " && mv " +
                      ShellQuote(dir + "/server.json.tmp") + " " + ShellQuote(dir + "/server.json");
    FERRY_ASSIGN_OR_RETURN(SshResult r, client_.Run(cmd, info.dump() + "\n", 20000));
    if (r.failure != SshFailure::kNone || r.exit_code != 0) {
      StopTunnel();
      return Status::Unavailable(r.message.empty() ? "cannot write server.json on " +
                                                         client_.Describe() + ": " + r.err
                                                   : r.message);
    }
    MutexLock lock(&mu_);
    tunnel_port_ = remote_port;
    reachable_ = true;
    last_error_.clear();
    spdlog::info("ssh target {}: tunnel up ({} port {})", name_, client_.Describe(), remote_port);
    return Status::Ok();
  }

  // One ssh call: the host's boot id and, for each watched agent, its state and start time.
  Status CheckJobs() {
    std::vector<std::string> handles;
    {
      MutexLock lock(&mu_);
      if (tunnel_port_ == 0) return Status::Ok();
      handles = watched_;
    }
    std::string cmd = "cat /proc/sys/kernel/random/boot_id";
    std::vector<Handle> parsed;
    for (auto& text : handles) {
      Handle h = ParseHandle(text);
      parsed.push_back(h);
      if (h.pid > 0) {
        cmd += "; echo " + std::to_string(h.pid) + " $(sed 's/.*) //' /proc/" +
               std::to_string(h.pid) + "/stat 2>/dev/null | cut -d' ' -f1,20)";
      }
    }
    FERRY_ASSIGN_OR_RETURN(SshResult r, client_.Run(cmd, "", 20000));
    if (r.failure != SshFailure::kNone) return Status::Unavailable(r.message);
    std::istringstream in(r.out);
    std::string boot_id;
    std::getline(in, boot_id);
    std::map<int, std::pair<std::string, std::string>> seen;  // pid -> (state, start)
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      int pid = 0;
      std::string state, start;
      ls >> pid >> state >> start;
      seen[pid] = {state, start};
    }
    auto dead = [&](size_t i) {
      const Handle& h = parsed[i];
      auto it = seen.find(h.pid);
      return h.pid > 0 && !(it != seen.end() && it->second.first != "Z" &&
                            it->second.first != "X" && it->second.second == h.start_time);
    };
    std::vector<size_t> reap;  // agents that died on a host that did not reboot
    {
      MutexLock lock(&mu_);
      for (size_t i = 0; i < handles.size(); ++i) {
        const Handle& h = parsed[i];
        bool rebooted = !boot_id.empty() && !h.boot_id.empty() && h.boot_id != boot_id;
        if (dead(i) && !rebooted && !h.run_id.empty() && !gone_.count(handles[i])) {
          reap.push_back(i);
        }
      }
    }
    std::map<size_t, std::string> fate = StopOrphanedScripts(parsed, reap);
    MutexLock lock(&mu_);
    reachable_ = true;
    last_error_.clear();
    for (size_t i = 0; i < handles.size(); ++i) {
      const Handle& h = parsed[i];
      if (h.pid <= 0 || gone_.count(handles[i]) || !dead(i)) continue;
      if (!h.boot_id.empty() && !boot_id.empty() && h.boot_id != boot_id) {
        gone_[handles[i]] = "the host " + client_.Describe() +
                            " rebooted while the run was active (boot id changed)";
      } else {
        std::string log = RemoteDir() + "/work/" + (h.run_id.empty() ? "<run id>" : h.run_id) +
                          ".agent/agent.log";
        auto f = fate.find(i);
        gone_[handles[i]] =
            "the agent on " + client_.Describe() + " (pid " + std::to_string(h.pid) +
            ") exited without reporting a final status (killed?)" +
            (f != fate.end() ? "; " + f->second : "") + "; its log is " + log + " on the host";
      }
    }
    return Status::Ok();
  }

  // One ssh call for agents found dead: whatever is left of each one's script (its process
  // group, as the agent recorded it in its directory) is stopped, as the local target does.
  // Returns, by handle index, what happened to the script ("its script (process group N) was
  // stopped"); an agent whose host cannot be reached now is not in it.
  std::map<size_t, std::string> StopOrphanedScripts(const std::vector<Handle>& parsed,
                                                    const std::vector<size_t>& reap) {
    std::map<size_t, std::string> fate;
    if (reap.empty()) return fate;
    std::string cmd = "true";
    for (size_t i : reap) {
      // "<pgid> <session>" from script.group; SIGKILL to each live process of exactly that group
      // and session (the pair cannot name another group while any of them lives).
      cmd +=
          "; d=" + ShellQuote(RemoteDir() + "/work/" + parsed[i].run_id + ".agent") +
          "; g=; s=; read g s < \"$d/" + kScriptGroupFile +
          "\" 2>/dev/null; n=0; if [ -n \"$g\" ]; then for f in /proc/[0-9]*/stat; do "
          "read -r l < \"$f\" 2>/dev/null || continue; set -- ${l##*) }; "
          "if [ \"$3\" = \"$g\" ] && [ \"$4\" = \"$s\" ] && [ \"$1\" != Z ]; then p=${f#/proc/}; "
          "kill -9 \"${p%/stat}\" 2>/dev/null && n=$((n+1)); fi; done; fi; w=0; [ -e \"$d/" +
          kScriptStoppedFile + "\" ] && w=1; echo \"reap " + std::to_string(i) +
          " ${g:-none} $n $w\"";
    }
    auto r = client_.Run(cmd, "", 30000);
    if (!r.ok() || r->failure != SshFailure::kNone) return fate;
    std::istringstream in(r->out);
    for (std::string line; std::getline(in, line);) {
      std::istringstream ls(line);
      std::string word, pgid;
      size_t i = 0;
      int killed = 0, by_watchdog = 0;
      if (!(ls >> word >> i) || word != "reap") continue;
      if (!(ls >> pgid >> killed >> by_watchdog) || pgid == "none") {
        fate[i] = "its script was not running";
        continue;
      }
      if (killed > 0) {
        spdlog::warn("ssh target {}: stopped {} process(es) of group {} left by a dead agent",
                     name_, killed, pgid);
      }
      fate[i] = "its script (process group " + pgid + ")" +
                (killed > 0 || by_watchdog ? " was stopped" : " had already ended");
    }
    return fate;
  }

  std::string name_;
  SshTargetConfig c_;
  SshTargetDeps d_;
  SshClient client_;

  mutable Mutex mu_;
  CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  bool reachable_ GUARDED_BY(mu_) = false;
  int tunnel_port_ GUARDED_BY(mu_) = 0;
  std::string last_error_ GUARDED_BY(mu_);
  std::string paused_ GUARDED_BY(mu_);
  std::vector<std::string> watched_ GUARDED_BY(mu_);
  std::map<std::string, std::string> gone_ GUARDED_BY(mu_);  // handle -> reason

  // Monitor thread only.
  std::unique_ptr<Subprocess> tunnel_;
  std::string tunnel_log_;
  SteadyClock::time_point tunnel_started_;
  std::thread thread_;
};

}  // namespace

std::string SshControlDir(const std::string& home) {
  return "/tmp/ferry-ssh-" + std::to_string(::getuid()) + "-" + Sha256Hex(home).substr(0, 10);
}

// The stored configuration's fields, listed once (defaults: the structs' initialisers).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SshTargetFields, host, port, user, key_file,
                                                remote_dir, max_concurrent_runs, known_hosts, kind,
                                                owner, stop_command, start_command, state,
                                                state_reason)

// The two fields whose stored form is not their member's: "secret" (only ever the sealed
// value) and "facts" (an object, held as its text).
void to_json(json& j, const SshTargetConfig& c) {
  to_json(j, static_cast<const SshTargetFields&>(c));
  j["secret"] = c.secret_sealed;
  j["facts"] = json::parse(c.facts_json, nullptr, false);
}

void from_json(const json& j, SshTargetConfig& c) {
  const SshTargetConfig defaults;
  from_json(j, static_cast<SshTargetFields&>(c));
  c.secret_sealed = j.value("secret", defaults.secret_sealed);
  auto facts = j.find("facts");
  c.facts_json = facts != j.end() ? facts->dump() : defaults.facts_json;
}

std::string SshTargetConfig::ToJson() const { return json(*this).dump(); }

Result<SshTargetConfig> SshTargetConfig::FromJson(const std::string& text) {
  FERRY_ASSIGN_OR_RETURN(json j, ParseConfigObject(text, "ssh target configuration"));
  // Compute instances are stored in this form too: the error names the kind the row is.
  auto kind = j.find("kind");
  const std::string what =
      (kind != j.end() && kind->is_string() ? kind->get<std::string>() : "ssh") +
      " target configuration";
  return ConfigFromJson<SshTargetConfig>(j, what);
}

std::unique_ptr<ComputeTarget> MakeSshTarget(const std::string& name, const SshTargetConfig& config,
                                             SshTargetDeps deps) {
  return std::make_unique<SshTarget>(name, config, std::move(deps));
}

Result<SshProbe> ProbeSshHost(const SshEndpoint& endpoint, const std::string& remote_dir) {
  SshClient client(endpoint);
  (void)RemoveAll(endpoint.known_hosts);
  const std::string cmd =
      "echo os=$(uname -s); echo arch=$(uname -m); echo cpus=$(nproc 2>/dev/null || getconf "
      "_NPROCESSORS_ONLN); "
      "echo home=$HOME; mkdir -p " +
      ShellQuote(remote_dir) +
      " && echo dir_ok=1; "
      "df -Pk " +
      ShellQuote(remote_dir) +
      " 2>/dev/null | awk 'NR==2{print \"disk_free_kb=\"$4}'; "
      "for p in python3 python3.13 python3.12 python3.11 python3.10 python3.9 python; do "
      "q=$(command -v $p 2>/dev/null) && echo \"python=$q $($q -c 'import "
      "sys;print(sys.version.split()[0])' 2>/dev/null)\"; done; "
      "command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi "
      "--query-gpu=index,name,uuid,memory.total "
      "--format=csv,noheader,nounits 2>/dev/null | sed 's/^/gpu=/'; "
      "if command -v podman >/dev/null 2>&1; then echo container=podman; elif command -v docker "
      ">/dev/null 2>&1; then "
      "echo container=docker; fi; echo boot_id=$(cat /proc/sys/kernel/random/boot_id); echo end=1";
  FERRY_ASSIGN_OR_RETURN(SshResult r, client.Run(cmd, "", 60000, /*accept_new_key=*/true));
  if (r.failure != SshFailure::kNone) return Status::FailedPrecondition(r.message);
  if (r.out.find("end=1") == std::string::npos) {
    return Status::FailedPrecondition("the host " + client.Describe() +
                                      " did not run the probe (exit code " +
                                      std::to_string(r.exit_code) + "): " + r.err.substr(0, 300));
  }
  json facts = json::object();
  facts["gpus"] = json::array();
  facts["pythons"] = json::array();
  std::istringstream in(r.out);
  std::string line;
  bool dir_ok = false;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "os")
      facts["os"] = v;
    else if (k == "arch")
      facts["arch"] = v;
    else if (k == "cpus")
      facts["cpus"] = std::atoi(v.c_str());
    else if (k == "home")
      facts["home"] = v;
    else if (k == "disk_free_kb")
      facts["disk_free_gib"] = std::atoll(v.c_str()) / 1048576.0;
    else if (k == "dir_ok")
      dir_ok = true;
    else if (k == "container")
      facts["container_engine"] = v;
    else if (k == "boot_id")
      facts["boot_id"] = v;
    else if (k == "python") {
      auto sp = v.find(' ');
      facts["pythons"].push_back({{"path", v.substr(0, sp)},
                                  {"version", sp == std::string::npos ? "" : v.substr(sp + 1)}});
    } else if (k == "gpu") {
      std::vector<std::string> f;
      std::stringstream ss(v);
      std::string part;
      while (std::getline(ss, part, ','))
        f.push_back(part.substr(
            part.find_first_not_of(' ') == std::string::npos ? 0 : part.find_first_not_of(' ')));
      if (f.size() >= 4)
        facts["gpus"].push_back({{"index", std::atoi(f[0].c_str())},
                                 {"name", f[1]},
                                 {"uuid", f[2]},
                                 {"memory_total_mib", std::atoll(f[3].c_str())}});
    }
  }
  std::string os = facts.value("os", ""), arch = facts.value("arch", "");
  if (os != "Linux") {
    return Status::FailedPrecondition("the host " + client.Describe() + " runs '" + os +
                                      "'; Ferry's agent runs on Linux hosts only");
  }
  if (arch != LocalArch()) {
    return Status::FailedPrecondition(
        "the host " + client.Describe() + " is " + arch + " but this server is " + LocalArch() +
        "; the agent is copied from the server, so the CPU architecture must match");
  }
  if (!dir_ok) {
    return Status::FailedPrecondition("cannot create the Ferry directory '" + remote_dir + "' on " +
                                      client.Describe() + "; choose another with --work-dir");
  }
  SshProbe p;
  if (facts["pythons"].empty())
    p.warnings.push_back(
        "no Python interpreter found on the host's PATH; runs must name "
        "environment.python.interpreterPath (or use a container)");
  if (facts.contains("disk_free_gib") && facts["disk_free_gib"].get<double>() < 1.0) {
    p.warnings.push_back("less than 1 GiB free under " + remote_dir + " on the host");
  }
  auto kh = ReadFile(endpoint.known_hosts);
  if (!kh.ok() || kh->empty())
    return Status::FailedPrecondition("the host key of " + client.Describe() + " was not recorded");
  p.known_hosts = *kh;
  p.facts_json = facts.dump(-1, ' ', false, json::error_handler_t::replace);
  return p;
}

std::string ReverseTunnelAddress(const std::string& b) {
  if (b.empty() || b == "0.0.0.0" || b == "::" || b == "localhost" || b == "127.0.0.1") {
    return "127.0.0.1";
  }
  return b.find(':') != std::string::npos ? "[" + b + "]" : b;
}

}  // namespace ferry::compute
