// `ferry run submit`: snapshot the source directory, upload only missing blobs, create the run.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include "cli/context.h"
#include "cli/follow.h"
#include "cli/step_runconfig.h"
#include "cli/term.h"
#include "cli/upload.h"
#include "common/crypto.h"
#include "common/fs.h"
#include "common/home.h"
#include "common/subprocess.h"
#include "common/utf8.h"
#include "model/manifest.h"
#include "model/run_options.h"
#include "net/http.h"
#include "net/http_client.h"
#include "runconfig/conda_env.h"
#include "runconfig/runconfig.h"
#include "snapshot/snapshot.h"
#include "store/blob_store.h"
#include "sweep/space.h"

namespace ferry::cli {

using nlohmann::json;

namespace {

struct SubmitOptions {
  std::string experiment;  // empty: the folder's (ferry folder attach), else "default"
  std::string target = "local";
  std::string source_dir = ".";
  std::string python;
  bool wait = false;
  std::vector<std::string> tags;
  std::string script;
  std::vector<std::string> args;
  // From a run configuration (submit-script).
  model::RunOptions run_options;
  // environment.name/version: a registered environment when the server has one of that name.
  std::string environment_name, environment_version;
  bool managed_without_spec =
      false;  // userManagedDependencies false, no file: needs the registered one
  // submit-hyperdrive: the sweep file, read and checked before anything is uploaded.
  std::string sweep_file, sweep_text;
  bool azure_strict = false;
  std::vector<std::string> warm_start;
};

}  // namespace

int WaitSweep(Context& ctx, const std::string& sweep_id);  // verb_sweep.cc

std::optional<std::string> FolderExperiment(const std::string& dir) {
  auto text = ReadFile(JoinPath(dir, ".ferry/config.json"));
  if (!text.ok()) return std::nullopt;
  json j = json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("experiment") || !j["experiment"].is_string())
    return std::nullopt;
  return j["experiment"].get<std::string>();
}

namespace {

// The sweep file, refused unread past sweep::kMaxSpecBytes (a file named by mistake, e.g. a
// data set, must not be read into memory).
Result<std::string> ReadSweepFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat", path, errno);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument("not a regular file");
  if (static_cast<uint64_t>(st.st_size) > sweep::kMaxSpecBytes) {
    return Status::InvalidArgument("it has " + std::to_string(st.st_size) +
                                   " bytes, more than the limit of " +
                                   std::to_string(sweep::kMaxSpecBytes / 1024) +
                                   " KiB; a sweep file lists parameters, not data");
  }
  return ReadAll(fd.get(), path, static_cast<size_t>(st.st_size));
}

// environment.name in a run configuration: a registered environment if the server has one
// of that name. Files written by Azure ML carry a name for their inline environment too
// ("Experiment x Environment"); such a name, unknown to the server, is only a label when the
// file also says how to build the environment.
Status ResolveRegisteredEnvironment(Context& ctx, const SubmitOptions& o,
                                    model::EnvironmentSpec* env) {
  const std::string& v = o.environment_version;
  bool numeric = !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
  Status valid = model::ValidateEnvironmentName(o.environment_name);
  if (!valid.ok()) {
    // Not a name Ferry can register ("Experiment x Environment"): only a label.
    if (o.managed_without_spec) return valid.WithContext("environment.name");
    return Status::Ok();
  }
  std::string path =
      "/api/v1/environments/" + net::UrlEncode(o.environment_name) + "/" + (numeric ? v : "latest");
  auto found = ctx.Call("GET", path);
  if (found.ok()) {
    *env = model::EnvironmentSpec{};
    env->name = o.environment_name;
    env->version = (*found)["version"].get<int64_t>();
    return Status::Ok();
  }
  if (found.status().code() != StatusCode::kNotFound) return found.status();
  if (o.managed_without_spec || numeric) {
    return Status::NotFound(
        "environment '" + o.environment_name + "'" + (numeric ? " version " + v : "") +
        " is not registered in this workspace; register it with 'ferry environment register "
        "-f FILE -n " +
        o.environment_name +
        "', or name a requirementsFile or "
        "condaDependenciesFile in the run configuration");
  }
  return Status::Ok();
}

// What the command line resolves to before anything is read or sent.
struct Submission {
  std::string source;      // absolute source directory
  std::string script_rel;  // the script, relative to source
  std::string python;      // the interpreter the agent runs
  std::map<std::string, std::string> tags;
};

