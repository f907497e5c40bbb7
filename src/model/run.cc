// Run status names and the transition table.
#include "model/run.h"

#include <cctype>

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

// "--alpha 0.5", "--alpha=0.5" -> {"alpha": "0.5"}.
std::map<std::string, std::string> ParamsFromArguments(const std::vector<std::string>& args) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 2 || a[0] != '-') continue;
    size_t start = a.find_first_not_of('-');
    if (start == std::string::npos || start > 2) continue;
    std::string name = a.substr(start);
    auto eq = name.find('=');
    if (eq != std::string::npos) {
      out[name.substr(0, eq)] = name.substr(eq + 1);
    } else if (i + 1 < args.size() && (args[i + 1].empty() || args[i + 1][0] != '-' ||
                                       (args[i + 1].size() > 1 && std::isdigit(static_cast<unsigned char>(args[i + 1][1]))))) {
      out[name] = args[++i];
    } else {
      out[name] = "true";
    }
  }
  return out;
}

}  // namespace ferry::model
