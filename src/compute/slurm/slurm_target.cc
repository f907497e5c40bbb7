// Slurm target: sbatch per run, one squeue per poll cycle for all jobs, scancel with a grace
// signal, the agent bundle and run tokens in the cluster's shared directory.
#include "compute/slurm/slurm_target.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "common/fs.h"
#include "common/mutex.h"
#include "common/subprocess.h"
#include "compute/bundle.h"
#include "compute/config_json.h"
#include "compute/ssh/ssh_target.h"

namespace ferry::compute {
namespace {

using nlohmann::json;

std::string Tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : s.substr(s.size() - n);
}

// Slurm's minutes[:seconds] for --time, rounded up.
std::string SlurmTime(int64_t seconds) {
  int64_t m = seconds / 60, s = seconds % 60;
  return std::to_string(m) + ":" + (s < 10 ? "0" : "") + std::to_string(s);
}

struct Handle {
  std::string job_id, name;
  bool requeue = false;  // submitted with --requeue: PREEMPTED is not the end
};

Handle ParseHandle(const std::string& text) {
  Handle h;
  json j = json::parse(text, nullptr, false);
  if (j.is_object()) {
    h.job_id = j.value("job_id", "");
    h.name = j.value("name", "");
    h.requeue = j.value("requeue", false);
  }
  return h;
}

class SlurmTarget final : public ComputeTarget {
 public:
  SlurmTarget(std::string name, SlurmTargetConfig c, SlurmTargetDeps d)
      : name_(std::move(name)), c_(std::move(c)), d_(std::move(d)) {
    // Every command goes through here: a failure to reach the login node (unreachable, host
    // key changed, authentication) holds launches until a command gets through again.
    shell_ = [this, raw = MakeSlurmShell(c_, d_)](const std::string& command,
                                                  const std::string& input,
                                                  int timeout_ms) -> Result<ProcessResult> {
      auto r = raw(command, input, timeout_ms);
      MutexLock lock(&mu_);
      if (!r.ok() && r.status().code() == StatusCode::kUnavailable)
        transport_error_ = r.status().message();
      else if (r.ok())
        transport_error_.clear();
      return r;
    };
  }
  ~SlurmTarget() override {
    if (probe_.joinable()) probe_.join();
  }

  // Launches wait while the login node cannot be reached; a background probe (at most one
  // every 5 s) notices when it can again.
  std::string NotReady() const override {
    MutexLock lock(&mu_);
    if (transport_error_.empty()) return "";
    auto now = std::chrono::steady_clock::now();
    if (!probing_ && now - last_probe_ >= std::chrono::seconds(5)) {
      if (probe_.joinable()) probe_.join();
      probing_ = true;
      last_probe_ = now;
      probe_ = std::thread([this] {
        (void)shell_("true", "", 30000);
        probing_ = false;
      });
    }
    return transport_error_ + "; retrying";
  }

  const std::string& name() const override { return name_; }
  std::string kind() const override { return "slurm"; }
  Capabilities capabilities() const override {
    Capabilities caps;
    caps.multi_node = true;
    caps.preemption = !c_.low_priority_partition.empty() || !c_.low_priority_qos.empty();
    json f = json::parse(c_.facts_json, nullptr, false);
    caps.gpus = f.is_object() && f.value("gres", "").find("gpu") != std::string::npos;
    return caps;
  }
  int max_concurrent_runs() const override { return c_.max_queued_jobs; }

