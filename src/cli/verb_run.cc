// `ferry run list|show|logs|metrics|cancel|download`.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/context.h"
#include "cli/follow.h"
#include "cli/term.h"
#include "common/fs.h"
#include "common/utf8.h"
#include "model/manifest.h"
#include "net/http.h"
#include "net/http_client.h"

namespace ferry::cli {

using nlohmann::json;

void RegisterRunSubmit(CLI::App& run, Context& ctx, int* exit_code);
void RegisterRunSubmitPipeline(CLI::App& run, Context& ctx, int* exit_code);  // verb_pipeline.cc

namespace {

// What a run waiting to start is doing, for the progress line of `logs -f` and `submit --wait`.
// The phase comes from the run's status and what it prepares (working copy, container image,
// managed environment); a run with a managed environment whose log has started while it is
// Preparing is building it (the build's output is the start of the log).
class WaitingLine {
 public:
  WaitingLine(Context& ctx, const std::string& run_id, bool enabled)
      : ctx_(ctx), run_id_(run_id), progress_(enabled) {}

  bool Live() const { return progress_.live(); }
  // Shown while the run is Queued or Preparing; other statuses end it.
  void Show(const std::string& status, bool log_started) {
    if (status != "Queued" && status != "Preparing") {
      progress_.Clear();
      return;
    }
    if (status != status_) {
      status_ = status;
      since_ = std::chrono::steady_clock::now();
      if (status == "Preparing" && !asked_) DescribeEnvironment();
    }
    std::string phase = "queued";
    if (status == "Preparing") {
      // The agent ships the build's output when it can; until some has come, the phases
      // still ahead are named together.
      phase = "preparing the working copy";
      if (!image_.empty()) phase += ", the container " + image_;
      if (!environment_.empty()) phase += " and the " + environment_;
      if (!environment_.empty() && log_started) phase = "building the " + environment_;
    }
    long secs = static_cast<long>(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - since_).count());
    // Plain text: the line is cut to the terminal's width, which must not split a colour code.
    progress_.Update("Run " + run_id_ + " " + status + ": " + phase + " (" + std::to_string(secs) +
                     " s)");
  }
  void Clear() { progress_.Clear(); }

 private:
  // Which environment and image the run prepares (asked once, when it enters Preparing).
  void DescribeEnvironment() {
    asked_ = true;
    auto run = ctx_.Call("GET", "/api/v1/runs/" + net::UrlEncode(run_id_));
    if (!run.ok()) return;
    if (run->contains("environment") && (*run)["environment"].is_object()) {
      const json& e = (*run)["environment"];
      environment_ = e.value("type", "managed") + " environment";
      if (e.contains("name")) {
        environment_ += " " + e.value("name", "");
      } else if (!e.value("file", "").empty()) {
        environment_ += " from " + e.value("file", "");
      }
    }
    if (run->contains("docker") && (*run)["docker"].is_object())
      image_ = (*run)["docker"].value("base_image", "");
  }

  Context& ctx_;
  const std::string run_id_;
  Progress progress_;
  std::string status_, environment_, image_;
  bool asked_ = false;
  std::chrono::steady_clock::time_point since_;
};

}  // namespace

