// MLflow tracking REST API (see mlflow_api.h). Errors are MLflow's: {"error_code", "message"}
// with 400 (INVALID_PARAMETER_VALUE, RESOURCE_ALREADY_EXISTS), 404 (RESOURCE_DOES_NOT_EXIST),
// 401/403, 500.
#include "server/mlflow_api.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "model/manifest.h"
#include "server/mlflow_filter.h"

namespace ferry::server {
namespace {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

// MLflow's limits (log-batch) and its default experiment.
constexpr size_t kMaxBatchMetrics = 1000, kMaxBatchParams = 100, kMaxBatchTags = 100, kMaxBatchTotal = 1000;
constexpr size_t kMaxParamValue = 6000, kMaxKey = 250, kMaxTagValue = 8000;
constexpr const char* kDefaultExperiment = "Default";  // MLflow's experiment "0"
constexpr const char* kDatasetsTag = "mlflow.datasets";   // a run's dataset inputs (JSON)

HttpResponse Reply(int status, const json& j) {
  HttpResponse r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpResponse Fail(const Status& st) {
  int http = 500;
  std::string code = "INTERNAL_ERROR";
  switch (st.code()) {
    case StatusCode::kNotFound: http = 404; code = "RESOURCE_DOES_NOT_EXIST"; break;
    case StatusCode::kAlreadyExists: http = 400; code = "RESOURCE_ALREADY_EXISTS"; break;
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition: http = 400; code = "INVALID_PARAMETER_VALUE"; break;
    case StatusCode::kUnauthenticated: http = 401; code = "UNAUTHENTICATED"; break;
    case StatusCode::kPermissionDenied: http = 403; code = "PERMISSION_DENIED"; break;
    case StatusCode::kUnavailable: http = 503; code = "TEMPORARILY_UNAVAILABLE"; break;
    default: break;
  }
  return Reply(http, {{"error_code", code}, {"message", st.message()}});
}

int64_t Ms(double seconds) { return static_cast<int64_t>(std::llround(seconds * 1000.0)); }

std::string MlflowStatus(RunStatus s) {
  switch (s) {
    case RunStatus::kQueued:
    case RunStatus::kPreparing:
    case RunStatus::kPreempted: return "SCHEDULED";
    case RunStatus::kRunning:
    case RunStatus::kFinalizing: return "RUNNING";
    case RunStatus::kCompleted: return "FINISHED";
    case RunStatus::kFailed: return "FAILED";
    case RunStatus::kCanceled: return "KILLED";
  }
  return "RUNNING";
}

// MLflow sends NaN and infinities as strings in its JSON.
json NumberJson(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return v;
}

Result<double> NumberField(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return Status::InvalidArgument(std::string("missing value for '") + name + "'");
  if (it->is_number()) return it->get<double>();
  if (it->is_string()) {
    std::string s = it->get<std::string>();
    if (s == "NaN" || s == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (s == "Infinity" || s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity" || s == "-inf") return -std::numeric_limits<double>::infinity();
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && *end == '\0') return d;
  }
  return Status::InvalidArgument(std::string("'") + name + "' must be a number, got " + it->dump());
}

// Integers arrive as JSON numbers or (protobuf's int64 mapping) as strings.
Result<std::optional<int64_t>> IntField(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return std::optional<int64_t>();
  if (it->is_number_integer()) return std::optional<int64_t>(it->get<int64_t>());
  if (it->is_number()) return std::optional<int64_t>(static_cast<int64_t>(it->get<double>()));
  if (it->is_string()) {
    std::string s = it->get<std::string>();
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && *end == '\0') return std::optional<int64_t>(v);
  }
  return Status::InvalidArgument(std::string("'") + name + "' must be an integer, got " + it->dump());
}

Result<std::string> Str(const json& j, const char* name, bool required) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) {
    if (required) return Status::InvalidArgument(std::string("missing value for required parameter '") + name + "'");
    return std::string();
  }
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number()) return it->dump();
  return Status::InvalidArgument(std::string("'") + name + "' must be a string, got " + it->dump());
}

Status CheckKey(const std::string& what, const std::string& key) {
  if (key.empty()) return Status::InvalidArgument(what + " key must not be empty");
  if (key.size() > kMaxKey) {
    return Status::InvalidArgument(what + " key '" + key.substr(0, 40) + "...' is longer than " +
                                   std::to_string(kMaxKey) + " characters");
  }
  return Status::Ok();
}

// [{"key": k, "value": v}...] -> map.
Result<std::map<std::string, std::string>> KeyValues(const json& j, const char* name, const char* what) {
  std::map<std::string, std::string> out;
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) return Status::InvalidArgument(std::string("'") + name + "' must be a list of {key, value}");
  for (const auto& kv : *it) {
    if (!kv.is_object()) return Status::InvalidArgument(std::string("each entry of '") + name + "' must be {key, value}");
    FERRY_ASSIGN_OR_RETURN(std::string k, Str(kv, "key", true));
    FERRY_ASSIGN_OR_RETURN(std::string v, Str(kv, "value", false));
    FERRY_RETURN_IF_ERROR(CheckKey(what, k));
    out[k] = v;
  }
  return out;
}

json KeyValueList(const std::map<std::string, std::string>& m) {
  json a = json::array();
  for (const auto& [k, v] : m) a.push_back({{"key", k}, {"value", v}});
  return a;
}

