// REST handlers. Errors are {"error":{"code","message"}} with a 4xx/5xx status; messages
// name the run, field or value at fault and say what to do.
#include "server/api.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/crypto.h"
#include "common/version.h"
#include "model/manifest.h"
#include "net/http.h"
#include "runconfig/runconfig.h"
#include "scheduler/sweep_controller.h"
#include "server/api_json.h"
#include "server/mlflow_api.h"
#include "server/openapi.h"
#include "server/studio.h"
#include "server/targets.h"
#include "server/uploads.h"
#include "sweep/policy.h"
#include "sweep/space.h"

namespace ferry::server {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

std::string RunToken(const std::string& secret, const std::string& run_id) {
  return HmacSha256Hex(secret, "run:" + run_id);
}

std::string RunChannel(const std::string& run_id) { return "run:" + run_id; }

Result<std::string> BearerToken(const net::HttpRequest& req) {
  std::string auth = req.Header("authorization");
  const std::string prefix = "Bearer ";
  if (auth.rfind(prefix, 0) != 0) {
    return Status::Unauthenticated("missing 'Authorization: Bearer <token>'; the workspace token is in "
                                   "the workspace home's 'token' file (MLflow clients: MLFLOW_TRACKING_TOKEN)");
  }
  return auth.substr(prefix.size());
}

Result<UserCaller> UserFromToken(const ApiDeps& d, const std::string& token) {
  if (ConstantTimeEquals(token, d.workspace_token)) return UserCaller{true, "", Role::kAdmin};
  if (d.users) {
    if (auto u = d.users->ByToken(token)) {
      auto role = ParseRole(u->role);
      Role r = role.ok() ? *role : Role::kReader;
      return UserCaller{r == Role::kAdmin, u->name, r};
    }
  }
  return Status::NotFound("not a workspace or user token");
}

std::string MlflowRunToken(const std::string& secret, const std::string& run_id) {
  return HmacSha256Hex(secret, "mlflow:" + run_id);
}

namespace {

int HttpStatusFor(StatusCode c) {
  switch (c) {
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kIoError: return 507;
    default: return 500;
  }
}

HttpResponse Json(int status, const json& j) {
  HttpResponse r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpResponse Error(const Status& st, json extra = json::object()) {
  extra["code"] = StatusCodeName(st.code());
  extra["message"] = st.message();
  return Json(HttpStatusFor(st.code()), {{"error", extra}});
}

HttpResponse Bad(const std::string& msg) { return Error(Status::InvalidArgument(msg)); }

// The answer of a call that yields JSON: it, with `status`, or its error.
HttpResponse JsonOr(int status, const Result<json>& r) {
  return r.ok() ? Json(status, *r) : Error(r.status());
}

Result<json> ParseBody(const HttpRequest& req) {
  if (req.body.empty()) return Status::InvalidArgument("the request needs a JSON body");
  try {
    json j = json::parse(req.body);
    if (!j.is_object()) return Status::InvalidArgument("the JSON body must be an object");
    return j;
  } catch (const json::exception& e) {
    // parse errors, and numbers that overflow a double (1e309): the client's to fix.
    return Status::InvalidArgument(std::string("malformed JSON body: ") + e.what());
  }
}

// Reads an optional string field; InvalidArgument names the field when it has another type.
Result<std::string> StringField(const json& j, const char* name, bool required) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) {
    if (required) return Status::InvalidArgument(std::string("field '") + name + "' is required");
    return std::string();
  }
  if (!it->is_string()) return Status::InvalidArgument(std::string("field '") + name + "' must be a string");
  return it->get<std::string>();
}

Result<std::map<std::string, std::string>> StringMapField(const json& j, const char* name) {
  std::map<std::string, std::string> out;
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_object()) return Status::InvalidArgument(std::string("field '") + name + "' must be an object");
  for (auto& [k, v] : it->items()) {
    if (k.empty()) return Status::InvalidArgument(std::string("field '") + name + "' has an empty key");
    out[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out;
}

// A JSON value as an error message shows it: compact, at most 80 characters.
std::string Shown(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

// A whole number in decimal digits only (no sign, no spaces); nullopt otherwise or on overflow.
std::optional<uint64_t> ParseCount(std::string_view s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

constexpr size_t kMaxTagValueBytes = 64 << 10;

}  // namespace

// Metric values: numbers, or the strings "nan", "inf", "-inf" (as the metrics file writes them).
json MetricValue(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

json RunToJson(const model::Run& r) {
  json j = {{"id", r.id},
            {"experiment", r.experiment},
            {"target", r.target},
            {"status", model::RunStatusName(r.status)},
            {"script", r.script},
            {"arguments", r.arguments},
            {"python", r.python},
            {"snapshot_id", r.snapshot_id},
            {"tags", r.tags},
            {"created_at", r.created_at},
            {"started_at", r.started_at},
            {"ended_at", r.ended_at},
            {"exit_code", r.exit_code ? json(*r.exit_code) : json(nullptr)},
            {"error", r.error},
            {"attempt", r.attempt},
            {"cancel_requested", r.cancel_requested},
            {"gpu_ids", r.gpu_ids},
            {"submitted_by", r.submitted_by},
            {"kind", r.kind},
            {"parent_id", r.parent_id.empty() ? json(nullptr) : json(r.parent_id)}};
  model::RunOptionsToJson(r.options, &j);
  if (r.git.present) {
    j["git"] = {{"remote_url", r.git.remote_url}, {"branch", r.git.branch},
                {"commit", r.git.commit}, {"dirty", r.git.dirty}};
  } else {
    j["git"] = nullptr;
  }
  return j;
}

json MetricSummariesJson(const std::vector<model::MetricSummary>& sums) {
  json m = json::object();
  for (auto& s : sums) {
    m[s.key] = {{"last", MetricValue(s.last)}, {"min", MetricValue(s.min)}, {"max", MetricValue(s.max)},
                {"count", s.count}, {"last_step", s.last_step}};
  }
  return m;
}

json MetricPointJson(const model::MetricPoint& p) {
  json point = {{"step", p.step}, {"value", MetricValue(p.value)}, {"time", p.time}};
  if (int64_t rank = p.seq >> store::MetadataStore::kRankSeqShift; rank > 0 && p.seq < store::MetadataStore::kClientSeqBase) {
    point["rank"] = rank;
  }
  return point;
}

json HistoryJson(const std::vector<model::StatusEvent>& events) {
  json arr = json::array();
  for (auto& e : events) arr.push_back({{"status", model::RunStatusName(e.status)}, {"time", e.time}, {"reason", e.reason}});
  return arr;
}

json RunDetailJson(const ApiDeps& d, const model::Run& r) {
  json j = RunToJson(r);
  if (r.status == RunStatus::kQueued) j["queue_reason"] = d.scheduler->QueueReason(r.id);
  if (auto params = d.store->Params(r.id); params.ok()) j["params"] = *params;
  if (auto sums = d.store->MetricSummaries(r.id); sums.ok()) j["metrics"] = MetricSummariesJson(*sums);
  return j;
}

namespace {

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

bool Api::RunMayReadBlob(const std::string& run_id, const std::string& hash) {
  std::shared_ptr<const std::unordered_set<std::string>> set;
  {
    std::lock_guard lock(blob_sets_mu_);
    auto it = blob_sets_.find(run_id);
    if (it != blob_sets_.end()) set = it->second;
  }
  if (!set) {
    auto run = d_.store->GetRun(run_id);
    if (!run.ok()) return false;
    auto text = d_.blobs->Get(run->snapshot_id);
    if (!text.ok()) return false;
    auto m = model::Manifest::Parse(*text);
    if (!m.ok()) return false;
    auto s = std::make_shared<std::unordered_set<std::string>>();
    s->insert(run->snapshot_id);
    for (auto& e : m->entries) s->insert(e.hash);
    set = s;
    std::lock_guard lock(blob_sets_mu_);
    if (blob_sets_.size() > 256) blob_sets_.clear();  // bounded: agents fetch at start only
    blob_sets_[run_id] = set;
  }
  return set->count(hash) > 0;
}

namespace {

// Who may use a route (docs/security.md). The role is checked from the headers, before the
// body is read; whether a person may change a particular run (its submitter, or an admin) is
// checked by the handler, which reads the run.
enum class Access {
  kPublic,             // no token
  kWorkspace,          // the workspace token itself
  kAdmin,              // admin role
  kContribute,         // contributor role or above
  kRead,               // any person
  kAgent,              // the agent token of the run in the path, or admin
  kAgentOrRead,        // the agent token of the run in the path, or any person
  kAgentOrContribute,  // the agent token of the run in the path, or contributor or above
  kBlobRead,           // any person, or an agent naming its run in X-Ferry-Run
};

constexpr uint64_t kKiB = 1024, kMiB = kKiB * kKiB;
constexpr uint64_t kStreamed = ~uint64_t{0};  // the body streams into the blob store
// An agent's last shipment after its run ended (it may still be flushing when the server
// ends the run, e.g. on a cancel): accepted for this long, then refused.
constexpr double kFinalFlushSeconds = 120;

}  // namespace

struct Api::Impl {
  struct Route {
    const char* method;
    const char* pattern;  // after /api/v1; "{}" is one path segment, passed to the handler
    Access access;
    uint64_t max_body;  // bytes, or kStreamed
    net::Lane lane;
    HandlerResult (Impl::*handler)();
  };
  // What admission learnt about a request, for its handler.
  struct Context {
    Caller caller;
    const Route* route = nullptr;
    std::vector<std::string> params;
    std::string agent_run;                 // the run whose agent token was presented
    std::shared_ptr<BlobBatchSink> batch;  // a streamed blob upload
  };
  static const std::vector<Route>& Routes();

  Api& api;
  ApiDeps& d;
  HttpRequest& req;
  Context& ctx;
  const Caller& caller = ctx.caller;
  const std::vector<std::string>& params = ctx.params;
  const bool is_user = ctx.caller.person();  // the workspace token or a named user's token
  const bool is_admin = ctx.caller.at_least(Role::kAdmin);
  const std::string& user_name = ctx.caller.name;  // "" for the workspace token
  std::string agent_run = ctx.agent_run;           // the run whose agent token was presented

  const std::string& P(size_t i) const { return params.at(i); }

  void Changed(const std::string& run_id) {
    if (d.notify) d.notify(RunChannel(run_id));
  }

  // A person may change the runs they submitted; an admin any run; an agent only its own.
  Status MayChange(const model::Run& r) {
    if (!agent_run.empty()) {
      return agent_run == r.id ? Status::Ok()
                               : Status::PermissionDenied("this token is for another run");
    }
    if (is_admin) return Status::Ok();
    if (caller.at_least(Role::kContributor) && !user_name.empty() && r.submitted_by == user_name)
      return Status::Ok();
    std::string by =
        r.submitted_by.empty() ? "with the workspace token" : "by '" + r.submitted_by + "'";
    return Status::PermissionDenied("run '" + r.id + "' was submitted " + by +
                                    "; only its submitter or an admin may change it (you are " +
                                    (user_name.empty()
                                         ? std::string("a run's token")
                                         : "'" + user_name + "', " + RoleName(caller.role)) +
                                    ")");
  }

  // Data for a run that has ended is refused, except its agent's final flush just after the end.
  Status AcceptsData(const model::Run& r) {
    if (!model::IsTerminal(r.status)) return Status::Ok();
    if (!agent_run.empty() && d.clock->Now() - r.ended_at <= kFinalFlushSeconds)
      return Status::Ok();
    return Status::FailedPrecondition("run '" + r.id + "' has ended (" +
                                      model::RunStatusName(r.status) +
                                      "); it takes no more logs, metrics, tags or outputs");
  }
  HttpResponse Ended(const model::Run& r, const Status& st) {
    return Error(st, {{"status", model::RunStatusName(r.status)}});
  }

  // The run in the path, which this caller may change and which still takes data.
  Result<model::Run> RunForWrite(bool data) {
    FERRY_ASSIGN_OR_RETURN(model::Run r, d.store->GetRun(P(0)));
    FERRY_RETURN_IF_ERROR(MayChange(r));
    if (data) FERRY_RETURN_IF_ERROR(AcceptsData(r));
    return r;
  }
  HttpResponse WriteRefused(const Status& st) {
    if (st.code() == StatusCode::kFailedPrecondition) {
      auto r = d.store->GetRun(P(0));
      if (r.ok()) return Ended(*r, st);
    }
    return Error(st);
  }

  // ---- the server
  HandlerResult Health() {
    return Json(200, {{"status", "ok"},
                      {"version", std::string(Version())},
                      {"pid", static_cast<int>(::getpid())}});
  }

  HandlerResult OpenApiDocument() { return OpenApiResponse(); }

  HandlerResult Shutdown() {
    if (d.shutdown) d.shutdown();
    return Json(202, {{"status", "stopping"}});
  }

  HandlerResult WorkspaceStream() { return WorkspaceEventStream(d); }

  // ---- experiments
  HandlerResult ListExperiments() {
    auto list = d.store->ListExperiments();
    if (!list.ok()) return Error(list.status());
    json arr = json::array();
    for (auto& e : *list) arr.push_back({{"name", e.name}, {"created_at", e.created_at}});
    return Json(200, {{"experiments", arr}});
  }

  HandlerResult CreateExperiment() {
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    auto name = StringField(*body, "name", true);
    if (!name.ok()) return Error(name.status());
    auto e = d.store->CreateExperiment(*name, d.clock->Now(), user_name);
    if (!e.ok()) return Error(e.status());
    return Json(201, {{"name", e->name}, {"created_at", e->created_at}});
  }

  // ---- registered environments
  static json EnvironmentJson(const model::RegisteredEnvironment& e, bool with_content) {
    json j = {{"name", e.name}, {"version", e.version}, {"type", e.type}, {"hash", e.hash},
              {"description", e.description}, {"created_at", e.created_at}};
    if (with_content) j["content"] = e.content;
    return j;
  }

  HandlerResult ListEnvironments() {
    auto list = d.store->ListEnvironments("");
    if (!list.ok()) return Error(list.status());
    json arr = json::array();
    for (auto& e : *list) arr.push_back(EnvironmentJson(e, false));
    return Json(200, {{"environments", arr}});
  }

  HandlerResult RegisterEnvironment() {
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    model::RegisteredEnvironment e;
    for (auto [f, required, out] : {std::tuple{"name", true, &e.name},
                                    {"type", true, &e.type},
                                    {"content", true, &e.content},
                                    {"description", false, &e.description}}) {
      auto v = StringField(*body, f, required);
      if (!v.ok()) return Error(v.status());
      *out = *v;
    }
    Status valid = model::ValidateEnvironmentName(e.name);
    if (!valid.ok()) return Error(valid);
    if (e.type != "pip" && e.type != "conda")
      return Bad("field 'type' must be one of: pip, conda (got '" + e.type + "')");
    if (e.content.size() > (1u << 20)) return Bad("field 'content' is larger than 1 MiB");
    e.hash = Sha256Hex(e.type + "\n" + e.content);
    bool created = false;
    auto stored = d.store->RegisterEnvironment(e, d.clock->Now(), &created);
    if (!stored.ok()) return Error(stored.status());
    json j = EnvironmentJson(*stored, false);
    j["created"] = created;
    return Json(created ? 201 : 200, j);
  }

  HandlerResult EnvironmentVersions() {
    auto list = d.store->ListEnvironments(P(0));
    if (!list.ok()) return Error(list.status());
    if (list->empty())
      return Error(Status::NotFound("environment '" + P(0) + "' is not registered"));
    json arr = json::array();
    for (auto& e : *list) arr.push_back(EnvironmentJson(e, false));
    return Json(200, {{"name", P(0)}, {"versions", arr}});
  }

  HandlerResult GetEnvironment() {
    int64_t version = 0;
    if (P(1) != "latest") {
      auto v = ParseCount(P(1));
      if (!v || *v < 1)
        return Bad("environment version must be a positive integer or 'latest', got '" + P(1) +
                   "'");
      version = static_cast<int64_t>(*v);
    }
    auto e = d.store->GetEnvironment(P(0), version);
    if (!e.ok()) return Error(e.status());
    return Json(200, EnvironmentJson(*e, true));
  }

  // ---- compute targets
  json TargetJson(const model::ComputeTargetRecord& t, const std::vector<model::Run>& active) {
    int running = 0, queued = 0;
    for (auto& r : active) {
      if (r.target != t.name) continue;
      if (r.status == RunStatus::kQueued) ++queued;
      else ++running;
    }
    json j = {{"name", t.name}, {"kind", t.kind}, {"created_at", t.created_at},
              {"active_runs", running}, {"queued_runs", queued}};
    if (auto target = d.scheduler->GetTarget(t.name)) {
      std::string not_ready = target->NotReady();
      j["state"] = not_ready.empty() ? "ready" : "unreachable";
      if (const compute::KindOps* ops = compute::FindKind(t.kind); ops && ops->powered) {
        json cfg = json::parse(t.config_json, nullptr, false);
        std::string st = cfg.is_object() ? cfg.value("state", "running") : "running";
        if (st != "running") j["state"] = st;
        if (cfg.is_object()) j["owner"] = cfg.value("owner", "");
      }
      if (!not_ready.empty()) j["state_reason"] = not_ready;
      j["max_concurrent_runs"] = target->max_concurrent_runs();
      auto caps = target->capabilities();
      j["capabilities"] = {{"multi_node", caps.multi_node}, {"gpus", caps.gpus},
                           {"preemption", caps.preemption}, {"autoscaling", caps.autoscaling},
                           {"containers", caps.containers}};
      j["details"] = json::parse(target->Describe(), nullptr, false);
    } else {
      j["state"] = "unavailable";
    }
    return j;
  }

  HandlerResult ListComputes() {
    auto active = d.store->ListActiveRuns();
    if (!active.ok()) return Error(active.status());
    auto list = d.store->ListTargets();
    if (!list.ok()) return Error(list.status());
    json arr = json::array();
    for (auto& t : *list) arr.push_back(TargetJson(t, *active));
    return Json(200, {{"computes", arr}});
  }

  HandlerResult GetCompute() {
    auto active = d.store->ListActiveRuns();
    if (!active.ok()) return Error(active.status());
    auto t = d.store->GetTarget(P(0));
    if (!t.ok()) return Error(t.status());
    json j = TargetJson(*t, *active);
    json runs = json::array();
    for (auto& r : *active) {
      if (r.target == t->name)
        runs.push_back({{"id", r.id}, {"status", model::RunStatusName(r.status)}});
    }
    j["runs"] = runs;
    return Json(200, j);
  }

  // The kind table (compute/kind.h): names, CLI options, SDK classes.
  HandlerResult ComputeKinds() { return Json(200, json::parse(compute::KindsJson())); }

  HandlerResult AttachCompute() {
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    auto r = d.targets->Attach(*body);
    if (!r.ok()) return Error(r.status());
    d.scheduler->Wake();
    return Json(201, *r);
  }

  HandlerResult DetachCompute() {
    return JsonOr(
        200, d.targets->Detach(P(0), req.Query("force") == "true" || req.Query("force") == "1"));
  }

  HandlerResult StopCompute() { return JsonOr(202, d.targets->StopInstance(P(0))); }

  HandlerResult StartCompute() { return JsonOr(202, d.targets->StartInstance(P(0))); }

  HandlerResult UpdateCompute() {
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    return JsonOr(200, d.targets->UpdateCluster(P(0), *body));
  }

  HandlerResult TrustCompute() { return JsonOr(200, d.targets->Trust(P(0))); }

  // The workspace's limits on managed clusters (cores, GPUs at their maximum size).
  HandlerResult GetQuota() { return JsonOr(200, d.targets->GetQuota()); }

  HandlerResult SetQuota() {
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    return JsonOr(200, d.targets->SetQuota(*body));
  }

  // ---- users and roles
  static json UserJson(const store::UserRecord& u) {
    return {{"name", u.name}, {"role", u.role}, {"created_at", u.created_at}};
  }

  HandlerResult ListUsers() {
    auto users = d.store->ListUsers();
    if (!users.ok()) return Error(users.status());
    json arr = json::array();
    for (auto& u : *users) arr.push_back(UserJson(u));
    return Json(200, {{"users", arr}});
  }

  static Result<Role> RoleField(const json& body, Role def) {
    FERRY_ASSIGN_OR_RETURN(std::string role, StringField(body, "role", false));
    if (role.empty()) return def;
    auto r = ParseRole(role);
    if (!r.ok()) return r.status().WithContext("field 'role'");
    return r;
  }

  HandlerResult CreateUser() {
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    auto name = StringField(*body, "name", true);
    if (!name.ok()) return Error(name.status());
    Status valid = model::ValidateEnvironmentName(*name);
    if (!valid.ok())
      return Bad("user name '" + *name + "' is not valid: use letters, digits, '.', '_' or '-'");
    auto role = RoleField(*body, Role::kContributor);
    if (!role.ok()) return Error(role.status());
    std::string token = "fu_" + RandomHex(24);
    Status st = d.store->CreateUser({*name, RoleName(*role), Sha256Hex(token), d.clock->Now()});
    if (st.ok() && d.users) st = d.users->Reload();
    if (!st.ok()) return Error(st);
    return Json(201, {{"name", *name}, {"role", RoleName(*role)}, {"token", token}});
  }

  HandlerResult UpdateUser() {
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    auto role = RoleField(*body, Role::kReader);
    if (!role.ok()) return Error(role.status());
    if (!body->contains("role"))
      return Bad("field 'role' is required: reader, contributor or admin");
    Status st = d.store->SetUserRole(P(0), RoleName(*role));
    if (st.ok() && d.users) st = d.users->Reload();
    if (!st.ok()) return Error(st);
    return Json(200, {{"name", P(0)}, {"role", RoleName(*role)}});
  }

  HandlerResult DeleteUser() {
    Status st = d.store->DeleteUser(P(0));
    if (st.ok() && d.users) st = d.users->Reload();
    if (!st.ok()) return Error(st);
    return Json(200, {{"name", P(0)}, {"deleted", true}});
  }

  // ---- blobs and snapshots
  HandlerResult MissingBlobs() {
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    auto it = body->find("hashes");
    if (it == body->end() || !it->is_array())
      return Bad("field 'hashes' must be an array of SHA-256 hex strings");
    json missing = json::array();
    for (auto& h : *it) {
      if (!h.is_string() || !IsSha256Hex(h.get_ref<const std::string&>())) {
        return Bad("'hashes' contains " + Shown(h) +
                   ", which is not a lowercase SHA-256 hex digest");
      }
      if (!d.blobs->Has(h.get<std::string>())) missing.push_back(h);
    }
    return Json(200, {{"missing", missing}});
  }

  HandlerResult GetBlob() {
    if (!is_user && !api.RunMayReadBlob(agent_run, P(0))) {
      return Error(
          Status::PermissionDenied("blob " + P(0) + " is not part of run '" + agent_run + "'"));
    }
    auto content = d.blobs->Get(P(0));
    if (!content.ok()) return Error(content.status());
    HttpResponse r;
    r.content_type = "application/octet-stream";
    r.body = std::move(content).value();
    return r;
  }

  // POST /runs/{id}/blobs/fetch. Many blobs in one answer (a node filling its cache): body
  // {"hashes": [...]} (at most 20,000); answer: records "<hash> <length>\n<bytes>", back to back,
  // in the order asked. A run token may fetch only its own snapshot's blobs; so may a person (a
  // run's files).
  HandlerResult FetchBlobs() {
    const std::string run = agent_run.empty() ? P(0) : agent_run;
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    auto it = body->find("hashes");
    if (it == body->end() || !it->is_array()) return Bad("field 'hashes' must be an array of SHA-256 hex strings");
    if (it->size() > 20000) return Bad("at most 20000 hashes per fetch, got " + std::to_string(it->size()));
    HttpResponse r;
    r.content_type = "application/octet-stream";
    for (auto& h : *it) {
      if (!h.is_string() || !IsSha256Hex(h.get_ref<const std::string&>())) {
        return Bad("'hashes' contains " + Shown(h) +
                   ", which is not a lowercase SHA-256 hex digest");
      }
      const std::string& hash = h.get_ref<const std::string&>();
      if (!api.RunMayReadBlob(run, hash)) {
        return Error(
            Status::PermissionDenied("blob " + hash + " is not part of run '" + run + "'"));
      }
      auto content = d.blobs->Get(hash);
      if (!content.ok()) return Error(content.status().WithContext("blob " + hash));
      r.body += hash + " " + std::to_string(content->size()) + "\n";
      r.body += *content;
      if (r.body.size() > (256u << 20)) return Bad("the blobs asked for exceed 256 MiB; ask for fewer at a time");
    }
    return r;
  }

  // Body: records "<hash> <length>\n<bytes>", back to back, streamed into the blob store
  // as they arrive (uploads.h). All-or-nothing per record; durable before it is acknowledged.
  HandlerResult UploadBlobs() {
    if (!ctx.batch) return Error(Status::Internal("the upload was not streamed"));
    auto stored = ctx.batch->Finish();
    if (!stored.ok()) return Error(stored.status());
    return Json(200, {{"stored", *stored}});
  }

  // The agent's upload of its artifacts' content (the same batch format).
  HandlerResult UploadRunBlobs() {
    auto r = d.store->GetRun(P(0));
    if (!r.ok()) return Error(r.status());
    if (Status st = AcceptsData(*r); !st.ok()) return Ended(*r, st);
    return UploadBlobs();
  }

  HandlerResult GetSnapshot() {
    auto has = d.store->HasSnapshot(P(0));
    if (!has.ok()) return Error(has.status());
    if (!*has) return Error(Status::NotFound("snapshot " + P(0) + " is not stored"));
    return Json(200, {{"id", P(0)}});
  }

  HandlerResult PostSnapshot() {
    auto m = model::Manifest::Parse(req.body);
    if (!m.ok()) return Error(m.status());
    json missing = json::array();
    size_t n_missing = 0;
    for (auto& e : m->entries) {
      auto size = d.blobs->Size(e.hash);
      if (!size.ok()) {
        if (size.status().code() != StatusCode::kNotFound) return Error(size.status());
        if (++n_missing <= 20) missing.push_back(e.path);
        continue;
      }
      if (*size != e.size) {
        return Bad("the snapshot manifest says '" + e.path + "' has " + std::to_string(e.size) +
                   " bytes, but blob " + e.hash + " has " + std::to_string(*size) +
                   "; rebuild the manifest from the files");
      }
    }
    if (n_missing > 0) {
      return Error(
          Status::FailedPrecondition(std::to_string(n_missing) +
                                     " file(s) of the snapshot have no uploaded content; upload "
                                     "the missing blobs first"),
          {{"missing_paths", missing}});
    }
    auto id = d.blobs->Put(req.body, "");
    if (!id.ok()) return Error(id.status());
    Status st = d.blobs->Sync();
    if (st.ok())
      st = d.store->PutSnapshot(*id, static_cast<int64_t>(m->entries.size()),
                                static_cast<int64_t>(m->TotalBytes()), d.clock->Now());
    if (!st.ok()) return Error(st);
    return Json(201, {{"id", *id}, {"files", m->entries.size()}, {"bytes", m->TotalBytes()}});
  }
  // ---- runs
  // The run a submit describes, validated (snapshot stored, script in it, target usable).
  Result<model::Run> RunFromBody(const json& j) {
    model::Run run;
    auto get = [&](const char* f, bool req, std::string* out) -> Status {
      auto v = StringField(j, f, req);
      if (!v.ok()) return v.status();
      *out = *v;
      return Status::Ok();
    };
    std::string experiment;
    for (auto [f, r, out] : {std::tuple{"experiment", false, &experiment}, {"target", false, &run.target},
                             {"script", true, &run.script}, {"python", false, &run.python},
                             {"snapshot_id", true, &run.snapshot_id}}) {
      Status st = get(f, r, out);
      if (!st.ok()) return st;
    }
    run.experiment = experiment.empty() ? "default" : experiment;
    run.submitted_by = user_name;
    if (run.target.empty()) run.target = "local";
    if (run.python.empty()) run.python = "python3";
    if (auto it = j.find("arguments"); it != j.end() && !it->is_null()) {
      if (!it->is_array()) return Status::InvalidArgument("field 'arguments' must be an array of strings");
      for (auto& a : *it) {
        if (!a.is_string()) return Status::InvalidArgument("field 'arguments' must contain only strings, found " + a.dump());
        run.arguments.push_back(a.get<std::string>());
      }
    }
    auto tags = StringMapField(j, "tags");
    if (!tags.ok()) return tags.status();
    run.tags = *tags;
    auto options = model::RunOptionsFromJson(j);
    if (!options.ok()) return options.status();
    run.options = std::move(options).value();
    model::EnvironmentSpec& env = run.options.environment;
    if (!env.name.empty() && env.file.empty() && env.content.empty()) {
      // A registered environment: the run keeps its spec, so later versions don't change it.
      auto reg = d.store->GetEnvironment(env.name, env.version);
      if (!reg.ok()) return reg.status().WithContext("field 'environment'");
      env.type = reg->type;
      env.content = reg->content;
      env.version = reg->version;
    }
    if (auto it = j.find("git"); it != j.end() && it->is_object() && !it->empty()) {
      run.git.present = true;
      run.git.remote_url = it->value("remote_url", "");
      run.git.branch = it->value("branch", "");
      run.git.commit = it->value("commit", "");
      run.git.dirty = it->value("dirty", false);
    }
    Status st = model::ValidateRelativePath(run.script);
    if (!st.ok()) return st.WithContext("field 'script'");
    auto target = d.store->GetTarget(run.target);
    if (!target.ok()) return target.status();
    if (!IsSha256Hex(run.snapshot_id)) return Status::InvalidArgument("field 'snapshot_id' is not a SHA-256 hex digest");
    auto manifest_text = d.blobs->Get(run.snapshot_id);
    if (!manifest_text.ok()) {
      return Status::NotFound("snapshot " + run.snapshot_id + " is not stored; upload it first");
    }
    // The stored manifest was validated when it was posted; a binary search over its
    // sorted lines finds the script without parsing 50,000 lines on every submit.
    if (!model::ManifestTextHasPath(*manifest_text, run.script)) {
      size_t files = static_cast<size_t>(std::count(manifest_text->begin(), manifest_text->end(), '\n'));
      return Status::InvalidArgument("script '" + run.script + "' is not in the snapshot of the source directory (" +
                 std::to_string(files) + " files); check the path and ignore files");
    }
    if (!env.file.empty() && !model::ManifestTextHasPath(*manifest_text, env.file)) {
      return Status::InvalidArgument("environment file '" + env.file + "' is not in the snapshot of the source directory; "
                 "check the path (relative to the source directory) and ignore files");
    }
    Status allowed = d.targets->CheckSubmit(run.target, user_name);
    if (!allowed.ok()) return allowed;
    Status fits = d.scheduler->CheckFits(run);
    if (!fits.ok()) return fits;
    run.id = model::RunIdPrefix(run.experiment) + "_" +
             std::to_string(static_cast<long long>(d.clock->Now())) + "_" + RandomHex(4);
    return run;
  }

  HandlerResult CreateRun() {
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    auto run = RunFromBody(*body);
    if (!run.ok()) return Error(run.status());
    auto created = d.store->CreateRun(*run, model::ParamsFromArguments(run->arguments), "hmac", d.clock->Now());
    if (!created.ok()) return Error(created.status());
    d.scheduler->Wake();
    return Json(201, RunToJson(*created));
  }

  // ---- sweeps: POST /sweeps {run fields..., "sweep": {"spec", "spec_file", "azure_strict",
  // "warm_start"}}; GET /sweeps/{id}; POST /sweeps/{id}/cancel.
  HandlerResult CreateSweep() {
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    auto it = body->find("sweep");
    if (it == body->end() || !it->is_object()) {
      return Bad("field 'sweep' is required: {\"spec\": the hdconfig.yml text, \"spec_file\": its name}");
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
    if (auto w = sj.find("warm_start"); w != sj.end() && !w->is_null()) {
      if (!w->is_array()) return Bad("field 'sweep.warm_start' must be an array of sweep run ids");
      for (auto& id : *w) {
        if (!id.is_string()) return Bad("field 'sweep.warm_start' must contain only run ids (strings)");
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
    Status args = sweep::CheckFixedArguments(*spec, run->arguments);
    if (!args.ok()) return Error(args);
    if (!settings.warm_start.empty()) {
      if (spec->sampling != "bayesian") {
        return Bad("warm start seeds the Bayesian model; this sweep uses " + spec->sampling + " sampling");
      }
      auto warm = scheduler::WarmStartObservations(d.store, *spec, settings.warm_start);
      if (!warm.ok()) return Error(warm.status());
    }
    auto created = d.store->CreateSweep(*run, record, d.clock->Now());
    if (!created.ok()) return Error(created.status());
    d.scheduler->Wake();
    return Json(201, RunToJson(*created));
  }

  HandlerResult CancelRun() {
    auto r = d.store->GetRun(P(0));
    if (!r.ok()) return Error(r.status());
    if (Status may = MayChange(*r); !may.ok()) return Error(may);
    Status st =
        d.scheduler->Cancel(P(0), user_name.empty() ? std::string("canceled by the user")
                                                    : "canceled by the user '" + user_name + "'");
    if (!st.ok()) return Error(st);
    Changed(P(0));
    auto again = d.store->GetRun(P(0));
    if (!again.ok()) return Error(again.status());
    return Json(202, RunToJson(*again));
  }

  HandlerResult CancelSweep() {
    auto r = d.store->GetRun(P(0));
    if (!r.ok()) return Error(r.status());
    if (Status may = MayChange(*r); !may.ok()) return Error(may);
    auto rec = d.store->GetSweep(P(0));
    if (!rec.ok()) return Error(rec.status());
    return CancelRun();  // the controller cancels its trials
  }

  HandlerResult GetSweep() {
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
    const bool maximize = spec->primary_metric_goal == "Maximize";
    json arr = json::array(), best = nullptr;
    std::map<std::string, int> counts;
    double best_value = 0;
    for (auto& t : *trials) {
      ++counts[model::RunStatusName(t.status)];
      json row = {{"id", t.id}, {"status", model::RunStatusName(t.status)}, {"created_at", t.created_at},
                  {"started_at", t.started_at}, {"ended_at", t.ended_at}};
      auto params = d.store->Params(t.id);
      json pj = json::object();
      if (params.ok()) {
        for (auto& p : spec->space) {
          auto pit = params->find(sweep::ParamKey(p.name));
          if (pit != params->end()) pj[p.name] = pit->second;
        }
      }
      row["parameters"] = pj;
      row["metric"] = nullptr;
      row["reports"] = 0;
      auto sums = d.store->MetricSummaries(t.id);
      if (sums.ok()) {
        for (auto& s : *sums) {
          if (s.key != spec->primary_metric_name) continue;
          double v = maximize ? s.max : s.min;
          row["metric"] = MetricValue(v);
          row["last"] = MetricValue(s.last);
          row["reports"] = s.count;
          if (!std::isnan(v) && (best.is_null() || sweep::Better(*spec, v, best_value))) {
            best_value = v;
            best = row;
          }
        }
      }
      if (t.status == RunStatus::kCanceled) row["reason"] = t.cancel_reason;
      if (t.status == RunStatus::kFailed) row["error"] = t.error.substr(0, 500);
      arr.push_back(std::move(row));
    }
    json j = RunToJson(*parent);
    j["sweep"] = {{"sampling", spec->sampling},
                  {"seed", spec->seed},
                  {"policy", spec->policy},
                  {"primary_metric_name", spec->primary_metric_name},
                  {"primary_metric_goal", spec->primary_metric_goal},
                  {"max_total_runs", spec->max_total_runs},
                  {"max_concurrent_runs", spec->max_concurrent_runs},
                  {"max_duration_minutes", spec->max_duration_minutes},
                  {"spec_file", rec->spec_file},
                  {"warm_start", settings->warm_start},
                  {"parameters", [&] {
                     json names = json::array();
                     for (auto& p : spec->space) names.push_back({{"name", p.name}, {"expression", sweep::ExpressionName(p.expression)}});
                     return names;
                   }()}};
    if (!settings->warm_start.empty()) {
      auto warm = scheduler::WarmStartObservations(d.store, *spec, settings->warm_start);
      j["sweep"]["warm_observations"] = warm.ok() ? static_cast<int64_t>(warm->size()) : 0;
    }
    j["counts"] = counts;
    j["best"] = best;
    j["trials"] = arr;
    return Json(200, j);
  }

  HandlerResult ListRuns() {
    model::RunFilter f;
    f.experiment = req.Query("experiment");
    f.target = req.Query("target");
    f.parent = req.Query("parent");
    f.include_children = req.Query("include_children") == "true";
    std::string status = req.Query("status");
    if (!status.empty()) {
      auto s = model::ParseRunStatus(status);
      if (!s.ok()) return Error(s.status());
      f.status = *s;
    }
    auto limit = ParseCount(req.Query("limit", "100"));
    auto offset = ParseCount(req.Query("offset", "0"));
    if (!limit || *limit < 1 || *limit > 1000)
      return Bad("'limit' must be a whole number from 1 to 1000, got '" + req.Query("limit") + "'");
    if (!offset || *offset > (1u << 30))
      return Bad("'offset' must be a whole number from 0 to 2^30, got '" + req.Query("offset") +
                 "'");
    f.limit = static_cast<int>(*limit);
    f.offset = static_cast<int>(*offset);
    // tag.<key>=<value>, param.<key>=<value>: every one must match.
    for (const auto& [k, v] : req.query) {
      if (k.rfind("tag.", 0) == 0 && k.size() > 4) f.tags[k.substr(4)] = v;
      if (k.rfind("param.", 0) == 0 && k.size() > 6) f.params[k.substr(6)] = v;
      if (k.rfind("metric.", 0) == 0 && k.size() > 7) {
        auto cond = ParseMetricCondition(k.substr(7), v);
        if (!cond.ok()) return Error(cond.status());
        f.metrics.push_back(*cond);
      }
    }
    bool with_params = false, with_metrics = false;
    for (const auto& part : SplitList(req.Query("with"))) {
      if (part == "params") with_params = true;
      else if (part == "metrics") with_metrics = true;
      else return Bad("'with' takes params and/or metrics (comma-separated), got '" + part + "'");
    }
    f.sort = req.Query("sort");
    std::string order = req.Query("order", "desc");
    if (order != "asc" && order != "desc") return Bad("'order' must be asc or desc, got '" + order + "'");
    f.ascending = order == "asc";
    auto runs = d.store->ListRuns(f);
    if (!runs.ok()) return Error(runs.status());
    json arr = json::array();
    for (auto& r : *runs) {
      arr.push_back(RunToJson(r));
      json& row = arr.back();
      if (r.status == RunStatus::kQueued) row["queue_reason"] = d.scheduler->QueueReason(r.id);
      if (with_params) {
        auto params = d.store->Params(r.id);
        row["params"] = params.ok() ? json(*params) : json::object();
      }
      if (with_metrics) {
        auto sums = d.store->MetricSummaries(r.id);
        row["metrics"] = sums.ok() ? MetricSummariesJson(*sums) : json::object();
      }
    }
    json out = {{"runs", arr}};
    if (req.Query("count") == "true") {
      auto total = d.store->CountRuns(f);
      if (!total.ok()) return Error(total.status());
      out["total"] = *total;
    }
    return Json(200, out);
  }

  // metric.<key>=<op><number>, op one of < <= > >= = (e.g. metric.loss=<0.5).
  static Result<model::RunFilter::MetricCondition> ParseMetricCondition(const std::string& key, const std::string& v) {
    model::RunFilter::MetricCondition c;
    c.key = key;
    size_t n = 0;
    for (const char* op : {"<=", ">=", "==", "<", ">", "="}) {
      if (v.rfind(op, 0) == 0) {
        n = std::strlen(op);
        c.op = std::string(op) == "==" ? "=" : op;
        break;
      }
    }
    std::string num = v.substr(n);
    char* end = nullptr;
    errno = 0;
    if (n > 0 && !num.empty()) c.value = std::strtod(num.c_str(), &end);
    if (n == 0 || num.empty() || end != num.c_str() + num.size() || errno != 0 || !std::isfinite(c.value)) {
      return Status::InvalidArgument("filter 'metric." + key + "' must be <op><number> with op one of < <= > >= =, e.g. metric." +
                                     key + "=<0.5; got '" + v + "'");
    }
    return c;
  }

  static std::vector<std::string> SplitList(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size() && !s.empty()) {
      size_t end = s.find(',', start);
      if (end == std::string::npos) end = s.size();
      if (end > start) out.push_back(s.substr(start, end - start));
      start = end + 1;
    }
    return out;
  }

  HandlerResult RunKeys() {
    auto keys = d.store->ListRunKeys(req.Query("experiment"), 10000);
    if (!keys.ok()) return Error(keys.status());
    return Json(200, {{"params", keys->params}, {"metrics", keys->metrics}, {"tags", keys->tags}});
  }

  // ---- one run
  HandlerResult GetRun() {
    auto r = d.store->GetRun(P(0));
    if (!r.ok()) return Error(r.status());
    return Json(200, RunDetailJson(d, *r));
  }

  HandlerResult RunStream() {
    auto r = d.store->GetRun(P(0));
    if (!r.ok()) return Error(r.status());
    int64_t max_points = 2000;
    if (std::string mp = req.Query("max_points"); !mp.empty()) {
      auto n = ParseCount(mp);
      if (!n || *n < 2 || *n > 100000)
        return Bad("'max_points' must be a whole number from 2 to 100000, got '" + mp + "'");
      max_points = static_cast<int64_t>(*n);
    }
    return RunEventStream(d, P(0), max_points);
  }

  HandlerResult ArtifactLink() {
    const std::string& id = P(0);
    std::string path = req.Query("path");
    auto list = d.store->ListArtifacts(id);
    if (!list.ok()) return Error(list.status());
    bool found = std::any_of(list->begin(), list->end(),
                             [&](const model::Artifact& a) { return a.path == path; });
    if (!found) return Error(Status::NotFound("run " + id + " has no output '" + path + "'"));
    return Json(200, {{"url", "/api/v1/runs/" + net::UrlEncode(id) + "/artifacts/content?" +
                                  ArtifactLinkQuery(d.run_secret, id, path,
                                                    static_cast<int64_t>(d.clock->Now()))},
                      {"expires_in", kArtifactLinkSeconds}});
  }

  HandlerResult RunHistory() {
    auto h = d.store->History(P(0));
    if (!h.ok()) return Error(h.status());
    return Json(200, {{"history", HistoryJson(*h)}});
  }

  HandlerResult PostTags() {
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    auto tags = StringMapField(*body, "tags");
    if (!tags.ok()) return Error(tags.status());
    for (const auto& [k, v] : *tags) {
      if (Status key = model::ValidateKey("tag", k); !key.ok()) return Error(key);
      if (v.size() > kMaxTagValueBytes) {
        return Bad("tag '" + k + "' has a value of " + std::to_string(v.size()) +
                   " bytes; values may be at most " + std::to_string(kMaxTagValueBytes));
      }
    }
    auto r = RunForWrite(true);
    if (!r.ok()) return WriteRefused(r.status());
    Status st = d.store->SetTags(P(0), *tags);
    if (!st.ok()) return Error(st);
    Changed(P(0));
    return Json(200, {{"tags", *tags}});
  }

  HandlerResult GetPlan() {
    const std::string& id = P(0);
    auto r = d.store->GetRun(id);
    if (!r.ok()) return Error(r.status());
    json plan = {{"run", RunToJson(*r)}, {"manifest_id", r->snapshot_id}};
    // What earlier attempts of the asking rank left (a requeued run continues after it).
    auto rank = RankParam();
    if (!rank.ok()) return Error(rank.status());
    auto size = d.logs->Size(LogKey(id, *rank));
    plan["log_size"] = size.ok() ? *size : 0;
    auto seq = d.store->NextMetricSeq(id, *rank);
    if (!seq.ok()) return Error(seq.status());
    plan["next_metric_seq"] = *seq;
    // For the script's MLflow client: this run's MLflow endpoints only (not the agent's token).
    plan["mlflow_token"] = MlflowRunToken(d.run_secret, id);
    return Json(200, plan);
  }

  HandlerResult PostStatus() {
    const std::string& id = P(0);
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    auto name = StringField(*body, "status", true);
    if (!name.ok()) return Error(name.status());
    auto to = model::ParseRunStatus(*name);
    if (!to.ok()) return Error(to.status());
    auto reason = StringField(*body, "reason", false);
    if (!reason.ok()) return Error(reason.status());
    store::TransitionExtras ex;
    if (auto it = body->find("exit_code"); it != body->end() && !it->is_null()) {
      if (!it->is_number_integer() || *it < INT32_MIN || *it > INT32_MAX) {
        return Bad("field 'exit_code' must be a whole number, got " + Shown(*it));
      }
      ex.exit_code = it->get<int>();
    }
    auto error = StringField(*body, "error", false);
    if (!error.ok()) return Error(error.status());
    if (body->contains("error")) ex.error = *error;
    // An agent's quick finish: through Finalizing, with the artifacts, in one transaction.
    if (body->contains("finalizing_reason")) {
      auto fr = StringField(*body, "finalizing_reason", true);
      if (!fr.ok()) return Error(fr.status());
      ex.finalizing_reason = *fr;
    }
    if (auto it = body->find("artifacts"); it != body->end()) {
      auto files = ArtifactsFromJson(id, *it, "artifacts");
      if (!files.ok()) return Error(files.status());
      ex.artifacts = std::move(files).value();
    }
    auto r = d.store->Transition(id, *to, *reason, d.clock->Now(), ex);
    if (!r.ok()) return Error(r.status());
    Changed(id);
    if (model::IsTerminal(*to)) d.scheduler->Wake();
    return Json(200, RunToJson(*r));
  }

  // Each rank of a multi-node run has its own log stream: rank 0 is the run's log, rank k
  // is kept as "<id>/rank<k>".
  Result<int> RankParam() {
    std::string rank = req.Query("rank", "0");
    auto k = ParseCount(rank);
    if (!k || *k > 999999)
      return Status::InvalidArgument("'rank' must be a whole number from 0 to 999999, got '" +
                                     rank + "'");
    return static_cast<int>(*k);
  }
  static std::string LogKey(const std::string& id, int rank) {
    return rank == 0 ? id : id + "/rank" + std::to_string(rank);
  }

  HandlerResult PostLogs() {
    const std::string& id = P(0);
    auto offset = ParseCount(req.Query("offset", "0"));
    if (!offset)
      return Bad("'offset' must be a whole number of bytes, got '" + req.Query("offset") + "'");
    auto rank = RankParam();
    if (!rank.ok()) return Error(rank.status());
    auto r = d.store->GetRun(id);
    if (!r.ok()) return Error(r.status());
    if (!req.body.empty()) {  // an empty post is the agent's heartbeat
      if (Status st = AcceptsData(*r); !st.ok()) return Ended(*r, st);
    }
    const std::string key = LogKey(id, *rank);
    auto size = d.logs->Append(key, *offset, req.body);
    if (!size.ok()) {
      auto cur = d.logs->Size(key);
      return Error(size.status(), {{"size", cur.ok() ? *cur : 0}});
    }
    if (!req.body.empty()) Changed(id);
    return Json(200, {{"size", *size}, {"cancel_requested", r->cancel_requested}});
  }

  HandlerResult GetLogs() {
    const std::string& id = P(0);
    auto offset = ParseCount(req.Query("offset", "0"));
    auto wait = ParseCount(req.Query("wait_ms", "0"));
    if (!offset || !wait) return Bad("'offset' and 'wait_ms' must be whole numbers");
    const long wait_ms = static_cast<long>(std::min<uint64_t>(*wait, 60000));
    auto rank = RankParam();
    if (!rank.ok()) return Error(rank.status());
    auto first = d.store->GetRun(id);
    if (!first.ok()) return Error(first.status());
    const std::string key = LogKey(id, *rank);
    ApiDeps* deps = &d;
    auto poll = [deps, id, key, offset = *offset](bool timed_out) -> std::optional<HttpResponse> {
      auto run = deps->store->GetRun(id);
      if (!run.ok()) return Error(run.status());
      bool terminal = model::IsTerminal(run->status);
      auto data = deps->logs->Read(key, offset, 4 << 20);
      if (!data.ok()) return Error(data.status());
      if (data->empty() && !terminal && !timed_out) return std::nullopt;
      HttpResponse resp;
      // Logs are the script's bytes, as it wrote them (not necessarily UTF-8).
      resp.content_type = "application/octet-stream";
      resp.headers.push_back({"X-Ferry-Next-Offset", std::to_string(offset + data->size())});
      resp.headers.push_back({"X-Ferry-Run-Status", model::RunStatusName(run->status)});
      resp.headers.push_back({"X-Content-Type-Options", "nosniff"});
      resp.body = std::move(data).value();
      return resp;
    };
    if (wait_ms == 0) return *poll(true);
    net::LongPoll lp;
    lp.channel = RunChannel(id);
    lp.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    lp.poll = poll;
    return lp;
  }

  HandlerResult PostMetrics() {
    const std::string& id = P(0);
    auto r = d.store->GetRun(id);
    if (!r.ok()) return Error(r.status());
    std::vector<model::MetricPoint> points;
    try {
      thread_local simdjson::ondemand::parser parser;
      simdjson::padded_string padded(req.body);
      auto doc = parser.iterate(padded);
      for (auto item : doc["points"].get_array()) {
        auto obj = item.get_object();
        model::MetricPoint p;
        p.seq = obj["q"].get_int64();
        p.key = std::string(std::string_view(obj["k"].get_string()));
        if (Status key = model::ValidateKey("metric", p.key); !key.ok())
          return Error(key.WithContext("point " + std::to_string(points.size())));
        if (p.seq < 0)
          return Bad("metric '" + p.key + "' has the negative sequence number " +
                     std::to_string(p.seq) + " ('q')");
        auto v = obj["v"];
        if (v.type() == simdjson::ondemand::json_type::string) {
          std::string_view s = v.get_string();
          if (s == "nan") p.value = std::nan("");
          else if (s == "inf") p.value = INFINITY;
          else if (s == "-inf") p.value = -INFINITY;
          else
            return Bad("metric '" + p.key + "' has the non-numeric value '" +
                       std::string(s.substr(0, 60)) + "'");
        } else {
          p.value = v.get_double();
        }
        p.step = obj["s"].get_int64();
        p.time = obj["t"].get_double();
        points.push_back(std::move(p));
      }
    } catch (const simdjson::simdjson_error& e) {
      return Bad(std::string("malformed metrics batch: ") + e.what() +
                 "; expected {\"points\":[{\"q\":seq,\"k\":key,\"v\":value,\"s\":step,\"t\":time}]}");
    }
    if (Status st = AcceptsData(*r); !st.ok()) return Ended(*r, st);
    auto n = d.store->AppendMetrics(r->rid, points);
    if (!n.ok()) return Error(n.status());
    if (d.ingest) d.ingest->rest_points += static_cast<uint64_t>(*n);
    Changed(id);
    if (!r->parent_id.empty() && *n > 0) d.scheduler->Wake();  // a sweep's policy judges new reports
    return Json(200, {{"stored", *n}, {"received", points.size()}, {"cancel_requested", r->cancel_requested}});
  }

  HandlerResult GetMetrics() {
    const std::string& id = P(0);
    const std::string key = req.Query("key");
    const std::string max_text = req.Query("max_points");
    json downsampled = json::object();
    Result<std::vector<model::MetricPoint>> pts = std::vector<model::MetricPoint>{};
    if (!max_text.empty()) {
      // A chart's series: at most max_points per key (the extremes of equal slices).
      auto max_points = ParseCount(max_text);
      if (!max_points || *max_points < 2 || *max_points > 100000) {
        return Bad("'max_points' must be a whole number from 2 to 100000, got '" + max_text + "'");
      }
      std::vector<std::string> keys;
      if (!key.empty()) {
        keys.push_back(key);
      } else {
        auto sums = d.store->MetricSummaries(id);
        if (!sums.ok()) return Error(sums.status());
        for (auto& s : *sums) keys.push_back(s.key);
      }
      for (const auto& k : keys) {
        int64_t total = 0;
        auto series = d.store->GetMetricSeries(id, k, static_cast<int64_t>(*max_points), &total);
        if (!series.ok()) return Error(series.status());
        if (total > static_cast<int64_t>(series->size())) {
          downsampled[k] = {{"points", total}, {"returned", series->size()}};
        }
        pts->insert(pts->end(), series->begin(), series->end());
      }
    } else {
      pts = d.store->GetMetrics(id, key);
    }
    if (!pts.ok()) return Error(pts.status());
    json metrics = json::object();
    for (auto& p : *pts) metrics[p.key].push_back(MetricPointJson(p));
    json out = {{"metrics", metrics}};
    if (!downsampled.empty()) out["downsampled"] = downsampled;
    return Json(200, out);
  }

  // [{path, size, hash}...]: valid paths, blobs already stored.
  Result<std::vector<model::Artifact>> ArtifactsFromJson(const std::string& id, const json& list, const char* field) {
    if (!list.is_array()) return Status::InvalidArgument(std::string("field '") + field + "' must be an array");
    std::vector<model::Artifact> files;
    for (auto& f : list) {
      const std::string where = std::string(field) + "[" + std::to_string(files.size()) + "]";
      if (!f.is_object())
        return Status::InvalidArgument("each entry of '" + std::string(field) +
                                       "' must be an object");
      model::Artifact a;
      auto path = StringField(f, "path", true);
      if (!path.ok()) return path.status().WithContext(where);
      auto hash = StringField(f, "hash", true);
      if (!hash.ok()) return hash.status().WithContext(where);
      a.path = *path;
      a.hash = *hash;
      auto size = f.find("size");
      if (size == f.end() || !size->is_number_unsigned()) {
        return Status::InvalidArgument(where + ": field 'size' must be a whole number of bytes");
      }
      a.size = size->get<uint64_t>();
      Status st = model::ValidateRelativePath(a.path);
      if (!st.ok()) return st.WithContext("artifact of run '" + id + "'");
      if (!IsSha256Hex(a.hash))
        return Status::InvalidArgument(where +
                                       ": field 'hash' is not a lowercase SHA-256 hex digest");
      if (!d.blobs->Has(a.hash)) {
        return Status::FailedPrecondition("artifact '" + a.path + "' names blob " + a.hash +
                                          ", which is not uploaded; upload it first");
      }
      files.push_back(std::move(a));
    }
    return files;
  }

  HandlerResult PostArtifacts() {
    const std::string& id = P(0);
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    auto it = body->find("files");
    if (it == body->end()) return Bad("field 'files' must be an array");
    auto files = ArtifactsFromJson(id, *it, "files");
    if (!files.ok()) return Error(files.status());
    auto r = RunForWrite(true);
    if (!r.ok()) return WriteRefused(r.status());
    Status st = d.store->AddArtifacts(id, *files);
    if (!st.ok()) return Error(st);
    Changed(id);
    return Json(200, {{"stored", files->size()}});
  }

  HandlerResult ListArtifacts() {
    auto a = d.store->ListArtifacts(P(0));
    if (!a.ok()) return Error(a.status());
    json arr = json::array();
    for (auto& f : *a) arr.push_back({{"path", f.path}, {"size", f.size}, {"hash", f.hash}});
    return Json(200, {{"artifacts", arr}});
  }

  HandlerResult ArtifactContent() {
    const std::string& id = P(0);
    std::string path = req.Query("path");
    Status st = model::ValidateRelativePath(path);
    if (!st.ok()) return Error(st);
    auto list = d.store->ListArtifacts(id);
    if (!list.ok()) return Error(list.status());
    for (auto& a : *list) {
      if (a.path != path) continue;
      auto content = d.blobs->Get(a.hash);
      if (!content.ok()) return Error(content.status());
      HttpResponse r;
      r.content_type = "application/octet-stream";
      r.body = std::move(content).value();
      // A download saves under the file's own name (quotes and controls cannot break out).
      std::string name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
      std::string safe;
      for (char c : name) safe.push_back(c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 ? '_' : c);
      r.headers.push_back({"Content-Disposition", "attachment; filename=\"" + safe + "\"; filename*=UTF-8''" + net::UrlEncode(name)});
      r.headers.push_back({"X-Content-Type-Options", "nosniff"});
      return r;
    }
    return Error(Status::NotFound("run '" + id + "' has no artifact '" + path + "'; see 'ferry run show " + id + "'"));
  }

  // The SDK's RunConfiguration.load: a run configuration file parsed by the same code as the
  // CLI's (errors name file:line:column and the field), returned with the file's field names.
  HandlerResult ParseRunConfigFile() {
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    auto text = StringField(*body, "text", true);
    if (!text.ok()) return Error(text.status());
    auto name = StringField(*body, "name", false);
    if (!name.ok()) return Error(name.status());
    auto loaded = runconfig::ParseRunConfig(*text, name->empty() ? "run configuration" : *name);
    if (!loaded.ok()) return Error(loaded.status());
    return Json(200, {{"config", json::parse(runconfig::RunConfigToJson(loaded->config))},
                      {"unused_fields", loaded->unused_fields}});
  }
};

const std::vector<Api::Impl::Route>& Api::Impl::Routes() {
  using I = Impl;
  using L = net::Lane;
  constexpr uint64_t kNone = 64 * kKiB;  // bodies of GET and DELETE are ignored
  constexpr uint64_t kSmall = kSmallBodyBytes;
  // Literal paths before patterns that would also match them (runs/keys before runs/{}).
  static const std::vector<Route> kRoutes = {
      {"GET", "health", Access::kPublic, kNone, L::kInline, &I::Health},
      {"GET", "openapi.yaml", Access::kPublic, kNone, L::kInline, &I::OpenApiDocument},
      {"POST", "shutdown", Access::kWorkspace, kNone, L::kDefault, &I::Shutdown},
      {"GET", "stream", Access::kRead, kNone, L::kDefault, &I::WorkspaceStream},
      {"GET", "experiments", Access::kRead, kNone, L::kDefault, &I::ListExperiments},
      {"POST", "experiments", Access::kContribute, kSmall, L::kDefault, &I::CreateExperiment},
      {"GET", "computes", Access::kRead, kNone, L::kDefault, &I::ListComputes},
      {"POST", "computes", Access::kAdmin, kSmall, L::kDefault, &I::AttachCompute},
      {"GET", "compute-kinds", Access::kRead, kNone, L::kDefault, &I::ComputeKinds},
      {"GET", "computes/{}", Access::kRead, kNone, L::kDefault, &I::GetCompute},
      {"PATCH", "computes/{}", Access::kAdmin, kSmall, L::kDefault, &I::UpdateCompute},
      {"DELETE", "computes/{}", Access::kAdmin, kNone, L::kDefault, &I::DetachCompute},
      {"POST", "computes/{}/stop", Access::kAdmin, kNone, L::kDefault, &I::StopCompute},
      {"POST", "computes/{}/start", Access::kAdmin, kNone, L::kDefault, &I::StartCompute},
      {"POST", "computes/{}/trust", Access::kAdmin, kNone, L::kDefault, &I::TrustCompute},
      {"GET", "quota", Access::kRead, kNone, L::kDefault, &I::GetQuota},
      {"PUT", "quota", Access::kAdmin, kSmall, L::kDefault, &I::SetQuota},
      {"POST", "blobs/missing", Access::kContribute, 16 * kMiB, L::kDefault, &I::MissingBlobs},
      {"POST", "blobs", Access::kContribute, kStreamed, L::kDefault, &I::UploadBlobs},
      {"GET", "blobs/{}", Access::kBlobRead, kNone, L::kBulk, &I::GetBlob},
      {"GET", "snapshots/{}", Access::kRead, kNone, L::kDefault, &I::GetSnapshot},
      {"POST", "snapshots", Access::kContribute, 64 * kMiB, L::kDefault, &I::PostSnapshot},
      {"GET", "environments", Access::kRead, kNone, L::kDefault, &I::ListEnvironments},
      {"POST", "environments", Access::kContribute, kSmall, L::kDefault, &I::RegisterEnvironment},
      {"GET", "environments/{}", Access::kRead, kNone, L::kDefault, &I::EnvironmentVersions},
      {"GET", "environments/{}/{}", Access::kRead, kNone, L::kDefault, &I::GetEnvironment},
      {"POST", "runconfigs/parse", Access::kRead, kSmall, L::kDefault, &I::ParseRunConfigFile},
      {"GET", "users", Access::kAdmin, kNone, L::kDefault, &I::ListUsers},
      {"POST", "users", Access::kAdmin, kSmall, L::kDefault, &I::CreateUser},
      {"PATCH", "users/{}", Access::kAdmin, kSmall, L::kDefault, &I::UpdateUser},
      {"DELETE", "users/{}", Access::kAdmin, kNone, L::kDefault, &I::DeleteUser},
      {"POST", "sweeps", Access::kContribute, kSmall, L::kDefault, &I::CreateSweep},
      {"GET", "sweeps/{}", Access::kRead, kNone, L::kBulk, &I::GetSweep},
      {"POST", "sweeps/{}/cancel", Access::kContribute, kNone, L::kDefault, &I::CancelSweep},
      {"GET", "runs", Access::kRead, kNone, L::kBulk, &I::ListRuns},
      {"POST", "runs", Access::kContribute, kSmall, L::kDefault, &I::CreateRun},
      {"GET", "runs/keys", Access::kRead, kNone, L::kBulk, &I::RunKeys},
      {"GET", "runs/{}", Access::kRead, kNone, L::kDefault, &I::GetRun},
      {"GET", "runs/{}/stream", Access::kRead, kNone, L::kBulk, &I::RunStream},
      {"GET", "runs/{}/history", Access::kRead, kNone, L::kDefault, &I::RunHistory},
      {"POST", "runs/{}/cancel", Access::kContribute, kNone, L::kDefault, &I::CancelRun},
      {"GET", "runs/{}/plan", Access::kAgent, kNone, L::kDefault, &I::GetPlan},
      {"POST", "runs/{}/status", Access::kAgent, 64 * kMiB, L::kDefault, &I::PostStatus},
      {"POST", "runs/{}/logs", Access::kAgent, 4 * kMiB, L::kDefault, &I::PostLogs},
      {"GET", "runs/{}/logs", Access::kAgentOrRead, kNone, L::kDefault, &I::GetLogs},
      {"POST", "runs/{}/metrics", Access::kAgent, 16 * kMiB, L::kDefault, &I::PostMetrics},
      {"GET", "runs/{}/metrics", Access::kAgentOrRead, kNone, L::kBulk, &I::GetMetrics},
      {"POST", "runs/{}/tags", Access::kAgentOrContribute, kSmall, L::kDefault, &I::PostTags},
      {"POST", "runs/{}/artifacts", Access::kAgent, 64 * kMiB, L::kDefault, &I::PostArtifacts},
      {"GET", "runs/{}/artifacts", Access::kAgentOrRead, kNone, L::kDefault, &I::ListArtifacts},
      {"GET", "runs/{}/artifacts/content", Access::kRead, kNone, L::kBulk, &I::ArtifactContent},
      {"POST", "runs/{}/artifacts/link", Access::kRead, kNone, L::kDefault, &I::ArtifactLink},
      {"POST", "runs/{}/blobs/fetch", Access::kAgentOrRead, kSmall, L::kBulk, &I::FetchBlobs},
      {"POST", "runs/{}/blobs", Access::kAgent, kStreamed, L::kDefault, &I::UploadRunBlobs},
  };
  return kRoutes;
}

std::vector<RouteInfo> Api::RouteTable() {
  std::vector<RouteInfo> out;
  for (const auto& r : Impl::Routes())
    out.push_back({r.method, r.pattern, r.access == Access::kAgent});
  return out;
}

namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool IsMlflowPath(std::string_view path) {
  return StartsWith(path, "/api/2.0/mlflow/") || StartsWith(path, "/api/2.0/mlflow-artifacts/") ||
         StartsWith(path, "/api/3.0/mlflow/") || StartsWith(path, "/ajax-api/2.0/mlflow/");
}

// Studio answers everything outside the APIs (its pages are routes of the app).
bool IsStudioPath(std::string_view path) {
  return !(path == "/api" || StartsWith(path, "/api/") || path == "/ajax-api" ||
           StartsWith(path, "/ajax-api/"));
}

net::Admission Refuse(HttpResponse r) {
  net::Admission a;
  a.reject = std::move(r);
  return a;
}

// "{}" segments match any one segment, which is passed on.
bool Matches(const char* pattern, const std::vector<std::string>& seg,
             std::vector<std::string>* params) {
  std::vector<std::string> parts = SplitPath(pattern);
  if (parts.size() != seg.size()) return false;
  params->clear();
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] == "{}")
      params->push_back(seg[i]);
    else if (parts[i] != seg[i])
      return false;
  }
  return true;
}

// The role a route needs, for messages.
const char* Needs(Access a) {
  switch (a) {
    case Access::kAdmin:
      return "the admin role";
    case Access::kContribute:
    case Access::kAgentOrContribute:
      return "the contributor role";
    default:
      return "a person's token";
  }
}

}  // namespace

net::Admission Api::Admit(HttpRequest& head) {
  if (IsMlflowPath(head.path)) {
    // Authenticated from the headers here; what a token may do, once the body is read.
    if (head.Header("authorization").empty()) {
      return Refuse(
          Json(401, {{"error_code", "UNAUTHENTICATED"},
                     {"message",
                      "missing 'Authorization: Bearer <token>'; set MLFLOW_TRACKING_TOKEN to the "
                      "workspace token (the workspace home's 'token' file) or a user's token "
                      "('ferry user add')"}}));
    }
    net::Admission a;
    a.max_body_bytes = kSmallBodyBytes;
    if (StartsWith(head.path, "/api/2.0/mlflow-artifacts/artifacts/") && head.method == "PUT") {
      // A file upload streams into the blob store, so its writer must be someone who may
      // write files to runs at all: a contributor or above, or the MLflow token of the run
      // the path names (whether this caller may change that run is checked at the end).
      static const UserDirectory kNoUsers(nullptr);
      auto caller = IdentifyCaller(head, d_.workspace_token, d_.users ? *d_.users : kNoUsers);
      std::vector<std::string> parts =
          SplitPath(head.path.substr(std::string("/api/2.0/mlflow-artifacts/artifacts/").size()));
      const bool own_run =
          caller.ok() && !caller->person() && parts.size() >= 2 &&
          ConstantTimeEquals(caller->token, MlflowRunToken(d_.run_secret, parts[1]));
      if (!caller.ok() || !(own_run || caller->at_least(Role::kContributor))) {
        return Refuse(Json(
            403, {{"error_code", "PERMISSION_DENIED"},
                  {"message",
                   "uploading an artifact needs the contributor role or the run's own token"}}));
      }
      a.max_body_bytes = kStreamedBodyBytes;
      std::optional<uint64_t> size;
      if (auto n = ParseCount(head.Header("content-length"));
          n && head.Header("transfer-encoding").empty())
        size = *n;
      auto sink = std::make_shared<BlobSink>(d_.blobs, size);
      a.sink = sink;
      head.context = sink;
    }
    const bool bulk = head.path.find("/search") != std::string::npos ||
                      head.path.find("/get-history") != std::string::npos ||
                      (StartsWith(head.path, "/api/2.0/mlflow-artifacts/") && head.method == "GET");
    a.lane = bulk ? net::Lane::kBulk : net::Lane::kDefault;
    return a;
  }
  if (IsStudioPath(head.path)) {
    net::Admission a;
    a.max_body_bytes = 64 * kKiB;  // GET and HEAD only
    return a;
  }
  const std::string prefix = "/api/v1";
  if (!(head.path == prefix || StartsWith(head.path, prefix + "/"))) {
    return Refuse(Error(
        Status::NotFound("no endpoint " + head.method + " " + head.path +
                         "; Ferry's API is under /api/v1 and MLflow's under /api/2.0/mlflow")));
  }
  std::vector<std::string> seg = SplitPath(head.path.substr(prefix.size()));
  Impl::Context ctx;
  bool path_known = false;
  std::vector<std::string> params;
  for (const auto& r : Impl::Routes()) {
    if (!Matches(r.pattern, seg, &params)) continue;
    path_known = true;
    if (head.method != r.method) continue;
    ctx.route = &r;
    ctx.params = params;
    break;
  }
  if (!ctx.route) {
    if (!path_known)
      return Refuse(Error(Status::NotFound("no endpoint " + head.method + " " + head.path)));
    HttpResponse r =
        Error(Status::InvalidArgument(head.method + " is not supported on " + head.path));
    r.status = 405;
    return Refuse(std::move(r));
  }
  const Impl::Route& route = *ctx.route;
  const std::string run = ctx.params.empty() ? "" : ctx.params[0];
  // A signed download link (POST .../artifacts/link) stands in for a token.
  const bool signed_link = route.handler == &Impl::ArtifactContent && !head.Query("sig").empty() &&
                           head.Header("authorization").empty();
  if (signed_link) {
    if (!ArtifactLinkValid(d_.run_secret, run, head.Query("path"), head.Query("expires"),
                           head.Query("sig"), static_cast<int64_t>(d_.clock->Now()))) {
      return Refuse(Error(Status::PermissionDenied(
          "this download link is not valid or has expired (links last " +
          std::to_string(kArtifactLinkSeconds / 60) + " minutes); open the run's outputs again")));
    }
    ctx.caller.kind = Caller::Kind::kUser;  // a reader of this one file
  } else if (route.access != Access::kPublic) {
    static const UserDirectory kNoUsers(nullptr);
    auto caller = IdentifyCaller(head, d_.workspace_token, d_.users ? *d_.users : kNoUsers);
    if (!caller.ok()) return Refuse(Error(caller.status()));
    ctx.caller = std::move(caller).value();
    const Caller& c = ctx.caller;
    auto agent_of = [&](const std::string& run_id) {
      return !c.person() && !run_id.empty() &&
             ConstantTimeEquals(c.token, RunToken(d_.run_secret, run_id));
    };
    Status denied = Status::Ok();
    const std::string what = head.method + " " + head.path;
    const std::string who =
        c.kind == Caller::Kind::kUser ? "user '" + c.name + "' (" + RoleName(c.role) + ")" : "";
    auto need = [&](Role role) {
      if (!c.person()) {
        denied = Status::PermissionDenied(
            "the token is not valid for " + what +
            " (a run's token works only for its own run's agent endpoints)");
      } else if (c.role < role) {
        denied = Status::PermissionDenied(what + " needs " + Needs(route.access) + "; " + who +
                                          " may not (an admin can "
                                          "change it: ferry user set-role " +
                                          c.name + " " + RoleName(role) + ")");
      }
    };
    switch (route.access) {
      case Access::kPublic:
        break;
      case Access::kWorkspace:
        if (c.kind != Caller::Kind::kWorkspace) {
          denied =
              Status::PermissionDenied(what +
                                       " needs the workspace token itself (the 'token' file in the "
                                       "workspace home); no user's token may stop the server");
        }
        break;
      case Access::kAdmin:
        need(Role::kAdmin);
        break;
      case Access::kContribute:
        need(Role::kContributor);
        break;
      case Access::kRead:
        need(Role::kReader);
        break;
      case Access::kAgent:
        if (agent_of(run))
          ctx.agent_run = run;
        else if (!c.person())
          denied = Status::PermissionDenied("the token is not valid for " + what +
                                            ": it is not this run's");
        else
          need(Role::kAdmin);
        break;
      case Access::kAgentOrRead:
      case Access::kAgentOrContribute:
        if (agent_of(run))
          ctx.agent_run = run;
        else
          need(route.access == Access::kAgentOrRead ? Role::kReader : Role::kContributor);
        break;
      case Access::kBlobRead: {
        std::string named = head.Header("x-ferry-run");
        if (agent_of(named))
          ctx.agent_run = named;
        else
          need(Role::kReader);
        break;
      }
    }
    if (!denied.ok()) return Refuse(Error(denied));
  }
  net::Admission a;
  a.lane = route.lane;
  if (route.max_body == kStreamed) {
    a.max_body_bytes = kStreamedBodyBytes;
    ctx.batch = std::make_shared<BlobBatchSink>(d_.blobs);
    a.sink = ctx.batch;
  } else {
    a.max_body_bytes = route.max_body;
  }
  head.context = std::move(ctx);
  return a;
}

HandlerResult Api::Handle(HttpRequest& req) {
  if (IsMlflowPath(req.path)) return MlflowApi(d_).Handle(req);
  if (IsStudioPath(req.path)) {
    if (d_.studio) return d_.studio->Serve(req);
    return StudioFiles("").Serve(req);
  }
  if (!std::any_cast<Impl::Context>(&req.context)) {
    // Not admitted yet (a caller that skipped Admit): decide now, body in hand.
    net::Admission a = Admit(req);
    if (a.reject) return std::move(*a.reject);
    if (a.sink && !req.body.empty()) {
      if (Status st = a.sink->Write(req.body); !st.ok()) return Error(st);
    }
  }
  auto* ctx = std::any_cast<Impl::Context>(&req.context);
  Impl impl{*this, d_, req, *ctx};
  try {
    return (impl.*(ctx->route->handler))();
  } catch (const json::exception& e) {
    // A field of the wrong type read without a check: the request's fault, but a bug to fix.
    spdlog::warn("{} {}: unchecked JSON field: {}", req.method, req.path, e.what());
    return Bad(std::string("a field of the request has the wrong type or value: ") + e.what());
  }
}

}  // namespace ferry::server