  Result<std::string> Launch(const RunPlan& plan) override {
    const model::Run& run = plan.run;
    FERRY_RETURN_IF_ERROR(EnsureShared());
    const std::string jobs = c_.shared_dir + "/jobs";
    const std::string token_file = jobs + "/" + run.id + ".token";
    FERRY_RETURN_IF_ERROR(Write(token_file, plan.token + "\n"));
    std::string job_name = "ferry-" + run.id;
    std::ostringstream sb;
    sb << "#!/bin/sh\n"
       << "#SBATCH --job-name=" << job_name << "\n"
       << "#SBATCH --comment=ferry-run:" << run.id << "\n"
       << "#SBATCH --nodes=" << run.options.node_count << "\n"
       << "#SBATCH --ntasks-per-node=" << std::max(1, run.options.process_count_per_node) << "\n"
       << "#SBATCH --output=" << jobs << "/" << run.id << ".out\n"
       << "#SBATCH --open-mode=append\n";
    const bool low = run.options.priority == "low" || c_.requeue_all;
    std::string partition =
        low && !c_.low_priority_partition.empty() ? c_.low_priority_partition : c_.partition;
    std::string qos = low && !c_.low_priority_qos.empty() ? c_.low_priority_qos : c_.qos;
    if (!partition.empty()) sb << "#SBATCH --partition=" << partition << "\n";
    if (!qos.empty()) sb << "#SBATCH --qos=" << qos << "\n";
    if (!c_.account.empty()) sb << "#SBATCH --account=" << c_.account << "\n";
    if (low) sb << "#SBATCH --requeue\n";
    if (run.options.max_run_duration_seconds) {
      // The agent enforces the limit itself (and reports why); Slurm's a minute later is the
      // backstop.
      sb << "#SBATCH --time=" << SlurmTime(*run.options.max_run_duration_seconds + 60) << "\n";
    }
    if (run.options.gpus > 0) sb << "#SBATCH --gres=gpu:" << run.options.gpus << "\n";
    // (#SBATCH lines end at the first command.)
    if (low) sb << "export FERRY_PREEMPTIBLE=1\n";
    sb << "export FERRY_RUN_TOKEN_FILE=" << ShellQuote(token_file) << "\n"
       << "exec srun --kill-on-bad-exit=1 "
       << (run.options.communicator == "OpenMpi" || run.options.communicator == "IntelMpi"
               ? "--mpi=pmix "
               : "")
       << ShellQuote(AgentPath()) << " --home " << ShellQuote(c_.shared_dir)
       << " agent --blob-cache --run-id " << ShellQuote(run.id) << "\n";
    const std::string script = jobs + "/" + run.id + ".sbatch";
    FERRY_RETURN_IF_ERROR(Write(script, sb.str()));
    FERRY_ASSIGN_OR_RETURN(ProcessResult r,
                           shell_("sbatch --parsable " + ShellQuote(script), "", 60000));
    if (r.exit_code != 0) {
      std::string err = r.err.empty() ? r.out : r.err;
      return Status::FailedPrecondition("sbatch refused the job: " + Tail(err, 500));
    }
    std::string id = r.out.substr(0, r.out.find_first_of(";\r\n"));
    if (id.empty())
      return Status::FailedPrecondition("sbatch printed no job id: " + Tail(r.out, 200));
    return json{{"job_id", id}, {"name", job_name}, {"requeue", low}}.dump();
  }

