// Search spaces, sampling primitives and the sweep file parser.
#include "sweep/space.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>

namespace ferry::sweep {
namespace {

struct ExprInfo {
  Expression e;
  const char* name;
  size_t args;  // 0: choice (any number of values)
};
constexpr ExprInfo kExpressions[] = {
    {Expression::kChoice, "choice", 0},         {Expression::kRandint, "randint", 1},
    {Expression::kUniform, "uniform", 2},       {Expression::kQuniform, "quniform", 3},
    {Expression::kLoguniform, "loguniform", 2}, {Expression::kQloguniform, "qloguniform", 3},
    {Expression::kNormal, "normal", 2},         {Expression::kQnormal, "qnormal", 3},
    {Expression::kLognormal, "lognormal", 2},   {Expression::kQlognormal, "qlognormal", 3},
};

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

double Quantize(double v, double q) { return std::round(v / q) * q; }

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  Status Error(const YAML::Node& n, const std::string& field, const std::string& what) const {
    std::string where = file_;
    if (n && n.Mark().line >= 0) {
      where += ":" + std::to_string(n.Mark().line + 1) + ":" + std::to_string(n.Mark().column + 1);
    }
    return Status::InvalidArgument(where + ": field '" + field + "': " + what);
  }

  Result<double> Number(const YAML::Node& n, const std::string& field) const {
    double v;
    if (!n || !n.IsScalar() || !YAML::convert<double>::decode(n, v) || !std::isfinite(v)) {
      return Error(
          n, field,
          "expected a number, got '" + (n && n.IsScalar() ? n.Scalar() : std::string("?")) + "'");
    }
    return v;
  }

  // An integer in [min, max]; `why_max` says where max comes from when it is not int's own.
  Result<int> Int(const YAML::Node& n, const std::string& field, int min, int max = INT_MAX,
                  const std::string& why_max = "") const {
    long long v;
    if (!n.IsScalar() || !YAML::convert<long long>::decode(n, v)) {
      return Error(
          n, field,
          "expected an integer, got '" + (n.IsScalar() ? n.Scalar() : std::string("?")) + "'");
    }
    if (v < min)
      return Error(n, field,
                   "must be at least " + std::to_string(min) + ", got " + std::to_string(v));
    if (v > max) {
      return Error(
          n, field,
          "must be at most " + std::to_string(max) + ", got " + std::to_string(v) + why_max);
    }
    return static_cast<int>(v);
  }

  // Parameter i of sampling.parameter_space. *space_bytes: names and choice texts of the space
  // so far (kMaxSpaceBytes).
  Result<Parameter> Param(const YAML::Node& n, size_t i, size_t* space_bytes) const {
    const std::string f = "sampling.parameter_space[" + std::to_string(i) + "]";
    if (!n.IsMap()) return Error(n, f, "expected a mapping with name, expression and values");
    Parameter p;
    if (!n["name"] || !n["name"].IsScalar() || n["name"].Scalar().empty()) {
      return Error(n, f + ".name",
                   "required: the argument as the script takes it, e.g. --learning_rate");
    }
    FERRY_RETURN_IF_ERROR(Spend(n["name"], f, n["name"].Scalar().size(), space_bytes));
    p.name = n["name"].Scalar();
    FERRY_ASSIGN_OR_RETURN(const ExprInfo* info, Expr(n, f, p.name));
    p.expression = info->e;
    const YAML::Node values = n["values"];
    if (!values || !values.IsSequence() || values.size() == 0) {
      return Error(values ? values : n, f + ".values", "expected a non-empty list for " + p.name);
    }
    if (p.expression == Expression::kChoice) {
      FERRY_RETURN_IF_ERROR(Choices(values, f, space_bytes, &p));
    } else {
      FERRY_RETURN_IF_ERROR(Args(values, f, *info, &p));
    }
    return p;
  }

 private:
  // Counts `bytes` more of the space's text: an error past kMaxSpaceBytes.
  Status Spend(const YAML::Node& at, const std::string& f, size_t bytes,
               size_t* space_bytes) const {
    *space_bytes += bytes;
    if (*space_bytes <= kMaxSpaceBytes) return Status::Ok();
    return Error(at, f,
                 "the parameter space's names and values add up to more than " +
                     std::to_string(kMaxSpaceBytes) +
                     " bytes (YAML aliases repeat their text); use fewer or shorter values");
  }

