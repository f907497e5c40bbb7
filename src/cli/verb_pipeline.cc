// `ferry run submit-pipeline` and `ferry pipeline ...` (Azure CLI v1's `az ml run
// submit-pipeline` and `az ml pipeline`): pipelines from CLI v1's YAML. The file is parsed and
// checked here, so its mistakes are reported with their line before anything is uploaded;
// each step's source directory is uploaded once, and its run configuration applied as
// `run submit-script -c` applies one. Published pipelines (`pipeline create`, `run
// submit-pipeline -i`) and their schedules (`pipeline create-schedule` from CLI v1's schedule
// YAML, ...) go through /api/v1/pipelines and /api/v1/schedules.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cli/context.h"
#include "cli/step_runconfig.h"
#include "cli/term.h"
#include "cli/upload.h"
#include "common/fs.h"
#include "net/http.h"
#include "pipeline/parallel.h"
#include "pipeline/schedule.h"
#include "pipeline/spec.h"

namespace ferry::cli {

using nlohmann::json;

namespace {

constexpr size_t kMaxPipelineFileBytes = 1 << 20;

std::string PipelineRunPath(const std::string& id, const std::string& sub = "") {
  return "/api/v1/pipeline-runs/" + net::UrlEncode(id) + (sub.empty() ? "" : "/" + sub);
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// "FILE:LINE: step 'NAME'" for errors about a step of the file.
std::string StepWhere(const pipeline::PipelineSpec& spec, const pipeline::Step& s) {
  return spec.file + ":" + std::to_string(s.line) + ": step '" + s.name + "'";
}

// The pipeline of a YAML file, ready to send: run configurations applied, every source
// directory uploaded (once) and named by its snapshot.
Result<pipeline::PipelineSpec> LoadPipelineFile(Context& ctx, const std::string& file) {
  auto text = ReadFile(file);
  if (!text.ok()) return text.status().WithContext("pipeline file '" + file + "'");
  if (text->size() > kMaxPipelineFileBytes) {
    return Status::InvalidArgument("pipeline file '" + file + "' has " +
                                   std::to_string(text->size()) +
                                   " bytes, more than the 1 MiB a pipeline definition may have");
  }
  FERRY_ASSIGN_OR_RETURN(pipeline::PipelineSpec spec, pipeline::ParsePipelineYaml(*text, file));
  const std::string base = DirOf(AbsolutePath(file));
  for (auto& s : spec.steps) {
    const std::string source =
        AbsolutePath(s.source_directory.empty() ? base : JoinPath(base, s.source_directory));
    if (!PathExists(source)) {
      return Status::NotFound(StepWhere(spec, s) + ": key 'source_directory': '" + source +
                              "' does not exist");
    }
    s.source_directory = source;
    if (s.parallel_run_config.is_object() && s.parallel_run_config.contains("file")) {
      // Azure's form: the ParallelRunConfig in a file of its own, beside the pipeline's.
      const std::string cfg_file = JoinPath(base, s.parallel_run_config["file"].get<std::string>());
      auto cfg_text = ReadFile(cfg_file);
      if (!cfg_text.ok()) {
        return cfg_text.status().WithContext(StepWhere(spec, s) + ": key 'parallel_run_config'");
      }
      FERRY_ASSIGN_OR_RETURN(json cfg, pipeline::ParseParallelRunConfigYaml(*cfg_text, cfg_file));
      if (s.script_name.empty() && cfg.contains("entry_script") &&
          cfg["entry_script"].is_string()) {
        s.script_name = cfg["entry_script"].get<std::string>();
      }
      if (s.compute.empty() && cfg.contains("compute_target") &&
          cfg["compute_target"].is_string()) {
        s.compute = cfg["compute_target"].get<std::string>();
      }
      if (auto sd = cfg.find("source_directory"); sd != cfg.end() && sd->is_string()) {
        s.source_directory = AbsolutePath(JoinPath(base, sd->get<std::string>()));
      }
      if (auto env = cfg.find("environment");
          env != cfg.end() && env->is_object() && env->contains("name")) {
        // A registered environment by name (the server keeps its spec for the run).
        s.run_options["environment"] = {{"name", (*env)["name"]},
                                        {"version", env->value("version", json(0))}};
      }
      for (const char* k : {"compute_target", "source_directory", "environment"}) cfg.erase(k);
      s.parallel_run_config = std::move(cfg);
    }
    if (s.runconfig.empty()) continue;
    std::string name = s.runconfig;
    if (PathExists(JoinPath(base, name))) name = JoinPath(base, name);
    auto cfg = LoadStepRunConfig(ctx, name, source);
    if (!cfg.ok()) return cfg.status().WithContext(StepWhere(spec, s) + ": key 'runconfig'");
    s.run_options = cfg->options;
    if (s.script_name.empty()) s.script_name = cfg->script;
    if (s.compute.empty()) s.compute = cfg->target;
    if (s.python.empty()) s.python = cfg->python;
    if (s.arguments.empty()) {
      for (const auto& a : cfg->args)
        s.arguments.push_back({pipeline::Argument::Kind::kLiteral, a});
    }
  }
  FERRY_RETURN_IF_ERROR(pipeline::Validate(spec).status());
  std::map<std::string, std::string> uploaded;  // source directory -> snapshot id
  for (auto& s : spec.steps) {
    auto it = uploaded.find(s.source_directory);
    if (it == uploaded.end()) {
      UploadOptions o;
      o.dir = s.source_directory;
      auto stored = UploadTree(ctx, o);
      if (!stored.ok()) {
        return stored.status().WithContext(StepWhere(spec, s) + ": source directory");
      }
      it = uploaded.emplace(s.source_directory, stored->snap.id).first;
    }
    s.snapshot_id = it->second;
  }
  return spec;
}

// -p NAME=VALUE as JSON values: text for the server to check against each parameter's type;
// a datapath as DATASTORE/PATH.
Result<json> ParameterValues(const pipeline::PipelineSpec* spec,
                             const std::vector<std::string>& given) {
  FERRY_ASSIGN_OR_RETURN(auto kv, ParseKeyValues("-p", "NAME=VALUE", given, true));
  json out = json::object();
  for (const auto& [k, v] : kv) {
    bool datapath = false;
    if (spec) {
      for (const auto& p : spec->parameters) {
        datapath = datapath || (p.name == k && p.type == pipeline::ParamType::kDataPath);
      }
    }
    if (datapath) {
      const size_t slash = v.find('/');
      if (slash == std::string::npos || slash == 0) {
        return Status::InvalidArgument("-p " + k + "=" + v +
                                       ": a datapath parameter takes DATASTORE/PATH");
      }
      out[k] = {{"datastore", v.substr(0, slash)}, {"path", v.substr(slash + 1)}};
    } else {
      out[k] = v;
    }
  }
  return out;
}

bool Terminal(const std::string& s) { return s == "Completed" || s == "Failed" || s == "Canceled"; }

void PrintSteps(const json& j) {
  std::printf("%-24s %-12s %-30s %-12s %s\n", "STEP", "STATUS", "RUN", "COMPUTE", "NOTE");
  for (const auto& s : j["steps"]) {
    std::string note;
    if (!s["reused_from"].is_null()) note = "reused (no compute)";
    if (const auto p = s.find("parallel"); p != s.end() && p->is_object() && (*p)["total"] > 0) {
      const int64_t total = (*p)["total"], done = (*p)["done"], failed = (*p)["failed"];
      note = "mini-batches: " + std::to_string(done) + " done, " + std::to_string(failed) +
             " failed, " + std::to_string(total - done - failed) + " remaining of " +
             std::to_string(total);
    }
    if (s.contains("error")) note = s.value("error", "");
    for (char& c : note) c = c == '\n' ? ' ' : c;
    if (note.size() > 100) note = note.substr(0, 97) + "...";
    std::printf("%-24s %s %-30s %-12s %s\n", s.value("name", "").c_str(),
                StatusText(Stream::kStdout, s.value("status", ""), 12).c_str(),
                s["run_id"].is_null() ? "-" : s["run_id"].get<std::string>().c_str(),
                s.value("compute", "").c_str(), note.c_str());
  }
}

// Follows a pipeline run to its end, a line per step change; the exit code of its end.
int WaitPipeline(Context& ctx, const std::string& id) {
  std::map<std::string, std::string> seen;
  for (;;) {
    auto j = ctx.Call("GET", PipelineRunPath(id));
    if (!j.ok()) return ReportError(j.status());
    for (const auto& s : (*j)["steps"]) {
      const std::string name = s.value("name", "");
      const std::string status = s.value("status", "");
      if (seen[name] == status || status == "NotStarted") continue;
      seen[name] = status;
      std::string where = s["run_id"].is_null() ? "" : " (" + s["run_id"].get<std::string>() + ")";
      std::fprintf(stderr, "step %s: %s%s\n", name.c_str(),
                   StatusText(Stream::kStderr, status).c_str(), where.c_str());
    }
    const json& run = (*j)["run"];
    const std::string status = run.value("status", "");
    if (Terminal(status)) {
      if (!ctx.json_output()) PrintSteps(*j);
      std::fprintf(stderr, "Pipeline run %s: %s%s%s\n", id.c_str(),
                   StatusText(Stream::kStderr, status).c_str(),
                   run.value("error", "").empty() ? "" : ": ", run.value("error", "").c_str());
      if (ctx.json_output()) PrintJson(*j);
      return status == "Completed" ? kExitOk : status == "Canceled" ? kExitCanceled : kExitFailed;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

struct SubmitPipelineOptions {
  std::string experiment = "default";
  std::string yaml;
  std::string published_id;  // -i: a published pipeline instead of a file
  std::vector<std::string> params;
  bool wait = false;
  bool continue_on_step_failure = false;
};

// `run submit-pipeline -i ID`: a published pipeline, with Azure's submit body.
int SubmitPublished(Context& ctx, const SubmitPipelineOptions& o) {
  auto values = ParameterValues(nullptr, o.params);
  if (!values.ok()) return ReportUsageError(values.status());
  json params = json::object();
  json datapaths = json::object();
  // A published pipeline's datapath parameters take DATASTORE/PATH as a file's submit does.
  auto published = ctx.Call("GET", "/api/v1/pipelines/" + net::UrlEncode(o.published_id));
  if (!published.ok()) return ReportError(published.status());
  for (const auto& [k, v] : values->items()) {
    bool datapath = false;
    for (const auto& p : (*published)["parameters"]) {
      datapath = datapath || (p.value("name", "") == k && p.value("type", "") == "datapath");
    }
    const std::string text = v.get<std::string>();
    const size_t slash = text.find('/');
    if (datapath && slash != std::string::npos && slash > 0) {
      datapaths[k] = {{"DataStoreName", text.substr(0, slash)},
                      {"RelativePath", text.substr(slash + 1)}};
    } else {
      params[k] = v;
    }
  }
  json body = {{"ExperimentName", o.experiment},
               {"ParameterAssignments", params},
               {"DataPathAssignments", datapaths}};
  auto created = ctx.Call("POST", "/api/v1/pipelines/" + net::UrlEncode(o.published_id) + "/submit",
                          body.dump());
  if (!created.ok()) return ReportError(created.status());
  const std::string id = (*created)["Id"];
  std::fprintf(stderr,
               "Pipeline run %s submitted (published pipeline %s, experiment %s); see 'ferry "
               "pipeline list-steps --run %s'\n",
               id.c_str(), o.published_id.c_str(), o.experiment.c_str(), id.c_str());
  if (!o.wait) {
    if (ctx.json_output()) {
      PrintJson(*created);
    } else {
      std::printf("%s\n", id.c_str());
    }
    return kExitOk;
  }
  return WaitPipeline(ctx, id);
}

int SubmitPipeline(Context& ctx, const SubmitPipelineOptions& o) {
  if (Status st = ctx.Connect(); !st.ok()) return ReportError(st);
  if (!o.published_id.empty()) return SubmitPublished(ctx, o);
  if (o.yaml.empty()) {
    return ReportUsageError(Status::InvalidArgument(
        "give the pipeline: -y FILE (its YAML) or -i ID (a published pipeline)"));
  }
  auto spec = LoadPipelineFile(ctx, o.yaml);
  if (!spec.ok()) return ReportError(spec.status());
  auto values = ParameterValues(&*spec, o.params);
  if (!values.ok()) return ReportUsageError(values.status());
  json body = {{"experiment", o.experiment},
               {"pipeline", pipeline::PipelineToJson(*spec)},
               {"parameters", *values}};
  if (o.continue_on_step_failure) body["continue_on_step_failure"] = true;
  auto created = ctx.Call("POST", "/api/v1/pipeline-runs", body.dump());
  if (!created.ok()) return ReportError(created.status());
  const std::string id = (*created)["id"];
  std::fprintf(stderr,
               "Pipeline run %s submitted (experiment %s, %zu steps); see 'ferry pipeline "
               "list-steps --run %s'\n",
               id.c_str(), o.experiment.c_str(), spec->steps.size(), id.c_str());
  if (!o.wait) {
    if (ctx.json_output()) {
      PrintJson(*created);
    } else {
      std::printf("%s\n", id.c_str());
    }
    return kExitOk;
  }
  return WaitPipeline(ctx, id);
}

// ---- published pipelines and schedules (az ml pipeline create, show, create-schedule, ...)

std::string PublishedPath(const std::string& id, const std::string& sub = "") {
  return "/api/v1/pipelines/" + net::UrlEncode(id) + (sub.empty() ? "" : "/" + sub);
}

std::string SchedulePath(const std::string& id, const std::string& sub = "") {
  return "/api/v1/schedules/" + net::UrlEncode(id) + (sub.empty() ? "" : "/" + sub);
}

std::string TimeOrDash(const json& v) {
  return v.is_number() ? FormatTime(v.get<double>()) : std::string("-");
}

void PrintPublished(const json& p) {
  std::printf("Id:          %s\n", p.value("id", "").c_str());
  std::printf("Name:        %s\n", p.value("name", "").c_str());
  std::printf("Version:     %s\n", p.value("version", "").c_str());
  std::printf("Status:      %s\n", p.value("status", "").c_str());
  std::printf("Description: %s\n", p.value("description", "").c_str());
  std::printf("Endpoint:    %s\n", p.value("endpoint", "").c_str());
  std::printf(
      "Created:     %s by %s\n", TimeOrDash(p["created_at"]).c_str(),
      p.value("created_by", "").empty() ? "the workspace" : p.value("created_by", "").c_str());
  std::string steps;
  for (const auto& s : p.value("steps", json::array())) {
    steps += (steps.empty() ? "" : ", ") + s.get<std::string>();
  }
  std::printf("Steps:       %s\n", steps.c_str());
}

void PrintSchedule(const json& s) {
  std::printf("Id:            %s\n", s.value("id", "").c_str());
  std::printf("Name:          %s\n", s.value("name", "").c_str());
  std::printf("Status:        %s\n", s.value("status", "").c_str());
  const std::string pid = s.value("pipeline_id", "");
  std::printf(
      "Pipeline:      %s\n",
      pid.empty() ? ("endpoint " + s.value("pipeline_endpoint_id", "")).c_str() : pid.c_str());
  std::printf("Experiment:    %s\n", s.value("experiment_name", "").c_str());
  if (s["recurrence"].is_object()) {
    const json& r = s["recurrence"];
    std::printf("Recurrence:    every %d %s(s), time zone %s\n", r.value("interval", 1),
                r.value("frequency", "").c_str(), r.value("time_zone", "UTC").c_str());
  } else {
    std::printf("Watches:       datastore %s path '%s' every %d minute(s)\n",
                s.value("datastore_name", "").c_str(), s.value("path_on_datastore", "").c_str(),
                s.value("polling_interval", 5));
  }
  std::printf("Next:          %s\n", TimeOrDash(s["next_fire"]).c_str());
  std::printf("Last fired:    %s\n", TimeOrDash(s["last_fire"]).c_str());
  std::printf("Last run:      %s\n",
              s["last_run_id"].is_string() ? s["last_run_id"].get<std::string>().c_str() : "-");
  if (s["last_error"].is_string()) {
    std::printf("Last error:    %s\n", s["last_error"].get<std::string>().c_str());
  }
}

// Runs fn after connecting; its exit code (or the connection's error).
template <typename Fn>
void Connected(Context& ctx, int* exit_code, Fn&& fn) {
  if (Status st = ctx.Connect(); !st.ok()) {
    *exit_code = ReportError(st);
    return;
  }
  *exit_code = fn();
}

// A call whose answer is printed as JSON (-o json) or by `print`.
template <typename Print>
int CallAndPrint(Context& ctx, const std::string& method, const std::string& path,
                 const std::string& body, Print&& print) {
  auto j = ctx.Call(method, path, body);
  if (!j.ok()) return ReportError(j.status());
  if (ctx.json_output()) {
    PrintJson(*j);
  } else {
    print(*j);
  }
  return kExitOk;
}

// A schedule YAML file (CLI v1's `Schedule:` map) as the JSON the server takes.
Result<json> ScheduleFile(const std::string& file) {
  auto text = ReadFile(file);
  if (!text.ok()) return text.status().WithContext("schedule file '" + file + "'");
  if (text->size() > kMaxPipelineFileBytes) {
    return Status::InvalidArgument("schedule file '" + file + "' is larger than 1 MiB");
  }
  FERRY_ASSIGN_OR_RETURN(pipeline::ScheduleSpec spec, pipeline::ParseScheduleYaml(*text, file));
  json j = pipeline::ScheduleToJson(spec);
  // Keys the file leaves empty are not sent (the flags, or the schedule as it is, give them).
  for (const char* k : {"name", "pipeline_id", "pipeline_endpoint_id", "experiment_name"}) {
    if (j.value(k, "").empty()) j.erase(k);
  }
  return j;
}

void RegisterPublished(CLI::App& pl, Context& ctx, int* exit_code) {
  {
    struct Opts {
      std::string name, yaml, description, version;
      bool continue_on_step_failure = false;
    };
    auto o = std::make_shared<Opts>();
    auto* c = pl.add_subcommand("create", "Publish a pipeline from its YAML file");
    c->add_option("-n,--name", o->name, "The published pipeline's name")->required();
    c->add_option("-y,--pipeline-yaml", o->yaml, "The pipeline's YAML file")->required();
    c->add_option("-d,--description", o->description, "Its description");
    c->add_option("-v,--version", o->version, "Its version (free text)");
    c->add_flag("-c,--continue-on-step-failure", o->continue_on_step_failure,
                "Its runs keep running the steps that do not depend on a failed one");
    c->callback([&ctx, o, exit_code] {
      Connected(ctx, exit_code, [&] {
        auto spec = LoadPipelineFile(ctx, o->yaml);
        if (!spec.ok()) return ReportError(spec.status());
        json body = {{"name", o->name},
                     {"description", o->description},
                     {"version", o->version},
                     {"pipeline", pipeline::PipelineToJson(*spec)}};
        if (o->continue_on_step_failure) body["continue_on_step_failure"] = true;
        auto made = ctx.Call("POST", "/api/v1/pipelines", body.dump());
        if (!made.ok()) return ReportError(made.status());
        std::fprintf(stderr,
                     "Published pipeline %s (%s); submit it with 'ferry run "
                     "submit-pipeline -i %s -n EXPERIMENT' or POST %s\n",
                     (*made)["id"].get<std::string>().c_str(), o->name.c_str(),
                     (*made)["id"].get<std::string>().c_str(),
                     (*made)["endpoint"].get<std::string>().c_str());
        if (ctx.json_output()) {
          PrintJson(*made);
        } else {
          std::printf("%s\n", (*made)["id"].get<std::string>().c_str());
        }
        return kExitOk;
      });
    });
  }
  {
    auto active = std::make_shared<bool>(false);
    auto* c = pl.add_subcommand("list", "The published pipelines and their schedules");
    c->add_flag("--active-only", *active, "Only the active ones");
    c->callback([&ctx, active, exit_code] {
      Connected(ctx, exit_code, [&] {
        auto pipelines = ctx.Call(
            "GET", std::string("/api/v1/pipelines") + (*active ? "?active_only=true" : ""));
        if (!pipelines.ok()) return ReportError(pipelines.status());
        auto schedules = ctx.Call("GET", "/api/v1/schedules");
        if (!schedules.ok()) return ReportError(schedules.status());
        if (ctx.json_output()) {
          PrintJson(
              {{"pipelines", (*pipelines)["pipelines"]}, {"schedules", (*schedules)["schedules"]}});
          return kExitOk;
        }
        std::printf("%-34s %-24s %-10s %-9s %s\n", "ID", "NAME", "VERSION", "STATUS", "SCHEDULES");
        for (const auto& p : (*pipelines)["pipelines"]) {
          std::string names;
          for (const auto& s : (*schedules)["schedules"]) {
            if (s.value("pipeline_id", "") != p.value("id", "")) continue;
            names += (names.empty() ? "" : ", ") + s.value("name", "") + " (" + s.value("id", "") +
                     ", " + s.value("status", "") + ")";
          }
          std::printf("%-34s %-24s %-10s %-9s %s\n", p.value("id", "").c_str(),
                      p.value("name", "").c_str(), p.value("version", "").c_str(),
                      p.value("status", "").c_str(), names.empty() ? "-" : names.c_str());
        }
        return kExitOk;
      });
    });
  }
  for (const char* verb : {"show", "enable", "disable"}) {
    auto id = std::make_shared<std::string>();
    const std::string v = verb;
    auto* c =
        pl.add_subcommand(verb, v == "show"     ? "Show a published pipeline"
                                : v == "enable" ? "Enable a published pipeline to run"
                                                : "Disable a published pipeline from running");
    c->add_option("-i,--id,--pipeline-id", *id, "The published pipeline's id")->required();
    c->callback([&ctx, id, v, exit_code] {
      Connected(ctx, exit_code, [&] {
        return CallAndPrint(ctx, v == "show" ? "GET" : "POST",
                            PublishedPath(*id, v == "show" ? "" : v), "", PrintPublished);
      });
    });
  }
  {
    struct Opts {
      std::string name, pipeline_id, endpoint_id, yaml, experiment;
    };
    auto o = std::make_shared<Opts>();
    auto* c = pl.add_subcommand("create-schedule", "Schedule a published pipeline");
    c->add_option("-n,--name", o->name, "The schedule's name")->required();
    auto* pid = c->add_option("-i,--pipeline-id", o->pipeline_id, "The published pipeline");
    auto* eid = c->add_option("--pipeline-endpoint-id", o->endpoint_id,
                              "Or a pipeline endpoint (its default version runs)");
    pid->excludes(eid);
    eid->excludes(pid);
    c->add_option("-y,--schedule-yaml", o->yaml, "The schedule's YAML file (CLI v1's)")->required();
    c->add_option("-e,--experiment-name", o->experiment,
                  "The experiment its runs go to (or the file's experiment_name)");
    c->callback([&ctx, o, exit_code] {
      Connected(ctx, exit_code, [&] {
        auto body = ScheduleFile(o->yaml);
        if (!body.ok()) return ReportError(body.status());
        (*body)["name"] = o->name;
        if (!o->pipeline_id.empty()) (*body)["pipeline_id"] = o->pipeline_id;
        if (!o->endpoint_id.empty()) (*body)["pipeline_endpoint_id"] = o->endpoint_id;
        if (!o->experiment.empty()) (*body)["experiment_name"] = o->experiment;
        if (!body->contains("pipeline_id") && !body->contains("pipeline_endpoint_id")) {
          return ReportUsageError(Status::InvalidArgument(
              "name the published pipeline: -i PIPELINE_ID (or --pipeline-endpoint-id)"));
        }
        if (!body->contains("experiment_name")) {
          return ReportUsageError(Status::InvalidArgument(
              "name the experiment: -e NAME (or experiment_name in the file)"));
        }
        auto made = ctx.Call("POST", "/api/v1/schedules", body->dump());
        if (!made.ok()) return ReportError(made.status());
        std::fprintf(stderr, "Schedule %s (%s) created; next: %s\n",
                     (*made)["id"].get<std::string>().c_str(), o->name.c_str(),
                     TimeOrDash((*made)["next_fire"]).c_str());
        if (ctx.json_output()) {
          PrintJson(*made);
        } else {
          std::printf("%s\n", (*made)["id"].get<std::string>().c_str());
        }
        return kExitOk;
      });
    });
  }
  for (const char* verb : {"show-schedule", "enable-schedule", "disable-schedule"}) {
    auto id = std::make_shared<std::string>();
    const std::string v = verb;
    auto* c = pl.add_subcommand(verb, v == "show-schedule"     ? "Show a schedule"
                                      : v == "enable-schedule" ? "Enable a schedule to run"
                                                               : "Disable a schedule");
    c->add_option("-s,--schedule-id", *id, "The schedule's id")->required();
    c->callback([&ctx, id, v, exit_code] {
      Connected(ctx, exit_code, [&] {
        const std::string action = v.substr(0, v.find('-'));
        return CallAndPrint(ctx, action == "show" ? "GET" : "POST",
                            SchedulePath(*id, action == "show" ? "" : action), "", PrintSchedule);
      });
    });
  }
  {
    struct Opts {
      std::string id, yaml, name, status;
    };
    auto o = std::make_shared<Opts>();
    auto* c = pl.add_subcommand("update-schedule", "Change a schedule");
    c->add_option("-s,--schedule-id", o->id, "The schedule's id")->required();
    c->add_option("-y,--schedule-yaml", o->yaml, "Its new definition (CLI v1's schedule YAML)");
    c->add_option("-n,--name", o->name, "Its new name");
    c->add_option("-t,--status", o->status, "Active or Disabled")
        ->check(CLI::IsMember({"Active", "Disabled"}));
    c->callback([&ctx, o, exit_code] {
      Connected(ctx, exit_code, [&] {
        json body = json::object();
        if (!o->yaml.empty()) {
          auto file = ScheduleFile(o->yaml);
          if (!file.ok()) return ReportError(file.status());
          body = *file;
        }
        if (!o->name.empty()) body["name"] = o->name;
        if (!o->status.empty()) body["status"] = o->status;
        if (body.empty()) {
          return ReportUsageError(
              Status::InvalidArgument("nothing to change: give -y FILE, -n NAME or -t STATUS"));
        }
        return CallAndPrint(ctx, "PATCH", SchedulePath(o->id), body.dump(), PrintSchedule);
      });
    });
  }
  {
    auto id = std::make_shared<std::string>();
    auto* c = pl.add_subcommand("last-pipeline-run", "The last pipeline run a schedule made");
    c->add_option("-s,--schedule-id", *id, "The schedule's id")->required();
    c->callback([&ctx, id, exit_code] {
      Connected(ctx, exit_code, [&] {
        auto runs = ctx.Call("GET", SchedulePath(*id, "runs") + "?limit=1");
        if (!runs.ok()) return ReportError(runs.status());
        if ((*runs)["runs"].empty()) {
          return ReportError(Status::NotFound("schedule '" + *id + "' has made no run yet"));
        }
        const json& r = (*runs)["runs"][0];
        if (ctx.json_output()) {
          PrintJson(r);
        } else {
          std::printf("%s %s %s\n", r.value("id", "").c_str(),
                      StatusText(Stream::kStdout, r.value("status", "")).c_str(),
                      r.value("experiment", "").c_str());
        }
        return kExitOk;
      });
    });
  }
  {
    auto id = std::make_shared<std::string>();
    auto* c = pl.add_subcommand("pipeline-runs-list", "The pipeline runs a schedule made");
    c->add_option("-s,--schedule-id", *id, "The schedule's id")->required();
    c->callback([&ctx, id, exit_code] {
      Connected(ctx, exit_code, [&] {
        return CallAndPrint(ctx, "GET", SchedulePath(*id, "runs"), "", [](const json& j) {
          std::printf("%-40s %-12s %-20s %s\n", "RUN", "STATUS", "EXPERIMENT", "SUBMITTED");
          for (const auto& r : j["runs"]) {
            std::printf("%-40s %s %-20s %s\n", r.value("id", "").c_str(),
                        StatusText(Stream::kStdout, r.value("status", ""), 12).c_str(),
                        r.value("experiment", "").c_str(),
                        TimeOrDash(r.value("created_at", json())).c_str());
          }
        });
      });
    });
  }
}

}  // namespace

// `run submit-pipeline` (RegisterRun calls this).
void RegisterRunSubmitPipeline(CLI::App& run, Context& ctx, int* exit_code) {
  auto o = std::make_shared<SubmitPipelineOptions>();
  auto* sub = run.add_subcommand("submit-pipeline",
                                 "Submit a pipeline (CLI v1 pipeline YAML) as a pipeline run");
  sub->add_option("-n,-e,--experiment-name,--experiment", o->experiment,
                  "Experiment (created if missing)");
  auto* yaml = sub->add_option("-y,--pipeline-yaml", o->yaml, "The pipeline's YAML file");
  auto* published =
      sub->add_option("-i,--pipeline-id", o->published_id, "A published pipeline's id");
  yaml->excludes(published);
  published->excludes(yaml);
  sub->add_option("-p,--parameters", o->params,
                  "A pipeline parameter's value, NAME=VALUE (repeatable; datapath: "
                  "DATASTORE/PATH)");
  sub->add_flag("--continue-on-step-failure", o->continue_on_step_failure,
                "Keep running the steps that do not depend on a failed one");
  sub->add_flag("-w,--wait", o->wait, "Follow the pipeline run to its end");
  sub->callback([&ctx, o, exit_code] { *exit_code = SubmitPipeline(ctx, *o); });
}

void RegisterPipeline(CLI::App& app, Context& ctx, int* exit_code) {
  auto* pl =
      app.add_subcommand("pipeline",
                         "Pipeline runs (their steps, reruns), published pipelines and schedules")
          ->require_subcommand(1);
  {
    auto run_id = std::make_shared<std::string>();
    auto* c = pl->add_subcommand("list-steps", "The steps of a pipeline run, with their runs");
    c->add_option("-r,--run,run", *run_id, "The pipeline run's id")->required();
    c->callback([&ctx, run_id, exit_code] {
      if (Status st = ctx.Connect(); !st.ok()) {
        *exit_code = ReportError(st);
        return;
      }
      auto j = ctx.Call("GET", PipelineRunPath(*run_id));
      if (!j.ok()) {
        *exit_code = ReportError(j.status());
        return;
      }
      if (ctx.json_output()) {
        PrintJson(*j);
      } else {
        const json& r = (*j)["run"];
        std::printf("Pipeline run %s: %s\n", run_id->c_str(),
                    StatusText(Stream::kStdout, r.value("status", "")).c_str());
        PrintSteps(*j);
      }
      *exit_code = kExitOk;
    });
  }
  {
    auto run_id = std::make_shared<std::string>();
    auto wait = std::make_shared<bool>(false);
    auto* c = pl->add_subcommand(
        "rerun",
        "Run a pipeline run's failed steps and everything after them again, reusing "
        "the steps that completed");
    c->add_option("run", *run_id, "The pipeline run's id")->required();
    c->add_flag("-w,--wait", *wait, "Follow the new pipeline run to its end");
    c->callback([&ctx, run_id, wait, exit_code] {
      if (Status st = ctx.Connect(); !st.ok()) {
        *exit_code = ReportError(st);
        return;
      }
      auto created = ctx.Call("POST", PipelineRunPath(*run_id, "rerun"), "{}");
      if (!created.ok()) {
        *exit_code = ReportError(created.status());
        return;
      }
      const std::string id = (*created)["id"];
      std::fprintf(stderr, "Pipeline run %s reruns %s\n", id.c_str(), run_id->c_str());
      if (*wait) {
        *exit_code = WaitPipeline(ctx, id);
        return;
      }
      std::printf("%s\n", id.c_str());
      *exit_code = kExitOk;
    });
  }
  RegisterPublished(*pl, ctx, exit_code);
}

}  // namespace ferry::cli