  std::vector<JobState> Poll(const std::vector<std::string>& handles) override {
    std::vector<JobState> out(handles.size(), JobState::kAlive);
    if (handles.empty()) return out;
    // After a server restart the agents of running jobs need the new address at once.
    if (!shared_ready_) {
      Status st = EnsureShared();
      if (!st.ok()) spdlog::warn("slurm target {}: {}", name_, st.ToString());
    }
    // One call for every job of this cluster, whatever their number.
    auto r = shell_("squeue --me -h -t all -o '%i|%j|%T|%r|%V'", "", 30000);
    ++polls_;
    if (!r.ok() || r->exit_code != 0) {
      MutexLock lock(&mu_);
      last_error_ = r.ok() ? "squeue failed: " + Tail(r->err, 300) : r.status().message();
      return out;  // unknown: not gone
    }
    std::map<std::string, SlurmJobRow> rows;
    for (auto& row : ParseSqueue(r->out)) rows[row.id] = row;
    // Jobs squeue no longer lists (purged after MinJobAge, e.g. while the server was down):
    // with accounting on, one sacct call for all of them gives their final state.
    std::map<std::string, SlurmJobRow> ended;
    if (AccountingOn()) {
      std::string ids;
      for (const auto& h : handles) {
        Handle p = ParseHandle(h);
        if (!p.job_id.empty() && !rows.count(p.job_id)) ids += (ids.empty() ? "" : ",") + p.job_id;
      }
      if (!ids.empty()) {
        auto acct =
            shell_("sacct -X -n -P -o JobIDRaw,JobName,State,ExitCode,Submit -j " + ShellQuote(ids),
                   "", 30000);
        ++sacct_calls_;
        if (acct.ok() && acct->exit_code == 0) {
          for (auto& row : ParseSacct(acct->out)) ended[row.id] = row;
        }
      }
    }
    std::vector<std::string> stray;  // listed jobs just found ended without a final status
    mu_.Lock();
    last_error_.clear();
    // Reasons of jobs the scheduler no longer asks about (their runs have ended) are not kept.
    std::set<std::string> current(handles.begin(), handles.end());
    std::erase_if(gone_, [&](const auto& kv) { return !current.count(kv.first); });
    static const std::set<std::string> kEnded = {"COMPLETED", "FAILED",    "CANCELLED",
                                                 "TIMEOUT",   "NODE_FAIL", "OUT_OF_MEMORY",
                                                 "BOOT_FAIL", "DEADLINE",  "PREEMPTED"};
    for (size_t i = 0; i < handles.size(); ++i) {
      Handle h = ParseHandle(handles[i]);
      auto it = rows.find(h.job_id);
      if (it == rows.end() || it->second.name != h.name) {
        // Not listed (purged) or the id now belongs to another job: ours is over.
        out[i] = JobState::kGone;
        if (auto e = ended.find(h.job_id); e != ended.end() && e->second.name == h.name &&
                                           !(e->second.state == "PREEMPTED" && h.requeue)) {
          gone_[handles[i]] =
              "Slurm job " + h.job_id + " ended as " + e->second.state +
              (e->second.reason.empty() ? "" : " (exit code " + e->second.reason + ")") +
              " without the agent reporting a final status (from sacct)";
          continue;
        }
        gone_[handles[i]] = "Slurm job " + h.job_id +
                            " ended without the agent reporting a final status; its output is " +
                            c_.shared_dir + "/jobs/<run id>.out";
        continue;
      }
      const std::string& st = it->second.state;
      if (st == "PENDING" || st == "REQUEUED" || st == "REQUEUE_HOLD" || st == "REQUEUE_FED" ||
          (st == "PREEMPTED" && h.requeue)) {
        out[i] = JobState::kWaiting;
        gone_[handles[i]] = "preempted: Slurm requeued job " + h.job_id +
                            (it->second.reason.empty() || it->second.reason == "None"
                                 ? ""
                                 : " (" + it->second.reason + ")");
        continue;
      }
      if (kEnded.count(it->second.state)) {
        out[i] = JobState::kGone;
        if (!gone_.count(handles[i])) stray.push_back(h.job_id);
        gone_[handles[i]] = "Slurm job " + h.job_id + " ended as " + it->second.state +
                            (it->second.reason.empty() || it->second.reason == "None"
                                 ? ""
                                 : " (" + it->second.reason + ")") +
                            " without the agent reporting a final status";
      }
    }
    mu_.Unlock();  // shell_ takes it
    // The agent is gone but Slurm still lists its job: scancel makes Slurm stop whatever of
    // the job is still on its nodes (steps still completing). The script's own process group,
    // which proctrack/linuxproc or pgid lose once the agent dies, is stopped by the agent's
    // watchdog. One call for all of them; a job that has finished ignores it.
    if (!stray.empty()) {
      std::string ids;
      for (const auto& id : stray) ids += " " + ShellQuote(id);
      (void)shell_("scancel" + ids, "", 30000);
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
    if (h.job_id.empty()) return Status::Ok();
    // SIGTERM to the job steps' tasks, not the batch shell (srun would end the step at once):
    // the agents stop their scripts and report Canceled;
    // the scheduler's grace is the agents' own, then Slurm's KillWait.
    // A job waiting in Slurm's queue (not started yet, or requeued) has no agent to stop
    // gracefully: it simply goes. (Signalling it makes scancel retry "can not be altered now".)
    FERRY_ASSIGN_OR_RETURN(ProcessResult q,
                           shell_("squeue -h -j " + ShellQuote(h.job_id) + " -o %T", "", 30000));
    std::string state = q.exit_code == 0 ? q.out.substr(0, q.out.find_first_of(" \r\n")) : "";
    const bool waiting = state == "PENDING" || state == "REQUEUED" || state == "REQUEUE_HOLD" ||
                         state == "SUSPENDED";
    FERRY_ASSIGN_OR_RETURN(ProcessResult r,
                           shell_(waiting ? "scancel " + ShellQuote(h.job_id)
                                          : "scancel --signal=TERM " + ShellQuote(h.job_id),
                                  "", 30000));
    if (r.exit_code != 0 && r.err.find("pending") != std::string::npos) {
      // It was still waiting after all.
      FERRY_ASSIGN_OR_RETURN(r, shell_("scancel " + ShellQuote(h.job_id), "", 30000));
    }
    if (r.exit_code != 0 && r.err.find("already completing") == std::string::npos &&
        r.err.find("Invalid job id") == std::string::npos) {
      return Status::Unavailable("scancel failed: " + Tail(r.err, 300));
    }
    return Status::Ok();
  }

  std::string Describe() const override {
    json j = {{"kind", "slurm"},
              {"mode", c_.local ? "local" : "login"},
              {"partition", c_.partition},
              {"low_priority_partition", c_.low_priority_partition},
              {"shared_dir", c_.shared_dir},
              {"server_url", c_.server_url},
              {"facts", json::parse(c_.facts_json, nullptr, false)},
              {"polls", polls_.load()},
              {"sacct_calls", sacct_calls_.load()}};
    if (!c_.local) j["login"] = c_.login_user + "@" + c_.login_host;
    // Live: every node with its partition and state (one sinfo call).
    auto nodes = shell_("sinfo -h -N -o '%N|%R|%T|%c|%G'", "", 15000);
    if (nodes.ok() && nodes->exit_code == 0) {
      json arr = json::array();
      for (const auto& f : SplitRows(nodes->out)) {
        if (f.size() >= 4) {
          arr.push_back({{"node", f[0]},
                         {"partition", f[1]},
                         {"state", f[2]},
                         {"cpus", std::atoi(f[3].c_str())},
                         {"gres", f.size() > 4 ? f[4] : ""}});
        }
      }
      j["nodes"] = arr;
    }
    MutexLock lock(&mu_);
    if (!last_error_.empty()) j["last_error"] = last_error_;
    return j.dump();
  }

 private:
  bool AccountingOn() const {
    json f = json::parse(c_.facts_json, nullptr, false);
    std::string t = f.is_object() ? f.value("AccountingStorageType", "") : "";
    return !t.empty() && t != "accounting_storage/none";
  }

  std::string AgentPath() const { return c_.shared_dir + "/agent/" + bundle_hash_ + "/bin/ferry"; }

  Status Write(const std::string& path, const std::string& content) {
    FERRY_ASSIGN_OR_RETURN(ProcessResult r,
                           shell_("umask 077; cat > " + ShellQuote(path + ".tmp") + " && mv " +
                                      ShellQuote(path + ".tmp") + " " + ShellQuote(path),
                                  content, 60000));
    if (r.exit_code != 0) return Status::IoError("cannot write " + path + ": " + Tail(r.err, 300));
    return Status::Ok();
  }

  // The bundle and server.json in the shared directory (once per server process).
  Status EnsureShared() {
    if (shared_ready_) return Status::Ok();
    FERRY_ASSIGN_OR_RETURN(AgentBundle b,
                           BuildAgentBundle(d_.home, d_.ferry_executable, d_.python_package_dir));
    bundle_hash_ = b.hash;
    std::string dir = c_.shared_dir + "/agent/" + b.hash;
    std::string cmd = "set -e; mkdir -p " + ShellQuote(c_.shared_dir + "/jobs") + "; chmod 700 " +
                      ShellQuote(c_.shared_dir + "/jobs") + "; if [ ! -x " +
                      ShellQuote(dir + "/bin/ferry") + " ]; then rm -rf " +
                      ShellQuote(dir + ".tmp") + "; mkdir -p " + ShellQuote(dir + ".tmp") +
                      "; tar -xf - -C " + ShellQuote(dir + ".tmp") + "; rm -rf " + ShellQuote(dir) +
                      "; mv " + ShellQuote(dir + ".tmp") + " " + ShellQuote(dir) + "; fi";
    FERRY_ASSIGN_OR_RETURN(ProcessResult r, shell_(cmd, b.tar, 300000));
    if (r.exit_code != 0)
      return Status::IoError("cannot place the agent in " + c_.shared_dir + ": " +
                             Tail(r.err, 300));
    json info = {{"url", c_.server_url}, {"pid", 0}};
    FERRY_RETURN_IF_ERROR(Write(c_.shared_dir + "/server.json", info.dump() + "\n"));
    shared_ready_ = true;
    return Status::Ok();
  }

  std::string name_;
  SlurmTargetConfig c_;
  SlurmTargetDeps d_;
  SlurmShell shell_;
  bool shared_ready_ = false;  // scheduler thread only
  std::string bundle_hash_;
  std::atomic<int64_t> polls_{0};
  std::atomic<int64_t> sacct_calls_{0};
  mutable Mutex mu_;
  std::string last_error_ GUARDED_BY(mu_);
  std::string transport_error_ GUARDED_BY(mu_);
  // The destructor joins it unlocked (a probe ends by taking mu_ in shell_).
  mutable std::thread probe_ GUARDED_BY(mu_);
  mutable std::atomic<bool> probing_{false};
  mutable std::chrono::steady_clock::time_point last_probe_ GUARDED_BY(mu_){};
  std::map<std::string, std::string> gone_ GUARDED_BY(mu_);
};

}  // namespace

std::vector<std::vector<std::string>> SplitRows(const std::string& out) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string part; std::getline(ss, part, '|');) f.push_back(part);
    rows.push_back(std::move(f));
  }
  return rows;
}

