// Managed clusters (kind "cluster"): create, start at server start, update, delete.
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/subprocess.h"
#include "compute/cluster/cluster.h"
#include "compute/cluster/provider.h"
#include "server/targets.h"

namespace ferry::server {

using nlohmann::json;

namespace {

Result<int> IntField(const json& body, const char* key, int fallback) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_number_integer())
    return Status::InvalidArgument("field '" + std::string(key) + "' must be an integer");
  return it->get<int>();
}

Result<std::string> StringField(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::string();
  if (!it->is_string())
    return Status::InvalidArgument("field '" + std::string(key) + "' must be a string");
  return it->get<std::string>();
}

// A TCP port free on this machine now (for slurmctld).
Result<int> FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket", "", errno);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    int e = errno;
    ::close(fd);
    return ErrnoStatus("bind", "a port for slurmctld", e);
  }
  ::close(fd);
  return static_cast<int>(ntohs(a.sin_port));
}

std::string ShortHostName() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  std::string h = host;
  return h.substr(0, h.find('.'));
}

// Runs a Slurm command of the cluster.
Result<ProcessResult> ClusterSlurm(const compute::ClusterConfig& c, std::vector<std::string> argv) {
  SpawnOptions so;
  so.argv = std::move(argv);
  so.env_set["SLURM_CONF"] = c.ConfPath();
  return RunProcess(so, "", 30000);
}

}  // namespace

compute::SlurmTargetConfig TargetManager::ClusterSlurmConfig(const compute::ClusterConfig& c) {
  compute::SlurmTargetConfig s;
  s.local = true;
  s.slurm_conf = c.ConfPath();
  s.shared_dir = c.dir + "/shared";
  s.server_url = c.server_url;
  s.requeue_all = c.priority == "low";
  return s;
}

// The cluster's target: the Slurm target of its controller, with its autoscaler.
void TargetManager::AddClusterTarget(const std::string& name, const compute::ClusterConfig& c) {
  compute::SlurmTargetDeps deps;
  deps.name = name;
  deps.home = d_.home;
  deps.ferry_executable = d_.ferry_executable;
  deps.python_package_dir = d_.python_package_dir;
  auto slurm = compute::MakeSlurmTarget(name, ClusterSlurmConfig(c), std::move(deps));
  d_.scheduler->AddTarget(
      std::shared_ptr<compute::ComputeTarget>(compute::MakeClusterTarget(c, std::move(slurm))));
}

// Brings the cluster's network, the server's listener for its nodes, and its controller up
// (all idempotent), then registers its target.
Status TargetManager::StartCluster(const std::string& name, const std::string& config_json) {
  FERRY_ASSIGN_OR_RETURN(compute::ClusterConfig c, compute::ClusterConfig::FromJson(config_json));
  auto provider = compute::MakeNodeProvider(c);
  FERRY_RETURN_IF_ERROR(provider->Setup());
  if (c.provider == "netns") {
    // The nodes reach this server on their bridge's host address only (never beyond the
    // machine); every request still needs a token.
    if (!d_.add_listener)
      return Status::Internal("the server cannot listen for the cluster's nodes");
    FERRY_ASSIGN_OR_RETURN(int port, d_.add_listener(c.controller_address));
    c.server_url = "http://" + c.controller_address + ":" + std::to_string(port);
  }
  c.ferry_executable = d_.ferry_executable;  // the power programs: this server's binary
  FERRY_RETURN_IF_ERROR(WriteFileAtomic(c.dir + "/cluster.json", c.ToJson() + "\n", 0600));
  FERRY_RETURN_IF_ERROR(WriteFileAtomic(c.ConfPath(), c.SlurmConf(ShortHostName()), 0644));
  FERRY_RETURN_IF_ERROR(compute::EnsureController(c));
  AddClusterTarget(name, c);
  return Status::Ok();
}

