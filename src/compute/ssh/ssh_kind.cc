// The `ssh` and `instance` kinds' operations (kind.h): attach (probe the host, seal the
// secret), make the driver, trust the host key again.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/json_fields.h"
#include "common/seal.h"
#include "compute/ssh/ssh_target.h"

namespace ferry::compute {

using nlohmann::json;

SshEndpoint ProbeEndpoint(const KindHost& host, const std::string& name, const std::string& address,
                          int port, const std::string& user, const std::string& key_file,
                          const std::string& secret) {
  SshEndpoint ep;
  ep.host = address;
  ep.port = port;
  ep.user = user;
  ep.key_file = key_file;
  ep.secret = secret;
  ep.known_hosts = JoinPath(host.home, "ssh/" + name + ".known_hosts.probe");
  ep.control_dir = SshControlDir(host.home);
  ep.askpass = host.ferry_executable;
  return ep;
}

Result<SshAuth> ParseSshAuth(const json& body) {
  SshAuth a;
  FERRY_ASSIGN_OR_RETURN(a.key_file, StringField(body, "key_file", false));
  FERRY_ASSIGN_OR_RETURN(a.password, StringField(body, "password", false));
  FERRY_ASSIGN_OR_RETURN(a.passphrase, StringField(body, "passphrase", false));
  if (a.key_file.empty() == a.password.empty()) {
    return Status::InvalidArgument(
        "give exactly one of a key file (--key) or a password (--password-file)");
  }
  if (!a.passphrase.empty() && a.key_file.empty()) {
    return Status::InvalidArgument(
        "a passphrase goes with a key file (--key), not with a password");
  }
  if (!a.key_file.empty()) {
    if (a.key_file[0] != '/')
      return Status::InvalidArgument(
          "field 'key_file' must be an absolute path on the server's machine");
    if (::access(a.key_file.c_str(), R_OK) != 0) {
      return Status::InvalidArgument("the key file " + a.key_file +
                                     " cannot be read by the server (" + std::strerror(errno) +
                                     ")");
    }
  }
  return a;
}

Result<Attached> AttachSshHost(const std::string& name, const json& body, const KindHost& host) {
  SshTargetConfig c;
  FERRY_ASSIGN_OR_RETURN(c.kind, StringField(body, "kind", true));
  FERRY_ASSIGN_OR_RETURN(c.host, StringField(body, "host", true));
  FERRY_ASSIGN_OR_RETURN(c.user, StringField(body, "user", true));
  FERRY_ASSIGN_OR_RETURN(std::string remote_dir, StringField(body, "remote_dir", false));
  if (c.kind == "instance") {
    FERRY_ASSIGN_OR_RETURN(c.owner, StringField(body, "owner", false));
    FERRY_ASSIGN_OR_RETURN(c.stop_command, StringField(body, "stop_command", false));
    FERRY_ASSIGN_OR_RETURN(c.start_command, StringField(body, "start_command", false));
    if (!c.owner.empty() && !(host.user_exists && host.user_exists(c.owner))) {
      return Status::InvalidArgument("owner '" + c.owner +
                                     "' is not a user; create it with 'ferry user add'");
    }
  }
  if (!remote_dir.empty()) c.remote_dir = remote_dir;
  FERRY_ASSIGN_OR_RETURN(c.port, PortField(body, "port", 22));
  if (auto it = body.find("max_concurrent_runs"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || *it < 1 || *it > 1024) {
      return Status::InvalidArgument("field 'max_concurrent_runs' must be 1-1024, got " +
                                     it->dump());
    }
    c.max_concurrent_runs = it->get<int>();
  }
  FERRY_ASSIGN_OR_RETURN(SshAuth auth, ParseSshAuth(body));
  c.key_file = auth.key_file;
  const std::string& secret = auth.secret();
  FERRY_RETURN_IF_ERROR(MakeDirs(JoinPath(host.home, "ssh"), 0700));
  SshEndpoint ep = ProbeEndpoint(host, name, c.host, c.port, c.user, c.key_file, secret);
  auto probe = ProbeSshHost(ep, c.remote_dir);
  (void)RemoveAll(ep.known_hosts);
  if (!probe.ok()) return probe.status().WithContext("attaching '" + name + "'");
  c.known_hosts = probe->known_hosts;
  c.facts_json = probe->facts_json;
  if (!secret.empty()) c.secret_sealed = host.sealer->Seal(secret);

  Attached a;
  a.config_json = c.ToJson();
  json facts = json::parse(c.facts_json, nullptr, false);
  a.answer_json = json{{"facts", facts}}.dump();
  a.warnings = probe->warnings;
  if (!auth.password.empty()) {
    a.warnings.push_back(
        "a password is used: SSH keys are preferred (ssh-keygen, ssh-copy-id, then attach with "
        "--key)");
  }
  if (!facts.is_object()) facts = json::object();
  char line[512];
  std::snprintf(
      line, sizeof line,
      "%s %s: %s@%s:%d, %s %s, %d CPUs, %.1f GiB free, %zu Python interpreter(s), %zu GPU(s)",
      c.kind == "instance" ? "created instance" : "attached", name.c_str(), c.user.c_str(),
      c.host.c_str(), c.port, facts.value("os", "?").c_str(), facts.value("arch", "?").c_str(),
      facts.value("cpus", 0), facts.value("disk_free_gib", 0.0),
      facts.contains("pythons") ? facts["pythons"].size() : size_t{0},
      facts.contains("gpus") ? facts["gpus"].size() : size_t{0});
  a.summary = line;
  return a;
}

Result<std::shared_ptr<ComputeTarget>> MakeSshHostTarget(const std::string& name,
                                                         const std::string& config_json,
                                                         const KindHost& host) {
  FERRY_ASSIGN_OR_RETURN(SshTargetConfig c, SshTargetConfig::FromJson(config_json));
  SshTargetDeps deps;
  deps.home = host.home;
  deps.ferry_executable = host.ferry_executable;
  deps.python_package_dir = host.python_package_dir;
  deps.server_port = host.server_port;
  deps.server_address = ReverseTunnelAddress(host.server_bind);
  if (!c.secret_sealed.empty()) {
    auto plain = host.sealer->Unseal(c.secret_sealed);
    if (!plain.ok()) return plain.status().WithContext("compute target '" + name + "'");
    deps.secret = std::move(plain).value();
  }
  std::shared_ptr<ComputeTarget> t = MakeSshTarget(name, c, std::move(deps));
  if (c.kind == "instance" && c.state != "running")
    t->SetPaused(PausedReason(name, c.state, c.state_reason));
  return t;
}

Result<Trusted> TrustSshHost(const std::string& name, const std::string& config_json,
                             const KindHost& host) {
  FERRY_ASSIGN_OR_RETURN(SshTargetConfig c, SshTargetConfig::FromJson(config_json));
  std::string secret;
  if (!c.secret_sealed.empty()) {
    FERRY_ASSIGN_OR_RETURN(secret, host.sealer->Unseal(c.secret_sealed));
  }
  SshEndpoint ep = ProbeEndpoint(host, name, c.host, c.port, c.user, c.key_file, secret);
  auto probe = ProbeSshHost(ep, c.remote_dir);
  (void)RemoveAll(ep.known_hosts);
  if (!probe.ok()) return probe.status().WithContext("trusting '" + name + "'");
  Trusted t;
  t.changed = c.known_hosts != probe->known_hosts;
  c.known_hosts = probe->known_hosts;
  c.facts_json = probe->facts_json;
  t.config_json = c.ToJson();
  t.known_hosts = c.known_hosts;
  return t;
}

}  // namespace ferry::compute