std::vector<SlurmJobRow> ParseSqueue(const std::string& out) {
  std::vector<SlurmJobRow> rows;
  for (const auto& f : SplitRows(out)) {
    if (f.size() < 4) continue;
    SlurmJobRow r{f[0], f[1], f[2], f[3], f.size() > 4 ? f[4] : ""};
    // Array/het jobs print "123_4"; Ferry submits neither.
    rows.push_back(std::move(r));
  }
  return rows;
}

std::vector<SlurmJobRow> ParseSacct(const std::string& out) {
  std::vector<SlurmJobRow> rows;
  for (const auto& f : SplitRows(out)) {
    if (f.size() < 4 || f[0].empty()) continue;
    // "CANCELLED by 0" -> CANCELLED; the exit code "2:0" is kept in `reason`.
    std::string state = f[2].substr(0, f[2].find(' '));
    rows.push_back({f[0], f[1], state, f[3] == "0:0" ? "" : f[3], f.size() > 4 ? f[4] : ""});
  }
  return rows;
}

SlurmShell MakeSlurmShell(const SlurmTargetConfig& c, const SlurmTargetDeps& d) {
  if (c.local) {
    return [conf = c.slurm_conf](const std::string& command, const std::string& input,
                                 int timeout_ms) -> Result<ProcessResult> {
      SpawnOptions so;
      so.argv = {"/bin/sh", "-c", command};
      so.env_unset = {"FERRY_RUN_TOKEN"};
      if (!conf.empty()) so.env_set["SLURM_CONF"] = conf;
      return RunProcess(so, input, timeout_ms);
    };
  }
  SshEndpoint e;
  e.host = c.login_host;
  e.port = c.login_port;
  e.user = c.login_user;
  e.key_file = c.key_file;
  e.secret = d.secret;
  e.known_hosts = JoinPath(d.home, "ssh/" + d.name + ".known_hosts");
  (void)MakeDirs(JoinPath(d.home, "ssh"), 0700);
  (void)WriteFileAtomic(e.known_hosts, c.known_hosts, 0600);
  e.control_dir = SshControlDir(d.home);  // one connection for every squeue/sbatch
  e.askpass = d.ferry_executable;
  auto client = std::make_shared<SshClient>(e);
  return [client](const std::string& command, const std::string& input,
                  int timeout_ms) -> Result<ProcessResult> {
    FERRY_ASSIGN_OR_RETURN(SshResult r, client->Run(command, input, timeout_ms));
    if (r.failure != SshFailure::kNone) return Status::Unavailable(r.message);
    ProcessResult p;
    p.exit_code = r.exit_code;
    p.out = std::move(r.out);
    p.err = std::move(r.err);
    return p;
  };
}