  // The parameter's expression (one of kExpressions).
  Result<const ExprInfo*> Expr(const YAML::Node& n, const std::string& f,
                               const std::string& name) const {
    std::string expr =
        n["expression"] && n["expression"].IsScalar() ? n["expression"].Scalar() : "";
    for (const auto& e : kExpressions) {
      if (expr == e.name) return &e;
    }
    std::string all;
    for (const auto& e : kExpressions) all += std::string(all.empty() ? "" : ", ") + e.name;
    return Error(n["expression"] ? n["expression"] : n, f + ".expression",
                 "'" + expr + "' (" + name + ") is not an expression; use one of: " + all);
  }

  // A choice's values: numbers or strings, at most kMaxChoices.
  Status Choices(const YAML::Node& values, const std::string& f, size_t* space_bytes,
                 Parameter* p) const {
    if (values.size() > kMaxChoices) {
      return Error(values, f + ".values",
                   "choice (" + p->name + ") has " + std::to_string(values.size()) +
                       " values, more than the limit of " + std::to_string(kMaxChoices) +
                       "; use randint, uniform or quniform for a range");
    }
    p->choices.reserve(values.size());
    for (const auto& v : values) {
      if (!v.IsScalar()) return Error(v, f + ".values", "choices must be numbers or strings");
      FERRY_RETURN_IF_ERROR(Spend(v, f, v.Scalar().size(), space_bytes));
      Value val;
      val.text = v.Scalar();
      double d;
      val.numeric = YAML::convert<double>::decode(v, d) && std::isfinite(d);
      val.number = val.numeric ? d : static_cast<double>(p->choices.size());
      p->choices.push_back(std::move(val));
    }
    return Status::Ok();
  }

  // The numeric arguments of a distribution: as many as it takes, then CheckArgs.
  Status Args(const YAML::Node& values, const std::string& f, const ExprInfo& info,
              Parameter* p) const {
    if (values.size() != info.args) {
      static const char* shapes[] = {"", "[upper]", "[low, high]",
                                     "[low, high, q] or [mu, sigma, q]"};
      const bool mu_sigma = info.args == 2 && (p->expression == Expression::kNormal ||
                                               p->expression == Expression::kLognormal);
      return Error(values, f + ".values",
                   std::string(info.name) + " (" + p->name + ") takes " +
                       std::to_string(info.args) + " values " +
                       (mu_sigma ? "[mu, sigma]" : shapes[info.args]) + ", got " +
                       std::to_string(values.size()));
    }
    for (const auto& v : values) {
      FERRY_ASSIGN_OR_RETURN(double d, Number(v, f + ".values"));
      p->args.push_back(d);
    }
    return CheckArgs(values, f, info, *p);
  }

  // The ranges each distribution's arguments must be in.
  Status CheckArgs(const YAML::Node& values, const std::string& f, const ExprInfo& info,
                   const Parameter& p) const {
    if (p.expression == Expression::kRandint) return CheckRandint(values, f, p);
    const std::string field = f + ".values", what = std::string(info.name) + " (" + p.name + ")";
    const bool normal =
        p.expression == Expression::kNormal || p.expression == Expression::kQnormal ||
        p.expression == Expression::kLognormal || p.expression == Expression::kQlognormal;
    if (!normal && p.args.size() >= 2 && !(p.args[0] < p.args[1])) {
      return Error(values, field, what + ": low must be below high");
    }
    if (normal && !(p.args[1] > 0)) return Error(values, field, what + ": sigma must be > 0");
    if (info.args == 3 && !(p.args[2] > 0)) return Error(values, field, what + ": q must be > 0");
    return Status::Ok();
  }

  // randint's upper bound: whole, at least 1 and exact in a double.
  Status CheckRandint(const YAML::Node& values, const std::string& f, const Parameter& p) const {
    const double upper = p.args[0];
    if (upper < 1 || upper != std::floor(upper)) {
      return Error(values, f + ".values",
                   "randint (" + p.name + ") takes a whole upper bound >= 1");
    }
    if (upper > kMaxRandintUpper) {
      return Error(values, f + ".values",
                   "randint (" + p.name + "): the upper bound " + FormatNumber(upper) +
                       " is more than 2^53 = 9007199254740992, past which integers are not exact; "
                       "use uniform");
    }
    return Status::Ok();
  }

