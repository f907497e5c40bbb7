// What every MLflow handler shares: the caller's rights (authentication, roles, who may change
// a run or an experiment) and the replies and parameter readers of MLflow's protocol.
#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "server/mlflow_api_internal.h"

namespace ferry::server::mlflow {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;

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
    case StatusCode::kNotFound:
      http = 404;
      code = "RESOURCE_DOES_NOT_EXIST";
      break;
    case StatusCode::kAlreadyExists:
      http = 400;
      code = "RESOURCE_ALREADY_EXISTS";
      break;
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition:
      http = 400;
      code = "INVALID_PARAMETER_VALUE";
      break;
    case StatusCode::kUnauthenticated:
      http = 401;
      code = "UNAUTHENTICATED";
      break;
    case StatusCode::kPermissionDenied:
      http = 403;
      code = "PERMISSION_DENIED";
      break;
    case StatusCode::kUnavailable:
      http = 503;
      code = "TEMPORARILY_UNAVAILABLE";
      break;
    default:
      break;
  }
  return Reply(http, {{"error_code", code}, {"message", st.message()}});
}

int64_t Ms(double seconds) { return static_cast<int64_t>(std::llround(seconds * 1000.0)); }

std::string MlflowStatus(RunStatus s) {
  switch (s) {
    case RunStatus::kQueued:
    case RunStatus::kPreparing:
    case RunStatus::kPreempted:
      return "SCHEDULED";
    case RunStatus::kRunning:
    case RunStatus::kFinalizing:
      return "RUNNING";
    case RunStatus::kCompleted:
      return "FINISHED";
    case RunStatus::kFailed:
      return "FAILED";
    case RunStatus::kCanceled:
      return "KILLED";
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
Result<double> NumberField(const json& j, const char* name, const std::string& path) {
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
Result<std::optional<int64_t>> IntField(const json& j, const char* name, const std::string& path) {
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
Result<std::string> Str(const json& j, const char* name, bool required, const std::string& path) {
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
Result<std::map<std::string, std::string>> KeyValues(const json& j, const char* name,
                                                     const char* what) {
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
void Handler::Changed(const std::string& run_id) {
  if (d.notify) d.notify(RunChannel(run_id));
}

// A person (the workspace token or a user with a role), or the MLflow token of the run the
// request names (its run_id).
Status Handler::Authenticate() {
  static const UserDirectory kNoUsers(nullptr);
  FERRY_ASSIGN_OR_RETURN(caller,
                         IdentifyCaller(req, d.workspace_token, d.users ? *d.users : kNoUsers));
  if (caller.person()) return Status::Ok();
  auto run_id = Str(p, "run_id", false);
  if (run_id.ok() && run_id->empty()) run_id = Str(p, "run_uuid", false);
  if (run_id.ok() && run_id->empty()) run_id = Str(p, "source_run_id", false);
  if (run_id.ok() && run_id->empty() && endpoint.rfind("logged-models/", 0) == 0) {
    // A logged model's endpoints: the token of the run that logged it.
    const std::string rest = endpoint.substr(std::string("logged-models/").size());
    auto m = d.store->Models().GetLoggedModel(rest.substr(0, rest.find('/')));
    if (m.ok()) run_id = m->source_run_id;
  }
  if (run_id.ok() && !run_id->empty() &&
      ConstantTimeEquals(caller.token, MlflowRunToken(d.run_secret, *run_id))) {
    token_run = *run_id;
    return Status::Ok();
  }
  if (script_reads_models_ || ScriptMayRead()) {
    // A script reads registered and logged models (load_model("models:/...")) with its run's
    // token: the request names no run, so the token is matched against the running ones.
    auto active = d.store->ListActiveRuns();
    if (active.ok()) {
      for (const auto& r : *active) {
        if (ConstantTimeEquals(caller.token, MlflowRunToken(d.run_secret, r.id))) {
          token_run = r.id;
          return Status::Ok();
        }
      }
    }
  }
  return Status::PermissionDenied("the token is not valid for " + req.method + " " + req.path);
}

bool Handler::ScriptMayRead() const {
  static const char* const kReads[] = {"registered-models/get",
                                       "registered-models/search",
                                       "registered-models/alias",
                                       "registered-models/get-latest-versions",
                                       "model-versions/get",
                                       "model-versions/search",
                                       "model-versions/get-download-uri"};
  if (req.method != "GET") return false;
  for (const char* e : kReads) {
    if (endpoint == e) return true;
  }
  // logged-models/<id> and its files, not its search (which lists experiments' models).
  return endpoint.rfind("logged-models/", 0) == 0 && endpoint != "logged-models/search";
}

// The caller's role is at least `role` (a run's token has none).
Status Handler::NeedRole(Role role, const std::string& what) {
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
Status Handler::MayChangeRun(const std::string& id, bool data) {
  FERRY_ASSIGN_OR_RETURN(model::Run r, GetRunOr404(id, true));
  if (!token_run.empty()) {
    if (token_run != id)
      return Status::PermissionDenied("this run's token is for run '" + token_run + "'");
  } else {
    FERRY_RETURN_IF_ERROR(NeedRole(Role::kContributor, "changing a run"));
    if (!caller.at_least(Role::kAdmin) && (caller.name.empty() || r.submitted_by != caller.name)) {
      std::string by =
          r.submitted_by.empty() ? "with the workspace token" : "by '" + r.submitted_by + "'";
      return Status::PermissionDenied("run '" + id + "' was created " + by +
                                      "; only its creator or an admin may change it (you are '" +
                                      caller.name + "')");
    }
  }
  if (data && r.kind != "external" && model::IsTerminal(r.status)) {
    ended_ = true;
    return Status::FailedPrecondition("run '" + id + "' has ended (" +
                                      model::RunStatusName(r.status) +
                                      "); it takes no more metrics, parameters, tags or artifacts");
  }
  run_ = std::move(r);
  return Status::Ok();
}

// The experiment may be changed by this caller: its creator (a contributor) or an admin.
Status Handler::MayChangeExperiment(const std::string& id) {
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

// A write to a Ferry run that has ended: 409, as on /api/v1 (MLflow's INVALID_STATE).
HttpResponse Handler::Ended(const Status& st) {
  return Reply(409, {{"error_code", "INVALID_STATE"}, {"message", st.message()}});
}

// MLflow's answer to a path it does not serve: the client reports ENDPOINT_NOT_FOUND.
HttpResponse Handler::NoEndpoint() {
  return Reply(404, {{"error_code", "ENDPOINT_NOT_FOUND"},
                     {"message", "Ferry's MLflow API has no " + req.method + " " + req.path +
                                     " (docs/mlflow.md lists what it serves)"}});
}

}  // namespace ferry::server::mlflow
