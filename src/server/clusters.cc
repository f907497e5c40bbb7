// Managed clusters (kind "cluster"): what only they have beyond the kind table's operations
// (compute/cluster/cluster_kind.cc): a size that changes (PATCH /computes/NAME) and the
// workspace's quota on their cores and GPUs.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "common/fs.h"
#include "common/json_fields.h"
#include "common/subprocess.h"
#include "compute/cluster/cluster.h"
#include "compute/cluster/provider.h"
#include "server/targets.h"

namespace ferry::server {

using nlohmann::json;

Result<json> TargetManager::UpdateCluster(const std::string& name, const json& body) {
  MutexLock lock(&mu_);
  FERRY_ASSIGN_OR_RETURN(model::ComputeTargetRecord rec, d_.store->GetTarget(name));
  if (rec.kind != "cluster") {  // a request only this kind has (PATCH /computes/NAME)
    return Status::InvalidArgument("compute target '" + name + "' is a " + rec.kind +
                                   " target, not a managed cluster");
  }
  FERRY_ASSIGN_OR_RETURN(compute::ClusterConfig old,
                         compute::ClusterConfig::FromJson(rec.config_json));
  auto file = ReadFile(old.dir + "/cluster.json");  // the running configuration (server URL, ...)
  if (file.ok()) {
    if (auto f = compute::ClusterConfig::FromJson(*file); f.ok()) old = *f;
  }
  compute::ClusterConfig c = old;
  FERRY_ASSIGN_OR_RETURN(c.min_nodes, IntField(body, "min_nodes", old.min_nodes));
  FERRY_ASSIGN_OR_RETURN(c.max_nodes, IntField(body, "max_nodes", old.max_nodes));
  FERRY_ASSIGN_OR_RETURN(c.idle_seconds,
                         IntField(body, "idle_seconds_before_scaledown", old.idle_seconds));
  FERRY_RETURN_IF_ERROR(compute::ValidateCluster(c));
  FERRY_RETURN_IF_ERROR(
      CheckQuota(name, int64_t{c.max_nodes} * c.cpus, int64_t{c.max_nodes} * c.gpus));
  if (c.max_nodes < old.max_nodes) {
    // Nodes that go away must not hold jobs: running work is never lost to an update.
    FERRY_ASSIGN_OR_RETURN(
        ProcessResult q,
        compute::ClusterSlurm(
            old, {"squeue", "-h", "-t", "RUNNING,CONFIGURING,COMPLETING", "-o", "%i|%N"}));
    std::istringstream in(q.out);
    for (std::string line; std::getline(in, line);) {
      auto bar = line.find('|');
      if (bar == std::string::npos) continue;
      auto nodes =
          compute::ClusterSlurm(old, {"scontrol", "show", "hostnames", line.substr(bar + 1)});
      if (!nodes.ok()) continue;
      std::istringstream ns(nodes->out);
      for (std::string n; std::getline(ns, n);) {
        if (old.NodeIndex(n) > c.max_nodes) {
          return Status::FailedPrecondition("node " + n + " runs Slurm job " + line.substr(0, bar) +
                                            "; --max-nodes " + std::to_string(c.max_nodes) +
                                            " would remove it: wait for the job or cancel "
                                            "its run first");
        }
      }
    }
  }
  const bool nodes_changed = c.max_nodes != old.max_nodes;
  FERRY_RETURN_IF_ERROR(d_.store->UpdateTargetConfig(name, c.ToJson()));
  FERRY_RETURN_IF_ERROR(WriteFileAtomic(c.dir + "/cluster.json", c.ToJson() + "\n", 0600));
  FERRY_RETURN_IF_ERROR(WriteFileAtomic(c.ConfPath(), c.SlurmConf(compute::ShortHostName()), 0644));
  FERRY_RETURN_IF_ERROR(compute::MakeNodeProvider(c)->Setup());  // the nodes' hosts file
  FERRY_RETURN_IF_ERROR(compute::ApplyNodeChanges(c));
  FERRY_RETURN_IF_ERROR(compute::ReloadController(c, nodes_changed));
  // The target's description (size) follows.
  d_.scheduler->RemoveTarget(name);
  d_.scheduler->AddTarget(compute::MakeManagedClusterTarget(name, c, host_));
  d_.scheduler->Wake();
  return json{{"name", name}, {"cluster", json::parse(c.ToJson())}};
}

// The workspace's limit on cores and GPUs across managed clusters (at their maximum size).
Status TargetManager::CheckQuota(const std::string& name, int64_t cores, int64_t gpus) {
  auto q = GetQuota();
  if (!q.ok()) return q.status();
  int64_t max_cores = q->value("cluster_cores", int64_t{-1}),
          max_gpus = q->value("cluster_gpus", int64_t{-1});
  if (max_cores < 0 && max_gpus < 0) return Status::Ok();
  auto list = d_.store->ListTargets();
  if (!list.ok()) return list.status();
  for (auto& t : *list) {
    if (t.kind != "cluster" || t.name == name) continue;
    auto o = compute::ClusterConfig::FromJson(t.config_json);
    if (!o.ok()) continue;
    cores += int64_t{o->max_nodes} * o->cpus;
    gpus += int64_t{o->max_nodes} * o->gpus;
  }
  if (max_cores >= 0 && cores > max_cores) {
    return Status::FailedPrecondition(
        "the workspace's quota is " + std::to_string(max_cores) +
        " cores across managed clusters; this would make " + std::to_string(cores) +
        " (max nodes x CPUs per node, all clusters); lower --max-nodes or raise the quota "
        "with 'ferry quota set --cores N'");
  }
  if (max_gpus >= 0 && gpus > max_gpus) {
    return Status::FailedPrecondition(
        "the workspace's quota is " + std::to_string(max_gpus) +
        " GPUs across managed clusters; this would make " + std::to_string(gpus) +
        "; lower --max-nodes or raise the quota with 'ferry quota set --gpus N'");
  }
  return Status::Ok();
}

Result<json> TargetManager::GetQuota() {
  auto text = ReadFile(JoinPath(d_.home, "quota.json"));
  if (!text.ok()) return json{{"cluster_cores", -1}, {"cluster_gpus", -1}};
  json j = json::parse(*text, nullptr, false);
  if (!j.is_object())
    return Status::Corruption(JoinPath(d_.home, "quota.json") + " is not a JSON object");
  return j;
}

Result<json> TargetManager::SetQuota(const json& body) {
  MutexLock lock(&mu_);
  FERRY_ASSIGN_OR_RETURN(json q, GetQuota());
  for (const char* key : {"cluster_cores", "cluster_gpus"}) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) continue;
    if (!it->is_number_integer() || *it < -1) {
      return Status::InvalidArgument("field '" + std::string(key) +
                                     "' must be an integer >= 0 (-1: no limit)");
    }
    q[key] = *it;
  }
  FERRY_RETURN_IF_ERROR(WriteFileAtomic(JoinPath(d_.home, "quota.json"), q.dump() + "\n", 0600));
  return q;
}

}  // namespace ferry::server
