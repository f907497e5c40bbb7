// Streaming a run's logs to stdout, shared by `run logs -f` and `run submit --wait`.
#pragma once

#include <string>

#include "cli/context.h"

namespace ferry::cli {

// Prints the run's log from the start; with follow, keeps streaming until the run ends and
// returns the exit code for its final status (kExitOk, kExitFailed, kExitCanceled).
int StreamLogs(Context& ctx, const std::string& run_id, bool follow);

}  // namespace ferry::cli
