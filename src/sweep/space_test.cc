// Golden and property tests of the sweep's search space: the generator against its reference
// vectors, each expression's values, and the sweep file's validation.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "sweep/space.h"

namespace ferry::sweep {
namespace {

TEST(Random, MatchesTheReferenceGenerators) {
  // splitmix64 (Vigna's reference, seed 1234567) and xoshiro256** from state {1, 2, 3, 4}.
  uint64_t x = 1234567;
  EXPECT_EQ(SplitMix64(x), 6457827717110365317ull);
  EXPECT_EQ(SplitMix64(x), 3203168211198807973ull);
  EXPECT_EQ(SplitMix64(x), 9817491932198370423ull);
  Random r = Random::FromState(1, 2, 3, 4);
  EXPECT_EQ(r.Next(), 11520ull);
  EXPECT_EQ(r.Next(), 0ull);
  EXPECT_EQ(r.Next(), 1509978240ull);
  EXPECT_EQ(r.Next(), 1215971899390074240ull);
}

TEST(Random, SameSeedSameSequenceAndSaneDistributions) {
  Random a(42), b(42), c(43);
  EXPECT_EQ(a.Next(), b.Next());
  EXPECT_NE(Random(42).Next(), c.Next());
  Random r(7);
  double sum = 0, sq = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    double z = r.Normal();
    sum += z;
    sq += z * z;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sq / n, 1.0, 0.01);
  std::vector<int> counts(5);
  for (int i = 0; i < 50000; ++i) ++counts[static_cast<size_t>(r.Below(5))];
  for (int k : counts) EXPECT_NEAR(k, 10000, 400);
}

Parameter P(Expression e, std::vector<double> args) {
  Parameter p;
  p.name = "--x";
  p.expression = e;
  p.args = std::move(args);
  return p;
}

TEST(Sample, EveryExpressionKeepsItsAzureMeaning) {
  Random r(1);
  for (int i = 0; i < 2000; ++i) {
    double v = Sample(P(Expression::kRandint, {5}), r).number;
    EXPECT_TRUE(v >= 0 && v < 5 && v == std::floor(v));
    v = Sample(P(Expression::kUniform, {-1, 3}), r).number;
    EXPECT_TRUE(v >= -1 && v < 3);
    v = Sample(P(Expression::kQuniform, {0, 10, 2.5}), r).number;
    EXPECT_DOUBLE_EQ(std::fmod(v, 2.5), 0.0);
    EXPECT_TRUE(v >= 0 && v <= 10);
    v = Sample(P(Expression::kLoguniform, {std::log(1e-4), std::log(1e-1)}), r).number;  // exponents
    EXPECT_TRUE(v >= 1e-4 * 0.999999 && v < 1e-1);
    v = Sample(P(Expression::kQloguniform, {0, std::log(100.0), 5}), r).number;
    EXPECT_DOUBLE_EQ(std::fmod(v, 5), 0.0);
    EXPECT_GT(Sample(P(Expression::kLognormal, {0, 1}), r).number, 0);
    v = Sample(P(Expression::kQnormal, {10, 3, 1}), r).number;
    EXPECT_EQ(v, std::floor(v));
    EXPECT_GE(Sample(P(Expression::kQlognormal, {1, 0.5, 0.5}), r).number, 0);
  }
  // The text the script gets: integers without a decimal point.
  EXPECT_EQ(Sample(P(Expression::kRandint, {1}), r).text, "0");
  EXPECT_EQ(FormatNumber(0.001), "0.001");
  EXPECT_EQ(FormatNumber(2.0), "2");
}

constexpr const char* kAzureSample = R"(# the sample of Azure ML's CLI documentation
sampling:
    type: random
    parameter_space:
    - name: --penalty
      expression: choice
      values: [0.5, 1, 1.5]
policy:
    type: BanditPolicy
    evaluation_interval: 1
    slack_factor: 0.2
primary_metric_name: Accuracy
primary_metric_goal: Maximize
max_total_runs: 8
max_concurrent_runs: 2
max_duration_minutes: 100
)";

