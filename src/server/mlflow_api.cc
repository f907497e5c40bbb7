// MLflow tracking REST API (see mlflow_api.h). Errors are MLflow's: {"error_code", "message"}
// with 400 (INVALID_PARAMETER_VALUE, RESOURCE_ALREADY_EXISTS), 404 (RESOURCE_DOES_NOT_EXIST),
// 401/403, 500.
#include "server/mlflow_api.h"

#include <algorithm>
#include <any>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/crypto.h"
#include "model/manifest.h"
#include "server/mlflow_filter.h"
#include "server/uploads.h"

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

// MLflow's wording for bad parameters ("Invalid value 31 for parameter 'run_id' supplied",
// "Missing value for required parameter 'key'."), which its clients and tests match on; ours
// adds what the value must be.
Status InvalidValue(const std::string& name, const json& value, const std::string& must) {
  return Status::InvalidArgument("Invalid value " +
                                 value.dump(-1, ' ', false, json::error_handler_t::replace) +
                                 " for parameter '" + name + "' supplied: " + must);
}
Status MissingValue(const std::string& name) {
  return Status::InvalidArgument("Missing value for required parameter '" + name + "'.");
}

// `path` names the field in errors (e.g. "metrics[0].value"); it defaults to name.
Result<double> NumberField(const json& j, const char* name, const std::string& path = "") {
  const std::string& at = path.empty() ? std::string(name) : path;
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return MissingValue(at);
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
  return InvalidValue(at, *it, "it must be a number");
}

// Integers arrive as JSON numbers or (protobuf's int64 mapping) as strings.
Result<std::optional<int64_t>> IntField(const json& j, const char* name,
                                        const std::string& path = "") {
  const std::string& at = path.empty() ? std::string(name) : path;
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return std::optional<int64_t>();
  if (it->is_number_integer()) return std::optional<int64_t>(it->get<int64_t>());
  if (it->is_number_float() && std::isfinite(it->get<double>()) &&
      std::abs(it->get<double>()) < 9.2e18) {
    return std::optional<int64_t>(static_cast<int64_t>(it->get<double>()));
  }
  if (it->is_string()) {
    std::string s = it->get<std::string>();
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && *end == '\0' && errno == 0) return std::optional<int64_t>(v);
  }
  return InvalidValue(at, *it, "it must be an integer");
}