// Resolves and checks the command line: source directory, script, sweep file, experiment,
// interpreter, tags and every value that the request carries as JSON text. Reports what is
// wrong and returns its exit code (kExitOk when all is well).
int ResolveSubmission(SubmitOptions& o, Submission* s) {
  if (!o.args.empty() && o.args.front() == "--")
    o.args.erase(o.args.begin());  // CLI11 keeps the separator
  s->source = AbsolutePath(o.source_dir);
  const std::string& source = s->source;
  if (!PathExists(source)) {
    return ReportError(Status::NotFound("source directory '" + o.source_dir + "' does not exist"));
  }
  // The script may be given relative to the current directory or to the source directory.
  std::string script_abs = AbsolutePath(o.script);
  if (!PathExists(script_abs)) script_abs = AbsolutePath(JoinPath(source, o.script));
  if (!PathExists(script_abs)) {
    return ReportError(Status::NotFound(
        "script '" + o.script + "' does not exist (looked in the current directory and in " +
        source + ")"));
  }
  if (script_abs.rfind(source + "/", 0) != 0) {
    return ReportError(Status::InvalidArgument("script '" + o.script +
                                               "' is not inside the source directory " + source +
                                               "; pass --source-dir"));
  }
  s->script_rel = script_abs.substr(source.size() + 1);
  if (!o.sweep_file.empty()) {
    auto text = ReadSweepFile(o.sweep_file);
    if (!text.ok())
      return ReportError(text.status().WithContext("sweep file '" + o.sweep_file + "'"));
    sweep::ParseOptions po;
    po.azure_strict = o.azure_strict;
    auto spec = sweep::ParseSweepSpec(*text, o.sweep_file, po);
    if (!spec.ok()) return ReportError(spec.status());
    Status args = sweep::CheckFixedArguments(*spec, o.args);
    if (!args.ok()) return ReportError(args);
    o.sweep_text = std::move(text).value();
  }
  if (o.experiment.empty()) o.experiment = FolderExperiment(source).value_or("default");
  // In a container or on another machine the interpreter is found there, on its PATH.
  bool found_there = o.run_options.docker.enabled || o.target != "local";
  s->python = !o.python.empty() ? o.python : found_there ? "python3" : FindOnPath("python3");
  if (s->python.empty())
    return ReportError(Status::NotFound("python3 is not on PATH; pass --python PATH"));
  if (s->python.find('/') != std::string::npos && !found_there) s->python = AbsolutePath(s->python);
  auto tags = ParseKeyValues("--tag", "KEY=VALUE", o.tags, /*empty_value_ok=*/true);
  if (!tags.ok()) return ReportError(tags.status());
  for (const auto& [key, value] : *tags) {
    Status text = CheckUtf8("tag name", key);
    if (text.ok()) text = CheckUtf8("tag '" + key + "'", value);
    if (!text.ok()) return ReportUsageError(text);
  }
  s->tags = std::move(*tags);
  // Everything else of the command line that the request carries as JSON text.
  Status text = CheckUtf8("experiment", o.experiment);
  if (text.ok()) text = CheckUtf8("target", o.target);
  if (text.ok()) text = CheckUtf8("--python", s->python);
  if (text.ok()) text = CheckUtf8("script", s->script_rel);
  for (size_t i = 0; i < o.args.size() && text.ok(); ++i) {
    text = CheckUtf8("script argument " + std::to_string(i + 1), o.args[i]);
  }
  if (!text.ok()) return ReportUsageError(text);
  return kExitOk;
}

// Snapshots the source directory (the script must be in it) and makes sure the server has it.
Result<StoredSnapshot> SnapshotSource(Context& ctx, const Submission& s) {
  UploadOptions o;
  o.dir = s.source;
  o.check = [&s](const snapshot::SnapshotResult& snap) -> Status {
    bool script_in = false;
    for (auto& e : snap.manifest.entries) script_in = script_in || e.path == s.script_rel;
    if (!script_in) {
      return Status::InvalidArgument("script '" + s.script_rel +
                                     "' is excluded from the snapshot by an ignore file "
                                     "(.ferryignore, .amlignore or .gitignore)");
    }
    return Status::Ok();
  };
  return UploadTree(ctx, o);
}

