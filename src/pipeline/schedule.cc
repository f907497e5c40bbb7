// Schedules: CLI v1's schedule YAML, the JSON form, the checks, and when a recurrence fires.
#include "pipeline/schedule.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <set>
#include <utility>

#include "pipeline/civil_time.h"

namespace ferry::pipeline {
namespace {

using civil::kSecondsPerDay;

constexpr const char* kFrequencies[] = {"Minute", "Hour", "Day", "Week", "Month"};
// Monday first: weeks are counted from the Monday of the start's week.
constexpr const char* kWeekDays[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                     "Friday", "Saturday", "Sunday"};
// Large enough for any real schedule, small enough that no step count overflows.
constexpr int kMaxInterval = 1000000;

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

template <size_t N>
std::string Canonical(std::string_view v, const char* const (&allowed)[N]) {
  for (const char* a : allowed) {
    if (EqualsIgnoringCase(a, v)) return a;
  }
  return "";
}

template <size_t N>
std::string ListOf(const char* const (&allowed)[N]) {
  std::string s;
  for (const char* a : allowed) s += (s.empty() ? "" : ", ") + std::string(a);
  return s;
}

// Monday = 0 .. Sunday = 6; -1 when not a day name.
int WeekDayIndex(std::string_view name) {
  for (int i = 0; i < 7; ++i) {
    if (EqualsIgnoringCase(kWeekDays[i], name)) return i;
  }
  return -1;
}

// "HH:MM" -> minutes after midnight; -1 when malformed.
int ParseTimeOfDay(std::string_view t) {
  if (t.size() != 5 || t[2] != ':') return -1;
  for (size_t i : {0, 1, 3, 4}) {
    if (!std::isdigit(static_cast<unsigned char>(t[i]))) return -1;
  }
  const int h = (t[0] - '0') * 10 + (t[1] - '0');
  const int m = (t[3] - '0') * 10 + (t[4] - '0');
  if (h > 23 || m > 59) return -1;
  return h * 60 + m;
}

bool IsUtcZone(const std::string& name) {
  std::string iana = WindowsZoneToIana(name);
  if (iana.empty()) iana = name;
  for (const char* u : {"Etc/UTC", "UTC", "Etc/GMT", "GMT", "Etc/Universal", "Universal",
                        "Etc/Zulu", "Zulu", "Etc/UCT", "UCT"}) {
    if (iana == u) return true;
  }
  return false;
}

bool HasTimes(const Recurrence& r) {
  return !r.hours.empty() || !r.minutes.empty() || !r.time_of_day.empty() || !r.week_days.empty();
}

// The checks, shared by the YAML parser (which knows each key's line) and ValidateSchedule.
class Checker {
 public:
  Checker(const std::string* file, const std::map<std::string, int>* lines)
      : file_(file), lines_(lines) {}

  Status Error(const std::string& key, const std::string& what) const {
    std::string where;
    if (file_ != nullptr) {
      where = *file_;
      // The key's own line, else its parent's ("recurrence.hours[1]" -> "recurrence.hours").
      std::string k = key;
      while (lines_ != nullptr && !k.empty()) {
        auto it = lines_->find(k);
        if (it != lines_->end()) {
          where += ":" + std::to_string(it->second);
          break;
        }
        const size_t cut = k.find_last_of(".[");
        k = cut == std::string::npos ? "" : k.substr(0, cut);
      }
      where += ": ";
    }
    return Status::InvalidArgument(where + "key '" + key + "': " + what);
  }

  Status Check(const ScheduleSpec& s) const {
    const bool has_datastore = !s.datastore_name.empty();
    if (s.recurrence.has_value() == has_datastore) {
      return Error(s.recurrence ? "datastore_name" : "recurrence",
                   s.recurrence ? "a schedule has a recurrence or a datastore_name, not both; "
                                  "remove one"
                                : "a schedule needs a recurrence (fire at times) or a "
                                  "datastore_name (fire on changed files); set one");
    }
    if (s.wait_timeout < 0) {
      return Error("wait_timeout",
                   "must be at least 0 seconds, got " + std::to_string(s.wait_timeout));
    }
    if (has_datastore) {
      if (s.polling_interval < 1) {
        return Error("polling_interval",
                     "must be at least 1 minute, got " + std::to_string(s.polling_interval));
      }
      return Status::Ok();
    }
    for (const auto& [key, value] : {std::pair<const char*, const std::string*>{
                                         "data_path_parameter_name", &s.data_path_parameter_name},
                                     {"path_on_datastore", &s.path_on_datastore}}) {
      if (!value->empty()) {
        return Error(key,
                     "only a datastore-triggered schedule (datastore_name) uses it; "
                     "remove it from a recurring schedule");
      }
    }
    return CheckRecurrence(*s.recurrence);
  }

