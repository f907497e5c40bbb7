// Golden tests of the early-termination policies: hand-computed cases of Azure ML's rules
// (and ASHA's), each with the reason's numbers.
#include "sweep/policy.h"

#include <gtest/gtest.h>

namespace ferry::sweep {
namespace {

SweepSpec Spec(const std::string& policy, const std::string& goal = "Maximize") {
  SweepSpec s;
  s.policy = policy;
  s.primary_metric_goal = goal;
  return s;
}

std::vector<TrialReports> Trials(std::vector<std::vector<double>> values) {
  std::vector<TrialReports> out;
  for (size_t i = 0; i < values.size(); ++i)
    out.push_back({"t" + std::to_string(i), false, values[i]});
  return out;
}

TEST(Bandit, SlackFactorAndAmountInBothDirections) {
  auto s = Spec("BanditPolicy");
  s.slack_factor = 0.2;
  s.slack_factor_set = true;
  auto t = Trials({{0.8}, {0.6}, {0.7}});
  auto why = ShouldStop(s, t, 1, 1);
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, "BanditPolicy at interval 1: 0.6 < best 0.8 / (1 + 0.2) = 0.666667");
  EXPECT_FALSE(ShouldStop(s, t, 0, 1));
  EXPECT_FALSE(ShouldStop(s, t, 2, 1));  // 0.7 >= 0.667
  s.slack_factor_set = false;
  s.slack_amount_set = true;
  s.slack_amount = 0.05;
  EXPECT_TRUE(ShouldStop(s, t, 2, 1));  // 0.7 < 0.8 - 0.05
  auto m = Spec("BanditPolicy", "Minimize");
  m.slack_factor = 0.2;
  m.slack_factor_set = true;
  auto l = Trials({{0.5}, {0.65}, {0.55}});
  ASSERT_TRUE(ShouldStop(m, l, 1, 1));
  EXPECT_EQ(*ShouldStop(m, l, 1, 1),
            "BanditPolicy at interval 1: 0.65 > best 0.5 * (1 + 0.2) = 0.6");
  EXPECT_FALSE(ShouldStop(m, l, 2, 1));
}

TEST(Bandit, EvaluationIntervalAndDelay) {
  auto s = Spec("BanditPolicy");
  s.slack_amount = 0.1;
  s.slack_amount_set = true;
  s.evaluation_interval = 2;
  s.delay_evaluation = 3;
  auto t = Trials({{1, 1, 1, 1, 1}, {0, 0, 0, 0, 0}});
  EXPECT_FALSE(ShouldStop(s, t, 1, 1));
  EXPECT_FALSE(ShouldStop(s, t, 1, 2));  // before the delay
  EXPECT_FALSE(ShouldStop(s, t, 1, 3));  // not on the interval
  EXPECT_TRUE(ShouldStop(s, t, 1, 4));
  EXPECT_FALSE(ShouldStop(s, t, 1, 6));  // not reported yet
}

TEST(MedianStopping, BestSoFarAgainstTheMedianOfRunningAverages) {
  auto s = Spec("MedianStoppingPolicy");
  auto t = Trials({{1, 2, 3}, {1, 1, 1}, {0.1, 0.2, 0.3}});
  // Running averages at 3: 2, 1, 0.2 -> median 1.
  auto why = ShouldStop(s, t, 2, 3);
  ASSERT_TRUE(why);
  EXPECT_EQ(*why,
            "MedianStoppingPolicy at interval 3: best 0.3 is worse than the median 1 of 3 trials' "
            "running averages");
  EXPECT_FALSE(ShouldStop(s, t, 1, 3));                // equal to the median is not worse
  EXPECT_FALSE(ShouldStop(s, Trials({{0.1}}), 0, 1));  // alone: nothing to compare with
}

TEST(TruncationSelection, StopsTheLowestPercentageAtTheInterval) {
  auto s = Spec("TruncationSelectionPolicy");
  s.truncation_percentage = 30;
  auto t = Trials({{0.1}, {0.5}, {0.9}, {0.7}});  // 30 % of 4 -> 1 trial
  ASSERT_TRUE(ShouldStop(s, t, 0, 1));
  EXPECT_EQ(*ShouldStop(s, t, 0, 1),
            "TruncationSelectionPolicy at interval 1: 0.1 is in the lowest 30% (1 of 4 trials)");
  EXPECT_FALSE(ShouldStop(s, t, 1, 1));
  s.truncation_percentage = 50;
  EXPECT_TRUE(ShouldStop(s, t, 1, 1));
  EXPECT_FALSE(ShouldStop(s, t, 3, 1));
  EXPECT_FALSE(ShouldStop(s, Trials({{1}, {1}, {1}, {1}}), 0, 1));  // ties protect each other
  // exclude_finished_jobs: finished trials are not counted.
  s.truncation_percentage = 50;
  s.exclude_finished_jobs = true;
  auto f = Trials({{0.5}, {0.1}, {0.2}, {0.9}});
  f[1].finished = f[2].finished = true;
  EXPECT_TRUE(ShouldStop(s, f, 0, 1));  // only 0.5 and 0.9 count: 0.5 is the lowest half
}

TEST(Asha, RungsAndTopFractionAsynchronously) {
  auto s = Spec("ASHA");
  s.grace_period = 1;
  s.reduction_factor = 2;
  s.max_t = 8;
  EXPECT_EQ(AshaRungs(s), (std::vector<int>{1, 2, 4}));
  auto t = Trials({{0.9}, {0.8}, {0.3}, {0.2}});
  ASSERT_TRUE(ShouldStop(s, t, 2, 1));
  EXPECT_EQ(*ShouldStop(s, t, 2, 1),
            "ASHA at interval 1: 0.3 is not in the top 2 of 4 at rung 1 (cutoff 0.8)");
  EXPECT_FALSE(ShouldStop(s, t, 1, 1));
  EXPECT_FALSE(ShouldStop(s, Trials({{0.1}}), 0, 1));  // first at the rung: promoted
  auto u = Trials({{0.9, 0.1, 0.1}, {0.8, 0.9, 0.9}});
  EXPECT_FALSE(ShouldStop(s, u, 0, 3));  // 3 is not a rung
}

}  // namespace
}  // namespace ferry::sweep
