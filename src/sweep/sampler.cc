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

// The grid is never listed: trial k gets point k, decoded from k. Its only state is that index,
// the number of trials so far, which a restarted server reads back from the store.
class GridSampler final : public Sampler {
 public:
  explicit GridSampler(const SweepSpec& s)
      : space_(s.space), size_(GridSize(s.space).value_or(0)) {}
  std::optional<std::vector<Value>> Next(const std::vector<Observation>& trials) override {
    if (trials.size() >= size_) return std::nullopt;
    return GridPoint(space_, trials.size());
  }

 private:
  std::vector<Parameter> space_;
  uint64_t size_;  // 0 past kMaxGridPoints, which ParseSweepSpec refuses
};

// A permutation of [0, n) chosen by the seed, evaluated one position at a time: a balanced
// Feistel network over the smallest even number of bits that holds n - 1, walked along its
// cycle until the value falls below n (fewer than 4 steps on average, as the domain is under 4n).
uint64_t Permute(uint64_t seed, uint64_t n, uint64_t index) {
  int bits = 0;
  while (bits < 64 && (n - 1) >> bits != 0) ++bits;
  const int half = (bits + 1) / 2;
  if (half == 0) return 0;  // n == 1
  const uint64_t mask = half >= 64 ? ~0ull : (1ull << half) - 1;
  uint64_t x = index;
  do {
    uint64_t left = (x >> half) & mask, right = x & mask;
    for (uint64_t round = 0; round < 4; ++round) {
      uint64_t state = seed ^ (0xd1b54a32d192ed03ull * (round + 1)) ^ right;
      uint64_t next = left ^ (SplitMix64(state) & mask);
      left = right;
      right = next;
    }
    x = (left << half) | right;
  } while (x >= n);
  return x;
}

// Random sampling. A space of only choices and randints is sampled without replacement: trial k
// gets combination Permute(seed, size, k), so no combination repeats and every one is tried
// within `size` trials, after which the space is exhausted (as a grid). A space with a
// continuous parameter draws each trial's values independently.
class RandomSampler final : public Sampler {
 public:
  explicit RandomSampler(const SweepSpec& s) : s_(s), discrete_(DiscreteSize(s.space)) {}
  std::optional<std::vector<Value>> Next(const std::vector<Observation>& trials) override {
    if (discrete_) {
      if (trials.size() >= *discrete_) return std::nullopt;
      return DiscretePoint(s_.space, Permute(s_.seed, *discrete_, trials.size()));
    }
    Random rng = TrialRandom(s_.seed, trials.size());
    return RandomPoint(s_, rng);
  }

 private:
  SweepSpec s_;
  std::optional<uint64_t> discrete_;
};

// ---- Bayesian optimisation ------------------------------------------------------------------

// Sum of a[i] * b[i] with four running sums (the inner loop of every factorisation and solve).
double Dot(const double* a, const double* b, size_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

// Lower Cholesky factor of a symmetric positive definite n x n matrix, in place, row by row
// (row-major; only the lower triangle is read and written).
bool Cholesky(std::vector<double>& a, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    double* ri = &a[i * n];
    for (size_t j = 0; j < i; ++j) {
      const double* rj = &a[j * n];
      ri[j] = (ri[j] - Dot(ri, rj, j)) / rj[j];
    }
    const double d = ri[i] - Dot(ri, ri, i);
    if (!(d > 0)) return false;
    ri[i] = std::sqrt(d);
  }
  return true;
}

// L x = b in place; then L^T x = (that) when `full` (so K x = b with K = L L^T).
void Solve(const std::vector<double>& l, size_t n, double* b, bool full) {
  for (size_t i = 0; i < n; ++i) b[i] = (b[i] - Dot(&l[i * n], b, i)) / l[i * n + i];
  if (!full) return;
  for (size_t i = n; i-- > 0;) {
    const double* li = &l[i * n];
    const double v = b[i] / li[i];
    b[i] = v;
    for (size_t k = 0; k < i; ++k) b[k] -= li[k] * v;
  }
}

