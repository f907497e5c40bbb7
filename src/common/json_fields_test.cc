// Unit tests for the JSON body field readers: values, defaults and the exact error wording.
#include "common/json_fields.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

using nlohmann::json;

TEST(JsonFields, StringField) {
  json j = {{"a", "x"}, {"n", nullptr}, {"i", 3}};
  EXPECT_EQ(*StringField(j, "a", true), "x");
  EXPECT_EQ(*StringField(j, "missing", false), "");
  EXPECT_EQ(*StringField(j, "n", false), "");
  EXPECT_EQ(StringField(j, "missing", true).status().message(), "field 'missing' is required");
  EXPECT_EQ(StringField(j, "n", true).status().message(), "field 'n' is required");
  auto bad = StringField(j, "i", false);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "field 'i' must be a string");
}

TEST(JsonFields, StringMapField) {
  json j = {{"tags", {{"a", "1"}, {"b", 2}}}, {"list", json::array()}, {"e", {{"", "v"}}}};
  auto m = StringMapField(j, "tags");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->at("a"), "1");
  EXPECT_EQ(m->at("b"), "2");
  EXPECT_TRUE(StringMapField(j, "missing")->empty());
  EXPECT_EQ(StringMapField(j, "list").status().message(), "field 'list' must be an object");
  EXPECT_EQ(StringMapField(j, "e").status().message(), "field 'e' has an empty key");
}

TEST(JsonFields, IntAndPortFields) {
  json j = {{"n", 7}, {"s", "7"}, {"p", 0}, {"q", 22}, {"big", 70000}};
  EXPECT_EQ(*IntField(j, "n", 1), 7);
  EXPECT_EQ(*IntField(j, "missing", 5), 5);
  EXPECT_EQ(IntField(j, "s", 1).status().message(), "field 's' must be an integer");
  EXPECT_EQ(*PortField(j, "q", 1), 22);
  EXPECT_EQ(*PortField(j, "missing", 2222), 2222);
  EXPECT_EQ(PortField(j, "p", 1).status().message(), "field 'p' must be 1-65535");
  EXPECT_EQ(PortField(j, "big", 1).status().message(), "field 'big' must be 1-65535");
  EXPECT_EQ(PortField(j, "s", 1).status().message(), "field 's' must be 1-65535");
}

}  // namespace
}  // namespace ferry
