// Unit tests for common/utf8: validation and the reversible escape.
#include "common/utf8.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(Utf8, FindsTheFirstInvalidByte) {
  EXPECT_EQ(FindInvalidUtf8("plain ascii"), std::nullopt);
  EXPECT_EQ(FindInvalidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), std::nullopt);
  EXPECT_EQ(FindInvalidUtf8("abc\xff"), 3u);
  EXPECT_EQ(FindInvalidUtf8("\xc3"), 0u);              // truncated
  EXPECT_EQ(FindInvalidUtf8("\xc0\xaf"), 0u);          // overlong '/'
  EXPECT_EQ(FindInvalidUtf8("x\xed\xa0\x80"), 1u);     // a surrogate
  EXPECT_EQ(FindInvalidUtf8("\xf4\x90\x80\x80"), 0u);  // past U+10FFFF
  EXPECT_EQ(DescribeInvalidUtf8("abc\xff"), "byte 0xff at offset 3");
  EXPECT_EQ(DescribeInvalidUtf8("ok"), "");
}

TEST(Utf8, EscapeIsReversibleAndValid) {
  const std::string cases[] = {"outputs/model.pkl", "caf\xe9.bin", "a\\b",
                               "\\x41 literal",     "tab\there",   std::string("nul\0x", 5),
                               "\xff\xfe",          "\xe2\x82",    "ok \xe2\x82\xac"};
  for (const auto& raw : cases) {
    std::string e = EscapeBytes(raw);
    EXPECT_EQ(FindInvalidUtf8(e), std::nullopt) << e;
    EXPECT_EQ(e.find('\0'), std::string::npos) << e;
    EXPECT_EQ(UnescapeBytes(e), raw) << e;
  }
  EXPECT_EQ(EscapeBytes("outputs/model.pkl"), "outputs/model.pkl");  // the common case is unchanged
  EXPECT_EQ(EscapeBytes("caf\xe9.bin"), "caf\\xe9.bin");
  EXPECT_EQ(EscapeBytes("a\\b"), "a\\\\b");
  EXPECT_EQ(EscapeBytes("\xe2\x82\xac\n"), "\xe2\x82\xac\\x0a");
  // A name stored before the escape existed, with a lone backslash, comes back unchanged.
  EXPECT_EQ(UnescapeBytes("a\\b"), "a\\b");
  EXPECT_EQ(UnescapeBytes("end\\"), "end\\");
  EXPECT_EQ(UnescapeBytes("\\xZZ"), "\\xZZ");
}

}  // namespace
}  // namespace ferry
