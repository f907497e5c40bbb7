// Gitignore matching (a port of git's wildmatch with WM_PATHNAME) and the per-directory rule stack.
#include "snapshot/ignore.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "common/fs.h"

namespace ferry::snapshot {
namespace {

enum WildResult { kMatch = 0, kNoMatch = 1, kAbortAll = -1, kAbortToStarStar = -2 };

// Pattern and text as [begin, end) ranges; at(p) is 0 past the end, like a C string's NUL.
struct Wild {
  const unsigned char* pat_begin;
  const unsigned char* pat_end;
  const unsigned char* text_end;

  unsigned char PatAt(const unsigned char* p) const { return p < pat_end ? *p : 0; }
  unsigned char TextAt(const unsigned char* t) const { return t < text_end ? *t : 0; }

  static bool PosixClass(std::string_view name, unsigned char c, bool* known) {
    *known = true;
    if (name == "alnum") return std::isalnum(c);
    if (name == "alpha") return std::isalpha(c);
    if (name == "blank") return c == ' ' || c == '\t';
    if (name == "cntrl") return std::iscntrl(c);
    if (name == "digit") return std::isdigit(c);
    if (name == "graph") return std::isgraph(c);
    if (name == "lower") return std::islower(c);
    if (name == "print") return std::isprint(c);
    if (name == "punct") return std::ispunct(c);
    if (name == "space") return std::isspace(c);
    if (name == "upper") return std::isupper(c);
    if (name == "xdigit") return std::isxdigit(c);
    *known = false;
    return false;
  }

