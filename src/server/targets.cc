// Remote target lifecycle.
#include "server/targets.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/subprocess.h"
#include "compute/slurm/slurm_target.h"
#include "compute/ssh/ssh_target.h"
#include "model/run_options.h"

namespace ferry::server {

using nlohmann::json;

namespace {

Result<std::string> Field(const json& j, const char* key, bool required) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return Status::InvalidArgument("field '" + std::string(key) + "' is required");
    return std::string();
  }
  if (!it->is_string())
    return Status::InvalidArgument("field '" + std::string(key) + "' must be a string");
  return it->get<std::string>();
}

std::string PausedReason(const std::string& name, const std::string& state,
                         const std::string& reason) {
  if (state == "stopping")
    return "compute instance '" + name + "' is stopping (active runs finish first)";
  if (state == "stopped")
    return "compute instance '" + name + "' is stopped; start it with 'ferry compute start " +
           name + "'";
  if (state == "starting") return "compute instance '" + name + "' is starting";
  if (state == "failed") return "compute instance '" + name + "': " + reason;
  return "";
}

// Runs a stop/start command on the server's machine; the error carries its output's tail.
Status RunAdminCommand(const std::string& what, const std::string& command) {
  if (command.empty()) return Status::Ok();
  SpawnOptions so;
  so.argv = {"/bin/sh", "-c", command};
  auto r = RunProcess(so, "", 600000);
  if (!r.ok()) return r.status();
  if (r->timed_out) return Status::Unavailable(what + " command did not finish within 600 s");
  if (r->exit_code != 0) {
    std::string out = r->err.empty() ? r->out : r->err;
    if (out.size() > 500) out = out.substr(out.size() - 500);
    return Status::FailedPrecondition(what + " command failed with exit code " +
                                      std::to_string(r->exit_code) + ": " + out);
  }
  return Status::Ok();
}

// The SSH credentials of an attach request: a key file (preferred, maybe with a passphrase)
// or a password, never both.
struct SshAuth {
  std::string key_file, password, passphrase;
  const std::string& secret() const { return password.empty() ? passphrase : password; }
};

Result<SshAuth> ParseSshAuth(const json& body) {
  SshAuth a;
  FERRY_ASSIGN_OR_RETURN(a.key_file, Field(body, "key_file", false));
  FERRY_ASSIGN_OR_RETURN(a.password, Field(body, "password", false));
  FERRY_ASSIGN_OR_RETURN(a.passphrase, Field(body, "passphrase", false));
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

Result<int> PortField(const json& body, const char* key, int fallback) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_number_integer() || *it < 1 || *it > 65535) {
    return Status::InvalidArgument("field '" + std::string(key) + "' must be 1-65535");
  }
  return it->get<int>();
}

}  // namespace

// An endpoint for probing a host at attach/trust time: a throwaway known_hosts (the key seen
// is then stored with the target).
compute::SshEndpoint TargetManager::ProbeEndpoint(const std::string& name, const std::string& host,
                                                  int port, const std::string& user,
                                                  const std::string& key_file,
                                                  const std::string& secret) {
  compute::SshEndpoint ep;
  ep.host = host;
  ep.port = port;
  ep.user = user;
  ep.key_file = key_file;
  ep.secret = secret;
  ep.known_hosts = JoinPath(d_.home, "ssh/" + name + ".known_hosts.probe");
  ep.control_dir = compute::SshControlDir(d_.home);
  ep.askpass = d_.ferry_executable;
  return ep;
}

Status TargetManager::Start(const std::string& name, const std::string& config_json) {
  FERRY_ASSIGN_OR_RETURN(compute::SshTargetConfig c,
                         compute::SshTargetConfig::FromJson(config_json));
  compute::SshTargetDeps deps;
  deps.home = d_.home;
  deps.ferry_executable = d_.ferry_executable;
  deps.python_package_dir = d_.python_package_dir;
  deps.server_port = d_.server_port;
  if (!c.secret_sealed.empty()) {
    auto plain = d_.sealer->Unseal(c.secret_sealed);
    if (!plain.ok()) return plain.status().WithContext("compute target '" + name + "'");
    deps.secret = std::move(plain).value();
  }
  std::shared_ptr<compute::ComputeTarget> t = compute::MakeSshTarget(name, c, std::move(deps));
  if (c.kind == "instance" && c.state != "running")
    t->SetPaused(PausedReason(name, c.state, c.state_reason));
  d_.scheduler->AddTarget(std::move(t));
  if (c.kind == "instance" && (c.state == "stopping" || c.state == "starting")) {
    // A server restart interrupted a stop or a start: carry it on.
    std::lock_guard lock(workers_mu_);
    if (c.state == "stopping")
      workers_.emplace_back(&TargetManager::StopWorker, this, name);
    else
      workers_.emplace_back(&TargetManager::StartWorker, this, name);
  }
  return Status::Ok();
}

