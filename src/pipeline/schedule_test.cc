// Tests for schedules: the YAML and JSON forms, the checks, TZif zones and firing times.
#include "pipeline/schedule.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "common/fs.h"
#include "pipeline/civil_time.h"

namespace ferry::pipeline {
namespace {

constexpr int64_t kHour = 3600;

// Seconds since the epoch of a wall time counted as UTC.
int64_t At(int64_t y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return civil::DaysFromDate(y, mo, d) * civil::kSecondsPerDay + int64_t{h} * 3600 +
         int64_t{mi} * 60 + s;
}

std::shared_ptr<const TimeZone> Zone(const std::string& name) {
  auto z = TimeZone::Load(name);
  EXPECT_TRUE(z.ok()) << z.status().ToString();
  return z.ok() ? *z : nullptr;
}

// ---- Calendar --------------------------------------------------------------------------

TEST(CivilTime, DaysRoundTripAndWeekdays) {
  EXPECT_EQ(civil::DaysFromDate(1970, 1, 1), 0);
  EXPECT_EQ(civil::DaysFromDate(2000, 3, 1), 11017);
  EXPECT_EQ(civil::WeekdayFromDays(civil::DaysFromDate(2026, 12, 7)), 1);  // a Monday
  for (int64_t z = -800000; z < 800000; z += 97) {
    const civil::Date d = civil::DateFromDays(z);
    ASSERT_EQ(civil::DaysFromDate(d.year, d.month, d.day), z);
  }
}

// ---- YAML ------------------------------------------------------------------------------

TEST(ScheduleYaml, ParsesADatastoreTrigger) {
  const char* kYaml = R"(Schedule:
  description: "nightly data drop"
  recurrence: ~
  pipeline_parameters: {}
  wait_for_provisioning: True
  wait_timeout: 600
  datastore_name: "drops"
  polling_interval: 10
  data_path_parameter_name: "input_data"
  continue_on_step_failure: None
  path_on_datastore: "incoming/csv"
)";
  auto s = ParseScheduleYaml(kYaml, "s.yml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->description, "nightly data drop");
  EXPECT_FALSE(s->recurrence.has_value());
  EXPECT_TRUE(s->wait_for_provisioning);
  EXPECT_EQ(s->wait_timeout, 600);
  EXPECT_EQ(s->datastore_name, "drops");
  EXPECT_EQ(s->polling_interval, 10);
  EXPECT_EQ(s->data_path_parameter_name, "input_data");
  EXPECT_FALSE(s->continue_on_step_failure.has_value());
  EXPECT_EQ(s->path_on_datastore, "incoming/csv");
  EXPECT_EQ(s->pipeline_parameters, nlohmann::json::object());
}

TEST(ScheduleYaml, ParsesARecurrenceWithAzureNulls) {
  const char* kYaml = R"(Schedule:
  description: weekly retrain
  recurrence:
    frequency: week
    interval: 2
    start_time: 2026-06-05T10:50:00
    time_zone: W. Europe Standard Time
    hours:
    - 1
    - 13
    minutes: [0, 30]
    time_of_day: null
    week_days:
    - friday
    - Monday
  pipeline_parameters:
    'a': 1
    rate: 0.5
    name: "007"
    flag: true
  wait_for_provisioning: False
  datastore_name: ~
  polling_interval: ~
  data_path_parameter_name: ~
  continue_on_step_failure: true
  path_on_datastore: None
)";
  auto s = ParseScheduleYaml(kYaml, "s.yml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_TRUE(s->recurrence.has_value());
  const Recurrence& r = *s->recurrence;
  EXPECT_EQ(r.frequency, "Week");
  EXPECT_EQ(r.interval, 2);
  EXPECT_EQ(r.start_time, "2026-06-05T10:50:00");
  EXPECT_EQ(r.time_zone, "W. Europe Standard Time");
  EXPECT_EQ(r.hours, (std::vector<int>{1, 13}));
  EXPECT_EQ(r.minutes, (std::vector<int>{0, 30}));
  EXPECT_EQ(r.time_of_day, "");
  EXPECT_EQ(r.week_days, (std::vector<std::string>{"Friday", "Monday"}));
  EXPECT_EQ(s->pipeline_parameters,
            (nlohmann::json{{"a", 1}, {"rate", 0.5}, {"name", "007"}, {"flag", true}}));
  EXPECT_EQ(s->continue_on_step_failure, std::optional<bool>(true));
  EXPECT_EQ(s->datastore_name, "");
  EXPECT_EQ(s->path_on_datastore, "");
  EXPECT_EQ(s->polling_interval, 5);  // the default stands
}

struct YamlError {
  const char* yaml;
  const char* expected;  // a part of the message, with file:line and key
};

class ScheduleYamlErrors : public testing::TestWithParam<YamlError> {};

TEST_P(ScheduleYamlErrors, NamesFileLineAndKey) {
  auto s = ParseScheduleYaml(GetParam().yaml, "s.yml");
  ASSERT_FALSE(s.ok()) << GetParam().yaml;
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find(GetParam().expected), std::string::npos)
      << s.status().message();
}

#define REC(body) "Schedule:\n  recurrence:\n" body
INSTANTIATE_TEST_SUITE_P(
    All, ScheduleYamlErrors,
    testing::Values(
        YamlError{"Schedule: [unclosed\n", "s.yml:"},
        YamlError{"schedule:\n  description: x\n", "s.yml:1: key 'Schedule'"},
        YamlError{"Schedule:\n  datastore_name: d\nExtra: 1\n", "s.yml:3: key 'Extra'"},
        YamlError{"Schedule:\n  datastore_name: d\n  colour: red\n",
                  "s.yml:3: key 'colour': unknown key; the keys allowed here are: description, "
                  "recurrence"},
        YamlError{REC("    frequency: Day\n    every: 2\n"),
                  "s.yml:4: key 'recurrence.every': unknown key; the keys allowed here are: "
                  "frequency, interval"},
        YamlError{REC("    frequency: Fortnight\n"),
                  "s.yml:3: key 'recurrence.frequency': 'Fortnight' is not allowed; use one "
                  "of: Minute, Hour, Day, Week, Month"},
        YamlError{REC("    interval: 2\n"), "s.yml:2: key 'recurrence.frequency': missing"},
        YamlError{REC("    frequency: Day\n    interval: 0\n"),
                  "s.yml:4: key 'recurrence.interval': must be between 1"},
        YamlError{REC("    frequency: Day\n    interval: often\n"),
                  "s.yml:4: key 'recurrence.interval': expected an integer, got 'often'"},
        YamlError{REC("    frequency: Day\n    hours:\n    - 1\n    - 24\n"),
                  "s.yml:6: key 'recurrence.hours[1]': an hour is 0 to 23, got 24"},
        YamlError{REC("    frequency: Day\n    minutes: [0, 60]\n"),
                  "s.yml:4: key 'recurrence.minutes[1]': a minute is 0 to 59, got 60"},
        YamlError{REC("    frequency: Day\n    time_of_day: \"25:00\"\n"),
                  "s.yml:4: key 'recurrence.time_of_day': '25:00' is not a time HH:MM"},
        YamlError{REC("    frequency: Day\n    time_of_day: \"9:30\"\n"),
                  "s.yml:4: key 'recurrence.time_of_day': '9:30' is not a time HH:MM"},
        YamlError{REC("    frequency: Day\n    hours: [9]\n    time_of_day: \"09:30\"\n"),
                  "s.yml:5: key 'recurrence.time_of_day': give either time_of_day or hours"},
        YamlError{REC("    frequency: Month\n    hours: [9]\n"),
                  "s.yml:4: key 'recurrence.hours': only a Day or Week frequency takes it, "
                  "not Month"},
        YamlError{REC("    frequency: Hour\n    minutes: [9]\n"),
                  "s.yml:4: key 'recurrence.minutes': only a Day or Week frequency"},
        YamlError{REC("    frequency: Minute\n    time_of_day: \"09:30\"\n"),
                  "s.yml:4: key 'recurrence.time_of_day': only a Day or Week frequency"},
        YamlError{REC("    frequency: Day\n    week_days: [Monday]\n"),
                  "s.yml:4: key 'recurrence.week_days': only a Week frequency takes it"},
        YamlError{REC("    frequency: Week\n    week_days:\n    - Monday\n    - Funday\n"),
                  "s.yml:6: key 'recurrence.week_days[1]': 'Funday' is not a day; use one of: "
                  "Monday"},
        YamlError{REC("    frequency: Day\n    start_time: 2026-06-05T10:50:00+02:00\n"),
                  "s.yml:4: key 'recurrence.start_time': '2026-06-05T10:50:00+02:00' has "
                  "'+02:00' after the time"},
        YamlError{REC("    frequency: Day\n    time_zone: Pacific Standard Time\n"
                      "    start_time: 2026-06-05T10:50:00Z\n"),
                  "s.yml:5: key 'recurrence.start_time': '2026-06-05T10:50:00Z' ends in 'Z' "
                  "(UTC) but time_zone is not UTC"},
        YamlError{REC("    frequency: Day\n    start_time: 2026-02-30T10:50:00\n"),
                  "s.yml:4: key 'recurrence.start_time': '2026-02-30T10:50:00' is not a valid "
                  "date"},
        YamlError{REC("    frequency: Day\n    start_time: tomorrow\n"),
                  "s.yml:4: key 'recurrence.start_time': 'tomorrow' is not a local time "
                  "YYYY-MM-DDTHH:MM[:SS]"},
        YamlError{REC("    frequency: Day\n    time_zone: Mars/Olympus_Mons\n"),
                  "s.yml:4: key 'recurrence.time_zone': time zone 'Mars/Olympus_Mons': no such "
                  "zone"},
        YamlError{REC("    frequency: Day\n    time_zone: ../../etc/passwd\n"),
                  "s.yml:4: key 'recurrence.time_zone': time zone '../../etc/passwd': not a "
                  "zone name"},
        YamlError{REC("    frequency: Day\n  datastore_name: d\n"),
                  "s.yml:4: key 'datastore_name': a schedule has a recurrence or a "
                  "datastore_name, not both"},
        YamlError{"Schedule:\n  description: x\n",
                  "s.yml: key 'recurrence': a schedule needs a recurrence"},
        YamlError{"Schedule:\n  datastore_name: d\n  polling_interval: 0\n",
                  "s.yml:3: key 'polling_interval': must be at least 1 minute, got 0"},
        YamlError{REC("    frequency: Day\n  polling_interval: 5\n"),
                  "s.yml:4: key 'polling_interval': only a datastore-triggered schedule"},
        YamlError{REC("    frequency: Day\n  path_on_datastore: a/b\n"),
                  "s.yml:4: key 'path_on_datastore': only a datastore-triggered schedule"},
        YamlError{"Schedule:\n  datastore_name: d\n  wait_timeout: -1\n",
                  "s.yml:3: key 'wait_timeout': must be at least 0 seconds"},
        YamlError{"Schedule:\n  datastore_name: d\n  continue_on_step_failure: maybe\n",
                  "s.yml:3: key 'continue_on_step_failure': expected true or false, got "
                  "'maybe'"},
        YamlError{"Schedule:\n  datastore_name: d\n  pipeline_parameters: [1]\n",
                  "s.yml:3: key 'pipeline_parameters': expected a mapping"},
        YamlError{"Schedule:\n  datastore_name: d\n  description: x\n  description: y\n",
                  "s.yml:4: key 'description': given twice"}));
#undef REC

// ---- JSON and Validate -----------------------------------------------------------------

ScheduleSpec WeeklySpec() {
  ScheduleSpec s;
  s.name = "retrain";
  s.description = "weekly";
  s.pipeline_id = "p-1";
  s.experiment_name = "exp";
  Recurrence r;
  r.frequency = "Week";
  r.interval = 2;
  r.start_time = "2026-06-05T10:50:00";
  r.time_zone = "Pacific Standard Time";
  r.hours = {1, 13};
  r.minutes = {30};
  r.week_days = {"Monday", "Friday"};
  s.recurrence = r;
  s.pipeline_parameters = {{"a", 1}, {"path", {{"datastore", "d"}, {"path", "x"}}}};
  s.continue_on_step_failure = false;
  s.wait_for_provisioning = true;
  s.wait_timeout = 30;
  return s;
}

TEST(ScheduleJson, RoundTripsBothKinds) {
  ScheduleSpec datastore;
  datastore.pipeline_endpoint_id = "ep";
  datastore.datastore_name = "drops";
  datastore.polling_interval = 7;
  datastore.data_path_parameter_name = "input";
  datastore.path_on_datastore = "in/";
  for (const ScheduleSpec& s : {WeeklySpec(), datastore}) {
    const nlohmann::json j = ScheduleToJson(s);
    auto back = ScheduleFromJson(j);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(ScheduleToJson(*back), j);
    EXPECT_TRUE(ValidateSchedule(*back).ok()) << ValidateSchedule(*back).ToString();
  }
  const nlohmann::json j = ScheduleToJson(WeeklySpec());
  EXPECT_EQ(j["recurrence"]["week_days"], (nlohmann::json{"Monday", "Friday"}));
  EXPECT_EQ(j["continue_on_step_failure"], false);
  EXPECT_TRUE(ScheduleToJson(datastore)["recurrence"].is_null());
  EXPECT_TRUE(ScheduleToJson(datastore)["continue_on_step_failure"].is_null());
}

TEST(ScheduleJson, FromJsonNormalisesCaseAndRefusesUnknownKeysAndTypes) {
  auto s = ScheduleFromJson({{"recurrence", {{"frequency", "hour"}, {"week_days", {"sunday"}}}}});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->recurrence->frequency, "Hour");
  EXPECT_EQ(s->recurrence->week_days, std::vector<std::string>{"Sunday"});

