// Samplers: which parameter values the next trial gets. Each is a pure function of the sweep
// spec and the trials so far, so a sweep resumed after a server restart asks again and gets
// the same answer (no hidden generator state):
//   - grid: the next combination in order;
//   - random: trial k's values come from a generator seeded with (seed, k);
//   - bayesian: a Gaussian process (Matérn 5/2 with a length scale per parameter, chosen with
//     the noise by marginal likelihood) on the
//     parameters mapped to [0, 1] (log scale for the log expressions, quantised on output,
//     choices by index), expected improvement maximised over candidates drawn from the space;
//     trials still running count as observed at the mean of the observed values ("constant
//     liar"), so concurrent trials spread out. Every expression is accepted.
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
  // The next trial's values; nullopt when the space is exhausted (grid).
  virtual std::optional<std::vector<Value>> Next(const std::vector<Observation>& trials) = 0;
};

std::unique_ptr<Sampler> MakeSampler(const SweepSpec& spec);

// The position of a value on the parameter's [0, 1] axis (what the Bayesian model sees), and back.
double ToUnit(const Parameter& p, const Value& v);
Value FromUnit(const Parameter& p, double u);

}  // namespace ferry::sweep
