// Names of datastores and registered assets (assets.h).
#include "model/assets.h"

#include <vector>

#include "common/utf8.h"

namespace ferry::model {

namespace {

std::vector<std::string_view> Segments(std::string_view p) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= p.size()) {
    size_t slash = p.find('/', start);
    if (slash == std::string_view::npos) slash = p.size();
    if (slash > start) out.push_back(p.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

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

bool HasGlob(std::string_view pattern) {
  return pattern.find_first_of("*?") != std::string_view::npos;
}

bool GlobMatch(std::string_view pattern, std::string_view path) {
  const auto pat = Segments(pattern), segs = Segments(path);
  const size_t np = pat.size(), ns = segs.size();
  // can[i][j]: pattern segments i.. match path segments j.. (filled from the end).
  std::vector<std::vector<char>> can(np + 1, std::vector<char>(ns + 1, 0));
  can[np][ns] = 1;
  for (size_t i = np; i-- > 0;) {
    for (size_t j = ns + 1; j-- > 0;) {
      if (pat[i] == "**") {
        can[i][j] = can[i + 1][j] || (j < ns && can[i][j + 1]);
      } else {
        can[i][j] = j < ns && WildcardMatch(pat[i], segs[j], '?', '*') && can[i + 1][j + 1];
      }
    }
  }
  return can[0][0] != 0;
}

std::string GlobBase(std::string_view pattern) {
  std::string base;
  for (auto seg : Segments(pattern)) {
    if (HasGlob(seg)) break;
    if (!base.empty()) base += '/';
    base += seg;
  }
  return base;
}

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
