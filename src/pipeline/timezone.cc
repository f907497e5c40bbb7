// Time zones read from TZif files (RFC 8536) and their POSIX TZ footer rules, without a
// library: the schedule loop needs only "offset at an instant" and "instant of a wall time".
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "common/fs.h"
#include "pipeline/civil_time.h"
#include "pipeline/schedule.h"

namespace ferry::pipeline {
namespace {

using civil::kSecondsPerDay;

// A POSIX TZ rule ("PST8PDT,M3.2.0,M11.1.0"): standard time, and optionally daylight time
// with the two yearly changes. Offsets are seconds east of UTC (the string's sign flipped).
struct PosixRule {
  // One end of daylight time: a day of the year and the local time of day of the change.
  struct Change {
    enum class Kind { kJulian1, kJulian0, kMonthWeekDay } kind = Kind::kMonthWeekDay;
    int day = 0;  // Jn: 1..365 (Feb 29 never counted); n: 0..365; M: day of week 0..6
    int month = 0;
    int week = 0;         // 1..5, 5 = the last such weekday of the month
    int64_t time = 7200;  // seconds after local midnight, -167h..167h
  };
  int64_t std_offset = 0;
  bool has_dst = false;
  int64_t dst_offset = 0;
  Change start;
  Change end;
};

class PosixParser {
 public:
  explicit PosixParser(std::string_view s) : s_(s) {}

  bool Parse(PosixRule* r) {
    if (!Name()) return false;
    int64_t off = 0;
    if (!Offset(&off)) return false;
    r->std_offset = -off;
    if (Done()) return true;
    if (!Name()) return false;
    r->has_dst = true;
    r->dst_offset = r->std_offset + 3600;
    if (!Done() && Peek() != ',') {
      if (!Offset(&off)) return false;
      r->dst_offset = -off;
    }
    if (Done()) {
      // No rule: the US rules, as tzcode assumes for a bare "EST5EDT".
      r->start = {PosixRule::Change::Kind::kMonthWeekDay, 0, 3, 2, 7200};
      r->end = {PosixRule::Change::Kind::kMonthWeekDay, 0, 11, 1, 7200};
      return true;
    }
    if (!Eat(',') || !ChangeSpec(&r->start) || !Eat(',') || !ChangeSpec(&r->end)) return false;
    return Done();
  }

 private:
  bool Done() const { return i_ == s_.size(); }
  char Peek() const { return Done() ? '\0' : s_[i_]; }
  bool Eat(char c) {
    if (Peek() != c) return false;
    ++i_;
    return true;
  }

  // "PST" (3+ letters) or "<+0530>" (3+ of letters, digits, '+', '-').
  bool Name() {
    size_t n = 0;
    if (Eat('<')) {
      while (!Done() && Peek() != '>') {
        ++i_;
        ++n;
      }
      return Eat('>') && n >= 3;
    }
    while (std::isalpha(static_cast<unsigned char>(Peek()))) {
      ++i_;
      ++n;
    }
    return n >= 3;
  }

  bool Number(int64_t max, int64_t* out) {
    if (!std::isdigit(static_cast<unsigned char>(Peek()))) return false;
    int64_t v = 0;
    while (std::isdigit(static_cast<unsigned char>(Peek()))) {
      v = v * 10 + (s_[i_++] - '0');
      if (v > max) return false;
    }
    *out = v;
    return true;
  }

