// REST handlers of sweeps: POST /sweeps, GET /sweeps/{id}, POST /sweeps/{id}/cancel.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/crypto.h"
#include "scheduler/sweep_controller.h"
#include "server/api_internal.h"
#include "sweep/policy.h"
#include "sweep/space.h"

namespace ferry::server {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

namespace {

// A trial's row of GET /sweeps/{id}: status, times, its sampled parameters and its primary
// metric (the best of its reports, also set in *metric).
json TrialJson(store::MetadataStore* store, const sweep::SweepSpec& spec, const model::Run& t,
               std::optional<double>* metric) {
  json row = {{"id", t.id},
              {"status", model::RunStatusName(t.status)},
              {"created_at", t.created_at},
              {"started_at", t.started_at},
              {"ended_at", t.ended_at}};
  auto params = store->Params(t.id);
  json pj = json::object();
  if (params.ok()) {
    for (auto& p : spec.space) {
      auto pit = params->find(sweep::ParamKey(p.name));
      if (pit != params->end()) pj[p.name] = pit->second;
    }
  }
  row["parameters"] = pj;
  row["metric"] = nullptr;
  row["reports"] = 0;
  auto sums = store->MetricSummaries(t.id);
  if (sums.ok()) {
    for (auto& s : *sums) {
      if (s.key != spec.primary_metric_name) continue;
      double v = spec.primary_metric_goal == "Maximize" ? s.max : s.min;
      row["metric"] = MetricValue(v);
      row["last"] = MetricValue(s.last);
      row["reports"] = s.count;
      *metric = v;
    }
  }
  return row;
}

// The sweep's definition as GET /sweeps/{id} shows it.
json SweepJson(const sweep::SweepSpec& spec, const store::SweepRecord& rec,
               const scheduler::SweepSettings& settings) {
  json names = json::array();
  for (auto& p : spec.space)
    names.push_back({{"name", p.name}, {"expression", sweep::ExpressionName(p.expression)}});
  return {{"sampling", spec.sampling},
          {"seed", spec.seed},
          {"policy", spec.policy},
          {"primary_metric_name", spec.primary_metric_name},
          {"primary_metric_goal", spec.primary_metric_goal},
          {"max_total_runs", spec.max_total_runs},
          {"max_concurrent_runs", spec.max_concurrent_runs},
          {"max_duration_minutes", spec.max_duration_minutes},
          {"spec_file", rec.spec_file},
          {"warm_start", settings.warm_start},
          {"parameters", names}};
}

}  // namespace

// POST /sweeps {run fields..., "sweep": {"spec", "spec_file", "azure_strict", "warm_start",
// "sampled_after_fixed"}}.
HandlerResult Api::Impl::CreateSweep() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto it = body->find("sweep");
  if (it == body->end() || !it->is_object()) {
    return Bad(
        "field 'sweep' is required: {\"spec\": the hdconfig.yml text, \"spec_file\": its name}");
  }
  const json& sj = *it;
  auto text = StringField(sj, "spec", true);
  if (!text.ok()) return Error(text.status().WithContext("sweep"));
  auto file = StringField(sj, "spec_file", false);
  if (!file.ok()) return Error(file.status().WithContext("sweep"));
  scheduler::SweepSettings settings;
  if (auto s = sj.find("azure_strict"); s != sj.end() && !s->is_null()) {
    if (!s->is_boolean()) return Bad("field 'sweep.azure_strict' must be true or false");
    settings.azure_strict = s->get<bool>();
  }
  // The SDK's HyperDriveConfig (Azure's rule): a fixed argument that is also sampled stays,
  // and the sampled value appended after it wins. Other clients: refused (CheckFixedArguments).
  bool sampled_after_fixed = false;
  if (auto s = sj.find("sampled_after_fixed"); s != sj.end() && !s->is_null()) {
    if (!s->is_boolean()) return Bad("field 'sweep.sampled_after_fixed' must be true or false");
    sampled_after_fixed = s->get<bool>();
  }
  if (auto w = sj.find("warm_start"); w != sj.end() && !w->is_null()) {
    if (!w->is_array()) return Bad("field 'sweep.warm_start' must be an array of sweep run ids");
    for (auto& id : *w) {
      if (!id.is_string())
        return Bad("field 'sweep.warm_start' must contain only run ids (strings)");
      settings.warm_start.push_back(id.get<std::string>());
    }
  }
  settings.seed = std::stoull(RandomHex(6), nullptr, 16);  // when the file names none
  store::SweepRecord record{file->empty() ? "hdconfig.yml" : *file, *text, ""};
  record.settings = scheduler::SweepSettingsToJson(settings);
  auto spec = scheduler::LoadSweepSpec(record, settings);
  if (!spec.ok()) return Error(spec.status());
  auto run = RunFromBody(*body);
  if (!run.ok()) return Error(run.status());
  if (!sampled_after_fixed) {
    Status args = sweep::CheckFixedArguments(*spec, run->arguments);
    if (!args.ok()) return Error(args);
  }
  if (!settings.warm_start.empty()) {
    if (spec->sampling != "bayesian") {
      return Bad("warm start seeds the Bayesian model; this sweep uses " + spec->sampling +
                 " sampling");
    }
    auto warm = scheduler::WarmStartObservations(d.store, *spec, settings.warm_start);
    if (!warm.ok()) return Error(warm.status());
  }
  auto created = d.store->CreateSweep(*run, record, d.clock->Now());
  if (!created.ok()) return Error(created.status());
  d.scheduler->Wake();
  return Json(201, RunToJson(*created));
}