struct Handler {
  Handler(ApiDeps& deps, HttpRequest& request, std::string ep) : d(deps), req(request), endpoint(std::move(ep)) {}
  ApiDeps& d;
  HttpRequest& req;
  std::string endpoint;      // after /api/2.0/mlflow/
  json p;                    // the request's parameters: JSON body, else the query string
  bool full_access = false;  // workspace or user token; else a run's MLflow token for run_id
  std::string user;          // a named user
  std::vector<model::Experiment> experiments_;
  bool experiments_loaded_ = false;

  double Now() const { return d.clock->Now(); }
  void Changed(const std::string& run_id) {
    if (d.notify) d.notify(RunChannel(run_id));
  }

  Status Authenticate() {
    FERRY_ASSIGN_OR_RETURN(std::string token, BearerToken(req));
    if (auto u = UserFromToken(d, token); u.ok()) {
      full_access = true;
      user = u->name;
      return Status::Ok();
    }
    auto run_id = Str(p, "run_id", false);
    if (run_id.ok() && run_id->empty()) run_id = Str(p, "run_uuid", false);
    if (run_id.ok() && !run_id->empty() && ConstantTimeEquals(token, MlflowRunToken(d.run_secret, *run_id))) {
      return Status::Ok();
    }
    return Status::PermissionDenied("the token is not valid for " + req.method + " " + req.path);
  }

  // ---- experiments ----------------------------------------------------------------------

  Result<std::vector<model::Experiment>*> Experiments() {
    if (!experiments_loaded_) {
      FERRY_ASSIGN_OR_RETURN(experiments_, d.store->ListExperiments());
      experiments_loaded_ = true;
    }
    return &experiments_;
  }
  void ForgetExperiments() { experiments_loaded_ = false; }

  static std::string IdOf(const model::Experiment& e) {
    return e.name == kDefaultExperiment ? "0" : std::to_string(e.id);
  }

  Result<model::Experiment> ExperimentById(const std::string& id) {
    if (id == "0") return d.store->EnsureExperiment(kDefaultExperiment, Now());
    FERRY_ASSIGN_OR_RETURN(auto* all, Experiments());
    for (const auto& e : *all) {
      if (std::to_string(e.id) == id && e.name != kDefaultExperiment) return e;
    }
    return Status::NotFound("no experiment with id '" + id + "'");
  }

  Result<model::Experiment> ExperimentByName(const std::string& name) {
    FERRY_ASSIGN_OR_RETURN(auto* all, Experiments());
    for (const auto& e : *all) {
      if (e.name == name) return e;
    }
    return Status::NotFound("no experiment named '" + name + "'");
  }

  json ExperimentJson(const model::Experiment& e) {
    json tags = KeyValueList(e.tags);
    return {{"experiment_id", IdOf(e)},
            {"name", e.name},
            {"artifact_location", e.artifact_location.empty() ? "mlflow-artifacts:/" + IdOf(e) : e.artifact_location},
            {"lifecycle_stage", e.lifecycle_stage},
            {"creation_time", Ms(e.created_at)},
            {"last_update_time", Ms(e.last_update_time)},
            {"tags", tags}};
  }

  HttpResponse CreateExperiment() {
    auto name = Str(p, "name", true);
    if (!name.ok()) return Fail(name.status());
    auto tags = KeyValues(p, "tags", "tag");
    if (!tags.ok()) return Fail(tags.status());
    auto e = d.store->CreateExperiment(*name, Now());
    if (!e.ok()) return Fail(e.status());
    for (const auto& [k, v] : *tags) {
      Status st = d.store->SetExperimentTag(e->id, k, v, Now());
      if (!st.ok()) return Fail(st);
    }
    return Reply(200, {{"experiment_id", IdOf(*e)}});
  }

  HttpResponse GetExperiment() {
    auto id = Str(p, "experiment_id", true);
    if (!id.ok()) return Fail(id.status());
    ForgetExperiments();
    auto e = ExperimentById(*id);
    if (!e.ok()) return Fail(e.status());
    if (*id == "0") {
      auto again = ExperimentByName(kDefaultExperiment);  // with its tags
      if (again.ok()) e = again;
    }
    return Reply(200, {{"experiment", ExperimentJson(*e)}});
  }

  HttpResponse GetExperimentByName() {
    auto name = Str(p, "experiment_name", true);
    if (!name.ok()) return Fail(name.status());
    auto e = ExperimentByName(*name);
    if (!e.ok()) return Fail(e.status());
    return Reply(200, {{"experiment", ExperimentJson(*e)}});
  }

  // view_type: ACTIVE_ONLY (default), DELETED_ONLY, ALL.
  static Result<std::string> ViewType(const json& j, const char* name) {
    auto v = Str(j, name, false);
    if (!v.ok()) return v.status();
    std::string s = v->empty() ? "ACTIVE_ONLY" : *v;
    if (s == "1") s = "ACTIVE_ONLY";
    if (s == "2") s = "DELETED_ONLY";
    if (s == "3") s = "ALL";
    if (s != "ACTIVE_ONLY" && s != "DELETED_ONLY" && s != "ALL") {
      return Status::InvalidArgument(std::string("'") + name + "' must be ACTIVE_ONLY, DELETED_ONLY or ALL, got '" + s + "'");
    }
    return s;
  }
  static bool InView(const std::string& view, const std::string& stage) {
    return view == "ALL" || (view == "ACTIVE_ONLY" ? stage != "deleted" : stage == "deleted");
  }

