// `ferry sweep show|best|cancel` and following a sweep (`run submit-hyperdrive --wait`).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/context.h"
#include "cli/term.h"
#include "net/http.h"

namespace ferry::cli {

using nlohmann::json;

namespace {

std::string SweepPath(const std::string& id, const std::string& sub = "") {
  return "/api/v1/sweeps/" + net::UrlEncode(id) + (sub.empty() ? "" : "/" + sub);
}

std::string ParamsText(const json& params) {
  std::string out;
  for (auto& [k, v] : params.items()) out += (out.empty() ? "" : " ") + k + " " + ScalarText(v);
  return out;
}

bool Terminal(const std::string& s) { return s == "Completed" || s == "Failed" || s == "Canceled"; }

void PrintSweep(const json& j) {
  const json& sw = j["sweep"];
  const std::string metric = sw.value("primary_metric_name", "");
  std::printf("Sweep:       %s\nStatus:      %s\nExperiment:  %s\nTarget:      %s\n",
              j.value("id", "").c_str(), StatusText(Stream::kStdout, j.value("status", "")).c_str(),
              j.value("experiment", "").c_str(), j.value("target", "").c_str());
  std::printf("Sampling:    %s (seed %s), %s\n", sw.value("sampling", "").c_str(),
              ScalarText(sw["seed"]).c_str(), sw.value("policy", "").c_str());
  std::printf("Metric:      %s (%s)\n", metric.c_str(),
              sw.value("primary_metric_goal", "").c_str());
  const json& counts = j["counts"];
  int total = 0;
  for (auto& [k, v] : counts.items()) total += v.get<int>();
  std::string by;
  for (auto& [k, v] : counts.items())
    by += (by.empty() ? "" : ", ") + std::to_string(v.get<int>()) + " " + k;
  std::printf("Progress:    %d of %d trials (%s); at most %d at a time", total,
              sw.value("max_total_runs", 0), by.empty() ? "none yet" : by.c_str(),
              sw.value("max_concurrent_runs", 0));
  if (sw.value("max_duration_minutes", 0) > 0)
    std::printf("; max %d minutes", sw["max_duration_minutes"].get<int>());
  std::printf("\n");
  if (!j["best"].is_null()) {
    const json& b = j["best"];
    std::printf("Best:        %s  %s %s  (%s)\n", b.value("id", "").c_str(), metric.c_str(),
                ScalarText(b["metric"]).c_str(), ParamsText(b["parameters"]).c_str());
  } else {
    std::printf("Best:        - (no trial has reported %s yet)\n", metric.c_str());
  }
  if (j["trials"].empty()) return;
  std::vector<std::string> names;
  for (auto& p : sw["parameters"]) names.push_back(p.value("name", ""));
  std::printf("\n%-30s %-10s", "TRIAL", "STATUS");
  for (auto& n : names) std::printf(" %-14s", n.c_str());
  std::printf(" %-12s %-7s %s\n", metric.c_str(), "REPORTS", "NOTE");
  for (auto& t : j["trials"]) {
    std::printf("%-30s %s", t.value("id", "").c_str(),
                StatusText(Stream::kStdout, t.value("status", ""), 10).c_str());
    for (auto& n : names)
      std::printf(" %-14s", ScalarText(t["parameters"].value(n, json())).c_str());
    std::string note = t.value("reason", t.value("error", ""));
    if (note.size() > 120) note = note.substr(0, 117) + "...";
    for (char& c : note) c = c == '\n' ? ' ' : c;
    std::printf(" %-12s %-7s %s\n", ScalarText(t["metric"]).c_str(),
                ScalarText(t["reports"]).c_str(), note.c_str());
  }
}

Result<json> GetSweep(Context& ctx, const std::string& id) {
  FERRY_RETURN_IF_ERROR(ctx.Connect());
  return ctx.Call("GET", SweepPath(id));
}

}  // namespace

int WaitSweep(Context& ctx, const std::string& sweep_id) {
  std::map<std::string, std::string> seen;  // trial -> status printed
  int reconnects = 0;
  for (;;) {
    auto j = ctx.Call("GET", SweepPath(sweep_id));
    if (!j.ok() && j.status().code() == StatusCode::kUnavailable && reconnects < 60) {
      // The server restarted: the sweep resumes with it.
      if (reconnects++ == 0)
        std::fprintf(stderr, "ferry: lost the server (%s); reconnecting\n",
                     j.status().message().c_str());
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      (void)ctx.Reconnect();
      continue;
    }
    if (!j.ok()) return ReportError(j.status());
    reconnects = 0;
    const std::string metric = (*j)["sweep"].value("primary_metric_name", "");
    for (auto& t : (*j)["trials"]) {
      std::string id = t.value("id", ""), status = t.value("status", "");
      if (seen[id] == status || !Terminal(status)) continue;
      seen[id] = status;
      std::string note = t.value("reason", t.value("error", ""));
      if (note.size() > 160) note = note.substr(0, 157) + "...";
      std::fprintf(stderr, "trial %s %s: %s %s (%s)%s%s\n", id.c_str(),
                   StatusText(Stream::kStderr, status).c_str(), metric.c_str(),
                   ScalarText(t["metric"]).c_str(), ParamsText(t["parameters"]).c_str(),
                   note.empty() ? "" : ": ", note.c_str());
    }
    std::string status = j->value("status", "");
    if (Terminal(status)) {
      if (ctx.json_output()) {
        PrintJson(*j);
      } else {
        PrintSweep(*j);
      }
      if (status == "Completed") return kExitOk;
      return status == "Canceled" ? kExitCanceled : kExitFailed;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

void RegisterSweep(CLI::App& app, Context& ctx, int* exit_code) {
  auto* sweep = app.add_subcommand(
      "sweep", "Hyperparameter sweeps (submit one with 'ferry run submit-hyperdrive')");
  sweep->require_subcommand(1);
  auto id = std::make_shared<std::string>();

  auto* show = sweep->add_subcommand(
      "show", "Progress, the best trial so far and every trial with its parameters");
  show->add_option("sweep_id", *id, "The sweep's run id")->required();
  show->callback([&ctx, id, exit_code] {
    auto j = GetSweep(ctx, *id);
    if (!j.ok()) {
      *exit_code = ReportError(j.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*j);
    PrintSweep(*j);
  });

  auto* best = sweep->add_subcommand("best", "The best trial: its run id, metric and parameters");
  best->add_option("sweep_id", *id, "The sweep's run id")->required();
  best->callback([&ctx, id, exit_code] {
    auto j = GetSweep(ctx, *id);
    if (!j.ok()) {
      *exit_code = ReportError(j.status());
      return;
    }
    const json& b = (*j)["best"];
    if (b.is_null()) {
      *exit_code =
          ReportError(Status::NotFound("no trial of sweep '" + *id + "' has reported " +
                                       (*j)["sweep"].value("primary_metric_name", "") + " yet"));
      return;
    }
    if (ctx.json_output()) return PrintJson(b);
    std::printf("Trial:       %s\nStatus:      %s\n%-12s %s\n", b.value("id", "").c_str(),
                StatusText(Stream::kStdout, b.value("status", "")).c_str(),
                ((*j)["sweep"].value("primary_metric_name", "") + ":").c_str(),
                ScalarText(b["metric"]).c_str());
    std::printf("Parameters:\n");
    for (auto& [k, v] : b["parameters"].items())
      std::printf("  %-24s %s\n", k.c_str(), ScalarText(v).c_str());
  });

  auto* cancel = sweep->add_subcommand("cancel", "Cancel a sweep and its running trials");
  cancel->add_option("sweep_id", *id, "The sweep's run id")->required();
  cancel->callback([&ctx, id, exit_code] {
    Status st = ctx.Connect();
    auto r = st.ok() ? ctx.Call("POST", SweepPath(*id, "cancel"), "{}") : Result<json>(st);
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("cancel requested for sweep %s (status %s); its running trials are canceled too\n",
                id->c_str(), (*r)["status"].get<std::string>().c_str());
  });
}

}  // namespace ferry::cli
