// Names, aliases and stages of the model registry (registry.h).
#include "model/registry.h"

#include <cctype>

#include "common/utf8.h"

namespace ferry::model {

namespace {

std::string Shown(std::string_view s) {
  std::string shown = EscapeBytes(s.substr(0, 64));
  if (s.size() > 64) shown += "...";
  return shown;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

Result<std::string> CanonicalStage(std::string_view stage) {
  const std::string l = Lower(stage);
  for (std::string_view s : {kStageNone, kStageStaging, kStageProduction, kStageArchived}) {
    if (l == Lower(s)) return std::string(s);
  }
  return Status::InvalidArgument("Invalid Model Version stage: " + Shown(stage) +
                                 ". Value must be one of None, Staging, Production, Archived.");
}

Status ValidateRegistryName(std::string_view name) {
  bool blank = true;
  for (char c : name) blank = blank && std::isspace(static_cast<unsigned char>(c));
  if (blank) return Status::InvalidArgument("Missing value for required parameter 'name'.");
  if (name.find('/') != std::string_view::npos || name.find(':') != std::string_view::npos) {
    return Status::InvalidArgument("Invalid model name '" + Shown(name) +
                                   "'. Names cannot contain '/' or ':'.");
  }
  if (name.size() > 255 || FindInvalidUtf8(name).has_value() ||
      name.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("Invalid model name '" + Shown(name) +
                                   "': use at most 255 characters of UTF-8 text");
  }
  return Status::Ok();
}

Status ValidateModelAlias(std::string_view alias) {
  if (alias.empty()) return Status::InvalidArgument("Registered model alias name cannot be empty.");
  bool ok = alias.size() <= 255;
  for (char c : alias) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
  }
  if (!ok) {
    return Status::InvalidArgument("Invalid alias name: '" + Shown(alias) +
                                   "'. Use at most 255 letters, digits, '_' and '-'.");
  }
  if (Lower(alias) == "latest") {
    return Status::InvalidArgument("'latest' alias name (case insensitive) is reserved.");
  }
  bool version_like = alias.size() > 1 && (alias[0] == 'v' || alias[0] == 'V');
  for (size_t i = 1; i < alias.size(); ++i) {
    version_like = version_like && std::isdigit(static_cast<unsigned char>(alias[i]));
  }
  if (version_like) {
    return Status::InvalidArgument("Version alias name '" + std::string(alias) + "' is reserved.");
  }
  return Status::Ok();
}

}  // namespace ferry::model
