// Sampler quality: Ferry's Bayesian sampler against random search on Branin (2-D, optimum
// 0.397887) and Hartmann-6 (6-D, optimum -3.32237), the mean over seeds of the best value
// after 50/100/200 evaluations, and the time of one suggestion at 200 observations.
// (Optuna's TPE, the third contender, is run by bench/sweep_quality_tpe.py;
// bench/sweep_quality.sh runs both, as bench/run_all.sh does.)
//
//   sweep_quality [--seeds 20] [--budget 200] [--problem branin|hartmann6]
//                 [--sampler random|bayesian] [--first-seed 0] [--per-seed]
// Prints a table, then RESULT lines (--per-seed: each seed's best at 50/100/200 as well).
// Goals (issue 7): Bayesian better than random and TPE at every budget; Branin <= 0.40 and
// Hartmann-6 <= -3.20 at 100; <= 50 ms per suggestion at 200.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "sweep/sampler.h"

using namespace ferry::sweep;

namespace {

double Branin(const std::vector<double>& x) {
  const double a = 1, b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, r = 6, s = 10, t = 1 / (8 * M_PI);
  return a * std::pow(x[1] - b * x[0] * x[0] + c * x[0] - r, 2) + s * (1 - t) * std::cos(x[0]) + s;
}

double Hartmann6(const std::vector<double>& x) {
  static const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
  static const double A[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                 {0.05, 10, 17, 0.1, 8, 14},
                                 {3, 3.5, 1.7, 10, 17, 8},
                                 {17, 8, 0.05, 10, 0.1, 14}};
  static const double P[4][6] = {{1312, 1696, 5569, 124, 8283, 5886},
                                 {2329, 4135, 8307, 3736, 1004, 9991},
                                 {2348, 1451, 3522, 2883, 3047, 6650},
                                 {4047, 8828, 8732, 5743, 1091, 381}};
  double sum = 0;
  for (int i = 0; i < 4; ++i) {
    double inner = 0;
    for (int j = 0; j < 6; ++j)
      inner += A[i][j] * std::pow(x[static_cast<size_t>(j)] - P[i][j] * 1e-4, 2);
    sum += alpha[i] * std::exp(-inner);
  }
  return -sum;
}

struct Problem {
  const char* name;
  std::vector<std::pair<double, double>> bounds;
  std::function<double(const std::vector<double>&)> f;
};

SweepSpec Spec(const Problem& p, const std::string& sampling, uint64_t seed) {
  SweepSpec s;
  s.sampling = sampling;
  s.seed = seed;
  s.primary_metric_goal = "Minimize";
  for (size_t i = 0; i < p.bounds.size(); ++i) {
    Parameter q;
    q.name = "--x" + std::to_string(i);
    q.expression = Expression::kUniform;
    q.args = {p.bounds[i].first, p.bounds[i].second};
    s.space.push_back(q);
  }
  return s;
}

// Best value after each evaluation; the time of the last suggestion.
std::vector<double> Run(const Problem& p, const std::string& sampling, uint64_t seed, int budget,
                        double* last_ms) {
  auto sampler = MakeSampler(Spec(p, sampling, seed));
  std::vector<Observation> trials;
  std::vector<double> best;
  double b = 1e300;
  for (int i = 0; i < budget; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto point = *sampler->Next(trials);
    *last_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::vector<double> x;
    x.reserve(point.size());
    for (const auto& v : point) x.push_back(v.number);
    double y = p.f(x);
    b = std::min(b, y);
    best.push_back(b);
    trials.push_back({point, y});
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int seeds = 20, budget = 200, first_seed = 0;
  bool per_seed = false;
  std::string only_problem, only_sampler;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--per-seed")) per_seed = true;
    if (i + 1 >= argc) continue;
    if (!std::strcmp(argv[i], "--seeds")) seeds = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--budget")) budget = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--first-seed")) first_seed = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--problem")) only_problem = argv[i + 1];
    if (!std::strcmp(argv[i], "--sampler")) only_sampler = argv[i + 1];
  }
  std::vector<Problem> problems = {
      {"branin", {{-5, 10}, {0, 15}}, Branin},
      {"hartmann6", std::vector<std::pair<double, double>>(6, {0.0, 1.0}), Hartmann6},
  };
  std::printf("sweep_quality: mean best value over %d seeds (lower is better)\n", seeds);
  std::printf("%-10s %-9s %10s %10s %10s %14s\n", "problem", "sampler", "@50", "@100", "@200",
              "ms/suggestion");
  for (const auto& p : problems) {
    if (!only_problem.empty() && only_problem != p.name) continue;
    for (const char* sampling : {"random", "bayesian"}) {
      if (!only_sampler.empty() && only_sampler != sampling) continue;
      double m50 = 0, m100 = 0, m200 = 0, ms = 0;
      for (int s = 0; s < seeds; ++s) {
        double last = 0;
        auto best = Run(p, sampling, static_cast<uint64_t>(first_seed) + s, budget, &last);
        m50 += best[std::min<size_t>(49, best.size() - 1)];
        m100 += best[std::min<size_t>(99, best.size() - 1)];
        m200 += best.back();
        ms += last;
        if (per_seed) {
          std::printf("  seed %2d %-9s %10.4f %10.4f %10.4f %8.1f ms\n", first_seed + s, sampling,
                      best[std::min<size_t>(49, best.size() - 1)],
                      best[std::min<size_t>(99, best.size() - 1)], best.back(), last);
        }
      }
      m50 /= seeds, m100 /= seeds, m200 /= seeds, ms /= seeds;
      std::printf("%-10s %-9s %10.4f %10.4f %10.4f %14.1f\n", p.name, sampling, m50, m100, m200,
                  ms);
      std::printf(
          "RESULT problem=%s sampler=%s best50=%.4f best100=%.4f best200=%.4f ms_at_%d=%.1f "
          "seeds=%d\n",
          p.name, sampling, m50, m100, m200, budget, ms, seeds);
      std::fflush(stdout);
    }
  }
  return 0;
}