  int Match(const unsigned char* p, const unsigned char* t) const {
    for (; p < pat_end; ++p, ++t) {
      unsigned char p_ch = *p;
      unsigned char t_ch = TextAt(t);
      if (t_ch == 0 && t >= text_end && p_ch != '*') return kAbortAll;
      switch (p_ch) {
        case '\\':
          // A backslash quotes the next character; a trailing one matches a literal backslash.
          if (p + 1 < pat_end) p_ch = *++p;
          if (t_ch != p_ch) return kNoMatch;
          break;
        case '?':
          if (t_ch == '/') return kNoMatch;
          break;
        case '*': {
          const unsigned char* first_star = p;
          bool match_slash = false;
          while (PatAt(p + 1) == '*' && p + 1 < pat_end) ++p;
          if (p != first_star) {  // two or more stars
            bool starts_component = first_star == pat_begin || first_star[-1] == '/';
            bool ends_component =
                p + 1 >= pat_end || p[1] == '/' || (p[1] == '\\' && PatAt(p + 2) == '/');
            if (starts_component && ends_component) {
              // "**/" may match zero directories: "a/**/b" matches "a/b".
              if (p + 1 < pat_end && p[1] == '/' && Match(p + 2, t) == kMatch) return kMatch;
              match_slash = true;
            }
          }
          const unsigned char* rest = p + 1;
          if (rest >= pat_end) {
            // Trailing "**" matches everything; a trailing "*" only within one component.
            if (!match_slash && t < text_end &&
                std::memchr(t, '/', static_cast<size_t>(text_end - t)) != nullptr)
              return kAbortToStarStar;
            return kMatch;
          }
          if (!match_slash && *rest == '/') {
            // One star followed by a slash matches the rest of this component.
            const void* slash =
                t < text_end ? std::memchr(t, '/', static_cast<size_t>(text_end - t)) : nullptr;
            if (slash == nullptr) return kAbortAll;
            t = static_cast<const unsigned char*>(slash);
            p = rest;  // the loop's increment consumes the slash in both
            continue;
          }
          for (;;) {
            if (t >= text_end) break;
            int matched = Match(rest, t);
            if (matched != kNoMatch) {
              if (!match_slash || matched != kAbortToStarStar) return matched;
            } else if (!match_slash && *t == '/') {
              return kAbortToStarStar;
            }
            ++t;
          }
          return kAbortAll;
        }
        case '[': {
          p_ch = PatAt(++p);
          if (p_ch == '^') p_ch = '!';
          bool negated = p_ch == '!';
          if (negated) p_ch = PatAt(++p);
          unsigned char prev_ch = 0;
          bool matched = false;
          do {
            if (p >= pat_end) return kAbortAll;
            if (p_ch == '\\') {
              if (p + 1 >= pat_end) return kAbortAll;
              p_ch = *++p;
              if (t_ch == p_ch) matched = true;
            } else if (p_ch == '-' && prev_ch && p + 1 < pat_end && p[1] != ']') {
              p_ch = *++p;
              if (p_ch == '\\') {
                if (p + 1 >= pat_end) return kAbortAll;
                p_ch = *++p;
              }
              if (t_ch <= p_ch && t_ch >= prev_ch) matched = true;
              p_ch = 0;  // so that prev_ch becomes 0: no range may follow a range
            } else if (p_ch == '[' && PatAt(p + 1) == ':') {
              const unsigned char* s = p + 2;
              const unsigned char* e = s;
              while (e < pat_end && *e != ']') ++e;
              if (e >= pat_end) return kAbortAll;
              if (e - s > 0 && e[-1] == ':') {
                bool known = false;
                std::string_view name(reinterpret_cast<const char*>(s),
                                      static_cast<size_t>(e - 1 - s));
                if (PosixClass(name, t_ch, &known)) matched = true;
                if (!known) return kAbortAll;
                p = e;
                p_ch = 0;
              } else {
                // Not a class: a literal '['.
                if (t_ch == '[') matched = true;
              }
            } else if (t_ch == p_ch) {
              matched = true;
            }
            prev_ch = p_ch;
            p_ch = PatAt(++p);
          } while (p < pat_end && p_ch != ']');
          if (p >= pat_end) return kAbortAll;
          if (matched == negated || t_ch == '/') return kNoMatch;
          break;
        }
        default:
          if (t_ch != p_ch) return kNoMatch;
          break;
      }
    }
    return t >= text_end ? kMatch : kNoMatch;
  }
};

bool HasGlobChars(std::string_view s) { return s.find_first_of("*?[\\") != std::string_view::npos; }

// git's trim_trailing_spaces: drops unescaped trailing spaces.
void TrimTrailingSpaces(std::string* s) {
  size_t last_space = std::string::npos;
  for (size_t i = 0; i < s->size(); ++i) {
    char c = (*s)[i];
    if (c == ' ') {
      if (last_space == std::string::npos) last_space = i;
    } else if (c == '\\') {
      ++i;
      if (i >= s->size()) return;
      last_space = std::string::npos;
    } else {
      last_space = std::string::npos;
    }
  }
  if (last_space != std::string::npos) s->resize(last_space);
}

}  // namespace

bool WildMatch(std::string_view pattern, std::string_view text) {
  Wild w{reinterpret_cast<const unsigned char*>(pattern.data()),
         reinterpret_cast<const unsigned char*>(pattern.data()) + pattern.size(),
         reinterpret_cast<const unsigned char*>(text.data()) + text.size()};
  return w.Match(w.pat_begin, reinterpret_cast<const unsigned char*>(text.data())) == kMatch;
}

IgnoreRules IgnoreRules::Parse(std::string_view text, std::string base_dir) {
  IgnoreRules out;
  while (!base_dir.empty() && base_dir.back() == '/') base_dir.pop_back();
  out.base_dir_ = std::move(base_dir);
  size_t pos = 0;
  // A UTF-8 byte-order mark at the start is not part of the first pattern.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") pos = 3;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string line(text.substr(pos, nl - pos));
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    TrimTrailingSpaces(&line);
    if (line.empty()) continue;
    Rule r;
    if (line[0] == '!') {
      r.negate = true;
      line.erase(0, 1);
    }
    if (!line.empty() && line.back() == '/') {
      r.dir_only = true;
      while (!line.empty() && line.back() == '/') line.pop_back();
    }
    if (line.empty()) continue;  // "/" or "!" alone match nothing
    r.anchored = line.find('/') != std::string::npos;
    if (line[0] == '/') line.erase(0, 1);
    if (line.empty()) continue;
    if (!HasGlobChars(line)) {
      r.kind = Kind::kLiteral;
    } else if (!r.anchored && line[0] == '*' && line.size() > 1 &&
               !HasGlobChars(std::string_view(line).substr(1))) {
      r.kind = Kind::kSuffix;
      line.erase(0, 1);
    } else {
      r.kind = Kind::kGeneral;
    }
    r.pattern = std::move(line);
    out.rules_.push_back(std::move(r));
  }
  return out;
}

