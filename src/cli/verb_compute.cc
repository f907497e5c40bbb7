// `ferry compute list|show|attach|detach|trust|stop|start` (managed clusters:
// verb_compute_cluster.cc; node sizes and Azure CLI v1's `computetarget`: verb_computetarget.cc).
#include <CLI/CLI.hpp>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/context.h"
#include "common/fs.h"
#include "compute/kind.h"
#include "net/http.h"

namespace ferry::cli {

using nlohmann::json;

// verb_compute_cluster.cc: `compute update|delete` of managed clusters, their details, --wait.
void AddClusterCommands(CLI::App* compute, Context& ctx, int* exit_code);
void PrintClusterDetails(const json& details);
int WaitForCluster(Context& ctx, const std::string& name, int min_nodes, double timeout_s);
// verb_computetarget.cc: `compute sizes list|set|delete|provider` (the node-size catalog).
void AddSizeCommands(CLI::App* compute, Context& ctx, int* exit_code);

namespace {

// A secret from a file (--password-file, --passphrase-file): its first line, never empty.
Result<std::string> ReadSecretFile(const std::string& path, const std::string& what) {
  if (path.empty()) return std::string();
  FERRY_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return Status::InvalidArgument(what + " file " + path + " is empty");
  return text;
}

// "4,8192" or "4,8192,1": CPUs, memory (MB), GPUs.
Status ParseNodeSize(const std::string& flag, const std::string& text, json* body) {
  std::vector<int> v;
  std::stringstream ss(text);
  for (std::string part; std::getline(ss, part, ',');) {
    char* end = nullptr;
    long n = std::strtol(part.c_str(), &end, 10);
    if (part.empty() || *end != '\0' || n < 0 || n > INT32_MAX) {
      v.clear();
      break;
    }
    v.push_back(static_cast<int>(n));
  }
  if (v.size() < 2 || v.size() > 3) {
    return Status::InvalidArgument(flag + " '" + text +
                                   "': expected CPUS,MEMORY_MB[,GPUS], e.g. 4,8192 or 8,65536,1");
  }
  (*body)["cpus"] = v[0];
  (*body)["memory_mb"] = v[1];
  (*body)["gpus"] = v.size() == 3 ? v[2] : 0;
  return Status::Ok();
}

// The request of `compute attach|create KIND NAME`: each option into its field.
Result<json> KindRequest(const compute::KindOps& k, const std::string& name,
                         const std::map<std::string, std::string>& text,
                         const std::map<std::string, bool>& flags) {
  using T = compute::KindOption::Type;
  // Each group of options of which exactly one must be given.
  std::map<std::string, std::vector<const compute::KindOption*>> groups;
  for (const auto& o : k.options) {
    if (*o.one_of) groups[o.one_of].push_back(&o);
  }
  for (const auto& [group, opts] : groups) {
    int given = 0;
    std::string names;
    for (const auto* o : opts) {
      given += o->type == T::kFlag ? flags.at(o->flag) : !text.at(o->flag).empty();
      names += (names.empty() ? "" : " or ") + std::string(o->flag);
    }
    if (given != 1) return Status::InvalidArgument("give exactly one of " + names);
  }
  json body = {{"name", name}, {"kind", k.name}};
  for (const auto& o : k.options) {
    if (o.type == T::kFlag) {
      if (flags.at(o.flag)) body[o.field] = true;
      continue;
    }
    const std::string& v = text.at(o.flag);
    if (v.empty()) continue;
    switch (o.type) {
      case T::kString:
        body[o.field] = v;
        break;
      case T::kInt:
        body[o.field] = std::stoi(v);
        break;  // checked by the option's validator
      case T::kPath:
        body[o.field] = AbsolutePath(v);
        break;
      case T::kSecretFile: {
        FERRY_ASSIGN_OR_RETURN(std::string secret,
                               ReadSecretFile(v, "the " + std::string(o.field)));
        body[o.field] = secret;
        break;
      }
      case T::kNodeSize:
        FERRY_RETURN_IF_ERROR(ParseNodeSize(o.flag, v, &body));
        break;
      case T::kFlag:
        break;
    }
  }
  return body;
}

// `ferry compute attach|create KIND NAME [options]`, built from the kind's row of the kind
// table (compute/kind.h): a new kind gets its command from its row.
void AddKindCommand(CLI::App* parent, const compute::KindOps& k, Context& ctx, int* exit_code) {
  using T = compute::KindOption::Type;
  struct Args {
    std::string name;
    std::map<std::string, std::string> text;
    std::map<std::string, bool> flags;
    bool wait = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = parent->add_subcommand(k.name, k.help);
  cmd->add_option("name", a->name, "Target name")->required();
  for (const auto& o : k.options) {
    if (o.type == T::kFlag) {
      cmd->add_flag(o.flag, a->flags[o.flag], o.help);
      continue;
    }
    auto* opt = cmd->add_option(o.flag, a->text[o.flag], o.help);
    if (o.required) opt->required();
    if (o.type == T::kInt) {
      opt->check(CLI::Validator(
          [](std::string& v) -> std::string {
            char* end = nullptr;
            errno = 0;
            long n = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || errno != 0 || n < INT32_MIN || n > INT32_MAX) {
              return "'" + v + "' is not an integer";
            }
            return "";
          },
          "INT"));
    }
  }
  if (k.provisions) cmd->add_flag("--wait", a->wait, "Follow provisioning until the minimum is up");
  cmd->callback([&ctx, &k, a, exit_code] {
    auto body = KindRequest(k, a->name, a->text, a->flags);
    if (!body.ok()) {
      *exit_code = ReportError(body.status());
      return;
    }
    auto r = ctx.Call("POST", "/api/v1/computes", body->dump());
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    for (auto& w : (*r)["warnings"])
      std::fprintf(stderr, "ferry: warning: %s\n", w.get<std::string>().c_str());
    if (ctx.json_output() && !a->wait) return PrintJson(*r);
    std::printf("%s\n", r->value("summary", "").c_str());
    std::fflush(stdout);
    if (a->wait) {
      *exit_code = WaitForCluster(ctx, a->name, body->value("min_nodes", 0),
                                  body->value("provider_timeout_s", 300) + 60);
    }
  });
}

}  // namespace

int ListComputes(Context& ctx) {
  auto r = ctx.Call("GET", "/api/v1/computes");
  if (!r.ok()) return ReportError(r.status());
  if (ctx.json_output()) {
    PrintJson(*r);
    return kExitOk;
  }
  std::printf("%-20s %-8s %-12s %-8s %-8s %s\n", "NAME", "KIND", "STATE", "ACTIVE", "QUEUED",
              "MAX");
  for (auto& t : (*r)["computes"]) {
    std::printf("%-20s %-8s %-12s %-8d %-8d %s\n", t["name"].get<std::string>().c_str(),
                t["kind"].get<std::string>().c_str(), t.value("state", "").c_str(),
                t.value("active_runs", 0), t.value("queued_runs", 0),
                t.contains("max_concurrent_runs") ? t["max_concurrent_runs"].dump().c_str() : "-");
  }
  return kExitOk;
}

int DetachCompute(Context& ctx, const std::string& name, bool force) {
  auto r =
      ctx.Call("DELETE", "/api/v1/computes/" + net::UrlEncode(name) + (force ? "?force=true" : ""));
  if (!r.ok()) return ReportError(r.status());
  if (ctx.json_output()) {
    PrintJson(*r);
    return kExitOk;
  }
  std::printf("detached %s (%d active run(s) canceled)\n", name.c_str(),
              (*r)["canceled_runs"].get<int>());
  return kExitOk;
}

int ShowCompute(Context& ctx, const std::string& name) {
  auto r = ctx.Call("GET", "/api/v1/computes/" + net::UrlEncode(name));
  if (!r.ok()) return ReportError(r.status());
  if (ctx.json_output()) {
    PrintJson(*r);
    return kExitOk;
  }
  const json& t = *r;
  std::printf(
      "Name:        %s\nKind:        %s\nState:       %s%s\n", t["name"].get<std::string>().c_str(),
      t["kind"].get<std::string>().c_str(), t.value("state", "").c_str(),
      t.contains("state_reason") ? (" (" + t["state_reason"].get<std::string>() + ")").c_str()
                                 : "");
  if (t.contains("max_concurrent_runs"))
    std::printf("Max runs:    %d\n", t["max_concurrent_runs"].get<int>());
  std::printf("Active runs: %d\nQueued runs: %d\n", t.value("active_runs", 0),
              t.value("queued_runs", 0));
  const compute::KindOps* kind = compute::FindKind(t.value("kind", ""));
  if (kind && kind->provisions && t.contains("details") && t["details"].is_object()) {
    PrintClusterDetails(t["details"]);
  } else if (t.contains("details")) {
    std::printf("Details:     %s\n", t["details"].dump().c_str());
  }
  for (auto& run : t["runs"]) {
    std::printf("  %-50s %s\n", run["id"].get<std::string>().c_str(),
                run["status"].get<std::string>().c_str());
  }
  return kExitOk;
}

void RegisterCompute(CLI::App& app, Context& ctx, int* exit_code) {
  auto* compute = app.add_subcommand("compute", "Compute targets");
  compute->require_subcommand(1);
  auto* list = compute->add_subcommand("list", "List compute targets");
  list->callback([&ctx, exit_code] { *exit_code = ListComputes(ctx); });
  auto* attach =
      compute->add_subcommand("attach", "Attach a remote machine or cluster as a compute target");
  attach->require_subcommand(1);
  auto* create = compute->add_subcommand("create", "Create a compute target");
  create->require_subcommand(1);
  for (const auto& k : compute::Kinds()) {
    if (!k.attach) continue;
    AddKindCommand(std::string_view(k.verb) == "create" ? create : attach, k, ctx, exit_code);
  }
  AddClusterCommands(compute, ctx, exit_code);
  AddSizeCommands(compute, ctx, exit_code);
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
    *exit_code = DetachCompute(ctx, *detach_name, *force);
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
  show->callback([&ctx, name, exit_code] { *exit_code = ShowCompute(ctx, *name); });
}

}  // namespace ferry::cli
