// Gitignore-syntax rules (.ferryignore / .amlignore / .gitignore) and the per-directory stack used
// by the snapshot walk.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ferry::snapshot {

enum class IgnoreMatch { kNone, kIgnore, kInclude };

// Ignore file names in order of preference: only the first one present in a directory is used.
inline constexpr std::array<std::string_view, 3> kIgnoreFileNames = {".ferryignore", ".amlignore",
                                                                     ".gitignore"};

// Git's wildmatch with WM_PATHNAME: '*', '?' and classes never match '/', "**" spans directories
// only as a whole component ("**/x", "x/**", "a/**/b"). Backslash escapes the next character.
bool WildMatch(std::string_view pattern, std::string_view text);

// The rules of one ignore file.
class IgnoreRules {
 public:
  IgnoreRules() = default;
  // base_dir: the directory holding the ignore file, relative to the snapshot root ("" for the
  // root), without a trailing '/'.
  static IgnoreRules Parse(std::string_view text, std::string base_dir);

  // rel_path is relative to the snapshot root. Only the path itself is tested (the walk prunes
  // ignored directories). The last matching rule wins; kNone when none matches or rel_path is
  // not below base_dir.
  IgnoreMatch Check(std::string_view rel_path, bool is_dir) const;

  bool empty() const { return rules_.empty(); }
  size_t size() const { return rules_.size(); }
  const std::string& base_dir() const { return base_dir_; }

 private:
  enum class Kind : uint8_t { kLiteral, kSuffix, kGeneral };
  struct Rule {
    std::string pattern;  // escapes kept for kGeneral; unescaped text for kLiteral/kSuffix
    Kind kind = Kind::kGeneral;
    bool negate = false;
    bool dir_only = false;
    bool anchored = false;  // matched against the path below base_dir, else the basename
  };
  static bool Matches(const Rule& rule, std::string_view text);

  std::string base_dir_;
  std::vector<Rule> rules_;
};

// The ignore rules in effect at one point of a depth-first walk: one IgnoreRules per directory
// level, deeper levels taking precedence. `.git` (directory or file) is always ignored.
class IgnoreStack {
 public:
  // Loads the ignore file of the directory open at dir_fd (dir_rel: relative to the root, "" for
  // the root; dir_abs: for error messages) and pushes its rules (empty when it has none).
  // present_mask: bit i set when kIgnoreFileNames[i] may exist there (from readdir); names whose
  // bit is clear are not probed. An ignore file that is not a regular file is skipped.
  Status PushDir(int dir_fd, std::string dir_rel, const std::string& dir_abs,
                 unsigned present_mask = 0x7);
  // Pushes already-parsed rules (tests, callers without a directory fd).
  void Push(IgnoreRules rules) { levels_.push_back(std::move(rules)); }
  void Pop() { levels_.pop_back(); }
  size_t depth() const { return levels_.size(); }

  // True when rel_path (relative to the root; its parent directories are assumed not ignored)
  // is excluded from the snapshot.
  bool IsIgnored(std::string_view rel_path, bool is_dir) const;

 private:
  std::vector<IgnoreRules> levels_;
};

}  // namespace ferry::snapshot
