// Golden and property tests of the sweep's search space: the generator against its reference
// vectors, each expression's values, and the sweep file's validation.
#include "sweep/space.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

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
    v = Sample(P(Expression::kLoguniform, {std::log(1e-4), std::log(1e-1)}), r)
            .number;  // exponents
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
  // max_total_runs: 8 over 3 values: random sampling of an all-discrete space draws each
  // combination once, so the sweep has no more trials than combinations.
  EXPECT_EQ(s->max_total_runs, 3);
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
  std::string e =
      Err(head + "  - name: --lr\n    expression: uniform\n    values: [0, 1]\n" + tail);
  EXPECT_NE(e.find("hd.yml:5:17: field 'sampling.parameter_space[0].expression': grid sampling "
                   "takes choice only; "
                   "'--lr' is uniform"),
            std::string::npos)
      << e;
  e =
      Err("sampling:\n  type: random\n  parameter_space:\n  - name: --lr\n    expression: beta\n   "
          " values: [1]\n" +
          tail + "max_total_runs: 4\n");
  EXPECT_NE(e.find("'beta' (--lr) is not an expression; use one of: choice, randint"),
            std::string::npos)
      << e;
  e =
      Err("sampling:\n  type: random\n  parameter_space:\n  - name: --lr\n    expression: "
          "quniform\n    values: [0, 1]\n" +
          tail + "max_total_runs: 4\n");
  EXPECT_NE(e.find("quniform (--lr) takes 3 values [low, high, q] or [mu, sigma, q], got 2"),
            std::string::npos)
      << e;
  e = Err(std::string(kAzureSample) + "extra: 1\n");
  EXPECT_NE(e.find("field 'extra': unknown field"), std::string::npos) << e;
  std::string zero = kAzureSample;
  zero.replace(zero.find("max_concurrent_runs: 2"), 22, "max_concurrent_runs: 0");
  e = Err(zero);
  EXPECT_NE(e.find("hd.yml:15:22: field 'max_concurrent_runs': must be at least 1, got 0"),
            std::string::npos)
      << e;
  std::string both = kAzureSample;
  both.replace(both.find("slack_factor: 0.2"), 17, "slack_factor: 0.2\n    slack_amount: 0.1");
  EXPECT_NE(Err(both).find("exactly one of slack_factor or slack_amount"), std::string::npos);
  std::string goal = kAzureSample;
  goal.replace(goal.find("Maximize"), 8, "Up");
  EXPECT_NE(Err(goal).find("'Up' is not allowed; use Maximize or Minimize"), std::string::npos);
  EXPECT_NE(Err("sampling: [").find("hd.yml:"), std::string::npos);  // YAML syntax, with its place
}

TEST(SweepSpec, GridEnumeratesEveryCombinationUpToTheLimit) {
  auto s = ParseSweepSpec(
      "sampling:\n  type: grid\n  parameter_space:\n"
      "  - {name: --a, expression: choice, values: [1, 2, 3]}\n"
      "  - {name: --b, expression: choice, values: [x, y]}\n"
      "primary_metric_name: m\nprimary_metric_goal: maximize\n",
      "g.yml");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->max_total_runs, 6);  // the grid's size when not given
  ASSERT_EQ(GridSize(s->space), 6u);
  std::vector<std::string> seen;
  for (uint64_t i = 0; i < 6; ++i)
    seen.push_back(GridPoint(s->space, i)[0].text + GridPoint(s->space, i)[1].text);
  EXPECT_EQ(seen,
            (std::vector<std::string>{"1x", "1y", "2x", "2y", "3x", "3y"}));  // golden: row-major
  EXPECT_FALSE(GridPoint(s->space, 0)[1].numeric);
  EXPECT_EQ(GridPoint(s->space, 1)[1].number, 1);  // a non-number choice is its index for models
}

Parameter Choices(size_t n, const std::string& name = "--x") {
  Parameter p;
  p.name = name;
  for (size_t i = 0; i < n; ++i)
    p.choices.push_back({std::to_string(i), static_cast<double>(i), true});
  return p;
}

std::vector<Parameter> Space(std::vector<size_t> sizes) {
  std::vector<Parameter> space;
  for (size_t k = 0; k < sizes.size(); ++k)
    space.push_back(Choices(sizes[k], "--p" + std::to_string(k)));
  return space;
}

