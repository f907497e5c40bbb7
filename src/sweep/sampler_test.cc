// Samplers: grid order and exhaustion, random's per-trial determinism (what makes a resumed
// sweep continue exactly), the unit mapping of every expression, and the Bayesian sampler:
// beating random search on a smooth function (minimising and maximising), concurrent trials
// spread apart, a pure function of the history, every expression's values valid, diverged
// and constant metrics taken in stride.
#include "sweep/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace ferry::sweep {
namespace {

SweepSpec Spec(const std::string& sampling, std::vector<Parameter> space, uint64_t seed = 11) {
  SweepSpec s;
  s.sampling = sampling;
  s.space = std::move(space);
  s.seed = seed;
  s.primary_metric_goal = "Minimize";
  return s;
}

Parameter P(const std::string& name, Expression e, std::vector<double> args) {
  Parameter p;
  p.name = name;
  p.expression = e;
  p.args = std::move(args);
  return p;
}

Parameter Choice(const std::string& name, std::vector<std::string> texts) {
  Parameter p;
  p.name = name;
  for (size_t i = 0; i < texts.size(); ++i)
    p.choices.push_back({texts[i], static_cast<double>(i), false});
  return p;
}

TEST(GridSampler, WalksTheGridThenStops) {
  auto s = MakeSampler(Spec("grid", {Choice("--a", {"x", "y"}), Choice("--b", {"1", "2"})}));
  std::vector<Observation> trials;
  std::vector<std::string> seen;
  while (auto p = s->Next(trials)) {
    seen.push_back((*p)[0].text + (*p)[1].text);
    trials.push_back({*p, 1.0});
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"x1", "x2", "y1", "y2"}));
}

TEST(GridSampler, WalksAHugeGridLazilyAndResumesFromTheTrialCount) {
  // 100^9 = 1e18 points: listing them is what made the CLI and the server run out of memory.
  std::vector<Parameter> space;
  for (int k = 0; k < 9; ++k) {
    std::vector<std::string> texts;
    texts.reserve(100);
    for (int i = 0; i < 100; ++i) texts.push_back(std::to_string(i));
    space.push_back(Choice("--p" + std::to_string(k), texts));
  }
  auto s = MakeSampler(Spec("grid", space));
  std::vector<Observation> trials;
  trials.reserve(3);
  for (int i = 0; i < 3; ++i) trials.push_back({*s->Next(trials), std::nullopt});
  EXPECT_EQ(trials[2].point[8].text, "2");  // the last parameter varies fastest
  EXPECT_EQ(trials[2].point[7].text, "0");
  // Its only state is the index, the number of trials so far: a sampler made after a restart
  // and given the stored trials goes on at the same point.
  auto after_restart = MakeSampler(Spec("grid", space));
  std::vector<Observation> first2(trials.begin(), trials.begin() + 2);
  EXPECT_EQ((*after_restart->Next(first2))[8].text, trials[2].point[8].text);
  std::vector<Observation> many(250, trials[0]);  // the 251st point: 2 x 100 + 50
  auto p = *after_restart->Next(many);
  EXPECT_EQ(p[6].text + " " + p[7].text + " " + p[8].text, "0 2 50");
}

TEST(RandomSampler, TrialKIsAPureFunctionOfSeedAndK) {
  auto spec = Spec("random", {P("--lr", Expression::kLoguniform, {-9, -1}),
                              P("--n", Expression::kRandint, {100})});
  auto a = MakeSampler(spec), b = MakeSampler(spec);
  std::vector<Observation> trials;
  trials.reserve(5);
  for (int i = 0; i < 5; ++i) trials.push_back({*a->Next(trials), std::nullopt});
  // A sampler made after a restart, given the same history, continues identically.
  std::vector<Observation> first3(trials.begin(), trials.begin() + 3);
  EXPECT_EQ((*b->Next(first3))[0].text, trials[3].point[0].text);
  EXPECT_NE(trials[0].point[0].text, trials[1].point[0].text);
  auto other = MakeSampler(Spec("random", spec.space, 12));
  EXPECT_NE((*other->Next({}))[0].text, trials[0].point[0].text);  // another seed, another sweep
}

std::vector<std::string> DrawAll(const SweepSpec& spec, size_t limit) {
  auto s = MakeSampler(spec);
  std::vector<Observation> trials;
  std::vector<std::string> seen;
  while (trials.size() < limit) {
    auto p = s->Next(trials);
    if (!p) break;
    std::string key;
    for (const auto& v : *p) key += v.text + " ";
    seen.push_back(key);
    trials.push_back({*p, 1.0});
  }
  return seen;
}

