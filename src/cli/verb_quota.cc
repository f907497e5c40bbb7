// `ferry quota show|set`: the workspace's quota on managed clusters.

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "net/http.h"

namespace ferry::cli {

using nlohmann::json;

void RegisterQuota(CLI::App& app, Context& ctx, int* exit_code) {
  auto* quota = app.add_subcommand("quota", "The workspace's limits on managed clusters");
  quota->require_subcommand(1);
  auto* show = quota->add_subcommand("show", "Show the limits");
  show->callback([&ctx, exit_code] {
    auto r = ctx.Call("GET", "/api/v1/quota");
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    auto fmt = [](int64_t v) { return v < 0 ? std::string("no limit") : std::to_string(v); };
    std::printf("cores: %s\ngpus:  %s\n", fmt((*r).value("cluster_cores", int64_t{-1})).c_str(),
                fmt((*r).value("cluster_gpus", int64_t{-1})).c_str());
  });
  auto* set = quota->add_subcommand("set", "Set the limits (-1: none)");
  auto cores = std::make_shared<std::optional<int64_t>>();
  auto gpus = std::make_shared<std::optional<int64_t>>();
  set->add_option("--cores", *cores, "Cores across all managed clusters at their maximum size");
  set->add_option("--gpus", *gpus, "GPUs across all managed clusters at their maximum size");
  set->callback([&ctx, cores, gpus, exit_code] {
    json body = json::object();
    if (*cores) body["cluster_cores"] = **cores;
    if (*gpus) body["cluster_gpus"] = **gpus;
    auto r = ctx.Call("PUT", "/api/v1/quota", body.dump());
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("quota: %s cores, %s GPUs\n", (*r)["cluster_cores"].dump().c_str(),
                (*r)["cluster_gpus"].dump().c_str());
  });
}

}  // namespace ferry::cli
