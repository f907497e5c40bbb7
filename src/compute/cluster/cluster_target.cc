// A managed cluster as a compute target: the Slurm target of its own controller, described
// with the cluster's size, its nodes' provider states and Slurm's view of them.
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "common/mutex.h"
#include "common/subprocess.h"
#include "compute/cluster/autoscaler.h"
#include "compute/cluster/cluster.h"
#include "compute/cluster/provider.h"
#include "compute/compute_target.h"
#include "compute/slurm/slurm_target.h"

namespace ferry::compute {
namespace {

using nlohmann::json;

class ClusterTarget final : public ComputeTarget {
 public:
  ClusterTarget(ClusterConfig c, std::unique_ptr<ComputeTarget> slurm)
      : c_(std::move(c)), slurm_(std::move(slurm)), provider_(MakeNodeProvider(c_)) {
    loop_ = std::thread([this] { Loop(); });
  }
  ~ClusterTarget() override {
    {
      MutexLock lock(&mu_);
      stop_ = true;
    }
    cv_.SignalAll();
    if (loop_.joinable()) loop_.join();
    std::vector<std::thread> workers;
    {
      MutexLock lock(&mu_);
      workers.swap(workers_);
    }
    for (auto& w : workers) {
      if (w.joinable()) w.join();
    }
  }

  const std::string& name() const override { return slurm_->name(); }
  std::string kind() const override { return "cluster"; }
  Capabilities capabilities() const override {
    Capabilities caps = slurm_->capabilities();
    caps.autoscaling = true;
    caps.preemption = c_.priority == "low";
    caps.gpus = c_.gpus > 0;
    return caps;
  }
  int max_concurrent_runs() const override { return slurm_->max_concurrent_runs(); }
  Result<std::string> Launch(const RunPlan& plan) override {
    auto handle = slurm_->Launch(plan);
    if (handle.ok()) {
      // A job waits now: the autoscaler looks at once rather than at its next tick.
      MutexLock lock(&mu_);
      kick_ = true;
      cv_.SignalAll();
    }
    return handle;
  }
  std::vector<JobState> Poll(const std::vector<std::string>& handles) override {
    return slurm_->Poll(handles);
  }
  std::string GoneReason(const std::string& handle) const override {
    return slurm_->GoneReason(handle);
  }
  std::string NotReady() const override { return slurm_->NotReady(); }
  void SetPaused(const std::string& reason) override { slurm_->SetPaused(reason); }
  Status Cancel(const std::string& handle) override { return slurm_->Cancel(handle); }

  std::string Describe() const override {
    json slurm = json::parse(slurm_->Describe(), nullptr, false);
    json j = {{"kind", "cluster"},
              {"provider", c_.provider},
              {"min_nodes", c_.min_nodes},
              {"max_nodes", c_.max_nodes},
              {"idle_seconds_before_scaledown", c_.idle_seconds},
              {"node_size", {{"cpus", c_.cpus}, {"memory_mb", c_.memory_mb}, {"gpus", c_.gpus}}},
              {"priority", c_.priority},
              {"directory", c_.dir}};
    if (!c_.vm_size.empty()) j["vm_size"] = c_.vm_size;
    if (c_.single_owner) j["owner"] = c_.owner;
    // Slurm's state of each node next to the provider's last word about it.
    std::map<std::string, std::string> slurm_state;
    if (slurm.is_object() && slurm.contains("nodes")) {
      for (auto& n : slurm["nodes"]) slurm_state[n.value("node", "")] = n.value("state", "");
    }
    int current = 0, idle = 0, busy = 0, starting = 0, failed = 0;
    json nodes = json::array();
    for (const NodeRecord& r : ReadNodeRecords(c_)) {
      std::string st = slurm_state.count(r.node) ? slurm_state[r.node] : "unknown";
      if (r.state == "failed") ++failed;
      if (r.state == "starting" || (r.state == "started" && !SlurmNodeUp(st))) {
        ++starting;
      } else if (r.state == "started") {
        ++current;
        if (st.rfind("alloc", 0) == 0 || st.rfind("mix", 0) == 0 || st.rfind("compl", 0) == 0)
          ++busy;
        else if (st.rfind("idle", 0) == 0)
          ++idle;
      }
      json n = {{"node", r.node}, {"slurm_state", st}, {"provider_state", r.state}};
      if (!r.address.empty()) n["address"] = r.address;
      if (!r.error.empty()) n["error"] = r.error;
      if (r.time > 0) n["since"] = r.time;
      if (r.state == "started") n["start_seconds"] = r.start_seconds;
      nodes.push_back(std::move(n));
    }
    j["nodes"] = nodes;
    {
      MutexLock lock(&mu_);
      j["pending_jobs"] = pending_jobs_;
      if (!scale_error_.empty()) j["autoscaler_error"] = scale_error_;
      j["scale_ups"] = scale_ups_;
      j["scale_downs"] = scale_downs_;
      j["lost_nodes"] = lost_;
    }
    j["counts"] = {{"current", current},
                   {"idle", idle},
                   {"busy", busy},
                   {"starting", starting},
                   {"failed", failed}};
    if (slurm.is_object()) {
      j["polls"] = slurm.value("polls", 0);
      if (slurm.contains("last_error")) j["last_error"] = slurm["last_error"];
      j["server_url"] = slurm.value("server_url", "");
    }
    return j.dump();
  }