TEST(RandomSampler, AllDiscreteSpaceIsSampledWithoutReplacementThenExhausted) {
  // 12 combinations (the sklearn notebook's kernel x penalty), 12 trials: each one once.
  auto spec = Spec("random", {Choice("--kernel", {"linear", "rbf", "poly", "sigmoid"}),
                              Choice("--penalty", {"0.5", "1", "1.5"})});
  for (uint64_t seed : {1ull, 2ull, 11ull, 12345ull, 0xffffffffffffull}) {
    spec.seed = seed;
    auto seen = DrawAll(spec, 100);
    ASSERT_EQ(seen.size(), 12u) << "seed " << seed;  // exhausted after the 12th
    std::vector<std::string> sorted = seen;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end()) << "seed " << seed;
  }
  // The same seed gives the same order (a resumed sweep goes on where it was); another seed,
  // another order.
  spec.seed = 7;
  auto a = DrawAll(spec, 12);
  EXPECT_EQ(DrawAll(spec, 12), a);
  auto resumed = MakeSampler(spec);
  std::vector<Observation> five(5, {std::vector<Value>(2), 1.0});
  auto sixth = *resumed->Next(five);
  EXPECT_EQ(sixth[0].text + " " + sixth[1].text + " ", a[5]);
  spec.seed = 8;
  EXPECT_NE(DrawAll(spec, 12), a);
  // Not grid order (the permutation is random), yet a permutation.
  auto grid = DrawAll(Spec("grid", spec.space), 12);
  auto b = DrawAll(spec, 12);
  EXPECT_NE(b, grid);
  std::sort(b.begin(), b.end());
  std::sort(grid.begin(), grid.end());
  EXPECT_EQ(b, grid);
}

TEST(RandomSampler, RandintCountsAsDiscreteAndOneValueSpacesWork) {
  auto seen = DrawAll(
      Spec("random", {P("--n", Expression::kRandint, {5}), Choice("--a", {"x", "y"})}), 100);
  ASSERT_EQ(seen.size(), 10u);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen.front(), "0 x ");
  EXPECT_EQ(seen.back(), "4 y ");
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end());
  EXPECT_EQ(DrawAll(Spec("random", {Choice("--only", {"1"})}), 100),
            std::vector<std::string>{"1 "});
  // A big discrete space (10^12 combinations) draws lazily, without repeats in what it draws.
  std::vector<std::string> thousand;
  for (int i = 0; i < 1000; ++i) thousand.push_back(std::to_string(i));
  auto big = DrawAll(Spec("random", {Choice("--a", thousand), Choice("--b", thousand),
                                     P("--c", Expression::kRandint, {1000000})}),
                     2000);
  ASSERT_EQ(big.size(), 2000u);
  std::sort(big.begin(), big.end());
  EXPECT_EQ(std::unique(big.begin(), big.end()), big.end());
}

TEST(RandomSampler, AContinuousParameterKeepsIndependentDraws) {
  // One continuous parameter: never exhausted, and trial k's values are exactly those of its own
  // generator (seed, k), as before sampling without replacement existed.
  auto spec = Spec("random",
                   {Choice("--kernel", {"linear", "rbf"}), P("--c", Expression::kUniform, {0, 1})});
  auto s = MakeSampler(spec);
  std::vector<Observation> trials;
  for (size_t k = 0; k < 50; ++k) {
    auto p = s->Next(trials);
    ASSERT_TRUE(p.has_value()) << k;
    uint64_t x = spec.seed ^ (0x9e3779b97f4a7c15ull * (k + 1));
    Random rng(SplitMix64(x));
    EXPECT_EQ((*p)[0].text, Sample(spec.space[0], rng).text) << k;
    EXPECT_EQ((*p)[1].text, Sample(spec.space[1], rng).text) << k;
    trials.push_back({*p, 1.0});
  }
}

TEST(UnitMapping, RoundTripsEveryExpression) {
  std::vector<Parameter> ps = {P("a", Expression::kRandint, {10}),
                               P("b", Expression::kUniform, {-2, 6}),
                               P("c", Expression::kQuniform, {0, 10, 0.5}),
                               P("d", Expression::kLoguniform, {-5, 0}),
                               P("e", Expression::kQloguniform, {0, 5, 1}),
                               P("f", Expression::kNormal, {3, 2}),
                               P("g", Expression::kQnormal, {3, 2, 0.25}),
                               P("h", Expression::kLognormal, {0, 1}),
                               P("i", Expression::kQlognormal, {1, 0.5, 0.5}),
                               Choice("j", {"adam", "sgd", "rmsprop"})};
  Random r(5);
  for (const auto& p : ps) {
    for (int k = 0; k < 200; ++k) {
      Value v = Sample(p, r);
      double u = ToUnit(p, v);
      ASSERT_TRUE(u >= 0 && u <= 1) << p.name << " " << v.text;
      Value back = FromUnit(p, u);
      bool quantised = p.args.size() == 3 || p.expression == Expression::kRandint ||
                       p.expression == Expression::kChoice;
      if (quantised)
        EXPECT_EQ(back.text, v.text) << p.name;
      else
        EXPECT_NEAR(back.number, v.number, 1e-6 * std::max(1.0, std::fabs(v.number))) << p.name;
    }
  }
}