// The run's options with its environment resolved: a registered one named by the run
// configuration, or a file that must be in the snapshot.
Result<model::RunOptions> ResolveEnvironment(Context& ctx, const SubmitOptions& o,
                                             const snapshot::SnapshotResult& snap) {
  model::RunOptions options = o.run_options;
  if (!o.environment_name.empty())
    FERRY_RETURN_IF_ERROR(ResolveRegisteredEnvironment(ctx, o, &options.environment));
  if (!options.environment.file.empty()) {
    bool present = false;
    for (auto& e : snap.manifest.entries) present = present || e.path == options.environment.file;
    if (!present) {
      return Status::InvalidArgument("environment file '" + options.environment.file +
                                     "' is not in the source directory's snapshot (check the "
                                     "path, relative to the source directory, and ignore files)");
    }
  }
  return options;
}

// The body of POST /api/v1/runs (or /sweeps).
json RunRequest(const SubmitOptions& o, const Submission& s, const std::string& snapshot_id,
                const model::RunOptions& options, const Result<model::GitState>& git) {
  json body = {{"experiment", o.experiment},
               {"target", o.target},
               {"script", s.script_rel},
               {"arguments", o.args},
               {"python", s.python},
               {"snapshot_id", snapshot_id},
               {"tags", s.tags}};
  model::RunOptionsToJson(options, &body);
  if (git.ok() && git->present) {
    body["git"] = {{"remote_url", git->remote_url},
                   {"branch", git->branch},
                   {"commit", git->commit},
                   {"dirty", git->dirty}};
  }
  if (!o.sweep_file.empty()) {
    body["sweep"] = {{"spec", o.sweep_text},
                     {"spec_file", o.sweep_file},
                     {"azure_strict", o.azure_strict},
                     {"warm_start", o.warm_start}};
  }
  return body;
}

// What the command prints once the run or sweep exists, and with --wait, following it to
// its end; returns the exit code.
int ReportSubmitted(Context& ctx, const SubmitOptions& o, json& created,
                    const StoredSnapshot& stored) {
  std::string id = created["id"];
  if (!o.sweep_file.empty()) {
    if (ctx.json_output() && !o.wait) {
      PrintJson(created);
      return kExitOk;
    }
    std::fprintf(stderr, "Sweep %s submitted to %s (experiment %s); see 'ferry sweep show %s'\n",
                 id.c_str(), o.target.c_str(), o.experiment.c_str(), id.c_str());
    if (!o.wait) {
      std::printf("%s\n", id.c_str());
      return kExitOk;
    }
    return WaitSweep(ctx, id);
  }
  if (ctx.json_output() && !o.wait) {
    created["uploaded"] = {{"files", stored.up_files}, {"bytes", stored.up_bytes}};
    PrintJson(created);
    return kExitOk;
  }
  std::fprintf(stderr, "Run %s submitted to %s (experiment %s)\n", id.c_str(), o.target.c_str(),
               o.experiment.c_str());
  if (!ctx.json_output() && !o.wait) std::printf("%s\n", id.c_str());
  if (!o.wait) return kExitOk;
  return StreamLogs(ctx, id, true);
}

int Submit(Context& ctx, SubmitOptions& o) {
  Submission s;
  if (int rc = ResolveSubmission(o, &s); rc != kExitOk) return rc;
  auto git_future =
      std::async(std::launch::async, [&] { return snapshot::ReadGitState(s.source); });
  auto stored = SnapshotSource(ctx, s);
  if (!stored.ok()) return ReportError(stored.status());
  auto options = ResolveEnvironment(ctx, o, stored->snap);
  if (!options.ok()) return ReportError(options.status());
  json body = RunRequest(o, s, stored->snap.id, *options, git_future.get());
  // The command line's values are checked above; git's (a branch name) may be any bytes.
  auto created = ctx.Call("POST", o.sweep_file.empty() ? "/api/v1/runs" : "/api/v1/sweeps",
                          body.dump(-1, ' ', false, json::error_handler_t::replace));
  if (!created.ok()) return ReportError(created.status());
  return ReportSubmitted(ctx, o, *created, *stored);
}

}  // namespace

