// Hyperparameter sweeps: the search space (Azure ML HyperDrive's ten parameter expressions),
// the sweep definition file (`hdconfig.yml`, Azure ML CLI format) and the deterministic
// random numbers every sampler draws from (golden sequences must not depend on the C++
// library's distributions, which are implementation-defined).
#pragma once

#include <cstdint>
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
  double Uniform01();                  // [0, 1), 53 bits
  double Normal();                     // standard normal, Box-Muller (no cached second value)
  int64_t Below(int64_t n);            // [0, n), unbiased

 private:
  uint64_t s_[4];
};

// Draws one value of the parameter.
Value Sample(const Parameter& p, Random& rng);

// Text of a number as a script argument: integers without ".0", others shortest round-trip.
std::string FormatNumber(double v);

struct SweepSpec {
  std::string sampling = "random";  // random | grid | bayesian
  uint64_t seed = 0;
  bool seeded = false;
  std::vector<Parameter> space;
  std::string policy = "NoTerminationPolicy";  // BanditPolicy | MedianStoppingPolicy |
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

// Grid sampling: every combination, in row-major order of the parameters as written.
std::vector<std::vector<Value>> GridPoints(const std::vector<Parameter>& space);

}  // namespace ferry::sweep