 private:
  Result<ProcessResult> Slurm(std::vector<std::string> argv) const {
    SpawnOptions so;
    so.argv = std::move(argv);
    so.env_set["SLURM_CONF"] = c_.ConfPath();
    return RunProcess(so, "", 20000);
  }

  static double Now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // Once a second: Slurm's pending jobs and node states (one squeue, one sinfo), the
  // provider's records, then the decision; starts and stops run on worker threads (a cloud
  // node may take minutes), at most one per node at a time.
  void Loop() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    while (!stop_) {
      mu_.Unlock();
      Cycle();
      mu_.Lock();
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (!stop_ && !kick_ && cv_.WaitUntil(&mu_, deadline)) {
      }
      kick_ = false;
    }
  }

  void Cycle() EXCLUDES(mu_) {
    auto pending = Slurm({"squeue", "-h", "-t", "PD", "-o", "%D|%C|%r"});
    auto nodes = Slurm({"sinfo", "-h", "-N", "-o", "%N|%T"});
    if (!pending.ok() || !nodes.ok() || pending->exit_code != 0 || nodes->exit_code != 0) {
      MutexLock lock(&mu_);
      scale_error_ = "cannot read the cluster's state: " +
                     (pending.ok() ? pending->err : pending.status().message()) +
                     (nodes.ok() ? nodes->err : "");
      return;
    }
    AutoscaleInput in;
    in.now = Now();
    in.min_nodes = c_.min_nodes;
    in.max_nodes = c_.max_nodes;
    in.cpus_per_node = c_.cpus;
    in.idle_seconds = c_.idle_seconds;
    in.start_timeout = c_.provider_timeout_s;
    int waiting = 0;
    for (const auto& f : SplitRows(pending->out)) {
      if (f.size() < 3) continue;
      ++waiting;
      // Held or dependent jobs wait for something other than nodes.
      if (f[2].find("Held") != std::string::npos || f[2].rfind("Dependency", 0) == 0) continue;
      in.pending.emplace_back(std::max(1, std::atoi(f[0].c_str())),
                              std::max(1, std::atoi(f[1].c_str())));
    }
    std::map<std::string, std::string> state;
    std::istringstream nin(nodes->out);
    for (std::string line; std::getline(nin, line);) {
      auto bar = line.find('|');
      if (bar != std::string::npos) state[line.substr(0, bar)] = line.substr(bar + 1);
    }
    MutexLock lock(&mu_);
    pending_jobs_ = waiting;
    scale_error_.clear();
    for (const NodeRecord& r : ReadNodeRecords(c_)) {
      AutoscaleNode n;
      n.name = r.node;
      n.index = c_.NodeIndex(r.node);
      n.slurm_state = state.count(r.node) ? state[r.node] : "";
      n.provider_state = busy_.count(r.node) && r.state == "stopped" ? "starting" : r.state;
      n.provider_since = r.time;
      if (r.state == "started" && n.slurm_state.rfind("idle", 0) == 0 &&
          SlurmNodeUp(n.slurm_state)) {
        if (!idle_since_.count(r.node)) idle_since_[r.node] = in.now;
        n.idle_since = idle_since_[r.node];
      } else {
        idle_since_.erase(r.node);
      }
      // A started node that is gone (the provider says so, or Slurm lost it): marked DOWN, so
      // Slurm requeues its jobs now (preemption, seen in Ferry as Preempted -> Queued); cleaned
      // up, and started again when work waits.
      if (r.state == "started" && !busy_.count(r.node) && was_up_.count(r.node)) {
        std::string why =
            !provider_->Alive(r.node)     ? "the provider reports the node gone (reclaimed)"
            : !SlurmNodeUp(n.slurm_state) ? "the node was lost (Slurm: not responding)"
                                          : "";
        if (!why.empty()) {
          Spawn(r.node, [this, node = r.node, why] {
            (void)StopNode(c_, *provider_, node, why, StopKind::kLost);
          });
          was_up_.erase(r.node);
          ++lost_;
          continue;
        }
      }
      if (SlurmNodeUp(n.slurm_state) && r.state == "started") was_up_.insert(r.node);
      in.nodes.push_back(std::move(n));
    }
    AutoscaleDecision d = DecideScaling(in);
    for (const std::string& node : d.start) {
      if (busy_.count(node)) continue;
      ++scale_ups_;
      Spawn(node, [this, node] {
        Status st = StartNode(c_, *provider_, node);
        if (!st.ok())
          spdlog::warn("cluster {}: node {} did not start: {}", c_.name, node, st.ToString());
      });
    }
    for (const std::string& node : d.stop) {
      if (busy_.count(node)) continue;
      bool failed = d.fail.count(node) > 0;
      std::string why =
          failed ? d.fail[node] : "idle for " + std::to_string(c_.idle_seconds) + " s";
      if (!failed) ++scale_downs_;
      idle_since_.erase(node);
      was_up_.erase(node);
      Spawn(node, [this, node, why, failed] {
        (void)StopNode(c_, *provider_, node, why, failed ? StopKind::kFailed : StopKind::kIdle);
      });
    }
  }

