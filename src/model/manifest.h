// Snapshot manifests: the sorted list of (path, mode, size, hash); its hash is the snapshot id.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ferry::model {

struct ManifestEntry {
  std::string path;  // relative, '/'-separated, validated by ValidateRelativePath
  uint32_t mode = 0644;
  uint64_t size = 0;
  std::string hash;  // SHA-256 hex of the content
};

// Checks a path from a client or a script: relative, no "." or ".." components, no empty
// components, no NUL or newline, at most 4096 bytes. The error names the path (escaped).
// Artifact paths are the escaped form of a file's name (common/utf8.h EscapeBytes: "\xNN",
// "\\"), which this accepts; a client restoring the bytes checks the result again.
Status ValidateRelativePath(std::string_view path);

struct Manifest {
  std::vector<ManifestEntry> entries;  // sorted by path, unique

  // Canonical text: one "mode size hash path\n" line per entry (mode in octal).
  std::string Serialize() const;
  // Parses and validates (sorted, unique, valid paths and hashes); errors name the line.
  static Result<Manifest> Parse(std::string_view text);
  // Sorts entries and rejects duplicates and invalid paths.
  Status Normalize();
  uint64_t TotalBytes() const;
};

// True when the canonical manifest text (as Serialize writes it, sorted by path) lists path.
// Binary search over the lines: O(log n) without parsing the whole manifest.
bool ManifestTextHasPath(std::string_view text, std::string_view path);

}  // namespace ferry::model