void TargetManager::LoadAll() {
  auto list = d_.store->ListTargets();
  if (!list.ok()) {
    spdlog::error("listing compute targets: {}", list.status().ToString());
    return;
  }
  for (auto& t : *list) {
    if (t.kind != "ssh" && t.kind != "instance" && t.kind != "slurm" && t.kind != "cluster")
      continue;
    Status st = t.kind == "slurm"     ? StartSlurm(t.name, t.config_json)
                : t.kind == "cluster" ? StartCluster(t.name, t.config_json)
                                      : Start(t.name, t.config_json);
    if (!st.ok()) spdlog::error("compute target {} is unavailable: {}", t.name, st.ToString());
  }
}

Result<json> TargetManager::Attach(const json& body) {
  std::lock_guard lock(mu_);
  FERRY_ASSIGN_OR_RETURN(std::string name, Field(body, "name", true));
  FERRY_ASSIGN_OR_RETURN(std::string kind, Field(body, "kind", true));
  Status valid = model::ValidateEnvironmentName(name);  // same rules: letters, digits, . _ -
  if (!valid.ok())
    return Status::InvalidArgument("compute target name '" + name +
                                   "' is not valid: use 1-128 letters, "
                                   "digits, '.', '_' or '-', starting with a letter or digit");
  if (kind != "ssh" && kind != "instance" && kind != "slurm" && kind != "cluster") {
    return Status::InvalidArgument("field 'kind': '" + kind +
                                   "' cannot be attached; allowed: ssh, instance, slurm, cluster");
  }
  if (d_.store->GetTarget(name).ok()) {
    return Status::AlreadyExists("compute target '" + name +
                                 "' exists already; detach it first or choose another name");
  }
  if (kind == "slurm") return AttachSlurm(name, body);
  if (kind == "cluster") return CreateCluster(name, body);
  compute::SshTargetConfig c;
  FERRY_ASSIGN_OR_RETURN(c.host, Field(body, "host", true));
  FERRY_ASSIGN_OR_RETURN(c.user, Field(body, "user", true));
  FERRY_ASSIGN_OR_RETURN(std::string remote_dir, Field(body, "remote_dir", false));
  c.kind = kind;
  if (kind == "instance") {
    FERRY_ASSIGN_OR_RETURN(c.owner, Field(body, "owner", false));
    FERRY_ASSIGN_OR_RETURN(c.stop_command, Field(body, "stop_command", false));
    FERRY_ASSIGN_OR_RETURN(c.start_command, Field(body, "start_command", false));
    if (!c.owner.empty()) {
      auto users = d_.store->ListUsers();
      bool known = false;
      if (users.ok()) {
        for (auto& u : *users) known = known || u.name == c.owner;
      }
      if (!known)
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
  FERRY_RETURN_IF_ERROR(MakeDirs(JoinPath(d_.home, "ssh"), 0700));
  compute::SshEndpoint ep = ProbeEndpoint(name, c.host, c.port, c.user, c.key_file, secret);
  auto probe = compute::ProbeSshHost(ep, c.remote_dir);
  (void)RemoveAll(ep.known_hosts);
  if (!probe.ok()) return probe.status().WithContext("attaching '" + name + "'");
  c.known_hosts = probe->known_hosts;
  c.facts_json = probe->facts_json;
  if (!secret.empty()) c.secret_sealed = d_.sealer->Seal(secret);
  FERRY_RETURN_IF_ERROR(d_.store->CreateTarget({name, kind, c.ToJson(), d_.clock->Now()}));
  Status st = Start(name, c.ToJson());
  if (!st.ok()) {
    (void)d_.store->DeleteTarget(name);
    return st;
  }
  json warnings = probe->warnings;
  if (!auth.password.empty()) {
    warnings.push_back(
        "a password is used: SSH keys are preferred (ssh-keygen, ssh-copy-id, then attach with "
        "--key)");
  }
  return json{{"name", name},
              {"kind", kind},
              {"facts", json::parse(c.facts_json, nullptr, false)},
              {"warnings", warnings}};
}

Result<json> TargetManager::Detach(const std::string& name, bool force) {
  std::lock_guard lock(mu_);
  if (name == "local") return Status::InvalidArgument("the local target cannot be detached");
  FERRY_ASSIGN_OR_RETURN(model::ComputeTargetRecord rec, d_.store->GetTarget(name));
  FERRY_ASSIGN_OR_RETURN(std::vector<model::Run> active, d_.store->ListActiveRuns());
  std::vector<model::Run> mine;
  for (auto& r : active) {
    if (r.target == name) mine.push_back(r);
  }
  if (!mine.empty() && !force) {
    return Status::FailedPrecondition("compute target '" + name + "' has " +
                                      std::to_string(mine.size()) + " active run(s) (e.g. " +
                                      mine[0].id +
                                      "); wait for them, or detach with --force "
                                      "to cancel them");
  }
  auto target = d_.scheduler->GetTarget(name);
  int canceled = 0;
  for (auto& r : mine) {
    (void)d_.store->RequestCancel(r.id, "compute target '" + name + "' was detached");
    if (target && !r.job_handle.empty()) (void)target->Cancel(r.job_handle);
    store::TransitionExtras ex;
    ex.error = "compute target '" + name + "' was detached while the run was active";
    if (d_.store
            ->Transition(r.id, model::RunStatus::kCanceled, "compute target detached",
                         d_.clock->Now(), ex)
            .ok()) {
      ++canceled;
    }
  }
  d_.scheduler->RemoveTarget(name);
  if (rec.kind == "cluster")
    FERRY_RETURN_IF_ERROR(DeleteCluster(rec));  // nodes, controller, network
  FERRY_RETURN_IF_ERROR(d_.store->DeleteTarget(name));
  (void)RemoveAll(JoinPath(d_.home, "ssh/" + name + ".known_hosts"));
  d_.scheduler->Wake();
  return json{{"name", name}, {"detached", true}, {"canceled_runs", canceled}};
}

Result<json> TargetManager::Trust(const std::string& name) {
  std::lock_guard lock(mu_);
  FERRY_ASSIGN_OR_RETURN(model::ComputeTargetRecord rec, d_.store->GetTarget(name));
  if (rec.kind == "slurm") return TrustSlurmLogin(name, rec.config_json);
  if (rec.kind != "ssh" && rec.kind != "instance") {
    return Status::InvalidArgument("compute target '" + name + "' has no host key to trust");
  }
  FERRY_ASSIGN_OR_RETURN(compute::SshTargetConfig c,
                         compute::SshTargetConfig::FromJson(rec.config_json));
  std::string secret;
  if (!c.secret_sealed.empty()) {
    FERRY_ASSIGN_OR_RETURN(secret, d_.sealer->Unseal(c.secret_sealed));
  }
  compute::SshEndpoint ep = ProbeEndpoint(name, c.host, c.port, c.user, c.key_file, secret);
  auto probe = compute::ProbeSshHost(ep, c.remote_dir);
  (void)RemoveAll(ep.known_hosts);
  if (!probe.ok()) return probe.status().WithContext("trusting '" + name + "'");
  std::string old_key = c.known_hosts;
  c.known_hosts = probe->known_hosts;
  c.facts_json = probe->facts_json;
  FERRY_RETURN_IF_ERROR(d_.store->UpdateTargetConfig(name, c.ToJson()));
  // Replaced in place (AddTarget): removing it first let a scheduler cycle in between fail
  // the queued runs that wait for this trust as "unknown target".
  FERRY_RETURN_IF_ERROR(Start(name, c.ToJson()));
  d_.scheduler->Wake();
  return json{
      {"name", name}, {"changed", old_key != c.known_hosts}, {"known_hosts", c.known_hosts}};
}

TargetManager::~TargetManager() {
  closing_ = true;
  std::lock_guard lock(workers_mu_);
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
}

Status TargetManager::SetState(const std::string& name, const std::string& state,
                               const std::string& reason) {
  FERRY_ASSIGN_OR_RETURN(model::ComputeTargetRecord rec, d_.store->GetTarget(name));
  FERRY_ASSIGN_OR_RETURN(compute::SshTargetConfig c,
                         compute::SshTargetConfig::FromJson(rec.config_json));
  c.state = state;
  c.state_reason = reason;
  FERRY_RETURN_IF_ERROR(d_.store->UpdateTargetConfig(name, c.ToJson()));
  if (auto t = d_.scheduler->GetTarget(name)) t->SetPaused(PausedReason(name, state, reason));
  d_.scheduler->Wake();
  return Status::Ok();
}

Result<json> TargetManager::StopInstance(const std::string& name) {
  std::lock_guard lock(mu_);
  FERRY_ASSIGN_OR_RETURN(model::ComputeTargetRecord rec, d_.store->GetTarget(name));
  if (rec.kind != "instance")
    return Status::InvalidArgument("'" + name + "' is a " + rec.kind +
                                   " target, not a compute instance");
  FERRY_ASSIGN_OR_RETURN(compute::SshTargetConfig c,
                         compute::SshTargetConfig::FromJson(rec.config_json));
  if (c.state == "stopped" || c.state == "stopping")
    return json{{"name", name}, {"state", c.state}};
  FERRY_RETURN_IF_ERROR(SetState(name, "stopping", ""));
  std::lock_guard wl(workers_mu_);
  workers_.emplace_back(&TargetManager::StopWorker, this, name);
  return json{{"name", name}, {"state", "stopping"}};
}

Result<json> TargetManager::StartInstance(const std::string& name) {
  std::lock_guard lock(mu_);
  FERRY_ASSIGN_OR_RETURN(model::ComputeTargetRecord rec, d_.store->GetTarget(name));
  if (rec.kind != "instance")
    return Status::InvalidArgument("'" + name + "' is a " + rec.kind +
                                   " target, not a compute instance");
  FERRY_ASSIGN_OR_RETURN(compute::SshTargetConfig c,
                         compute::SshTargetConfig::FromJson(rec.config_json));
  if (c.state == "running" || c.state == "starting")
    return json{{"name", name}, {"state", c.state}};
  if (c.state == "stopping") {
    return Status::FailedPrecondition("compute instance '" + name +
                                      "' is still stopping; start it once it is stopped");
  }
  FERRY_RETURN_IF_ERROR(SetState(name, "starting", ""));
  std::lock_guard wl(workers_mu_);
  workers_.emplace_back(&TargetManager::StartWorker, this, name);
  return json{{"name", name}, {"state", "starting"}};
}

void TargetManager::StopWorker(std::string name) {
  // Drain: wait until no run of this instance is active (queued ones wait for a start).
  while (!closing_) {
    auto active = d_.store->ListActiveRuns();
    bool busy = false;
    if (active.ok()) {
      for (auto& r : *active)
        busy = busy || (r.target == name && r.status != model::RunStatus::kQueued);
    }
    if (!busy) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (closing_) return;  // carried on by the next server start (state stays "stopping")
  auto rec = d_.store->GetTarget(name);
  if (!rec.ok()) return;
  auto c = compute::SshTargetConfig::FromJson(rec->config_json);
  if (!c.ok()) return;
  Status st = RunAdminCommand("the stop", c->stop_command);
  if (!st.ok()) spdlog::error("compute instance {}: {}", name, st.ToString());
  (void)SetState(name, st.ok() ? "stopped" : "failed", st.ok() ? "" : st.message());
}

void TargetManager::StartWorker(std::string name) {
  auto rec = d_.store->GetTarget(name);
  if (!rec.ok()) return;
  auto c = compute::SshTargetConfig::FromJson(rec->config_json);
  if (!c.ok()) return;
  Status st = RunAdminCommand("the start", c->start_command);
  if (!st.ok()) spdlog::error("compute instance {}: {}", name, st.ToString());
  (void)SetState(name, st.ok() ? "running" : "failed", st.ok() ? "" : st.message());
}

Status TargetManager::CheckSubmit(const std::string& target, const std::string& user) {
  auto rec = d_.store->GetTarget(target);
  if (!rec.ok() || rec->kind != "instance") return Status::Ok();
  FERRY_ASSIGN_OR_RETURN(compute::SshTargetConfig c,
                         compute::SshTargetConfig::FromJson(rec->config_json));
  if (c.owner != user) {
    return Status::PermissionDenied(
        "compute instance '" + target + "' belongs to " +
        (c.owner.empty() ? std::string("the workspace token's holder") : "'" + c.owner + "'") +
        "; only its owner may submit to it");
  }
  if (c.state == "stopped" || c.state == "stopping" || c.state == "failed") {
    return Status::FailedPrecondition(PausedReason(target, c.state, c.state_reason));
  }
  return Status::Ok();
}

Result<compute::SlurmTargetDeps> TargetManager::SlurmDeps(const std::string& name,
                                                          const compute::SlurmTargetConfig& c) {
  compute::SlurmTargetDeps deps;
  deps.name = name;
  deps.home = d_.home;
  deps.ferry_executable = d_.ferry_executable;
  deps.python_package_dir = d_.python_package_dir;
  if (!c.secret_sealed.empty()) {
    auto plain = d_.sealer->Unseal(c.secret_sealed);
    if (!plain.ok()) return plain.status().WithContext("compute target '" + name + "'");
    deps.secret = std::move(plain).value();
  }
  return deps;
}

Status TargetManager::StartSlurm(const std::string& name, const std::string& config_json) {
  FERRY_ASSIGN_OR_RETURN(compute::SlurmTargetConfig c,
                         compute::SlurmTargetConfig::FromJson(config_json));
  if (c.server_url_auto) {
    // The server may listen on another port than when the target was attached (--port 0).
    const std::string& b = d_.server_bind;
    c.server_url = "http://" + (b.find(':') != std::string::npos ? "[" + b + "]" : b) + ":" +
                   std::to_string(d_.server_port());
  }
  FERRY_ASSIGN_OR_RETURN(compute::SlurmTargetDeps deps, SlurmDeps(name, c));
  d_.scheduler->AddTarget(
      std::shared_ptr<compute::ComputeTarget>(compute::MakeSlurmTarget(name, c, std::move(deps))));
  return Status::Ok();
}

// A Slurm cluster reached through a login node: its host key read again (trust on first use).
Result<json> TargetManager::TrustSlurmLogin(const std::string& name,
                                            const std::string& config_json) {
  FERRY_ASSIGN_OR_RETURN(compute::SlurmTargetConfig c,
                         compute::SlurmTargetConfig::FromJson(config_json));
  if (c.local)
    return Status::InvalidArgument("compute target '" + name +
                                   "' runs Slurm's commands locally: no host key to trust");
  FERRY_ASSIGN_OR_RETURN(compute::SlurmTargetDeps deps, SlurmDeps(name, c));
  compute::SshEndpoint ep =
      ProbeEndpoint(name, c.login_host, c.login_port, c.login_user, c.key_file, deps.secret);
  auto probe = compute::ProbeSshHost(ep, c.shared_dir);
  (void)RemoveAll(ep.known_hosts);
  if (!probe.ok()) return probe.status().WithContext("trusting '" + name + "'");
  std::string old_key = c.known_hosts;
  c.known_hosts = probe->known_hosts;
  FERRY_RETURN_IF_ERROR(d_.store->UpdateTargetConfig(name, c.ToJson()));
  // Replaced in place (AddTarget), as for SSH targets: no cycle sees it missing.
  FERRY_RETURN_IF_ERROR(StartSlurm(name, c.ToJson()));
  d_.scheduler->Wake();
  return json{
      {"name", name}, {"changed", old_key != c.known_hosts}, {"known_hosts", c.known_hosts}};
}

Result<json> TargetManager::AttachSlurm(const std::string& name, const json& body) {
  compute::SlurmTargetConfig c;
  c.local = body.value("local", true);
  SshAuth auth;
  if (!c.local) {
    // The Slurm commands run on a login node over SSH; the shared directory is the cluster's.
    FERRY_ASSIGN_OR_RETURN(std::string login, Field(body, "login", true));
    auto at = login.find('@');
    if (at == std::string::npos || at == 0 || at + 1 == login.size()) {
      return Status::InvalidArgument("field 'login': '" + login + "' is not USER@HOST");
    }
    c.login_user = login.substr(0, at);
    c.login_host = login.substr(at + 1);
    FERRY_ASSIGN_OR_RETURN(c.login_port, PortField(body, "port", 22));
    FERRY_ASSIGN_OR_RETURN(auth, ParseSshAuth(body));
    c.key_file = auth.key_file;
  }
  FERRY_ASSIGN_OR_RETURN(c.partition, Field(body, "partition", false));
  FERRY_ASSIGN_OR_RETURN(c.account, Field(body, "account", false));
  FERRY_ASSIGN_OR_RETURN(c.qos, Field(body, "qos", false));
  FERRY_ASSIGN_OR_RETURN(c.low_priority_partition, Field(body, "low_priority_partition", false));
  FERRY_ASSIGN_OR_RETURN(c.low_priority_qos, Field(body, "low_priority_qos", false));
  if (!c.low_priority_partition.empty() && !c.low_priority_qos.empty()) {
    return Status::InvalidArgument(
        "give at most one of a low-priority partition or a low-priority QOS");
  }
  FERRY_ASSIGN_OR_RETURN(c.shared_dir, Field(body, "shared_dir", true));
  if (c.shared_dir.empty() || c.shared_dir[0] != '/') {
    return Status::InvalidArgument(
        "field 'shared_dir' must be an absolute path that every node sees");
  }
  FERRY_ASSIGN_OR_RETURN(c.server_url, Field(body, "server_url", false));
  if (c.server_url.empty()) {
    const std::string& b = d_.server_bind;
    if (b.empty() || b == "127.0.0.1" || b == "::1" || b == "localhost" || b == "0.0.0.0" ||
        b == "::") {
      return Status::InvalidArgument(
          "the cluster's nodes must reach this server: start it with 'ferry server --bind ADDRESS' "
          "on an address the "
          "nodes can reach (then that address is used), or pass --server-url URL");
    }
    c.server_url = "http://" + (b.find(':') != std::string::npos ? "[" + b + "]" : b) + ":" +
                   std::to_string(d_.server_port());
    c.server_url_auto = true;
  }
  json warnings = json::array();
  if (!c.local) {
    // The login node first: its host key (trust on first use), Linux on this server's CPU
    // architecture (the agent is copied from here), the shared directory writable.
    FERRY_RETURN_IF_ERROR(MakeDirs(JoinPath(d_.home, "ssh"), 0700));
    compute::SshEndpoint ep =
        ProbeEndpoint(name, c.login_host, c.login_port, c.login_user, c.key_file, auth.secret());
    auto probe = compute::ProbeSshHost(ep, c.shared_dir);
    (void)RemoveAll(ep.known_hosts);
    if (!probe.ok()) return probe.status().WithContext("attaching '" + name + "'");
    c.known_hosts = probe->known_hosts;
    if (!auth.secret().empty()) c.secret_sealed = d_.sealer->Seal(auth.secret());
    if (!auth.password.empty()) {
      warnings.push_back(
          "a password is used: SSH keys are preferred (ssh-keygen, ssh-copy-id, then attach with "
          "--key)");
    }
  }
  FERRY_ASSIGN_OR_RETURN(compute::SlurmTargetDeps deps, SlurmDeps(name, c));
  auto shell = compute::MakeSlurmShell(c, deps);
  auto facts = compute::ProbeSlurm(c, shell);
  if (!facts.ok()) return facts.status().WithContext("attaching '" + name + "'");
  c.facts_json = *facts;
  FERRY_RETURN_IF_ERROR(d_.store->CreateTarget({name, "slurm", c.ToJson(), d_.clock->Now()}));
  Status st = StartSlurm(name, c.ToJson());
  if (!st.ok()) {
    (void)d_.store->DeleteTarget(name);
    return st;
  }
  return json{{"name", name},
              {"kind", "slurm"},
              {"facts", json::parse(c.facts_json, nullptr, false)},
              {"warnings", warnings}};
}

}  // namespace ferry::server