Result<std::string> ProbeSlurm(const SlurmTargetConfig& c, const SlurmShell& shell) {
  FERRY_ASSIGN_OR_RETURN(ProcessResult info, shell("sinfo -h -o '%R|%a|%D|%T|%N|%G'", "", 30000));
  if (info.exit_code != 0) {
    return Status::FailedPrecondition("sinfo failed (exit code " + std::to_string(info.exit_code) +
                                      "): " + Tail(info.err.empty() ? info.out : info.err, 400) +
                                      "; is Slurm installed here and SLURM_CONF right?");
  }
  json facts = json::object();
  json parts = json::object();
  std::string gres;
  for (const auto& f : SplitRows(info.out)) {
    if (f.size() < 6) continue;
    json& p = parts[f[0]];
    if (!p.is_object()) p = {{"available", f[1]}, {"nodes", 0}, {"states", json::object()}};
    int n = std::atoi(f[2].c_str());
    p["nodes"] = p["nodes"].get<int>() + n;
    p["states"][f[3]] = p["states"].value(f[3], 0) + n;
    if (f[5] != "(null)") gres += f[5] + " ";
  }
  if (parts.empty())
    return Status::FailedPrecondition(
        "sinfo lists no partitions: the cluster has no nodes configured");
  facts["partitions"] = parts;
  facts["gres"] = gres;
  for (const std::string& p : {c.partition, c.low_priority_partition}) {
    if (!p.empty() && !parts.contains(p)) {
      std::string names;
      for (auto& [k, v] : parts.items()) names += (names.empty() ? "" : ", ") + k;
      return Status::FailedPrecondition("partition '" + p +
                                        "' does not exist; the cluster has: " + names);
    }
  }
  FERRY_ASSIGN_OR_RETURN(ProcessResult conf, shell("scontrol show config", "", 30000));
  if (conf.exit_code == 0) {
    std::istringstream cin(conf.out);
    for (std::string line; std::getline(cin, line);) {
      auto eq = line.find(" = ");
      if (eq == std::string::npos) continue;
      std::string k = line.substr(0, line.find_last_not_of(' ', eq) + 1), v = line.substr(eq + 3);
      if (k == "ClusterName" || k == "SLURM_VERSION" || k == "AccountingStorageType" ||
          k == "MpiDefault" || k == "SelectType" || k == "PreemptType" || k == "PreemptMode") {
        facts[k] = v;
      }
    }
  }
  std::string probe = c.shared_dir + "/.ferry-probe";
  FERRY_ASSIGN_OR_RETURN(ProcessResult w,
                         shell("mkdir -p " + ShellQuote(c.shared_dir) + " && echo ok > " +
                                   ShellQuote(probe) + " && rm -f " + ShellQuote(probe),
                               "", 30000));
  if (w.exit_code != 0) {
    return Status::FailedPrecondition("the shared directory " + c.shared_dir +
                                      " is not writable: " + Tail(w.err, 300));
  }
  return facts.dump(-1, ' ', false, json::error_handler_t::replace);  // sinfo's text, any bytes
}

