#include "sweep/policy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ferry::sweep {
std::string MetricText(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

namespace {

std::string Num(double v) { return MetricText(v); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string At(const std::string& policy, int t) {
  return policy + " at interval " + std::to_string(t) + ": ";
}

}  // namespace

std::vector<int> AshaRungs(const SweepSpec& s) {
  std::vector<int> rungs;
  for (long long r = s.grace_period; r < s.max_t; r *= s.reduction_factor)
    rungs.push_back(static_cast<int>(r));
  return rungs;
}

bool Better(const SweepSpec& s, double a, double b) {
  return s.primary_metric_goal == "Maximize" ? a > b : a < b;
}

std::optional<std::string> ShouldStop(const SweepSpec& s, const std::vector<TrialReports>& trials,
                                      size_t index, int t) {
  const TrialReports& me = trials[index];
  if (t < 1 || static_cast<size_t>(t) > me.values.size()) return std::nullopt;
  const double mine = me.values[static_cast<size_t>(t) - 1];
  const bool max = s.primary_metric_goal == "Maximize";
  if (s.policy == "ASHA") {
    auto rungs = AshaRungs(s);
    if (std::find(rungs.begin(), rungs.end(), t) == rungs.end()) return std::nullopt;
    // At a rung a trial goes on only if it is in the top 1/reduction_factor of the trials that
    // have reached the rung so far (asynchronous: never waiting for the others).
    std::vector<double> at;
    for (const auto& tr : trials) {
      if (tr.values.size() >= static_cast<size_t>(t))
        at.push_back(tr.values[static_cast<size_t>(t) - 1]);
    }
    size_t keep = at.size() / static_cast<size_t>(s.reduction_factor);
    if (keep == 0) return std::nullopt;  // too few to compare yet: promoted
    std::sort(at.begin(), at.end(), [&](double a, double b) { return Better(s, a, b); });
    double cutoff = at[keep - 1];
    if (Better(s, cutoff, mine)) {
      return At("ASHA", t) + Num(mine) + " is not in the top " + std::to_string(keep) + " of " +
             std::to_string(at.size()) + " at rung " + std::to_string(t) + " (cutoff " +
             Num(cutoff) + ")";
    }
    return std::nullopt;
  }
  if (s.policy == "NoTerminationPolicy") return std::nullopt;
  if (t % s.evaluation_interval != 0 || t < s.delay_evaluation) return std::nullopt;

  if (s.policy == "BanditPolicy") {
    double best = mine;
    for (const auto& tr : trials) {
      if (tr.values.size() >= static_cast<size_t>(t) &&
          Better(s, tr.values[static_cast<size_t>(t) - 1], best)) {
        best = tr.values[static_cast<size_t>(t) - 1];
      }
    }
    double bound;
    std::string how;
    if (s.slack_factor_set) {
      bound = max ? best / (1 + s.slack_factor) : best * (1 + s.slack_factor);
      how = "best " + Num(best) + (max ? " / (1 + " : " * (1 + ") + Num(s.slack_factor) +
            ") = " + Num(bound);
    } else {
      bound = max ? best - s.slack_amount : best + s.slack_amount;
      how = "best " + Num(best) + (max ? " - " : " + ") + Num(s.slack_amount) + " = " + Num(bound);
    }
    if (Better(s, bound, mine))
      return At("BanditPolicy", t) + Num(mine) + (max ? " < " : " > ") + how;
    return std::nullopt;
  }

  if (s.policy == "MedianStoppingPolicy") {
    // The trial's best value so far against the median of all trials' running averages at t.
    double best = me.values[0];
    for (int i = 1; i < t; ++i) {
      if (Better(s, me.values[static_cast<size_t>(i)], best))
        best = me.values[static_cast<size_t>(i)];
    }
    std::vector<double> averages;
    for (const auto& tr : trials) {
      if (tr.values.size() < static_cast<size_t>(t)) continue;
      double sum = 0;
      for (int i = 0; i < t; ++i) sum += tr.values[static_cast<size_t>(i)];
      averages.push_back(sum / t);
    }
    if (averages.size() < 2) return std::nullopt;  // nothing to compare with
    double median = Median(averages);
    if (Better(s, median, best)) {
      return At("MedianStoppingPolicy", t) + "best " + Num(best) + " is worse than the median " +
             Num(median) + " of " + std::to_string(averages.size()) + " trials' running averages";
    }
    return std::nullopt;
  }

  if (s.policy == "TruncationSelectionPolicy") {
    // The lowest truncation_percentage % of the trials at interval t are stopped.
    std::vector<double> at;
    for (const auto& tr : trials) {
      if (tr.values.size() < static_cast<size_t>(t)) continue;
      if (s.exclude_finished_jobs && tr.finished && &tr != &me) continue;
      at.push_back(tr.values[static_cast<size_t>(t) - 1]);
    }
    size_t cut = at.size() * static_cast<size_t>(s.truncation_percentage) / 100;
    if (cut == 0) return std::nullopt;
    size_t better = 0;  // trials strictly better than this one (ties protect each other)
    for (double v : at) better += Better(s, v, mine) ? 1 : 0;
    if (better >= at.size() - cut) {
      return At("TruncationSelectionPolicy", t) + Num(mine) + " is in the lowest " +
             std::to_string(s.truncation_percentage) + "% (" + std::to_string(cut) + " of " +
             std::to_string(at.size()) + " trials)";
    }
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace ferry::sweep