  std::string file_;
};

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

const char* ExpressionName(Expression e) {
  for (const auto& x : kExpressions) {
    if (x.e == e) return x.name;
  }
  return "?";
}

uint64_t SplitMix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

Random::Random(uint64_t seed) {
  uint64_t x = seed;
  for (auto& s : s_) s = SplitMix64(x);
}

Random Random::FromState(uint64_t s0, uint64_t s1, uint64_t s2, uint64_t s3) {
  Random r(0);
  r.s_[0] = s0;
  r.s_[1] = s1;
  r.s_[2] = s2;
  r.s_[3] = s3;
  return r;
}

uint64_t Random::Next() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

double Random::Uniform01() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

double Random::Normal() {
  double u1 = Uniform01(), u2 = Uniform01();
  if (u1 <= 0) u1 = 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

int64_t Random::Below(int64_t n) {
  if (n <= 1) return 0;
  const uint64_t un = static_cast<uint64_t>(n);
  const uint64_t limit = UINT64_MAX - UINT64_MAX % un;
  uint64_t x;
  do {
    x = Next();
  } while (x >= limit);
  return static_cast<int64_t>(x % un);
}

std::string FormatNumber(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    return buf;
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

Value Sample(const Parameter& p, Random& rng) {
  const auto& a = p.args;
  double v = 0;
  switch (p.expression) {
    case Expression::kChoice:
      return p.choices[static_cast<size_t>(rng.Below(static_cast<int64_t>(p.choices.size())))];
    case Expression::kRandint:
      v = static_cast<double>(rng.Below(static_cast<int64_t>(a[0])));
      break;
    case Expression::kUniform:
      v = a[0] + (a[1] - a[0]) * rng.Uniform01();
      break;
    case Expression::kQuniform:
      v = Quantize(a[0] + (a[1] - a[0]) * rng.Uniform01(), a[2]);
      break;
    case Expression::kLoguniform:
      v = std::exp(a[0] + (a[1] - a[0]) * rng.Uniform01());
      break;
    case Expression::kQloguniform:
      v = Quantize(std::exp(a[0] + (a[1] - a[0]) * rng.Uniform01()), a[2]);
      break;
    case Expression::kNormal:
      v = a[0] + a[1] * rng.Normal();
      break;
    case Expression::kQnormal:
      v = Quantize(a[0] + a[1] * rng.Normal(), a[2]);
      break;
    case Expression::kLognormal:
      v = std::exp(a[0] + a[1] * rng.Normal());
      break;
    case Expression::kQlognormal:
      v = Quantize(std::exp(a[0] + a[1] * rng.Normal()), a[2]);
      break;
  }
  return {FormatNumber(v), v, true};
}

std::optional<uint64_t> GridSize(const std::vector<Parameter>& space) {
  uint64_t size = 1;
  for (const auto& p : space) {
    if (__builtin_mul_overflow(size, static_cast<uint64_t>(p.choices.size()), &size) ||
        size > kMaxGridPoints) {
      return std::nullopt;
    }
  }
  return size;
}

std::vector<Value> GridPoint(const std::vector<Parameter>& space, uint64_t index) {
  std::vector<Value> point(space.size());
  for (size_t k = space.size(); k-- > 0;) {
    const uint64_t radix = space[k].choices.size();
    point[k] = space[k].choices[index % radix];
    index /= radix;
  }
  return point;
}

uint64_t DiscreteCount(const Parameter& p) {
  if (p.expression == Expression::kChoice) return p.choices.size();
  if (p.expression == Expression::kRandint && p.args.size() == 1 && p.args[0] >= 1 &&
      p.args[0] <= static_cast<double>(kMaxGridPoints)) {
    return static_cast<uint64_t>(p.args[0]);
  }
  return 0;
}

std::optional<uint64_t> DiscreteSize(const std::vector<Parameter>& space) {
  uint64_t size = 1;
  for (const auto& p : space) {
    uint64_t n = DiscreteCount(p);
    if (n == 0 || __builtin_mul_overflow(size, n, &size) || size > kMaxGridPoints) {
      return std::nullopt;
    }
  }
  return size;
}

std::vector<Value> DiscretePoint(const std::vector<Parameter>& space, uint64_t index) {
  std::vector<Value> point(space.size());
  for (size_t k = space.size(); k-- > 0;) {
    const uint64_t radix = DiscreteCount(space[k]);
    const uint64_t i = index % radix;
    if (space[k].expression == Expression::kChoice) {
      point[k] = space[k].choices[i];
    } else {
      point[k] = {FormatNumber(static_cast<double>(i)), static_cast<double>(i), true};
    }
    index /= radix;
  }
  return point;
}

std::string GridSizeText(const std::vector<Parameter>& space) {
  std::string factors;
  double log10_size = 0;
  uint64_t exact = 1;
  bool overflow = false;
  for (size_t k = 0; k < space.size();) {
    const size_t n = space[k].choices.size();
    size_t run = 1;  // equal neighbours are written as a power
    while (k + run < space.size() && space[k + run].choices.size() == n) ++run;
    factors += (factors.empty() ? "" : " x ") + std::to_string(n) +
               (run > 1 ? "^" + std::to_string(run) : "");
    for (size_t i = 0; i < run; ++i) {
      log10_size += std::log10(static_cast<double>(n));
      overflow = overflow || __builtin_mul_overflow(exact, static_cast<uint64_t>(n), &exact);
    }
    k += run;
  }
  std::string total;
  if (!overflow) {
    total = std::to_string(exact);
  } else {  // 2 significant digits: "1e24", "2.5e24"
    int exponent = static_cast<int>(std::floor(log10_size));
    double mantissa = std::round(std::pow(10.0, log10_size - exponent) * 10) / 10;
    if (mantissa >= 10) mantissa = 1, ++exponent;
    total = FormatNumber(mantissa) + "e" + std::to_string(exponent);
  }
  return factors == total ? total : factors + " = " + total;
}

namespace {

// The sections of a sweep file, each parsed into the spec by one function below, in this order.
constexpr const char* kTopFields[] = {"sampling",
                                      "policy",
                                      "primary_metric_name",
                                      "primary_metric_goal",
                                      "max_total_runs",
                                      "max_concurrent_runs",
                                      "max_duration_minutes"};

Status CheckTopFields(const Parser& p, const YAML::Node& root) {
  for (const auto& kv : root) {
    const std::string k = kv.first.Scalar();
    bool known = false;
    for (const char* t : kTopFields) known = known || k == t;
    if (!known) {
      return p.Error(
          kv.first, k,
          "unknown field; a sweep file has: sampling, policy, primary_metric_name, "
          "primary_metric_goal, max_total_runs, max_concurrent_runs, max_duration_minutes");
    }
  }
  return Status::Ok();
}

// What the sampling method and --azure-strict allow of a parameter, and that its name is new.
Status CheckParamInSpace(const Parser& p, const YAML::Node& n, size_t i, const Parameter& param,
                         const SweepSpec& s, const ParseOptions& options) {
  const std::string f = "sampling.parameter_space[" + std::to_string(i) + "]";
  for (const auto& other : s.space) {
    if (other.name == param.name)
      return p.Error(n, f + ".name", "'" + param.name + "' is given twice");
    if (ParamKey(other.name) == ParamKey(param.name)) {
      return p.Error(n, f + ".name",
                     "'" + param.name + "' and '" + other.name + "' name the same parameter '" +
                         ParamKey(param.name) + "'");
    }
  }
  if (ParamKey(param.name).empty()) {
    return p.Error(n, f + ".name", "'" + param.name + "' has no name after its dashes");
  }
  const Expression e = param.expression;
  if (options.azure_strict && s.sampling == "bayesian" && e != Expression::kChoice &&
      e != Expression::kUniform && e != Expression::kQuniform) {
    return p.Error(
        n["expression"], f + ".expression",
        std::string("Azure ML's Bayesian sampling takes choice, uniform and quniform only; '") +
            param.name + "' is " + ExpressionName(e) +
            " (Ferry's Bayesian takes it without --azure-strict)");
  }
  if (s.sampling == "grid" && e != Expression::kChoice) {
    return p.Error(n["expression"], f + ".expression",
                   "grid sampling takes choice only; '" + param.name + "' is " + ExpressionName(e));
  }
  return Status::Ok();
}

// sampling.parameter_space: 1 to kMaxParameters parameters.
Status ParseSpace(const Parser& p, const YAML::Node& sampling, const ParseOptions& options,
                  SweepSpec& s) {
  const YAML::Node space = sampling["parameter_space"];
  if (!space || !space.IsSequence() || space.size() == 0) {
    return p.Error(space ? space : sampling, "sampling.parameter_space",
                   "required: a list of parameters");
  }
  if (space.size() > kMaxParameters) {
    return p.Error(space, "sampling.parameter_space",
                   std::to_string(space.size()) + " parameters, more than the limit of " +
                       std::to_string(kMaxParameters));
  }
  size_t space_bytes = 0;
  for (size_t i = 0; i < space.size(); ++i) {
    FERRY_ASSIGN_OR_RETURN(Parameter param, p.Param(space[i], i, &space_bytes));
    FERRY_RETURN_IF_ERROR(CheckParamInSpace(p, space[i], i, param, s, options));
    s.space.push_back(std::move(param));
  }
  return Status::Ok();
}

// sampling: type, seed and parameter_space.
Status ParseSampling(const Parser& p, const YAML::Node& root, const ParseOptions& options,
                     SweepSpec& s) {
  const YAML::Node sampling = root["sampling"];
  if (!sampling || !sampling.IsMap())
    return p.Error(root, "sampling", "required: type and parameter_space");
  const YAML::Node type_node = sampling["type"];
  std::string type = type_node && type_node.IsScalar() ? Lower(type_node.Scalar()) : "";
  if (type != "random" && type != "grid" && type != "bayesian") {
    return p.Error(type_node ? type_node : sampling, "sampling.type",
                   "'" + type + "' is not allowed; use one of: random, grid, bayesian");
  }
  s.sampling = type;
  if (sampling["seed"]) {
    FERRY_ASSIGN_OR_RETURN(int seed, p.Int(sampling["seed"], "sampling.seed", 0));
    s.seed = static_cast<uint64_t>(seed);
    s.seeded = true;
  }
  return ParseSpace(p, sampling, options, s);
}

// policy.type, case-insensitive with or without "Policy", to the policy's name.
constexpr std::pair<const char*, const char*> kPolicyNames[] = {
    {"banditpolicy", "BanditPolicy"},
    {"bandit", "BanditPolicy"},
    {"medianstoppingpolicy", "MedianStoppingPolicy"},
    {"medianstopping", "MedianStoppingPolicy"},
    {"truncationselectionpolicy", "TruncationSelectionPolicy"},
    {"truncationselection", "TruncationSelectionPolicy"},
    {"noterminationpolicy", "NoTerminationPolicy"},
    {"notermination", "NoTerminationPolicy"},
    {"default", "NoTerminationPolicy"},
    {"asha", "ASHA"},
    {"ashapolicy", "ASHA"},
};

Result<std::string> PolicyType(const Parser& p, const YAML::Node& pol) {
  const YAML::Node type = pol["type"];
  const std::string pt = type && type.IsScalar() ? type.Scalar() : "";
  const std::string lp = Lower(pt);
  for (const auto& [alias, name] : kPolicyNames) {
    if (lp == alias) return std::string(name);
  }
  return p.Error(type ? type : pol, "policy.type",
                 "'" + pt +
                     "' is not allowed; use one of: BanditPolicy, MedianStoppingPolicy, "
                     "TruncationSelectionPolicy, NoTerminationPolicy, ASHA");
}

// The settings of one policy: true when `k` is one of them (and was stored in the spec).
Result<bool> CommonPolicySetting(const Parser& p, const std::string& k, const std::string& f,
                                 const YAML::Node& v, SweepSpec& s) {
  if (k == "evaluation_interval") {
    FERRY_ASSIGN_OR_RETURN(s.evaluation_interval, p.Int(v, f, 1));
  } else if (k == "delay_evaluation") {
    FERRY_ASSIGN_OR_RETURN(s.delay_evaluation, p.Int(v, f, 0));
  } else {
    return false;
  }
  return true;
}

Result<bool> BanditSetting(const Parser& p, const std::string& k, const std::string& f,
                           const YAML::Node& v, SweepSpec& s) {
  if (k == "slack_factor") {
    FERRY_ASSIGN_OR_RETURN(s.slack_factor, p.Number(v, f));
    if (s.slack_factor <= 0) return p.Error(v, f, "must be > 0");
    s.slack_factor_set = true;
  } else if (k == "slack_amount") {
    FERRY_ASSIGN_OR_RETURN(s.slack_amount, p.Number(v, f));
    if (s.slack_amount <= 0) return p.Error(v, f, "must be > 0");
    s.slack_amount_set = true;
  } else {
    return false;
  }
  return true;
}

Result<bool> TruncationSetting(const Parser& p, const std::string& k, const std::string& f,
                               const YAML::Node& v, SweepSpec& s) {
  if (k == "truncation_percentage") {
    FERRY_ASSIGN_OR_RETURN(s.truncation_percentage, p.Int(v, f, 1));
    if (s.truncation_percentage > 99) return p.Error(v, f, "must be 1-99");
  } else if (k == "exclude_finished_jobs") {
    if (!v.IsScalar() || !YAML::convert<bool>::decode(v, s.exclude_finished_jobs)) {
      return p.Error(v, f, "expected true or false");
    }
  } else {
    return false;
  }
  return true;
}

Result<bool> AshaSetting(const Parser& p, const std::string& k, const std::string& f,
                         const YAML::Node& v, SweepSpec& s) {
  if (k == "grace_period") {
    FERRY_ASSIGN_OR_RETURN(s.grace_period, p.Int(v, f, 1));
  } else if (k == "reduction_factor") {
    FERRY_ASSIGN_OR_RETURN(s.reduction_factor, p.Int(v, f, 2));
  } else if (k == "max_t") {
    FERRY_ASSIGN_OR_RETURN(s.max_t, p.Int(v, f, 1));
  } else {
    return false;
  }
  return true;
}

// One policy.<k> setting: the common ones, then those of s.policy.
Status PolicySetting(const Parser& p, const YAML::Node& key, const YAML::Node& v, SweepSpec& s) {
  using Setting = Result<bool> (*)(const Parser&, const std::string&, const std::string&,
                                   const YAML::Node&, SweepSpec&);
  static constexpr std::pair<const char*, Setting> kOwn[] = {
      {"BanditPolicy", BanditSetting},
      {"TruncationSelectionPolicy", TruncationSetting},
      {"ASHA", AshaSetting},
  };
  const std::string& k = key.Scalar();
  const std::string f = "policy." + k;
  FERRY_ASSIGN_OR_RETURN(bool known, CommonPolicySetting(p, k, f, v, s));
  for (const auto& [policy, setting] : kOwn) {
    if (!known && s.policy == policy) {
      FERRY_ASSIGN_OR_RETURN(known, setting(p, k, f, v, s));
    }
  }
  if (!known) return p.Error(key, f, "not a setting of " + s.policy);
  return Status::Ok();
}

// What a policy requires, and what --azure-strict refuses.
Status CheckPolicy(const Parser& p, const YAML::Node& pol, const ParseOptions& options,
                   const SweepSpec& s) {
  if (s.policy == "BanditPolicy" && s.slack_factor_set == s.slack_amount_set) {
    return p.Error(pol, "policy", "BanditPolicy takes exactly one of slack_factor or slack_amount");
  }
  if (s.policy == "TruncationSelectionPolicy" && s.truncation_percentage == 0) {
    return p.Error(pol, "policy.truncation_percentage",
                   "required for TruncationSelectionPolicy (1-99)");
  }
  if (s.policy == "ASHA" && s.max_t == 0) {
    return p.Error(pol, "policy.max_t",
                   "required for ASHA: the metric reports a trial may make at most");
  }
  if (options.azure_strict && s.policy == "ASHA") {
    return p.Error(pol["type"], "policy.type",
                   "ASHA is Ferry's, not Azure ML's; drop --azure-strict to use it");
  }
  if (options.azure_strict && s.sampling == "bayesian" && s.policy != "NoTerminationPolicy") {
    return p.Error(pol["type"], "policy.type",
                   "Azure ML's Bayesian sampling does not support early termination (" + s.policy +
                       "); use NoTerminationPolicy, or drop --azure-strict (Ferry's Bayesian "
                       "accepts a policy)");
  }
  return Status::Ok();
}

// policy (optional): type and its settings.
Status ParsePolicy(const Parser& p, const YAML::Node& root, const ParseOptions& options,
                   SweepSpec& s) {
  const YAML::Node pol = root["policy"];
  if (!pol || pol.IsNull()) return Status::Ok();
  if (!pol.IsMap()) return p.Error(pol, "policy", "expected a mapping with a type");
  FERRY_ASSIGN_OR_RETURN(s.policy, PolicyType(p, pol));
  for (const auto& kv : pol) {
    if (kv.first.Scalar() == "type") continue;
    FERRY_RETURN_IF_ERROR(PolicySetting(p, kv.first, kv.second, s));
  }
  return CheckPolicy(p, pol, options, s);
}

// primary_metric_name and primary_metric_goal (both required).
Status ParsePrimaryMetric(const Parser& p, const YAML::Node& root, SweepSpec& s) {
  const YAML::Node name = root["primary_metric_name"];
  if (!name || !name.IsScalar() || name.Scalar().empty()) {
    return p.Error(name ? name : root, "primary_metric_name",
                   "required: the metric the script logs, e.g. Accuracy");
  }
  s.primary_metric_name = name.Scalar();
  const YAML::Node goal = root["primary_metric_goal"];
  const std::string given = goal && goal.IsScalar() ? goal.Scalar() : std::string();
  const std::string g = Lower(given);
  if (g != "maximize" && g != "minimize") {
    return p.Error(goal ? goal : root, "primary_metric_goal",
                   "'" + given + "' is not allowed; use Maximize or Minimize");
  }
  s.primary_metric_goal = g == "maximize" ? "Maximize" : "Minimize";
  return Status::Ok();
}

// A grid's number of points (0 for other sampling), counted, never listed: its trials are its
// first max_total_runs points in order.
Result<uint64_t> GridPoints(const Parser& p, const YAML::Node& root, const SweepSpec& s) {
  if (s.sampling != "grid") return uint64_t{0};
  const std::string what = "grid sampling over " + std::to_string(s.space.size()) + " parameter" +
                           (s.space.size() == 1 ? "" : "s") + " has " + GridSizeText(s.space) +
                           " points";
  auto size = GridSize(s.space);
  if (!size) {
    const YAML::Node sampling = root["sampling"];
    return p.Error(sampling["parameter_space"], "sampling.parameter_space",
                   what + ", more than the limit of 2^63-1 (about 9.2e18); " +
                       "use random sampling or fewer choices");
  }
  if (!root["max_total_runs"] && *size > static_cast<uint64_t>(kMaxTotalRuns)) {
    return p.Error(root, "max_total_runs",
                   what + ", more than a sweep may run (max_total_runs is at most " +
                       std::to_string(kMaxTotalRuns) +
                       "); set max_total_runs to run the first ones in grid order, " +
                       "or use random sampling or fewer choices");
  }
  return *size;
}

// max_total_runs (required but for a grid: its size), max_concurrent_runs (default: all) and
// max_duration_minutes (default: none).
Status ParseLimits(const Parser& p, const YAML::Node& root, SweepSpec& s) {
  FERRY_ASSIGN_OR_RETURN(uint64_t grid, GridPoints(p, root, s));
  const std::string why_max =
      " (a sweep runs at most " + std::to_string(kMaxTotalRuns) + " trials)";
  if (root["max_total_runs"]) {
    FERRY_ASSIGN_OR_RETURN(s.max_total_runs, p.Int(root["max_total_runs"], "max_total_runs", 1,
                                                   kMaxTotalRuns, why_max));
  } else if (s.sampling == "grid") {
    s.max_total_runs = static_cast<int>(grid);
  } else {
    return p.Error(root, "max_total_runs", "required for " + s.sampling + " sampling");
  }
  if (s.sampling == "grid" && static_cast<uint64_t>(s.max_total_runs) > grid) {
    s.max_total_runs = static_cast<int>(grid);  // the grid is all there is
  }
  // Random sampling draws the combinations of an all-discrete space without replacement: there
  // are no more trials than combinations (Azure: "fewer runs when the space is smaller").
  if (auto size = DiscreteSize(s.space);
      s.sampling == "random" && size && static_cast<uint64_t>(s.max_total_runs) > *size) {
    s.max_total_runs = static_cast<int>(*size);
  }
  if (root["max_concurrent_runs"]) {
    FERRY_ASSIGN_OR_RETURN(s.max_concurrent_runs,
                           p.Int(root["max_concurrent_runs"], "max_concurrent_runs", 1));
  } else {
    s.max_concurrent_runs = s.max_total_runs;
  }
  if (root["max_duration_minutes"]) {
    FERRY_ASSIGN_OR_RETURN(s.max_duration_minutes,
                           p.Int(root["max_duration_minutes"], "max_duration_minutes", 1));
  }
  return Status::Ok();
}

Result<SweepSpec> Parse(const YAML::Node& root, const std::string& file_name,
                        const ParseOptions& options) {
  Parser p(file_name);
  if (!root.IsMap())
    return Status::InvalidArgument(file_name + ": expected a mapping (sampling, policy, ...)");
  FERRY_RETURN_IF_ERROR(CheckTopFields(p, root));
  SweepSpec s;
  FERRY_RETURN_IF_ERROR(ParseSampling(p, root, options, s));
  FERRY_RETURN_IF_ERROR(ParsePolicy(p, root, options, s));
  FERRY_RETURN_IF_ERROR(ParsePrimaryMetric(p, root, s));
  FERRY_RETURN_IF_ERROR(ParseLimits(p, root, s));
  return s;
}

}  // namespace

Result<SweepSpec> ParseSweepSpec(const std::string& text, const std::string& file_name,
                                 const ParseOptions& options) {
  if (text.size() > kMaxSpecBytes) {
    return Status::InvalidArgument(file_name + ": the sweep file has " +
                                   std::to_string(text.size()) + " bytes, more than the limit of " +
                                   std::to_string(kMaxSpecBytes / 1024) +
                                   " KiB; a sweep file lists parameters, not data");
  }
  // yaml-cpp reports syntax errors (and nesting past its depth limit) by exception, and so do
  // some accessors on nodes of an unexpected kind: all of them are a bad file, never a crash.
  try {
    const YAML::Node root = YAML::Load(text);
    return Parse(root, file_name, options);
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return Status::InvalidArgument(file_name + ": " + e.msg);
    return Status::InvalidArgument(file_name + ":" + std::to_string(e.mark.line + 1) + ":" +
                                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

std::string ParamKey(const std::string& name) {
  size_t start = name.find_first_not_of('-');
  return start == std::string::npos ? std::string() : name.substr(start);
}

Status CheckFixedArguments(const SweepSpec& spec, const std::vector<std::string>& arguments) {
  for (size_t i = 0; i < arguments.size(); ++i) {
    const std::string& a = arguments[i];
    if (a.empty() || a[0] != '-') continue;
    std::string key = ParamKey(a.substr(0, a.find('=')));
    for (size_t k = 0; k < spec.space.size(); ++k) {
      if (!key.empty() && key == ParamKey(spec.space[k].name)) {
        return Status::InvalidArgument("argument '" + a +
                                       "' of the run configuration is also sampled by the sweep (" +
                                       "sampling.parameter_space[" + std::to_string(k) + "] '" +
                                       spec.space[k].name + "'); remove it from one of them");
      }
    }
  }
  return Status::Ok();
}

Result<Value> ValueFromText(const Parameter& p, const std::string& text) {
  if (p.expression == Expression::kChoice) {
    for (const Value& c : p.choices) {
      if (c.text == text) return c;
    }
    return Status::NotFound("'" + text + "' is not one of the choices of " + p.name);
  }
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Status::InvalidArgument("'" + text + "' is not a number (" + p.name + ")");
  }
  return Value{text, v, true};
}

}  // namespace ferry::sweep
