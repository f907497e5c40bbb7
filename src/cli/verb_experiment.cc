// `ferry experiment create|list`.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "common/fs.h"
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
    if (ctx.json_output())
      PrintJson(*r);
    else
      std::printf("created experiment %s\n", name->c_str());
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
      std::printf("%-40s %s\n", e["name"].get<std::string>().c_str(),
                  FormatTime(e["created_at"].get<double>()).c_str());
    }
  });
}

}  // namespace ferry::cli
