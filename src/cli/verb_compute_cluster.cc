// Managed clusters' extras: `ferry compute update|delete`, their details in `compute show`,
// and `compute create cluster --wait` (the create command itself comes from the kind table).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/context.h"
#include "cli/term.h"
#include "net/http.h"

namespace ferry::cli {

using nlohmann::json;

// Prints node events as they change until the minimum is up (or a node fails), for --wait;
// on a terminal a progress line below them counts the nodes up and the time waited.
int WaitForCluster(Context& ctx, const std::string& name, int min_nodes, double timeout_s) {
  std::map<std::string, std::string> seen;
  const auto start = std::chrono::steady_clock::now();
  auto deadline = start + std::chrono::duration<double>(timeout_s);
  Progress progress(!ctx.json_output());
  for (;;) {
    auto r = ctx.Call("GET", "/api/v1/computes/" + net::UrlEncode(name));
    if (!r.ok()) {
      progress.Clear();
      return ReportError(r.status());
    }
    const json& d = (*r)["details"];
    for (auto& n : d["nodes"]) {
      std::string line = n.value("provider_state", "") + " (slurm: " + n.value("slurm_state", "") +
                         ")" + (n.contains("error") ? ": " + n["error"].get<std::string>() : "");
      std::string node = n.value("node", "");
      if (seen[node] != line) {
        progress.Clear();
        if (!seen[node].empty() || n.value("provider_state", "") != "stopped")
          std::printf("%s: %s\n", node.c_str(), line.c_str());
        seen[node] = line;
        std::fflush(stdout);
      }
    }
    const json& counts = d["counts"];
    const int up = counts.value("idle", 0) + counts.value("busy", 0);
    progress.Update([&] {
      long secs = static_cast<long>(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      return "cluster " + name + ": " + std::to_string(up) + "/" + std::to_string(min_nodes) +
             " nodes up, " + std::to_string(counts.value("starting", 0)) + " starting (" +
             std::to_string(secs) + " s)";
    });
    if (up >= min_nodes) {
      progress.Clear();
      std::printf("cluster %s ready: %d node(s) up, %d more on demand\n", name.c_str(),
                  counts.value("current", 0), d.value("max_nodes", 0) - counts.value("current", 0));
      return kExitOk;
    }
    if (counts.value("failed", 0) > 0 && min_nodes > 0) {
      progress.Clear();
      return ReportError(
          Status::FailedPrecondition("a node of cluster '" + name + "' failed to start (above)"));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      progress.Clear();
      return ReportError(Status::Unavailable("cluster '" + name + "' was not ready within " +
                                             std::to_string(int(timeout_s)) + " s"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

void PrintClusterDetails(const json& d) {
  const json& size = d["node_size"];
  std::printf("Provider:    %s, %s priority\n", d.value("provider", "").c_str(),
              d.value("priority", "").c_str());
  std::printf(
      "Nodes:       %d-%d of %d CPUs, %d MB%s; scale down after %d s idle\n",
      d.value("min_nodes", 0), d.value("max_nodes", 0), size.value("cpus", 0),
      size.value("memory_mb", 0),
      size.value("gpus", 0) ? (", " + std::to_string(size.value("gpus", 0)) + " GPUs").c_str() : "",
      d.value("idle_seconds_before_scaledown", 0));
  const json& c = d["counts"];
  std::printf("Now:         %d up (%d busy, %d idle), %d starting, %d failed; %d job(s) waiting\n",
              c.value("current", 0), c.value("busy", 0), c.value("idle", 0), c.value("starting", 0),
              c.value("failed", 0), d.value("pending_jobs", 0));
  std::printf("Scaling:     %lld up, %lld down, %lld node(s) lost\n",
              static_cast<long long>(d.value("scale_ups", 0)),
              static_cast<long long>(d.value("scale_downs", 0)),
              static_cast<long long>(d.value("lost_nodes", 0)));
  if (d.contains("autoscaler_error"))
    std::printf("Error:       %s\n", d["autoscaler_error"].get<std::string>().c_str());
  std::printf("  %-24s %-12s %-12s %-16s %s\n", "NODE", "PROVIDER", "SLURM", "ADDRESS", "ERROR");
  for (auto& n : d["nodes"]) {
    std::printf("  %-24s %-12s %-12s %-16s %s\n", n.value("node", "").c_str(),
                n.value("provider_state", "").c_str(), n.value("slurm_state", "").c_str(),
                n.value("address", "-").c_str(), n.value("error", "").c_str());
  }
}

void AddClusterCommands(CLI::App* compute, Context& ctx, int* exit_code) {
  struct UpdateArgs {
    std::string name;
    std::optional<int> min_nodes, max_nodes, idle;
  };
  auto u = std::make_shared<UpdateArgs>();
  auto* update = compute->add_subcommand(
      "update", "Change a managed cluster's size or idle time (running jobs are kept)");
  update->add_option("name", u->name, "Cluster name")->required();
  update->add_option("--min-nodes", u->min_nodes, "Nodes always up");
  update->add_option("--max-nodes", u->max_nodes, "Nodes at most");
  update->add_option("--idle-seconds-before-scaledown", u->idle,
                     "Idle seconds before a node is stopped");
  update->callback([&ctx, u, exit_code] {
    json body = json::object();
    if (u->min_nodes) body["min_nodes"] = *u->min_nodes;
    if (u->max_nodes) body["max_nodes"] = *u->max_nodes;
    if (u->idle) body["idle_seconds_before_scaledown"] = *u->idle;
    if (body.empty()) {
      *exit_code = ReportError(Status::InvalidArgument(
          "nothing to change: give --min-nodes, --max-nodes or --idle-seconds-before-scaledown"));
      return;
    }
    auto r = ctx.Call("PATCH", "/api/v1/computes/" + net::UrlEncode(u->name), body.dump());
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    const json& c = (*r)["cluster"];
    std::printf("updated %s: %d-%d nodes, scale down after %d s idle\n", u->name.c_str(),
                c.value("min_nodes", 0), c.value("max_nodes", 0), c.value("idle_seconds", 0));
  });

  struct DeleteArgs {
    std::string name;
    bool force = false, yes = false;
  };
  auto d = std::make_shared<DeleteArgs>();
  auto* del =
      compute->add_subcommand("delete", "Delete a managed cluster: stop its nodes and controller");
  del->add_option("name", d->name, "Cluster name")->required();
  del->add_flag("--force", d->force, "Cancel its active runs");
  del->add_flag("-y,--yes", d->yes, "Do not ask for confirmation");
  del->callback([&ctx, d, exit_code] {
    auto t = ctx.Call("GET", "/api/v1/computes/" + net::UrlEncode(d->name));
    if (!t.ok()) {
      *exit_code = ReportError(t.status());
      return;
    }
    if ((*t)["kind"] == "local") {
      *exit_code = ReportError(Status::InvalidArgument(
          "'local' is this machine, always a target of the workspace: it can be neither deleted "
          "nor detached (stop using it by submitting to another target)"));
      return;
    }
    if ((*t)["kind"] != "cluster") {
      *exit_code = ReportError(Status::InvalidArgument("'" + d->name + "' is a " +
                                                       (*t)["kind"].get<std::string>() +
                                                       " target; use 'ferry compute detach'"));
      return;
    }
    if (!d->yes) {
      if (!::isatty(STDIN_FILENO)) {
        *exit_code = ReportError(Status::InvalidArgument(
            "deleting cluster '" + d->name + "' stops all its nodes: confirm with --yes"));
        return;
      }
      std::printf("Delete cluster %s and stop all its nodes? [y/N] ", d->name.c_str());
      std::fflush(stdout);
      std::string answer;
      std::getline(std::cin, answer);
      if (answer != "y" && answer != "Y" && answer != "yes") {
        std::printf("not deleted\n");
        return;
      }
    }
    auto r = ctx.Call(
        "DELETE", "/api/v1/computes/" + net::UrlEncode(d->name) + (d->force ? "?force=true" : ""));
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("deleted cluster %s (%d active run(s) canceled)\n", d->name.c_str(),
                (*r)["canceled_runs"].get<int>());
  });
}

}  // namespace ferry::cli
