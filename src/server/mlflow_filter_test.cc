// MLflow search filters and orderings: parsing (with errors that name the clause) and
// matching, golden cases from MLflow's documented syntax.
#include "server/mlflow_filter.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace ferry::server::mlflow {
namespace {

RunView MakeView(const std::string& id, double acc, const std::string& lr,
                 const std::string& status, double start) {
  RunView v;
  if (acc >= 0) v.metrics["acc"] = acc;
  v.params["lr"] = lr;
  v.tags["mlflow.runName"] = "run-" + id;
  v.tags["team"] = id == "a" ? "Vision" : "nlp";
  v.attributes = {{"run_id", id}, {"status", status}, {"run_name", "run-" + id}};
  v.times = {{"start_time", start}};
  return v;
}

TEST(MlflowFilter, MatchesMetricsParamsTagsAndAttributes) {
  RunView a = MakeView("a", 0.91, "0.1", "FINISHED", 1000),
          b = MakeView("b", 0.75, "0.01", "RUNNING", 2000);
  auto f = ParseFilter("metrics.acc > 0.8 and params.lr = '0.1'");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_TRUE(f->Matches(a));
  EXPECT_FALSE(f->Matches(b));
  auto g = ParseFilter("tags.team ILIKE 'vis%' AND attributes.status = 'FINISHED'");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_TRUE(g->Matches(a));
  EXPECT_FALSE(g->Matches(b));
  auto h = ParseFilter("tags.`mlflow.runName` LIKE 'run-_' and attributes.run_id IN ('b', 'c')");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_FALSE(h->Matches(a));
  EXPECT_TRUE(h->Matches(b));
  auto t = ParseFilter("attributes.start_time >= 1500 and status != 'FAILED'");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_FALSE(t->Matches(a));
  EXPECT_TRUE(t->Matches(b));
  // A run without the metric never matches a comparison on it.
  RunView c = MakeView("c", -1, "0.1", "FINISHED", 0);
  EXPECT_FALSE(f->Matches(c));
  EXPECT_TRUE(ParseFilter("")->Matches(c));
}

TEST(MlflowFilter, ErrorsNameTheClause) {
  auto or_ = ParseFilter("metrics.acc > 1 or metrics.acc < 0");
  ASSERT_FALSE(or_.ok());
  EXPECT_NE(or_.status().message().find("AND"), std::string::npos);
  auto kind = ParseFilter("metricz.acc > 1");
  ASSERT_FALSE(kind.ok());
  EXPECT_NE(kind.status().message().find("'metricz'"), std::string::npos);
  auto num = ParseFilter("metrics.acc > 'high'");
  ASSERT_FALSE(num.ok());
  EXPECT_NE(num.status().message().find("not a number"), std::string::npos);
  auto quote = ParseFilter("params.lr = 0.1");
  ASSERT_FALSE(quote.ok());
  EXPECT_NE(quote.status().message().find("quoted"), std::string::npos);
  auto op = ParseFilter("params.lr > '0.1'");
  ASSERT_FALSE(op.ok());
  EXPECT_NE(op.status().message().find("does not apply"), std::string::npos);
  EXPECT_FALSE(ParseFilter("params.lr = '0.1").ok());  // unterminated
  EXPECT_FALSE(ParseOrderBy({"metrics.acc sideways"}).ok());
}

TEST(MlflowFilter, OrderByWithMissingValuesLastAndDefaultTieBreak) {
  std::vector<RunView> runs = {
      MakeView("a", 0.5, "1", "FINISHED", 10), MakeView("b", 0.9, "2", "FINISHED", 20),
      MakeView("c", -1, "3", "FINISHED", 30), MakeView("d", 0.9, "4", "FINISHED", 40)};
  auto desc = ParseOrderBy({"metrics.acc DESC"});
  ASSERT_TRUE(desc.ok());
  std::stable_sort(runs.begin(), runs.end(), [&](auto& x, auto& y) { return Before(*desc, x, y); });
  std::string ids;
  for (auto& r : runs) ids += r.attributes["run_id"];
  EXPECT_EQ(ids, "dbac");  // ties: newest first; no metric: last
  auto by_param = ParseOrderBy({"params.lr"});
  std::stable_sort(runs.begin(), runs.end(),
                   [&](auto& x, auto& y) { return Before(*by_param, x, y); });
  ids.clear();
  for (auto& r : runs) ids += r.attributes["run_id"];
  EXPECT_EQ(ids, "abcd");
  auto none = ParseOrderBy({});
  std::stable_sort(runs.begin(), runs.end(), [&](auto& x, auto& y) { return Before(*none, x, y); });
  ids.clear();
  for (auto& r : runs) ids += r.attributes["run_id"];
  EXPECT_EQ(ids, "dcba");  // default: start time, newest first
}

TEST(MlflowFilter, LikePatterns) {
  EXPECT_TRUE(Like("train-01", "train-%", false));
  EXPECT_TRUE(Like("train-01", "%-0_", false));
  EXPECT_FALSE(Like("Train-01", "train%", false));
  EXPECT_TRUE(Like("Train-01", "train%", true));
  EXPECT_TRUE(Like("", "%", false));
  EXPECT_FALSE(Like("abc", "a_", false));
}

}  // namespace
}  // namespace ferry::server::mlflow