int StreamLogs(Context& ctx, const std::string& run_id, bool follow, int rank) {
  uint64_t offset = 0;
  std::string path = "/api/v1/runs/" + net::UrlEncode(run_id) + "/logs?offset=";
  int reconnects = 0;
  // On a terminal, a run that has not started yet shows what it is waiting for; the long poll
  // then returns every second so the line's clock moves.
  WaitingLine waiting(ctx, run_id, follow && !ctx.json_output());
  bool started = false;       // the run has been seen past Preparing
  bool at_line_start = true;  // the last log byte printed ended a line
  for (;;) {
    const bool short_poll = waiting.Live() && !started;
    auto r =
        ctx.Raw("GET",
                path + std::to_string(offset) + (rank > 0 ? "&rank=" + std::to_string(rank) : "") +
                    (follow ? (short_poll ? "&wait_ms=1000" : "&wait_ms=30000") : ""),
                "", 90000);
    if (!r.ok() && r.status().code() == StatusCode::kUnavailable && follow && reconnects < 30) {
      // The server went away (crash, restart): runs go on without it, so wait for it (the
      // embedded workspace is started again by Connect) and continue from the same offset.
      waiting.Clear();
      if (reconnects++ == 0)
        std::fprintf(stderr, "ferry: lost the server (%s); reconnecting\n",
                     r.status().message().c_str());
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      (void)ctx.Reconnect();
      continue;
    }
    if (!r.ok() || r->status != 200) {
      waiting.Clear();  // the error gets a line of its own
      return ReportError(r.ok() ? net::StatusFromResponse(*r) : r.status());
    }
    reconnects = 0;
    if (!r->body.empty()) {
      waiting.Clear();
      std::fwrite(r->body.data(), 1, r->body.size(), stdout);
      std::fflush(stdout);
      at_line_start = r->body.back() == '\n';
    }
    std::string next = r->Header("X-Ferry-Next-Offset");
    offset = next.empty() ? offset + r->body.size() : std::stoull(next);
    std::string status = r->Header("X-Ferry-Run-Status");
    bool terminal = status == "Completed" || status == "Failed" || status == "Canceled";
    if (!follow) {
      if (r->body.empty()) return kExitOk;  // all of it printed (responses are capped)
      continue;
    }
    started = started || (status != "Queued" && status != "Preparing" && !status.empty());
    // Drawn only below a finished line of the log, never over a partial one.
    if (started) {
      waiting.Clear();
    } else if (at_line_start) {
      waiting.Show(status, offset > 0);
    }
    if (terminal && r->body.empty()) {
      waiting.Clear();
      auto run = ctx.Call("GET", "/api/v1/runs/" + net::UrlEncode(run_id));
      if (run.ok()) {
        double secs = (*run)["ended_at"].get<double>() - (*run)["created_at"].get<double>();
        std::fprintf(stderr, "Run %s %s in %.2f s\n", run_id.c_str(),
                     StatusText(Stream::kStderr, status).c_str(), secs);
        std::string err = (*run).value("error", "");
        if (status == "Failed" && !err.empty()) std::fprintf(stderr, "%s\n", err.c_str());
      }
      if (status == "Completed") return kExitOk;
      return status == "Canceled" ? kExitCanceled : kExitFailed;
    }
  }
}