// The lower triangle of K^-1 from K's Cholesky factor l (work: scratch for L^-1).
void InverseFromCholesky(const std::vector<double>& l, size_t n, std::vector<double>& inv,
                         std::vector<double>& work) {
  work.assign(n * n, 0.0);
  for (size_t i = 0; i < n; ++i) {  // row i of L^-1 = (e_i - sum_k<i L[i][k] row k) / L[i][i]
    double* wi = &work[i * n];
    const double* li = &l[i * n];
    for (size_t k = 0; k < i; ++k) {
      const double c = li[k];
      const double* wk = &work[k * n];
      for (size_t j = 0; j <= k; ++j) wi[j] -= c * wk[j];
    }
    wi[i] += 1;
    const double r = 1 / li[i];
    for (size_t j = 0; j <= i; ++j) wi[j] *= r;
  }
  inv.assign(n * n, 0.0);
  for (size_t k = 0; k < n; ++k) {  // K^-1 = (L^-1)^T L^-1, lower triangle
    const double* wk = &work[k * n];
    for (size_t a = 0; a <= k; ++a) {
      const double c = wk[a];
      double* ia = &inv[a * n];
      for (size_t b = 0; b <= a; ++b) ia[b] += c * wk[b];
    }
  }
}

// Minimises f over the box [lo, hi] starting at x: L-BFGS (memory 6) whose direction ignores
// the coordinates held at a bound, with a backtracking line search along the projected path.
// f(x, grad) returns the value and writes the gradient; at most max_evals calls. Returns f(x).
template <class F>
double MinimiseInBox(F&& f, std::vector<double>& x, const std::vector<double>& lo,
                     const std::vector<double>& hi, int max_evals) {
  const size_t m = x.size();
  const size_t memory = 6;
  std::vector<double> g(m), gn(m), xn(m), dir(m), alpha_h(memory);
  std::vector<std::vector<double>> ss, ys;
  std::vector<double> rhos;
  double fx = f(x, g);
  int evals = 1;
  while (evals < max_evals && std::isfinite(fx)) {
    std::vector<bool> held(m);
    double pg = 0;
    for (size_t i = 0; i < m; ++i) {
      held[i] = (x[i] <= lo[i] && g[i] > 0) || (x[i] >= hi[i] && g[i] < 0);
      if (!held[i]) pg = std::max(pg, std::fabs(g[i]));
    }
    if (pg < 1e-9) break;
    // Two-loop recursion on the free coordinates.
    for (size_t i = 0; i < m; ++i) dir[i] = held[i] ? 0 : -g[i];
    const size_t h = ss.size();
    for (size_t k = h; k-- > 0;) {
      double a = 0;
      for (size_t i = 0; i < m; ++i) a += held[i] ? 0 : ss[k][i] * dir[i];
      a *= rhos[k];
      alpha_h[k] = a;
      for (size_t i = 0; i < m; ++i) dir[i] -= held[i] ? 0 : a * ys[k][i];
    }
    double gamma = 1;
    if (h > 0) {
      double yy = 0, sy = 0;
      for (size_t i = 0; i < m; ++i)
        yy += ys[h - 1][i] * ys[h - 1][i], sy += ss[h - 1][i] * ys[h - 1][i];
      gamma = sy / yy;
    } else {
      gamma = std::min(1.0, 0.1 / pg);  // first step: at most 0.1 along any coordinate
    }
    for (size_t i = 0; i < m; ++i) dir[i] *= gamma;
    for (size_t k = 0; k < h; ++k) {
      double b = 0;
      for (size_t i = 0; i < m; ++i) b += held[i] ? 0 : ys[k][i] * dir[i];
      b *= rhos[k];
      for (size_t i = 0; i < m; ++i) dir[i] += held[i] ? 0 : ss[k][i] * (alpha_h[k] - b);
    }
    double slope = 0;
    for (size_t i = 0; i < m; ++i) slope += held[i] ? 0 : dir[i] * g[i];
    if (!(slope < 0)) {  // not a descent direction: restart from steepest descent
      ss.clear(), ys.clear(), rhos.clear();
      for (size_t i = 0; i < m; ++i) dir[i] = held[i] ? 0 : -g[i] * std::min(1.0, 0.1 / pg);
    }
    double t = 1, fn = 0;
    bool accepted = false;
    while (evals < max_evals) {
      double decrease = 0;
      for (size_t i = 0; i < m; ++i) {
        xn[i] = std::clamp(x[i] + t * dir[i], lo[i], hi[i]);
        decrease += g[i] * (xn[i] - x[i]);
      }
      fn = f(xn, gn);
      ++evals;
      if (std::isfinite(fn) && fn <= fx + 1e-4 * decrease) {
        accepted = true;
        break;
      }
      t *= 0.3;
    }
    if (!accepted) break;
    std::vector<double> s(m), y(m);
    double sy = 0;
    for (size_t i = 0; i < m; ++i) {
      s[i] = xn[i] - x[i], y[i] = gn[i] - g[i];
      sy += s[i] * y[i];
    }
    if (sy > 1e-12) {
      if (ss.size() == memory) ss.erase(ss.begin()), ys.erase(ys.begin()), rhos.erase(rhos.begin());
      ss.push_back(std::move(s)), ys.push_back(std::move(y)), rhos.push_back(1 / sy);
    }
    const double before = fx;
    x.swap(xn), g.swap(gn), fx = fn;
    if (before - fx <= 1e-10 * (1 + std::fabs(fx))) break;
  }
  return fx;
}

