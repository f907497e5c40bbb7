// ParsePlan: typed fields with their defaults, and errors that name the bad field.
#include "agent/plan.h"

#include <gtest/gtest.h>

namespace ferry::agent {
namespace {

using nlohmann::json;

TEST(PlanTest, ReadsFieldsAndDefaults) {
  json plan = {{"run", {{"script", "t.py"}, {"arguments", {"a", "b"}}, {"gpu_ids", {0, 2}}}},
               {"manifest_id", "abc"},
               {"mlflow_token", "m"}};
  auto p = ParsePlan(plan, 2);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->script, "t.py");
  EXPECT_EQ(p->arguments, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p->gpu_ids, (std::vector<int>{0, 2}));
  EXPECT_EQ(p->python, "python3");
  EXPECT_EQ(p->attempt, 1);
  EXPECT_EQ(p->log_size, 0u);
  EXPECT_EQ(p->next_metric_seq, int64_t{2} << 40);  // the rank's own range
  EXPECT_EQ(p->mlflow_token, "m");
}

TEST(PlanTest, ErrorsNameTheField) {
  auto message = [](const json& plan) { return ParsePlan(plan, 0).status().message(); };
  EXPECT_NE(message(json::array()).find("not a JSON object"), std::string::npos);
  EXPECT_NE(message(json{{"manifest_id", "x"}}).find("'run'"), std::string::npos);
  EXPECT_NE(message(json{{"run", json::object()}}).find("'manifest_id'"), std::string::npos);
  EXPECT_NE(
      message(json{{"run", {{"arguments", "a b"}}}, {"manifest_id", "x"}}).find("'run.arguments'"),
      std::string::npos);
  EXPECT_NE(message(json{{"run", {{"attempt", "2"}}}, {"manifest_id", "x"}}).find("'run.attempt'"),
            std::string::npos);
  EXPECT_NE(message(json{{"run", json::object()}, {"manifest_id", "x"}, {"log_size", -1}})
                .find("'log_size'"),
            std::string::npos);
}

}  // namespace
}  // namespace ferry::agent