namespace {

std::string RunPath(const std::string& id, const std::string& sub = "") {
  return "/api/v1/runs/" + net::UrlEncode(id) + (sub.empty() ? "" : "/" + sub);
}

// A non-numeric metric value (Azure ML's string, list, table, image... metrics) on one line:
// a string as it is, anything else as JSON, cut at `width` characters.
std::string ValueText(const json& v, size_t width) {
  std::string text = v.value("type", "") == "string" && v["value"].is_string()
                         ? v["value"].get<std::string>()
                         : v["value"].dump();
  for (char& ch : text) {
    if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
  }
  if (text.size() > width) text = text.substr(0, width - 3) + "...";
  return text;
}

void PrintRun(const json& r, const json& history, const json& artifacts, const json& values) {
  auto s = [&](const char* k) {
    return r.contains(k) && r[k].is_string() ? r[k].get<std::string>() : std::string("-");
  };
  std::printf("Run:         %s\nStatus:      %s\nExperiment:  %s\nTarget:      %s\n",
              s("id").c_str(), StatusText(Stream::kStdout, s("status")).c_str(),
              s("experiment").c_str(), s("target").c_str());
  // Why a queued run waits (the scheduler's reason: the target is busy, no node fits, ...).
  if (s("status") == "Queued" && s("queue_reason") != "-" && !s("queue_reason").empty())
    std::printf("Waiting:     %s\n", s("queue_reason").c_str());
  std::string cmd = s("script");
  for (auto& a : r["arguments"]) cmd += " " + a.get<std::string>();
  std::printf("Command:     %s %s\n", s("python").c_str(), cmd.c_str());
  std::printf("Snapshot:    %s\n", s("snapshot_id").c_str());
  if (r.contains("environment") && r["environment"].is_object()) {
    const json& e = r["environment"];
    std::string what = e.value("type", "") + " ";
    what += e.contains("name")
                ? e.value("name", "") + " version " + std::to_string(e.value("version", int64_t{0}))
                : e.value("file", "");
    std::printf("Environment: %s (managed)\n", what.c_str());
  }
  if (r.contains("docker") && r["docker"].is_object()) {
    std::printf("Container:   %s\n", r["docker"].value("base_image", "").c_str());
  }
  if (r.value("gpus", 0) > 0) {
    std::string ids;
    for (auto& g : r["gpu_ids"]) ids += (ids.empty() ? "" : ",") + std::to_string(g.get<int>());
    std::printf("GPUs:        %d%s\n", r["gpus"].get<int>(),
                ids.empty() ? "" : (" (devices " + ids + ")").c_str());
  }
  std::printf("Created:     %s\nStarted:     %s\nEnded:       %s\n",
              FormatTime(r["created_at"]).c_str(), FormatTime(r["started_at"]).c_str(),
              FormatTime(r["ended_at"]).c_str());
  if (!r["exit_code"].is_null()) std::printf("Exit code:   %d\n", r["exit_code"].get<int>());
  if (r.value("attempt", 1) > 1) std::printf("Attempt:     %d\n", r["attempt"].get<int>());
  if (!r["git"].is_null()) {
    std::printf("Git:         %s %s@%s%s\n", r["git"].value("remote_url", "").c_str(),
                r["git"].value("branch", "").c_str(),
                r["git"].value("commit", "").substr(0, 12).c_str(),
                r["git"].value("dirty", false) ? " (dirty)" : "");
  }
  if (r.contains("params") && !r["params"].empty()) {
    std::printf("Parameters:\n");
    for (auto& [k, v] : r["params"].items())
      std::printf("  %-24s %s\n", k.c_str(), v.get<std::string>().c_str());
  }
  if (!r["tags"].empty()) {
    std::printf("Tags:\n");
    for (auto& [k, v] : r["tags"].items())
      std::printf("  %-24s %s\n", k.c_str(), v.get<std::string>().c_str());
  }
  if (r.contains("metrics") && !r["metrics"].empty()) {
    std::printf("Metrics:\n  %-32s %-12s %-12s %-12s %s\n", "KEY", "LAST", "MIN", "MAX", "COUNT");
    for (auto& [k, m] : r["metrics"].items()) {
      std::printf("  %-32s %-12s %-12s %-12s %s\n", k.c_str(), ScalarText(m["last"]).c_str(),
                  ScalarText(m["min"]).c_str(), ScalarText(m["max"]).c_str(),
                  m["count"].dump().c_str());
    }
  }
  if (values.is_object() && !values.empty()) {
    std::printf("Values:\n  %-32s %-16s %-6s %s\n", "KEY", "TYPE", "COUNT", "LAST");
    for (auto& [k, vs] : values.items()) {
      if (!vs.is_array() || vs.empty()) continue;
      const json& last = vs.back();
      std::printf("  %-32s %-16s %-6zu %s\n", k.c_str(), last.value("type", "").c_str(), vs.size(),
                  ValueText(last, 60).c_str());
    }
  }
  if (!artifacts.empty()) {
    std::printf("Artifacts:\n");
    for (auto& a : artifacts)
      std::printf("  %-40s %llu bytes\n", a["path"].get<std::string>().c_str(),
                  a["size"].get<unsigned long long>());
  }
  if (!history.empty()) {
    std::printf("History:\n");
    for (auto& h : history) {
      std::printf("  %s  %s %s\n", FormatTime(h["time"]).c_str(),
                  StatusText(Stream::kStdout, h["status"].get<std::string>(), 10).c_str(),
                  h["reason"].get<std::string>().c_str());
    }
  }
  std::string err = s("error");
  if (err != "-" && !err.empty()) std::printf("Error:\n%s\n", err.c_str());
}

// The run a command acts on: the positional argument or -r/--run (the Azure ML CLI's spelling),
// not both.
void AddRunId(CLI::App* cmd, std::string* id) {
  auto* positional = cmd->add_option("run_id", *id, "The run's id");
  auto* flag = cmd->add_option("-r,--run", *id, "The run's id (the Azure ML CLI's spelling)");
  positional->excludes(flag);
}

// False (and the exit code set) when neither the positional nor -r/--run was given.
bool HaveRunId(const std::string& id, const std::string& verb, int* exit_code) {
  if (!id.empty()) return true;
  *exit_code = ReportError(Status::InvalidArgument("ferry run " + verb +
                                                   ": which run? give its id as an argument "
                                                   "or with -r/--run"));
  return false;
}

}  // namespace

