// The `cluster` kind's operations (kind.h): create a managed cluster (validate, quota, its
// directory, ports and network), start it (controller, listener, target), release it.
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/json_fields.h"
#include "compute/cluster/cluster.h"
#include "compute/cluster/provider.h"
#include "compute/slurm/slurm_target.h"

namespace ferry::compute {

using nlohmann::json;

namespace {

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

SlurmTargetConfig ClusterSlurmConfig(const ClusterConfig& c) {
  SlurmTargetConfig s;
  s.local = true;
  s.slurm_conf = c.ConfPath();
  s.shared_dir = c.dir + "/shared";
  s.server_url = c.server_url;
  s.requeue_all = c.priority == "low";
  return s;
}

// Where the command provider's nodes reach the controller and the server.
Status CommandProviderAddresses(const json& body, const KindHost& host, ClusterConfig* c) {
  FERRY_ASSIGN_OR_RETURN(c->controller_address, StringField(body, "controller_address", false));
  FERRY_ASSIGN_OR_RETURN(c->server_url, StringField(body, "server_url", false));
  const bool unreachable = BindUnreachableForNodes(host.server_bind);
  if (c->controller_address.empty()) {
    if (unreachable) {
      return Status::InvalidArgument(
          "the command provider's nodes must reach this machine: pass --controller-address "
          "ADDRESS (and --server-url URL), or start the server with --bind ADDRESS");
    }
    c->controller_address = host.server_bind;
  }
  if (c->server_url.empty()) {
    if (unreachable)
      return Status::InvalidArgument("pass --server-url URL: how the nodes reach this server");
    c->server_url = "http://" + host.server_bind + ":" + std::to_string(host.server_port());
  }
  return Status::Ok();
}

}  // namespace

Result<ProcessResult> ClusterSlurm(const ClusterConfig& c, std::vector<std::string> argv) {
  SpawnOptions so;
  so.argv = std::move(argv);
  so.env_set["SLURM_CONF"] = c.ConfPath();
  return RunProcess(so, "", 30000);
}

std::string ShortHostName() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  std::string h = host;
  return h.substr(0, h.find('.'));
}

std::shared_ptr<ComputeTarget> MakeManagedClusterTarget(const std::string& name,
                                                        const ClusterConfig& c,
                                                        const KindHost& host) {
  SlurmTargetDeps deps;  // a cluster's own controller: no login, no secret
  deps.name = name;
  deps.home = host.home;
  deps.ferry_executable = host.ferry_executable;
  deps.python_package_dir = host.python_package_dir;
  auto slurm = MakeSlurmTarget(name, ClusterSlurmConfig(c), std::move(deps));
  return std::shared_ptr<ComputeTarget>(MakeClusterTarget(c, std::move(slurm)));
}

Result<std::shared_ptr<ComputeTarget>> StartManagedCluster(const std::string& name,
                                                           const std::string& config_json,
                                                           const KindHost& host) {
  FERRY_ASSIGN_OR_RETURN(ClusterConfig c, ClusterConfig::FromJson(config_json));
  auto provider = MakeNodeProvider(c);
  FERRY_RETURN_IF_ERROR(provider->Setup());
  if (c.provider == "netns") {
    // The nodes reach this server on their bridge's host address only (never beyond the
    // machine); every request still needs a token.
    if (!host.add_listener)
      return Status::Internal("the server cannot listen for the cluster's nodes");
    FERRY_ASSIGN_OR_RETURN(int port, host.add_listener(c.controller_address));
    c.server_url = "http://" + c.controller_address + ":" + std::to_string(port);
  }
  c.ferry_executable = host.ferry_executable;  // the power programs: this server's binary
  FERRY_RETURN_IF_ERROR(WriteFileAtomic(c.dir + "/cluster.json", c.ToJson() + "\n", 0600));
  FERRY_RETURN_IF_ERROR(WriteFileAtomic(c.ConfPath(), c.SlurmConf(ShortHostName()), 0644));
  FERRY_RETURN_IF_ERROR(EnsureController(c));
  return MakeManagedClusterTarget(name, c, host);
}