bool IgnoreRules::Matches(const Rule& rule, std::string_view text) {
  switch (rule.kind) {
    case Kind::kLiteral:
      return text == rule.pattern;
    case Kind::kSuffix:
      return text.size() >= rule.pattern.size() &&
             text.compare(text.size() - rule.pattern.size(), rule.pattern.size(), rule.pattern) ==
                 0;
    case Kind::kGeneral:
      return WildMatch(rule.pattern, text);
  }
  return false;
}

IgnoreMatch IgnoreRules::Check(std::string_view rel_path, bool is_dir) const {
  if (rules_.empty()) return IgnoreMatch::kNone;
  std::string_view sub = rel_path;
  if (!base_dir_.empty()) {
    if (rel_path.size() <= base_dir_.size() + 1 || rel_path[base_dir_.size()] != '/' ||
        rel_path.compare(0, base_dir_.size(), base_dir_) != 0)
      return IgnoreMatch::kNone;
    sub.remove_prefix(base_dir_.size() + 1);
  }
  std::string_view base = sub;
  if (size_t slash = sub.rfind('/'); slash != std::string_view::npos) base = sub.substr(slash + 1);
  for (size_t i = rules_.size(); i-- > 0;) {
    const Rule& r = rules_[i];
    if (r.dir_only && !is_dir) continue;
    if (Matches(r, r.anchored ? sub : base))
      return r.negate ? IgnoreMatch::kInclude : IgnoreMatch::kIgnore;
  }
  return IgnoreMatch::kNone;
}

Status IgnoreStack::PushDir(int dir_fd, std::string dir_rel, const std::string& dir_abs,
                            unsigned present_mask) {
  for (size_t i = 0; i < kIgnoreFileNames.size(); ++i) {
    if ((present_mask & (1u << i)) == 0) continue;
    std::string name(kIgnoreFileNames[i]);
    UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd.valid()) {
      // Absent, or a symlink (git does not follow symlinked ignore files either).
      if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR) continue;
      Status st = ErrnoStatus("cannot open ignore file", JoinPath(dir_abs, name), errno);
      return Status(st.code(), st.message() + "; fix its permissions or remove it");
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0)
      return ErrnoStatus("cannot stat ignore file", JoinPath(dir_abs, name), errno);
    if (!S_ISREG(st.st_mode)) continue;
    std::string text;
    text.reserve(static_cast<size_t>(st.st_size));
    char buf[8192];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("cannot read ignore file", JoinPath(dir_abs, name), errno);
      }
      if (n == 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
    levels_.push_back(IgnoreRules::Parse(text, std::move(dir_rel)));
    return Status::Ok();
  }
  levels_.emplace_back();
  return Status::Ok();
}

bool IgnoreStack::IsIgnored(std::string_view rel_path, bool is_dir) const {
  std::string_view base = rel_path;
  if (size_t slash = rel_path.rfind('/'); slash != std::string_view::npos)
    base = rel_path.substr(slash + 1);
  if (base == ".git") return true;
  for (size_t i = levels_.size(); i-- > 0;) {
    IgnoreMatch m = levels_[i].Check(rel_path, is_dir);
    if (m == IgnoreMatch::kIgnore) return true;
    if (m == IgnoreMatch::kInclude) return false;
  }
  return false;
}

}  // namespace ferry::snapshot