  Result<std::pair<size_t, size_t>> Page(size_t default_max, size_t limit) {
    auto max = IntField(p, "max_results");
    if (!max.ok()) return max.status();
    const size_t n = *max && **max > 0 ? static_cast<size_t>(**max) : default_max;
    if (n > limit) return Status::InvalidArgument("'max_results' may be at most " + std::to_string(limit));
    auto token = Str(p, "page_token", false);
    if (!token.ok()) return token.status();
    size_t offset = 0;
    if (!token->empty()) {
      char* end = nullptr;
      offset = std::strtoull(token->c_str(), &end, 10);
      if (*end != '\0') return Status::InvalidArgument("invalid 'page_token' '" + *token + "'");
    }
    return std::make_pair(offset, n);
  }

  // What both searches take: view type, paging, filter, order_by.
  struct Search {
    std::string view;
    std::pair<size_t, size_t> page;  // offset, count
    mlflow::Filter filter;
    std::vector<mlflow::OrderBy> order;
  };
  Result<Search> SearchArgs(const char* view_field) {
    Search s;
    FERRY_ASSIGN_OR_RETURN(s.view, ViewType(p, view_field));
    FERRY_ASSIGN_OR_RETURN(s.page, Page(1000, 50000));
    FERRY_ASSIGN_OR_RETURN(std::string filter_text, Str(p, "filter", false));
    FERRY_ASSIGN_OR_RETURN(s.filter, mlflow::ParseFilter(filter_text));
    std::vector<std::string> order_text;
    if (auto it = p.find("order_by"); it != p.end() && !it->is_null()) {
      if (it->is_array()) {
        for (auto& o : *it) order_text.push_back(o.is_string() ? o.get<std::string>() : o.dump());
      } else if (it->is_string()) {
        order_text.push_back(it->get<std::string>());
      }
    }
    FERRY_ASSIGN_OR_RETURN(s.order, mlflow::ParseOrderBy(order_text));
    return s;
  }

  HttpResponse SearchExperiments() {
    auto args = SearchArgs("view_type");
    if (!args.ok()) return Fail(args.status());
    const auto& view = args->view;
    const auto& page = args->page;
    const auto& filter = args->filter;
    auto all = Experiments();
    if (!all.ok()) return Fail(all.status());
    std::vector<const model::Experiment*> hits;
    std::map<const model::Experiment*, mlflow::RunView> views;
    for (const auto& e : **all) {
      if (!InView(view, e.lifecycle_stage)) continue;
      // An experiment seen as a run: name, experiment_id, creation and update times.
      mlflow::RunView v;
      v.attributes = {{"name", e.name}, {"run_id", IdOf(e)}};
      v.tags = e.tags;
      v.times = {{"start_time", static_cast<double>(Ms(e.created_at))},
                 {"end_time", static_cast<double>(Ms(e.last_update_time))}};
      if (!filter.Matches(v)) continue;
      hits.push_back(&e);
      views[&e] = std::move(v);
    }
    std::stable_sort(hits.begin(), hits.end(), [&](auto* a, auto* b) { return mlflow::Before(args->order, views[a], views[b]); });
    json out = json::array();
    for (size_t i = page.first; i < hits.size() && out.size() < page.second; ++i) out.push_back(ExperimentJson(*hits[i]));
    json r = {{"experiments", out}};
    if (page.first + out.size() < hits.size()) r["next_page_token"] = std::to_string(page.first + out.size());
    return Reply(200, r);
  }

  HttpResponse SetExperimentLifecycle(const std::string& stage) {
    auto id = Str(p, "experiment_id", true);
    if (!id.ok()) return Fail(id.status());
    auto e = ExperimentById(*id);
    if (!e.ok()) return Fail(e.status());
    Status st = d.store->UpdateExperiment(e->id, std::nullopt, stage, Now());
    return st.ok() ? Reply(200, json::object()) : Fail(st);
  }

  HttpResponse UpdateExperiment() {
    auto id = Str(p, "experiment_id", true);
    auto name = Str(p, "new_name", false);
    if (!id.ok()) return Fail(id.status());
    if (!name.ok()) return Fail(name.status());
    auto e = ExperimentById(*id);
    if (!e.ok()) return Fail(e.status());
    Status st = d.store->UpdateExperiment(e->id, name->empty() ? std::nullopt : std::optional<std::string>(*name),
                                          std::nullopt, Now());
    return st.ok() ? Reply(200, json::object()) : Fail(st);
  }

  HttpResponse SetExperimentTag() {
    auto id = Str(p, "experiment_id", true);
    auto key = Str(p, "key", true);
    auto value = Str(p, "value", false);
    for (auto* r : {&id, &key, &value}) {
      if (!r->ok()) return Fail(r->status());
    }
    if (Status k = CheckKey("tag", *key); !k.ok()) return Fail(k);
    auto e = ExperimentById(*id);
    if (!e.ok()) return Fail(e.status());
    Status st = d.store->SetExperimentTag(e->id, *key, *value, Now());
    return st.ok() ? Reply(200, json::object()) : Fail(st);
  }

  // ---- runs -----------------------------------------------------------------------------

  Result<std::string> ExperimentIdOfRun(const model::Run& r) {
    FERRY_ASSIGN_OR_RETURN(auto e, ExperimentByName(r.experiment));
    return IdOf(e);
  }