static bool IsFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Finds a configuration file named on the command line: a file path, else NAME + one of the
// suffixes under .ferry/, .azureml/ or aml_config/ of the source directory (where `az ml
// folder attach` put them).
Result<std::string> FindConfigFile(const std::string& name, const std::string& source_dir,
                                   const std::vector<std::string>& suffixes,
                                   const std::string& what) {
  if (IsFile(name)) return name;
  std::vector<std::string> tried;
  for (const char* dir : {".ferry", ".azureml", "aml_config"}) {
    for (const std::string& suffix : suffixes) {
      std::string p = JoinPath(JoinPath(source_dir, dir), name + suffix);
      if (IsFile(p)) return p;
      tried.push_back(p);
    }
  }
  std::string list;
  for (size_t i = 0; i < tried.size(); i += suffixes.size())
    list += (list.empty() ? "" : ", ") + tried[i];
  return Status::NotFound(what + " '" + name + "' not found: it is not a file, and none of " +
                          list + " exists");
}

Result<std::string> FindRunConfig(const std::string& name, const std::string& source_dir) {
  return FindConfigFile(name, source_dir, {".runconfig", ""}, "run configuration");
}

// Applies a run configuration under the command line's values (which win).
Status ApplyRunConfig(const runconfig::LoadedRunConfig& loaded, SubmitOptions* o,
                      bool target_given) {
  const runconfig::RunConfig& c = loaded.config;
  auto field_error = [&](const std::string& what) {
    return Status::InvalidArgument(loaded.path + ": " + what);
  };
  if (o->script.empty()) o->script = c.script;
  if (o->script.empty())
    return field_error("no script: set 'script' in the file or name one on the command line");
  if (o->args.empty()) o->args = c.arguments;
  if (!target_given && !c.target.empty()) o->target = c.target;
  // PyTorch and TensorFlow (what Azure writes for a distributed job) run a Python script too;
  // the communicator says how its processes are launched.
  if (c.framework == "PySpark")
    return field_error("framework 'PySpark' is not supported by this version; use Python");
  // Whether the target can run nodeCount nodes is the server's answer (it knows the target).
  model::RunOptions& ro = o->run_options;
  const runconfig::DockerSection& docker = c.environment.docker;
  if (docker.enabled) {
    if (docker.base_image.empty()) {
      return field_error(
          "environment.docker.baseImage is required when environment.docker.enabled is true");
    }
    ro.docker.enabled = true;
    ro.docker.base_image = docker.base_image;
    ro.docker.shm_size = docker.shm_size;
    ro.docker.arguments = docker.arguments;
  }
  const runconfig::PythonSection& py = c.environment.python;
  o->environment_name = c.environment.name;
  o->environment_version = c.environment.version;
  if (!py.user_managed_dependencies) {
    // Managed: Ferry builds the environment on the target, from a pip requirements file or a
    // conda environment file in the snapshot, or from a registered environment.
    if (!c.requirements_file.empty()) {
      Status v = model::ValidateRelativePath(c.requirements_file);
      if (!v.ok()) return field_error("requirementsFile: " + v.message());
      ro.environment.type = "pip";
      ro.environment.file = c.requirements_file;
    } else if (!py.conda_dependencies_file.empty()) {
      Status v = model::ValidateRelativePath(py.conda_dependencies_file);
      if (!v.ok()) return field_error("environment.python.condaDependenciesFile: " + v.message());
      // Checked here, so a mistake is reported with its line before anything is uploaded.
      std::string local = JoinPath(AbsolutePath(o->source_dir), py.conda_dependencies_file);
      auto text = ReadFile(local);
      if (!text.ok()) {
        return field_error("environment.python.condaDependenciesFile: cannot read '" + local +
                           "': " + text.status().message());
      }
      auto parsed = runconfig::ParseCondaEnvironment(*text, local);
      if (!parsed.ok()) return parsed.status();
      ro.environment.type = "conda";
      ro.environment.file = py.conda_dependencies_file;
    } else if (c.environment.name.empty()) {
      return field_error(
          "environment.python.userManagedDependencies is false: say how to build the environment "
          "with "
          "requirementsFile (pip), environment.python.condaDependenciesFile (conda) or "
          "environment.name (a "
          "registered environment), or set userManagedDependencies: true with interpreterPath");
    } else {
      o->managed_without_spec = true;
    }
  }
  if (o->python.empty() && !py.interpreter_path.empty()) o->python = py.interpreter_path;
  ro.environment_variables = c.environment.variables;
  ro.max_run_duration_seconds = c.max_run_duration_seconds;
  ro.gpus = c.gpus;
  ro.requeue_on_node_loss = c.requeue_on_node_loss;
  ro.priority = c.priority;
  ro.node_count = c.node_count;
  ro.process_count_per_node = c.process_count_per_node;
  ro.communicator = c.communicator;
  ro.worker_count = c.worker_count;
  ro.parameter_server_count = c.parameter_server_count;
  ro.amlcompute.vm_size = c.amlcompute.vm_size;
  ro.amlcompute.vm_priority = c.amlcompute.vm_priority;
  ro.amlcompute.name = c.amlcompute.name;
  ro.amlcompute.cluster_max_node_count = c.amlcompute.cluster_max_node_count;
  ro.amlcompute.retain_cluster = c.amlcompute.retain_cluster;
  return Status::Ok();
}