HandlerResult Api::Impl::CancelSweep() {
  auto r = d.store->GetRun(P(0));
  if (!r.ok()) return Error(r.status());
  if (Status may = MayChange(*r); !may.ok()) return Error(may);
  auto rec = d.store->GetSweep(P(0));
  if (!rec.ok()) return Error(rec.status());
  return CancelRun();  // the controller cancels its trials
}

HandlerResult Api::Impl::GetSweep() {
  const std::string& id = P(0);
  auto parent = d.store->GetRun(id);
  if (!parent.ok()) return Error(parent.status());
  auto rec = d.store->GetSweep(id);
  if (!rec.ok()) return Error(rec.status());
  auto settings = scheduler::SweepSettingsFromJson(rec->settings);
  if (!settings.ok()) return Error(settings.status());
  auto spec = scheduler::LoadSweepSpec(*rec, *settings);
  if (!spec.ok()) return Error(spec.status());
  model::RunFilter f;
  f.parent = id;
  f.limit = 1 << 30;
  auto trials = d.store->ListRuns(f);
  if (!trials.ok()) return Error(trials.status());
  std::reverse(trials->begin(), trials->end());
  json arr = json::array(), best = nullptr;
  std::map<std::string, int> counts;
  double best_value = 0;
  for (auto& t : *trials) {
    ++counts[model::RunStatusName(t.status)];
    std::optional<double> metric;
    json row = TrialJson(d.store, *spec, t, &metric);
    if (metric && !std::isnan(*metric) &&
        (best.is_null() || sweep::Better(*spec, *metric, best_value))) {
      best_value = *metric;
      best = row;
    }
    if (t.status == RunStatus::kCanceled) row["reason"] = t.cancel_reason;
    if (t.status == RunStatus::kFailed) row["error"] = t.error.substr(0, 500);
    arr.push_back(std::move(row));
  }
  json j = RunToJson(*parent);
  j["sweep"] = SweepJson(*spec, *rec, *settings);
  if (!settings->warm_start.empty()) {
    auto warm = scheduler::WarmStartObservations(d.store, *spec, settings->warm_start);
    j["sweep"]["warm_observations"] = warm.ok() ? static_cast<int64_t>(warm->size()) : 0;
  }
  j["counts"] = counts;
  j["best"] = best;
  j["trials"] = arr;
  return Json(200, j);
}

}  // namespace ferry::server
