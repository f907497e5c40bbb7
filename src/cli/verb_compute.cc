// `ferry compute list|show|attach|detach|trust|stop|start` (managed clusters:
// verb_compute_cluster.cc).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "common/fs.h"
#include "net/http.h"

namespace ferry::cli {

using nlohmann::json;

void AddClusterCommands(CLI::App* compute, CLI::App* create, Context& ctx,
                        int* exit_code);        // verb_compute_cluster.cc
void PrintClusterDetails(const json& details);  // verb_compute_cluster.cc

namespace {

// `compute attach ssh` and `compute create instance`: the same connection options.
// A secret from a file (--password-file, --passphrase-file): its first line, never empty.
Result<std::string> ReadSecretFile(const std::string& path, const char* what) {
  if (path.empty()) return std::string();
  FERRY_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty())
    return Status::InvalidArgument(std::string(what) + " file " + path + " is empty");
  return text;
}

// --key / --passphrase-file / --password-file into an attach request (exactly one of key or
// password).
Status AddSshAuth(json* body, const std::string& key, const std::string& passphrase_file,
                  const std::string& password_file) {
  if (key.empty() == password_file.empty()) {
    return Status::InvalidArgument("give exactly one of --key FILE or --password-file FILE");
  }
  FERRY_ASSIGN_OR_RETURN(std::string password, ReadSecretFile(password_file, "the password"));
  FERRY_ASSIGN_OR_RETURN(std::string passphrase, ReadSecretFile(passphrase_file, "the passphrase"));
  if (!key.empty()) (*body)["key_file"] = AbsolutePath(key);
  if (!password.empty()) (*body)["password"] = password;
  if (!passphrase.empty()) (*body)["passphrase"] = passphrase;
  return Status::Ok();
}

void AddSshTargetCommand(CLI::App* cmd, Context& ctx, int* exit_code, const std::string& kind) {
  struct Args {
    std::string name, host, user, key, passphrase_file, password_file, work_dir, owner,
        stop_command, start_command;
    int port = 22, max_jobs = 1;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("name", a->name, "Target name")->required();
  cmd->add_option("--host", a->host,
                  "Host name or address (as ssh understands it: ~/.ssh/config applies)")
      ->required();
  cmd->add_option("--port", a->port, "SSH port (default 22)");
  cmd->add_option("--user", a->user, "Remote user")->required();
  cmd->add_option("--key", a->key, "Private key file (preferred)");
  cmd->add_option("--passphrase-file", a->passphrase_file, "File holding the key's passphrase");
  cmd->add_option("--password-file", a->password_file,
                  "File holding the password (keys are preferred)");
  cmd->add_option("--max-concurrent-jobs", a->max_jobs, "Runs at once on the host (default 1)");
  cmd->add_option("--work-dir", a->work_dir,
                  "Ferry's directory on the host (default ~/.ferry-agent)");
  if (kind == "instance") {
    cmd->add_option("--owner", a->owner,
                    "The user who may submit to it (default: the workspace token's holder)");
    cmd->add_option("--stop-command", a->stop_command,
                    "Shell command, run on the server's machine, that stops the machine");
    cmd->add_option("--start-command", a->start_command,
                    "Shell command, run on the server's machine, that starts it");
  }
  cmd->callback([&ctx, a, exit_code, kind] {
    json body = {{"name", a->name}, {"kind", kind},    {"host", a->host},
                 {"port", a->port}, {"user", a->user}, {"max_concurrent_runs", a->max_jobs}};
    if (Status st = AddSshAuth(&body, a->key, a->passphrase_file, a->password_file); !st.ok()) {
      *exit_code = ReportError(st);
      return;
    }
    if (!a->work_dir.empty()) body["remote_dir"] = a->work_dir;
    if (kind == "instance") {
      body["owner"] = a->owner;
      body["stop_command"] = a->stop_command;
      body["start_command"] = a->start_command;
    }
    auto r = ctx.Call("POST", "/api/v1/computes", body.dump());
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    for (auto& w : (*r)["warnings"])
      std::fprintf(stderr, "ferry: warning: %s\n", w.get<std::string>().c_str());
    if (ctx.json_output()) return PrintJson(*r);
    const json& f = (*r)["facts"];
    std::printf(
        "%s %s: %s@%s:%d, %s %s, %d CPUs, %.1f GiB free, %zu Python interpreter(s), %zu GPU(s)\n",
        kind == "instance" ? "created instance" : "attached", a->name.c_str(), a->user.c_str(),
        a->host.c_str(), a->port, f.value("os", "?").c_str(), f.value("arch", "?").c_str(),
        f.value("cpus", 0), f.value("disk_free_gib", 0.0),
        f.contains("pythons") ? f["pythons"].size() : 0, f.contains("gpus") ? f["gpus"].size() : 0);
  });
}

}  // namespace

void RegisterCompute(CLI::App& app, Context& ctx, int* exit_code) {
  auto* compute = app.add_subcommand("compute", "Compute targets");
  compute->require_subcommand(1);
  auto* list = compute->add_subcommand("list", "List compute targets");
  list->callback([&ctx, exit_code] {
    auto r = ctx.Call("GET", "/api/v1/computes");
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("%-20s %-8s %-12s %-8s %-8s %s\n", "NAME", "KIND", "STATE", "ACTIVE", "QUEUED",
                "MAX");
    for (auto& t : (*r)["computes"]) {
      std::printf(
          "%-20s %-8s %-12s %-8d %-8d %s\n", t["name"].get<std::string>().c_str(),
          t["kind"].get<std::string>().c_str(), t.value("state", "").c_str(),
          t.value("active_runs", 0), t.value("queued_runs", 0),
          t.contains("max_concurrent_runs") ? t["max_concurrent_runs"].dump().c_str() : "-");
    }
  });
  auto* attach = compute->add_subcommand("attach", "Attach a remote machine as a compute target");
  attach->require_subcommand(1);
  AddSshTargetCommand(
      attach->add_subcommand("ssh", "A machine reached with OpenSSH (key or password)"), ctx,
      exit_code, "ssh");
  {
    auto* slurm = attach->add_subcommand("slurm", "A Slurm cluster (runs become sbatch jobs)");
    struct SlurmArgs {
      std::string name, partition, account, qos, lp_partition, lp_qos, shared_dir, server_url,
          login;
      std::string key, passphrase_file, password_file;
      int port = 22;
      bool local = false;
    };
    auto a = std::make_shared<SlurmArgs>();
    slurm->add_option("name", a->name, "Target name")->required();
    slurm->add_flag("--local", a->local,
                    "The Slurm commands (sbatch, squeue, ...) are on this machine");
    slurm->add_option("--login", a->login,
                      "USER@HOST of a login node: the Slurm commands run there over SSH");
    slurm->add_option("--port", a->port, "SSH port of the login node (default 22)");
    slurm->add_option("--key", a->key, "Private key file for the login node (preferred)");
    slurm->add_option("--passphrase-file", a->passphrase_file, "File holding the key's passphrase");
    slurm->add_option("--password-file", a->password_file,
                      "File holding the login node password (keys are preferred)");
    slurm->add_option("--partition", a->partition,
                      "Partition for runs (default: the cluster's default)");
    slurm->add_option("--account", a->account, "Account to charge");
    slurm->add_option("--qos", a->qos, "QOS for runs");
    slurm->add_option("--low-priority-partition", a->lp_partition,
                      "Partition for 'priority: low' runs (preemptible)");
    slurm->add_option("--low-priority-qos", a->lp_qos,
                      "QOS for 'priority: low' runs (preemptible)");
    slurm->add_option("--shared-dir", a->shared_dir, "A directory every node sees at the same path")
        ->required();
    slurm->add_option("--server-url", a->server_url,
                      "How the nodes reach this server (default: its --bind address)");
    slurm->callback([&ctx, a, exit_code] {
      if (a->local == !a->login.empty()) {
        *exit_code = ReportError(
            Status::InvalidArgument("give exactly one of --local or --login USER@HOST"));
        return;
      }
      json body = {{"name", a->name},
                   {"kind", "slurm"},
                   {"local", a->local},
                   {"partition", a->partition},
                   {"account", a->account},
                   {"qos", a->qos},
                   {"low_priority_partition", a->lp_partition},
                   {"low_priority_qos", a->lp_qos},
                   {"shared_dir", a->local ? AbsolutePath(a->shared_dir) : a->shared_dir},
                   {"server_url", a->server_url}};
      if (!a->local) {
        body["login"] = a->login;
        body["port"] = a->port;
        if (Status st = AddSshAuth(&body, a->key, a->passphrase_file, a->password_file); !st.ok()) {
          *exit_code = ReportError(st);
          return;
        }
      }
      auto r = ctx.Call("POST", "/api/v1/computes", body.dump());
      if (!r.ok()) {
        *exit_code = ReportError(r.status());
        return;
      }
      for (auto& w : (*r)["warnings"])
        std::fprintf(stderr, "ferry: warning: %s\n", w.get<std::string>().c_str());
      if (ctx.json_output()) return PrintJson(*r);
      std::string parts;
      for (auto& [p, v] : (*r)["facts"]["partitions"].items()) {
        parts += (parts.empty() ? "" : ", ") + p + " (" + std::to_string(v["nodes"].get<int>()) +
                 " nodes)";
      }
      std::printf("attached %s: Slurm %s, partitions %s\n", a->name.c_str(),
                  (*r)["facts"].value("SLURM_VERSION", "?").c_str(), parts.c_str());
    });
  }
  auto* create = compute->add_subcommand("create", "Create a compute target");
  create->require_subcommand(1);
  AddSshTargetCommand(
      create->add_subcommand("instance",
                             "A single-owner machine over SSH, with a job queue and "
                             "stop/start commands"),
      ctx, exit_code, "instance");
  AddClusterCommands(compute, create, ctx, exit_code);
  for (const char* verb : {"stop", "start"}) {
    auto* cmd = compute->add_subcommand(
        verb, std::string(verb) == "stop"
                  ? "Stop a compute instance: refuse new runs, let active ones finish, "
                    "then run its stop command"
                  : "Start a compute instance: run its start command, then accept runs");
    auto target = std::make_shared<std::string>();
    cmd->add_option("name", *target, "Instance name")->required();
    std::string v = verb;
    cmd->callback([&ctx, target, v, exit_code] {
      auto r = ctx.Call("POST", "/api/v1/computes/" + net::UrlEncode(*target) + "/" + v, "{}");
      if (!r.ok()) {
        *exit_code = ReportError(r.status());
        return;
      }
      if (ctx.json_output()) return PrintJson(*r);
      std::printf("%s: %s\n", target->c_str(), (*r)["state"].get<std::string>().c_str());
    });
  }

  auto* detach = compute->add_subcommand("detach", "Detach a compute target");
  auto detach_name = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  detach->add_option("name", *detach_name, "Target name")->required();
  detach->add_flag("--force", *force, "Cancel its active runs instead of refusing");
  detach->callback([&ctx, detach_name, force, exit_code] {
    auto r = ctx.Call("DELETE", "/api/v1/computes/" + net::UrlEncode(*detach_name) +
                                    (*force ? "?force=true" : ""));
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("detached %s (%d active run(s) canceled)\n", detach_name->c_str(),
                (*r)["canceled_runs"].get<int>());
  });

  auto* trust = compute->add_subcommand(
      "trust", "Trust a target's current host key (after an expected change)");
  auto trust_name = std::make_shared<std::string>();
  trust->add_option("name", *trust_name, "Target name")->required();
  trust->callback([&ctx, trust_name, exit_code] {
    auto r = ctx.Call("POST", "/api/v1/computes/" + net::UrlEncode(*trust_name) + "/trust", "{}");
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("%s: host key %s\n", trust_name->c_str(),
                (*r)["changed"].get<bool>() ? "updated" : "unchanged");
  });

  auto* show = compute->add_subcommand("show", "Show a compute target");
  auto name = std::make_shared<std::string>();
  show->add_option("name", *name, "Target name")->required();
  show->callback([&ctx, name, exit_code] {
    auto r = ctx.Call("GET", "/api/v1/computes/" + net::UrlEncode(*name));
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    const json& t = *r;
    std::printf("Name:        %s\nKind:        %s\nState:       %s%s\n",
                t["name"].get<std::string>().c_str(), t["kind"].get<std::string>().c_str(),
                t.value("state", "").c_str(),
                t.contains("state_reason")
                    ? (" (" + t["state_reason"].get<std::string>() + ")").c_str()
                    : "");
    if (t.contains("max_concurrent_runs"))
      std::printf("Max runs:    %d\n", t["max_concurrent_runs"].get<int>());
    std::printf("Active runs: %d\nQueued runs: %d\n", t.value("active_runs", 0),
                t.value("queued_runs", 0));
    if (t.value("kind", "") == "cluster" && t.contains("details") && t["details"].is_object()) {
      PrintClusterDetails(t["details"]);
    } else if (t.contains("details")) {
      std::printf("Details:     %s\n", t["details"].dump().c_str());
    }
    for (auto& run : t["runs"]) {
      std::printf("  %-50s %s\n", run["id"].get<std::string>().c_str(),
                  run["status"].get<std::string>().c_str());
    }
  });
}

}  // namespace ferry::cli