  Status CheckRecurrence(const Recurrence& r) const {
    const std::string freq = Canonical(r.frequency, kFrequencies);
    if (freq.empty()) {
      return Error(
          "recurrence.frequency",
          (r.frequency.empty() ? std::string("missing") : "'" + r.frequency + "' is not allowed") +
              "; use one of: " + ListOf(kFrequencies));
    }
    if (r.interval < 1 || r.interval > kMaxInterval) {
      return Error("recurrence.interval", "must be between 1 and " + std::to_string(kMaxInterval) +
                                              ", got " + std::to_string(r.interval));
    }
    const bool day_or_week = freq == "Day" || freq == "Week";
    for (const char* key : {"hours", "minutes", "time_of_day"}) {
      const bool set = std::string_view(key) == "hours"     ? !r.hours.empty()
                       : std::string_view(key) == "minutes" ? !r.minutes.empty()
                                                            : !r.time_of_day.empty();
      if (set && !day_or_week) {
        return Error(std::string("recurrence.") + key,
                     "only a Day or Week frequency takes it, not " + freq +
                         "; remove it or change the frequency");
      }
    }
    if (!r.week_days.empty() && freq != "Week") {
      return Error("recurrence.week_days", "only a Week frequency takes it, not " + freq +
                                               "; remove it or set frequency: Week");
    }
    if (!r.time_of_day.empty() && (!r.hours.empty() || !r.minutes.empty())) {
      return Error("recurrence.time_of_day",
                   "give either time_of_day or hours and minutes, not both");
    }
    for (size_t i = 0; i < r.hours.size(); ++i) {
      if (r.hours[i] < 0 || r.hours[i] > 23) {
        return Error("recurrence.hours[" + std::to_string(i) + "]",
                     "an hour is 0 to 23, got " + std::to_string(r.hours[i]));
      }
    }
    for (size_t i = 0; i < r.minutes.size(); ++i) {
      if (r.minutes[i] < 0 || r.minutes[i] > 59) {
        return Error("recurrence.minutes[" + std::to_string(i) + "]",
                     "a minute is 0 to 59, got " + std::to_string(r.minutes[i]));
      }
    }
    if (!r.time_of_day.empty() && ParseTimeOfDay(r.time_of_day) < 0) {
      return Error("recurrence.time_of_day",
                   "'" + r.time_of_day + "' is not a time HH:MM (00:00 to 23:59)");
    }
    for (size_t i = 0; i < r.week_days.size(); ++i) {
      if (WeekDayIndex(r.week_days[i]) < 0) {
        return Error("recurrence.week_days[" + std::to_string(i) + "]",
                     "'" + r.week_days[i] + "' is not a day; use one of: " + ListOf(kWeekDays));
      }
    }
    if (r.time_zone.empty()) {
      return Error("recurrence.time_zone", "empty; leave it out for UTC");
    }
    auto tz = TimeZone::Load(r.time_zone);
    if (!tz.ok()) return Error("recurrence.time_zone", tz.status().message());
    if (!r.start_time.empty()) {
      auto t = ParseLocalTime(r.start_time, IsUtcZone(r.time_zone));
      if (!t.ok()) return Error("recurrence.start_time", t.status().message());
    }
    return Status::Ok();
  }

 private:
  const std::string* file_;
  const std::map<std::string, int>* lines_;
};

// ---- YAML -------------------------------------------------------------------------------

class YamlParser {
 public:
  explicit YamlParser(std::string file) : file_(std::move(file)) {}

  Status Error(const YAML::Node& n, const std::string& key, const std::string& what) const {
    std::string where = file_;
    if (n && n.Mark().line >= 0) where += ":" + std::to_string(n.Mark().line + 1);
    return Status::InvalidArgument(where + ": key '" + key + "': " + what);
  }

