// Tests for gitignore pattern matching (WildMatch, IgnoreRules) and the IgnoreStack.
#include "snapshot/ignore.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace ferry::snapshot {
namespace {

// The golden cases, shared with python/tests/test_snapshot.py (format: the file's "format").
nlohmann::json LoadCases() {
  std::ifstream in(FERRY_WILDMATCH_CASES);
  EXPECT_TRUE(in) << "cannot read " << FERRY_WILDMATCH_CASES;
  return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
}

TEST(WildMatchTest, GoldenCases) {
  const nlohmann::json cases = LoadCases();
  ASSERT_TRUE(cases.contains("wildmatch")) << FERRY_WILDMATCH_CASES;
  ASSERT_GE(cases["wildmatch"].size(), 32u);  // a file cut short must not pass
  for (const auto& c : cases["wildmatch"]) {
    const std::string pattern = c.at(0), text = c.at(1);
    const bool expected = c.at(2);
    EXPECT_EQ(WildMatch(pattern, text), expected)
        << "pattern '" << pattern << "', text '" << text << "'";
  }
}

TEST(IgnoreRulesTest, GoldenCases) {
  const nlohmann::json cases = LoadCases();
  ASSERT_TRUE(cases.contains("ignore")) << FERRY_WILDMATCH_CASES;
  ASSERT_GE(cases["ignore"].size(), 66u);
  const std::map<std::string, IgnoreMatch> verdicts = {{"ignore", IgnoreMatch::kIgnore},
                                                       {"include", IgnoreMatch::kInclude},
                                                       {"none", IgnoreMatch::kNone}};
  for (const auto& c : cases["ignore"]) {
    const std::string rules = c.at(0), path = c.at(1), base = c.at(3), expect = c.at(4);
    const bool is_dir = c.at(2);
    ASSERT_TRUE(verdicts.count(expect)) << "unknown verdict '" << expect << "'";
    EXPECT_EQ(IgnoreRules::Parse(rules, base).Check(path, is_dir), verdicts.at(expect))
        << "rules '" << rules << "', path '" << path << "', is_dir " << is_dir << ", base '" << base
        << "', expected " << expect;
  }
}

TEST(IgnoreStackTest, DeeperLevelsTakePrecedence) {
  IgnoreStack stack;
  stack.Push(IgnoreRules::Parse("*.log\n", ""));
  EXPECT_TRUE(stack.IsIgnored("a.log", false));
  stack.Push(IgnoreRules::Parse("!keep.log\n", "sub"));
  EXPECT_TRUE(stack.IsIgnored("sub/x.log", false));
  EXPECT_FALSE(stack.IsIgnored("sub/keep.log", false));
  stack.Pop();
  EXPECT_TRUE(stack.IsIgnored("sub/keep.log", false));
}

TEST(IgnoreStackTest, GitAlwaysIgnored) {
  IgnoreStack stack;
  stack.Push(IgnoreRules::Parse("!.git\n", ""));
  EXPECT_TRUE(stack.IsIgnored(".git", true));
  EXPECT_TRUE(stack.IsIgnored("sub/.git", false));
  EXPECT_FALSE(stack.IsIgnored(".gitignore", false));
  EXPECT_FALSE(stack.IsIgnored(".github", true));
}

}  // namespace
}  // namespace ferry::snapshot