// A pipeline step's run configuration (verb_pipeline.cc): the file found as `run submit-script
// -c` finds one (relative to the step's source directory, or under its .azureml/), applied as
// for a run, with a registered environment resolved.
Result<StepRunConfig> LoadStepRunConfig(Context& ctx, const std::string& name,
                                        const std::string& source_dir) {
  FERRY_ASSIGN_OR_RETURN(std::string path, FindRunConfig(name, source_dir));
  FERRY_ASSIGN_OR_RETURN(auto loaded, runconfig::LoadRunConfig(path));
  if (!loaded.unused_fields.empty()) {
    std::string list;
    for (auto& f : loaded.unused_fields) list += (list.empty() ? "" : ", ") + f;
    std::fprintf(stderr, "ferry: warning: %s: fields Ferry does not use: %s\n", path.c_str(),
                 list.c_str());
  }
  SubmitOptions o;
  o.target.clear();
  o.source_dir = source_dir;
  // The step names its script (script_name); ApplyRunConfig only needs one to be named.
  o.script = loaded.config.script.empty() ? "-" : loaded.config.script;
  FERRY_RETURN_IF_ERROR(ApplyRunConfig(loaded, &o, /*target_given=*/false));
  if (!o.environment_name.empty())
    FERRY_RETURN_IF_ERROR(ResolveRegisteredEnvironment(ctx, o, &o.run_options.environment));
  StepRunConfig out;
  out.path = path;
  model::RunOptionsToJson(o.run_options, &out.options);
  out.script = loaded.config.script;
  out.args = loaded.config.arguments;
  out.target = loaded.config.target;
  out.python = o.python;
  return out;
}

namespace {

// submit-script and submit-hyperdrive: a run configuration under the command line's values.
int SubmitWithRunConfig(Context& ctx, SubmitOptions& o, const std::string& config_name,
                        bool target_given) {
  if (!o.args.empty() && o.args.front() == "--") o.args.erase(o.args.begin());
  // `-c cfg -- ARGS` (the script from the file): everything after "--" is an argument,
  // though the parser fills the script positional first.
  auto dd = std::find(ctx.argv.begin(), ctx.argv.end(), "--");
  if (dd != ctx.argv.end() && !o.script.empty() &&
      static_cast<size_t>(ctx.argv.end() - dd - 1) == o.args.size() + 1) {
    o.args.insert(o.args.begin(), o.script);
    o.script.clear();
  }
  auto path = FindRunConfig(config_name, AbsolutePath(o.source_dir));
  if (!path.ok()) return ReportError(path.status());
  auto loaded = runconfig::LoadRunConfig(*path);
  if (!loaded.ok()) return ReportError(loaded.status());
  if (!loaded->unused_fields.empty()) {
    std::string list;
    for (auto& f : loaded->unused_fields) list += (list.empty() ? "" : ", ") + f;
    std::fprintf(stderr, "ferry: warning: %s: fields Ferry does not use: %s\n", path->c_str(),
                 list.c_str());
  }
  Status st = ApplyRunConfig(*loaded, &o, target_given);
  if (!st.ok()) return ReportError(st);
  return Submit(ctx, o);
}

}  // namespace