  Result<json> RunInfoJson(const model::Run& r) {
    FERRY_ASSIGN_OR_RETURN(std::string eid, ExperimentIdOfRun(r));
    json info = {{"run_id", r.id},
                 {"run_uuid", r.id},
                 {"run_name", r.name.empty() ? r.id : r.name},
                 {"experiment_id", eid},
                 {"user_id", r.submitted_by},
                 {"status", MlflowStatus(r.status)},
                 {"start_time", Ms(r.started_at > 0 ? r.started_at : r.created_at)},
                 {"artifact_uri", "mlflow-artifacts:/" + eid + "/" + r.id + "/artifacts"},
                 {"lifecycle_stage", r.lifecycle_stage}};
    if (r.ended_at > 0) info["end_time"] = Ms(r.ended_at);
    return info;
  }

  // The latest point of each metric (highest step, then time), MLflow's run.data.metrics.
  Result<std::map<std::string, model::MetricPoint>> LatestMetrics(const std::string& id) {
    FERRY_ASSIGN_OR_RETURN(auto points, d.store->GetMetrics(id, ""));
    std::map<std::string, model::MetricPoint> latest;
    for (auto& pt : points) {
      auto it = latest.find(pt.key);
      if (it == latest.end() || pt.step > it->second.step || (pt.step == it->second.step && pt.time >= it->second.time)) {
        latest[pt.key] = pt;
      }
    }
    return latest;
  }

  Result<json> RunJson(const model::Run& r, mlflow::RunView* view = nullptr) {
    FERRY_ASSIGN_OR_RETURN(json info, RunInfoJson(r));
    FERRY_ASSIGN_OR_RETURN(auto latest, LatestMetrics(r.id));
    FERRY_ASSIGN_OR_RETURN(auto params, d.store->Params(r.id));
    std::map<std::string, std::string> tags = r.tags;
    json inputs = json::object();
    if (auto t = tags.find(kDatasetsTag); t != tags.end()) {
      json ds = json::parse(t->second, nullptr, false);
      if (ds.is_array()) inputs["dataset_inputs"] = ds;
      tags.erase(t);
    }
    tags["mlflow.runName"] = info["run_name"].get<std::string>();
    if (!r.submitted_by.empty() && !tags.count("mlflow.user")) tags["mlflow.user"] = r.submitted_by;
    json metrics = json::array();
    for (const auto& [k, pt] : latest) {
      metrics.push_back({{"key", k}, {"value", NumberJson(pt.value)}, {"timestamp", Ms(pt.time)}, {"step", pt.step}});
    }
    if (view) {
      for (const auto& [k, pt] : latest) view->metrics[k] = pt.value;
      view->params = params;
      view->tags = tags;
      view->attributes = {{"status", info["status"]},       {"run_id", r.id},
                          {"run_name", info["run_name"]},   {"user_id", r.submitted_by},
                          {"artifact_uri", info["artifact_uri"]}, {"lifecycle_stage", r.lifecycle_stage}};
      view->times = {{"start_time", static_cast<double>(info["start_time"].get<int64_t>())}};
      if (info.contains("end_time")) view->times["end_time"] = static_cast<double>(info["end_time"].get<int64_t>());
    }
    return json{{"info", info},
                {"data", {{"metrics", metrics}, {"params", KeyValueList(params)}, {"tags", KeyValueList(tags)}}},
                {"inputs", inputs}};
  }

  Result<std::string> RunIdParam() {
    FERRY_ASSIGN_OR_RETURN(std::string id, Str(p, "run_id", false));
    if (id.empty()) {
      FERRY_ASSIGN_OR_RETURN(id, Str(p, "run_uuid", false));
    }
    if (id.empty()) return Status::InvalidArgument("missing value for required parameter 'run_id'");
    return id;
  }

  HttpResponse CreateRun() {
    auto eid = Str(p, "experiment_id", false);
    if (!eid.ok()) return Fail(eid.status());
    auto e = ExperimentById(eid->empty() ? "0" : *eid);
    if (!e.ok()) return Fail(e.status());
    if (e->lifecycle_stage == "deleted") {
      return Fail(Status::FailedPrecondition("experiment '" + e->name + "' is deleted; restore it to create runs in it"));
    }
    auto tags = KeyValues(p, "tags", "tag");
    auto name = Str(p, "run_name", false);
    auto user_id = Str(p, "user_id", false);
    auto start = IntField(p, "start_time");
    if (!tags.ok()) return Fail(tags.status());
    if (!name.ok()) return Fail(name.status());
    if (!user_id.ok()) return Fail(user_id.status());
    if (!start.ok()) return Fail(start.status());
    model::Run run;
    run.kind = "external";
    run.status = RunStatus::kRunning;
    run.experiment = e->name;
    run.target = "";
    run.id = "mlflow_" + std::to_string(static_cast<long long>(Now())) + "_" + RandomHex(6);
    run.name = !name->empty() ? *name : (tags->count("mlflow.runName") ? tags->at("mlflow.runName") : run.id);
    tags->erase("mlflow.runName");
    run.tags = *tags;
    run.submitted_by = !user.empty() ? user : *user_id;
    run.started_at = *start ? static_cast<double>(**start) / 1000.0 : Now();
    auto created = d.store->CreateRun(run, {}, "", Now());
    if (!created.ok()) return Fail(created.status());
    Changed(created->id);
    auto j = RunJson(*created);
    return j.ok() ? Reply(200, {{"run", *j}}) : Fail(j.status());
  }

  HttpResponse GetRun() {
    auto id = RunIdParam();
    if (!id.ok()) return Fail(id.status());
    auto r = d.store->GetRun(*id);
    if (!r.ok()) return Fail(r.status());
    auto j = RunJson(*r);
    return j.ok() ? Reply(200, {{"run", *j}}) : Fail(j.status());
  }