  // Null, "~", or Azure's (Python's) unquoted None: the key is not set.
  static bool IsUnset(const YAML::Node& n) {
    return !n || n.IsNull() || (n.IsScalar() && n.Tag() != "!" && n.Scalar() == "None");
  }

  // The first line recorded for a key stands: the key's own line, not its value's (a block
  // list starts on the next line).
  void Line(const std::string& key, const YAML::Node& n) {
    if (n && n.Mark().line >= 0) lines_.emplace(key, n.Mark().line + 1);
  }

  Status String(const YAML::Node& n, const std::string& key, std::string* out) {
    Line(key, n);
    if (IsUnset(n)) return Status::Ok();
    if (!n.IsScalar()) return Error(n, key, "expected a string");
    *out = n.Scalar();
    return Status::Ok();
  }

  Result<std::optional<bool>> Bool(const YAML::Node& n, const std::string& key) {
    Line(key, n);
    if (IsUnset(n)) return std::optional<bool>();
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
      return Error(n, key, "expected true or false, got '" + Text(n) + "'");
    }
    return std::optional<bool>(v);
  }

  Status Int(const YAML::Node& n, const std::string& key, int* out) {
    Line(key, n);
    if (IsUnset(n)) return Status::Ok();
    long long v = 0;
    if (!n.IsScalar() || !YAML::convert<long long>::decode(n, v) || v < INT32_MIN ||
        v > INT32_MAX) {
      return Error(n, key, "expected an integer, got '" + Text(n) + "'");
    }
    *out = static_cast<int>(v);
    return Status::Ok();
  }

  // A list of integers; a single integer is taken as a list of one.
  Status IntList(const YAML::Node& n, const std::string& key, std::vector<int>* out) {
    Line(key, n);
    if (IsUnset(n)) return Status::Ok();
    if (n.IsScalar()) {
      out->resize(1);
      return Int(n, key + "[0]", out->data());
    }
    if (!n.IsSequence()) return Error(n, key, "expected a list of integers");
    out->assign(n.size(), 0);
    for (size_t i = 0; i < n.size(); ++i) {
      FERRY_RETURN_IF_ERROR(Int(n[i], key + "[" + std::to_string(i) + "]", &(*out)[i]));
    }
    return Status::Ok();
  }

  Status StringList(const YAML::Node& n, const std::string& key, std::vector<std::string>* out) {
    Line(key, n);
    if (IsUnset(n)) return Status::Ok();
    if (n.IsScalar()) {
      out->assign(1, n.Scalar());
      return Status::Ok();
    }
    if (!n.IsSequence()) return Error(n, key, "expected a list of day names");
    out->clear();
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string k = key + "[" + std::to_string(i) + "]";
      Line(k, n[i]);
      if (!n[i].IsScalar()) return Error(n[i], k, "expected a day name");
      out->push_back(n[i].Scalar());
    }
    return Status::Ok();
  }

  // Each entry to handle(key, value, dotted key); an entry it does not know is refused with
  // the list of keys that are.
  template <size_t N>
  Status Map(const YAML::Node& n, const std::string& prefix, const char* const (&allowed)[N],
             const std::function<Status(const std::string&, const YAML::Node&, const std::string&)>&
                 handle) {
    if (!n.IsMap()) return Error(n, prefix.empty() ? "Schedule" : prefix, "expected a mapping");
    std::set<std::string> seen;
    for (const auto& kv : n) {
      const std::string key = kv.first.Scalar();
      const std::string dotted = prefix.empty() ? key : prefix + "." + key;
      if (Canonical(key, allowed) != key) {
        return Error(kv.first, dotted,
                     "unknown key; the keys allowed here are: " + ListOf(allowed));
      }
      if (!seen.insert(key).second) return Error(kv.first, dotted, "given twice");
      Line(dotted, kv.first);
      FERRY_RETURN_IF_ERROR(handle(key, kv.second, dotted));
    }
    return Status::Ok();
  }

  static std::string Text(const YAML::Node& n) {
    return n.IsScalar() ? n.Scalar() : "(not a single value)";
  }

  std::map<std::string, int>& lines() { return lines_; }

 private:
  std::string file_;
  std::map<std::string, int> lines_;
};