constexpr double kSqrt5 = 2.23606797749979;

// A Gaussian process on [0, 1]^d: Matérn 5/2 with a length scale per dimension, an amplitude
// and a noise variance (the hyperparameters, log-transformed in `theta`), prior mean 0.
class Gp {
 public:
  // Chooses the hyperparameters: the maximum a posteriori of the marginal likelihood (mild
  // log-normal priors), found by L-BFGS with the analytic gradient, from the best of a few
  // isotropic guesses. x: n rows of d.
  void FitHyperparameters(const std::vector<double>& x, const std::vector<double>& y, size_t d);
  // Conditions on the data with the chosen hyperparameters (raising the noise tenfold, up to
  // five times, while the matrix does not factorise); false if it never does.
  bool Condition(const std::vector<double>& x, const std::vector<double>& y, size_t d);
  // Posterior mean and variance of the latent function at u; with gradients when dm != null.
  void Predict(const double* u, double* mean, double* var, double* dm, double* dv) const;
  double Length(size_t c) const { return std::exp(theta_[c]); }

 private:
  double Nll(const std::vector<double>& th, std::vector<double>* grad);

  size_t d_ = 0, n_ = 0;
  std::vector<double> theta_;                      // log lengths (d), log amplitude, log noise
  std::vector<double> x_, chol_, alpha_, inv_l2_;  // conditioned: data, factor, K^-1 y, 1 / l^2
  double amp_ = 1;
  // Fitting scratch: per-dimension squared differences (lower triangles), targets, kernel and
  // its length-scale derivative factor, K^-1, L^-1, K^-1 y; prediction scratch.
  std::vector<std::vector<double>> d2_;
  std::vector<double> fy_, k_, g_, inv_, work_, fa_;
  size_t fn_ = 0;
  mutable std::vector<double> kv_, dk_, w_;
};

