// Manifest serialisation and path validation.
#include "model/manifest.h"

#include <algorithm>
#include <charconv>

#include "common/crypto.h"
#include "common/utf8.h"

namespace ferry::model {

Status ValidateRelativePath(std::string_view path) {
  auto bad = [&](const std::string& why) {
    // Shown escaped: the path may be any bytes, and errors end up in JSON answers.
    return Status::InvalidArgument("path '" + EscapeBytes(path) + "' " + why);
  };
  if (path.empty()) return Status::InvalidArgument("empty path");
  if (path.size() > 4096) return bad("is longer than 4096 bytes");
  if (path.front() == '/') return bad("is absolute; only paths relative to the run are allowed");
  if (path.find('\0') != std::string_view::npos || path.find('\n') != std::string_view::npos)
    return bad("contains a NUL or newline character");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view comp = path.substr(start, end - start);
    if (comp.empty()) return bad("has an empty component");
    if (comp == "..") return bad("contains '..'; it would escape the run's directory");
    if (comp == ".") return bad("contains a '.' component");
    start = end + 1;
  }
  return Status::Ok();
}

std::string Manifest::Serialize() const {
  std::string out;
  out.reserve(entries.size() * 100);
  char buf[64];
  for (const auto& e : entries) {
    int n =
        std::snprintf(buf, sizeof buf, "%o %llu ", e.mode, static_cast<unsigned long long>(e.size));
    out.append(buf, static_cast<size_t>(n));
    out.append(e.hash);
    out.push_back(' ');
    out.append(e.path);
    out.push_back('\n');
  }
  return out;
}

Result<Manifest> Manifest::Parse(std::string_view text) {
  Manifest m;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    ++line_no;
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos)
      return Status::InvalidArgument("manifest line " + std::to_string(line_no) +
                                     ": missing newline");
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    auto err = [&](const std::string& why) {
      return Status::InvalidArgument("manifest line " + std::to_string(line_no) + ": " + why);
    };
    ManifestEntry e;
    size_t s1 = line.find(' ');
    size_t s2 = s1 == std::string_view::npos ? s1 : line.find(' ', s1 + 1);
    size_t s3 = s2 == std::string_view::npos ? s2 : line.find(' ', s2 + 1);
    if (s3 == std::string_view::npos) return err("expected 'mode size hash path'");
    auto r1 = std::from_chars(line.data(), line.data() + s1, e.mode, 8);
    if (r1.ec != std::errc() || r1.ptr != line.data() + s1) return err("bad mode");
    auto r2 = std::from_chars(line.data() + s1 + 1, line.data() + s2, e.size);
    if (r2.ec != std::errc() || r2.ptr != line.data() + s2) return err("bad size");
    e.hash = std::string(line.substr(s2 + 1, s3 - s2 - 1));
    if (!IsSha256Hex(e.hash)) return err("bad hash '" + e.hash + "'");
    e.path = std::string(line.substr(s3 + 1));
    Status st = ValidateRelativePath(e.path);
    if (!st.ok()) return err(st.message());
    if (!m.entries.empty() && m.entries.back().path >= e.path)
      return err("paths are not sorted and unique at '" + e.path + "'");
    m.entries.push_back(std::move(e));
  }
  return m;
}

Status Manifest::Normalize() {
  std::sort(entries.begin(), entries.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) { return a.path < b.path; });
  for (size_t i = 0; i < entries.size(); ++i) {
    FERRY_RETURN_IF_ERROR(ValidateRelativePath(entries[i].path));
    if (!IsSha256Hex(entries[i].hash))
      return Status::InvalidArgument("bad hash for '" + entries[i].path + "'");
    if (i > 0 && entries[i - 1].path == entries[i].path)
      return Status::InvalidArgument("duplicate path '" + entries[i].path + "'");
  }
  return Status::Ok();
}

namespace {

// The path of the line containing byte pos: [line start, newline) after the third space.
std::string_view PathOfLineAt(std::string_view text, size_t pos, size_t* line_start,
                              size_t* line_end) {
  size_t start = text.rfind('\n', pos == 0 ? 0 : pos - 1);
  start = (pos == 0 || start == std::string_view::npos) ? 0 : start + 1;
  size_t end = text.find('\n', start);
  if (end == std::string_view::npos) end = text.size();
  *line_start = start;
  *line_end = end;
  size_t p = start;
  for (int spaces = 0; spaces < 3; ++spaces) {
    p = text.find(' ', p);
    if (p == std::string_view::npos || p >= end) return {};
    ++p;
  }
  return text.substr(p, end - p);
}

}  // namespace

bool ManifestTextHasPath(std::string_view text, std::string_view path) {
  size_t lo = 0, hi = text.size();  // search lines that start in [lo, hi)
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    size_t ls, le;
    std::string_view p = PathOfLineAt(text, mid, &ls, &le);
    if (ls < lo) {  // mid fell inside a line that starts before lo: look at the next line
      ls = le + 1;
      if (ls >= hi) {
        // No line starts in [mid, hi): continue in the lower half.
        hi = mid;
        continue;
      }
      p = PathOfLineAt(text, ls, &ls, &le);
    }
    if (p == path) return true;
    if (p < path)
      lo = le + 1;
    else
      hi = ls;
  }
  return false;
}

uint64_t Manifest::TotalBytes() const {
  uint64_t t = 0;
  for (const auto& e : entries) t += e.size;
  return t;
}

}  // namespace ferry::model