// A YAML value as JSON: plain scalars by their look (null, integer, number, true/false,
// else text), quoted scalars as text.
nlohmann::json YamlToJson(const YAML::Node& n) {
  if (!n || n.IsNull()) return nullptr;
  if (n.IsSequence()) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& item : n) a.push_back(YamlToJson(item));
    return a;
  }
  if (n.IsMap()) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& kv : n) o[kv.first.Scalar()] = YamlToJson(kv.second);
    return o;
  }
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;
  long long i = 0;
  double d = 0;
  bool b = false;
  if (YAML::convert<long long>::decode(n, i)) return i;
  if (YAML::convert<double>::decode(n, d)) return d;
  if (YAML::convert<bool>::decode(n, b)) return b;
  return s;
}

constexpr const char* kScheduleKeys[] = {
    "description", "recurrence", "pipeline_parameters", "wait_for_provisioning", "wait_timeout",
    "datastore_name", "polling_interval", "data_path_parameter_name", "continue_on_step_failure",
    "path_on_datastore",
    // Ferry's: what CLI v1 takes as flags of `az ml pipeline create-schedule`.
    "name", "pipeline_id", "pipeline_endpoint_id", "experiment_name"};
constexpr const char* kRecurrenceKeys[] = {"frequency", "interval", "start_time",  "time_zone",
                                           "hours",     "minutes",  "time_of_day", "week_days"};

Status ParseRecurrence(YamlParser& p, const YAML::Node& n, const std::string& prefix,
                       Recurrence* r) {
  return p.Map(n, prefix, kRecurrenceKeys,
               [&](const std::string& k, const YAML::Node& v, const std::string& f) -> Status {
                 if (k == "frequency") {
                   FERRY_RETURN_IF_ERROR(p.String(v, f, &r->frequency));
                   const std::string c = Canonical(r->frequency, kFrequencies);
                   if (!c.empty()) r->frequency = c;
                 } else if (k == "interval") {
                   FERRY_RETURN_IF_ERROR(p.Int(v, f, &r->interval));
                 } else if (k == "start_time") {
                   FERRY_RETURN_IF_ERROR(p.String(v, f, &r->start_time));
                 } else if (k == "time_zone") {
                   FERRY_RETURN_IF_ERROR(p.String(v, f, &r->time_zone));
                 } else if (k == "hours") {
                   FERRY_RETURN_IF_ERROR(p.IntList(v, f, &r->hours));
                 } else if (k == "minutes") {
                   FERRY_RETURN_IF_ERROR(p.IntList(v, f, &r->minutes));
                 } else if (k == "time_of_day") {
                   FERRY_RETURN_IF_ERROR(p.String(v, f, &r->time_of_day));
                 } else {  // week_days
                   FERRY_RETURN_IF_ERROR(p.StringList(v, f, &r->week_days));
                   for (auto& d : r->week_days) {
                     const std::string c = Canonical(d, kWeekDays);
                     if (!c.empty()) d = c;
                   }
                 }
                 return Status::Ok();
               });
}

// ---- JSON -------------------------------------------------------------------------------

Status JsonError(const std::string& key, const std::string& what) {
  return Status::InvalidArgument("schedule: key '" + key + "': " + what);
}

Status JsonString(const nlohmann::json& j, const std::string& key, std::string* out) {
  if (j.is_null()) return Status::Ok();
  if (!j.is_string()) return JsonError(key, "expected a string, got " + j.dump());
  *out = j.get<std::string>();
  return Status::Ok();
}

Status JsonInt(const nlohmann::json& j, const std::string& key, int* out) {
  if (j.is_null()) return Status::Ok();
  if (!j.is_number_integer() || j.get<int64_t>() < INT32_MIN || j.get<int64_t>() > INT32_MAX) {
    return JsonError(key, "expected an integer, got " + j.dump());
  }
  *out = j.get<int>();
  return Status::Ok();
}

template <size_t N>
Status JsonKeys(const nlohmann::json& j, const std::string& where,
                const char* const (&allowed)[N]) {
  if (!j.is_object()) return JsonError(where, "expected an object, got " + j.dump());
  for (const auto& [k, v] : j.items()) {
    if (Canonical(k, allowed) != k) {
      return JsonError(where.empty() ? k : where + "." + k,
                       "unknown key; the keys allowed here are: " + ListOf(allowed));
    }
  }
  return Status::Ok();
}

