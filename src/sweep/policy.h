// Early termination of sweep trials: Azure ML HyperDrive's BanditPolicy, MedianStoppingPolicy,
// TruncationSelectionPolicy and NoTerminationPolicy with their documented rules, plus ASHA
// (asynchronous successive halving). Pure functions of the trials' metric reports.
//
// An interval is one report of the primary metric: a trial's t-th logged value is its value
// at interval t (t from 1). A policy is applied to a trial at interval t when
// t % evaluation_interval == 0 and t >= delay_evaluation (ASHA: at its rungs).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sweep/space.h"

namespace ferry::sweep {

struct TrialReports {
  std::string id;
  bool finished = false;       // ended (completed, failed or stopped)
  std::vector<double> values;  // values[t - 1]: the primary metric at interval t
};

// A metric value in reasons and summaries: 6 significant digits ("0.708333").
std::string MetricText(double v);

// Whether metric value a is better than b by the spec's goal (strictly).
bool Better(const SweepSpec& spec, double a, double b);

// Whether trial `index` is to be stopped at interval t (it has reported t values); the reason
// names the policy and the numbers ("BanditPolicy at interval 4: 0.61 < best 0.8 / (1 + 0.2)
// = 0.667"). Only trials that reached interval t are compared.
std::optional<std::string> ShouldStop(const SweepSpec& spec,
                                      const std::vector<TrialReports>& trials, size_t index, int t);

// ASHA's rungs below max_t: grace_period * reduction_factor^k.
std::vector<int> AshaRungs(const SweepSpec& spec);

}  // namespace ferry::sweep
