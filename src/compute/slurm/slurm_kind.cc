// The `slurm` kind's operations (kind.h): attach (login node over SSH or local commands,
// probe Slurm), make the driver, trust the login node's host key again.
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/seal.h"
#include "compute/slurm/slurm_target.h"
#include "compute/ssh/ssh_target.h"

namespace ferry::compute {

using nlohmann::json;

namespace {

Result<SlurmTargetDeps> SlurmDeps(const std::string& name, const SlurmTargetConfig& c,
                                  const KindHost& host) {
  SlurmTargetDeps deps;
  deps.name = name;
  deps.home = host.home;
  deps.ferry_executable = host.ferry_executable;
  deps.python_package_dir = host.python_package_dir;
  if (!c.secret_sealed.empty()) {
    auto plain = host.sealer->Unseal(c.secret_sealed);
    if (!plain.ok()) return plain.status().WithContext("compute target '" + name + "'");
    deps.secret = std::move(plain).value();
  }
  return deps;
}

// --local or --login USER@HOST (with its port and credentials).
Status ParseLogin(const json& body, SlurmTargetConfig* c, SshAuth* auth) {
  FERRY_ASSIGN_OR_RETURN(std::string login, BodyString(body, "login", false));
  auto local = body.find("local");
  if (local != body.end() && !local->is_null() && !local->is_boolean()) {
    return Status::InvalidArgument("field 'local' must be true or false");
  }
  // Without "local", the login decides (a request with neither is local, as it always was).
  c->local = local != body.end() && local->is_boolean() ? local->get<bool>() : login.empty();
  if (c->local == !login.empty()) {
    return Status::InvalidArgument("give exactly one of --local or --login USER@HOST");
  }
  if (c->local) return Status::Ok();
  // The Slurm commands run on a login node over SSH; the shared directory is the cluster's.
  auto at = login.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == login.size()) {
    return Status::InvalidArgument("field 'login': '" + login + "' is not USER@HOST");
  }
  c->login_user = login.substr(0, at);
  c->login_host = login.substr(at + 1);
  FERRY_ASSIGN_OR_RETURN(c->login_port, BodyPort(body, "port", 22));
  FERRY_ASSIGN_OR_RETURN(*auth, ParseSshAuth(body));
  c->key_file = auth->key_file;
  return Status::Ok();
}

std::string Summary(const std::string& name, const json& facts) {
  std::string parts;
  if (facts.is_object() && facts.contains("partitions") && facts["partitions"].is_object()) {
    for (auto& [p, v] : facts["partitions"].items()) {
      parts +=
          (parts.empty() ? "" : ", ") + p + " (" + std::to_string(v.value("nodes", 0)) + " nodes)";
    }
  }
  return "attached " + name + ": Slurm " +
         (facts.is_object() ? facts.value("SLURM_VERSION", "?") : "?") + ", partitions " + parts;
}

}  // namespace