void RegisterRunSubmit(CLI::App& run, Context& ctx, int* exit_code) {
  auto* submit = run.add_subcommand("submit", "Submit a script as a run");
  auto o = std::make_shared<SubmitOptions>();
  submit->add_option("-e,--experiment,--experiment-name", o->experiment,
                     "Experiment (created if missing; default: the folder's, see 'ferry folder "
                     "attach', else 'default')");
  submit->add_option("-t,--target", o->target, "Compute target (see 'ferry compute list')");
  submit->add_option("--source-dir", o->source_dir,
                     "Directory snapshotted and sent with the run (default: .)");
  submit->add_option("--python", o->python, "Interpreter on the target (default: python3 on PATH)");
  submit->add_flag("--wait", o->wait, "Stream logs until the run ends; exit with its result");
  submit->add_option("--tag", o->tags, "Tag KEY=VALUE (repeatable)");
  submit->add_option("script", o->script, "Script to run, inside the source directory")->required();
  submit->add_option("args", o->args, "Arguments for the script (after --)");
  submit->positionals_at_end();
  submit->callback([&ctx, o, exit_code] { *exit_code = Submit(ctx, *o); });

  auto* ss = run.add_subcommand(
      "submit-script",
      "Submit a script with a run configuration file (as 'az ml run submit-script')");
  auto so = std::make_shared<SubmitOptions>();
  auto config_name = std::make_shared<std::string>();
  ss->add_option("-c,--run-configuration-name", *config_name,
                 "Run configuration: a file, or NAME for NAME.runconfig under .ferry/, .azureml/ "
                 "or aml_config/")
      ->required();
  ss->add_option("-e,--experiment-name", so->experiment, "Experiment (created if missing)");
  auto* target_opt =
      ss->add_option("-t,--target", so->target, "Compute target (overrides the file's 'target')");
  ss->add_option("-d,--source-directory", so->source_dir,
                 "Directory snapshotted and sent with the run (default: .)");
  ss->add_option("--python", so->python, "Interpreter on the target (overrides interpreterPath)");
  ss->add_flag("--wait", so->wait, "Stream logs until the run ends; exit with its result");
  ss->add_option("--tag", so->tags, "Tag KEY=VALUE (repeatable)");
  ss->add_option("script", so->script, "Script (overrides the file's 'script')");
  ss->add_option("args", so->args,
                 "Arguments for the script after -- (override the file's 'arguments')");
  ss->positionals_at_end();
  ss->callback([&ctx, so, config_name, target_opt, exit_code] {
    *exit_code = SubmitWithRunConfig(ctx, *so, *config_name, target_opt->count() > 0);
  });

  auto* hd = run.add_subcommand(
      "submit-hyperdrive",
      "Submit a hyperparameter sweep: a run configuration and a sweep file (as 'az ml run "
      "submit-hyperdrive')");
  auto ho = std::make_shared<SubmitOptions>();
  auto hd_config = std::make_shared<std::string>();
  auto hd_file = std::make_shared<std::string>();
  hd->add_option("-c,--run-configuration-name", *hd_config,
                 "Run configuration: a file, or NAME for NAME.runconfig under .ferry/, .azureml/ "
                 "or aml_config/")
      ->required();
  hd->add_option("--hyperdrive-configuration-name", *hd_file,
                 "Sweep file (hdconfig.yml, Azure ML CLI format): a file, or NAME under .ferry/, "
                 ".azureml/ or "
                 "aml_config/ (NAME, NAME.yml, NAME.yaml)")
      ->required();
  hd->add_option("-e,--experiment-name", ho->experiment, "Experiment (created if missing)");
  auto* hd_target =
      hd->add_option("-t,--target", ho->target, "Compute target (overrides the file's 'target')");
  hd->add_option("-d,--source-directory", ho->source_dir,
                 "Directory snapshotted and sent with the trials (default: .)");
  hd->add_option("--python", ho->python, "Interpreter on the target (overrides interpreterPath)");
  hd->add_flag("--azure-strict", ho->azure_strict,
               "Accept only what Azure ML accepts (Bayesian: choice/uniform/quniform, no early "
               "termination; no ASHA)");
  hd->add_option("--warm-start", ho->warm_start,
                 "An earlier Bayesian sweep whose trials seed the model (repeatable)");
  hd->add_flag("--wait", ho->wait, "Follow the sweep until it ends; exit with its result");
  hd->add_option("--tag", ho->tags, "Tag KEY=VALUE (repeatable)");
  hd->add_option("script", ho->script, "Script (overrides the run configuration's 'script')");
  hd->add_option("args", ho->args,
                 "Fixed arguments after -- (override the run configuration's 'arguments')");
  hd->positionals_at_end();
  hd->callback([&ctx, ho, hd_config, hd_file, hd_target, exit_code] {
    auto path =
        FindConfigFile(*hd_file, AbsolutePath(ho->source_dir), {"", ".yml", ".yaml"}, "sweep file");
    if (!path.ok()) {
      *exit_code = ReportError(path.status());
      return;
    }
    ho->sweep_file = *path;
    *exit_code = SubmitWithRunConfig(ctx, *ho, *hd_config, hd_target->count() > 0);
  });
}

}  // namespace ferry::cli