// The grid as it was listed before it was decoded lazily: every combination by nested loops.
std::vector<std::vector<Value>> ListedGrid(const std::vector<Parameter>& space) {
  std::vector<std::vector<Value>> out = {{}};
  for (const auto& p : space) {
    std::vector<std::vector<Value>> next;
    for (const auto& prefix : out) {
      for (const auto& c : p.choices) {
        auto row = prefix;
        row.push_back(c);
        next.push_back(std::move(row));
      }
    }
    out = std::move(next);
  }
  return out;
}

TEST(Grid, LazyPointsAreTheListedGridInTheSameOrder) {
  for (const auto& sizes :
       std::vector<std::vector<size_t>>{{1}, {4}, {3, 1, 4, 2}, {5, 5}, {2, 3, 2, 3}, {1, 1, 7}}) {
    const auto space = Space(sizes);
    const auto listed = ListedGrid(space);
    ASSERT_EQ(GridSize(space), listed.size());
    for (uint64_t i = 0; i < listed.size(); ++i) {
      const auto point = GridPoint(space, i);
      ASSERT_EQ(point.size(), sizes.size());
      for (size_t k = 0; k < sizes.size(); ++k)
        EXPECT_EQ(point[k].text, listed[i][k].text) << i << " " << k;
    }
  }
}

TEST(Grid, IsCountedWithOverflowChecksAndDecodedWithoutListing) {
  EXPECT_EQ(GridSize(Space({100, 100, 100, 100, 100, 100, 100, 100, 100})),
            1000000000000000000ull);                                       // 1e18
  EXPECT_EQ(GridSize(Space(std::vector<size_t>(12, 100))), std::nullopt);  // 1e24: past uint64 too
  std::vector<size_t> two62(62, 2);
  EXPECT_EQ(GridSize(Space(two62)), uint64_t{1} << 62);
  two62.push_back(2);  // 2^63: fits uint64 but not the limit of 2^63 - 1
  EXPECT_EQ(GridSize(Space(two62)), std::nullopt);
  two62.back() = 5;  // 5 * 2^62 overflows uint64: caught, not wrapped
  EXPECT_EQ(GridSize(Space(two62)), std::nullopt);
  // The i-th point of a 1e18-point grid is the digits of i in base 100.
  const auto space = Space(std::vector<size_t>(9, 100));
  std::vector<std::string> texts;
  for (const auto& v : GridPoint(space, 123456789)) texts.push_back(v.text);
  EXPECT_EQ(texts, (std::vector<std::string>{"0", "0", "0", "0", "1", "23", "45", "67", "89"}));
  for (const auto& v : GridPoint(space, 999999999999999999ull)) EXPECT_EQ(v.text, "99");
}

TEST(Grid, SizeTextNamesTheFactorsAndTheProduct) {
  EXPECT_EQ(GridSizeText(Space({3, 2})), "3 x 2 = 6");
  EXPECT_EQ(GridSizeText(Space({5})), "5");
  EXPECT_EQ(GridSizeText(Space(std::vector<size_t>(12, 100))), "100^12 = 1e24");
  EXPECT_EQ(GridSizeText(Space({100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 3})),
            "100^11 x 3 = 3e22");
  std::vector<size_t> sizes(62, 2);
  sizes.push_back(5);
  EXPECT_EQ(GridSizeText(Space(sizes)), "2^62 x 5 = 2.3e19");
}

std::string GridSpec(size_t params, size_t choices, const std::string& extra = "") {
  std::string values;
  for (size_t i = 0; i < choices; ++i) values += (i ? ", " : "") + std::to_string(i);
  std::string text = "sampling:\n  type: grid\n  parameter_space:\n";
  for (size_t k = 0; k < params; ++k) {
    text +=
        "  - {name: --p" + std::to_string(k) + ", expression: choice, values: [" + values + "]}\n";
  }
  return text + "primary_metric_name: m\nprimary_metric_goal: Maximize\n" + extra;
}

