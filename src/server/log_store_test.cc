// Unit tests for the offset-addressed log store.
#include "server/log_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "common/fs.h"

namespace ferry::server {
namespace {

TEST(LogStore, AppendIsIdempotentAtOffsets) {
  char tmpl[] = "/tmp/ferry_logs_XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  LogStore logs(dir);
  EXPECT_EQ(*logs.Size("r"), 0u);
  EXPECT_EQ(*logs.Append("r", 0, "hello "), 6u);
  EXPECT_EQ(*logs.Append("r", 0, "hello "), 6u);       // resend: nothing doubled
  EXPECT_EQ(*logs.Append("r", 3, "lo world\n"), 12u);  // overlapping resend
  auto gap = logs.Append("r", 100, "x");
  EXPECT_EQ(gap.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(*logs.Read("r", 0, 100), "hello world\n");
  EXPECT_EQ(*logs.Read("r", 6, 3), "wor");
  EXPECT_EQ(*logs.Read("r", 50, 3), "");
  ASSERT_TRUE(logs.Append("r", 12, "a\nb\nc\n").ok());
  LogStore reopened(dir);  // sizes come back from disk
  EXPECT_EQ(*reopened.Size("r"), 18u);
  (void)RemoveAll(dir);
}

TEST(LogStore, RanksAreTheStreamsThatExist) {
  char tmpl[] = "/tmp/ferry_logs_XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  LogStore logs(dir);
  EXPECT_EQ(logs.Ranks("r"), std::vector<int>{0});  // nothing written yet
  ASSERT_TRUE(logs.Append("r/rank10", 0, "x").ok());
  ASSERT_TRUE(logs.Append("r/rank2", 0, "y").ok());
  ASSERT_TRUE(logs.Append("other/rank1", 0, "z").ok());
  ASSERT_TRUE(MakeDirs(dir + "/r/rank02").ok());  // not a name the server writes
  EXPECT_EQ(logs.Ranks("r"), (std::vector<int>{0, 2, 10}));
  (void)RemoveAll(dir);
}

}  // namespace
}  // namespace ferry::server
