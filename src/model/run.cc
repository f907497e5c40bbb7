// Run status names and the transition table.
#include "model/run.h"

namespace ferry::model {

namespace {
constexpr RunStatus kAll[] = {RunStatus::kQueued,     RunStatus::kPreparing, RunStatus::kRunning,
                              RunStatus::kFinalizing, RunStatus::kCompleted, RunStatus::kFailed,
                              RunStatus::kCanceled,   RunStatus::kPreempted};
}

const char* RunStatusName(RunStatus s) {
  switch (s) {
    case RunStatus::kQueued: return "Queued";
    case RunStatus::kPreparing: return "Preparing";
    case RunStatus::kRunning: return "Running";
    case RunStatus::kFinalizing: return "Finalizing";
    case RunStatus::kCompleted: return "Completed";
    case RunStatus::kFailed: return "Failed";
    case RunStatus::kCanceled: return "Canceled";
    case RunStatus::kPreempted: return "Preempted";
  }
  return "Unknown";
}

Result<RunStatus> ParseRunStatus(std::string_view name) {
  for (RunStatus s : kAll) {
    if (name == RunStatusName(s)) return s;
  }
  return Status::InvalidArgument("unknown run status '" + std::string(name) +
                                 "'; allowed: Queued, Preparing, Running, Finalizing, "
                                 "Completed, Failed, Canceled, Preempted");
}

bool IsTerminal(RunStatus s) {
  return s == RunStatus::kCompleted || s == RunStatus::kFailed || s == RunStatus::kCanceled;
}

bool IsLegalTransition(RunStatus from, RunStatus to) {
  if (IsTerminal(from) || from == to) return false;
  if (to == RunStatus::kFailed || to == RunStatus::kCanceled) return true;
  switch (from) {
    case RunStatus::kQueued: return to == RunStatus::kPreparing;
    case RunStatus::kPreparing:
      return to == RunStatus::kRunning || to == RunStatus::kQueued || to == RunStatus::kPreempted;
    case RunStatus::kRunning:
      return to == RunStatus::kFinalizing || to == RunStatus::kQueued || to == RunStatus::kPreempted;
    case RunStatus::kPreempted: return to == RunStatus::kQueued;
    case RunStatus::kFinalizing: return to == RunStatus::kCompleted;
    default: return false;
  }
}

}  // namespace ferry::model
