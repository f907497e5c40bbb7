// `ferry folder attach`: binds a project folder to the workspace and an experiment, and
// writes a commented template run configuration per compute target (as `az ml folder attach`).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "cli/follow.h"
#include "common/fs.h"
#include "model/run.h"

namespace ferry::cli {

using nlohmann::json;

namespace {

std::string TemplateRunConfig(const std::string& target) {
  return "# Run configuration for target '" + target +
         "' (Azure ML .runconfig fields; see\n"
         "# docs/run-configuration.md). Submit with:\n"
         "#   ferry run submit-script -c " +
         target +
         " [SCRIPT] [-- ARGS]\n"
         "# The script to run, relative to this project folder.\n"
         "script: train.py\n"
         "# Its arguments.\n"
         "arguments: []\n"
         "# The compute target ('ferry compute list').\n"
         "target: " +
         target +
         "\n"
         "framework: Python\n"
         "communicator: None\n"
         "nodeCount: 1\n"
         "# Stop the run (as Failed) after this many seconds; empty: no limit.\n"
         "maxRunDurationSeconds:\n"
         "environment:\n"
         "  environmentVariables: {}\n"
         "  # A registered environment ('ferry environment list') instead of the python section.\n"
         "  name:\n"
         "  python:\n"
         "    # true: run the interpreter below as is. false: Ferry builds the environment from\n"
         "    # requirementsFile (pip) or condaDependenciesFile (conda) and reuses it.\n"
         "    userManagedDependencies: true\n"
         "    interpreterPath: python3\n"
         "    condaDependenciesFile:\n"
         "  docker:\n"
         "    # true: run in a container of baseImage (podman or docker on the target).\n"
         "    enabled: false\n"
         "    baseImage:\n"
         "# pip requirements for a managed environment, relative to this project folder.\n"
         "requirementsFile:\n"
         "resources:\n"
         "  # GPUs for the run; it gets its own CUDA_VISIBLE_DEVICES.\n"
         "  gpus: 0\n"
         "history:\n"
         "  outputCollection: true\n"
         "  snapshotProject: true\n";
}

int Attach(Context& ctx, const std::string& dir_arg, const std::string& experiment_arg) {
  std::string dir = AbsolutePath(dir_arg);
  if (!PathExists(dir))
    return ReportError(Status::NotFound("folder '" + dir_arg + "' does not exist"));
  std::string experiment = experiment_arg;
  if (experiment.empty()) experiment = FolderExperiment(dir).value_or("");
  if (experiment.empty()) {
    // Default: the folder's name, as Azure ML does (any name MLflow accepts is an experiment
    // name; "default" when the folder's is not one, e.g. not UTF-8).
    std::string base = dir.substr(dir.find_last_of('/') + 1);
    experiment = model::ValidateExperimentName(base).ok() ? base : "default";
  }
  // The experiment exists once attached (creating it twice is fine).
  auto created = ctx.Call("POST", "/api/v1/experiments", json{{"name", experiment}}.dump());
  if (!created.ok() && created.status().code() != StatusCode::kFailedPrecondition) {
    return ReportError(created.status());
  }
  auto computes = ctx.Call("GET", "/api/v1/computes");
  if (!computes.ok()) return ReportError(computes.status());

  std::string ferry_dir = JoinPath(dir, ".ferry");
  Status st = MakeDirs(ferry_dir);
  if (!st.ok()) return ReportError(st);
  json config = {{"workspace_home", AbsolutePath(ctx.home)}, {"experiment", experiment}};
  st = WriteFileAtomic(JoinPath(ferry_dir, "config.json"), config.dump(2) + "\n");
  if (!st.ok()) return ReportError(st);
  std::printf("attached %s to experiment %s (%s)\n", dir.c_str(), experiment.c_str(),
              JoinPath(ferry_dir, "config.json").c_str());
  for (auto& t : (*computes)["computes"]) {
    std::string name = t["name"];
    std::string path = JoinPath(ferry_dir, name + ".runconfig");
    std::string azure = JoinPath(dir, ".azureml/" + name + ".runconfig");
    if (PathExists(path) || PathExists(azure)) {
      std::printf("kept %s\n", PathExists(path) ? path.c_str() : azure.c_str());
      continue;
    }
    st = WriteFileAtomic(path, TemplateRunConfig(name));
    if (!st.ok()) return ReportError(st);
    std::printf("wrote %s\n", path.c_str());
  }
  return kExitOk;
}

}  // namespace

void RegisterFolder(CLI::App& app, Context& ctx, int* exit_code) {
  auto* folder = app.add_subcommand("folder", "Project folders");
  folder->require_subcommand(1);
  auto* attach = folder->add_subcommand("attach",
                                        "Bind a folder to the workspace and an experiment; write a "
                                        "template run configuration per target");
  auto experiment = std::make_shared<std::string>();
  auto dir = std::make_shared<std::string>(".");
  attach->add_option("-e,--experiment-name", *experiment,
                     "Experiment (default: the folder's name)");
  attach->add_option("-d,--path", *dir, "The project folder (default: .)");
  attach->callback(
      [&ctx, experiment, dir, exit_code] { *exit_code = Attach(ctx, *dir, *experiment); });
}

}  // namespace ferry::cli