// A string parameter: a JSON string (MLflow's protocol has no other form for one). Required:
// present and not empty.
Result<std::string> Str(const json& j, const char* name, bool required,
                        const std::string& path = "") {
  const std::string& at = path.empty() ? std::string(name) : path;
  auto it = j.find(name);
  if (it == j.end() || it->is_null() ||
      (it->is_string() && it->get_ref<const std::string&>().empty())) {
    if (required) return MissingValue(at);
    return std::string();
  }
  if (it->is_string()) return it->get<std::string>();
  return InvalidValue(at, *it, "it must be a string");
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
  if (!it->is_array()) return InvalidValue(name, *it, "it must be a list of {key, value}");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& kv = (*it)[i];
    const std::string at = std::string(name) + "[" + std::to_string(i) + "]";
    if (!kv.is_object()) return InvalidValue(at, kv, "it must be {key, value}");
    FERRY_ASSIGN_OR_RETURN(std::string k, Str(kv, "key", true, at + ".key"));
    FERRY_ASSIGN_OR_RETURN(std::string v, Str(kv, "value", false, at + ".value"));
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
  Caller caller;             // who is calling (Authenticate)
  std::string token_run;     // a run's MLflow token: the run it is for (and may change)
  std::optional<model::Run> run_;  // the request's run, once looked up
  bool ended_ = false;             // the refusal is for a run that has ended (409 INVALID_STATE)
  std::vector<model::Experiment> experiments_;
  bool experiments_loaded_ = false;

  double Now() const { return d.clock->Now(); }
  void Changed(const std::string& run_id) {
    if (d.notify) d.notify(RunChannel(run_id));
  }

  // A person (the workspace token or a user with a role), or the MLflow token of the run the
  // request names (its run_id).
  Status Authenticate() {
    static const UserDirectory kNoUsers(nullptr);
    FERRY_ASSIGN_OR_RETURN(caller,
                           IdentifyCaller(req, d.workspace_token, d.users ? *d.users : kNoUsers));
    if (caller.person()) return Status::Ok();
    auto run_id = Str(p, "run_id", false);
    if (run_id.ok() && run_id->empty()) run_id = Str(p, "run_uuid", false);
    if (run_id.ok() && !run_id->empty() &&
        ConstantTimeEquals(caller.token, MlflowRunToken(d.run_secret, *run_id))) {
      token_run = *run_id;
      return Status::Ok();
    }
    return Status::PermissionDenied("the token is not valid for " + req.method + " " + req.path);
  }

  // The caller's role is at least `role` (a run's token has none).
  Status NeedRole(Role role, const std::string& what) {
    if (caller.at_least(role)) return Status::Ok();
    if (!caller.person()) {
      return Status::PermissionDenied("a run's token may only log to its own run; " + what +
                                      " needs the workspace token or a user's token");
    }
    return Status::PermissionDenied(what + " needs the " + RoleName(role) + " role; user '" +
                                    caller.name + "' is a " + RoleName(caller.role) +
                                    " (an admin can change it: ferry user set-role " + caller.name +
                                    " " + RoleName(role) + ")");
  }

  // The run may be changed by this caller: its own MLflow token, its submitter (a
  // contributor) or an admin. A run that Ferry launched takes no more data once it has ended
  // (runs an MLflow client created follow MLflow, which allows it).
  Status MayChangeRun(const std::string& id, bool data) {
    FERRY_ASSIGN_OR_RETURN(model::Run r, GetRunOr404(id, true));
    if (!token_run.empty()) {
      if (token_run != id)
        return Status::PermissionDenied("this run's token is for run '" + token_run + "'");
    } else {
      FERRY_RETURN_IF_ERROR(NeedRole(Role::kContributor, "changing a run"));
      if (!caller.at_least(Role::kAdmin) &&
          (caller.name.empty() || r.submitted_by != caller.name)) {
        std::string by =
            r.submitted_by.empty() ? "with the workspace token" : "by '" + r.submitted_by + "'";
        return Status::PermissionDenied("run '" + id + "' was created " + by +
                                        "; only its creator or an admin may change it (you are '" +
                                        caller.name + "')");
      }
    }
    if (data && r.kind != "external" && model::IsTerminal(r.status)) {
      ended_ = true;
      return Status::FailedPrecondition(
          "run '" + id + "' has ended (" + model::RunStatusName(r.status) +
          "); it takes no more metrics, parameters, tags or artifacts");
    }
    run_ = std::move(r);
    return Status::Ok();
  }

  // The experiment may be changed by this caller: its creator (a contributor) or an admin.
  Status MayChangeExperiment(const std::string& id) {
    FERRY_RETURN_IF_ERROR(NeedRole(Role::kContributor, "changing an experiment"));
    if (caller.at_least(Role::kAdmin)) return Status::Ok();
    FERRY_ASSIGN_OR_RETURN(model::Experiment e, ExperimentById(id));
    if (caller.name.empty() || e.created_by != caller.name) {
      std::string by = e.created_by.empty() ? "by an admin" : "by '" + e.created_by + "'";
      return Status::PermissionDenied("experiment '" + e.name + "' was created " + by +
                                      "; only its creator or an admin may change it (you are '" +
                                      caller.name + "')");
    }
    return Status::Ok();
  }

  // ---- experiments ----------------------------------------------------------------------

  // Every experiment, MLflow's Default (id 0) among them: a workspace that has never had it
  // gets it here, as a fresh MLflow server has it.
  Result<std::vector<model::Experiment>*> Experiments() {
    if (!experiments_loaded_) {
      FERRY_ASSIGN_OR_RETURN(experiments_, d.store->ListExperiments());
      auto is_default = [](const model::Experiment& e) { return e.name == kDefaultExperiment; };
      if (std::none_of(experiments_.begin(), experiments_.end(), is_default)) {
        FERRY_RETURN_IF_ERROR(d.store->EnsureExperiment(kDefaultExperiment, Now()).status());
        FERRY_ASSIGN_OR_RETURN(experiments_, d.store->ListExperiments());
      }
      experiments_loaded_ = true;
    }
    return &experiments_;
  }
  void ForgetExperiments() { experiments_loaded_ = false; }

  static std::string IdOf(const model::Experiment& e) {
    return e.name == kDefaultExperiment ? "0" : std::to_string(e.id);
  }

  Result<model::Experiment> ExperimentById(const std::string& id) {
    FERRY_ASSIGN_OR_RETURN(auto* all, Experiments());
    for (const auto& e : *all) {
      if (IdOf(e) == id) return e;
    }
    return Status::NotFound("Could not find experiment with ID " + id);
  }

  Result<model::Experiment> ExperimentByName(const std::string& name) {
    FERRY_ASSIGN_OR_RETURN(auto* all, Experiments());
    for (const auto& e : *all) {
      if (e.name == name) return e;
    }
    return Status::NotFound("Could not find experiment with name '" + name + "'");
  }

  // Where an experiment's MLflow clients keep artifacts: the location it was created with,
  // else the server's default artifact root (ferry server --default-artifact-root) plus its
  // id, else Ferry's store (mlflow-artifacts:/<id>, served by this API).
  std::string ArtifactLocation(const model::Experiment& e) {
    if (!e.artifact_location.empty()) return e.artifact_location;
    if (!d.mlflow_artifact_root.empty()) return d.mlflow_artifact_root + "/" + IdOf(e);
    return "mlflow-artifacts:/" + IdOf(e);
  }

  // A run's artifact_uri. A run an MLflow client created keeps its artifacts where its
  // experiment says (a path or URI there is read and written by the client itself, as with
  // mlflow server); a run Ferry launched has its outputs in Ferry's store.
  std::string ArtifactUri(const model::Run& r, const model::Experiment& e) {
    const std::string store = "mlflow-artifacts:/" + IdOf(e) + "/" + r.id + "/artifacts";
    if (r.kind != "external") return store;
    std::string location = ArtifactLocation(e);
    if (location.rfind("mlflow-artifacts:", 0) == 0) return store;
    while (!location.empty() && location.back() == '/') location.pop_back();
    return location + "/" + r.id + "/artifacts";
  }

  json ExperimentJson(const model::Experiment& e) {
    json tags = KeyValueList(e.tags);
    return {{"experiment_id", IdOf(e)},
            {"name", e.name},
            {"artifact_location", ArtifactLocation(e)},
            {"lifecycle_stage", e.lifecycle_stage},
            {"creation_time", Ms(e.created_at)},
            {"last_update_time", Ms(e.last_update_time)},
            {"tags", tags}};
  }

  // artifact_location is kept and answered as the experiment's (a relative local path made
  // absolute against the server's working directory, as MLflow does); the experiment's MLflow
  // runs keep their artifacts there (ArtifactUri; docs/mlflow.md).
  HttpResponse CreateExperiment() {
    auto name = Str(p, "name", true);
    if (!name.ok()) return Fail(name.status());
    auto location = Str(p, "artifact_location", false);
    if (!location.ok()) return Fail(location.status());
    auto tags = KeyValues(p, "tags", "tag");
    if (!tags.ok()) return Fail(tags.status());
    if (Status t = CheckTags(*tags); !t.ok()) return Fail(t);
    std::string where = *location;
    if (!where.empty() && where.find(':') == std::string::npos && where[0] != '/') {
      std::error_code ec;
      auto cwd = std::filesystem::current_path(ec);
      if (!ec) where = (cwd / where).lexically_normal().string();
    }
    auto e = d.store->CreateExperimentWith(*name, where, *tags, Now(), caller.name);
    if (!e.ok()) return Fail(e.status());
    return Reply(200, {{"experiment_id", IdOf(*e)}});
  }

  HttpResponse GetExperiment() {
    auto id = Str(p, "experiment_id", true);
    if (!id.ok()) return Fail(id.status());
    auto e = ExperimentById(*id);
    if (!e.ok()) return Fail(e.status());
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
    auto it = j.find(name);
    auto v = it != j.end() && it->is_number_integer() ? Result<std::string>(it->dump())
                                                      : Str(j, name, false);
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
    if (n > limit)
      return InvalidValue("max_results", *p.find("max_results"),
                          "it may be at most " + std::to_string(limit));
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

  HttpResponse DeleteExperimentTag() {
    auto id = Str(p, "experiment_id", true);
    if (!id.ok()) return Fail(id.status());
    auto key = Str(p, "key", true);
    if (!key.ok()) return Fail(key.status());
    auto e = ExperimentById(*id);
    if (!e.ok()) return Fail(e.status());
    Status st = d.store->DeleteExperimentTag(e->id, *key, Now());
    if (st.code() == StatusCode::kNotFound) {
      st = Status::NotFound("No tag with name: " + *key + " in experiment with id " + *id);
    }
    return st.ok() ? Reply(200, json::object()) : Fail(st);
  }

  // ---- runs -----------------------------------------------------------------------------

  Result<std::string> ExperimentIdOfRun(const model::Run& r) {
    FERRY_ASSIGN_OR_RETURN(auto e, ExperimentByName(r.experiment));
    return IdOf(e);
  }

  // MLflow's user_id: the Ferry user who made the run, else what its client said it was.
  static std::string UserId(const model::Run& r) {
    if (!r.submitted_by.empty()) return r.submitted_by;
    auto it = r.tags.find("mlflow.user");
    return it == r.tags.end() ? "" : it->second;
  }

  Result<json> RunInfoJson(const model::Run& r) {
    FERRY_ASSIGN_OR_RETURN(model::Experiment e, ExperimentByName(r.experiment));
    const std::string eid = IdOf(e);
    json info = {{"run_id", r.id},
                 {"run_uuid", r.id},
                 {"run_name", r.name.empty() ? r.id : r.name},
                 {"experiment_id", eid},
                 {"user_id", UserId(r)},
                 {"status", MlflowStatus(r.status)},
                 {"start_time", Ms(r.started_at > 0 ? r.started_at : r.created_at)},
                 {"artifact_uri", ArtifactUri(r, e)},
                 {"lifecycle_stage", r.lifecycle_stage}};
    if (r.ended_at > 0) info["end_time"] = Ms(r.ended_at);
    return info;
  }

  // What MLflow's run view reads besides the run row, loaded for many runs at once.
  struct RunData {
    std::vector<model::MetricPoint> latest;  // MLflow's latest point per key (see the store)
    std::map<std::string, std::string> params;
  };
  Result<std::map<std::string, RunData>> LoadRunData(const std::vector<std::string>& ids,
                                                     bool metrics, bool params) {
    std::map<std::string, RunData> out;
    if (metrics) {
      FERRY_ASSIGN_OR_RETURN(auto latest, d.store->LatestMetrics(ids));
      for (auto& [id, pts] : latest) out[id].latest = std::move(pts);
    }
    if (params) {
      FERRY_ASSIGN_OR_RETURN(auto all, d.store->ParamsOfRuns(ids));
      for (auto& [id, kv] : all) out[id].params = std::move(kv);
    }
    return out;
  }

  // The run's tags as MLflow shows them: its name and user as tags, datasets moved out.
  static std::map<std::string, std::string> MlflowTags(const model::Run& r,
                                                       const std::string& run_name,
                                                       json* dataset_inputs) {
    std::map<std::string, std::string> tags = r.tags;
    if (auto t = tags.find(kDatasetsTag); t != tags.end()) {
      if (dataset_inputs) *dataset_inputs = json::parse(t->second, nullptr, false);
      tags.erase(t);
    }
    tags["mlflow.runName"] = run_name;
    if (!r.submitted_by.empty() && !tags.count("mlflow.user")) tags["mlflow.user"] = r.submitted_by;
    return tags;
  }

  // What a filter or an ordering reads of a run (metrics and params from data, when loaded).
  // Built from the run directly (no JSON: a search makes one per run it considers).
  Result<mlflow::RunView> ViewOf(const model::Run& r, const RunData* data) {
    FERRY_ASSIGN_OR_RETURN(model::Experiment e, ExperimentByName(r.experiment));
    const std::string run_name = r.name.empty() ? r.id : r.name;
    mlflow::RunView v;
    if (data) {
      for (const auto& pt : data->latest) v.metrics[pt.key] = pt.value;
      v.params = data->params;
    }
    v.tags = MlflowTags(r, run_name, nullptr);
    v.attributes = {{"status", MlflowStatus(r.status)},
                    {"run_id", r.id},
                    {"run_name", run_name},
                    {"user_id", UserId(r)},
                    {"artifact_uri", ArtifactUri(r, e)},
                    {"lifecycle_stage", r.lifecycle_stage}};
    v.times = {{"start_time", static_cast<double>(Ms(r.started_at > 0 ? r.started_at : r.created_at))}};
    if (r.ended_at > 0) v.times["end_time"] = static_cast<double>(Ms(r.ended_at));
    return v;
  }

  Result<json> RunJson(const model::Run& r, const RunData& data) {
    FERRY_ASSIGN_OR_RETURN(json info, RunInfoJson(r));
    json inputs = json::object(), datasets;
    auto tags = MlflowTags(r, info["run_name"].get<std::string>(), &datasets);
    if (datasets.is_array()) inputs["dataset_inputs"] = datasets;
    json metrics = json::array();
    for (const auto& pt : data.latest) {
      metrics.push_back({{"key", pt.key},
                         {"value", NumberJson(pt.value)},
                         {"timestamp", Ms(pt.time)},
                         {"step", pt.step}});
    }
    return json{{"info", info},
                {"data",
                 {{"metrics", metrics},
                  {"params", KeyValueList(data.params)},
                  {"tags", KeyValueList(tags)}}},
                {"inputs", inputs}};
  }

  // One run's full MLflow JSON.
  Result<json> RunJson(const model::Run& r) {
    FERRY_ASSIGN_OR_RETURN(auto data, LoadRunData({r.id}, true, true));
    return RunJson(r, data[r.id]);
  }

  // The run, or MLflow's not-found error for it.
  // summary: without tags and the run's configuration (enough for checks).
  Result<model::Run> GetRunOr404(const std::string& id, bool summary = false) {
    auto r = summary ? d.store->GetRunSummary(id) : d.store->GetRun(id);
    if (r.status().code() == StatusCode::kNotFound)
      return Status::NotFound("Run with id=" + id + " not found");
    return r;
  }

  Result<std::string> RunIdParam() {
    FERRY_ASSIGN_OR_RETURN(std::string id, Str(p, "run_id", false));
    if (id.empty()) {
      FERRY_ASSIGN_OR_RETURN(id, Str(p, "run_uuid", false));
    }
    if (id.empty()) return MissingValue("run_id");
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
    // The run belongs to whoever created it; the client's user_id is MLflow's mlflow.user.
    run.submitted_by = caller.name;
    if (!user_id->empty() && !run.tags.count("mlflow.user")) run.tags["mlflow.user"] = *user_id;
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
    auto r = GetRunOr404(*id);
    if (!r.ok()) return Fail(r.status());
    auto j = RunJson(*r);
    return j.ok() ? Reply(200, {{"run", *j}}) : Fail(j.status());
  }

  HttpResponse UpdateRun() {
    auto id = RunIdParam();
    if (!id.ok()) return Fail(id.status());
    auto r = GetRunOr404(*id);
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

  // A metric point; `at` prefixes the field names in errors ("metrics[3]." in a batch). The
  // timestamp is required, as MLflow requires it (its client always sends one).
  Result<model::MetricPoint> MetricFrom(const json& j, const std::string& at = "") {
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

  // The run exists and is not deleted (MLflow's wording; every write to a run checks this).
  Status ActiveRun(const std::string& id) {
    if (!run_ || run_->id != id) {  // not already read by the authorisation
      FERRY_ASSIGN_OR_RETURN(run_, GetRunOr404(id, true));
    }
    const model::Run& r = *run_;
    if (r.lifecycle_stage == "deleted") {
      return Status::FailedPrecondition(
          "The run " + id + " must be in the 'active' state. Current state is " +
          r.lifecycle_stage + "; restore it (runs/restore) before changing it");
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
    if (d.ingest) d.ingest->mlflow_points += static_cast<uint64_t>(*n);
    Changed(*id);
    return Reply(200, json::object());
  }

  // log-parameter and set-tag: one key and value for a run.
  HttpResponse LogKeyValue(bool param) {
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

  HttpResponse DeleteTag() {
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

  HttpResponse LogBatch() {
    auto id = RunIdParam();
    if (!id.ok()) return Fail(id.status());
    auto params = KeyValues(p, "params", "parameter");
    auto tags = KeyValues(p, "tags", "tag");
    if (!params.ok()) return Fail(params.status());
    if (!tags.ok()) return Fail(tags.status());
    std::vector<model::MetricPoint> metrics;
    if (auto it = p.find("metrics"); it != p.end() && !it->is_null()) {
      if (!it->is_array())
        return Fail(InvalidValue("metrics", *it, "it must be a list of metrics"));
      if (it->size() > kMaxBatchMetrics) {
        return Fail(Status::InvalidArgument("a batch may hold at most " + std::to_string(kMaxBatchMetrics) +
                                            " metrics, got " + std::to_string(it->size())));
      }
      for (size_t i = 0; i < it->size(); ++i) {
        const json& m = (*it)[i];
        const std::string at = "metrics[" + std::to_string(i) + "]";
        if (!m.is_object())
          return Fail(InvalidValue(at, m, "it must be {key, value, timestamp, step}"));
        auto pt = MetricFrom(m, at + ".");
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
      if (d.ingest) d.ingest->mlflow_points += static_cast<uint64_t>(*n);
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

  // Runs of the experiments, filtered, sorted and paged. Cheap views first: a run's row and
  // tags, plus its latest metric points and params (batched reads of one row per key) only when
  // the filter or the order names them; JSON is built for the page returned only.
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
    const auto& page = args->page;
    std::vector<model::Run> runs;
    for (const auto& eid : ids) {
      auto e = ExperimentById(eid);
      if (!e.ok()) return Fail(e.status());
      model::RunFilter f;
      f.experiment = e->name;
      f.include_children = true;
      f.light = true;
      f.limit = std::numeric_limits<int>::max();
      auto listed = d.store->ListRuns(f);
      if (!listed.ok()) return Fail(listed.status());
      for (auto& r : *listed) {
        if (InView(args->view, r.lifecycle_stage)) runs.push_back(std::move(r));
      }
    }
    auto names = [&](const char* kind) {
      return std::any_of(args->filter.all.begin(), args->filter.all.end(),
                         [&](auto& c) { return c.kind == kind; }) ||
             std::any_of(args->order.begin(), args->order.end(),
                         [&](auto& o) { return o.kind == kind; });
    };
    std::map<std::string, RunData> data;
    const bool view_metrics = names("metrics"), view_params = names("params");
    if (view_metrics || view_params) {
      std::vector<std::string> all;
      for (const auto& r : runs) all.push_back(r.id);
      auto loaded = LoadRunData(all, view_metrics, view_params);
      if (!loaded.ok()) return Fail(loaded.status());
      data = std::move(loaded).value();
    }
    struct Hit {
      const model::Run* run;
      mlflow::RunView view;
    };
    std::vector<Hit> hits;
    for (const auto& r : runs) {
      auto it = data.find(r.id);
      auto v = ViewOf(r, it == data.end() ? nullptr : &it->second);
      if (!v.ok()) return Fail(v.status());
      if (args->filter.Matches(*v)) hits.push_back({&r, std::move(v).value()});
    }
    std::stable_sort(hits.begin(), hits.end(),
                     [&](const Hit& a, const Hit& b) { return mlflow::Before(args->order, a.view, b.view); });
    std::vector<std::string> shown;
    for (size_t i = page.first; i < hits.size() && shown.size() < page.second; ++i)
      shown.push_back(hits[i].run->id);
    auto shown_data = LoadRunData(shown, true, true);
    if (!shown_data.ok()) return Fail(shown_data.status());
    json out = json::array();
    for (size_t i = page.first; i < page.first + shown.size(); ++i) {
      auto j = RunJson(*hits[i].run, (*shown_data)[hits[i].run->id]);
      if (!j.ok()) return Fail(j.status());
      out.push_back(std::move(j).value());
    }
    const size_t shown_n = out.size();
    json r = json::object();
    r["runs"] = std::move(out);
    if (page.first + shown_n < hits.size()) r["next_page_token"] = std::to_string(page.first + shown_n);
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
    std::string experiment_id, run_id, rel;  // rel: "" for the run's root
  };

  // <experiment id>/<run id>/artifacts[/<path>], read without looking anything up (the caller
  // authenticates first). "." components are dropped, as MLflow normalises them
  // (download_artifacts(artifact_path=".") asks for the run's root).
  static Result<ArtifactPath> SplitArtifactPath(const std::string& path) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= path.size()) {
      size_t end = path.find('/', start);
      if (end == std::string::npos) end = path.size();
      if (end > start && path.compare(start, end - start, ".") != 0)
        parts.push_back(path.substr(start, end - start));
      start = end + 1;
    }
    if (parts.size() < 3 || parts[2] != "artifacts") {
      return Status::InvalidArgument("artifact path '" + path + "' is not <experiment id>/<run id>/artifacts[/<path>]");
    }
    ArtifactPath a{parts[0], parts[1], ""};
    for (size_t i = 3; i < parts.size(); ++i) a.rel += (a.rel.empty() ? "" : "/") + parts[i];
    if (!a.rel.empty()) FERRY_RETURN_IF_ERROR(model::ValidateRelativePath(a.rel));
    return a;
  }

  // The run exists and is in the experiment the path names.
  Status CheckArtifactRun(const ArtifactPath& a) {
    FERRY_ASSIGN_OR_RETURN(auto run, GetRunOr404(a.run_id));
    FERRY_ASSIGN_OR_RETURN(std::string eid, ExperimentIdOfRun(run));
    if (eid != a.experiment_id) {
      return Status::NotFound("run '" + a.run_id + "' is not in experiment '" + a.experiment_id +
                              "' (it is in '" + eid + "')");
    }
    return Status::Ok();
  }

  // The file's bytes streamed into the blob store as they arrived (admission made the sink);
  // a request that was not streamed carries them in its body.
  HttpResponse UploadArtifact(const ArtifactPath& a) {
    if (a.rel.empty()) return Fail(Status::InvalidArgument("an artifact needs a file path after 'artifacts/'"));
    if (Status act = ActiveRun(a.run_id); !act.ok()) return Fail(act);
    Result<std::pair<std::string, uint64_t>> stored = Status::Internal("not stored");
    if (auto* sink = std::any_cast<std::shared_ptr<BlobSink>>(&req.context); sink && *sink) {
      stored = (*sink)->Finish();
    } else {
      auto hash = d.blobs->Put(req.body, "");
      Status synced =
          hash.ok() ? d.blobs->Sync() : hash.status();  // durable before the run names it
      stored =
          synced.ok()
              ? Result<std::pair<std::string, uint64_t>>(std::make_pair(*hash, req.body.size()))
              : synced;
    }
    if (!stored.ok()) return Fail(stored.status());
    Status st = d.store->AddArtifacts(a.run_id, {{a.rel, stored->second, stored->first}});
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
      if (Status auth = Authenticate(); !auth.ok()) return Fail(auth);
      return NoEndpoint();
    }
    // Authenticated before anything is looked up: an unauthenticated caller learns nothing
    // about runs or experiments. The path's run id is what a run's own token is checked for.
    p = json::object();
    auto a = SplitArtifactPath(path);
    if (a.ok()) p["run_id"] = a->run_id;
    if (Status auth = Authenticate(); !auth.ok()) return Fail(auth);
    if (!a.ok()) return Fail(a.status());
    if (Status run = CheckArtifactRun(*a); !run.ok()) return Fail(run);
    if (req.method == "PUT") {
      if (Status may = MayChangeRun(a->run_id, true); !may.ok())
        return ended_ ? Ended(may) : Fail(may);
      return UploadArtifact(*a);
    }
    if (req.method != "GET")
      return Fail(Status::InvalidArgument(req.method + " is not supported on " + req.path));
    if (rest == "artifacts") return ListArtifactDir(*a);
    return DownloadArtifact(*a);
  }

  // ---- routing --------------------------------------------------------------------------

  // A write to a Ferry run that has ended: 409, as on /api/v1 (MLflow's INVALID_STATE).
  HttpResponse Ended(const Status& st) {
    return Reply(409, {{"error_code", "INVALID_STATE"}, {"message", st.message()}});
  }

  // MLflow's answer to a path it does not serve: the client reports ENDPOINT_NOT_FOUND.
  HttpResponse NoEndpoint() {
    return Reply(404, {{"error_code", "ENDPOINT_NOT_FOUND"},
                       {"message", "Ferry's MLflow API has no " + req.method + " " + req.path +
                                       " (docs/mlflow.md lists what it serves)"}});
  }

  // `endpoint` is the path after /api/<version>/mlflow/; only 2.0's are served.
  HandlerResult Route(const std::string& version) {
    // Parameters: the JSON body of a POST (or PATCH/DELETE), else the query string. A bad
    // body is reported after authentication (which reads only the run id from it).
    Status body = Status::Ok();
    p = json::object();
    if (!req.body.empty() && req.method != "GET") {
      try {
        p = json::parse(req.body);
      } catch (const json::exception& e) {  // also numbers that overflow a double (1e309)
        body = Status::InvalidArgument(std::string("malformed JSON body: ") + e.what());
        p = json::object();
      }
      if (body.ok() && !p.is_object()) {
        body = Status::InvalidArgument("the JSON body must be an object");
        p = json::object();
      }
    } else {
      for (const auto& [k, v] : req.query) p[k] = v;
    }
    if (Status auth = Authenticate(); !auth.ok()) return Fail(auth);
    if (!body.ok()) return Fail(body);
    if (version != "2.0") return NoEndpoint();
    const bool get = req.method == "GET", post = req.method == "POST";
    for (const Endpoint& ep : Endpoints()) {
      if (endpoint != ep.name || !((get && ep.get) || (post && ep.post))) continue;
      if (Status may = Authorize(ep); !may.ok()) return ended_ ? Ended(may) : Fail(may);
      return ep.handle(*this);
    }
    return NoEndpoint();
  }

  // Who may call an endpoint (docs/security.md): readers read; contributors create
  // experiments and runs and change their own; admins change anyone's. A run's MLflow token
  // may use only the endpoints marked for it, for its own run.
  enum class Need { kRead, kCreate, kExperiment, kRun, kRunData };
  struct Endpoint {
    const char* name;
    bool get, post;
    Need need;
    bool run_token;  // a run's MLflow token may call it (for its own run)
    std::function<HttpResponse(Handler&)> handle;
  };
  static const std::vector<Endpoint>& Endpoints() {
    using H = Handler;
    static const std::vector<Endpoint> kEndpoints = {
        {"experiments/create", false, true, Need::kCreate, false,
         [](H& h) { return h.CreateExperiment(); }},
        {"experiments/get", true, false, Need::kRead, false,
         [](H& h) { return h.GetExperiment(); }},
        {"experiments/get-by-name", true, false, Need::kRead, false,
         [](H& h) { return h.GetExperimentByName(); }},
        {"experiments/search", true, true, Need::kRead, false,
         [](H& h) { return h.SearchExperiments(); }},
        {"experiments/list", true, true, Need::kRead, false,
         [](H& h) { return h.SearchExperiments(); }},
        {"experiments/delete", false, true, Need::kExperiment, false,
         [](H& h) { return h.SetExperimentLifecycle("deleted"); }},
        {"experiments/restore", false, true, Need::kExperiment, false,
         [](H& h) { return h.SetExperimentLifecycle("active"); }},
        {"experiments/update", false, true, Need::kExperiment, false,
         [](H& h) { return h.UpdateExperiment(); }},
        {"experiments/set-experiment-tag", false, true, Need::kExperiment, false,
         [](H& h) { return h.SetExperimentTag(); }},
        {"experiments/delete-experiment-tag", false, true, Need::kExperiment, false,
         [](H& h) { return h.DeleteExperimentTag(); }},
        {"runs/create", false, true, Need::kCreate, false, [](H& h) { return h.CreateRun(); }},
        {"runs/get", true, false, Need::kRead, true, [](H& h) { return h.GetRun(); }},
        {"runs/update", false, true, Need::kRun, true, [](H& h) { return h.UpdateRun(); }},
        {"runs/delete", false, true, Need::kRun, false,
         [](H& h) { return h.SetRunLifecycle("deleted"); }},
        {"runs/restore", false, true, Need::kRun, false,
         [](H& h) { return h.SetRunLifecycle("active"); }},
        {"runs/search", true, true, Need::kRead, false, [](H& h) { return h.SearchRuns(); }},
        {"runs/log-metric", false, true, Need::kRunData, true, [](H& h) { return h.LogMetric(); }},
        {"runs/log-batch", false, true, Need::kRunData, true, [](H& h) { return h.LogBatch(); }},
        {"runs/log-parameter", false, true, Need::kRunData, true,
         [](H& h) { return h.LogKeyValue(true); }},
        {"runs/set-tag", false, true, Need::kRunData, true,
         [](H& h) { return h.LogKeyValue(false); }},
        {"runs/delete-tag", false, true, Need::kRunData, true, [](H& h) { return h.DeleteTag(); }},
        {"runs/log-inputs", false, true, Need::kRunData, true, [](H& h) { return h.LogInputs(); }},
        {"metrics/get-history", true, false, Need::kRead, true,
         [](H& h) { return h.MetricHistory(); }},
        {"logged-models/search", true, true, Need::kRead, false,
         [](H& h) { return h.SearchLoggedModels(); }},
    };
    return kEndpoints;
  }

  Status Authorize(const Endpoint& ep) {
    if (!caller.person() && !ep.run_token) return NeedRole(Role::kReader, endpoint);
    switch (ep.need) {
      case Need::kRead:
        return Status::Ok();  // a run's token: only its own run (Authenticate)
      case Need::kCreate:
        return NeedRole(Role::kContributor, endpoint);
      case Need::kExperiment: {
        FERRY_ASSIGN_OR_RETURN(std::string id, Str(p, "experiment_id", true));
        return MayChangeExperiment(id);
      }
      case Need::kRun:
      case Need::kRunData: {
        FERRY_ASSIGN_OR_RETURN(std::string id, RunIdParam());
        return MayChangeRun(id, ep.need == Need::kRunData);
      }
    }
    return Status::Ok();
  }
};

}  // namespace

HandlerResult MlflowApi::Handle(HttpRequest& req) {
  const std::string artifacts = "/api/2.0/mlflow-artifacts/";
  if (req.path.rfind(artifacts, 0) == 0) {
    Handler h{d_, req, ""};
    return h.RouteArtifacts(req.path.substr(artifacts.size()));
  }
  // /api/<version>/mlflow/<endpoint>, or /ajax-api/<version>/mlflow/<endpoint> (MLflow serves
  // its REST API under both; its web UI calls the latter).
  const size_t at = req.path.find('/', 1) + 1;
  const std::string version = req.path.substr(at, req.path.find('/', at) - at);
  const std::string prefix = req.path.substr(0, at) + version + "/mlflow/";
  Handler h{d_, req, req.path.substr(std::min(prefix.size(), req.path.size()))};
  return h.Route(version);
}

}  // namespace ferry::server
