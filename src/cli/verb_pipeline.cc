// `ferry run submit-pipeline` and `ferry pipeline ...` (Azure CLI v1's `az ml run
// submit-pipeline` and `az ml pipeline`): pipelines from CLI v1's YAML. The file is parsed and
// checked here, so its mistakes are reported with their line before anything is uploaded;
// each step's source directory is uploaded once, and its run configuration applied as
// `run submit-script -c` applies one.
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
  std::vector<std::string> params;
  bool wait = false;
  bool continue_on_step_failure = false;
};

int SubmitPipeline(Context& ctx, const SubmitPipelineOptions& o) {
  if (Status st = ctx.Connect(); !st.ok()) return ReportError(st);
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

}  // namespace

// `run submit-pipeline` (RegisterRun calls this).
void RegisterRunSubmitPipeline(CLI::App& run, Context& ctx, int* exit_code) {
  auto o = std::make_shared<SubmitPipelineOptions>();
  auto* sub = run.add_subcommand("submit-pipeline",
                                 "Submit a pipeline (CLI v1 pipeline YAML) as a pipeline run");
  sub->add_option("-n,-e,--experiment-name,--experiment", o->experiment,
                  "Experiment (created if missing)");
  sub->add_option("-y,--pipeline-yaml", o->yaml, "The pipeline's YAML file")->required();
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
      app.add_subcommand("pipeline", "Pipeline runs: their steps, reruns")->require_subcommand(1);
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
}

}  // namespace ferry::cli
