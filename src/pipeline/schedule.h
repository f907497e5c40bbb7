// Pipeline schedules (Azure ML SDK v1's Schedule, CLI v1's schedule YAML): a recurrence that
// fires at times in a time zone, or a datastore path polled for changes. This header holds the
// definition, its YAML/JSON forms and the time arithmetic; the server's schedule loop stores
// them and submits the runs. Pure logic: the clock is always a parameter.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ferry::pipeline {

// ScheduleRecurrence. Azure's rules: frequency Minute|Hour|Day|Week|Month, interval >= 1;
// hours/minutes (and time_of_day "HH:MM", the same thing) only with Day or Week; week_days
// (Monday..Sunday) only with Week; start_time a local time in time_zone, ISO 8601 without an
// offset ("" = when the schedule is created).
struct Recurrence {
  std::string frequency;
  int interval = 1;
  std::string start_time;
  std::string time_zone = "UTC";  // Azure's TimeZone names (Windows ids) or IANA names
  std::vector<int> hours;
  std::vector<int> minutes;
  std::string time_of_day;
  std::vector<std::string> week_days;
};

struct ScheduleSpec {
  std::string name;
  std::string description;
  std::string pipeline_id;           // a published pipeline
  std::string pipeline_endpoint_id;  // or an endpoint (its default version)
  std::string experiment_name;
  std::optional<Recurrence> recurrence;
  // Datastore-triggered (no recurrence): poll datastore_name's path_on_datastore every
  // polling_interval minutes; a change submits a run with the changed path as the datapath
  // parameter data_path_parameter_name.
  std::string datastore_name;
  int polling_interval = 5;  // minutes
  std::string data_path_parameter_name;
  std::string path_on_datastore;
  nlohmann::json pipeline_parameters = nlohmann::json::object();
  std::optional<bool> continue_on_step_failure;
  bool wait_for_provisioning = false;
  int wait_timeout = 3600;
};

// CLI v1's schedule YAML (a top-level `Schedule:` map; `recurrence:` or the datastore keys).
// Null, `~` and an unquoted `None` (which Azure's own files write) leave a key unset; unknown
// keys are refused with the list of allowed ones; name, pipeline_id, pipeline_endpoint_id and
// experiment_name (CLI v1 flags) may also be given. Frequency and week days are stored in
// their canonical spelling whatever their case. Checks everything ValidateSchedule checks.
// Errors read "FILE:LINE: key 'KEY': what is wrong".
Result<ScheduleSpec> ParseScheduleYaml(std::string_view text, const std::string& file);
nlohmann::json ScheduleToJson(const ScheduleSpec& s);
Result<ScheduleSpec> ScheduleFromJson(const nlohmann::json& j);
// Whether the definition makes sense (frequency, interval, hours 0-23, minutes 0-59,
// week_days, the keys each frequency allows, a known time zone, one of recurrence and
// datastore). Errors name the key.
Status ValidateSchedule(const ScheduleSpec& s);

// A time zone's rules, read from the system's zoneinfo (TZif files; FERRY_ZONEINFO or
// /usr/share/zoneinfo). Windows ids as Azure's TimeZone enum spells them ("Pacific Standard
// Time", "UTC", "W. Europe Standard Time", ...) map to their IANA zone.
class TimeZone {
 public:
  // NotFound when no zone has that name; InvalidArgument for a name that could leave the
  // zoneinfo folder ("..", a leading '/'); Corruption when the file is not TZif.
  static Result<std::shared_ptr<const TimeZone>> Load(const std::string& name);
  // The zone in TZif bytes (RFC 8536 versions 1-4), named `name`: what Load does after
  // reading the file. Lets tests build zones of their own.
  static Result<std::shared_ptr<const TimeZone>> FromTzif(const std::string& name,
                                                          std::string_view data);
  virtual ~TimeZone() = default;
  // The name as given to Load (a Windows id stays a Windows id).
  virtual const std::string& name() const = 0;
  // Seconds east of UTC at the instant utc (seconds since the epoch).
  virtual int64_t OffsetAt(int64_t utc) const = 0;
  // The instant of a local wall time (seconds since the epoch, counted as if local were
  // UTC). A time skipped by a DST jump maps to the same wall time after the jump; a time
  // that happens twice maps to its first occurrence.
  virtual int64_t LocalToUtc(int64_t local) const = 0;
};

// The IANA zone of a Windows time zone id, as CLDR's windowsZones maps it for the world
// ("001"): "Pacific Standard Time" -> "America/Los_Angeles". Case, spaces and punctuation are
// ignored, so Azure's enum member names ("PacificStandardTime") match too. "" when unknown.
std::string WindowsZoneToIana(std::string_view windows_id);
// Every Windows id WindowsZoneToIana knows, as Windows spells it (for lists and help).
std::vector<std::string> WindowsZoneIds();

// A start_time: "YYYY-MM-DDTHH:MM[:SS[.fff]]" as seconds since the epoch counted as if the
// local time were UTC (fractions dropped). A trailing "Z" or "+00:00" is accepted (and means
// nothing more) only when utc_zone is true, i.e. the schedule's zone is UTC; any other offset
// is refused, since start_time is a wall time in the schedule's time_zone.
Result<int64_t> ParseLocalTime(std::string_view text, bool utc_zone);

// The first time the recurrence fires strictly after `after` (UTC seconds since the epoch).
// created_at is when the schedule was made (the start when start_time is ""). Azure's rules:
// with hours/minutes/time_of_day/week_days it fires at those local times (never just because
// it was created); otherwise at start + k * interval * frequency, k >= 0. Month steps keep the
// day of the month, clamped to the month's last day.
// Ferry's reading where Azure says nothing: Minute and Hour steps are elapsed time; Day,
// Week and Month steps are wall-clock steps in the zone (09:00 stays 09:00 across DST). With
// fixed times, days count every `interval` days from the start's local date, weeks (Monday
// to Sunday) every `interval` weeks from the start's week; hours without minutes take the
// start's minute, minutes without hours the start's hour, week_days alone the start's time;
// a Week without week_days uses the start's weekday. Never returns a time before the start.
// InvalidArgument when the recurrence fails ValidateSchedule's checks.
Result<int64_t> NextFireTime(const Recurrence& r, const TimeZone& tz, int64_t created_at,
                             int64_t after);

}  // namespace ferry::pipeline