// ---- Firing times -----------------------------------------------------------------------

// The smallest qualifying local day >= d (days since the epoch), for Day/Week recurrences
// with fixed times. d0: the start's local day; week_days: Monday = 0 bit.
int64_t NextQualifyingDay(int64_t d, int64_t d0, bool weekly, int interval, unsigned week_days) {
  d = std::max(d, d0);
  if (!weekly) return d0 + (d - d0 + interval - 1) / interval * interval;
  // Weeks run Monday..Sunday; (weekday + 6) % 7 puts Monday at 0.
  const int64_t w0 = d0 - (civil::WeekdayFromDays(d0) + 6) % 7;
  for (;;) {
    const int64_t week = (d - w0) / 7;
    if (week % interval != 0) {
      d = w0 + (week / interval + 1) * interval * 7;
      continue;
    }
    for (int64_t day = d; day < w0 + (week + 1) * 7; ++day) {
      if ((week_days >> ((civil::WeekdayFromDays(day) + 6) % 7)) & 1U) return day;
    }
    d = w0 + (week + 1) * 7;
  }
}

}  // namespace

Result<int64_t> ParseLocalTime(std::string_view text, bool utc_zone) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("'" + std::string(text) + "' " + why);
  };
  auto digits = [&](size_t at, size_t n, int* out) {
    if (at + n > text.size()) return false;
    int v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
      v = v * 10 + (text[i] - '0');
    }
    *out = v;
    return true;
  };
  constexpr const char* kFormat = "is not a local time YYYY-MM-DDTHH:MM[:SS]";
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!digits(0, 4, &y) || text.size() < 16 || text[4] != '-' || !digits(5, 2, &mo) ||
      text[7] != '-' || !digits(8, 2, &d) || (text[10] != 'T' && text[10] != ' ') ||
      !digits(11, 2, &h) || text[13] != ':' || !digits(14, 2, &mi)) {
    return bad(kFormat);
  }
  size_t i = 16;
  if (i < text.size() && text[i] == ':') {
    if (!digits(i + 1, 2, &s)) return bad(kFormat);
    i += 3;
    if (i < text.size() && text[i] == '.') {
      ++i;
      const size_t from = i;
      while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
      if (i == from) return bad(kFormat);
    }
  }
  std::string_view rest = text.substr(i);
  if (!rest.empty()) {
    const bool zero = rest == "Z" || rest == "+00:00" || rest == "+0000" || rest == "-00:00";
    if (!zero) {
      return bad("has '" + std::string(rest) +
                 "' after the time; start_time is a wall time in time_zone: drop the offset "
                 "and set time_zone instead");
    }
    if (!utc_zone) {
      return bad("ends in '" + std::string(rest) +
                 "' (UTC) but time_zone is not UTC; drop it, start_time is a wall time in "
                 "time_zone");
    }
  }
  if (mo < 1 || mo > 12 || d < 1 || d > civil::DaysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) {
    return bad("is not a valid date and time");
  }
  return civil::DaysFromDate(y, mo, d) * kSecondsPerDay + int64_t{h} * 3600 + int64_t{mi} * 60 + s;
}

