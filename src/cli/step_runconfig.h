// A pipeline step's run configuration (CLI v1 pipeline YAML's `runconfig:`), read the way
// `ferry run submit-script -c` reads one (verb_run_submit.cc), for `run submit-pipeline`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/context.h"
#include "common/status.h"

namespace ferry::cli {

struct StepRunConfig {
  std::string path;                                   // the file found
  nlohmann::json options = nlohmann::json::object();  // model::RunOptions as JSON
  std::string script, target, python;                 // what the file names ("" if not)
  std::vector<std::string> args;
};

// The file `name` (a path, or NAME[.runconfig] under the source directory's .ferry/,
// .azureml/ or aml_config/), applied as for a run, with a registered environment resolved
// through the server. Errors name the file and the field.
Result<StepRunConfig> LoadStepRunConfig(Context& ctx, const std::string& name,
                                        const std::string& source_dir);

}  // namespace ferry::cli