double Gp::Nll(const std::vector<double>& th, std::vector<double>* grad) {
  const size_t n = fn_, d = d_;
  std::vector<double> il2(d);
  for (size_t c = 0; c < d; ++c) il2[c] = std::exp(-2 * th[c]);
  const double amp = std::exp(th[d]), noise = std::exp(th[d + 1]);
  k_.assign(n * n, 0.0);
  if (grad) g_.assign(n * n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < i; ++j) {
      double r2 = 0;
      for (size_t c = 0; c < d; ++c) r2 += d2_[c][i * n + j] * il2[c];
      const double r = std::sqrt(r2), e = std::exp(-kSqrt5 * r);
      k_[i * n + j] = amp * (1 + kSqrt5 * r + 5.0 / 3.0 * r2) * e;
      if (grad) g_[i * n + j] = amp * 5.0 / 3.0 * (1 + kSqrt5 * r) * e;
    }
    k_[i * n + i] = amp + noise;
  }
  std::vector<double> l = k_;
  if (!Cholesky(l, n)) return std::numeric_limits<double>::infinity();
  fa_ = fy_;
  Solve(l, n, fa_.data(), true);
  double nll = 0.5 * Dot(fy_.data(), fa_.data(), n);
  for (size_t i = 0; i < n; ++i) nll += std::log(l[i * n + i]);
  // Log-normal priors: length scales around 0.5 (of the unit axis), the amplitude around 1 (the
  // targets are standardised), the noise around 1e-4 but free to grow for noisy metrics.
  const double len_mu = std::log(0.5), len_sd = 1.0, amp_sd = 1.0, noise_mu = std::log(1e-4),
               noise_sd = 2.0;
  for (size_t c = 0; c < d; ++c)
    nll += 0.5 * (th[c] - len_mu) * (th[c] - len_mu) / (len_sd * len_sd);
  nll += 0.5 * th[d] * th[d] / (amp_sd * amp_sd);
  nll += 0.5 * (th[d + 1] - noise_mu) * (th[d + 1] - noise_mu) / (noise_sd * noise_sd);
  if (!grad) return nll;
  InverseFromCholesky(l, n, inv_, work_);
  grad->assign(d + 2, 0.0);
  auto& gr = *grad;
  double gamp = 0, gdiag = 0;
  std::vector<double> gl(d, 0.0);
  for (size_t i = 0; i < n; ++i) {
    const double ai = fa_[i];
    const double* inv = &inv_[i * n];
    const double* kk = &k_[i * n];
    const double* gg = &g_[i * n];
    for (size_t j = 0; j < i; ++j) {
      const double w = ai * fa_[j] - inv[j];
      gamp += w * kk[j];
      const double wg = w * gg[j];
      for (size_t c = 0; c < d; ++c) gl[c] += wg * d2_[c][i * n + j];
    }
    gdiag += ai * ai - inv[i];
  }
  for (size_t c = 0; c < d; ++c) gr[c] = -gl[c] * il2[c] + (th[c] - len_mu) / (len_sd * len_sd);
  gr[d] = -(gamp + 0.5 * gdiag * amp) + th[d] / (amp_sd * amp_sd);
  gr[d + 1] = -0.5 * gdiag * noise + (th[d + 1] - noise_mu) / (noise_sd * noise_sd);
  return nll;
}

void Gp::FitHyperparameters(const std::vector<double>& x, const std::vector<double>& y, size_t d) {
  d_ = d;
  fn_ = y.size();
  const size_t n = fn_;
  fy_ = y;
  d2_.assign(d, std::vector<double>(n * n, 0.0));
  for (size_t c = 0; c < d; ++c) {
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < i; ++j) {
        const double t = x[i * d + c] - x[j * d + c];
        d2_[c][i * n + j] = t * t;
      }
    }
  }
  std::vector<double> lo(d + 2), hi(d + 2);
  for (size_t c = 0; c < d; ++c) lo[c] = std::log(0.01), hi[c] = std::log(20.0);
  lo[d] = std::log(0.05), hi[d] = std::log(20.0);
  lo[d + 1] = std::log(1e-6), hi[d + 1] = std::log(1.0);
  std::vector<double> th(d + 2), best;
  double best_nll = std::numeric_limits<double>::infinity();
  for (double l : {0.1, 0.2, 0.4, 0.8}) {
    for (size_t c = 0; c < d; ++c) th[c] = std::log(l);
    th[d] = 0;
    th[d + 1] = std::log(1e-4);
    const double v = Nll(th, nullptr);
    if (v < best_nll) best_nll = v, best = th;
  }
  if (best.empty()) {  // nothing factorised: a safe default with a large noise
    best.assign(d + 2, std::log(0.3));
    best[d] = 0, best[d + 1] = std::log(0.1);
  } else {
    MinimiseInBox([&](const std::vector<double>& t, std::vector<double>& g) { return Nll(t, &g); },
                  best, lo, hi, 30);
  }
  theta_ = best;
  d2_.clear(), k_.clear(), g_.clear(), inv_.clear(), work_.clear();
}