Result<ScheduleSpec> ParseScheduleYaml(std::string_view text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(file + ":" + std::to_string(e.mark.line + 1) +
                                   ": not valid YAML: " + e.msg);
  }
  YamlParser p(file);
  if (!root.IsMap() || !root["Schedule"]) {
    return p.Error(root, "Schedule",
                   "a schedule file is one top-level 'Schedule:' mapping (CLI v1's format)");
  }
  for (const auto& kv : root) {
    if (kv.first.Scalar() != "Schedule") {
      return p.Error(kv.first, kv.first.Scalar(),
                     "unknown top-level key; the file holds only 'Schedule:'");
    }
  }
  ScheduleSpec s;
  FERRY_RETURN_IF_ERROR(
      p.Map(root["Schedule"], "", kScheduleKeys,
            // Keys are named as the JSON form names them ("recurrence.frequency").
            [&](const std::string& k, const YAML::Node& v, const std::string& key) -> Status {
              if (k == "description") return p.String(v, key, &s.description);
              if (k == "name") return p.String(v, key, &s.name);
              if (k == "pipeline_id") return p.String(v, key, &s.pipeline_id);
              if (k == "pipeline_endpoint_id") return p.String(v, key, &s.pipeline_endpoint_id);
              if (k == "experiment_name") return p.String(v, key, &s.experiment_name);
              if (k == "datastore_name") return p.String(v, key, &s.datastore_name);
              if (k == "data_path_parameter_name")
                return p.String(v, key, &s.data_path_parameter_name);
              if (k == "path_on_datastore") return p.String(v, key, &s.path_on_datastore);
              if (k == "polling_interval") return p.Int(v, key, &s.polling_interval);
              if (k == "wait_timeout") return p.Int(v, key, &s.wait_timeout);
              if (k == "wait_for_provisioning") {
                FERRY_ASSIGN_OR_RETURN(auto b, p.Bool(v, key));
                s.wait_for_provisioning = b.value_or(false);
                return Status::Ok();
              }
              if (k == "continue_on_step_failure") {
                FERRY_ASSIGN_OR_RETURN(s.continue_on_step_failure, p.Bool(v, key));
                return Status::Ok();
              }
              if (k == "pipeline_parameters") {
                p.Line(key, v);
                if (YamlParser::IsUnset(v)) return Status::Ok();
                if (!v.IsMap())
                  return p.Error(v, key, "expected a mapping of parameter names to values");
                s.pipeline_parameters = YamlToJson(v);
                return Status::Ok();
              }
              // recurrence
              p.Line(key, v);
              if (YamlParser::IsUnset(v)) return Status::Ok();
              Recurrence r;
              FERRY_RETURN_IF_ERROR(ParseRecurrence(p, v, key, &r));
              s.recurrence = std::move(r);
              return Status::Ok();
            }));
  // polling_interval has a default, so the struct cannot tell that a recurring schedule set
  // it; the file can.
  const YAML::Node poll = root["Schedule"]["polling_interval"];
  if (s.recurrence && poll && !YamlParser::IsUnset(poll)) {
    return p.Error(poll, "polling_interval",
                   "only a datastore-triggered schedule (datastore_name) uses it; remove it "
                   "from a recurring schedule");
  }
  FERRY_RETURN_IF_ERROR(Checker(&file, &p.lines()).Check(s));
  return s;
}

nlohmann::json ScheduleToJson(const ScheduleSpec& s) {
  nlohmann::json j = {
      {"name", s.name},
      {"description", s.description},
      {"pipeline_id", s.pipeline_id},
      {"pipeline_endpoint_id", s.pipeline_endpoint_id},
      {"experiment_name", s.experiment_name},
      {"recurrence", nullptr},
      {"datastore_name", s.datastore_name},
      {"polling_interval", s.polling_interval},
      {"data_path_parameter_name", s.data_path_parameter_name},
      {"path_on_datastore", s.path_on_datastore},
      {"pipeline_parameters", s.pipeline_parameters},
      {"continue_on_step_failure", nullptr},
      {"wait_for_provisioning", s.wait_for_provisioning},
      {"wait_timeout", s.wait_timeout},
  };
  if (s.continue_on_step_failure) j["continue_on_step_failure"] = *s.continue_on_step_failure;
  if (s.recurrence) {
    const Recurrence& r = *s.recurrence;
    j["recurrence"] = {
        {"frequency", r.frequency},     {"interval", r.interval},  {"start_time", r.start_time},
        {"time_zone", r.time_zone},     {"hours", r.hours},        {"minutes", r.minutes},
        {"time_of_day", r.time_of_day}, {"week_days", r.week_days}};
  }
  return j;
}