Result<Attached> AttachSlurmCluster(const std::string& name, const json& body,
                                    const KindHost& host) {
  SlurmTargetConfig c;
  SshAuth auth;
  FERRY_RETURN_IF_ERROR(ParseLogin(body, &c, &auth));
  FERRY_ASSIGN_OR_RETURN(c.partition, BodyString(body, "partition", false));
  FERRY_ASSIGN_OR_RETURN(c.account, BodyString(body, "account", false));
  FERRY_ASSIGN_OR_RETURN(c.qos, BodyString(body, "qos", false));
  FERRY_ASSIGN_OR_RETURN(c.low_priority_partition,
                         BodyString(body, "low_priority_partition", false));
  FERRY_ASSIGN_OR_RETURN(c.low_priority_qos, BodyString(body, "low_priority_qos", false));
  if (!c.low_priority_partition.empty() && !c.low_priority_qos.empty()) {
    return Status::InvalidArgument(
        "give at most one of a low-priority partition or a low-priority QOS");
  }
  FERRY_ASSIGN_OR_RETURN(c.shared_dir, BodyString(body, "shared_dir", true));
  if (c.shared_dir.empty() || c.shared_dir[0] != '/') {
    return Status::InvalidArgument(
        "field 'shared_dir' must be an absolute path that every node sees");
  }
  FERRY_ASSIGN_OR_RETURN(c.server_url, BodyString(body, "server_url", false));
  if (c.server_url.empty()) {
    if (BindUnreachableForNodes(host.server_bind)) {
      return Status::InvalidArgument(
          "the cluster's nodes must reach this server: start it with 'ferry server --bind ADDRESS' "
          "on an address the "
          "nodes can reach (then that address is used), or pass --server-url URL");
    }
    c.server_url = ServerUrl(host.server_bind, host.server_port());
    c.server_url_auto = true;
  }
  Attached a;
  if (!c.local) {
    // The login node first: its host key (trust on first use), Linux on this server's CPU
    // architecture (the agent is copied from here), the shared directory writable.
    FERRY_RETURN_IF_ERROR(MakeDirs(JoinPath(host.home, "ssh"), 0700));
    SshEndpoint ep = ProbeEndpoint(host, name, c.login_host, c.login_port, c.login_user, c.key_file,
                                   auth.secret());
    auto probe = ProbeSshHost(ep, c.shared_dir);
    (void)RemoveAll(ep.known_hosts);
    if (!probe.ok()) return probe.status().WithContext("attaching '" + name + "'");
    c.known_hosts = probe->known_hosts;
    if (!auth.secret().empty()) c.secret_sealed = host.sealer->Seal(auth.secret());
    if (!auth.password.empty()) {
      a.warnings.push_back(
          "a password is used: SSH keys are preferred (ssh-keygen, ssh-copy-id, then attach with "
          "--key)");
    }
  }
  FERRY_ASSIGN_OR_RETURN(SlurmTargetDeps deps, SlurmDeps(name, c, host));
  auto shell = MakeSlurmShell(c, deps);
  auto facts = ProbeSlurm(c, shell);
  if (!facts.ok()) return facts.status().WithContext("attaching '" + name + "'");
  c.facts_json = *facts;
  a.config_json = c.ToJson();
  json f = json::parse(c.facts_json, nullptr, false);
  a.answer_json = json{{"facts", f}}.dump();
  a.summary = Summary(name, f);
  return a;
}

Result<std::shared_ptr<ComputeTarget>> MakeSlurmClusterTarget(const std::string& name,
                                                              const std::string& config_json,
                                                              const KindHost& host) {
  FERRY_ASSIGN_OR_RETURN(SlurmTargetConfig c, SlurmTargetConfig::FromJson(config_json));
  // The server may listen on another port than when the target was attached (--port 0).
  if (c.server_url_auto) c.server_url = ServerUrl(host.server_bind, host.server_port());
  FERRY_ASSIGN_OR_RETURN(SlurmTargetDeps deps, SlurmDeps(name, c, host));
  return std::shared_ptr<ComputeTarget>(MakeSlurmTarget(name, c, std::move(deps)));
}

// A Slurm cluster reached through a login node: its host key read again (trust on first use).
Result<Trusted> TrustSlurmLogin(const std::string& name, const std::string& config_json,
                                const KindHost& host) {
  FERRY_ASSIGN_OR_RETURN(SlurmTargetConfig c, SlurmTargetConfig::FromJson(config_json));
  if (c.local)
    return Status::InvalidArgument("compute target '" + name +
                                   "' runs Slurm's commands locally: no host key to trust");
  FERRY_ASSIGN_OR_RETURN(SlurmTargetDeps deps, SlurmDeps(name, c, host));
  SshEndpoint ep =
      ProbeEndpoint(host, name, c.login_host, c.login_port, c.login_user, c.key_file, deps.secret);
  auto probe = ProbeSshHost(ep, c.shared_dir);
  (void)RemoveAll(ep.known_hosts);
  if (!probe.ok()) return probe.status().WithContext("trusting '" + name + "'");
  Trusted t;
  t.changed = c.known_hosts != probe->known_hosts;
  c.known_hosts = probe->known_hosts;
  t.config_json = c.ToJson();
  t.known_hosts = c.known_hosts;
  return t;
}

}  // namespace ferry::compute
