// `ferry experiment create|list` and `ferry compute list|show`.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "net/http.h"

namespace ferry::cli {

using nlohmann::json;

void RegisterExperiment(CLI::App& app, Context& ctx, int* exit_code) {
  auto* exp = app.add_subcommand("experiment", "Experiments group runs");
  exp->require_subcommand(1);
  auto* create = exp->add_subcommand("create", "Create an experiment");
  auto name = std::make_shared<std::string>();
  create->add_option("-n,--name", *name, "Experiment name")->required();
  create->callback([&ctx, name, exit_code] {
    auto r = ctx.Call("POST", "/api/v1/experiments", json{{"name", *name}}.dump());
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) PrintJson(*r);
    else std::printf("created experiment %s\n", name->c_str());
  });
  auto* list = exp->add_subcommand("list", "List experiments");
  list->callback([&ctx, exit_code] {
    auto r = ctx.Call("GET", "/api/v1/experiments");
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("%-40s %s\n", "NAME", "CREATED");
    for (auto& e : (*r)["experiments"]) {
      std::printf("%-40s %s\n", e["name"].get<std::string>().c_str(), FormatTime(e["created_at"].get<double>()).c_str());
    }
  });
}

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
    std::printf("%-20s %-8s %-12s %-8s %-8s %s\n", "NAME", "KIND", "STATE", "ACTIVE", "QUEUED", "MAX");
    for (auto& t : (*r)["computes"]) {
      std::printf("%-20s %-8s %-12s %-8d %-8d %s\n", t["name"].get<std::string>().c_str(),
                  t["kind"].get<std::string>().c_str(), t.value("state", "").c_str(), t.value("active_runs", 0),
                  t.value("queued_runs", 0), t.contains("max_concurrent_runs") ? t["max_concurrent_runs"].dump().c_str() : "-");
    }
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
    std::printf("Name:        %s\nKind:        %s\nState:       %s\n", t["name"].get<std::string>().c_str(),
                t["kind"].get<std::string>().c_str(), t.value("state", "").c_str());
    if (t.contains("max_concurrent_runs")) std::printf("Max runs:    %d\n", t["max_concurrent_runs"].get<int>());
    std::printf("Active runs: %d\nQueued runs: %d\n", t.value("active_runs", 0), t.value("queued_runs", 0));
    if (t.contains("details")) std::printf("Details:     %s\n", t["details"].dump().c_str());
    for (auto& run : t["runs"]) {
      std::printf("  %-50s %s\n", run["id"].get<std::string>().c_str(), run["status"].get<std::string>().c_str());
    }
  });
}

}  // namespace ferry::cli