  HttpResponse UpdateRun() {
    auto id = RunIdParam();
    if (!id.ok()) return Fail(id.status());
    auto r = d.store->GetRun(*id);
    if (!r.ok()) return Fail(r.status());
    auto status = Str(p, "status", false);
    auto end = IntField(p, "end_time");
    auto name = Str(p, "run_name", false);
    if (!status.ok()) return Fail(status.status());
    if (!end.ok()) return Fail(end.status());
    if (!name.ok()) return Fail(name.status());
    if (!name->empty()) {
      Status st = d.store->SetRunName(*id, *name);
      if (!st.ok()) return Fail(st);
    }
    // Only a client's own run takes its status from the client: a run Ferry launched is
    // ended by its agent (a script's mlflow.end_run() must not end it early).
    if (!status->empty() && r->kind == "external" && !model::IsTerminal(r->status)) {
      std::optional<RunStatus> to;
      if (*status == "FINISHED") to = RunStatus::kCompleted;
      else if (*status == "FAILED") to = RunStatus::kFailed;
      else if (*status == "KILLED") to = RunStatus::kCanceled;
      else if (*status != "RUNNING" && *status != "SCHEDULED") {
        return Fail(Status::InvalidArgument("'status' must be RUNNING, SCHEDULED, FINISHED, FAILED or KILLED, got '" +
                                            *status + "'"));
      }
      if (to) {
        store::TransitionExtras ex;
        if (*to == RunStatus::kCompleted) ex.finalizing_reason = "ended by its client";
        double when = *end ? static_cast<double>(**end) / 1000.0 : Now();
        auto t = d.store->Transition(*id, *to, "ended by its client (" + *status + ")", when, ex);
        if (!t.ok()) return Fail(t.status());
      }
    }
    Changed(*id);
    auto again = d.store->GetRun(*id);
    if (!again.ok()) return Fail(again.status());
    auto info = RunInfoJson(*again);
    return info.ok() ? Reply(200, {{"run_info", *info}}) : Fail(info.status());
  }

  HttpResponse SetRunLifecycle(const std::string& stage) {
    auto id = RunIdParam();
    if (!id.ok()) return Fail(id.status());
    Status st = d.store->SetRunLifecycle(*id, stage);
    if (!st.ok()) return Fail(st);
    Changed(*id);
    return Reply(200, json::object());
  }

  Result<model::MetricPoint> MetricFrom(const json& j) {
    model::MetricPoint pt;
    FERRY_ASSIGN_OR_RETURN(pt.key, Str(j, "key", true));
    FERRY_RETURN_IF_ERROR(CheckKey("metric", pt.key));
    FERRY_ASSIGN_OR_RETURN(pt.value, NumberField(j, "value"));
    FERRY_ASSIGN_OR_RETURN(auto ts, IntField(j, "timestamp"));
    FERRY_ASSIGN_OR_RETURN(auto step, IntField(j, "step"));
    pt.time = ts ? static_cast<double>(*ts) / 1000.0 : Now();
    pt.step = step.value_or(0);
    return pt;
  }

  Status CheckParams(const std::map<std::string, std::string>& params) {
    for (const auto& [k, v] : params) {
      if (v.size() > kMaxParamValue) {
        return Status::InvalidArgument("parameter '" + k + "' is longer than " + std::to_string(kMaxParamValue) +
                                       " characters (" + std::to_string(v.size()) + ")");
      }
    }
    return Status::Ok();
  }

  Status CheckTags(const std::map<std::string, std::string>& tags) {
    for (const auto& [k, v] : tags) {
      if (v.size() > kMaxTagValue) {
        return Status::InvalidArgument("tag '" + k + "' is longer than " + std::to_string(kMaxTagValue) + " characters");
      }
    }
    return Status::Ok();
  }

  // Tags go to the run; mlflow.runName renames it.
  Status ApplyTags(const std::string& id, std::map<std::string, std::string> tags) {
    if (auto it = tags.find("mlflow.runName"); it != tags.end()) {
      FERRY_RETURN_IF_ERROR(d.store->SetRunName(id, it->second));
      tags.erase(it);
    }
    if (tags.empty()) return Status::Ok();
    return d.store->SetTags(id, tags);
  }

  Status ActiveRun(const std::string& id) {
    FERRY_ASSIGN_OR_RETURN(auto r, d.store->GetRun(id));
    if (r.lifecycle_stage == "deleted") {
      return Status::FailedPrecondition("run '" + id + "' is deleted; restore it before logging to it");
    }
    return Status::Ok();
  }

  HttpResponse LogMetric() {
    auto id = RunIdParam();
    if (!id.ok()) return Fail(id.status());
    auto pt = MetricFrom(p);
    if (!pt.ok()) return Fail(pt.status());
    if (Status a = ActiveRun(*id); !a.ok()) return Fail(a);
    auto n = d.store->LogMetrics(*id, {*pt});
    if (!n.ok()) return Fail(n.status());
    Changed(*id);
    return Reply(200, json::object());
  }

  // log-parameter and set-tag: one key and value for a run.
  HttpResponse LogKeyValue(bool param) {
    const std::string what = param ? "parameter" : "tag";
    auto id = RunIdParam();
    auto key = Str(p, "key", true);
    auto value = Str(p, "value", false);
    for (auto* r : {&key, &value}) {
      if (!r->ok()) return Fail(r->status());
    }
    if (!id.ok()) return Fail(id.status());
    if (Status k = CheckKey(what, *key); !k.ok()) return Fail(k);
    std::map<std::string, std::string> kv = {{*key, *value}};
    if (Status c = param ? CheckParams(kv) : CheckTags(kv); !c.ok()) return Fail(c);
    if (Status a = ActiveRun(*id); !a.ok()) return Fail(a);
    Status st = param ? d.store->SetParams(*id, kv) : ApplyTags(*id, kv);
    if (!st.ok()) return Fail(st);
    Changed(*id);
    return Reply(200, json::object());
  }