Result<json> TargetManager::CreateCluster(const std::string& name, const json& body) {
  compute::ClusterConfig c;
  c.name = name;
  FERRY_ASSIGN_OR_RETURN(c.min_nodes, IntField(body, "min_nodes", 0));
  FERRY_ASSIGN_OR_RETURN(c.max_nodes, IntField(body, "max_nodes", 1));
  FERRY_ASSIGN_OR_RETURN(c.idle_seconds, IntField(body, "idle_seconds_before_scaledown", 300));
  FERRY_ASSIGN_OR_RETURN(c.cpus, IntField(body, "cpus", 1));
  FERRY_ASSIGN_OR_RETURN(c.memory_mb, IntField(body, "memory_mb", 1024));
  FERRY_ASSIGN_OR_RETURN(c.gpus, IntField(body, "gpus", 0));
  FERRY_ASSIGN_OR_RETURN(c.provider_timeout_s, IntField(body, "provider_timeout_s", 300));
  FERRY_ASSIGN_OR_RETURN(c.priority, StringField(body, "priority"));
  if (c.priority.empty()) c.priority = "dedicated";
  FERRY_ASSIGN_OR_RETURN(c.provider, StringField(body, "provider"));
  FERRY_ASSIGN_OR_RETURN(c.start_command, StringField(body, "start_command"));
  FERRY_ASSIGN_OR_RETURN(c.stop_command, StringField(body, "stop_command"));
  FERRY_RETURN_IF_ERROR(compute::ValidateCluster(c));
  FERRY_RETURN_IF_ERROR(CheckQuota(name, c));
  c.dir = JoinPath(d_.home, "clusters/" + name);
  if (PathExists(c.dir)) {
    // What a create that crashed half-way left (the store has no such target).
    if (auto old = ReadFile(c.dir + "/cluster.json"); old.ok()) {
      if (auto oc = compute::ClusterConfig::FromJson(*old); oc.ok())
        (void)compute::StopCluster(*oc);
    }
    FERRY_RETURN_IF_ERROR(RemoveAll(c.dir));
  }
  FERRY_RETURN_IF_ERROR(MakeDirs(c.dir, 0700));
  FERRY_ASSIGN_OR_RETURN(c.slurmctld_port, FreePort());
  if (c.provider == "netns") {
    FERRY_ASSIGN_OR_RETURN(auto net, compute::AllocateNetnsSubnet());
    c.subnet = net.first;
    c.bridge = net.second;
    c.controller_address = c.subnet + ".1";
  } else {
    // Cloud nodes reach the controller and the server at this machine's address.
    FERRY_ASSIGN_OR_RETURN(c.controller_address, StringField(body, "controller_address"));
    FERRY_ASSIGN_OR_RETURN(c.server_url, StringField(body, "server_url"));
    const std::string& b = d_.server_bind;
    bool loopback = b.empty() || b == "127.0.0.1" || b == "::1" || b == "localhost" ||
                    b == "0.0.0.0" || b == "::";
    if (c.controller_address.empty()) {
      if (loopback) {
        return Status::InvalidArgument(
            "the command provider's nodes must reach this machine: pass --controller-address "
            "ADDRESS (and --server-url URL), or start the server with --bind ADDRESS");
      }
      c.controller_address = b;
    }
    if (c.server_url.empty()) {
      if (loopback)
        return Status::InvalidArgument("pass --server-url URL: how the nodes reach this server");
      c.server_url = "http://" + b + ":" + std::to_string(d_.server_port());
    }
  }
  c.ferry_executable = d_.ferry_executable;
  FERRY_RETURN_IF_ERROR(d_.store->CreateTarget({name, "cluster", c.ToJson(), d_.clock->Now()}));
  Status st = StartCluster(name, c.ToJson());
  if (!st.ok()) {
    d_.scheduler->RemoveTarget(name);
    (void)compute::StopCluster(c);
    (void)d_.store->DeleteTarget(name);
    (void)RemoveAll(c.dir);
    return st.WithContext("creating cluster '" + name + "'");
  }
  return json{{"name", name},
              {"kind", "cluster"},
              {"cluster", json::parse(c.ToJson())},
              {"warnings", json::array()}};
}

Result<json> TargetManager::UpdateCluster(const std::string& name, const json& body) {
  std::lock_guard lock(mu_);
  FERRY_ASSIGN_OR_RETURN(model::ComputeTargetRecord rec, d_.store->GetTarget(name));
  if (rec.kind != "cluster") {
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
  FERRY_RETURN_IF_ERROR(CheckQuota(name, c));
  if (c.max_nodes < old.max_nodes) {
    // Nodes that go away must not hold jobs: running work is never lost to an update.
    FERRY_ASSIGN_OR_RETURN(
        ProcessResult q,
        ClusterSlurm(old, {"squeue", "-h", "-t", "RUNNING,CONFIGURING,COMPLETING", "-o", "%i|%N"}));
    std::istringstream in(q.out);
    for (std::string line; std::getline(in, line);) {
      auto bar = line.find('|');
      if (bar == std::string::npos) continue;
      auto nodes = ClusterSlurm(old, {"scontrol", "show", "hostnames", line.substr(bar + 1)});
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
  FERRY_RETURN_IF_ERROR(WriteFileAtomic(c.ConfPath(), c.SlurmConf(ShortHostName()), 0644));
  FERRY_RETURN_IF_ERROR(compute::MakeNodeProvider(c)->Setup());  // the nodes' hosts file
  FERRY_RETURN_IF_ERROR(compute::ApplyNodeChanges(c));
  FERRY_RETURN_IF_ERROR(compute::ReloadController(c, nodes_changed));
  // The target's description (size) follows.
  d_.scheduler->RemoveTarget(name);
  AddClusterTarget(name, c);
  d_.scheduler->Wake();
  return json{{"name", name}, {"cluster", json::parse(c.ToJson())}};
}

Status TargetManager::DeleteCluster(const model::ComputeTargetRecord& rec) {
  FERRY_ASSIGN_OR_RETURN(compute::ClusterConfig c,
                         compute::ClusterConfig::FromJson(rec.config_json));
  Status st = compute::StopCluster(c);
  if (!st.ok()) spdlog::warn("deleting cluster {}: {}", rec.name, st.ToString());
  return RemoveAll(c.dir);
}

// The workspace's limit on cores and GPUs across managed clusters (at their maximum size).
Status TargetManager::CheckQuota(const std::string& name, const compute::ClusterConfig& c) {
  auto q = GetQuota();
  if (!q.ok()) return q.status();
  int64_t max_cores = q->value("cluster_cores", int64_t{-1}),
          max_gpus = q->value("cluster_gpus", int64_t{-1});
  if (max_cores < 0 && max_gpus < 0) return Status::Ok();
  int64_t cores = int64_t{c.max_nodes} * c.cpus, gpus = int64_t{c.max_nodes} * c.gpus;
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
  std::lock_guard lock(mu_);
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