Result<ScheduleSpec> ScheduleFromJson(const nlohmann::json& j) {
  FERRY_RETURN_IF_ERROR(JsonKeys(j, "", kScheduleKeys));
  ScheduleSpec s;
  auto get = [&](const char* k) -> const nlohmann::json& {
    static const nlohmann::json kNull;
    auto it = j.find(k);
    return it == j.end() ? kNull : *it;
  };
  for (const auto& [k, out] : std::initializer_list<std::pair<const char*, std::string*>>{
           {"name", &s.name},
           {"description", &s.description},
           {"pipeline_id", &s.pipeline_id},
           {"pipeline_endpoint_id", &s.pipeline_endpoint_id},
           {"experiment_name", &s.experiment_name},
           {"datastore_name", &s.datastore_name},
           {"data_path_parameter_name", &s.data_path_parameter_name},
           {"path_on_datastore", &s.path_on_datastore}}) {
    FERRY_RETURN_IF_ERROR(JsonString(get(k), k, out));
  }
  FERRY_RETURN_IF_ERROR(JsonInt(get("polling_interval"), "polling_interval", &s.polling_interval));
  FERRY_RETURN_IF_ERROR(JsonInt(get("wait_timeout"), "wait_timeout", &s.wait_timeout));
  for (const char* k : {"wait_for_provisioning", "continue_on_step_failure"}) {
    const nlohmann::json& v = get(k);
    if (v.is_null()) continue;
    if (!v.is_boolean()) return JsonError(k, "expected true or false, got " + v.dump());
    if (std::string_view(k) == "wait_for_provisioning") {
      s.wait_for_provisioning = v.get<bool>();
    } else {
      s.continue_on_step_failure = v.get<bool>();
    }
  }
  const nlohmann::json& params = get("pipeline_parameters");
  if (!params.is_null()) {
    if (!params.is_object()) {
      return JsonError("pipeline_parameters", "expected an object, got " + params.dump());
    }
    s.pipeline_parameters = params;
  }
  const nlohmann::json& rj = get("recurrence");
  if (!rj.is_null()) {
    FERRY_RETURN_IF_ERROR(JsonKeys(rj, "recurrence", kRecurrenceKeys));
    Recurrence r;
    auto rget = [&](const char* k) -> const nlohmann::json& {
      static const nlohmann::json kNull;
      auto it = rj.find(k);
      return it == rj.end() ? kNull : *it;
    };
    FERRY_RETURN_IF_ERROR(JsonString(rget("frequency"), "recurrence.frequency", &r.frequency));
    const std::string c = Canonical(r.frequency, kFrequencies);
    if (!c.empty()) r.frequency = c;
    FERRY_RETURN_IF_ERROR(JsonInt(rget("interval"), "recurrence.interval", &r.interval));
    FERRY_RETURN_IF_ERROR(JsonString(rget("start_time"), "recurrence.start_time", &r.start_time));
    FERRY_RETURN_IF_ERROR(JsonString(rget("time_zone"), "recurrence.time_zone", &r.time_zone));
    FERRY_RETURN_IF_ERROR(
        JsonString(rget("time_of_day"), "recurrence.time_of_day", &r.time_of_day));
    for (const auto& [k, out] : std::initializer_list<std::pair<const char*, std::vector<int>*>>{
             {"hours", &r.hours}, {"minutes", &r.minutes}}) {
      const nlohmann::json& v = rget(k);
      if (v.is_null()) continue;
      const std::string key = std::string("recurrence.") + k;
      if (!v.is_array()) return JsonError(key, "expected a list of integers, got " + v.dump());
      out->assign(v.size(), 0);
      for (size_t i = 0; i < v.size(); ++i) {
        FERRY_RETURN_IF_ERROR(JsonInt(v[i], key + "[" + std::to_string(i) + "]", &(*out)[i]));
      }
    }
    const nlohmann::json& days = rget("week_days");
    if (!days.is_null()) {
      if (!days.is_array()) {
        return JsonError("recurrence.week_days",
                         "expected a list of day names, got " + days.dump());
      }
      for (size_t i = 0; i < days.size(); ++i) {
        std::string d;
        FERRY_RETURN_IF_ERROR(
            JsonString(days[i], "recurrence.week_days[" + std::to_string(i) + "]", &d));
        const std::string dc = Canonical(d, kWeekDays);
        r.week_days.push_back(dc.empty() ? d : dc);
      }
    }
    s.recurrence = std::move(r);
  }
  return s;
}

Status ValidateSchedule(const ScheduleSpec& s) { return Checker(nullptr, nullptr).Check(s); }