  HttpResponse DeleteTag() {
    auto id = RunIdParam();
    auto key = Str(p, "key", true);
    if (!id.ok()) return Fail(id.status());
    if (!key.ok()) return Fail(key.status());
    Status st = d.store->DeleteTag(*id, *key);
    if (!st.ok()) return Fail(st);
    Changed(*id);
    return Reply(200, json::object());
  }

  HttpResponse LogBatch() {
    auto id = RunIdParam();
    if (!id.ok()) return Fail(id.status());
    auto params = KeyValues(p, "params", "parameter");
    auto tags = KeyValues(p, "tags", "tag");
    if (!params.ok()) return Fail(params.status());
    if (!tags.ok()) return Fail(tags.status());
    std::vector<model::MetricPoint> metrics;
    if (auto it = p.find("metrics"); it != p.end() && !it->is_null()) {
      if (!it->is_array()) return Fail(Status::InvalidArgument("'metrics' must be a list"));
      if (it->size() > kMaxBatchMetrics) {
        return Fail(Status::InvalidArgument("a batch may hold at most " + std::to_string(kMaxBatchMetrics) +
                                            " metrics, got " + std::to_string(it->size())));
      }
      for (const auto& m : *it) {
        if (!m.is_object()) return Fail(Status::InvalidArgument("each metric must be an object"));
        auto pt = MetricFrom(m);
        if (!pt.ok()) return Fail(pt.status());
        metrics.push_back(std::move(pt).value());
      }
    }
    if (params->size() > kMaxBatchParams) {
      return Fail(Status::InvalidArgument("a batch may hold at most " + std::to_string(kMaxBatchParams) +
                                          " params, got " + std::to_string(params->size())));
    }
    if (tags->size() > kMaxBatchTags) {
      return Fail(Status::InvalidArgument("a batch may hold at most " + std::to_string(kMaxBatchTags) + " tags, got " +
                                          std::to_string(tags->size())));
    }
    if (metrics.size() + params->size() + tags->size() > kMaxBatchTotal) {
      return Fail(Status::InvalidArgument("a batch may hold at most " + std::to_string(kMaxBatchTotal) +
                                          " metrics, params and tags together"));
    }
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
    if (!metrics.empty()) {
      auto n = d.store->LogMetrics(*id, std::move(metrics));
      if (!n.ok()) return Fail(n.status());
    }
    Changed(*id);
    return Reply(200, json::object());
  }

  // Dataset inputs (autologging logs the training data's description): kept with the run as
  // the tag "mlflow.datasets" (a JSON list, one entry per dataset name and digest) and answered
  // as the run's inputs.
  HttpResponse LogInputs() {
    auto id = RunIdParam();
    if (!id.ok()) return Fail(id.status());
    if (Status a = ActiveRun(*id); !a.ok()) return Fail(a);
    auto it = p.find("datasets");
    if (it == p.end() || it->is_null()) return Reply(200, json::object());
    if (!it->is_array()) return Fail(Status::InvalidArgument("'datasets' must be a list of dataset inputs"));
    auto run = d.store->GetRun(*id);
    if (!run.ok()) return Fail(run.status());
    json all = json::array();
    if (auto t = run->tags.find(kDatasetsTag); t != run->tags.end()) {
      json old = json::parse(t->second, nullptr, false);
      if (old.is_array()) all = old;
    }
    for (const auto& in : *it) {
      if (!in.is_object() || !in.contains("dataset") || !in["dataset"].is_object()) {
        return Fail(Status::InvalidArgument("each dataset input must be {dataset: {name, digest, ...}, tags}"));
      }
      const json& ds = in["dataset"];
      auto same = [&](const json& e) {
        return e["dataset"].value("name", "") == ds.value("name", "") && e["dataset"].value("digest", "") == ds.value("digest", "");
      };
      if (std::none_of(all.begin(), all.end(), same)) all.push_back(in);
    }
    std::string text = all.dump();
    if (text.size() > 64 * 1024) return Fail(Status::InvalidArgument("the run's dataset inputs exceed 64 KiB"));
    Status st = d.store->SetTags(*id, {{kDatasetsTag, text}});
    if (!st.ok()) return Fail(st);
    Changed(*id);
    return Reply(200, json::object());
  }

