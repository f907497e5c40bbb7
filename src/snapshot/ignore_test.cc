// Tests for gitignore pattern matching (WildMatch, IgnoreRules) and the IgnoreStack.
#include "snapshot/ignore.h"

#include <gtest/gtest.h>

namespace ferry::snapshot {
namespace {

IgnoreMatch C(std::string_view text, std::string_view path, bool is_dir = false,
              std::string base = "") {
  return IgnoreRules::Parse(text, std::move(base)).Check(path, is_dir);
}
constexpr IgnoreMatch kNone = IgnoreMatch::kNone;
constexpr IgnoreMatch kIgnore = IgnoreMatch::kIgnore;
constexpr IgnoreMatch kInclude = IgnoreMatch::kInclude;

TEST(WildMatchTest, Basics) {
  EXPECT_TRUE(WildMatch("foo", "foo"));
  EXPECT_FALSE(WildMatch("foo", "foobar"));
  EXPECT_TRUE(WildMatch("*.o", "a.o"));
  EXPECT_FALSE(WildMatch("*.o", "dir/a.o"));  // '*' never matches '/'
  EXPECT_TRUE(WildMatch("a?c", "abc"));
  EXPECT_FALSE(WildMatch("a?c", "a/c"));
  EXPECT_TRUE(WildMatch("[a-c]x", "bx"));
  EXPECT_FALSE(WildMatch("[a-c]x", "dx"));
  EXPECT_TRUE(WildMatch("[!a-c]x", "dx"));
  EXPECT_FALSE(WildMatch("[!a-c]x", "ax"));
  EXPECT_TRUE(WildMatch("[^a]x", "bx"));
  EXPECT_TRUE(WildMatch("[]]", "]"));
  EXPECT_TRUE(WildMatch("[[:digit:]]*", "7up"));
  EXPECT_FALSE(WildMatch("[[:digit:]]*", "up"));
  EXPECT_TRUE(WildMatch("\\*", "*"));
  EXPECT_FALSE(WildMatch("\\*", "x"));
  EXPECT_FALSE(WildMatch("[abc", "a"));  // unterminated class matches nothing
}

TEST(WildMatchTest, DoubleStar) {
  EXPECT_TRUE(WildMatch("**/foo", "foo"));
  EXPECT_TRUE(WildMatch("**/foo", "a/b/foo"));
  EXPECT_FALSE(WildMatch("**/foo", "a/b/xfoo"));
  EXPECT_TRUE(WildMatch("abc/**", "abc/x"));
  EXPECT_TRUE(WildMatch("abc/**", "abc/x/y/z"));
  EXPECT_FALSE(WildMatch("abc/**", "abc"));
  EXPECT_TRUE(WildMatch("a/**/b", "a/b"));
  EXPECT_TRUE(WildMatch("a/**/b", "a/x/b"));
  EXPECT_TRUE(WildMatch("a/**/b", "a/x/y/b"));
  EXPECT_FALSE(WildMatch("a/**/b", "a/x/y/c"));
  EXPECT_TRUE(WildMatch("**", "any/thing"));
  // "**" not forming a whole component behaves like "*".
  EXPECT_TRUE(WildMatch("a**b", "axxb"));
  EXPECT_FALSE(WildMatch("a**b", "a/b"));
  EXPECT_TRUE(WildMatch("*/b", "x/b"));
  EXPECT_FALSE(WildMatch("*/b", "x/y/b"));
}

TEST(IgnoreRulesTest, CommentsAndBlankLines) {
  EXPECT_EQ(C("# comment\n\n   \n", "# comment"), kNone);
  EXPECT_EQ(C("\\#hash\n", "#hash"), kIgnore);
  EXPECT_EQ(C("#hash\n", "#hash"), kNone);
}

TEST(IgnoreRulesTest, EscapedBang) {
  EXPECT_EQ(C("\\!important\n", "!important"), kIgnore);
  EXPECT_EQ(C("!important\n", "important"), kInclude);
}

TEST(IgnoreRulesTest, TrailingSpaces) {
  EXPECT_EQ(C("foo   \n", "foo"), kIgnore);
  EXPECT_EQ(C("foo\\ \n", "foo "), kIgnore);
  EXPECT_EQ(C("foo\\ \n", "foo"), kNone);
  EXPECT_EQ(C("foo\r\n", "foo"), kIgnore);  // CRLF files
}

TEST(IgnoreRulesTest, UnanchoredMatchesAtAnyDepth) {
  EXPECT_EQ(C("*.pyc\n", "a.pyc"), kIgnore);
  EXPECT_EQ(C("*.pyc\n", "x/y/a.pyc"), kIgnore);
  EXPECT_EQ(C("build\n", "src/build", true), kIgnore);
  EXPECT_EQ(C("build\n", "src/build", false), kIgnore);
  EXPECT_EQ(C("build\n", "src/builder"), kNone);
}

TEST(IgnoreRulesTest, AnchoredPatterns) {
  EXPECT_EQ(C("/build\n", "build", true), kIgnore);
  EXPECT_EQ(C("/build\n", "src/build", true), kNone);
  EXPECT_EQ(C("doc/frotz\n", "doc/frotz"), kIgnore);
  EXPECT_EQ(C("doc/frotz\n", "a/doc/frotz"), kNone);
  EXPECT_EQ(C("/*.txt\n", "a.txt"), kIgnore);
  EXPECT_EQ(C("/*.txt\n", "d/a.txt"), kNone);
}

TEST(IgnoreRulesTest, DirectoryOnly) {
  EXPECT_EQ(C("logs/\n", "logs", true), kIgnore);
  EXPECT_EQ(C("logs/\n", "logs", false), kNone);
  EXPECT_EQ(C("logs/\n", "a/logs", true), kIgnore);  // no middle slash: any depth
  EXPECT_EQ(C("a/logs/\n", "a/logs", true), kIgnore);
  EXPECT_EQ(C("a/logs/\n", "b/a/logs", true), kNone);
}

TEST(IgnoreRulesTest, NegationLastRuleWins) {
  const char* text = "*.log\n!keep.log\n";
  EXPECT_EQ(C(text, "x.log"), kIgnore);
  EXPECT_EQ(C(text, "keep.log"), kInclude);
  EXPECT_EQ(C(text, "d/keep.log"), kInclude);
  EXPECT_EQ(C("!keep.log\n*.log\n", "keep.log"), kIgnore);
}

TEST(IgnoreRulesTest, Classes) {
  EXPECT_EQ(C("file[0-9].txt\n", "file3.txt"), kIgnore);
  EXPECT_EQ(C("file[0-9].txt\n", "filex.txt"), kNone);
  EXPECT_EQ(C("file[!0-9].txt\n", "filex.txt"), kIgnore);
  EXPECT_EQ(C("?.bin\n", "a.bin"), kIgnore);
  EXPECT_EQ(C("?.bin\n", "ab.bin"), kNone);
}

TEST(IgnoreRulesTest, DoubleStarRules) {
  EXPECT_EQ(C("**/cache\n", "cache", true), kIgnore);
  EXPECT_EQ(C("**/cache\n", "a/b/cache", true), kIgnore);
  EXPECT_EQ(C("**/foo/bar\n", "x/foo/bar"), kIgnore);
  EXPECT_EQ(C("data/**\n", "data/a/b.csv"), kIgnore);
  EXPECT_EQ(C("data/**\n", "data", true), kNone);
  EXPECT_EQ(C("a/**/z\n", "a/z"), kIgnore);
  EXPECT_EQ(C("a/**/z\n", "a/b/c/z"), kIgnore);
  EXPECT_EQ(C("a/**/z\n", "b/a/z"), kNone);
}

TEST(IgnoreRulesTest, BaseDirScopesRules) {
  // Rules of sub/.gitignore apply only below sub/, anchored ones relative to sub/.
  EXPECT_EQ(C("*.tmp\n", "sub/x.tmp", false, "sub"), kIgnore);
  EXPECT_EQ(C("*.tmp\n", "sub/deep/x.tmp", false, "sub"), kIgnore);
  EXPECT_EQ(C("*.tmp\n", "x.tmp", false, "sub"), kNone);
  EXPECT_EQ(C("*.tmp\n", "subx/x.tmp", false, "sub"), kNone);
  EXPECT_EQ(C("/out\n", "sub/out", true, "sub"), kIgnore);
  EXPECT_EQ(C("/out\n", "sub/a/out", true, "sub"), kNone);
  EXPECT_EQ(C("a/b\n", "x/y/a/b", false, "x/y"), kIgnore);
  EXPECT_EQ(C("a/b\n", "x/y", true, "x/y"), kNone);
}

TEST(IgnoreRulesTest, LiteralAndSuffixFastPathsAgreeWithWildMatch) {
  EXPECT_EQ(C("*.tar.gz\n", "a/b.tar.gz"), kIgnore);
  EXPECT_EQ(C("*.tar.gz\n", "b.tar.gzz"), kNone);
  EXPECT_EQ(C("*\n", "anything/at/all"), kIgnore);
  EXPECT_EQ(C("README\n", "README"), kIgnore);
  EXPECT_EQ(C("README\n", "README.md"), kNone);
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
