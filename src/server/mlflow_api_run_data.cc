// MLflow's writes and reads of a run's data: metrics, params, tags, inputs, metric history.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "server/mlflow_api_internal.h"

namespace ferry::server::mlflow {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;

// A metric point; `at` prefixes the field names in errors ("metrics[3]." in a batch). The
// timestamp is required, as MLflow requires it (its client always sends one).
Result<model::MetricPoint> Handler::MetricFrom(const json& j, const std::string& at) {
  model::MetricPoint pt;
  FERRY_ASSIGN_OR_RETURN(pt.key, Str(j, "key", true, at + "key"));
  FERRY_RETURN_IF_ERROR(CheckKey("metric", pt.key));
  FERRY_ASSIGN_OR_RETURN(pt.value, NumberField(j, "value", at + "value"));
  FERRY_ASSIGN_OR_RETURN(auto ts, IntField(j, "timestamp", at + "timestamp"));
  if (!ts) return MissingValue(at + "timestamp");
  FERRY_ASSIGN_OR_RETURN(auto step, IntField(j, "step", at + "step"));
  pt.time = static_cast<double>(*ts) / 1000.0;
  pt.step = step.value_or(0);
  return pt;
}

Status Handler::CheckParams(const std::map<std::string, std::string>& params) {
  for (const auto& [k, v] : params) {
    if (v.size() > kMaxParamValue) {
      return Status::InvalidArgument("parameter '" + k + "' is longer than " +
                                     std::to_string(kMaxParamValue) + " characters (" +
                                     std::to_string(v.size()) + ")");
    }
  }
  return Status::Ok();
}

Status Handler::CheckTags(const std::map<std::string, std::string>& tags) {
  for (const auto& [k, v] : tags) {
    if (v.size() > kMaxTagValue) {
      return Status::InvalidArgument("tag '" + k + "' is longer than " +
                                     std::to_string(kMaxTagValue) + " characters");
    }
  }
  return Status::Ok();
}

// Tags go to the run; mlflow.runName renames it.
Status Handler::ApplyTags(const std::string& id, std::map<std::string, std::string> tags) {
  if (auto it = tags.find("mlflow.runName"); it != tags.end()) {
    FERRY_RETURN_IF_ERROR(d.store->SetRunName(id, it->second));
    tags.erase(it);
  }
  if (tags.empty()) return Status::Ok();
  return d.store->SetTags(id, tags);
}

// The run exists and is not deleted (MLflow's wording; every write to a run checks this).
Status Handler::ActiveRun(const std::string& id) {
  if (!run_ || run_->id != id) {  // not already read by the authorisation
    FERRY_ASSIGN_OR_RETURN(run_, GetRunOr404(id, true));
  }
  const model::Run& r = *run_;
  if (r.lifecycle_stage == "deleted") {
    return Status::FailedPrecondition(
        "The run " + id + " must be in the 'active' state. Current state is " + r.lifecycle_stage +
        "; restore it (runs/restore) before changing it");
  }
  return Status::Ok();
}

HttpResponse Handler::LogMetric() {
  auto id = RunIdParam();
  if (!id.ok()) return Fail(id.status());
  auto pt = MetricFrom(p);
  if (!pt.ok()) return Fail(pt.status());
  if (Status a = ActiveRun(*id); !a.ok()) return Fail(a);
  if (Status m = LogModelMetrics(*id, {p}); !m.ok()) return Fail(m);
  auto n = d.store->LogMetrics(*id, {*pt});
  if (!n.ok()) return Fail(n.status());
  if (d.ingest) d.ingest->mlflow_points += static_cast<uint64_t>(*n);
  Changed(*id);
  return Reply(200, json::object());
}

// log-parameter and set-tag: one key and value for a run.
HttpResponse Handler::LogKeyValue(bool param) {
  const std::string what = param ? "parameter" : "tag";
  auto id = RunIdParam();
  if (!id.ok()) return Fail(id.status());
  auto key = Str(p, "key", true);
  auto value = Str(p, "value", false);
  for (auto* r : {&key, &value}) {
    if (!r->ok()) return Fail(r->status());
  }
  if (Status k = CheckKey(what, *key); !k.ok()) return Fail(k);
  std::map<std::string, std::string> kv = {{*key, *value}};
  if (Status c = param ? CheckParams(kv) : CheckTags(kv); !c.ok()) return Fail(c);
  if (Status a = ActiveRun(*id); !a.ok()) return Fail(a);
  Status st = param ? d.store->SetParams(*id, kv) : ApplyTags(*id, kv);
  if (!st.ok()) return Fail(st);
  Changed(*id);
  return Reply(200, json::object());
}

HttpResponse Handler::DeleteTag() {
  auto id = RunIdParam();
  if (!id.ok()) return Fail(id.status());
  auto key = Str(p, "key", true);
  if (!key.ok()) return Fail(key.status());
  if (Status a = ActiveRun(*id); !a.ok()) return Fail(a);
  Status st = d.store->DeleteTag(*id, *key);
  if (st.code() == StatusCode::kNotFound)
    st = Status::NotFound("No tag with name: " + *key + " in run with id " + *id);
  if (!st.ok()) return Fail(st);
  Changed(*id);
  return Reply(200, json::object());
}

namespace {

// MLflow's limits on one log-batch.
Status CheckBatchSizes(size_t metrics, size_t params, size_t tags) {
  if (params > kMaxBatchParams) {
    return Status::InvalidArgument("a batch may hold at most " + std::to_string(kMaxBatchParams) +
                                   " params, got " + std::to_string(params));
  }
  if (tags > kMaxBatchTags) {
    return Status::InvalidArgument("a batch may hold at most " + std::to_string(kMaxBatchTags) +
                                   " tags, got " + std::to_string(tags));
  }
  if (metrics + params + tags > kMaxBatchTotal) {
    return Status::InvalidArgument("a batch may hold at most " + std::to_string(kMaxBatchTotal) +
                                   " metrics, params and tags together");
  }
  return Status::Ok();
}

}  // namespace

// log-batch's metrics, each checked (errors name "metrics[i].field").
Result<std::vector<model::MetricPoint>> Handler::BatchMetrics() {
  std::vector<model::MetricPoint> metrics;
  if (auto it = p.find("metrics"); it != p.end() && !it->is_null()) {
    if (!it->is_array()) return InvalidValue("metrics", *it, "it must be a list of metrics");
    if (it->size() > kMaxBatchMetrics) {
      return Status::InvalidArgument("a batch may hold at most " +
                                     std::to_string(kMaxBatchMetrics) + " metrics, got " +
                                     std::to_string(it->size()));
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const json& m = (*it)[i];
      const std::string at = "metrics[" + std::to_string(i) + "]";
      if (!m.is_object()) return InvalidValue(at, m, "it must be {key, value, timestamp, step}");
      auto pt = MetricFrom(m, at + ".");
      if (!pt.ok()) return pt.status();
      metrics.push_back(std::move(pt).value());
    }
  }
  return metrics;
}

HttpResponse Handler::LogBatch() {
  auto id = RunIdParam();
  if (!id.ok()) return Fail(id.status());
  auto params = KeyValues(p, "params", "parameter");
  auto tags = KeyValues(p, "tags", "tag");
  if (!params.ok()) return Fail(params.status());
  if (!tags.ok()) return Fail(tags.status());
  auto batch = BatchMetrics();
  if (!batch.ok()) return Fail(batch.status());
  std::vector<model::MetricPoint>& metrics = *batch;
  if (Status sizes = CheckBatchSizes(metrics.size(), params->size(), tags->size()); !sizes.ok())
    return Fail(sizes);
  if (Status c = CheckParams(*params); !c.ok()) return Fail(c);
  if (Status c = CheckTags(*tags); !c.ok()) return Fail(c);
  if (Status a = ActiveRun(*id); !a.ok()) return Fail(a);
  if (!params->empty()) {
    Status st = d.store->SetParams(*id, *params);
    if (!st.ok()) return Fail(st);
  }
  if (!tags->empty()) {
    Status st = ApplyTags(*id, *tags);
    if (!st.ok()) return Fail(st);
  }
  if (auto it = p.find("metrics"); it != p.end() && it->is_array()) {
    Status m = LogModelMetrics(*id, std::vector<json>(it->begin(), it->end()));
    if (!m.ok()) return Fail(m);
  }
  if (!metrics.empty()) {
    auto n = d.store->LogMetrics(*id, std::move(metrics));
    if (!n.ok()) return Fail(n.status());
    if (d.ingest) d.ingest->mlflow_points += static_cast<uint64_t>(*n);
  }
  Changed(*id);
  return Reply(200, json::object());
}

// Dataset inputs (autologging logs the training data's description): kept with the run as
// the tag "mlflow.datasets" (a JSON list, one entry per dataset name and digest) and answered
// as the run's inputs.
HttpResponse Handler::LogInputs() {
  auto id = RunIdParam();
  if (!id.ok()) return Fail(id.status());
  if (Status a = ActiveRun(*id); !a.ok()) return Fail(a);
  if (auto models = p.find("models"); models != p.end() && models->is_array()) {
    // Logged models the run used (MLflow 3): kept as the run's model inputs.
    std::vector<model::LoggedModelUse> uses;
    for (const auto& m : *models) {
      auto model_id = Str(m, "model_id", true, "models[].model_id");
      if (!model_id.ok()) return Fail(model_id.status());
      uses.push_back({*id, "input", *model_id, 0});
    }
    if (Status st = d.store->Models().RecordLoggedModelUses(uses); !st.ok()) return Fail(st);
  }
  auto it = p.find("datasets");
  if (it == p.end() || it->is_null()) return Reply(200, json::object());
  if (!it->is_array())
    return Fail(Status::InvalidArgument("'datasets' must be a list of dataset inputs"));
  auto run = d.store->GetRun(*id);
  if (!run.ok()) return Fail(run.status());
  json all = json::array();
  if (auto t = run->tags.find(kDatasetsTag); t != run->tags.end()) {
    json old = json::parse(t->second, nullptr, false);
    if (old.is_array()) all = old;
  }
  for (const auto& in : *it) {
    if (!in.is_object() || !in.contains("dataset") || !in["dataset"].is_object()) {
      return Fail(Status::InvalidArgument(
          "each dataset input must be {dataset: {name, digest, ...}, tags}"));
    }
    const json& ds = in["dataset"];
    auto same = [&](const json& e) {
      return e["dataset"].value("name", "") == ds.value("name", "") &&
             e["dataset"].value("digest", "") == ds.value("digest", "");
    };
    if (std::none_of(all.begin(), all.end(), same)) all.push_back(in);
  }
  std::string text = all.dump();
  if (text.size() > size_t{64} * 1024)
    return Fail(Status::InvalidArgument("the run's dataset inputs exceed 64 KiB"));
  Status st = d.store->SetTags(*id, {{kDatasetsTag, text}});
  if (!st.ok()) return Fail(st);
  Changed(*id);
  return Reply(200, json::object());
}

HttpResponse Handler::MetricHistory() {
  auto id = RunIdParam();
  auto key = Str(p, "metric_key", true);
  if (!id.ok()) return Fail(id.status());
  if (!key.ok()) return Fail(key.status());
  auto page = Page(25000, 25000);
  if (!page.ok()) return Fail(page.status());
  auto points = d.store->GetMetrics(*id, *key);
  if (!points.ok()) return Fail(points.status());
  json out = json::array();
  for (size_t i = page->first; i < points->size() && out.size() < page->second; ++i) {
    const auto& pt = (*points)[i];
    out.push_back({{"key", pt.key},
                   {"value", NumberJson(pt.value)},
                   {"timestamp", Ms(pt.time)},
                   {"step", pt.step}});
  }
  json r = {{"metrics", out}};
  if (page->first + out.size() < points->size())
    r["next_page_token"] = std::to_string(page->first + out.size());
  return Reply(200, r);
}

}  // namespace ferry::server::mlflow