// The stored configuration's fields, listed once (defaults: the structs' initialisers).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SlurmTargetFields, local, login_host, login_user,
                                                key_file, known_hosts, login_port, partition,
                                                account, qos, low_priority_partition,
                                                low_priority_qos, shared_dir, server_url,
                                                server_url_auto, max_queued_jobs, slurm_conf,
                                                requeue_all)

// The two fields whose stored form is not their member's: "secret" (only ever the sealed
// value) and "facts" (an object, held as its text).
void to_json(json& j, const SlurmTargetConfig& c) {
  to_json(j, static_cast<const SlurmTargetFields&>(c));
  j["secret"] = c.secret_sealed;
  j["facts"] = json::parse(c.facts_json, nullptr, false);
}

void from_json(const json& j, SlurmTargetConfig& c) {
  const SlurmTargetConfig defaults;
  from_json(j, static_cast<SlurmTargetFields&>(c));
  c.secret_sealed = j.value("secret", defaults.secret_sealed);
  auto facts = j.find("facts");
  c.facts_json = facts != j.end() ? facts->dump() : defaults.facts_json;
}

std::string SlurmTargetConfig::ToJson() const { return json(*this).dump(); }

Result<SlurmTargetConfig> SlurmTargetConfig::FromJson(const std::string& text) {
  FERRY_ASSIGN_OR_RETURN(json j, ParseConfigObject(text, "slurm target configuration"));
  return ConfigFromJson<SlurmTargetConfig>(j, "slurm target configuration");
}

std::unique_ptr<ComputeTarget> MakeSlurmTarget(const std::string& name,
                                               const SlurmTargetConfig& config,
                                               SlurmTargetDeps deps) {
  return std::make_unique<SlurmTarget>(name, config, std::move(deps));
}

}  // namespace ferry::compute
