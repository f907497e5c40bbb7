// Run status names and the transition table; experiment names and the run ids made from them.
#include "model/run.h"

#include <algorithm>
#include <cctype>

#include "common/crypto.h"

namespace ferry::model {

namespace {
constexpr RunStatus kAll[] = {RunStatus::kQueued,     RunStatus::kPreparing, RunStatus::kRunning,
                              RunStatus::kFinalizing, RunStatus::kCompleted, RunStatus::kFailed,
                              RunStatus::kCanceled,   RunStatus::kPreempted};
}

const char* RunStatusName(RunStatus s) {
  switch (s) {
    case RunStatus::kQueued:
      return "Queued";
    case RunStatus::kPreparing:
      return "Preparing";
    case RunStatus::kRunning:
      return "Running";
    case RunStatus::kFinalizing:
      return "Finalizing";
    case RunStatus::kCompleted:
      return "Completed";
    case RunStatus::kFailed:
      return "Failed";
    case RunStatus::kCanceled:
      return "Canceled";
    case RunStatus::kPreempted:
      return "Preempted";
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
    case RunStatus::kQueued:
      return to == RunStatus::kPreparing;
    case RunStatus::kPreparing:
      return to == RunStatus::kRunning || to == RunStatus::kQueued || to == RunStatus::kPreempted;
    case RunStatus::kRunning:
      return to == RunStatus::kFinalizing || to == RunStatus::kQueued ||
             to == RunStatus::kPreempted;
    case RunStatus::kPreempted:
      return to == RunStatus::kQueued;
    case RunStatus::kFinalizing:
      return to == RunStatus::kCompleted;
    default:
      return false;
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
    } else if (i + 1 < args.size() &&
               (args[i + 1].empty() || args[i + 1][0] != '-' ||
                (args[i + 1].size() > 1 &&
                 std::isdigit(static_cast<unsigned char>(args[i + 1][1]))))) {
      out[name] = args[++i];
    } else {
      out[name] = "true";
    }
  }
  return out;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

Status ValidateKey(std::string_view what, std::string_view key) {
  const std::string shown(key.substr(0, 60));
  if (key.empty()) return Status::InvalidArgument(std::string(what) + " key must not be empty");
  if (key.size() > kMaxKeyBytes) {
    return Status::InvalidArgument(
        std::string(what) + " key '" + shown + "...' is " + std::to_string(key.size()) +
        " bytes long; keys may be at most " + std::to_string(kMaxKeyBytes));
  }
  for (char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) {
      return Status::InvalidArgument(
          std::string(what) + " key '" + shown + "' contains the control character 0x" +
          "0123456789abcdef"[c >> 4] + "0123456789abcdef"[c & 15] + "; use printable characters");
    }
  }
  if (!IsValidUtf8(key))
    return Status::InvalidArgument(std::string(what) + " key is not valid UTF-8");
  return Status::Ok();
}

namespace {

bool IsIdChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

}  // namespace

Status ValidateExperimentName(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("an experiment name must not be empty");
  if (!IsValidUtf8(name)) {
    return Status::InvalidArgument("experiment name '" + std::string(name.substr(0, 100)) +
                                   "' is not valid UTF-8; use a UTF-8 name");
  }
  // Characters: the bytes that do not continue a multi-byte sequence.
  const auto chars = std::count_if(name.begin(), name.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  });
  if (static_cast<size_t>(chars) > kMaxExperimentNameChars) {
    return Status::InvalidArgument("experiment name '" + std::string(name.substr(0, 40)) +
                                   "...' has " + std::to_string(chars) +
                                   " characters; the limit is " +
                                   std::to_string(kMaxExperimentNameChars));
  }
  if (name.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("experiment name '" +
                                   std::string(name.substr(0, name.find('\0'))) +
                                   "\\0...' contains a NUL character");
  }
  return Status::Ok();
}

std::string RunIdPrefix(std::string_view experiment) {
  if (!experiment.empty() && std::all_of(experiment.begin(), experiment.end(), IsIdChar)) {
    return std::string(experiment);
  }
  std::string out;
  for (char c : experiment) {
    if (IsIdChar(c)) {
      out.push_back(c);
    } else if (!out.empty() && out.back() != '_') {
      out.push_back('_');
    }
  }
  if (out.size() > 64) out.resize(64);
  while (!out.empty() && out.back() == '_') out.pop_back();
  if (out.find_first_not_of("._-") == std::string::npos)
    return "exp-" + Sha256Hex(experiment).substr(0, 8);
  return out;
}

}  // namespace ferry::model
