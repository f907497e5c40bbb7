#include "sweep/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ferry::sweep {
namespace {

double Phi(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }
double PhiDensity(double z) { return std::exp(-0.5 * z * z) / std::sqrt(2.0 * M_PI); }

double PhiInverse(double u) {
  u = std::clamp(u, 1e-9, 1 - 1e-9);
  double lo = -10, hi = 10;
  for (int i = 0; i < 80; ++i) {
    double mid = (lo + hi) / 2;
    (Phi(mid) < u ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

double Quantize(double v, double q) { return std::round(v / q) * q; }

// Trial k's own generator: a pure function of (seed, k).
Random TrialRandom(uint64_t seed, size_t k) {
  uint64_t x = seed ^ (0x9e3779b97f4a7c15ull * (k + 1));
  return Random(SplitMix64(x));
}

std::vector<Value> RandomPoint(const SweepSpec& s, Random& rng) {
  std::vector<Value> point;
  for (const auto& p : s.space) point.push_back(Sample(p, rng));
  return point;
}

class GridSampler final : public Sampler {
 public:
  explicit GridSampler(const SweepSpec& s) : points_(GridPoints(s.space)) {}
  std::optional<std::vector<Value>> Next(const std::vector<Observation>& trials) override {
    if (trials.size() >= points_.size()) return std::nullopt;
    return points_[trials.size()];
  }

 private:
  std::vector<std::vector<Value>> points_;
};

class RandomSampler final : public Sampler {
 public:
  explicit RandomSampler(const SweepSpec& s) : s_(s) {}
  std::optional<std::vector<Value>> Next(const std::vector<Observation>& trials) override {
    Random rng = TrialRandom(s_.seed, trials.size());
    return RandomPoint(s_, rng);
  }

 private:
  SweepSpec s_;
};

// Dense lower Cholesky factor of a symmetric positive definite n x n matrix (row-major).
bool Cholesky(std::vector<double>& a, size_t n) {
  for (size_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (size_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (d <= 0) return false;
    d = std::sqrt(d);
    a[j * n + j] = d;
    for (size_t i = j + 1; i < n; ++i) {
      double v = a[i * n + j];
      for (size_t k = 0; k < j; ++k) v -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = v / d;
    }
    for (size_t k = j + 1; k < n; ++k) a[j * n + k] = 0;
  }
  return true;
}

// Solves L x = b (forward), then L^T x = ... (backward) when `full`.
void Solve(const std::vector<double>& l, size_t n, std::vector<double>& b, bool full) {
  for (size_t i = 0; i < n; ++i) {
    double v = b[i];
    for (size_t k = 0; k < i; ++k) v -= l[i * n + k] * b[k];
    b[i] = v / l[i * n + i];
  }
  if (!full) return;
  for (size_t i = n; i-- > 0;) {
    double v = b[i];
    for (size_t k = i + 1; k < n; ++k) v -= l[k * n + i] * b[k];
    b[i] = v / l[i * n + i];
  }
}

double Matern52(const std::vector<double>& a, const std::vector<double>& b, const std::vector<double>& lengths) {
  double r2 = 0;
  for (size_t i = 0; i < a.size(); ++i) r2 += (a[i] - b[i]) * (a[i] - b[i]) / (lengths[i] * lengths[i]);
  double r = std::sqrt(r2);
  double s5 = std::sqrt(5.0) * r;
  return (1 + s5 + 5.0 * r * r / 3.0) * std::exp(-s5);
}

struct Gp {
  std::vector<std::vector<double>> x;
  std::vector<double> alpha, chol;
  std::vector<double> lengths;  // one per dimension (automatic relevance determination)
  double noise = 1e-6;
  size_t n = 0;

  // Fits the GP to standardised targets y: an isotropic length scale and the noise from a small
  // grid by marginal likelihood, then each dimension's own length scale, one pass.
  void Fit(const std::vector<std::vector<double>>& xs, const std::vector<double>& y) {
    x = xs;
    n = xs.size();
    const size_t d = xs.empty() ? 0 : xs[0].size();
    std::vector<std::vector<double>> diff2(d, std::vector<double>(n * n));
    for (size_t c = 0; c < d; ++c) {
      for (size_t i = 0; i < n; ++i) {
        for (size_t j = 0; j < n; ++j) diff2[c][i * n + j] = (xs[i][c] - xs[j][c]) * (xs[i][c] - xs[j][c]);
      }
    }
    double best = -std::numeric_limits<double>::infinity();
    auto trial = [&](const std::vector<double>& ls, double nz) {
      std::vector<double> k(n * n, 0.0);
      for (size_t c = 0; c < d; ++c) {
        const double inv = 1.0 / (ls[c] * ls[c]);
        const auto& dc = diff2[c];
        for (size_t i = 0; i < n * n; ++i) k[i] += dc[i] * inv;
      }
      for (size_t i = 0; i < n * n; ++i) {
        double r = std::sqrt(k[i]), s5 = std::sqrt(5.0) * r;
        k[i] = (1 + s5 + 5.0 * r * r / 3.0) * std::exp(-s5);
      }
      for (size_t i = 0; i < n; ++i) k[i * n + i] += nz;
      if (!Cholesky(k, n)) return false;
      std::vector<double> a = y;
      Solve(k, n, a, true);
      double fit = 0, logdet = 0;
      for (size_t i = 0; i < n; ++i) {
        fit += y[i] * a[i];
        logdet += std::log(k[i * n + i]);
      }
      double ll = -0.5 * fit - logdet;
      if (ll <= best) return false;
      best = ll;
      lengths = ls;
      noise = nz;
      alpha = std::move(a);
      chol = std::move(k);
      return true;
    };
    for (double l : {0.1, 0.2, 0.4, 0.8}) {
      for (double nz : {1e-5, 1e-2}) (void)trial(std::vector<double>(d, l), nz);
    }
    if (d > 1) {
      for (size_t c = 0; c < d; ++c) {
        for (double f : {0.4, 2.5}) {
          std::vector<double> ls = lengths;
          ls[c] *= f;
          (void)trial(ls, noise);
        }
      }
    }
  }

  void Predict(const std::vector<double>& p, double* mean, double* var) const {
    std::vector<double> k(n);
    for (size_t i = 0; i < n; ++i) k[i] = Matern52(p, x[i], lengths);
    double m = 0;
    for (size_t i = 0; i < n; ++i) m += k[i] * alpha[i];
    std::vector<double> v = k;
    Solve(chol, n, v, false);
    double s = 1.0;
    for (double e : v) s -= e * e;
    *mean = m;
    *var = std::max(s, 1e-12);
  }
};

class BayesianSampler final : public Sampler {
 public:
  explicit BayesianSampler(const SweepSpec& s) : s_(s) {}

  std::optional<std::vector<Value>> Next(const std::vector<Observation>& trials) override {
    Random rng = TrialRandom(s_.seed, trials.size());
    const size_t d = s_.space.size();
    const size_t initial = std::max<size_t>(3, d + 1);
    size_t observed = 0;
    for (const auto& t : trials) observed += t.metric ? 1 : 0;
    if (observed < initial) return RandomPoint(s_, rng);  // a space-filling start, then the model
    // Targets: minimised, standardised; running trials are "constant liars" at the mean.
    const double sign = s_.primary_metric_goal == "Maximize" ? -1 : 1;
    double sum = 0;
    for (const auto& t : trials) {
      if (t.metric) sum += sign * *t.metric;
    }
    const double mean = sum / static_cast<double>(observed);
    std::vector<std::vector<double>> xs;
    std::vector<double> ys;
    for (const auto& t : trials) {
      std::vector<double> u;
      for (size_t i = 0; i < d; ++i) u.push_back(ToUnit(s_.space[i], t.point[i]));
      xs.push_back(std::move(u));
      ys.push_back(t.metric ? sign * *t.metric : mean);
    }
    // Gaussian copula: each value replaced by the normal score of its rank, so a few very bad
    // trials do not flatten the model where the good ones are.
    {
      std::vector<size_t> order(ys.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ys[a] < ys[b]; });
      std::vector<double> scores(ys.size());
      for (size_t r = 0; r < order.size();) {
        size_t e = r;
        while (e + 1 < order.size() && ys[order[e + 1]] == ys[order[r]]) ++e;  // ties share a score
        double q = (static_cast<double>(r + e) / 2 + 0.5) / static_cast<double>(ys.size());
        for (size_t k = r; k <= e; ++k) scores[order[k]] = PhiInverse(q);
        r = e + 1;
      }
      ys = std::move(scores);
    }
    double best = std::numeric_limits<double>::infinity();
    for (double y : ys) best = std::min(best, y);
    Gp gp;
    gp.Fit(xs, ys);
    // Expected improvement over candidates drawn from the space itself (so every expression's
    // prior shape and quantisation are respected), then a local search around the best.
    std::vector<Value> chosen;
    double chosen_ei = -1;
    auto consider = [&](std::vector<Value> point) {
      std::vector<double> u;
      for (size_t i = 0; i < d; ++i) u.push_back(ToUnit(s_.space[i], point[i]));
      double m, v;
      gp.Predict(u, &m, &v);
      double sdv = std::sqrt(v), z = (best - m - 0.001) / sdv;
      double ei = (best - m - 0.001) * Phi(z) + sdv * PhiDensity(z);
      if (ei > chosen_ei) {
        chosen_ei = ei;
        chosen = std::move(point);
      }
    };
    for (int c = 0; c < 700; ++c) consider(RandomPoint(s_, rng));
    // Near the best trial so far and near the best candidate, at shrinking scales.
    size_t incumbent = 0;
    for (size_t i = 0; i < ys.size(); ++i) {
      if (trials[i].metric && (!trials[incumbent].metric || ys[i] < ys[incumbent])) incumbent = i;
    }
    for (double scale : {0.1, 0.03, 0.01, 0.003}) {
      for (int c = 0; c < 150; ++c) {
        const std::vector<Value>& around = c % 2 ? chosen : trials[incumbent].point;
        std::vector<Value> near;
        for (size_t i = 0; i < d; ++i) {
          double u = ToUnit(s_.space[i], around[i]) + scale * rng.Normal();
          near.push_back(FromUnit(s_.space[i], std::clamp(u, 0.001, 0.999)));
        }
        consider(std::move(near));
      }
    }
    return chosen;
  }

 private:
  SweepSpec s_;
};

}  // namespace

double ToUnit(const Parameter& p, const Value& v) {
  const auto& a = p.args;
  switch (p.expression) {
    case Expression::kChoice: {
      size_t i = 0;
      while (i < p.choices.size() && p.choices[i].text != v.text) ++i;
      return (static_cast<double>(std::min(i, p.choices.size() - 1)) + 0.5) / static_cast<double>(p.choices.size());
    }
    case Expression::kRandint:
      return (v.number + 0.5) / a[0];
    case Expression::kUniform:
    case Expression::kQuniform:
      return std::clamp((v.number - a[0]) / (a[1] - a[0]), 0.0, 1.0);
    case Expression::kLoguniform:
    case Expression::kQloguniform:
      return v.number <= 0 ? 0.0 : std::clamp((std::log(v.number) - a[0]) / (a[1] - a[0]), 0.0, 1.0);
    case Expression::kNormal:
    case Expression::kQnormal:
      return Phi((v.number - a[0]) / a[1]);
    case Expression::kLognormal:
    case Expression::kQlognormal:
      return v.number <= 0 ? 0.0 : Phi((std::log(v.number) - a[0]) / a[1]);
  }
  return 0;
}

Value FromUnit(const Parameter& p, double u) {
  const auto& a = p.args;
  u = std::clamp(u, 0.0, 1.0);
  double v = 0;
  switch (p.expression) {
    case Expression::kChoice:
      return p.choices[std::min(p.choices.size() - 1, static_cast<size_t>(u * static_cast<double>(p.choices.size())))];
    case Expression::kRandint:
      v = std::min(a[0] - 1, std::floor(u * a[0]));
      break;
    case Expression::kUniform:
      v = a[0] + u * (a[1] - a[0]);
      break;
    case Expression::kQuniform:
      v = Quantize(a[0] + u * (a[1] - a[0]), a[2]);
      break;
    case Expression::kLoguniform:
      v = std::exp(a[0] + u * (a[1] - a[0]));
      break;
    case Expression::kQloguniform:
      v = Quantize(std::exp(a[0] + u * (a[1] - a[0])), a[2]);
      break;
    case Expression::kNormal:
      v = a[0] + a[1] * PhiInverse(u);
      break;
    case Expression::kQnormal:
      v = Quantize(a[0] + a[1] * PhiInverse(u), a[2]);
      break;
    case Expression::kLognormal:
      v = std::exp(a[0] + a[1] * PhiInverse(u));
      break;
    case Expression::kQlognormal:
      v = Quantize(std::exp(a[0] + a[1] * PhiInverse(u)), a[2]);
      break;
  }
  return {FormatNumber(v), v, true};
}

std::unique_ptr<Sampler> MakeSampler(const SweepSpec& spec) {
  if (spec.sampling == "grid") return std::make_unique<GridSampler>(spec);
  if (spec.sampling == "bayesian") return std::make_unique<BayesianSampler>(spec);
  return std::make_unique<RandomSampler>(spec);
}

}  // namespace ferry::sweep