bool Gp::Condition(const std::vector<double>& x, const std::vector<double>& y, size_t d) {
  d_ = d;
  n_ = y.size();
  x_ = x;
  inv_l2_.resize(d);
  for (size_t c = 0; c < d; ++c) inv_l2_[c] = std::exp(-2 * theta_[c]);
  amp_ = std::exp(theta_[d]);
  double noise = std::exp(theta_[d + 1]);
  for (int attempt = 0; attempt < 6; ++attempt, noise *= 10) {
    chol_.assign(n_ * n_, 0.0);
    for (size_t i = 0; i < n_; ++i) {
      for (size_t j = 0; j < i; ++j) {
        double r2 = 0;
        for (size_t c = 0; c < d; ++c) {
          const double t = x[i * d + c] - x[j * d + c];
          r2 += t * t * inv_l2_[c];
        }
        const double r = std::sqrt(r2);
        chol_[i * n_ + j] = amp_ * (1 + kSqrt5 * r + 5.0 / 3.0 * r2) * std::exp(-kSqrt5 * r);
      }
      chol_[i * n_ + i] = amp_ + noise;
    }
    if (Cholesky(chol_, n_)) {
      alpha_ = y;
      Solve(chol_, n_, alpha_.data(), true);
      return true;
    }
  }
  return false;
}

void Gp::Predict(const double* u, double* mean, double* var, double* dm, double* dv) const {
  const size_t n = n_, d = d_;
  kv_.resize(n);
  if (dm) dk_.resize(n * d);
  for (size_t i = 0; i < n; ++i) {
    const double* xi = &x_[i * d];
    double r2 = 0;
    for (size_t c = 0; c < d; ++c) r2 += (u[c] - xi[c]) * (u[c] - xi[c]) * inv_l2_[c];
    const double r = std::sqrt(r2), e = std::exp(-kSqrt5 * r);
    kv_[i] = amp_ * (1 + kSqrt5 * r + 5.0 / 3.0 * r2) * e;
    if (dm) {
      // d k / d u_c = -amp 5/3 (1 + sqrt5 r) e^(-sqrt5 r) (u_c - x_c) / l_c^2
      const double g = -amp_ * 5.0 / 3.0 * (1 + kSqrt5 * r) * e;
      for (size_t c = 0; c < d; ++c) dk_[i * d + c] = g * (u[c] - xi[c]) * inv_l2_[c];
    }
  }
  *mean = Dot(kv_.data(), alpha_.data(), n);
  w_ = kv_;
  Solve(chol_, n, w_.data(), false);
  const double v = amp_ - Dot(w_.data(), w_.data(), n);
  *var = std::max(v, 1e-12 * amp_);
  if (!dm) return;
  for (size_t c = 0; c < d; ++c) dm[c] = 0, dv[c] = 0;
  if (v <= 1e-12 * amp_) return;  // clamped: flat
  // d var = -2 (K^-1 k) . dk: finish the solve (the forward half is in w_).
  for (size_t i = n; i-- > 0;) {
    const double* li = &chol_[i * n];
    const double t = w_[i] / li[i];
    w_[i] = t;
    for (size_t k = 0; k < i; ++k) w_[k] -= li[k] * t;
  }
  for (size_t i = 0; i < n; ++i) {
    const double* g = &dk_[i * d];
    for (size_t c = 0; c < d; ++c) {
      dm[c] += g[c] * alpha_[i];
      dv[c] -= 2 * g[c] * w_[i];
    }
  }
}

constexpr double kLogSqrt2Pi = 0.91893853320467274;