double Bowl(const std::vector<Value>& p) {  // minimum 0 at (0.3, -1.2)
  return std::pow(p[0].number - 0.3, 2) + 0.5 * std::pow(p[1].number + 1.2, 2);
}

double BestAfter(const SweepSpec& spec, int n) {
  auto s = MakeSampler(spec);
  std::vector<Observation> trials;
  double best = 1e300;
  for (int i = 0; i < n; ++i) {
    auto p = *s->Next(trials);
    double y = Bowl(p);
    best = std::min(best, y);
    trials.push_back({p, y});
  }
  return best;
}

TEST(BayesianSampler, FindsTheMinimumFarBetterThanRandomSearch) {
  std::vector<Parameter> space = {P("--x", Expression::kUniform, {-2, 2}),
                                  P("--y", Expression::kNormal, {0, 2})};
  double bayes = BestAfter(Spec("bayesian", space), 30),
         random = BestAfter(Spec("random", space), 30);
  EXPECT_LT(bayes, 0.01) << "random: " << random;
  EXPECT_LT(bayes, random / 5);
}

TEST(BayesianSampler, ConcurrentTrialsAreSpreadApart) {
  std::vector<Parameter> space = {P("--x", Expression::kUniform, {0, 1})};
  auto s = MakeSampler(Spec("bayesian", space));
  std::vector<Observation> trials;
  for (double x : {0.1, 0.5, 0.9, 0.7}) trials.push_back({{{FormatNumber(x), x, true}}, x * x});
  auto a = *s->Next(trials);
  trials.push_back({a, std::nullopt});  // running
  auto b = *s->Next(trials);
  EXPECT_GT(std::fabs(a[0].number - b[0].number), 0.02) << a[0].text << " " << b[0].text;
}

TEST(BayesianSampler, MaximisesWhenTheGoalSaysSo) {
  std::vector<Parameter> space = {P("--x", Expression::kUniform, {-2, 2}),
                                  P("--y", Expression::kUniform, {-3, 3})};
  SweepSpec spec = Spec("bayesian", space);
  spec.primary_metric_goal = "Maximize";
  auto s = MakeSampler(spec);
  std::vector<Observation> trials;
  double best = -1e300;
  for (int i = 0; i < 30; ++i) {
    auto p = *s->Next(trials);
    best = std::max(best, -Bowl(p));
    trials.push_back({p, -Bowl(p)});
  }
  EXPECT_GT(best, -0.01);
}

TEST(BayesianSampler, IsAPureFunctionOfSpecAndHistory) {
  std::vector<Parameter> space = {P("--lr", Expression::kLoguniform, {-9, -1}),
                                  P("--m", Expression::kUniform, {0, 1}),
                                  Choice("--opt", {"adam", "sgd"})};
  auto spec = Spec("bayesian", space);
  auto a = MakeSampler(spec);
  std::vector<Observation> trials;
  for (int i = 0; i < 12; ++i) {
    auto p = *a->Next(trials);
    double y =
        std::pow(std::log(p[0].number) + 5, 2) + p[1].number + (p[2].text == "sgd" ? 0.5 : 0);
    trials.push_back({p, i == 10 ? std::nullopt : std::optional<double>(y)});  // one still running
  }
  auto text = [](const std::vector<Value>& p) {
    return p[0].text + " " + p[1].text + " " + p[2].text;
  };
  const std::string next = text(*a->Next(trials));
  // A sampler made after a restart, given the same history, suggests the same; so does asking
  // again.
  EXPECT_EQ(text(*MakeSampler(spec)->Next(trials)), next);
  EXPECT_EQ(text(*a->Next(trials)), next);
  auto other = MakeSampler(Spec("bayesian", space, 12));
  EXPECT_NE(text(*other->Next(trials)), next);  // another seed, other candidates
}