  auto unknown = ScheduleFromJson({{"recurrence", {{"frequncy", "Day"}}}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("key 'recurrence.frequncy': unknown key"),
            std::string::npos)
      << unknown.status().message();
  auto type = ScheduleFromJson({{"recurrence", {{"hours", {1, "two"}}}}});
  ASSERT_FALSE(type.ok());
  EXPECT_NE(type.status().message().find("key 'recurrence.hours[1]': expected an integer"),
            std::string::npos)
      << type.status().message();
  auto flag = ScheduleFromJson({{"wait_for_provisioning", "yes"}});
  ASSERT_FALSE(flag.ok());
  EXPECT_NE(flag.status().message().find("key 'wait_for_provisioning'"), std::string::npos);
}

TEST(ScheduleValidate, NamesTheKeyWithoutAFile) {
  ScheduleSpec s = WeeklySpec();
  s.recurrence->minutes = {5, 61};
  Status st = ValidateSchedule(s);
  EXPECT_EQ(st.message(), "key 'recurrence.minutes[1]': a minute is 0 to 59, got 61");
  s = WeeklySpec();
  s.recurrence->time_zone = "Atlantis Standard Time";
  st = ValidateSchedule(s);
  EXPECT_NE(st.message().find("key 'recurrence.time_zone': time zone 'Atlantis Standard Time'"),
            std::string::npos)
      << st.message();
  s = WeeklySpec();
  s.recurrence->frequency = "WEEK";  // any case is the same frequency
  EXPECT_TRUE(ValidateSchedule(s).ok());
  s = WeeklySpec();
  s.recurrence.reset();
  s.datastore_name = "d";
  s.polling_interval = 0;
  EXPECT_EQ(ValidateSchedule(s).message(),
            "key 'polling_interval': must be at least 1 minute, got 0");
}

TEST(ParseLocalTime, FormsAndOffsets) {
  EXPECT_EQ(*ParseLocalTime("2026-03-08T02:30", false), At(2026, 3, 8, 2, 30));
  EXPECT_EQ(*ParseLocalTime("2026-03-08T02:30:15.250", false), At(2026, 3, 8, 2, 30, 15));
  EXPECT_EQ(*ParseLocalTime("2026-03-08 02:30:15", false), At(2026, 3, 8, 2, 30, 15));
  EXPECT_EQ(*ParseLocalTime("2026-03-08T02:30:00Z", true), At(2026, 3, 8, 2, 30));
  EXPECT_EQ(*ParseLocalTime("2026-03-08T02:30:00+00:00", true), At(2026, 3, 8, 2, 30));
  EXPECT_FALSE(ParseLocalTime("2026-03-08T02:30:00Z", false).ok());
  EXPECT_FALSE(ParseLocalTime("2026-03-08T02:30:00-05:00", true).ok());
  EXPECT_FALSE(ParseLocalTime("2026-03-08", false).ok());
  EXPECT_FALSE(ParseLocalTime("2026-03-08T24:00", false).ok());
  EXPECT_FALSE(ParseLocalTime("2025-02-29T00:00", false).ok());
  EXPECT_TRUE(ParseLocalTime("2028-02-29T00:00", false).ok());
}

// ---- Time zones ------------------------------------------------------------------------

TEST(TimeZone, Utc) {
  auto utc = Zone("UTC");
  ASSERT_NE(utc, nullptr);
  EXPECT_EQ(utc->name(), "UTC");
  for (int64_t t : {int64_t{-2000000000}, int64_t{0}, At(2026, 7, 1), At(2100, 1, 1)}) {
    EXPECT_EQ(utc->OffsetAt(t), 0);
    EXPECT_EQ(utc->LocalToUtc(t), t);
  }
}

TEST(TimeZone, LosAngelesChangesOn2026DstDays) {
  auto la = Zone("America/Los_Angeles");
  ASSERT_NE(la, nullptr);
  // Spring forward: 02:00 PST (10:00 UTC) on 2026-03-08 becomes 03:00 PDT.
  EXPECT_EQ(la->OffsetAt(At(2026, 3, 8, 10) - 1), -8 * kHour);
  EXPECT_EQ(la->OffsetAt(At(2026, 3, 8, 10)), -7 * kHour);
  // Fall back: 02:00 PDT (09:00 UTC) on 2026-11-01 becomes 01:00 PST.
  EXPECT_EQ(la->OffsetAt(At(2026, 11, 1, 9) - 1), -7 * kHour);
  EXPECT_EQ(la->OffsetAt(At(2026, 11, 1, 9)), -8 * kHour);

  EXPECT_EQ(la->LocalToUtc(At(2026, 1, 15, 12)), At(2026, 1, 15, 20));
  EXPECT_EQ(la->LocalToUtc(At(2026, 7, 15, 12)), At(2026, 7, 15, 19));
  // 02:30 does not happen on 2026-03-08: it is read as 03:30 PDT, the same wall time past
  // the jump.
  EXPECT_EQ(la->LocalToUtc(At(2026, 3, 8, 2, 30)), At(2026, 3, 8, 10, 30));
  EXPECT_EQ(la->LocalToUtc(At(2026, 3, 8, 3, 0)), At(2026, 3, 8, 10));
  EXPECT_EQ(la->LocalToUtc(At(2026, 3, 8, 1, 59)), At(2026, 3, 8, 9, 59));
  // 01:30 happens twice on 2026-11-01: the first (PDT) one.
  EXPECT_EQ(la->LocalToUtc(At(2026, 11, 1, 1, 30)), At(2026, 11, 1, 8, 30));
  EXPECT_EQ(la->LocalToUtc(At(2026, 11, 1, 2, 0)), At(2026, 11, 1, 10));
}

TEST(TimeZone, LocalToUtcInvertsOffsetAtOutsideGaps) {
  auto la = Zone("America/Los_Angeles");
  ASSERT_NE(la, nullptr);
  for (int64_t local = At(2026, 1, 1); local < At(2027, 1, 1); local += int64_t{15} * 60) {
    const int64_t u = la->LocalToUtc(local);
    const bool in_gap = local >= At(2026, 3, 8, 2) && local < At(2026, 3, 8, 3);
    ASSERT_EQ(u + la->OffsetAt(u), in_gap ? local + kHour : local) << local;
  }
}

TEST(TimeZone, BerlinAndKolkata) {
  auto berlin = Zone("Europe/Berlin");
  ASSERT_NE(berlin, nullptr);
  EXPECT_EQ(berlin->OffsetAt(At(2026, 3, 29, 1) - 1), kHour);
  EXPECT_EQ(berlin->OffsetAt(At(2026, 3, 29, 1)), 2 * kHour);
  EXPECT_EQ(berlin->OffsetAt(At(2026, 10, 25, 1) - 1), 2 * kHour);
  EXPECT_EQ(berlin->OffsetAt(At(2026, 10, 25, 1)), kHour);
  EXPECT_EQ(berlin->LocalToUtc(At(2026, 12, 24, 18)), At(2026, 12, 24, 17));

  auto kolkata = Zone("Asia/Kolkata");
  ASSERT_NE(kolkata, nullptr);
  EXPECT_EQ(kolkata->OffsetAt(At(2026, 1, 1)), 19800);
  EXPECT_EQ(kolkata->OffsetAt(At(2026, 7, 1)), 19800);
  EXPECT_EQ(kolkata->LocalToUtc(At(2026, 7, 1, 5, 30)), At(2026, 7, 1));
}

TEST(TimeZone, AfterTheLastTransitionTheFooterRuleDecides) {
  // The installed files list changes to 2037; 2040 comes from the POSIX rule in the footer.
  auto la = Zone("America/Los_Angeles");
  ASSERT_NE(la, nullptr);
  EXPECT_EQ(la->OffsetAt(At(2040, 3, 11, 10) - 1), -8 * kHour);
  EXPECT_EQ(la->OffsetAt(At(2040, 3, 11, 10)), -7 * kHour);
  EXPECT_EQ(la->OffsetAt(At(2040, 11, 4, 9) - 1), -7 * kHour);
  EXPECT_EQ(la->OffsetAt(At(2040, 11, 4, 9)), -8 * kHour);
  EXPECT_EQ(la->LocalToUtc(At(2040, 3, 11, 2, 30)), At(2040, 3, 11, 10, 30));
}

TEST(TimeZone, AgreesWithTheCLibrary) {
  // glibc reads the same files; every 5 hours over 1960-2060 both must say the same.
  if (std::getenv("FERRY_ZONEINFO") != nullptr) GTEST_SKIP() << "FERRY_ZONEINFO is set";
  for (const char* name :
       {"America/Los_Angeles", "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney",
        "America/Santiago", "Africa/Casablanca", "Australia/Lord_Howe", "Pacific/Chatham"}) {
    auto z = Zone(name);
    ASSERT_NE(z, nullptr);
    const std::string tz = std::string(":") + name;
    setenv("TZ", tz.c_str(), 1);
    tzset();
    int mismatches = 0;
    for (int64_t t = At(1960, 1, 1); t < At(2060, 1, 1); t += 5 * kHour) {
      const time_t tt = static_cast<time_t>(t);
      struct tm tm {};
      localtime_r(&tt, &tm);
      if (tm.tm_gmtoff != z->OffsetAt(t) && ++mismatches < 5) {
        ADD_FAILURE() << name << " at " << t << ": libc " << tm.tm_gmtoff << ", ours "
                      << z->OffsetAt(t);
      }
    }
    EXPECT_EQ(mismatches, 0) << name;
  }
  unsetenv("TZ");
  tzset();
}

TEST(TimeZone, WindowsIds) {
  EXPECT_EQ(WindowsZoneToIana("Pacific Standard Time"), "America/Los_Angeles");
  EXPECT_EQ(WindowsZoneToIana("PacificStandardTime"), "America/Los_Angeles");
  EXPECT_EQ(WindowsZoneToIana("pacific standard time"), "America/Los_Angeles");
  EXPECT_EQ(WindowsZoneToIana("UTC"), "Etc/UTC");
  EXPECT_EQ(WindowsZoneToIana("Eastern Standard Time"), "America/New_York");
  EXPECT_EQ(WindowsZoneToIana("Central Europe Standard Time"), "Europe/Budapest");
  EXPECT_EQ(WindowsZoneToIana("W. Europe Standard Time"), "Europe/Berlin");
  EXPECT_EQ(WindowsZoneToIana("GMT Standard Time"), "Europe/London");
  EXPECT_EQ(WindowsZoneToIana("China Standard Time"), "Asia/Shanghai");
  EXPECT_EQ(WindowsZoneToIana("Tokyo Standard Time"), "Asia/Tokyo");
  EXPECT_EQ(WindowsZoneToIana("India Standard Time"), "Asia/Kolkata");
  EXPECT_EQ(WindowsZoneToIana("AUS Eastern Standard Time"), "Australia/Sydney");
  EXPECT_EQ(WindowsZoneToIana("UTC-11"), "Etc/GMT+11");
  EXPECT_EQ(WindowsZoneToIana("UTC+12"), "Etc/GMT-12");
  EXPECT_EQ(WindowsZoneToIana("Pacific Standard Time (Mexico)"), "America/Tijuana");
  EXPECT_EQ(WindowsZoneToIana("Europe/Berlin"), "");
  EXPECT_EQ(WindowsZoneToIana("Moon Standard Time"), "");

  auto pst = Zone("Pacific Standard Time");
  ASSERT_NE(pst, nullptr);
  EXPECT_EQ(pst->name(), "Pacific Standard Time");
  EXPECT_EQ(pst->OffsetAt(At(2026, 7, 1)), -7 * kHour);
  auto ist = Zone("India Standard Time");
  ASSERT_NE(ist, nullptr);
  EXPECT_EQ(ist->OffsetAt(At(2026, 7, 1)), 19800);
}

TEST(TimeZone, EveryWindowsIdLoads) {
  const std::vector<std::string> ids = WindowsZoneIds();
  EXPECT_GT(ids.size(), 135U);
  for (const std::string& id : ids) {
    auto z = TimeZone::Load(id);
    EXPECT_TRUE(z.ok()) << id << ": " << z.status().ToString();
  }
}

TEST(TimeZone, RefusesNamesOutsideTheZoneFolder) {
  for (const char* name :
       {"../etc/passwd", "/etc/localtime", "America/../../etc/passwd", "", "Europe/Ber lin"}) {
    auto z = TimeZone::Load(name);
    ASSERT_FALSE(z.ok()) << name;
    EXPECT_EQ(z.status().code(), StatusCode::kInvalidArgument) << name;
  }
  auto missing = TimeZone::Load("Mars/Olympus_Mons");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

// TZif bytes built by the test: a version ('\0', '2', '3') and transitions with 32- or 64-bit
// times, then for versions 2+ the footer.
class TzifBuilder {
 public:
  struct Type {
    int32_t offset;
    bool dst;
  };
  TzifBuilder(char version, std::vector<int64_t> times, std::vector<uint8_t> idx,
              std::vector<Type> types, std::string footer)
      : version_(version),
        times_(std::move(times)),
        idx_(std::move(idx)),
        types_(std::move(types)),
        footer_(std::move(footer)) {}

  std::string Build() const {
    std::string out;
    Block(&out, 4);
    if (version_ >= '2') {
      Block(&out, 8);
      out += "\n" + footer_ + "\n";
    }
    return out;
  }

 private:
  static void Put(std::string* out, int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void Block(std::string* out, int width) const {
    *out += "TZif";
    out->push_back(version_);
    out->append(15, '\0');
    for (int64_t n : {int64_t{0}, int64_t{0}, int64_t{0}, static_cast<int64_t>(times_.size()),
                      static_cast<int64_t>(types_.size()), int64_t{4}}) {
      Put(out, n, 4);
    }
    for (int64_t t : times_) Put(out, t, width);
    for (uint8_t i : idx_) out->push_back(static_cast<char>(i));
    for (const Type& t : types_) {
      Put(out, t.offset, 4);
      out->push_back(t.dst ? 1 : 0);
      out->push_back(0);
    }
    out->append("ABC", 4);  // the abbreviations, with their NUL
  }

  char version_;
  std::vector<int64_t> times_;
  std::vector<uint8_t> idx_;
  std::vector<Type> types_;
  std::string footer_;
};

TEST(TimeZone, ReadsVersion1Files) {
  // Offset +1h until 2000-01-01, +2h after; no footer: the last type stays.
  const std::string data =
      TzifBuilder('\0', {At(2000, 1, 1)}, {1}, {{3600, false}, {7200, false}}, "").Build();
  auto z = TimeZone::FromTzif("Test/V1", data);
  ASSERT_TRUE(z.ok()) << z.status().ToString();
  EXPECT_EQ((*z)->OffsetAt(At(1999, 12, 31, 23)), 3600);
  EXPECT_EQ((*z)->OffsetAt(At(2000, 1, 1)), 7200);
  EXPECT_EQ((*z)->OffsetAt(At(2050, 1, 1)), 7200);
}

TEST(TimeZone, FooterOnlyZonesFollowThePosixRule) {
  // No transitions at all: everything comes from the footer (as in "slim" TZif files).
  const struct {
    const char* footer;
    int64_t utc;
    int64_t offset;
  } kCases[] = {
      {"PST8PDT,M3.2.0,M11.1.0", At(2040, 3, 11, 10) - 1, -8 * kHour},
      {"PST8PDT,M3.2.0,M11.1.0", At(2040, 3, 11, 10), -7 * kHour},
      {"PST8PDT", At(2040, 7, 1), -7 * kHour},  // no rule: the US one
      {"CET-1CEST,M3.5.0,M10.5.0/3", At(2040, 3, 25, 1) - 1, kHour},
      {"CET-1CEST,M3.5.0,M10.5.0/3", At(2040, 3, 25, 1), 2 * kHour},
      {"CET-1CEST,M3.5.0,M10.5.0/3", At(2040, 10, 28, 1), kHour},
      // Southern hemisphere: daylight time spans the new year.
      {"AEST-10AEDT,M10.1.0,M4.1.0/3", At(2040, 1, 15), 11 * kHour},
      {"AEST-10AEDT,M10.1.0,M4.1.0/3", At(2040, 6, 15), 10 * kHour},
      {"AEST-10AEDT,M10.1.0,M4.1.0/3", At(2040, 12, 15), 11 * kHour},
      {"<+0530>-5:30", At(2040, 6, 15), 19800},
      {"<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", At(2040, 7, 1), -2 * kHour},  // negative times
      // Jn counts 1..365 and never Feb 29: J60 is March 1 even in 2040.
      {"AAA0BBB,J60/0,J300/0", At(2040, 2, 29, 23), 0},
      {"AAA0BBB,J60/0,J300/0", At(2040, 3, 1), kHour},
      // n counts from 0 with Feb 29: day 59 is Feb 29 in 2040.
      {"AAA0BBB,59/0,300/0", At(2040, 2, 28, 23), 0},
      {"AAA0BBB,59/0,300/0", At(2040, 2, 29), kHour},
      {"UTC0", At(2040, 6, 15), 0},
  };
  for (const auto& c : kCases) {
    const std::string data = TzifBuilder('2', {}, {}, {{0, false}}, c.footer).Build();
    auto z = TimeZone::FromTzif("Test/Footer", data);
    ASSERT_TRUE(z.ok()) << c.footer << ": " << z.status().ToString();
    EXPECT_EQ((*z)->OffsetAt(c.utc), c.offset) << c.footer << " at " << c.utc;
  }
}

TEST(TimeZone, RefusesBrokenFiles) {
  EXPECT_EQ(TimeZone::FromTzif("x", "hello").status().code(), StatusCode::kCorruption);
  std::string data = TzifBuilder('2', {At(2000, 1, 1)}, {0}, {{0, false}}, "UTC0").Build();
  EXPECT_FALSE(TimeZone::FromTzif("x", data.substr(0, 60)).ok());
  EXPECT_FALSE(
      TimeZone::FromTzif("x", TzifBuilder('2', {}, {}, {{0, false}}, "PST8PDT,M3").Build()).ok());
  EXPECT_FALSE(
      TimeZone::FromTzif("x", TzifBuilder('2', {1}, {3}, {{0, false}}, "UTC0").Build()).ok());
}

TEST(TimeZone, FerryZoneinfoPointsAtAnotherFolder) {
  char dir_template[] = "/tmp/ferry_zoneinfo_XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  ASSERT_TRUE(MakeDirs(dir + "/Test").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/Test/Plus3",
                              TzifBuilder('3', {}, {}, {{10800, false}}, "<+03>-3").Build())
                  .ok());
  setenv("FERRY_ZONEINFO", dir.c_str(), 1);
  auto z = TimeZone::Load("Test/Plus3");
  auto la = TimeZone::Load("America/Los_Angeles");
  unsetenv("FERRY_ZONEINFO");
  ASSERT_TRUE(z.ok()) << z.status().ToString();
  EXPECT_EQ((*z)->OffsetAt(At(2026, 1, 1)), 10800);
  EXPECT_EQ(la.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(RemoveAll(dir).ok());
}

// ---- Firing times ----------------------------------------------------------------------

Recurrence Rec(const std::string& frequency, int interval, const std::string& start_time = "",
               const std::string& tz = "UTC") {
  Recurrence r;
  r.frequency = frequency;
  r.interval = interval;
  r.start_time = start_time;
  r.time_zone = tz;
  return r;
}

int64_t Next(const Recurrence& r, int64_t created_at, int64_t after) {
  auto tz = TimeZone::Load(r.time_zone);
  EXPECT_TRUE(tz.ok()) << tz.status().ToString();
  if (!tz.ok()) return -1;
  auto t = NextFireTime(r, **tz, created_at, after);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? *t : -1;
}

// The first `n` firings after `after`.
std::vector<int64_t> Firings(const Recurrence& r, int64_t created_at, int64_t after, int n) {
  std::vector<int64_t> out;
  for (int i = 0; i < n; ++i) {
    after = Next(r, created_at, after);
    out.push_back(after);
  }
  return out;
}

TEST(NextFireTime, EveryMinute) {
  const Recurrence r = Rec("Minute", 1, "2026-01-01T00:00:00");
  const int64_t start = At(2026, 1, 1);
  EXPECT_EQ(Next(r, 0, start - 1), start);
  EXPECT_EQ(Next(r, 0, start), start + 60);
  EXPECT_EQ(Next(r, 0, start + 59), start + 60);
  EXPECT_EQ(Next(r, 0, start + 60), start + 120);
  // Far later without stepping through every minute.
  EXPECT_EQ(Next(r, 0, At(2036, 5, 5, 5, 5, 5)), At(2036, 5, 5, 5, 6));
}

TEST(NextFireTime, EveryTwoHoursFromCreation) {
  const Recurrence r = Rec("hour", 2);  // any case
  const int64_t created = At(2026, 12, 7, 21, 17, 3);
  EXPECT_EQ(Next(r, created, created - 1), created);  // no start_time: it runs at once
  EXPECT_EQ(Next(r, created, created), created + 2 * kHour);
  EXPECT_EQ(Next(r, created, created + 2 * kHour + 1), created + 4 * kHour);
}

TEST(NextFireTime, DailyAtOneInPacificTimeAcrossTheSpringChange) {
  Recurrence r = Rec("Day", 1, "2026-03-06T00:00:00", "Pacific Standard Time");
  r.hours = {1};
  r.minutes = {0};
  EXPECT_EQ(Firings(r, 0, At(2026, 3, 1), 4),
            (std::vector<int64_t>{At(2026, 3, 6, 9), At(2026, 3, 7, 9), At(2026, 3, 8, 9),
                                  At(2026, 3, 9, 8)}));  // 01:00 PDT from the 9th
  // Across the autumn change: 01:00 on 2026-11-01 happens twice; it fires once, at the first.
  EXPECT_EQ(Firings(r, 0, At(2026, 10, 30, 12), 3),
            (std::vector<int64_t>{At(2026, 10, 31, 8), At(2026, 11, 1, 8), At(2026, 11, 2, 9)}));
}

TEST(NextFireTime, ATimeInTheSpringGapFiresAfterTheJump) {
  Recurrence r = Rec("Day", 1, "2026-03-01T00:00:00", "America/Los_Angeles");
  r.time_of_day = "02:30";
  EXPECT_EQ(Firings(r, 0, At(2026, 3, 7, 12), 3),
            (std::vector<int64_t>{At(2026, 3, 8, 10, 30), At(2026, 3, 9, 9, 30),
                                  At(2026, 3, 10, 9, 30)}));
}

TEST(NextFireTime, DailyWithoutTimesKeepsTheWallClockAcrossDst) {
  const Recurrence r = Rec("Day", 1, "2026-03-07T09:00:00", "Pacific Standard Time");
  EXPECT_EQ(Firings(r, 0, At(2026, 3, 1), 3),
            (std::vector<int64_t>{At(2026, 3, 7, 17), At(2026, 3, 8, 16), At(2026, 3, 9, 16)}));
  const Recurrence weekly = Rec("Week", 1, "2026-10-25T09:00:00", "Pacific Standard Time");
  EXPECT_EQ(Firings(weekly, 0, At(2026, 10, 1), 2),
            (std::vector<int64_t>{At(2026, 10, 25, 16), At(2026, 11, 1, 17)}));
}

TEST(NextFireTime, WeeklyOnMondayAndFridayAtNineThirty) {
  // 2026-12-01 is a Tuesday; its week starts on Monday 2026-11-30.
  Recurrence r = Rec("Week", 1, "2026-12-01T00:00:00");
  r.week_days = {"Monday", "Friday"};
  r.hours = {9};
  r.minutes = {30};
  const std::vector<int64_t> expected = {At(2026, 12, 4, 9, 30), At(2026, 12, 7, 9, 30),
                                         At(2026, 12, 11, 9, 30), At(2026, 12, 14, 9, 30)};
  EXPECT_EQ(Firings(r, 0, At(2026, 11, 1), 4), expected);
  r.hours.clear();
  r.minutes.clear();
  r.time_of_day = "09:30";
  EXPECT_EQ(Firings(r, 0, At(2026, 11, 1), 4), expected);
  // Every other week: the week of 2026-12-07 is skipped.
  r.interval = 2;
  EXPECT_EQ(Firings(r, 0, At(2026, 11, 1), 3),
            (std::vector<int64_t>{At(2026, 12, 4, 9, 30), At(2026, 12, 14, 9, 30),
                                  At(2026, 12, 18, 9, 30)}));
}

TEST(NextFireTime, EveryThirdDayAtSeveralTimes) {
  Recurrence r = Rec("Day", 3, "2026-05-01T12:00:00", "Asia/Kolkata");
  r.hours = {18, 6};
  r.minutes = {45, 15};
  // 06:15, 06:45, 18:15, 18:45 IST on May 1 (from 12:00), 4, 7, ...; IST is UTC+5:30.
  EXPECT_EQ(
      Firings(r, 0, At(2026, 4, 1), 5),
      (std::vector<int64_t>{At(2026, 5, 1, 12, 45), At(2026, 5, 1, 13, 15), At(2026, 5, 4, 0, 45),
                            At(2026, 5, 4, 1, 15), At(2026, 5, 4, 12, 45)}));
}

TEST(NextFireTime, WithHoursItDoesNotFireAtCreation) {
  Recurrence r = Rec("Day", 1);
  r.hours = {1};
  r.minutes = {0};
  const int64_t created = At(2026, 12, 7, 21, 17);
  EXPECT_EQ(Next(r, created, created - 1), At(2026, 12, 8, 1));
  // Without hours it does.
  EXPECT_EQ(Next(Rec("Day", 1), created, created - 1), created);
}

TEST(NextFireTime, MonthlyOnThe31stClampsToTheMonthsEnd) {
  const Recurrence r = Rec("Month", 1, "2026-01-31T08:00:00");
  EXPECT_EQ(Firings(r, 0, At(2026, 1, 1), 4),
            (std::vector<int64_t>{At(2026, 1, 31, 8), At(2026, 2, 28, 8), At(2026, 3, 31, 8),
                                  At(2026, 4, 30, 8)}));
  EXPECT_EQ(Next(r, 0, At(2028, 2, 1)), At(2028, 2, 29, 8));  // a leap year
  // Far ahead without stepping through every month.
  EXPECT_EQ(Next(r, 0, At(2226, 6, 1)), At(2226, 6, 30, 8));
  const Recurrence quarterly = Rec("Month", 3, "2026-11-30T23:00:00", "Europe/Berlin");
  EXPECT_EQ(Firings(quarterly, 0, At(2026, 1, 1), 3),
            (std::vector<int64_t>{At(2026, 11, 30, 22), At(2027, 2, 28, 22), At(2027, 5, 30, 21)}));
}

TEST(NextFireTime, StartTimeInTheFuture) {
  const int64_t now = At(2026, 12, 7, 21, 17);
  EXPECT_EQ(Next(Rec("Minute", 15, "2027-01-01T00:00:00"), now, now), At(2027, 1, 1));
  Recurrence r = Rec("Day", 1, "2027-01-01T05:00:00");
  r.hours = {1, 6};
  // Not before the start: 01:00 on the first day is too early, 06:00 is the first.
  EXPECT_EQ(Next(r, now, now), At(2027, 1, 1, 6));
  EXPECT_EQ(Next(r, now, At(2027, 1, 1, 6)), At(2027, 1, 2, 1));
}

TEST(NextFireTime, RefusesAnInvalidRecurrence) {
  auto utc = Zone("UTC");
  ASSERT_NE(utc, nullptr);
  Recurrence r = Rec("Day", 0);
  auto t = NextFireTime(r, *utc, 0, 0);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("recurrence.interval"), std::string::npos);
}

}  // namespace
}  // namespace ferry::pipeline