// log h(z) with h(z) = phi(z) + z Phi(z) (expected improvement = sigma h(z)), and its
// derivative Phi(z) / h(z); far in the lower tail from the asymptotic series, where the
// direct form would cancel to zero.
void LogH(double z, double* lh, double* dlh) {
  if (z > -25) {
    const double cdf = Phi(z), pdf = PhiDensity(z), h = pdf + z * cdf;
    *lh = std::log(std::max(h, 1e-300));
    *dlh = cdf / std::max(h, 1e-300);
    return;
  }
  const double w = 1 / (z * z);
  const double s = 1 - 3 * w + 15 * w * w - 105 * w * w * w;
  const double ds = (6 * w - 60 * w * w + 630 * w * w * w) / z;
  *lh = -0.5 / w - kLogSqrt2Pi + std::log(w) + std::log(s);
  *dlh = -z - 2 / z + ds / s;
}

bool Quantised(const Parameter& p) {
  return p.expression == Expression::kChoice || p.expression == Expression::kRandint ||
         p.args.size() == 3;
}

class BayesianSampler final : public Sampler {
 public:
  explicit BayesianSampler(const SweepSpec& s) : s_(s) {}

  std::optional<std::vector<Value>> Next(const std::vector<Observation>& trials) override;

 private:
  SweepSpec s_;
};

// Targets for the model (minimised): the better half as they are, the worse half by rank on a
// normal scale that continues the better half's spread (so a few diverged trials do not
// flatten the model where the good ones are, and the good ones keep their real differences,
// which a rank transform of all of them would blur), then standardised.
std::vector<double> Targets(const std::vector<double>& raw) {
  const size_t n = raw.size();
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return raw[a] < raw[b]; });
  const double median = raw[order[n / 2]];
  double spread = 0;
  size_t good = 0;
  for (double v : raw) {
    if (v <= median) spread += (v - median) * (v - median), ++good;
  }
  spread = std::sqrt(spread / static_cast<double>(std::max<size_t>(good, 1)));
  if (!(spread > 0)) spread = 1;
  std::vector<double> y = raw;
  for (size_t r = 0; r < n;) {
    size_t e = r;  // ties share their mid-rank
    while (e + 1 < n && raw[order[e + 1]] == raw[order[r]]) ++e;
    const double q = (static_cast<double>(r + e) / 2 + 0.5) / static_cast<double>(n);
    for (size_t k = r; k <= e; ++k) {
      if (raw[order[k]] > median) y[order[k]] = median + spread * std::max(0.0, PhiInverse(q));
    }
    r = e + 1;
  }
  double mean = 0, var = 0;
  for (double v : y) mean += v;
  mean /= static_cast<double>(n);
  for (double v : y) var += (v - mean) * (v - mean);
  const double sd = var > 0 ? std::sqrt(var / static_cast<double>(n)) : 1;
  for (auto& v : y) v = (v - mean) / sd;
  return y;
}

}  // namespace

std::vector<Observation> ModelTrials(const std::vector<Observation>& all, bool maximize) {
  if (all.size() <= kModelMax) return all;
  const double sign = maximize ? -1 : 1;
  std::vector<size_t> observed;
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i].metric) observed.push_back(i);
  }
  auto target = [&](size_t i) {  // minimised; a diverged metric is the worst
    const double m = *all[i].metric;
    return std::isfinite(m) ? sign * m : std::numeric_limits<double>::infinity();
  };
  std::stable_sort(observed.begin(), observed.end(),
                   [&](size_t a, size_t b) { return target(a) < target(b); });
  std::vector<bool> keep(all.size(), false);
  for (size_t k = 0; k < std::min(observed.size(), kModelMax / 2); ++k) keep[observed[k]] = true;
  size_t kept = std::min(observed.size(), kModelMax / 2);
  for (size_t i = all.size(); i-- > 0 && kept < kModelMax;) {
    if (!keep[i]) keep[i] = true, ++kept;
  }
  std::vector<Observation> out;
  out.reserve(kModelMax);
  for (size_t i = 0; i < all.size(); ++i) {
    if (keep[i]) out.push_back(all[i]);
  }
  return out;
}

