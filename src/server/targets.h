// Compute targets beyond `local`: created from their stored records at start-up, attached and
// detached at run time (`POST/DELETE /api/v1/computes`), secrets sealed at rest. What differs
// between kinds is in the kind table (compute/kind.h); this class only keeps the store, the
// scheduler and the kinds' operations in step. Kind-specific extras: compute instances' power
// (stop/start, owner) and managed clusters' size and quota (clusters.cc).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/seal.h"
#include "common/status.h"
#include "compute/cluster/cluster.h"
#include "compute/kind.h"
#include "scheduler/scheduler.h"
#include "store/metadata_store.h"

namespace ferry::server {

struct TargetManagerDeps {
  store::MetadataStore* store = nullptr;
  scheduler::Scheduler* scheduler = nullptr;
  const Clock* clock = nullptr;
  const Sealer* sealer = nullptr;
  std::string home;
  std::string ferry_executable;
  std::string python_package_dir;
  std::function<int()> server_port;
  std::string server_bind;  // the address the server listens on (for cluster nodes' URL)
  // Listens on one more address (a managed cluster's bridge); returns the port.
  std::function<Result<int>(const std::string& address)> add_listener;
};

class TargetManager {
 public:
  explicit TargetManager(TargetManagerDeps d);
  // Creates the drivers of every stored remote target (a target that cannot be created is
  // logged and left out; its runs then fail as on an unknown target).
  void LoadAll();
  // POST /computes: {"name","kind", and the kind's fields (its options in the kind table)}.
  // The kind probes what the request names first; returns the kind's answer (facts or the
  // cluster), "summary" and "warnings".
  Result<nlohmann::json> Attach(const nlohmann::json& body);
  // Refused while runs are active unless force (then they are canceled).
  Result<nlohmann::json> Detach(const std::string& name, bool force);
  // Re-reads the host key (trust on first use again) after an expected change.
  Result<nlohmann::json> Trust(const std::string& name);
  // Compute instances: stop = refuse new runs, let active ones finish, then run the stop
  // command; start = run the start command, then accept runs. Both return at once; the
  // state (stopping, stopped, starting, running, failed) shows in 'compute show'.
  Result<nlohmann::json> StopInstance(const std::string& name);
  Result<nlohmann::json> StartInstance(const std::string& name);
  // Whether `user` ("" = the workspace token) may submit to `target` now: the owner rule and
  // the instance's state. Ok for other kinds.
  Status CheckSubmit(const std::string& target, const std::string& user);
  // Managed clusters: PATCH /computes/NAME
  // {"min_nodes","max_nodes","idle_seconds_before_scaledown"}.
  Result<nlohmann::json> UpdateCluster(const std::string& name, const nlohmann::json& body);
  // The workspace's quota on managed clusters: {"cluster_cores","cluster_gpus"} (-1: none).
  Result<nlohmann::json> GetQuota();
  Result<nlohmann::json> SetQuota(const nlohmann::json& body);
  // The workspace's node sizes (node_sizes.cc): {"default_provider": {...} | null, "sizes":
  // [{"name","cpus","memory_mb","gpus", and a provider of its own}]}, seeded with Azure's
  // size names until an admin changes them.
  Result<nlohmann::json> GetNodeSizes();
  Result<nlohmann::json> SetNodeSize(const std::string& name, const nlohmann::json& body);
  Result<nlohmann::json> DeleteNodeSize(const std::string& name);
  // {"provider": "netns"|"command", its commands and addresses, "low_priority"}; {} unsets it.
  Result<nlohmann::json> SetNodeProvider(const nlohmann::json& body);
  // Run-based compute (target "amlcompute"): the managed cluster `run`'s amlcompute section
  // asks for - a node size of the catalog, its priority, at most so many nodes (0: the run's
  // node count) - named as asked or after the run. A cluster of that name that exists is used
  // as it is. A new one is deleted once the run has ended, unless retain_cluster. Returns the
  // cluster's name.
  Result<std::string> CreateRunCluster(const model::Run& run);
  // Deletes `name` at once if it was made for a run (a submit that failed after making it).
  void DropRunCluster(const std::string& name);
  // Deletes, each on a worker thread, the clusters made for runs that have ended or were
  // never stored. Cheap when there are none: called every scheduler cycle.
  void ReapRunClusters();
  ~TargetManager();

 private:
  // Makes the driver of a stored target and hands it to the scheduler (replacing one of the
  // same name in place, so no scheduler cycle sees it missing).
  Status Start(const compute::KindOps& ops, const std::string& name,
               const std::string& config_json);
  Status CheckQuota(const std::string& name, int64_t cores, int64_t gpus);
  // node_sizes.json, or the seeded catalog when there is none.
  Result<nlohmann::json> ReadNodeSizes();
  // A cluster request naming "vm_size": the size's CPUs, memory and GPUs and its provider
  // (the size's own, else the workspace's default) filled in where the request has none.
  Result<nlohmann::json> ResolveNodeSize(const nlohmann::json& body);
  // Read-modify-write of the target's stored configuration: under mu_, so that it cannot
  // lose (or be lost by) another change of the same configuration, e.g. a trust.
  Status SetState(const std::string& name, const std::string& state, const std::string& reason)
      REQUIRES(mu_);
  void StopWorker(std::string name) EXCLUDES(mu_, workers_mu_);
  void StartWorker(std::string name) EXCLUDES(mu_, workers_mu_);
  // One attach/detach/trust/stop/start/update at a time. It guards no member: what it
  // serialises is the read-modify-write of targets' stored configurations.
  Mutex mu_;
  TargetManagerDeps d_;
  compute::KindHost host_;  // what the kinds' operations get of this server
  // Clusters made for runs (name -> whose, since when); filled by LoadAll from the stored
  // configurations ("for_run"), so a restart still deletes them.
  struct RunCluster {
    std::string run_id;
    double created_at = 0;
    bool reaping = false;  // a worker is deleting it
    double retry_at = 0;   // a delete refused (runs of others on it): not before then
  };
  void ReapWorker(std::string name);
  Mutex run_clusters_mu_ ACQUIRED_AFTER(mu_);
  std::map<std::string, RunCluster> run_clusters_ GUARDED_BY(run_clusters_mu_);
  Mutex workers_mu_ ACQUIRED_AFTER(mu_);
  std::vector<std::thread> workers_ GUARDED_BY(workers_mu_);
  std::atomic<bool> closing_{false};
};

}  // namespace ferry::server