TEST(BayesianSampler, ConditionsOnABoundedSetOfTrials) {
  // Warm start from several sweeps, or a long sweep: 1,200 observations and 10 running trials.
  std::vector<Parameter> space = {P("--x", Expression::kUniform, {0, 1}),
                                  P("--y", Expression::kUniform, {0, 1})};
  std::vector<Observation> history;
  for (int i = 0; i < 1210; ++i) {
    const double x = (i % 37) / 37.0, y = (i % 41) / 41.0;
    const double v = std::pow(x - 0.3, 2) + std::pow(y - 0.6, 2);
    history.push_back({{{FormatNumber(x), x, true}, {FormatNumber(y), y, true}},
                       i >= 1200 ? std::nullopt
                       : i == 7  ? std::optional<double>(std::nan(""))
                                 : std::optional(v)});
  }
  const auto kept = ModelTrials(history, /*maximize=*/false);
  ASSERT_EQ(kept.size(), kModelMax);
  // The best half by the goal...
  std::vector<double> values;
  for (const auto& t : history) {
    if (t.metric && std::isfinite(*t.metric)) values.push_back(*t.metric);
  }
  std::sort(values.begin(), values.end());
  size_t best_kept = 0;
  for (const auto& t : kept)
    best_kept += t.metric && *t.metric <= values[kModelMax / 2 - 1] ? 1 : 0;
  EXPECT_GE(best_kept, kModelMax / 2);
  // ...and the most recent, running ones included, in their order; a diverged one is the worst.
  EXPECT_FALSE(kept.back().metric.has_value());
  EXPECT_EQ(kept.back().point[0].text, history.back().point[0].text);
  for (const auto& t : kept) EXPECT_FALSE(t.metric && std::isnan(*t.metric));
  EXPECT_EQ(
      ModelTrials(std::vector<Observation>(history.begin(), history.begin() + 20), false).size(),
      20u);
  // The sampler conditions on them and suggests a point of the space.
  auto p = *MakeSampler(Spec("bayesian", space))->Next(history);
  EXPECT_TRUE(p[0].number >= 0 && p[0].number <= 1 && p[1].number >= 0 && p[1].number <= 1);
}

TEST(BayesianSampler, SuggestsValidValuesOfEveryExpression) {
  std::vector<Parameter> space = {P("a", Expression::kRandint, {10}),
                                  P("b", Expression::kUniform, {-2, 6}),
                                  P("c", Expression::kQuniform, {0, 10, 0.5}),
                                  P("d", Expression::kLoguniform, {-5, 0}),
                                  P("e", Expression::kQloguniform, {0, 5, 1}),
                                  P("f", Expression::kNormal, {3, 2}),
                                  P("g", Expression::kQnormal, {3, 2, 0.25}),
                                  P("h", Expression::kLognormal, {0, 1}),
                                  P("i", Expression::kQlognormal, {1, 0.5, 0.5}),
                                  Choice("j", {"adam", "sgd", "rmsprop"})};
  auto s = MakeSampler(Spec("bayesian", space));
  std::vector<Observation> trials;
  for (int k = 0; k < 25; ++k) {
    auto p = *s->Next(trials);
    ASSERT_EQ(p.size(), space.size());
    double y = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      const auto& q = space[i];
      ASSERT_TRUE(std::isfinite(p[i].number)) << q.name;
      if (q.expression == Expression::kChoice || q.expression == Expression::kRandint ||
          q.args.size() == 3) {
        EXPECT_EQ(FromUnit(q, ToUnit(q, p[i])).text, p[i].text) << q.name;  // one of its values
      }
      if (q.expression == Expression::kRandint) {
        EXPECT_TRUE(p[i].number >= 0 && p[i].number < 10) << p[i].text;
      }
      if (q.expression == Expression::kUniform) {
        EXPECT_TRUE(p[i].number >= -2 && p[i].number <= 6) << p[i].text;
      }
      if (q.expression == Expression::kLoguniform) {
        EXPECT_TRUE(p[i].number >= std::exp(-5) && p[i].number <= 1) << p[i].text;
      }
      y += std::pow(ToUnit(q, p[i]) - 0.3, 2);
    }
    trials.push_back({p, y});
  }
}

TEST(BayesianSampler, TakesDivergedAndConstantMetricsInStride) {
  std::vector<Parameter> space = {P("--x", Expression::kUniform, {0, 1}),
                                  P("--y", Expression::kUniform, {0, 1})};
  for (double constant : {1.0, std::nan("")}) {
    auto s = MakeSampler(Spec("bayesian", space));
    std::vector<Observation> trials;
    for (int i = 0; i < 8; ++i) {
      auto p = *s->Next(trials);
      ASSERT_TRUE(p[0].number >= 0 && p[0].number <= 1 && p[1].number >= 0 && p[1].number <= 1)
          << constant;
      trials.push_back({p, constant});
    }
  }
  // Diverged runs (NaN, infinite loss) count as the worst: the search still closes in.
  auto s = MakeSampler(Spec("bayesian", space));
  std::vector<Observation> trials;
  double best = 1e300;
  for (int i = 0; i < 25; ++i) {
    auto p = *s->Next(trials);
    double y = std::pow(p[0].number - 0.3, 2) + std::pow(p[1].number - 0.6, 2);
    best = std::min(best, y);
    trials.push_back({p, p[0].number > 0.8 ? std::nan("") : p[1].number < 0.2 ? HUGE_VAL : y});
  }
  EXPECT_LT(best, 0.001);
}

}  // namespace
}  // namespace ferry::sweep