namespace {

std::optional<std::vector<Value>> BayesianSampler::Next(const std::vector<Observation>& history) {
  Random rng = TrialRandom(s_.seed, history.size());
  const size_t d = s_.space.size();
  const size_t initial = std::max<size_t>(3, d + 1);
  size_t observed = 0;
  for (const auto& t : history) observed += t.metric ? 1 : 0;
  if (observed < initial) return RandomPoint(s_, rng);  // a space-filling start, then the model
  const std::vector<Observation> trials =
      ModelTrials(history, s_.primary_metric_goal == "Maximize");
  // Targets, minimised: a metric that is not finite (a diverged run) counts as the worst
  // seen; running trials are "constant liars" at the mean of the observed ones.
  const double sign = s_.primary_metric_goal == "Maximize" ? -1 : 1;
  double sum = 0, worst = -std::numeric_limits<double>::infinity();
  size_t finite = 0;
  for (const auto& t : trials) {
    if (!t.metric || !std::isfinite(*t.metric)) continue;
    sum += sign * *t.metric, worst = std::max(worst, sign * *t.metric), ++finite;
  }
  if (finite == 0) worst = 0;
  const double liar = finite ? sum / static_cast<double>(finite) : 0;
  const size_t n = trials.size();
  std::vector<double> xs(n * d), raw(n);
  for (size_t i = 0; i < n; ++i) {
    for (size_t c = 0; c < d; ++c) xs[i * d + c] = ToUnit(s_.space[c], trials[i].point[c]);
    const auto& m = trials[i].metric;
    raw[i] = !m ? liar : std::isfinite(*m) ? sign * *m : worst;
  }
  const std::vector<double> ys = Targets(raw);
  // Hyperparameters from at most kFitMax trials, evenly spread over the history (each step of
  // the likelihood fit is cubic in their number); the model then conditions on all of them.
  constexpr size_t kFitMax = 80;
  Gp gp;
  if (n <= kFitMax) {
    gp.FitHyperparameters(xs, ys, d);
  } else {
    std::vector<double> fx, fy;
    for (size_t k = 0; k < kFitMax; ++k) {
      const size_t i = k * n / kFitMax;
      fx.insert(fx.end(), xs.begin() + static_cast<long>(i * d),
                xs.begin() + static_cast<long>((i + 1) * d));
      fy.push_back(ys[i]);
    }
    gp.FitHyperparameters(fx, fy, d);
  }
  if (!gp.Condition(xs, ys, d)) return RandomPoint(s_, rng);
  std::vector<size_t> ranked;  // observed trials, best first
  for (size_t i = 0; i < n; ++i) {
    if (trials[i].metric) ranked.push_back(i);
  }
  std::stable_sort(ranked.begin(), ranked.end(), [&](size_t a, size_t b) { return ys[a] < ys[b]; });
  const double best = ys[ranked[0]];
  // The box searched on each unit axis, and which axes take only some values.
  std::vector<double> lo(d, 0.0), hi(d, 1.0);
  std::vector<bool> quantised(d);
  for (size_t c = 0; c < d; ++c) {
    const auto e = s_.space[c].expression;
    if (e == Expression::kNormal || e == Expression::kQnormal || e == Expression::kLognormal ||
        e == Expression::kQlognormal) {
      lo[c] = 0.001, hi[c] = 0.999;  // the axis is the normal's CDF: stay within 3.1 sigma
    }
    quantised[c] = Quantised(s_.space[c]);
  }
  auto snap = [&](std::vector<double>& u) {  // onto the values the parameter can take
    for (size_t c = 0; c < d; ++c) {
      u[c] = std::clamp(u[c], lo[c], hi[c]);
      if (quantised[c]) u[c] = ToUnit(s_.space[c], FromUnit(s_.space[c], u[c]));
    }
  };
  // log EI(u) = log sigma + log h((best - mean) / sigma), and its gradient when grad != null:
  // the log keeps the far-from-everything tail comparable and its gradient alive.
  std::vector<double> dm(d), dv(d);
  auto log_ei = [&](const double* u, double* grad) {
    double m, v;
    gp.Predict(u, &m, &v, grad ? dm.data() : nullptr, grad ? dv.data() : nullptr);
    const double sd = std::sqrt(v), z = (best - m) / sd;
    double lh, dlh;
    LogH(z, &lh, &dlh);
    if (grad) {
      for (size_t c = 0; c < d; ++c)
        grad[c] = (-dlh * dm[c] + (1 - z * dlh) * dv[c] / (2 * sd)) / sd;
    }
    return std::log(sd) + lh;
  };
  // Candidates: uniform on the unit axes (that is the space's own prior), and around the best
  // trials at fractions of the length scales; the best few then climb by L-BFGS.
  constexpr size_t kRandom = 500, kAround = 5, kPerTrial = 40, kStarts = 5;
  constexpr int kClimbEvals = 25;
  struct Candidate {
    std::vector<double> u;
    double score = 0;
  };
  std::vector<Candidate> cands;
  for (size_t k = 0; k < kRandom; ++k) {
    std::vector<double> u(d);
    for (size_t c = 0; c < d; ++c) u[c] = lo[c] + (hi[c] - lo[c]) * rng.Uniform01();
    snap(u);
    cands.push_back({std::move(u)});
  }
  for (size_t r = 0; r < std::min(ranked.size(), kAround); ++r) {
    const double* base = &xs[ranked[r] * d];
    for (size_t k = 0; k < kPerTrial; ++k) {
      const double scale = k % 3 == 0 ? 0.5 : k % 3 == 1 ? 0.15 : 0.04;
      std::vector<double> u(d);
      for (size_t c = 0; c < d; ++c)
        u[c] = base[c] + scale * std::min(1.0, gp.Length(c)) * rng.Normal();
      snap(u);
      cands.push_back({std::move(u)});
    }
  }
  for (auto& c : cands) c.score = log_ei(c.u.data(), nullptr);
  std::stable_sort(cands.begin(), cands.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  std::vector<double> chosen = cands[0].u;
  double chosen_score = cands[0].score;
  for (size_t k = 0; k < std::min(cands.size(), kStarts); ++k) {
    std::vector<double> u = cands[k].u;
    MinimiseInBox(
        [&](const std::vector<double>& p, std::vector<double>& g) {
          const double v = log_ei(p.data(), g.data());
          for (auto& e : g) e = -e;
          return -v;
        },
        u, lo, hi, kClimbEvals);
    snap(u);
    const double score = log_ei(u.data(), nullptr);
    if (score > chosen_score) chosen_score = score, chosen = std::move(u);
  }
  std::vector<Value> point;
  for (size_t c = 0; c < d; ++c) point.push_back(FromUnit(s_.space[c], chosen[c]));
  return point;
}

}  // namespace

double ToUnit(const Parameter& p, const Value& v) {
  const auto& a = p.args;
  switch (p.expression) {
    case Expression::kChoice: {
      size_t i = 0;
      while (i < p.choices.size() && p.choices[i].text != v.text) ++i;
      return (static_cast<double>(std::min(i, p.choices.size() - 1)) + 0.5) /
             static_cast<double>(p.choices.size());
    }
    case Expression::kRandint:
      return (v.number + 0.5) / a[0];
    case Expression::kUniform:
    case Expression::kQuniform:
      return std::clamp((v.number - a[0]) / (a[1] - a[0]), 0.0, 1.0);
    case Expression::kLoguniform:
    case Expression::kQloguniform:
      return v.number <= 0 ? 0.0
                           : std::clamp((std::log(v.number) - a[0]) / (a[1] - a[0]), 0.0, 1.0);
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
      return p.choices[std::min(p.choices.size() - 1,
                                static_cast<size_t>(u * static_cast<double>(p.choices.size())))];
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
