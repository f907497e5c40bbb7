// The sweep controller: sampling, early termination and the end of a sweep, driven by the
// scheduler's cycles. See sweep_controller.h.
#include "scheduler/sweep_controller.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "scheduler/scheduler.h"

namespace ferry::scheduler {

using model::RunStatus;
using nlohmann::json;

namespace {

// Every trial of a sweep, oldest first (the store lists newest first).
Result<std::vector<model::Run>> Trials(store::MetadataStore* store, const std::string& sweep_id) {
  model::RunFilter f;
  f.parent = sweep_id;
  f.limit = 1 << 30;
  FERRY_ASSIGN_OR_RETURN(auto runs, store->ListRuns(f));
  std::reverse(runs.begin(), runs.end());
  return runs;
}

// The values a stored trial got, in the order of spec.space.
Result<std::vector<sweep::Value>> TrialPoint(const sweep::SweepSpec& spec,
                                             const std::map<std::string, std::string>& params) {
  std::vector<sweep::Value> point;
  for (const auto& p : spec.space) {
    auto it = params.find(sweep::ParamKey(p.name));
    if (it == params.end())
      return Status::NotFound("it has no parameter '" + sweep::ParamKey(p.name) + "'");
    FERRY_ASSIGN_OR_RETURN(sweep::Value v, sweep::ValueFromText(p, it->second));
    point.push_back(std::move(v));
  }
  return point;
}

std::optional<double> BestOf(const sweep::SweepSpec& spec, const std::vector<double>& values) {
  std::optional<double> best;
  for (double v : values) {
    if (std::isnan(v)) continue;
    if (!best || sweep::Better(spec, v, *best)) best = v;
  }
  return best;
}

}  // namespace

std::string SweepSettingsToJson(const SweepSettings& s) {
  return json{{"azure_strict", s.azure_strict}, {"seed", s.seed}, {"warm_start", s.warm_start}}
      .dump();
}

Result<SweepSettings> SweepSettingsFromJson(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return Status::InvalidArgument("stored sweep settings are not a JSON object");
  SweepSettings s;
  s.azure_strict = j.value("azure_strict", false);
  s.seed = j.value("seed", uint64_t{0});
  if (auto it = j.find("warm_start"); it != j.end() && it->is_array()) {
    for (auto& w : *it) {
      if (w.is_string()) s.warm_start.push_back(w.get<std::string>());
    }
  }
  return s;
}

Result<sweep::SweepSpec> LoadSweepSpec(const store::SweepRecord& record,
                                       const SweepSettings& settings) {
  sweep::ParseOptions po;
  po.azure_strict = settings.azure_strict;
  FERRY_ASSIGN_OR_RETURN(sweep::SweepSpec spec,
                         sweep::ParseSweepSpec(record.spec_text, record.spec_file, po));
  if (!spec.seeded) spec.seed = settings.seed;
  return spec;
}

Result<std::vector<sweep::Observation>> WarmStartObservations(
    store::MetadataStore* store, const sweep::SweepSpec& spec,
    const std::vector<std::string>& sweep_ids) {
  std::vector<sweep::Observation> out;
  for (const std::string& id : sweep_ids) {
    auto ctx = [&](const std::string& why) {
      return Status::InvalidArgument("warm start from '" + id + "': " + why);
    };
    auto record = store->GetSweep(id);
    if (!record.ok()) return ctx(record.status().message());
    auto settings = SweepSettingsFromJson(record->settings);
    if (!settings.ok()) return ctx(settings.status().message());
    auto earlier = LoadSweepSpec(*record, *settings);
    if (!earlier.ok()) return ctx(earlier.status().message());
    if (earlier->primary_metric_name != spec.primary_metric_name ||
        earlier->primary_metric_goal != spec.primary_metric_goal) {
      return ctx("it optimised '" + earlier->primary_metric_name + "' (" +
                 earlier->primary_metric_goal + "), this sweep '" + spec.primary_metric_name +
                 "' (" + spec.primary_metric_goal + ")");
    }
    for (const auto& p : spec.space) {
      bool has =
          std::any_of(earlier->space.begin(), earlier->space.end(), [&](const sweep::Parameter& q) {
            return sweep::ParamKey(q.name) == sweep::ParamKey(p.name);
          });
      if (!has)
        return ctx("it did not sample '" + p.name +
                   "'; warm start needs every parameter of this sweep");
    }
    FERRY_ASSIGN_OR_RETURN(auto trials, Trials(store, id));
    for (const auto& t : trials) {
      if (!model::IsTerminal(t.status)) continue;
      auto params = store->Params(t.id);
      if (!params.ok()) continue;
      auto point = TrialPoint(spec, *params);
      if (!point.ok()) continue;  // e.g. a choice this sweep no longer offers
      auto points = store->GetMetrics(t.id, spec.primary_metric_name);
      if (!points.ok()) continue;
      std::vector<double> values;
      for (auto& m : *points) values.push_back(m.value);
      auto best = BestOf(spec, values);
      if (!best) continue;
      out.push_back({std::move(point).value(), best});
    }
  }
  return out;
}

struct SweepController::Trial {
  std::string id;
  RunStatus status = RunStatus::kQueued;
  std::vector<sweep::Value> point;
  bool point_ok = true;
  std::vector<double> values;  // the primary metric's reports, in order
  std::optional<double> best;  // the best of them by the goal
  size_t evaluated = 0;        // reports the policy has looked at
  bool stop_sent = false;
};

struct SweepController::Sweep {
  sweep::SweepSpec spec;
  std::unique_ptr<sweep::Sampler> sampler;
  std::vector<sweep::Observation> warm;
  std::vector<Trial> trials;
  bool exhausted = false;  // the sampler has nothing left (grid)
  bool failing = false;    // the first trials all failed: no more are started
  std::string best_id;     // the best trial recorded in the parent's tags
  double best = 0;
};

SweepController::SweepController(store::MetadataStore* store, Scheduler* scheduler,
                                 const Clock* clock,
                                 std::function<void(const std::string&)> on_change)
    : store_(store), scheduler_(scheduler), clock_(clock), on_change_(std::move(on_change)) {}

SweepController::~SweepController() = default;

void SweepController::Changed(const std::string& id) {
  if (on_change_) on_change_(id);
}

void SweepController::Step() {
  auto active = store_->ListActiveRuns();
  if (!active.ok()) {
    spdlog::error("sweeps: listing active runs: {}", active.status().ToString());
    return;
  }
  std::map<std::string, const model::Run*> by_id;
  std::vector<const model::Run*> parents;
  for (const auto& r : *active) {
    by_id[r.id] = &r;
    if (r.kind == "sweep") parents.push_back(&r);
  }
  for (auto it = sweeps_.begin(); it != sweeps_.end();) {
    it = by_id.count(it->first) ? std::next(it) : sweeps_.erase(it);
  }
  for (const model::Run* p : parents) Drive(*p, by_id);
}

Status SweepController::Load(const model::Run& parent, Sweep* sw) {
  FERRY_ASSIGN_OR_RETURN(store::SweepRecord record, store_->GetSweep(parent.id));
  FERRY_ASSIGN_OR_RETURN(SweepSettings settings, SweepSettingsFromJson(record.settings));
  FERRY_ASSIGN_OR_RETURN(sw->spec, LoadSweepSpec(record, settings));
  sw->sampler = sweep::MakeSampler(sw->spec);
  if (!settings.warm_start.empty() && sw->spec.sampling == "bayesian") {
    FERRY_ASSIGN_OR_RETURN(sw->warm, WarmStartObservations(store_, sw->spec, settings.warm_start));
  }
  FERRY_ASSIGN_OR_RETURN(auto runs, Trials(store_, parent.id));
  for (const auto& r : runs) {
    Trial t;
    t.id = r.id;
    t.status = r.status;
    auto params = store_->Params(r.id);
    auto point = params.ok() ? TrialPoint(sw->spec, *params)
                             : Result<std::vector<sweep::Value>>(params.status());
    if (point.ok()) {
      t.point = std::move(point).value();
    } else {
      t.point_ok = false;
      spdlog::warn("sweep {}: trial {}: {}", parent.id, r.id, point.status().ToString());
    }
    auto points = store_->GetMetrics(r.id, sw->spec.primary_metric_name);
    if (points.ok()) {
      for (auto& m : *points) t.values.push_back(m.value);
    }
    t.best = BestOf(sw->spec, t.values);
    // Reports seen before the restart were judged then; only new ones are judged now.
    t.evaluated = t.values.size();
    t.stop_sent = r.cancel_requested;
    sw->trials.push_back(std::move(t));
  }
  return Status::Ok();
}

void SweepController::Refresh(Sweep* sw, Trial* t,
                              const std::map<std::string, const model::Run*>& active) {
  if (model::IsTerminal(t->status)) return;
  auto it = active.find(t->id);
  if (it != active.end()) {
    t->status = it->second->status;
  } else {
    auto r = store_->GetRun(t->id);
    if (r.ok()) t->status = r->status;
  }
  // The summary says whether there is anything new before the points are read.
  auto sums = store_->MetricSummaries(t->id);
  if (!sums.ok()) return;
  for (const auto& s : *sums) {
    if (s.key != sw->spec.primary_metric_name || s.count <= static_cast<int64_t>(t->values.size()))
      continue;
    auto points = store_->GetMetrics(t->id, s.key);
    if (!points.ok()) return;
    t->values.clear();
    for (auto& m : *points) t->values.push_back(m.value);
    t->best = BestOf(sw->spec, t->values);
  }
}

void SweepController::Stop(Trial* t, const std::string& reason) {
  if (t->stop_sent || model::IsTerminal(t->status)) return;
  Status st = scheduler_->Cancel(t->id, reason);
  if (!st.ok() && st.code() != StatusCode::kFailedPrecondition) {
    spdlog::warn("sweep: stopping trial {}: {}", t->id, st.ToString());
    return;
  }
  t->stop_sent = true;
  Changed(t->id);
}

void SweepController::ApplyPolicy(Sweep* sw) {
  if (sw->spec.policy == "NoTerminationPolicy") return;
  const bool news = std::any_of(sw->trials.begin(), sw->trials.end(), [](const Trial& t) {
    return !model::IsTerminal(t.status) && !t.stop_sent && t.values.size() > t.evaluated;
  });
  if (!news) return;  // nothing to judge: no copy of every trial's reports
  std::vector<sweep::TrialReports> reports;
  reports.reserve(sw->trials.size());
  for (const auto& t : sw->trials) reports.push_back({t.id, model::IsTerminal(t.status), t.values});
  for (size_t i = 0; i < sw->trials.size(); ++i) {
    Trial& t = sw->trials[i];
    if (model::IsTerminal(t.status) || t.stop_sent || t.values.size() <= t.evaluated) {
      t.evaluated = std::max(t.evaluated, t.values.size());
      continue;
    }
    for (size_t k = t.evaluated + 1; k <= t.values.size(); ++k) {
      auto why = sweep::ShouldStop(sw->spec, reports, i, static_cast<int>(k));
      if (why) {
        Stop(&t, "early termination: " + *why);
        break;
      }
    }
    t.evaluated = t.values.size();
  }
}

void SweepController::Launch(const model::Run& parent, Sweep* sw, int running) {
  const sweep::SweepSpec& s = sw->spec;
  // The history is built once per pass and grows with each new trial (running: no metric), so
  // creating many trials in one cycle stays linear in the number of trials.
  std::vector<sweep::Observation> history = sw->warm;
  for (const auto& t : sw->trials) {
    if (!t.point_ok) continue;
    history.push_back({t.point, model::IsTerminal(t.status) ? t.best : std::nullopt});
  }
  while (!sw->exhausted && running < s.max_concurrent_runs &&
         static_cast<int>(sw->trials.size()) < s.max_total_runs) {
    auto next = sw->sampler->Next(history);
    if (!next) {
      sw->exhausted = true;
      break;
    }
    model::Run trial = parent;
    trial.kind = "run";
    trial.parent_id = parent.id;
    trial.id = parent.id + "_" + std::to_string(sw->trials.size());
    trial.tags.clear();
    trial.cancel_requested = false;
    trial.cancel_reason.clear();
    for (size_t k = 0; k < s.space.size(); ++k) {
      trial.arguments.push_back(s.space[k].name);
      trial.arguments.push_back((*next)[k].text);
    }
    auto params = model::ParamsFromArguments(trial.arguments);
    for (size_t k = 0; k < s.space.size(); ++k)
      params[sweep::ParamKey(s.space[k].name)] = (*next)[k].text;
    auto created = store_->CreateRun(trial, params, "hmac", clock_->Now());
    if (!created.ok()) {
      spdlog::error("sweep {}: creating trial {}: {}", parent.id, trial.id,
                    created.status().ToString());
      return;  // tried again next cycle
    }
    Trial t;
    t.id = trial.id;
    t.point = std::move(next).value();
    history.push_back({t.point, std::nullopt});
    sw->trials.push_back(std::move(t));
    ++running;
    Changed(trial.id);
  }
}

void SweepController::Finish(const model::Run& parent, Sweep* sw) {
  int completed = 0, failed = 0, stopped = 0, canceled = 0;
  std::string first_error;
  for (const auto& t : sw->trials) {
    switch (t.status) {
      case RunStatus::kCompleted:
        ++completed;
        break;
      case RunStatus::kFailed:
        ++failed;
        if (first_error.empty()) {
          auto r = store_->GetRun(t.id);
          if (r.ok()) first_error = t.id + ": " + r->error.substr(0, 300);
        }
        break;
      case RunStatus::kCanceled:
        (t.stop_sent ? stopped : canceled) += 1;
        break;
      default:
        break;
    }
  }
  const int n = static_cast<int>(sw->trials.size());
  std::string counts = std::to_string(n) + " trial" + (n == 1 ? "" : "s") + ": " +
                       std::to_string(completed) + " completed, " + std::to_string(failed) +
                       " failed, " + std::to_string(stopped) + " stopped early or canceled";
  if (!sw->best_id.empty()) {
    counts += "; best " + sw->spec.primary_metric_name + " " + sweep::MetricText(sw->best) + " (" +
              sw->best_id + ")";
  }
  Result<model::Run> done = Status::Internal("unreachable");
  const double now = clock_->Now();
  if (parent.cancel_requested) {
    done = store_->Transition(parent.id, RunStatus::kCanceled, "canceled; " + counts, now);
  } else if (sw->best_id.empty()) {
    store::TransitionExtras ex;
    ex.error = "no trial reported the primary metric '" + sw->spec.primary_metric_name + "' (" +
               counts + ")" +
               (sw->failing ? "; the first trials all failed, so no more were started; fix the "
                              "script and submit again"
                            : "") +
               (first_error.empty() ? "; check that primary_metric_name is the name the script logs"
                                    : "; first failure " + first_error);
    done = store_->Transition(parent.id, RunStatus::kFailed, "sweep failed: " + counts, now, ex);
  } else {
    std::string why = "sweep finished: " + counts;
    if (sw->spec.max_duration_minutes > 0 && parent.started_at > 0 &&
        now - parent.started_at >= sw->spec.max_duration_minutes * 60.0) {
      why = "max_duration_minutes (" + std::to_string(sw->spec.max_duration_minutes) +
            ") reached; " + counts;
    }
    done = store_->Transition(parent.id, RunStatus::kFinalizing, "no trial left to run", now);
    if (done.ok()) done = store_->Transition(parent.id, RunStatus::kCompleted, why, now);
  }
  if (!done.ok()) spdlog::warn("sweep {}: ending it: {}", parent.id, done.status().ToString());
  Changed(parent.id);
}

void SweepController::Drive(const model::Run& parent,
                            const std::map<std::string, const model::Run*>& active) {
  auto& slot = sweeps_[parent.id];
  if (!slot) {
    auto sw = std::make_unique<Sweep>();
    Status loaded = Load(parent, sw.get());
    if (!loaded.ok()) {
      store::TransitionExtras ex;
      ex.error = "the sweep cannot be loaded: " + loaded.message();
      if (store_->Transition(parent.id, RunStatus::kFailed, "sweep failed", clock_->Now(), ex).ok())
        Changed(parent.id);
      sweeps_.erase(parent.id);
      return;
    }
    slot = std::move(sw);
  }
  Sweep* sw = slot.get();
  const sweep::SweepSpec& s = sw->spec;
  model::Run p = parent;
  if (p.status == RunStatus::kQueued) {
    if (p.cancel_requested) {
      if (store_
              ->Transition(p.id, RunStatus::kCanceled, "canceled before it started", clock_->Now())
              .ok())
        Changed(p.id);
      return;
    }
    std::string what = s.sampling + " sampling over " + std::to_string(s.space.size()) +
                       " parameter" + (s.space.size() == 1 ? "" : "s") + ", at most " +
                       std::to_string(s.max_total_runs) + " trials, " +
                       std::to_string(s.max_concurrent_runs) + " at a time, " + s.policy;
    auto prep = store_->Transition(p.id, RunStatus::kPreparing, "sweep: " + what, clock_->Now());
    auto run = prep.ok() ? store_->Transition(p.id, RunStatus::kRunning,
                                              "sampling the first trials", clock_->Now())
                         : prep;
    if (!run.ok()) return;
    p = *run;
    Changed(p.id);
  } else if (p.status == RunStatus::kPreparing) {
    auto run =
        store_->Transition(p.id, RunStatus::kRunning, "sampling the first trials", clock_->Now());
    if (!run.ok()) return;
    p = *run;
  }

  for (auto& t : sw->trials) Refresh(sw, &t, active);
  ApplyPolicy(sw);

  // The best trial so far goes into the parent's tags (what 'run show' and the SDK read).
  for (const auto& t : sw->trials) {
    const auto& b = t.best;
    if (b && (sw->best_id.empty() || sweep::Better(s, *b, sw->best) ||
              (t.id == sw->best_id && *b != sw->best))) {
      sw->best_id = t.id;
      sw->best = *b;
      (void)store_->SetTags(p.id,
                            {{"best_child_run_id", t.id}, {"best_metric", sweep::MetricText(*b)}});
      Changed(p.id);
    }
  }

  const double now = clock_->Now();
  const bool over_time = s.max_duration_minutes > 0 && p.started_at > 0 &&
                         now - p.started_at >= s.max_duration_minutes * 60.0;
  std::string stop_all;
  if (p.cancel_requested) stop_all = "the sweep " + p.id + " was canceled";
  if (over_time)
    stop_all =
        "the sweep reached max_duration_minutes (" + std::to_string(s.max_duration_minutes) + ")";
  int running = 0;
  for (auto& t : sw->trials) {
    if (model::IsTerminal(t.status)) continue;
    if (!stop_all.empty()) Stop(&t, stop_all);
    ++running;
  }
  // A script that fails every time (a typo, a missing package) must not burn through
  // max_total_runs trials: after the first kFailFast trials failed with nothing to show,
  // no more start.
  constexpr int kFailFast = 3;
  int failed = 0;
  bool succeeded = !sw->best_id.empty();
  for (const auto& t : sw->trials) {
    failed += t.status == RunStatus::kFailed ? 1 : 0;
    succeeded = succeeded || t.status == RunStatus::kCompleted;
  }
  sw->failing = failed >= kFailFast && !succeeded;
  if (stop_all.empty() && !sw->failing) {
    Launch(p, sw, running);
    running = 0;
    for (const auto& t : sw->trials) running += model::IsTerminal(t.status) ? 0 : 1;
  }
  const bool nothing_left = !stop_all.empty() || sw->exhausted || sw->failing ||
                            static_cast<int>(sw->trials.size()) >= s.max_total_runs;
  if (running == 0 && nothing_left) {
    Finish(p, sw);
    sweeps_.erase(p.id);
  }
}

}  // namespace ferry::scheduler