TEST(SweepSpec, AGridPastTheLimitIsRefusedNamingItsSizesWithoutListingIt) {
  // The issue's case: 12 parameters x 100 choices, max_total_runs 2 (the CLI listed 1e24 points).
  std::string e = Err(GridSpec(12, 100, "max_total_runs: 2\n"));
  EXPECT_NE(e.find("hd.yml:4:3: field 'sampling.parameter_space': grid sampling over 12 parameters "
                   "has 100^12 = "
                   "1e24 points, more than the limit of 2^63-1 (about 9.2e18); use random sampling "
                   "or fewer choices"),
            std::string::npos)
      << e;
  // The same space sampled at random is fine.
  std::string random = GridSpec(12, 100, "max_total_runs: 2\n");
  random.replace(random.find("type: grid"), 10, "type: random");
  EXPECT_EQ(Err(random), "");
  // Under the limit, a grid runs its first max_total_runs points in order.
  auto s = ParseSweepSpec(GridSpec(9, 100, "max_total_runs: 2\n"), "hd.yml");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->max_total_runs, 2);
  // max_total_runs defaults to the grid's size, which must then be a number of trials a sweep may
  // run.
  e = Err(GridSpec(3, 100));
  EXPECT_NE(e.find("field 'max_total_runs': grid sampling over 3 parameters has 100^3 = 1000000 "
                   "points, more than a "
                   "sweep may run (max_total_runs is at most 10000); set max_total_runs to run the "
                   "first ones in "
                   "grid order, or use random sampling or fewer choices"),
            std::string::npos)
      << e;
  s = ParseSweepSpec(GridSpec(2, 100), "hd.yml");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->max_total_runs, 10000);
}

TEST(SweepSpec, EverySizeASpecCanAskForIsBounded) {
  std::string e = Err(GridSpec(1, 3, "max_total_runs: 10001\n"));
  EXPECT_NE(e.find("field 'max_total_runs': must be at most 10000, got 10001 (a sweep runs at most "
                   "10000 trials)"),
            std::string::npos)
      << e;
  // Numbers past int were cut silently before.
  e = Err(GridSpec(1, 3, "max_concurrent_runs: 4294967297\n"));
  EXPECT_NE(e.find("field 'max_concurrent_runs': must be at most 2147483647, got 4294967297"),
            std::string::npos)
      << e;
  e = Err(GridSpec(1, 3, "max_duration_minutes: 99999999999\n"));
  EXPECT_NE(e.find("field 'max_duration_minutes': must be at most 2147483647"), std::string::npos)
      << e;
  // The file itself.
  e = Err(GridSpec(1, 3) + "# " + std::string(kMaxSpecBytes, 'x') + "\n");
  EXPECT_NE(e.find("hd.yml: the sweep file has "), std::string::npos) << e;
  EXPECT_NE(e.find("bytes, more than the limit of 256 KiB"), std::string::npos) << e;
  // Parameters, and choices of one parameter.
  e = Err(GridSpec(kMaxParameters + 1, 1));
  EXPECT_NE(e.find("field 'sampling.parameter_space': 101 parameters, more than the limit of 100"),
            std::string::npos)
      << e;
  e = Err(GridSpec(1, kMaxChoices + 1));
  EXPECT_NE(e.find("field 'sampling.parameter_space[0].values': choice (--p0) has 10001 values, "
                   "more than the limit "
                   "of 10000; use randint, uniform or quniform for a range"),
            std::string::npos)
      << e;
  EXPECT_EQ(Err(GridSpec(1, kMaxChoices, "max_total_runs: 5\n")), "");
  // YAML aliases repeat text without costing text: what they expand to is bounded too.
  std::string big =
      "sampling:\n  type: random\n  parameter_space:\n  - name: --a\n    expression: choice\n"
      "    values: [&s " +
      std::string(100000, 'v');
  for (int i = 0; i < 20; ++i) big += ", *s";
  big += "]\nprimary_metric_name: m\nprimary_metric_goal: Maximize\nmax_total_runs: 1\n";
  e = Err(big);
  EXPECT_NE(e.find("field 'sampling.parameter_space[0]': the parameter space's names and values "
                   "add up to more "
                   "than 1048576 bytes (YAML aliases repeat their text)"),
            std::string::npos)
      << e;
  // randint's bound must be an exact integer.
  std::string randint =
      "sampling:\n  type: random\n  parameter_space:\n"
      "  - {name: --n, expression: randint, values: [1e300]}\n"
      "primary_metric_name: m\nprimary_metric_goal: Maximize\nmax_total_runs: 1\n";
  e = Err(randint);
  EXPECT_NE(e.find("randint (--n): the upper bound 1e+300 is more than 2^53 = 9007199254740992"),
            std::string::npos)
      << e;
  randint.replace(randint.find("1e300"), 5, "9007199254740992");
  EXPECT_EQ(Err(randint), "");
  // Nesting past the YAML parser's depth limit is a bad file, not a crash.
  e = Err(std::string(100000, '['));
  EXPECT_NE(e.find("hd.yml:"), std::string::npos) << e;
}

}  // namespace
}  // namespace ferry::sweep