Result<int64_t> NextFireTime(const Recurrence& r, const TimeZone& tz, int64_t created_at,
                             int64_t after) {
  FERRY_RETURN_IF_ERROR(Checker(nullptr, nullptr).CheckRecurrence(r));
  const std::string freq = Canonical(r.frequency, kFrequencies);
  // The start as a wall time (local) and as an instant (start).
  int64_t local = 0;
  int64_t start = 0;
  if (r.start_time.empty()) {
    start = created_at;
    local = created_at + tz.OffsetAt(created_at);
  } else {
    FERRY_ASSIGN_OR_RETURN(local, ParseLocalTime(r.start_time, IsUtcZone(r.time_zone)));
    start = tz.LocalToUtc(local);
  }
  const int64_t n = r.interval;

  // Fixed steps of elapsed time.
  if (freq == "Minute" || freq == "Hour") {
    const int64_t step = n * (freq == "Minute" ? 60 : 3600);
    if (after < start) return start;
    return start + ((after - start) / step + 1) * step;
  }

  const int64_t d0 = civil::FloorDiv(local, kSecondsPerDay);
  const int64_t tod = local - d0 * kSecondsPerDay;

  if (freq == "Month") {
    // The k-th firing: k * interval months after the start, on the start's day of the month
    // (or the month's last day), at the start's wall time.
    const civil::Date sd = civil::DateFromDays(d0);
    auto fire = [&](int64_t k) {
      const int64_t months = sd.year * 12 + (sd.month - 1) + k * n;
      const int64_t y = civil::FloorDiv(months, 12);
      const int m = static_cast<int>(civil::FloorMod(months, 12)) + 1;
      const int d = std::min(sd.day, civil::DaysInMonth(y, m));
      return tz.LocalToUtc(civil::DaysFromDate(y, m, d) * kSecondsPerDay + tod);
    };
    const civil::Date ad =
        civil::DateFromDays(civil::FloorDiv(after + tz.OffsetAt(after), kSecondsPerDay));
    int64_t k =
        std::max<int64_t>(0, ((ad.year * 12 + ad.month) - (sd.year * 12 + sd.month)) / n - 1);
    while (fire(k) <= after) ++k;
    return fire(k);
  }

  const bool weekly = freq == "Week";
  if (!HasTimes(r)) {
    // Every interval days or weeks at the start's wall time, so a DST change keeps the hour.
    const int64_t step_days = n * (weekly ? 7 : 1);
    auto fire = [&](int64_t k) { return tz.LocalToUtc(local + k * step_days * kSecondsPerDay); };
    int64_t k = after < start
                    ? 0
                    : std::max<int64_t>(0, (after - start) / (step_days * kSecondsPerDay) - 1);
    while (fire(k) <= after) ++k;
    return fire(k);
  }

  // Fixed local times on qualifying days. Hours or minutes left out take the start's.
  std::vector<int64_t> times;
  if (!r.time_of_day.empty()) {
    times.push_back(int64_t{ParseTimeOfDay(r.time_of_day)} * 60);
  } else {
    std::vector<int> hours = r.hours;
    std::vector<int> minutes = r.minutes;
    if (hours.empty()) hours.push_back(static_cast<int>(tod / 3600));
    if (minutes.empty()) minutes.push_back(static_cast<int>(tod / 60 % 60));
    for (int h : hours) {
      for (int m : minutes) times.push_back(int64_t{h} * 3600 + int64_t{m} * 60);
    }
  }
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  unsigned days = 0;
  for (const auto& w : r.week_days) days |= 1U << WeekDayIndex(w);
  if (days == 0) days = 1U << ((civil::WeekdayFromDays(d0) + 6) % 7);

  const int64_t floor =
      std::max(after, start - 1);  // fire > floor: after `after`, not before start
  // A day early: the local day of `floor` may hold candidates that are still later in UTC.
  int64_t d = civil::FloorDiv(floor + tz.OffsetAt(floor), kSecondsPerDay) - 1;
  // Each pass moves to a later qualifying day; a handful of passes always suffice.
  for (int pass = 0; pass < 64; ++pass) {
    d = NextQualifyingDay(d, d0, weekly, r.interval, days);
    // The earliest of the day's times that is late enough (a time in a DST gap moves past
    // the ones after it, so the day's instants need not be in the times' order).
    std::optional<int64_t> best;
    for (int64_t t : times) {
      const int64_t u = tz.LocalToUtc(d * kSecondsPerDay + t);
      if (u > floor && (!best || u < *best)) best = u;
    }
    if (best) return *best;
    ++d;
  }
  return Status::Internal("recurrence: no firing time found after " + std::to_string(after));
}

}  // namespace ferry::pipeline
