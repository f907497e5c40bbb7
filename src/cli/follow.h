// Streaming a run's logs to stdout, shared by `run logs -f` and `run submit --wait`.
#pragma once

#include <optional>
#include <string>

#include "cli/context.h"

namespace ferry::cli {

// Prints the run's log from the start; with follow, keeps streaming until the run ends and
// returns the exit code for its final status (kExitOk, kExitFailed, kExitCanceled).
int StreamLogs(Context& ctx, const std::string& run_id, bool follow, int rank = 0);

// The experiment a project folder is attached to (.ferry/config.json), if any.
std::optional<std::string> FolderExperiment(const std::string& dir);

}  // namespace ferry::cli
