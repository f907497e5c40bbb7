// The workspace's node sizes (`ferry compute sizes list|set|delete|provider`) and Azure CLI v1's
// spellings of compute targets (`ferry computetarget create amlcompute|computeinstance`,
// `attach remote`, `list`, `show -n`, `delete -n`, `detach -n`), which make the same requests
// as `ferry compute`.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "common/fs.h"
#include "net/http.h"

namespace ferry::cli {

using nlohmann::json;

// verb_compute.cc and verb_compute_cluster.cc.
int ListComputes(Context& ctx);
int ShowCompute(Context& ctx, const std::string& name);
int DetachCompute(Context& ctx, const std::string& name, bool force);
int WaitForCluster(Context& ctx, const std::string& name, int min_nodes, double timeout_s);

namespace {

// A node provider's options, shared by `sizes set` and `sizes provider`.
struct ProviderArgs {
  std::string provider, start_command, stop_command, controller_address, server_url;
  bool low_priority = false;
  bool outbound = false;
};

void AddProviderOptions(CLI::App* cmd, ProviderArgs* p) {
  cmd->add_option("--start-command", p->start_command,
                  "command provider: starts node {node}; prints its address last");
  cmd->add_option("--stop-command", p->stop_command, "command provider: stops node {node}");
  cmd->add_option("--controller-address", p->controller_address,
                  "command provider: this machine's address for the nodes");
  cmd->add_option("--server-url", p->server_url, "command provider: how nodes reach the server");
  cmd->add_flag("--low-priority", p->low_priority,
                "Its nodes can be reclaimed: clusters of vm_priority lowpriority are allowed");
  cmd->add_flag("--outbound", p->outbound,
                "netns provider: nodes reach beyond this machine (NAT), e.g. to install packages");
}

void ProviderFields(const ProviderArgs& p, json* body) {
  if (p.provider.empty()) return;
  (*body)["provider"] = p.provider;
  const std::pair<const char*, const std::string*> fields[] = {
      {"start_command", &p.start_command},
      {"stop_command", &p.stop_command},
      {"controller_address", &p.controller_address},
      {"server_url", &p.server_url}};
  for (const auto& [k, v] : fields) {
    if (!v->empty()) (*body)[k] = *v;
  }
  if (p.low_priority) (*body)["low_priority"] = true;
  if (p.outbound) (*body)["outbound"] = true;
}

std::string ProviderText(const json& p) {
  if (!p.is_object() || !p.contains("provider")) return "none";
  std::string s = p["provider"].get<std::string>();
  if (p.value("low_priority", false)) s += " (low priority)";
  if (p.value("outbound", false)) s += " (outbound network)";
  return s;
}

// POST /computes, then the summary (and `--wait`'s progress for what provisions).
int Create(Context& ctx, const json& body, bool wait) {
  auto r = ctx.Call("POST", "/api/v1/computes", body.dump());
  if (!r.ok()) return ReportError(r.status());
  for (auto& w : (*r)["warnings"])
    std::fprintf(stderr, "ferry: warning: %s\n", w.get<std::string>().c_str());
  if (ctx.json_output() && !wait) {
    PrintJson(*r);
    return kExitOk;
  }
  std::printf("%s\n", r->value("summary", "").c_str());
  std::fflush(stdout);
  if (!wait) return kExitOk;
  return WaitForCluster(ctx, body["name"].get<std::string>(), body.value("min_nodes", 0), 360);
}

// Azure's vm_priority ("dedicated" | "lowpriority") as Ferry's priority.
Result<std::string> Priority(const std::string& vm_priority) {
  if (vm_priority.empty() || vm_priority == "dedicated") return std::string("dedicated");
  if (vm_priority == "lowpriority") return std::string("low");
  return Status::InvalidArgument("--vm-priority '" + vm_priority +
                                 "' is not one of: dedicated, lowpriority");
}

void AddCreateAmlCompute(CLI::App* create, Context& ctx, int* exit_code) {
  struct Args {
    std::string name, vm_size, vm_priority;
    int max_nodes = 0;
    std::optional<int> min_nodes, idle;
    bool wait = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = create->add_subcommand(
      "amlcompute", "A managed cluster of a node size (ferry compute create cluster --vm-size)");
  cmd->add_option("-n,--name", a->name, "Cluster name")->required();
  cmd->add_option("-s,--vm-size", a->vm_size,
                  "Node size of the workspace's catalog ('ferry compute sizes list')")
      ->required();
  cmd->add_option("--max-nodes", a->max_nodes, "Nodes at most")->required();
  cmd->add_option("--min-nodes", a->min_nodes, "Nodes always up (default 0)");
  cmd->add_option("-p,--vm-priority", a->vm_priority, "dedicated (default) | lowpriority");
  cmd->add_option("--idle-seconds-before-scaledown", a->idle,
                  "Idle seconds before a node is stopped (default 1800, as Azure's)");
  cmd->add_flag("--wait", a->wait, "Follow provisioning until the minimum is up");
  cmd->callback([&ctx, a, exit_code] {
    auto priority = Priority(a->vm_priority);
    if (!priority.ok()) {
      *exit_code = ReportError(priority.status());
      return;
    }
    json body = {{"name", a->name},
                 {"kind", "cluster"},
                 {"vm_size", a->vm_size},
                 {"max_nodes", a->max_nodes},
                 {"min_nodes", a->min_nodes.value_or(0)},
                 {"idle_seconds_before_scaledown", a->idle.value_or(1800)},
                 {"priority", *priority}};
    *exit_code = Create(ctx, body, a->wait);
  });
}

void AddCreateComputeInstance(CLI::App* create, Context& ctx, int* exit_code) {
  struct Args {
    std::string name, vm_size;
    bool wait = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = create->add_subcommand(
      "computeinstance",
      "A single-owner machine of a node size, from the node provider (only you may submit)");
  cmd->add_option("-n,--name", a->name, "Instance name")->required();
  cmd->add_option("-s,--vm-size", a->vm_size,
                  "Node size of the workspace's catalog ('ferry compute sizes list')")
      ->required();
  cmd->add_flag("--wait", a->wait, "Follow provisioning until the machine is up");
  cmd->callback([&ctx, a, exit_code] {
    json body = {{"name", a->name},        {"kind", "cluster"}, {"vm_size", a->vm_size},
                 {"min_nodes", 1},         {"max_nodes", 1},    {"single_owner", true},
                 {"priority", "dedicated"}};
    *exit_code = Create(ctx, body, a->wait);
  });
}

void AddAttachRemote(CLI::App* attach, Context& ctx, int* exit_code) {
  struct Args {
    std::string name, address, username, password, key_file, passphrase;
    int ssh_port = 22;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = attach->add_subcommand("remote", "An SSH machine (ferry compute attach ssh)");
  cmd->add_option("-n,--name", a->name, "Target name")->required();
  cmd->add_option("-a,--address", a->address, "Host name or address")->required();
  cmd->add_option("--ssh-port", a->ssh_port, "SSH port (default 22)");
  cmd->add_option("-u,--username", a->username, "Remote user")->required();
  auto* pw = cmd->add_option("--password", a->password,
                             "Password (shows in process lists: prefer --private-key-file)");
  auto* key = cmd->add_option("--private-key-file", a->key_file, "Private key file");
  cmd->add_option("--private-key-passphrase", a->passphrase, "The key's passphrase");
  pw->excludes(key);
  cmd->callback([&ctx, a, exit_code] {
    if (a->password.empty() == a->key_file.empty()) {
      *exit_code = ReportError(
          Status::InvalidArgument("give exactly one of --password or --private-key-file"));
      return;
    }
    if (!a->passphrase.empty() && a->key_file.empty()) {
      *exit_code = ReportError(
          Status::InvalidArgument("--private-key-passphrase goes with --private-key-file"));
      return;
    }
    if (!a->password.empty() || !a->passphrase.empty()) {
      std::fprintf(stderr,
                   "ferry: warning: a %s given on the command line shows in process lists and "
                   "shell history; 'ferry compute attach ssh' reads it from a file "
                   "(--password-file, --passphrase-file)\n",
                   a->password.empty() ? "passphrase" : "password");
    }
    json body = {{"name", a->name},
                 {"kind", "ssh"},
                 {"host", a->address},
                 {"port", a->ssh_port},
                 {"user", a->username}};
    if (!a->password.empty()) body["password"] = a->password;
    if (!a->key_file.empty()) body["key_file"] = AbsolutePath(a->key_file);
    if (!a->passphrase.empty()) body["passphrase"] = a->passphrase;
    *exit_code = Create(ctx, body, false);
  });
}

}  // namespace

void AddSizeCommands(CLI::App* compute, Context& ctx, int* exit_code) {
  auto* sizes = compute->add_subcommand(
      "sizes", "The workspace's node sizes (names such as STANDARD_D2_V2) and node provider");
  sizes->require_subcommand(1);

  auto* list = sizes->add_subcommand("list", "List the node sizes and the default provider");
  list->callback([&ctx, exit_code] {
    auto r = ctx.Call("GET", "/api/v1/node-sizes");
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("Default provider: %s\n", ProviderText((*r)["default_provider"]).c_str());
    std::printf("%-28s %6s %10s %5s  %s\n", "NAME", "CPUS", "MEMORY_MB", "GPUS", "PROVIDER");
    for (auto& s : (*r)["sizes"]) {
      std::printf("%-28s %6d %10d %5d  %s\n", s.value("name", "").c_str(), s.value("cpus", 0),
                  s.value("memory_mb", 0), s.value("gpus", 0),
                  s.contains("provider") ? ProviderText(s).c_str() : "(default)");
    }
  });

  struct SetArgs {
    std::string name;
    int cpus = 0, memory_mb = 0, gpus = 0;
    ProviderArgs p;
  };
  auto a = std::make_shared<SetArgs>();
  auto* set = sizes->add_subcommand("set", "Add or replace a node size (admin)");
  set->add_option("name", a->name, "Size name (case-insensitive), e.g. STANDARD_D2_V2")->required();
  set->add_option("--cpus", a->cpus, "CPUs per node")->required();
  set->add_option("--memory-mb", a->memory_mb, "Memory per node (MB)")->required();
  set->add_option("--gpus", a->gpus, "GPUs per node (default 0)");
  set->add_option("--provider", a->p.provider,
                  "netns | command: this size's own provider (default: the workspace's)");
  AddProviderOptions(set, &a->p);
  set->callback([&ctx, a, exit_code] {
    json body = {{"cpus", a->cpus}, {"memory_mb", a->memory_mb}, {"gpus", a->gpus}};
    ProviderFields(a->p, &body);
    auto r = ctx.Call("PUT", "/api/v1/node-sizes/" + net::UrlEncode(a->name), body.dump());
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("node size %s: %d CPUs, %d MB, %d GPUs, provider %s\n", a->name.c_str(),
                (*r).value("cpus", 0), (*r).value("memory_mb", 0), (*r).value("gpus", 0),
                r->contains("provider") ? ProviderText(*r).c_str() : "(default)");
  });

  auto del_name = std::make_shared<std::string>();
  auto* del = sizes->add_subcommand("delete", "Remove a node size (admin)");
  del->add_option("name", *del_name, "Size name")->required();
  del->callback([&ctx, del_name, exit_code] {
    auto r = ctx.Call("DELETE", "/api/v1/node-sizes/" + net::UrlEncode(*del_name));
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("removed node size %s\n", del_name->c_str());
  });

  auto p = std::make_shared<ProviderArgs>();
  auto* provider = sizes->add_subcommand(
      "provider",
      "Set the default node provider (admin): what starts nodes of a size that "
      "names none");
  provider->add_option("provider", p->provider, "netns (this machine) | command | none")
      ->required();
  AddProviderOptions(provider, p.get());
  provider->callback([&ctx, p, exit_code] {
    json body = json::object();
    if (p->provider != "none") ProviderFields(*p, &body);
    auto r = ctx.Call("PUT", "/api/v1/node-provider", body.dump());
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("default node provider: %s\n", ProviderText((*r)["default_provider"]).c_str());
  });
}

void RegisterComputeTarget(CLI::App& app, Context& ctx, int* exit_code) {
  auto* ct = app.add_subcommand(
      "computetarget", "Compute targets as Azure CLI v1 spells them (az ml computetarget)");
  ct->require_subcommand(1);
  auto* create = ct->add_subcommand("create", "Create a managed cluster or compute instance");
  create->require_subcommand(1);
  AddCreateAmlCompute(create, ctx, exit_code);
  AddCreateComputeInstance(create, ctx, exit_code);
  auto* attach = ct->add_subcommand("attach", "Attach an existing machine");
  attach->require_subcommand(1);
  AddAttachRemote(attach, ctx, exit_code);

  ct->add_subcommand("list", "List compute targets")->callback([&ctx, exit_code] {
    *exit_code = ListComputes(ctx);
  });
  auto show_name = std::make_shared<std::string>();
  auto* show = ct->add_subcommand("show", "Show a compute target");
  show->add_option("-n,--name", *show_name, "Target name")->required();
  show->callback([&ctx, show_name, exit_code] { *exit_code = ShowCompute(ctx, *show_name); });

  struct NameForce {
    std::string name;
    bool force = false;
  };
  auto del = std::make_shared<NameForce>();
  auto* del_cmd =
      ct->add_subcommand("delete", "Delete a managed cluster or compute instance (its nodes stop)");
  del_cmd->add_option("-n,--name", del->name, "Target name")->required();
  del_cmd->add_flag("--force", del->force, "Cancel its active runs instead of refusing");
  del_cmd->callback([&ctx, del, exit_code] {
    auto t = ctx.Call("GET", "/api/v1/computes/" + net::UrlEncode(del->name));
    if (!t.ok()) {
      *exit_code = ReportError(t.status());
      return;
    }
    const std::string kind = (*t).value("kind", "");
    if (kind == "local") {
      *exit_code = ReportError(Status::InvalidArgument(
          "'local' is this machine, always a target of the workspace: it can be neither deleted "
          "nor detached (stop using it by submitting to another target)"));
      return;
    }
    if (kind != "cluster") {
      *exit_code = ReportError(Status::InvalidArgument(
          "'" + del->name + "' is an attached " + kind +
          " target, which Ferry did not make: detach it with 'ferry computetarget detach -n " +
          del->name + "' (the machine itself is left as it is)"));
      return;
    }
    *exit_code = DetachCompute(ctx, del->name, del->force);
  });
  auto det = std::make_shared<NameForce>();
  auto* det_cmd = ct->add_subcommand("detach", "Detach a compute target");
  det_cmd->add_option("-n,--name", det->name, "Target name")->required();
  det_cmd->add_flag("--force", det->force, "Cancel its active runs instead of refusing");
  det_cmd->callback(
      [&ctx, det, exit_code] { *exit_code = DetachCompute(ctx, det->name, det->force); });
}

}  // namespace ferry::cli