TEST(SweepSpec, AzureSampleIsAcceptedAsWritten) {
  auto s = ParseSweepSpec(kAzureSample, "hd.yml");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->sampling, "random");
  ASSERT_EQ(s->space.size(), 1u);
  EXPECT_EQ(s->space[0].name, "--penalty");
  ASSERT_EQ(s->space[0].choices.size(), 3u);
  EXPECT_EQ(s->space[0].choices[1].text, "1");
  EXPECT_EQ(s->policy, "BanditPolicy");
  EXPECT_DOUBLE_EQ(s->slack_factor, 0.2);
  EXPECT_EQ(s->primary_metric_goal, "Maximize");
  EXPECT_EQ(s->max_total_runs, 8);
  EXPECT_EQ(s->max_concurrent_runs, 2);
  EXPECT_EQ(s->max_duration_minutes, 100);
  Random r(3);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(Sample(s->space[0], r).text);
  EXPECT_EQ(seen, (std::set<std::string>{"0.5", "1", "1.5"}));
}

std::string Err(const std::string& text) {
  auto s = ParseSweepSpec(text, "hd.yml");
  return s.ok() ? "" : s.status().message();
}

TEST(SweepSpec, BadSpecsAreRefusedNamingFileLineAndField) {
  const std::string head = "sampling:\n  type: grid\n  parameter_space:\n";
  const std::string tail = "primary_metric_name: loss\nprimary_metric_goal: Minimize\n";
  std::string e = Err(head + "  - name: --lr\n    expression: uniform\n    values: [0, 1]\n" + tail);
  EXPECT_NE(e.find("hd.yml:5:17: field 'sampling.parameter_space[0].expression': grid sampling takes choice only; "
                   "'--lr' is uniform"), std::string::npos) << e;
  e = Err("sampling:\n  type: random\n  parameter_space:\n  - name: --lr\n    expression: beta\n    values: [1]\n" + tail +
          "max_total_runs: 4\n");
  EXPECT_NE(e.find("'beta' (--lr) is not an expression; use one of: choice, randint"), std::string::npos) << e;
  e = Err("sampling:\n  type: random\n  parameter_space:\n  - name: --lr\n    expression: quniform\n    values: [0, 1]\n" +
          tail + "max_total_runs: 4\n");
  EXPECT_NE(e.find("quniform (--lr) takes 3 values [low, high, q] or [mu, sigma, q], got 2"), std::string::npos) << e;
  e = Err(std::string(kAzureSample) + "extra: 1\n");
  EXPECT_NE(e.find("field 'extra': unknown field"), std::string::npos) << e;
  std::string zero = kAzureSample;
  zero.replace(zero.find("max_concurrent_runs: 2"), 22, "max_concurrent_runs: 0");
  e = Err(zero);
  EXPECT_NE(e.find("hd.yml:15:22: field 'max_concurrent_runs': must be at least 1, got 0"), std::string::npos) << e;
  std::string both = kAzureSample;
  both.replace(both.find("slack_factor: 0.2"), 17, "slack_factor: 0.2\n    slack_amount: 0.1");
  EXPECT_NE(Err(both).find("exactly one of slack_factor or slack_amount"), std::string::npos);
  std::string goal = kAzureSample;
  goal.replace(goal.find("Maximize"), 8, "Up");
  EXPECT_NE(Err(goal).find("'Up' is not allowed; use Maximize or Minimize"), std::string::npos);
  EXPECT_NE(Err("sampling: [").find("hd.yml:"), std::string::npos);  // YAML syntax, with its place
}

TEST(SweepSpec, GridEnumeratesEveryCombinationUpToTheLimit) {
  auto s = ParseSweepSpec("sampling:\n  type: grid\n  parameter_space:\n"
                          "  - {name: --a, expression: choice, values: [1, 2, 3]}\n"
                          "  - {name: --b, expression: choice, values: [x, y]}\n"
                          "primary_metric_name: m\nprimary_metric_goal: maximize\n",
                          "g.yml");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->max_total_runs, 6);  // the grid's size when not given
  auto points = GridPoints(s->space);
  ASSERT_EQ(points.size(), 6u);
  EXPECT_EQ(points[0][0].text + points[0][1].text, "1x");
  EXPECT_EQ(points[5][0].text + points[5][1].text, "3y");
  EXPECT_FALSE(points[0][1].numeric);
  EXPECT_EQ(points[1][1].number, 1);  // a non-number choice is its index for models
}

}  // namespace
}  // namespace ferry::sweep
