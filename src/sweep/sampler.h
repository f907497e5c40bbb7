// Samplers: which parameter values the next trial gets. Each is a pure function of the sweep
// spec and the trials so far, so a sweep resumed after a server restart asks again and gets
// the same answer (no hidden generator state):
//   - grid: the next combination in order;
//   - random: trial k's values come from a generator seeded with (seed, k); over a space of
//     only choices and randints, without replacement: trial k gets position k of a permutation
//     of the combinations chosen by the seed, and the space is exhausted after all of them;
//   - bayesian: after max(3, parameters + 1) random trials, a Gaussian process (Matérn 5/2 with a
//     length scale per parameter, an amplitude and a noise, chosen by maximising the marginal
//     likelihood with mild priors, by L-BFGS; from at most 80 of the trials; conditioned on at
//     most kModelMax of them, see ModelTrials) on the parameters
//     mapped to [0, 1] (log scale for the log expressions, the normal's CDF for the normal ones,
//     quantised on output, choices by index) and on the metric with its worse half replaced by
//     ranks (so diverged trials do not flatten the model); the logarithm of expected
//     improvement maximised over candidates drawn from the space and around the best trials,
//     the best of them climbed by L-BFGS. Trials still running count as observed at the mean
//     of the observed values ("constant liar"), so concurrent trials spread out; a metric that
//     is not finite (a diverged run) counts as the worst seen. Every expression is accepted.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "sweep/space.h"

namespace ferry::sweep {

struct Observation {
  std::vector<Value> point;      // in the order of SweepSpec::space
  std::optional<double> metric;  // the trial's primary metric (best reported); none: running
};

class Sampler {
 public:
  virtual ~Sampler() = default;
  // The next trial's values; nullopt when the space is exhausted (grid, discrete random).
  virtual std::optional<std::vector<Value>> Next(const std::vector<Observation>& trials) = 0;
};

std::unique_ptr<Sampler> MakeSampler(const SweepSpec& spec);

// The trials the Bayesian model conditions on (its matrices are n x n and its work n^3, so
// warm start and long sweeps must not make n unbounded): all of them up to kModelMax, else the
// best kModelMax / 2 observed ones (a metric that is not finite counts as the worst) and the
// most recent to fill the rest (running trials, whose liars spread concurrent trials apart,
// are among the most recent), in their order. Exposed for tests.
inline constexpr size_t kModelMax = 500;
std::vector<Observation> ModelTrials(const std::vector<Observation>& all, bool maximize);

// The position of a value on the parameter's [0, 1] axis (what the Bayesian model sees), and back.
double ToUnit(const Parameter& p, const Value& v);
Value FromUnit(const Parameter& p, double u);

}  // namespace ferry::sweep