void RegisterRun(CLI::App& app, Context& ctx, int* exit_code) {
  auto* run = app.add_subcommand("run", "Submit and inspect runs");
  run->require_subcommand(1);
  RegisterRunSubmit(*run, ctx, exit_code);
  RegisterRunSubmitPipeline(*run, ctx, exit_code);

  auto* list = run->add_subcommand("list", "List runs, newest first");
  auto filter = std::make_shared<std::map<std::string, std::string>>();
  list->add_option_function<std::string>(
      "-e,--experiment", [filter](const std::string& v) { (*filter)["experiment"] = v; });
  list->add_option_function<std::string>(
      "-t,--target", [filter](const std::string& v) { (*filter)["target"] = v; });
  list->add_option_function<std::string>(
      "--status", [filter](const std::string& v) { (*filter)["status"] = v; });
  list->add_option_function<int>(
      "--limit", [filter](int v) { (*filter)["limit"] = std::to_string(v); },
      "At most this many runs (1-1000, default 100)");
  list->add_option_function<int>(
      "--offset", [filter](int v) { (*filter)["offset"] = std::to_string(v); },
      "Skip this many of the newest runs (paging)");
  list->callback([&ctx, filter, exit_code] {
    std::string q;
    for (auto& [k, v] : *filter) q += (q.empty() ? "?" : "&") + k + "=" + net::UrlEncode(v);
    auto r = ctx.Call("GET", "/api/v1/runs" + q);
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("%-44s %-11s %-16s %-10s %s\n", "RUN", "STATUS", "EXPERIMENT", "TARGET", "CREATED");
    for (auto& x : (*r)["runs"]) {
      std::printf("%-44s %s %-16s %-10s %s\n", x["id"].get<std::string>().c_str(),
                  StatusText(Stream::kStdout, x["status"].get<std::string>(), 11).c_str(),
                  x["experiment"].get<std::string>().c_str(),
                  x["target"].get<std::string>().c_str(), FormatTime(x["created_at"]).c_str());
    }
  });

  auto id = std::make_shared<std::string>();
  auto* show =
      run->add_subcommand("show", "Show a run: status, history, parameters, metrics, artifacts");
  AddRunId(show, id.get());
  show->callback([&ctx, id, exit_code] {
    if (!HaveRunId(*id, "show", exit_code)) return;
    auto r = ctx.Call("GET", RunPath(*id));
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    auto h = ctx.Call("GET", RunPath(*id, "history"));
    auto a = ctx.Call("GET", RunPath(*id, "artifacts"));
    auto v = ctx.Call("GET", RunPath(*id, "values"));
    json history = h.ok() ? (*h)["history"] : json::array();
    json artifacts = a.ok() ? (*a)["artifacts"] : json::array();
    json values = v.ok() ? (*v)["values"] : json::object();
    if (ctx.json_output()) {
      json out = *r;
      out["history"] = history;
      out["artifacts"] = artifacts;
      out["values"] = values;
      return PrintJson(out);
    }
    PrintRun(*r, history, artifacts, values);
  });

  auto* logs = run->add_subcommand("logs", "Print a run's output (-f: follow until it ends)");
  auto follow = std::make_shared<bool>(false);
  auto rank = std::make_shared<int>(0);
  AddRunId(logs, id.get());
  logs->add_flag("-f,--follow", *follow, "Keep streaming until the run ends");
  logs->add_option("--rank", *rank, "A multi-node run's node rank (default 0: the first node)");
  logs->callback([&ctx, id, follow, rank, exit_code] {
    if (HaveRunId(*id, "logs", exit_code)) *exit_code = StreamLogs(ctx, *id, *follow, *rank);
  });

  // The Azure ML CLI's name for following a run's log: `run logs -f`.
  auto* monitor = run->add_subcommand(
      "monitor-logs", "Follow a run's output until it ends (the same as `run logs -f`)");
  AddRunId(monitor, id.get());
  monitor->add_option("--rank", *rank, "A multi-node run's node rank (default 0: the first node)");
  monitor->callback([&ctx, id, rank, exit_code] {
    if (HaveRunId(*id, "monitor-logs", exit_code)) *exit_code = StreamLogs(ctx, *id, true, *rank);
  });

  auto* metrics = run->add_subcommand("metrics", "Print a run's metrics");
  auto key = std::make_shared<std::string>();
  AddRunId(metrics, id.get());
  metrics->add_option("-k,--key", *key, "Only this metric");
  metrics->callback([&ctx, id, key, exit_code] {
    if (!HaveRunId(*id, "metrics", exit_code)) return;
    auto r = ctx.Call(
        "GET", RunPath(*id, "metrics") + (key->empty() ? "" : "?key=" + net::UrlEncode(*key)));
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("%-32s %-8s %s\n", "METRIC", "STEP", "VALUE");
    for (auto& [k, pts] : (*r)["metrics"].items()) {
      for (auto& p : pts)
        std::printf("%-32s %-8lld %s\n", k.c_str(), p["step"].get<long long>(),
                    ScalarText(p["value"]).c_str());
    }
    // Azure ML's non-numeric values (strings, lists, tables, images...), after the numbers.
    if (auto vit = r->find("values"); vit != r->end() && vit->is_object()) {
      for (auto& [k, vs] : vit->items()) {
        for (auto& v : vs) {
          std::string type = v.value("type", "");
          std::printf("%-32s %-8lld %s%s\n", k.c_str(), v.value("step", 0LL),
                      type == "string" ? "" : ("(" + type + ") ").c_str(),
                      ValueText(v, 100).c_str());
        }
      }
    }
  });

  auto* cancel =
      run->add_subcommand("cancel", "Cancel a run (SIGTERM, then SIGKILL after a grace period)");
  AddRunId(cancel, id.get());
  cancel->callback([&ctx, id, exit_code] {
    if (!HaveRunId(*id, "cancel", exit_code)) return;
    auto r = ctx.Call("POST", RunPath(*id, "cancel"), "{}");
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("cancel requested for %s (status %s)\n", id->c_str(),
                (*r)["status"].get<std::string>().c_str());
  });

  auto* download =
      run->add_subcommand("download", "Download a run's artifacts (outputs/ and logs/)");
  auto dest = std::make_shared<std::string>(".");
  auto prefix = std::make_shared<std::string>();
  AddRunId(download, id.get());
  download->add_option("-d,--output-dir", *dest, "Directory to write into (default: .)");
  download->add_option("--prefix", *prefix,
                       "Only artifacts whose path starts with this (e.g. outputs/)");
  download->callback([&ctx, id, dest, prefix, exit_code] {
    if (!HaveRunId(*id, "download", exit_code)) return;
    auto list = ctx.Call("GET", RunPath(*id, "artifacts"));
    if (!list.ok()) {
      *exit_code = ReportError(list.status());
      return;
    }
    int n = 0;
    for (auto& a : (*list)["artifacts"]) {
      std::string path = a["path"];
      if (path.rfind(*prefix, 0) != 0) continue;
      // The path is the escaped form of the file's name (docs/local-target.md#artifacts): the
      // file gets the name's exact bytes back, which must be a safe relative path as well.
      std::string name = UnescapeBytes(path);
      Status st = model::ValidateRelativePath(path);
      if (st.ok()) st = model::ValidateRelativePath(name);
      if (!st.ok()) {
        *exit_code = ReportError(st.WithContext("refusing artifact"));
        return;
      }
      std::string out = JoinPath(*dest, name);
      st = MakeDirs(DirName(out));
      if (st.ok()) {
        // Streamed to disk, checked against the artifact's hash before it is renamed into place.
        st = ctx.Download(RunPath(*id, "artifacts/content") + "?path=" + net::UrlEncode(path), out,
                          a.value("hash", std::string()), a.value("size", int64_t{-1}))
                 .status();
      }
      if (!st.ok()) {
        *exit_code = ReportError(st);
        return;
      }
      std::printf("%s\n", JoinPath(*dest, path).c_str());  // as text: the escaped form
      ++n;
    }
    if (n == 0)
      std::fprintf(stderr, "run %s has no artifacts%s\n", id->c_str(),
                   prefix->empty() ? "" : (" under " + *prefix).c_str());
  });
}

}  // namespace ferry::cli