  // [+-]hh[:mm[:ss]] in seconds; max_hours bounds hh (24 for offsets, 167 for times).
  bool Hms(int64_t max_hours, int64_t* out) {
    int64_t sign = 1;
    if (Eat('-')) {
      sign = -1;
    } else {
      (void)Eat('+');
    }
    int64_t h = 0, m = 0, sec = 0;
    if (!Number(max_hours, &h)) return false;
    if (Eat(':')) {
      if (!Number(59, &m)) return false;
      if (Eat(':') && !Number(59, &sec)) return false;
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }

  bool Offset(int64_t* out) { return Hms(24, out); }

  bool ChangeSpec(PosixRule::Change* c) {
    int64_t a = 0;
    if (Eat('M')) {
      int64_t w = 0, d = 0;
      if (!Number(12, &a) || a < 1 || !Eat('.') || !Number(5, &w) || w < 1 || !Eat('.') ||
          !Number(6, &d)) {
        return false;
      }
      c->kind = PosixRule::Change::Kind::kMonthWeekDay;
      c->month = static_cast<int>(a);
      c->week = static_cast<int>(w);
      c->day = static_cast<int>(d);
    } else if (Eat('J')) {
      if (!Number(365, &a) || a < 1) return false;
      c->kind = PosixRule::Change::Kind::kJulian1;
      c->day = static_cast<int>(a);
    } else {
      if (!Number(365, &a)) return false;
      c->kind = PosixRule::Change::Kind::kJulian0;
      c->day = static_cast<int>(a);
    }
    c->time = 7200;
    if (Eat('/')) return Hms(167, &c->time);
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
};

// Local midnight (seconds, local counted as UTC) of the change's day in `year`.
int64_t ChangeDay(const PosixRule::Change& c, int64_t year) {
  const int64_t jan1 = civil::DaysFromDate(year, 1, 1);
  switch (c.kind) {
    case PosixRule::Change::Kind::kJulian1: {
      // Day 60 is always March 1: February 29 is not counted.
      int64_t d = jan1 + c.day - 1;
      if (civil::IsLeapYear(year) && c.day >= 60) ++d;
      return d;
    }
    case PosixRule::Change::Kind::kJulian0:
      return jan1 + c.day;
    case PosixRule::Change::Kind::kMonthWeekDay: {
      const int64_t first = civil::DaysFromDate(year, c.month, 1);
      int64_t d = first + civil::FloorMod(c.day - civil::WeekdayFromDays(first), 7);
      d += int64_t{7} * (c.week - 1);
      const int64_t last = first + civil::DaysInMonth(year, c.month) - 1;
      while (d > last) d -= 7;
      return d;
    }
  }
  return jan1;
}

int64_t RuleOffsetAt(const PosixRule& r, int64_t utc) {
  if (!r.has_dst) return r.std_offset;
  const int64_t year =
      civil::DateFromDays(civil::FloorDiv(utc + r.std_offset, kSecondsPerDay)).year;
  // The start is a standard-time wall clock, the end a daylight-time one.
  const int64_t start = ChangeDay(r.start, year) * kSecondsPerDay + r.start.time - r.std_offset;
  const int64_t end = ChangeDay(r.end, year) * kSecondsPerDay + r.end.time - r.dst_offset;
  const bool dst = start < end ? (utc >= start && utc < end) : !(utc >= end && utc < start);
  return dst ? r.dst_offset : r.std_offset;
}

struct LocalType {
  int64_t offset = 0;
  bool is_dst = false;
};

class TzifZone final : public TimeZone {
 public:
  TzifZone(std::string name, std::vector<int64_t> times, std::vector<uint8_t> type_of,
           std::vector<LocalType> types, bool has_rule, PosixRule rule)
      : name_(std::move(name)),
        times_(std::move(times)),
        type_of_(std::move(type_of)),
        types_(std::move(types)),
        has_rule_(has_rule),
        rule_(rule) {}

  const std::string& name() const override { return name_; }

  int64_t OffsetAt(int64_t utc) const override {
    if (times_.empty() || utc >= times_.back()) {
      if (has_rule_) return RuleOffsetAt(rule_, utc);
      if (times_.empty()) return types_.empty() ? 0 : types_[0].offset;
      return types_[type_of_.back()].offset;
    }
    auto it = std::upper_bound(times_.begin(), times_.end(), utc);
    if (it == times_.begin()) return types_[0].offset;  // before the first change: type 0
    return types_[type_of_[it - times_.begin() - 1]].offset;
  }

  int64_t LocalToUtc(int64_t local) const override {
    // The offsets in effect a day either side (no zone changes twice within a day) and at
    // the wall time itself; each that maps back onto `local` is an occurrence.
    constexpr int64_t kWindow = 90000;
    const int64_t candidates[] = {OffsetAt(local - kWindow), OffsetAt(local),
                                  OffsetAt(local + kWindow)};
    bool found = false;
    int64_t best = 0;
    for (int64_t o : candidates) {
      const int64_t u = local - o;
      if (OffsetAt(u) == o && (!found || u < best)) {
        best = u;
        found = true;
      }
    }
    if (found) return best;
    // Skipped by a jump forward: read the wall time with the offset before the jump (the
    // smaller one), which lands the same distance past the jump.
    int64_t before = candidates[0];
    for (int64_t o : candidates) before = std::min(before, o);
    return local - before;
  }

 private:
  std::string name_;
  std::vector<int64_t> times_;
  std::vector<uint8_t> type_of_;
  std::vector<LocalType> types_;
  bool has_rule_;
  PosixRule rule_;
};

class Reader {
 public:
  explicit Reader(std::string_view d) : d_(d) {}
  bool Has(size_t n) const { return d_.size() - i_ >= n; }
  size_t pos() const { return i_; }
  void Skip(size_t n) { i_ += n; }
  uint8_t U8() { return static_cast<uint8_t>(d_[i_++]); }
  int64_t Int(size_t width) {
    uint64_t v = 0;
    for (size_t k = 0; k < width; ++k) v = (v << 8) | U8();
    if (width == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
    return static_cast<int64_t>(v);
  }
  std::string_view Rest() const { return d_.substr(i_); }

 private:
  std::string_view d_;
  size_t i_ = 0;
};

struct Header {
  char version = 0;
  int64_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;
};

bool ReadHeader(Reader* r, Header* h) {
  if (!r->Has(44)) return false;
  const char magic[4] = {static_cast<char>(r->U8()), static_cast<char>(r->U8()),
                         static_cast<char>(r->U8()), static_cast<char>(r->U8())};
  if (std::string_view(magic, 4) != "TZif") return false;
  h->version = static_cast<char>(r->U8());
  r->Skip(15);
  h->isutcnt = r->Int(4);
  h->isstdcnt = r->Int(4);
  h->leapcnt = r->Int(4);
  h->timecnt = r->Int(4);
  h->typecnt = r->Int(4);
  h->charcnt = r->Int(4);
  return h->isutcnt >= 0 && h->isstdcnt >= 0 && h->leapcnt >= 0 && h->timecnt >= 0 &&
         h->typecnt >= 1 && h->typecnt <= 256 && h->charcnt >= 0 && h->timecnt < (1 << 20);
}

size_t BlockSize(const Header& h, size_t time_width) {
  return static_cast<size_t>(h.timecnt) * (time_width + 1) + static_cast<size_t>(h.typecnt) * 6 +
         static_cast<size_t>(h.charcnt) + static_cast<size_t>(h.leapcnt) * (time_width + 4) +
         static_cast<size_t>(h.isstdcnt) + static_cast<size_t>(h.isutcnt);
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 255 || name[0] == '/' || name.find("..") != std::string::npos) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' ||
           c == '+' || c == '.';
  });
}

}  // namespace

Result<std::shared_ptr<const TimeZone>> TimeZone::FromTzif(const std::string& name,
                                                           std::string_view data) {
  auto bad = [&](const std::string& what) {
    return Status::Corruption("time zone '" + name + "': not a TZif file (" + what +
                              "); reinstall the zoneinfo files (Debian: tzdata)");
  };
  Reader r(data);
  Header h;
  if (!ReadHeader(&r, &h)) return bad("bad header");
  size_t width = 4;
  if (h.version >= '2') {
    // Skip the 32-bit block; the 64-bit one that follows has the same zone, wider.
    const size_t v1 = BlockSize(h, 4);
    if (!r.Has(v1)) return bad("truncated");
    r.Skip(v1);
    if (!ReadHeader(&r, &h)) return bad("bad second header");
    width = 8;
  }
  if (!r.Has(BlockSize(h, width))) return bad("truncated");
  std::vector<int64_t> times(static_cast<size_t>(h.timecnt));
  for (auto& t : times) t = r.Int(width);
  for (size_t k = 1; k < times.size(); ++k) {
    if (times[k] <= times[k - 1]) return bad("transition times out of order");
  }
  std::vector<uint8_t> type_of(static_cast<size_t>(h.timecnt));
  for (auto& t : type_of) {
    t = r.U8();
    if (t >= h.typecnt) return bad("transition names a missing type");
  }
  std::vector<LocalType> types(static_cast<size_t>(h.typecnt));
  for (auto& t : types) {
    t.offset = r.Int(4);
    t.is_dst = r.U8() != 0;
    r.Skip(1);  // designation index: the abbreviation is not needed
    if (t.offset <= -89999 || t.offset >= 93600) return bad("offset out of range");
  }
  // Abbreviations, leap seconds (ignored: times here are POSIX seconds), std/wall and UT
  // indicators (only used by tools that rebuild rules).
  r.Skip(static_cast<size_t>(h.charcnt) + static_cast<size_t>(h.leapcnt) * (width + 4) +
         static_cast<size_t>(h.isstdcnt) + static_cast<size_t>(h.isutcnt));
  bool has_rule = false;
  PosixRule rule;
  if (width == 8) {
    std::string_view rest = r.Rest();
    if (rest.size() >= 2 && rest[0] == '\n') {
      const size_t end = rest.find('\n', 1);
      if (end == std::string_view::npos) return bad("footer without its closing newline");
      std::string_view tz = rest.substr(1, end - 1);
      if (!tz.empty()) {
        if (!PosixParser(tz).Parse(&rule)) {
          return bad("footer '" + std::string(tz) + "' is not a POSIX TZ rule");
        }
        has_rule = true;
      }
    }
  }
  return std::shared_ptr<const TimeZone>(std::make_shared<TzifZone>(
      name, std::move(times), std::move(type_of), std::move(types), has_rule, rule));
}

Result<std::shared_ptr<const TimeZone>> TimeZone::Load(const std::string& name) {
  std::string iana = WindowsZoneToIana(name);
  if (iana.empty()) iana = name;
  if (!ValidName(iana)) {
    return Status::InvalidArgument("time zone '" + name +
                                   "': not a zone name; use an IANA name (Europe/Berlin) or a "
                                   "Windows id (W. Europe Standard Time)");
  }
  const char* env = std::getenv("FERRY_ZONEINFO");
  const std::string dir = env != nullptr && *env != '\0' ? env : "/usr/share/zoneinfo";
  const std::string path = JoinPath(dir, iana);
  if (!PathExists(path)) {
    return Status::NotFound("time zone '" + name + "': no such zone in " + dir +
                            "; use an IANA name (Europe/Berlin) or a Windows id (W. Europe "
                            "Standard Time), and check that the zoneinfo files are installed "
                            "(Debian: tzdata)");
  }
  auto data = ReadFile(path);
  if (!data.ok()) return data.status().WithContext("time zone '" + name + "'");
  return FromTzif(name, *data);
}

}  // namespace ferry::pipeline