  HttpResponse MetricHistory() {
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
      out.push_back({{"key", pt.key}, {"value", NumberJson(pt.value)}, {"timestamp", Ms(pt.time)}, {"step", pt.step}});
    }
    json r = {{"metrics", out}};
    if (page->first + out.size() < points->size()) r["next_page_token"] = std::to_string(page->first + out.size());
    return Reply(200, r);
  }

  HttpResponse SearchRuns() {
    std::vector<std::string> ids;
    if (auto it = p.find("experiment_ids"); it != p.end() && !it->is_null()) {
      if (it->is_array()) {
        for (auto& e : *it) ids.push_back(e.is_string() ? e.get<std::string>() : e.dump());
      } else {
        ids.push_back(it->is_string() ? it->get<std::string>() : it->dump());
      }
    }
    if (ids.empty()) return Fail(Status::InvalidArgument("'experiment_ids' must name at least one experiment"));
    auto args = SearchArgs("run_view_type");
    if (!args.ok()) return Fail(args.status());
    const auto& view = args->view;
    const auto& page = args->page;
    struct Hit {
      json run;
      mlflow::RunView view;
    };
    std::vector<Hit> hits;
    for (const auto& eid : ids) {
      auto e = ExperimentById(eid);
      if (!e.ok()) return Fail(e.status());
      model::RunFilter f;
      f.experiment = e->name;
      f.include_children = true;
      f.limit = std::numeric_limits<int>::max();
      auto runs = d.store->ListRuns(f);
      if (!runs.ok()) return Fail(runs.status());
      for (const auto& r : *runs) {
        if (!InView(view, r.lifecycle_stage)) continue;
        Hit h;
        auto j = RunJson(r, &h.view);
        if (!j.ok()) return Fail(j.status());
        if (!args->filter.Matches(h.view)) continue;
        h.run = std::move(j).value();
        hits.push_back(std::move(h));
      }
    }
    std::stable_sort(hits.begin(), hits.end(),
                     [&](const Hit& a, const Hit& b) { return mlflow::Before(args->order, a.view, b.view); });
    json out = json::array();
    for (size_t i = page.first; i < hits.size() && out.size() < page.second; ++i) out.push_back(hits[i].run);
    json r = {{"runs", out}};
    if (page.first + out.size() < hits.size()) r["next_page_token"] = std::to_string(page.first + out.size());
    return Reply(200, r);
  }

  // MLflow 3's logged models: Ferry does not record them (logged-models/create is not
  // served), so a search, after checking its experiments, finds none. The client searches
  // them whenever it lists a run's artifacts.
  HttpResponse SearchLoggedModels() {
    if (auto it = p.find("experiment_ids"); it != p.end() && it->is_array()) {
      for (auto& e : *it) {
        auto exp = ExperimentById(e.is_string() ? e.get<std::string>() : e.dump());
        if (!exp.ok()) return Fail(exp.status());
      }
    }
    return Reply(200, {{"models", json::array()}});
  }

  // ---- artifacts (mlflow-artifacts) -------------------------------------------------------
  // A run's artifact_uri is mlflow-artifacts:/<experiment>/<run>/artifacts; the client sends
  // /api/2.0/mlflow-artifacts/artifacts/<experiment>/<run>/artifacts/<path>. Files are the
  // run's artifacts (the same as `ferry run download`): content in the blob store, the path
  // in the run's artifact list.

  struct ArtifactPath {
    std::string run_id, rel;  // rel: "" for the run's root
  };

  Result<ArtifactPath> ParseArtifactPath(const std::string& path) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= path.size()) {
      size_t end = path.find('/', start);
      if (end == std::string::npos) end = path.size();
      if (end > start) parts.push_back(path.substr(start, end - start));
      start = end + 1;
    }
    if (parts.size() < 3 || parts[2] != "artifacts") {
      return Status::InvalidArgument("artifact path '" + path + "' is not <experiment id>/<run id>/artifacts[/<path>]");
    }
    ArtifactPath a{parts[1], ""};
    for (size_t i = 3; i < parts.size(); ++i) a.rel += (a.rel.empty() ? "" : "/") + parts[i];
    FERRY_ASSIGN_OR_RETURN(auto run, d.store->GetRun(a.run_id));
    FERRY_ASSIGN_OR_RETURN(std::string eid, ExperimentIdOfRun(run));
    if (eid != parts[0]) {
      return Status::NotFound("run '" + a.run_id + "' is not in experiment '" + parts[0] + "' (it is in '" + eid + "')");
    }
    if (!a.rel.empty()) FERRY_RETURN_IF_ERROR(model::ValidateRelativePath(a.rel));
    return a;
  }

  HttpResponse UploadArtifact(const ArtifactPath& a) {
    if (a.rel.empty()) return Fail(Status::InvalidArgument("an artifact needs a file path after 'artifacts/'"));
    if (Status act = ActiveRun(a.run_id); !act.ok()) return Fail(act);
    auto hash = d.blobs->Put(req.body, "");
    if (!hash.ok()) return Fail(hash.status());
    Status st = d.blobs->Sync();  // durable before the run names it
    if (st.ok()) st = d.store->AddArtifacts(a.run_id, {{a.rel, static_cast<uint64_t>(req.body.size()), *hash}});
    if (!st.ok()) return Fail(st);
    Changed(a.run_id);
    return Reply(200, json::object());
  }

  HttpResponse DownloadArtifact(const ArtifactPath& a) {
    auto list = d.store->ListArtifacts(a.run_id);
    if (!list.ok()) return Fail(list.status());
    for (const auto& f : *list) {
      if (f.path != a.rel) continue;
      auto content = d.blobs->Get(f.hash);
      if (!content.ok()) return Fail(content.status());
      HttpResponse r;
      r.content_type = "application/octet-stream";
      r.body = std::move(content).value();
      return r;
    }
    return Fail(Status::NotFound("run '" + a.run_id + "' has no artifact '" + a.rel + "'"));
  }

  // The entries directly under a directory: {"files": [{path, is_dir, file_size}]}, paths
  // relative to the listed directory.
  HttpResponse ListArtifactDir(const ArtifactPath& a) {
    auto list = d.store->ListArtifacts(a.run_id);
    if (!list.ok()) return Fail(list.status());
    const std::string prefix = a.rel.empty() ? "" : a.rel + "/";
    std::map<std::string, json> entries;
    for (const auto& f : *list) {
      if (f.path.rfind(prefix, 0) != 0) continue;
      std::string rest = f.path.substr(prefix.size());
      size_t slash = rest.find('/');
      if (slash == std::string::npos) {
        entries[rest] = {{"path", rest}, {"is_dir", false}, {"file_size", f.size}};
      } else {
        std::string dir = rest.substr(0, slash);
        entries.emplace(dir, json{{"path", dir}, {"is_dir", true}});
      }
    }
    json files = json::array();
    for (auto& [name, e] : entries) files.push_back(e);
    return Reply(200, files.empty() ? json::object() : json{{"files", files}});
  }

  HandlerResult RouteArtifacts(const std::string& rest) {
    // rest: "artifacts" (list, ?path=) or "artifacts/<path>" (PUT upload, GET download).
    std::string path;
    if (rest == "artifacts") {
      path = req.Query("path");
    } else if (rest.rfind("artifacts/", 0) == 0) {
      path = rest.substr(std::string("artifacts/").size());
    } else {
      return Reply(404, {{"error_code", "ENDPOINT_NOT_FOUND"},
                         {"message", "Ferry's MLflow API has no " + req.method + " " + req.path}});
    }
    p = json::object();
    auto a = ParseArtifactPath(path);
    if (!a.ok()) return Fail(a.status());
    p["run_id"] = a->run_id;  // for a run's own token
    Status auth = Authenticate();
    if (!auth.ok()) return Fail(auth);
    if (rest == "artifacts" && req.method == "GET") return ListArtifactDir(*a);
    if (req.method == "PUT") return UploadArtifact(*a);
    if (req.method == "GET") return DownloadArtifact(*a);
    return Fail(Status::InvalidArgument(req.method + " is not supported on " + req.path));
  }

  // ---- routing --------------------------------------------------------------------------

  HandlerResult Route() {
    // Parameters: the JSON body of a POST (or PATCH/DELETE), else the query string.
    if (!req.body.empty() && req.method != "GET") {
      try {
        p = json::parse(req.body);
      } catch (const json::exception& e) {  // also numbers that overflow a double (1e309)
        return Fail(Status::InvalidArgument(std::string("malformed JSON body: ") + e.what()));
      }
      if (!p.is_object()) return Fail(Status::InvalidArgument("the JSON body must be an object"));
    } else {
      p = json::object();
      for (const auto& [k, v] : req.query) p[k] = v;
    }
    Status auth = Authenticate();
    if (!auth.ok()) return Fail(auth);
    const std::string& e = endpoint;
    const bool get = req.method == "GET", post = req.method == "POST";
    // A run's own token (it authenticated against the request's run_id): that run's data only.
    static const std::set<std::string> kRunScoped = {
        "runs/get",       "runs/update",    "runs/log-metric", "runs/log-batch", "runs/log-parameter",
        "runs/set-tag",   "runs/delete-tag", "metrics/get-history", "runs/log-inputs"};
    if (!full_access && !kRunScoped.count(e)) {
      return Fail(Status::PermissionDenied("a run's token may only log to its own run; " + e + " needs the workspace "
                                           "or a user token"));
    }
    if (e == "experiments/create" && post) return CreateExperiment();
    if (e == "experiments/get" && get) return GetExperiment();
    if (e == "experiments/get-by-name" && get) return GetExperimentByName();
    if ((e == "experiments/search" || e == "experiments/list") && (get || post)) return SearchExperiments();
    if (e == "experiments/delete" && post) return SetExperimentLifecycle("deleted");
    if (e == "experiments/restore" && post) return SetExperimentLifecycle("active");
    if (e == "experiments/update" && post) return UpdateExperiment();
    if (e == "experiments/set-experiment-tag" && post) return SetExperimentTag();
    if (e == "runs/create" && post) return CreateRun();
    if (e == "runs/get" && get) return GetRun();
    if (e == "runs/update" && post) return UpdateRun();
    if (e == "runs/delete" && post) return SetRunLifecycle("deleted");
    if (e == "runs/restore" && post) return SetRunLifecycle("active");
    if (e == "runs/search" && (get || post)) return SearchRuns();
    if (e == "runs/log-metric" && post) return LogMetric();
    if (e == "runs/log-batch" && post) return LogBatch();
    if (e == "runs/log-parameter" && post) return LogKeyValue(true);
    if (e == "runs/set-tag" && post) return LogKeyValue(false);
    if (e == "runs/delete-tag" && post) return DeleteTag();
    if (e == "runs/log-inputs" && post) return LogInputs();
    if (e == "metrics/get-history" && get) return MetricHistory();
    if (e == "logged-models/search" && (get || post)) return SearchLoggedModels();
    HttpResponse r = Reply(404, {{"error_code", "ENDPOINT_NOT_FOUND"},
                                 {"message", "Ferry's MLflow API has no " + req.method + " /api/2.0/mlflow/" + e}});
    return r;
  }
};

}  // namespace

HandlerResult MlflowApi::Handle(HttpRequest& req) {
  const std::string artifacts = "/api/2.0/mlflow-artifacts/";
  if (req.path.rfind(artifacts, 0) == 0) {
    Handler h{d_, req, ""};
    return h.RouteArtifacts(req.path.substr(artifacts.size()));
  }
  const std::string prefix = "/api/2.0/mlflow/";
  Handler h{d_, req, req.path.substr(prefix.size())};
  return h.Route();
}

}  // namespace ferry::server
