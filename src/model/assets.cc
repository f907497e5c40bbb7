// Names of datastores and registered assets (assets.h).
#include "model/assets.h"

#include "common/utf8.h"

namespace ferry::model {

namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// The name as an error message shows it: escaped, and cut after 64 bytes.
std::string Shown(std::string_view name) {
  std::string shown = EscapeBytes(name.substr(0, 64));
  if (name.size() > 64) shown += "...";
  return shown;
}

}  // namespace

Status ValidateDatastoreName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 255 && name[0] != '_';
  for (char c : name) ok = ok && (IsAlnum(c) || c == '_');
  if (ok) return Status::Ok();
  return Status::InvalidArgument("datastore name '" + Shown(name) +
                                 "' is not valid: use 1 to 255 letters, digits and '_', not "
                                 "starting with '_'");
}

Status ValidateAssetName(std::string_view what, std::string_view name) {
  bool ok = !name.empty() && name.size() <= 255 && IsAlnum(name[0]);
  for (char c : name) ok = ok && (IsAlnum(c) || c == '-' || c == '_' || c == '.');
  if (ok) return Status::Ok();
  return Status::InvalidArgument(std::string(what) + " name '" + Shown(name) +
                                 "' is not valid: use 1 to 255 letters, digits, '-', '_' and "
                                 "'.', starting with a letter or digit");
}

}  // namespace ferry::model