  // Runs a node operation on its own thread; the node is busy until it ends. mu_ held.
  void Spawn(const std::string& node, std::function<void()> fn) REQUIRES(mu_) {
    busy_.insert(node);
    // Finished workers are joined here (their node is no longer busy).
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (done_.count(it->get_id())) {
        done_.erase(it->get_id());
        it->join();
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
    workers_.emplace_back([this, node, fn = std::move(fn)] {
      fn();
      MutexLock lock(&mu_);
      busy_.erase(node);
      done_.insert(std::this_thread::get_id());
    });
  }

  ClusterConfig c_;
  std::unique_ptr<ComputeTarget> slurm_;
  std::unique_ptr<NodeProvider> provider_;
  mutable Mutex mu_;
  CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  bool kick_ GUARDED_BY(mu_) = false;  // a job was just submitted
  std::thread loop_;
  std::vector<std::thread> workers_ GUARDED_BY(mu_);
  std::set<std::thread::id> done_ GUARDED_BY(mu_);
  std::set<std::string> busy_ GUARDED_BY(mu_);  // nodes with an operation in flight
  std::map<std::string, double> idle_since_ GUARDED_BY(mu_);
  std::set<std::string> was_up_ GUARDED_BY(mu_);  // started nodes seen registered
  int pending_jobs_ GUARDED_BY(mu_) = 0;
  int64_t scale_ups_ GUARDED_BY(mu_) = 0;
  int64_t scale_downs_ GUARDED_BY(mu_) = 0;
  int64_t lost_ GUARDED_BY(mu_) = 0;
  std::string scale_error_ GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<ComputeTarget> MakeClusterTarget(const ClusterConfig& c,
                                                 std::unique_ptr<ComputeTarget> slurm) {
  return std::make_unique<ClusterTarget>(c, std::move(slurm));
}

}  // namespace ferry::compute
