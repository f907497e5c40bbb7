// Tests of the log settings and the JSON string escape of common/log.h.
#include "common/log.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "common/version.h"

namespace ferry {
namespace {

TEST(Log, FlagsWinOverTheEnvironment) {
  ::setenv("FERRY_LOG_LEVEL", "error", 1);
  ::setenv("FERRY_LOG_FORMAT", "json", 1);
  auto env = ResolveLogSettings({});
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(env->level, 4);  // spdlog::level::err
  EXPECT_EQ(env->format, LogFormat::kJson);
  auto flags = ResolveLogSettings({"debug", "text"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->level, 1);  // spdlog::level::debug
  EXPECT_EQ(flags->format, LogFormat::kText);
  ::setenv("FERRY_LOG_LEVEL", "loud", 1);
  auto bad = ResolveLogSettings({});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'loud' (FERRY_LOG_LEVEL)"), std::string::npos);
  EXPECT_FALSE(ResolveLogSettings({"", "xml"}).ok());
  ::unsetenv("FERRY_LOG_LEVEL");
  ::unsetenv("FERRY_LOG_FORMAT");
  auto def = ResolveLogSettings({});
  ASSERT_TRUE(def.ok());
  EXPECT_EQ(def->level, 2);
  EXPECT_EQ(def->format, LogFormat::kText);
}

TEST(Log, JsonStringEscapeIsAlwaysValidJson) {
  std::string out;
  AppendJsonString(&out, "a\"b\\c\nd\x01 é");
  EXPECT_EQ(out, "a\\\"b\\\\c\\nd\\u0001 é");
  out.clear();
  AppendJsonString(&out, std::string_view("x\xff y", 4));  // not UTF-8: the \xNN escape
  EXPECT_EQ(out, "x\\\\xff y");
}

TEST(Version, IsDottedNumbers) {
  const std::string_view v = Version();
  ASSERT_FALSE(v.empty());
  int dots = 0;
  for (char c : v) {
    if (c == '.')
      ++dots;
    else
      EXPECT_TRUE(c >= '0' && c <= '9') << v;
  }
  EXPECT_EQ(dots, 2) << v;
}

}  // namespace
}  // namespace ferry
