// Remote target lifecycle, the same for every kind: the kind table (compute/kind.h) says
// how to attach, make and trust each one.
#include "server/targets.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/json_fields.h"
#include "common/subprocess.h"
#include "model/run_options.h"

namespace ferry::server {

using nlohmann::json;

namespace {

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

// The power fields of a powered kind's configuration (kind.h: KindOps::powered).
struct Power {
  std::string state = "running", state_reason, owner, stop_command, start_command;
};

Result<Power> ReadPower(const std::string& config_json) {
  json j = json::parse(config_json, nullptr, false);
  if (!j.is_object())
    return Status::Corruption("compute target configuration is not a JSON object");
  Power p;
  p.state = j.value("state", "running");
  p.state_reason = j.value("state_reason", "");
  p.owner = j.value("owner", "");
  p.stop_command = j.value("stop_command", "");
  p.start_command = j.value("start_command", "");
  return p;
}

// A stored powered target, or why `name` is not one.
Result<model::ComputeTargetRecord> PoweredTarget(store::MetadataStore* store,
                                                 const std::string& name) {
  FERRY_ASSIGN_OR_RETURN(model::ComputeTargetRecord rec, store->GetTarget(name));
  const compute::KindOps* ops = compute::FindKind(rec.kind);
  if (!ops || !ops->powered) {
    return Status::InvalidArgument("'" + name + "' is a " + rec.kind +
                                   " target, not a compute instance");
  }
  return rec;
}

}  // namespace

TargetManager::TargetManager(TargetManagerDeps d) : d_(std::move(d)) {
  host_.home = d_.home;
  host_.ferry_executable = d_.ferry_executable;
  host_.python_package_dir = d_.python_package_dir;
  host_.server_port = d_.server_port;
  host_.server_bind = d_.server_bind;
  host_.sealer = d_.sealer;
  host_.add_listener = d_.add_listener;
  host_.user_exists = [store = d_.store](const std::string& user) {
    auto users = store->ListUsers();
    if (!users.ok()) return false;
    for (auto& u : *users) {
      if (u.name == user) return true;
    }
    return false;
  };
  host_.check_quota = [this](const std::string& name, int64_t cores, int64_t gpus) {
    return CheckQuota(name, cores, gpus);
  };
}

Status TargetManager::Start(const compute::KindOps& ops, const std::string& name,
                            const std::string& config_json) {
  if (!ops.make)
    return Status::Internal("compute kind '" + std::string(ops.name) + "' has no driver to make");
  FERRY_ASSIGN_OR_RETURN(std::shared_ptr<compute::ComputeTarget> t,
                         ops.make(name, config_json, host_));
  d_.scheduler->AddTarget(std::move(t));
  return Status::Ok();
}

void TargetManager::LoadAll() {
  auto list = d_.store->ListTargets();
  if (!list.ok()) {
    spdlog::error("listing compute targets: {}", list.status().ToString());
    return;
  }
  for (auto& t : *list) {
    const compute::KindOps* ops = compute::FindKind(t.kind);
    if (!ops || !ops->make) continue;  // local: made by the server from its own options
    // Made for a run (run-based compute): deleted once that run has ended.
    if (t.kind == "cluster") {
      json c = json::parse(t.config_json, nullptr, false);
      if (c.is_object() && !c.value("for_run", "").empty()) {
        MutexLock lock(&run_clusters_mu_);
        run_clusters_[t.name] = RunCluster{c.value("for_run", ""), t.created_at};
      }
    }
    Status st = Start(*ops, t.name, t.config_json);
    if (!st.ok()) {
      spdlog::error("compute target {} is unavailable: {}", t.name, st.ToString());
      continue;
    }
    if (!ops->powered) continue;
    auto power = ReadPower(t.config_json);
    if (power.ok() && (power->state == "stopping" || power->state == "starting")) {
      // A server restart interrupted a stop or a start: carry it on.
      MutexLock lock(&workers_mu_);
      if (power->state == "stopping")
        workers_.emplace_back(&TargetManager::StopWorker, this, t.name);
      else
        workers_.emplace_back(&TargetManager::StartWorker, this, t.name);
    }
  }
}

Result<json> TargetManager::Attach(const json& body) {
  MutexLock lock(&mu_);
  FERRY_ASSIGN_OR_RETURN(std::string name, StringField(body, "name", true));
  FERRY_ASSIGN_OR_RETURN(std::string kind, StringField(body, "kind", true));
  Status valid = model::ValidateEnvironmentName(name);  // same rules: letters, digits, . _ -
  if (!valid.ok())
    return Status::InvalidArgument("compute target name '" + name +
                                   "' is not valid: use 1-128 letters, "
                                   "digits, '.', '_' or '-', starting with a letter or digit");
  const compute::KindOps* ops = compute::FindKind(kind);
  if (!ops || !ops->attach) {
    return Status::InvalidArgument("field 'kind': '" + kind + "' cannot be attached; allowed: " +
                                   compute::AttachableKindNames());
  }
  if (d_.store->GetTarget(name).ok()) {
    return Status::AlreadyExists("compute target '" + name +
                                 "' exists already; detach it first or choose another name");
  }
  json resolved = body;
  if (kind == "cluster") {
    FERRY_ASSIGN_OR_RETURN(resolved, ResolveNodeSize(body));
  } else if (body.contains("vm_size")) {
    return Status::InvalidArgument(
        "field 'vm_size': only managed clusters (kind cluster) are "
        "made from a node size; a " +
        kind + " target is attached as it is");
  }
  FERRY_ASSIGN_OR_RETURN(compute::Attached a, ops->attach(name, resolved, host_));
  FERRY_RETURN_IF_ERROR(d_.store->CreateTarget({name, kind, a.config_json, d_.clock->Now()}));
  Status st = Start(*ops, name, a.config_json);
  if (!st.ok()) {
    d_.scheduler->RemoveTarget(name);
    if (ops->release) (void)ops->release(name, a.config_json);
    (void)d_.store->DeleteTarget(name);
    if (std::string_view(ops->verb) == "create")
      st = st.WithContext("creating " + kind + " '" + name + "'");
    return st;
  }
  json answer = json::parse(a.answer_json, nullptr, false);
  if (!answer.is_object()) answer = json::object();
  answer["name"] = name;
  answer["kind"] = kind;
  answer["summary"] = a.summary;
  answer["warnings"] = a.warnings;
  return answer;
}

Result<json> TargetManager::Detach(const std::string& name, bool force) {
  MutexLock lock(&mu_);
  if (name == "local") {
    return Status::InvalidArgument(
        "'local' is this machine, always a target of the workspace: it can be neither detached "
        "nor deleted (stop using it by submitting to another target)");
  }
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
  const compute::KindOps* ops = compute::FindKind(rec.kind);
  if (ops && ops->release)
    FERRY_RETURN_IF_ERROR(ops->release(name, rec.config_json));  // nodes, controller, network
  FERRY_RETURN_IF_ERROR(d_.store->DeleteTarget(name));
  (void)RemoveAll(JoinPath(d_.home, "ssh/" + name + ".known_hosts"));
  d_.scheduler->Wake();
  return json{{"name", name}, {"detached", true}, {"canceled_runs", canceled}};
}

Result<json> TargetManager::Trust(const std::string& name) {
  MutexLock lock(&mu_);
  FERRY_ASSIGN_OR_RETURN(model::ComputeTargetRecord rec, d_.store->GetTarget(name));
  const compute::KindOps* ops = compute::FindKind(rec.kind);
  if (!ops || !ops->trust)
    return Status::InvalidArgument("compute target '" + name + "' has no host key to trust");
  FERRY_ASSIGN_OR_RETURN(compute::Trusted t, ops->trust(name, rec.config_json, host_));
  FERRY_RETURN_IF_ERROR(d_.store->UpdateTargetConfig(name, t.config_json));
  // Replaced in place (AddTarget): removing it first let a scheduler cycle in between fail
  // the queued runs that wait for this trust as "unknown target".
  FERRY_RETURN_IF_ERROR(Start(*ops, name, t.config_json));
  d_.scheduler->Wake();
  return json{{"name", name}, {"changed", t.changed}, {"known_hosts", t.known_hosts}};
}

TargetManager::~TargetManager() {
  closing_ = true;
  MutexLock lock(&workers_mu_);
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
}

Status TargetManager::SetState(const std::string& name, const std::string& state,
                               const std::string& reason) {
  FERRY_ASSIGN_OR_RETURN(model::ComputeTargetRecord rec, d_.store->GetTarget(name));
  json c = json::parse(rec.config_json, nullptr, false);
  if (!c.is_object())
    return Status::Corruption("compute target '" + name + "': configuration is not a JSON object");
  c["state"] = state;
  c["state_reason"] = reason;
  FERRY_RETURN_IF_ERROR(d_.store->UpdateTargetConfig(name, c.dump()));
  if (auto t = d_.scheduler->GetTarget(name))
    t->SetPaused(compute::PausedReason(name, state, reason));
  d_.scheduler->Wake();
  return Status::Ok();
}

Result<json> TargetManager::StopInstance(const std::string& name) {
  MutexLock lock(&mu_);
  FERRY_ASSIGN_OR_RETURN(model::ComputeTargetRecord rec, PoweredTarget(d_.store, name));
  FERRY_ASSIGN_OR_RETURN(Power p, ReadPower(rec.config_json));
  if (p.state == "stopped" || p.state == "stopping")
    return json{{"name", name}, {"state", p.state}};
  FERRY_RETURN_IF_ERROR(SetState(name, "stopping", ""));
  MutexLock wl(&workers_mu_);
  workers_.emplace_back(&TargetManager::StopWorker, this, name);
  return json{{"name", name}, {"state", "stopping"}};
}

Result<json> TargetManager::StartInstance(const std::string& name) {
  MutexLock lock(&mu_);
  FERRY_ASSIGN_OR_RETURN(model::ComputeTargetRecord rec, PoweredTarget(d_.store, name));
  FERRY_ASSIGN_OR_RETURN(Power p, ReadPower(rec.config_json));
  if (p.state == "running" || p.state == "starting")
    return json{{"name", name}, {"state", p.state}};
  if (p.state == "stopping") {
    return Status::FailedPrecondition("compute instance '" + name +
                                      "' is still stopping; start it once it is stopped");
  }
  FERRY_RETURN_IF_ERROR(SetState(name, "starting", ""));
  MutexLock wl(&workers_mu_);
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
  auto p = ReadPower(rec->config_json);
  if (!p.ok()) return;
  Status st = RunAdminCommand("the stop", p->stop_command);
  if (!st.ok()) spdlog::error("compute instance {}: {}", name, st.ToString());
  MutexLock lock(&mu_);
  (void)SetState(name, st.ok() ? "stopped" : "failed", st.ok() ? "" : st.message());
}

void TargetManager::StartWorker(std::string name) {
  auto rec = d_.store->GetTarget(name);
  if (!rec.ok()) return;
  auto p = ReadPower(rec->config_json);
  if (!p.ok()) return;
  Status st = RunAdminCommand("the start", p->start_command);
  if (!st.ok()) spdlog::error("compute instance {}: {}", name, st.ToString());
  MutexLock lock(&mu_);
  (void)SetState(name, st.ok() ? "running" : "failed", st.ok() ? "" : st.message());
}

Status TargetManager::CheckSubmit(const std::string& target, const std::string& user) {
  auto rec = d_.store->GetTarget(target);
  if (!rec.ok()) return Status::Ok();
  if (rec->kind == "cluster") {  // a compute instance made from a node size
    auto c = compute::ClusterConfig::FromJson(rec->config_json);
    if (c.ok() && c->single_owner && c->owner != user) {
      return Status::PermissionDenied(
          "compute instance '" + target + "' belongs to " +
          (c->owner.empty() ? std::string("the workspace token's holder") : "'" + c->owner + "'") +
          "; only its owner may submit to it");
    }
    return Status::Ok();
  }
  const compute::KindOps* ops = compute::FindKind(rec->kind);
  if (!ops || !ops->powered) return Status::Ok();
  FERRY_ASSIGN_OR_RETURN(Power p, ReadPower(rec->config_json));
  if (p.owner != user) {
    return Status::PermissionDenied(
        "compute instance '" + target + "' belongs to " +
        (p.owner.empty() ? std::string("the workspace token's holder") : "'" + p.owner + "'") +
        "; only its owner may submit to it");
  }
  if (p.state == "stopped" || p.state == "stopping" || p.state == "failed") {
    return Status::FailedPrecondition(compute::PausedReason(target, p.state, p.state_reason));
  }
  return Status::Ok();
}

Result<std::string> TargetManager::CreateRunCluster(const model::Run& run) {
  const model::RunOptions::RunCluster& a = run.options.amlcompute;
  std::string name = a.name;
  if (name.empty()) {
    // The run's id, as Azure named these clusters; a long one (a long experiment name) by
    // its unique tail ("run_<time>_<hex>"), a name that stays readable in `compute list`.
    name = run.id;
    if (name.size() > 40) {
      size_t cut = name.rfind('_', name.rfind('_') - 1);
      name = "run" + name.substr(cut);
    }
  }
  if (auto existing = d_.store->GetTarget(name); existing.ok()) return name;  // used as it is
  if (a.vm_size.empty()) {
    return Status::InvalidArgument(
        "target 'amlcompute' makes a cluster for the run and needs its node size: set "
        "amlcompute.vmSize (run configuration file) or run_config.amlcompute.vm_size (SDK) to "
        "one of the workspace's sizes ('ferry compute sizes list')");
  }
  int max_nodes = a.cluster_max_node_count > 0 ? a.cluster_max_node_count : run.options.node_count;
  json body = {
      {"name", name},           {"kind", "cluster"},
      {"vm_size", a.vm_size},   {"min_nodes", 0},
      {"max_nodes", max_nodes}, {"priority", a.vm_priority == "lowpriority" ? "low" : "dedicated"}};
  if (!a.retain_cluster) body["for_run"] = run.id;
  auto made = Attach(body);
  if (!made.ok()) {
    return made.status().WithContext("making cluster '" + name +
                                     "' for the run (target 'amlcompute', "
                                     "vm_size '" +
                                     a.vm_size + "')");
  }
  spdlog::info(
      "run {}: {}{}", run.id, made->value("summary", ""),
      a.retain_cluster ? " (kept after the run: retain_cluster)" : " (deleted after the run)");
  if (!a.retain_cluster) {
    MutexLock lock(&run_clusters_mu_);
    run_clusters_[name] = RunCluster{run.id, d_.clock->Now()};
  }
  return name;
}

void TargetManager::DropRunCluster(const std::string& name) {
  {
    MutexLock lock(&run_clusters_mu_);
    if (run_clusters_.erase(name) == 0) return;
  }
  auto st = Detach(name, /*force=*/true);
  if (!st.ok())
    spdlog::warn("deleting cluster {} (its run was not submitted): {}", name,
                 st.status().ToString());
}

void TargetManager::ReapRunClusters() {
  std::vector<std::string> due;
  {
    MutexLock lock(&run_clusters_mu_);
    if (run_clusters_.empty()) return;
    const double now = d_.clock->Now();
    for (auto& [name, rc] : run_clusters_) {
      if (rc.reaping || now < rc.retry_at) continue;
      auto run = d_.store->GetRun(rc.run_id);
      bool ended = run.ok()
                       ? model::IsTerminal(run->status)
                       // Never stored: a submit that died between making the cluster and
                       // storing its run (given a minute, so a submit in flight is not hit).
                       : run.status().code() == StatusCode::kNotFound && now - rc.created_at > 60;
      if (!ended) continue;
      rc.reaping = true;
      due.push_back(name);
    }
  }
  if (due.empty()) return;
  MutexLock wl(&workers_mu_);
  for (auto& name : due) workers_.emplace_back(&TargetManager::ReapWorker, this, name);
}

void TargetManager::ReapWorker(std::string name) {
  if (closing_) return;  // the next server start reaps it
  auto st = Detach(name, /*force=*/false);
  MutexLock lock(&run_clusters_mu_);
  auto it = run_clusters_.find(name);
  if (it == run_clusters_.end()) return;
  if (st.ok() || st.status().code() == StatusCode::kNotFound) {
    if (st.ok()) spdlog::info("deleted cluster {}: its run {} has ended", name, it->second.run_id);
    run_clusters_.erase(it);
    return;
  }
  // Other runs were submitted to it by name, or the nodes did not stop: try again later.
  spdlog::warn("cluster {} (made for run {}) is not deleted yet: {}", name, it->second.run_id,
               st.status().ToString());
  it->second.reaping = false;
  it->second.retry_at = d_.clock->Now() + 60;
}

}  // namespace ferry::server