Result<Attached> CreateManagedCluster(const std::string& name, const json& body,
                                      const KindHost& host) {
  ClusterConfig c;
  c.name = name;
  FERRY_ASSIGN_OR_RETURN(c.min_nodes, IntField(body, "min_nodes", 0));
  FERRY_ASSIGN_OR_RETURN(c.max_nodes, IntField(body, "max_nodes", 1));
  FERRY_ASSIGN_OR_RETURN(c.idle_seconds, IntField(body, "idle_seconds_before_scaledown", 300));
  FERRY_ASSIGN_OR_RETURN(c.cpus, IntField(body, "cpus", 1));
  FERRY_ASSIGN_OR_RETURN(c.memory_mb, IntField(body, "memory_mb", 1024));
  FERRY_ASSIGN_OR_RETURN(c.gpus, IntField(body, "gpus", 0));
  FERRY_ASSIGN_OR_RETURN(c.provider_timeout_s, IntField(body, "provider_timeout_s", 300));
  FERRY_ASSIGN_OR_RETURN(c.priority, StringField(body, "priority", false));
  if (c.priority.empty()) c.priority = "dedicated";
  FERRY_ASSIGN_OR_RETURN(c.provider, StringField(body, "provider", false));
  FERRY_ASSIGN_OR_RETURN(c.start_command, StringField(body, "start_command", false));
  FERRY_ASSIGN_OR_RETURN(c.stop_command, StringField(body, "stop_command", false));
  FERRY_ASSIGN_OR_RETURN(c.vm_size, StringField(body, "vm_size", false));
  if (auto it = body.find("single_owner"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return Status::InvalidArgument("field 'single_owner' must be a boolean");
    c.single_owner = it->get<bool>();
  }
  FERRY_ASSIGN_OR_RETURN(c.owner, StringField(body, "owner", false));
  FERRY_ASSIGN_OR_RETURN(c.for_run, StringField(body, "for_run", false));
  if (auto it = body.find("outbound"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return Status::InvalidArgument("field 'outbound' must be a boolean");
    c.outbound = it->get<bool>();
  }
  FERRY_RETURN_IF_ERROR(ValidateCluster(c));
  if (host.check_quota) {
    FERRY_RETURN_IF_ERROR(
        host.check_quota(name, int64_t{c.max_nodes} * c.cpus, int64_t{c.max_nodes} * c.gpus));
  }
  c.dir = JoinPath(host.home, "clusters/" + name);
  if (PathExists(c.dir)) {
    // What a create that crashed half-way left (the store has no such target).
    if (auto old = ReadFile(c.dir + "/cluster.json"); old.ok()) {
      if (auto oc = ClusterConfig::FromJson(*old); oc.ok()) (void)StopCluster(*oc);
    }
    FERRY_RETURN_IF_ERROR(RemoveAll(c.dir));
  }
  FERRY_RETURN_IF_ERROR(MakeDirs(c.dir, 0700));
  FERRY_ASSIGN_OR_RETURN(c.slurmctld_port, FreePort());
  if (c.provider == "netns") {
    FERRY_ASSIGN_OR_RETURN(auto net, AllocateNetnsSubnet());
    c.subnet = net.first;
    c.bridge = net.second;
    c.controller_address = c.subnet + ".1";
  } else {
    // Cloud nodes reach the controller and the server at this machine's address.
    FERRY_RETURN_IF_ERROR(CommandProviderAddresses(body, host, &c));
  }
  c.ferry_executable = host.ferry_executable;
  Attached a;
  a.config_json = c.ToJson();
  a.answer_json = json{{"cluster", json::parse(a.config_json)}}.dump();
  std::string size = std::to_string(c.cpus) + "," + std::to_string(c.memory_mb) +
                     (c.gpus > 0 ? "," + std::to_string(c.gpus) : "");
  a.summary = "created cluster " + name + ": " + std::to_string(c.min_nodes) + "-" +
              std::to_string(c.max_nodes) + " nodes of " +
              (c.vm_size.empty() ? size : c.vm_size + " (" + size + ")") + ", " + c.provider +
              " provider";
  return a;
}

Status ReleaseManagedCluster(const std::string& name, const std::string& config_json) {
  FERRY_ASSIGN_OR_RETURN(ClusterConfig c, ClusterConfig::FromJson(config_json));
  Status st = StopCluster(c);
  if (!st.ok()) spdlog::warn("deleting cluster {}: {}", name, st.ToString());
  return c.dir.empty() ? Status::Ok() : RemoveAll(c.dir);
}

}  // namespace ferry::compute
