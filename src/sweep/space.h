// Hyperparameter sweeps: the search space (Azure ML HyperDrive's ten parameter expressions),
// the sweep definition file (`hdconfig.yml`, Azure ML CLI format) and the deterministic
// random numbers every sampler draws from (golden sequences must not depend on the C++
// library's distributions, which are implementation-defined).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace ferry::sweep {

enum class Expression {
  kChoice,       // choice(values...)
  kRandint,      // randint(upper): an integer in [0, upper)
  kUniform,      // uniform(low, high)
  kQuniform,     // quniform(low, high, q): round(uniform(low, high) / q) * q
  kLoguniform,   // loguniform(low, high): exp(uniform(low, high))
  kQloguniform,  // qloguniform(low, high, q): round(exp(uniform(low, high)) / q) * q
  kNormal,       // normal(mu, sigma)
  kQnormal,      // qnormal(mu, sigma, q): round(normal(mu, sigma) / q) * q
  kLognormal,    // lognormal(mu, sigma): exp(normal(mu, sigma))
  kQlognormal,   // qlognormal(mu, sigma, q): round(exp(normal(mu, sigma)) / q) * q
};

const char* ExpressionName(Expression e);

// One value as the script receives it (argument text) and as models see it (a number; for
// choices of non-numbers, the index of the choice).
struct Value {
  std::string text;
  double number = 0;
  bool numeric = true;
};

struct Parameter {
  std::string name;  // as it goes on the command line: "--penalty"
  Expression expression = Expression::kChoice;
  std::vector<Value> choices;  // kChoice
  std::vector<double> args;    // the others: (upper) | (low, high[, q]) | (mu, sigma[, q])
};

// The deterministic generator of all sampling: splitmix64-seeded xoshiro256**.
uint64_t SplitMix64(uint64_t& state);
class Random {
 public:
  explicit Random(uint64_t seed);
  static Random FromState(uint64_t s0, uint64_t s1, uint64_t s2, uint64_t s3);  // tests
  uint64_t Next();
  double Uniform01();        // [0, 1), 53 bits
  double Normal();           // standard normal, Box-Muller (no cached second value)
  int64_t Below(int64_t n);  // [0, n), unbiased

 private:
  uint64_t s_[4];
};

// Draws one value of the parameter.
Value Sample(const Parameter& p, Random& rng);

// Text of a number as a script argument: integers without ".0", others shortest round-trip.
std::string FormatNumber(double v);

// Limits that keep a sweep file from making the CLI or the server allocate without bound
// (docs/sweeps.md, "Limits"); ParseSweepSpec refuses a file past any of them, naming it.
inline constexpr size_t kMaxSpecBytes = 256 * 1024;  // the file's text
inline constexpr size_t kMaxParameters = 100;        // entries of sampling.parameter_space
inline constexpr size_t kMaxChoices = 10000;         // values of one choice parameter
// Names and choice texts as parsed, summed: a YAML alias repeats its anchor's text without
// costing text, so this is checked apart from the file's size.
inline constexpr size_t kMaxSpaceBytes = 1024 * 1024;
inline constexpr int kMaxTotalRuns = 10000;  // max_total_runs: trials of one sweep
// A grid's combinations: counted and indexed in 63 bits (its trials are max_total_runs of them,
// taken in order, so the limit is about counting safely, not about what runs).
inline constexpr uint64_t kMaxGridPoints = INT64_MAX;
inline constexpr double kMaxRandintUpper = 9007199254740992.0;  // 2^53: exact in a double

struct SweepSpec {
  std::string sampling = "random";  // random | grid | bayesian
  uint64_t seed = 0;
  bool seeded = false;
  std::vector<Parameter> space;
  std::string policy =
      "NoTerminationPolicy";  // BanditPolicy | MedianStoppingPolicy |
                              // TruncationSelectionPolicy | NoTerminationPolicy | ASHA
  int evaluation_interval = 1;
  int delay_evaluation = 0;
  double slack_factor = 0, slack_amount = 0;
  bool slack_factor_set = false, slack_amount_set = false;
  int truncation_percentage = 0;
  bool exclude_finished_jobs = false;
  int grace_period = 1, reduction_factor = 3, max_t = 0;  // ASHA
  std::string primary_metric_name;
  std::string primary_metric_goal;  // Maximize | Minimize
  int max_total_runs = 0;
  int max_concurrent_runs = 0;
  int max_duration_minutes = 0;  // 0: no limit
};

struct ParseOptions {
  // Only what Azure ML itself accepts: Bayesian sampling with choice, uniform and quniform and
  // no early termination; no ASHA. Off by default (Ferry's Bayesian takes every expression and
  // any policy).
  bool azure_strict = false;
};

// Parses an Azure ML CLI sweep file; errors name file:line:column and the field. Checks the
// whole spec (grid needs choice only and at most max_total_runs combinations, ...).
Result<SweepSpec> ParseSweepSpec(const std::string& text, const std::string& file_name,
                                 const ParseOptions& options = {});

// The run parameter a sampled argument is stored under: its name without leading dashes
// ("--learning_rate" -> "learning_rate"), as for arguments a run was submitted with.
std::string ParamKey(const std::string& name);

// The fixed arguments of the run configuration must not set what the sweep samples.
Status CheckFixedArguments(const SweepSpec& spec, const std::vector<std::string>& arguments);

// The value of the parameter that a trial got as `text` (reading a trial back from the store).
Result<Value> ValueFromText(const Parameter& p, const std::string& text);

// Grid sampling over choice parameters, never materialised. The grid's size is the product of
// the parameters' numbers of choices; nullopt when it is more than kMaxGridPoints (counted with
// checked multiplication, so it never overflows).
std::optional<uint64_t> GridSize(const std::vector<Parameter>& space);
// Grid point `index` (< GridSize) by mixed-radix decoding: the points in row-major order of the
// parameters as written (the last one varies fastest), as nested loops would list them.
std::vector<Value> GridPoint(const std::vector<Parameter>& space, uint64_t index);
// Discrete spaces (choices and randints), for random sampling without replacement: the number
// of values of one parameter (0 for a continuous one); the number of combinations of a space
// (nullopt when a parameter is continuous or the product passes kMaxGridPoints); combination
// `index` (< DiscreteSize) by mixed-radix decoding as GridPoint (a randint's value i is "i").
uint64_t DiscreteCount(const Parameter& p);
std::optional<uint64_t> DiscreteSize(const std::vector<Parameter>& space);
std::vector<Value> DiscretePoint(const std::vector<Parameter>& space, uint64_t index);
// The sizes of a grid for messages: "100^12 = 1e24", "3 x 2 = 6", "100^11 x 3 = 3e22".
std::string GridSizeText(const std::vector<Parameter>& space);

}  // namespace ferry::sweep
