// REST handlers. Errors are {"error":{"code","message"}} with a 4xx/5xx status; messages
// name the run, field or value at fault and say what to do.
#include "server/api.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "model/manifest.h"
#include "scheduler/sweep_controller.h"
#include "runconfig/runconfig.h"
#include "server/api_json.h"
#include "server/mlflow_api.h"
#include "server/studio.h"
#include "server/targets.h"
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
  if (ConstantTimeEquals(token, d.workspace_token)) return UserCaller{true, ""};
  if (token.size() >= 32 && token.rfind("fu_", 0) == 0) {
    // A named user's token: looked up by its hash (the token itself is never stored).
    auto name = d.store->UserByTokenHash(Sha256Hex(token));
    if (name.ok()) return UserCaller{false, *name};
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

Result<json> ParseBody(const HttpRequest& req) {
  if (req.body.empty()) return Status::InvalidArgument("the request needs a JSON body");
  try {
    json j = json::parse(req.body);
    if (!j.is_object()) return Status::InvalidArgument("the JSON body must be an object");
    return j;
  } catch (const json::parse_error& e) {
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

struct Api::Impl {
  Api& api;
  ApiDeps& d;
  HttpRequest& req;
  std::vector<std::string> seg;  // path segments after /api/v1
  bool is_user = false;          // the workspace token or a named user's token
  bool is_admin = false;         // the workspace token: may manage users and compute targets
  std::string user_name = {};    // a named user's name ("" for the workspace token)
  std::string agent_run = {};    // the run whose agent token was presented

  HandlerResult Route();

  Status Authenticate() {
    FERRY_ASSIGN_OR_RETURN(std::string token, BearerToken(req));
    if (auto u = UserFromToken(d, token); u.ok()) {
      is_user = true;
      is_admin = u->admin;
      user_name = u->name;
      return Status::Ok();
    }
    if (seg.size() >= 2 && seg[0] == "runs" && ConstantTimeEquals(token, RunToken(d.run_secret, seg[1]))) {
      agent_run = seg[1];
      return Status::Ok();
    }
    if (seg.size() >= 2 && seg[0] == "blobs" && req.method == "GET") {
      // Agents may read blobs (snapshot content): the token names its run in a header.
      std::string run = req.Header("x-ferry-run");
      if (!run.empty() && ConstantTimeEquals(token, RunToken(d.run_secret, run))) {
        agent_run = run;
        return Status::Ok();
      }
    }
    return Status::PermissionDenied("the token is not valid for " + req.method + " " + req.path);
  }

  void Changed(const std::string& run_id) {
    if (d.notify) d.notify(RunChannel(run_id));
  }

  // ---- experiments and compute targets
  HandlerResult Experiments() {
    if (req.method == "GET") {
      auto list = d.store->ListExperiments();
      if (!list.ok()) return Error(list.status());
      json arr = json::array();
      for (auto& e : *list) arr.push_back({{"name", e.name}, {"created_at", e.created_at}});
      return Json(200, {{"experiments", arr}});
    }
    if (req.method == "POST") {
      auto body = ParseBody(req);
      if (!body.ok()) return Error(body.status());
      auto name = StringField(*body, "name", true);
      if (!name.ok()) return Error(name.status());
      auto e = d.store->CreateExperiment(*name, d.clock->Now());
      if (!e.ok()) return Error(e.status());
      return Json(201, {{"name", e->name}, {"created_at", e->created_at}});
    }
    return MethodNotAllowed();
  }

  // ---- registered environments
  static json EnvironmentJson(const model::RegisteredEnvironment& e, bool with_content) {
    json j = {{"name", e.name}, {"version", e.version}, {"type", e.type}, {"hash", e.hash},
              {"description", e.description}, {"created_at", e.created_at}};
    if (with_content) j["content"] = e.content;
    return j;
  }

  HandlerResult Environments() {
    if (seg.size() == 1 && req.method == "GET") {
      auto list = d.store->ListEnvironments("");
      if (!list.ok()) return Error(list.status());
      json arr = json::array();
      for (auto& e : *list) arr.push_back(EnvironmentJson(e, false));
      return Json(200, {{"environments", arr}});
    }
    if (seg.size() == 1 && req.method == "POST") {
      auto body = ParseBody(req);
      if (!body.ok()) return Error(body.status());
      model::RegisteredEnvironment e;
      for (auto [f, required, out] : {std::tuple{"name", true, &e.name}, {"type", true, &e.type},
                                      {"content", true, &e.content}, {"description", false, &e.description}}) {
        auto v = StringField(*body, f, required);
        if (!v.ok()) return Error(v.status());
        *out = *v;
      }
      Status valid = model::ValidateEnvironmentName(e.name);
      if (!valid.ok()) return Error(valid);
      if (e.type != "pip" && e.type != "conda") return Bad("field 'type' must be one of: pip, conda (got '" + e.type + "')");
      if (e.content.size() > (1u << 20)) return Bad("field 'content' is larger than 1 MiB");
      e.hash = Sha256Hex(e.type + "\n" + e.content);
      bool created = false;
      auto stored = d.store->RegisterEnvironment(e, d.clock->Now(), &created);
      if (!stored.ok()) return Error(stored.status());
      json j = EnvironmentJson(*stored, false);
      j["created"] = created;
      return Json(created ? 201 : 200, j);
    }
    if (seg.size() == 2 && req.method == "GET") {
      auto list = d.store->ListEnvironments(seg[1]);
      if (!list.ok()) return Error(list.status());
      if (list->empty()) return Error(Status::NotFound("environment '" + seg[1] + "' is not registered"));
      json arr = json::array();
      for (auto& e : *list) arr.push_back(EnvironmentJson(e, false));
      return Json(200, {{"name", seg[1]}, {"versions", arr}});
    }
    if (seg.size() == 3 && req.method == "GET") {
      int64_t version = 0;
      if (seg[2] != "latest") {
        try {
          size_t used = 0;
          version = std::stoll(seg[2], &used);
          if (used != seg[2].size() || version < 1) throw std::invalid_argument("");
        } catch (...) {
          return Bad("environment version must be a positive integer or 'latest', got '" + seg[2] + "'");
        }
      }
      auto e = d.store->GetEnvironment(seg[1], version);
      if (!e.ok()) return Error(e.status());
      return Json(200, EnvironmentJson(*e, true));
    }
    return MethodNotAllowed();
  }

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
      if (t.kind == "instance") {
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

  Status RequireAdmin(const std::string& what) {
    if (is_admin) return Status::Ok();
    return Status::PermissionDenied(what + " needs the workspace token (user '" + user_name + "' may not)");
  }

  HandlerResult Users() {
    if (Status a = RequireAdmin("managing users"); !a.ok()) return Error(a);
    if (req.method == "GET" && seg.size() == 1) {
      auto users = d.store->ListUsers();
      if (!users.ok()) return Error(users.status());
      json arr = json::array();
      for (auto& [n, t] : *users) arr.push_back({{"name", n}, {"created_at", t}});
      return Json(200, {{"users", arr}});
    }
    if (req.method == "POST" && seg.size() == 1) {
      auto body = ParseBody(req);
      if (!body.ok()) return Error(body.status());
      auto name = StringField(*body, "name", true);
      if (!name.ok()) return Error(name.status());
      Status valid = model::ValidateEnvironmentName(*name);
      if (!valid.ok()) return Bad("user name '" + *name + "' is not valid: use letters, digits, '.', '_' or '-'");
      std::string token = "fu_" + RandomHex(24);
      Status st = d.store->CreateUser(*name, Sha256Hex(token), d.clock->Now());
      if (!st.ok()) return Error(st);
      return Json(201, {{"name", *name}, {"token", token}});
    }
    return MethodNotAllowed();
  }

  HandlerResult Computes() {
    if (req.method != "GET") {
      if (Status a = RequireAdmin("changing compute targets"); !a.ok()) return Error(a);
    }
    if (req.method == "POST" && seg.size() == 1) {
      auto body = ParseBody(req);
      if (!body.ok()) return Error(body.status());
      auto r = d.targets->Attach(*body);
      if (!r.ok()) return Error(r.status());
      d.scheduler->Wake();
      return Json(201, *r);
    }
    if (req.method == "DELETE" && seg.size() == 2) {
      auto r = d.targets->Detach(seg[1], req.Query("force") == "true" || req.Query("force") == "1");
      if (!r.ok()) return Error(r.status());
      return Json(200, *r);
    }
    if (req.method == "POST" && seg.size() == 3 && (seg[2] == "stop" || seg[2] == "start")) {
      auto r = seg[2] == "stop" ? d.targets->StopInstance(seg[1]) : d.targets->StartInstance(seg[1]);
      if (!r.ok()) return Error(r.status());
      return Json(202, *r);
    }
    if (req.method == "PATCH" && seg.size() == 2) {
      auto body = ParseBody(req);
      if (!body.ok()) return Error(body.status());
      auto r = d.targets->UpdateCluster(seg[1], *body);
      if (!r.ok()) return Error(r.status());
      return Json(200, *r);
    }
    if (req.method == "POST" && seg.size() == 3 && seg[2] == "trust") {
      auto r = d.targets->Trust(seg[1]);
      if (!r.ok()) return Error(r.status());
      return Json(200, *r);
    }
    if (req.method != "GET" || seg.size() > 2) return MethodNotAllowed();
    auto active = d.store->ListActiveRuns();
    if (!active.ok()) return Error(active.status());
    if (seg.size() == 2) {
      auto t = d.store->GetTarget(seg[1]);
      if (!t.ok()) return Error(t.status());
      json j = TargetJson(*t, *active);
      json runs = json::array();
      for (auto& r : *active) {
        if (r.target == t->name) runs.push_back({{"id", r.id}, {"status", model::RunStatusName(r.status)}});
      }
      j["runs"] = runs;
      return Json(200, j);
    }
    auto list = d.store->ListTargets();
    if (!list.ok()) return Error(list.status());
    json arr = json::array();
    for (auto& t : *list) arr.push_back(TargetJson(t, *active));
    return Json(200, {{"computes", arr}});
  }

  // The workspace's limits on managed clusters (cores, GPUs at their maximum size).
  HandlerResult Quota() {
    if (req.method == "GET") {
      auto q = d.targets->GetQuota();
      if (!q.ok()) return Error(q.status());
      return Json(200, *q);
    }
    if (req.method != "PUT") return MethodNotAllowed();
    if (Status a = RequireAdmin("changing the quota"); !a.ok()) return Error(a);
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    auto q = d.targets->SetQuota(*body);
    if (!q.ok()) return Error(q.status());
    return Json(200, *q);
  }

  // ---- blobs and snapshots
  HandlerResult Blobs() {
    if (seg.size() == 2 && seg[1] == "missing" && req.method == "POST") {
      auto body = ParseBody(req);
      if (!body.ok()) return Error(body.status());
      auto it = body->find("hashes");
      if (it == body->end() || !it->is_array()) return Bad("field 'hashes' must be an array of SHA-256 hex strings");
      json missing = json::array();
      for (auto& h : *it) {
        if (!h.is_string() || !IsSha256Hex(h.get_ref<const std::string&>())) {
          return Bad("'hashes' contains " + h.dump() + ", which is not a lowercase SHA-256 hex digest");
        }
        if (!d.blobs->Has(h.get<std::string>())) missing.push_back(h);
      }
      return Json(200, {{"missing", missing}});
    }
    if (seg.size() == 1 && req.method == "POST") return UploadBlobs();
    if (seg.size() == 2 && seg[1] != "missing" && req.method == "GET") {
      if (!is_user && !api.RunMayReadBlob(agent_run, seg[1])) {
        return Error(Status::PermissionDenied("blob " + seg[1] + " is not part of run '" + agent_run + "'"));
      }
      auto content = d.blobs->Get(seg[1]);
      if (!content.ok()) return Error(content.status());
      HttpResponse r;
      r.content_type = "application/octet-stream";
      r.body = std::move(content).value();
      return r;
    }
    return MethodNotAllowed();
  }

  // POST /runs/{id}/blobs/fetch. Many blobs in one answer (a node filling its cache): body {"hashes": [...]} (at most
  // 20,000); answer: records "<hash> <length>\n<bytes>", back to back, in the order asked.
  // A run token may fetch only its own snapshot's blobs.
  HandlerResult FetchBlobs() {
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    auto it = body->find("hashes");
    if (it == body->end() || !it->is_array()) return Bad("field 'hashes' must be an array of SHA-256 hex strings");
    if (it->size() > 20000) return Bad("at most 20000 hashes per fetch, got " + std::to_string(it->size()));
    HttpResponse r;
    r.content_type = "application/octet-stream";
    for (auto& h : *it) {
      if (!h.is_string() || !IsSha256Hex(h.get_ref<const std::string&>())) {
        return Bad("'hashes' contains " + h.dump() + ", which is not a lowercase SHA-256 hex digest");
      }
      const std::string& hash = h.get_ref<const std::string&>();
      if (!api.RunMayReadBlob(agent_run, hash)) {
        return Error(Status::PermissionDenied("blob " + hash + " is not part of run '" + agent_run + "'"));
      }
      auto content = d.blobs->Get(hash);
      if (!content.ok()) return Error(content.status().WithContext("blob " + hash));
      r.body += hash + " " + std::to_string(content->size()) + "\n";
      r.body += *content;
      if (r.body.size() > (256u << 20)) return Bad("the blobs asked for exceed 256 MiB; ask for fewer at a time");
    }
    return r;
  }

  // Body: records "<hash> <length>\n<bytes>", back to back. All-or-nothing per record;
  // the batch is made durable before it is acknowledged.
  HandlerResult UploadBlobs() {
    std::string_view body(req.body);
    size_t pos = 0;
    int stored = 0;
    while (pos < body.size()) {
      size_t nl = body.find('\n', pos);
      if (nl == std::string_view::npos || nl - pos > 100) return Bad("malformed blob batch at byte " + std::to_string(pos));
      std::string_view header = body.substr(pos, nl - pos);
      size_t sp = header.find(' ');
      if (sp == std::string_view::npos) return Bad("malformed blob header at byte " + std::to_string(pos));
      std::string hash(header.substr(0, sp));
      if (!IsSha256Hex(hash)) return Bad("blob batch names '" + hash + "', which is not a SHA-256 hex digest");
      uint64_t len = 0;
      try {
        len = std::stoull(std::string(header.substr(sp + 1)));
      } catch (...) {
        return Bad("bad length for blob " + hash);
      }
      pos = nl + 1;
      if (len > body.size() - pos) return Bad("blob " + hash + " is truncated: the batch ends early");
      auto put = d.blobs->Put(body.substr(pos, len), hash);
      if (!put.ok()) return Error(put.status());
      pos += len;
      ++stored;
    }
    Status st = d.blobs->Sync();
    if (!st.ok()) return Error(st);
    return Json(200, {{"stored", stored}});
  }

  HandlerResult Snapshots() {
    if (seg.size() == 2 && req.method == "GET") {
      auto has = d.store->HasSnapshot(seg[1]);
      if (!has.ok()) return Error(has.status());
      if (!*has) return Error(Status::NotFound("snapshot " + seg[1] + " is not stored"));
      return Json(200, {{"id", seg[1]}});
    }
    if (seg.size() == 1 && req.method == "POST") {
      auto m = model::Manifest::Parse(req.body);
      if (!m.ok()) return Error(m.status());
      json missing = json::array();
      size_t n_missing = 0;
      for (auto& e : m->entries) {
        if (!d.blobs->Has(e.hash)) {
          if (++n_missing <= 20) missing.push_back(e.path);
        }
      }
      if (n_missing > 0) {
        return Error(Status::FailedPrecondition(std::to_string(n_missing) +
                                                " file(s) of the snapshot have no uploaded content; upload "
                                                "the missing blobs first"),
                     {{"missing_paths", missing}});
      }
      auto id = d.blobs->Put(req.body, "");
      if (!id.ok()) return Error(id.status());
      Status st = d.blobs->Sync();
      if (st.ok()) st = d.store->PutSnapshot(*id, static_cast<int64_t>(m->entries.size()),
                                             static_cast<int64_t>(m->TotalBytes()), d.clock->Now());
      if (!st.ok()) return Error(st);
      return Json(201, {{"id", *id}, {"files", m->entries.size()}, {"bytes", m->TotalBytes()}});
    }
    return MethodNotAllowed();
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
    run.id = run.experiment + "_" + std::to_string(static_cast<long long>(d.clock->Now())) + "_" + RandomHex(4);
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

  HandlerResult CancelByUser(const std::string& id) {
    Status st = d.scheduler->Cancel(id, "canceled by the user");
    if (!st.ok()) return Error(st);
    Changed(id);
    auto r = d.store->GetRun(id);
    if (!r.ok()) return Error(r.status());
    return Json(202, RunToJson(*r));
  }

  HandlerResult Sweep() {
    const std::string& id = seg[1];
    if (seg.size() == 3 && seg[2] == "cancel" && req.method == "POST") {
      auto rec = d.store->GetSweep(id);
      if (!rec.ok()) return Error(rec.status());
      return CancelByUser(id);  // the controller cancels its trials
    }
    if (seg.size() != 2 || req.method != "GET") return MethodNotAllowed();
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
    try {
      f.limit = std::stoi(req.Query("limit", "100"));
      f.offset = std::stoi(req.Query("offset", "0"));
    } catch (...) {
      return Bad("'limit' and 'offset' must be integers");
    }
    if (f.limit < 1 || f.limit > 1000) return Bad("'limit' must be between 1 and 1000");
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

  HandlerResult Run() {
    const std::string& id = seg[1];
    std::string sub = seg.size() >= 3 ? seg[2] : "";
    // Agents may use only the endpoints of their own run.
    static const std::set<std::string> kAgentEndpoints = {"plan",      "status", "logs", "metrics",
                                                          "artifacts", "tags",   "blobs"};
    if (!is_user && !kAgentEndpoints.count(sub)) {
      return Error(Status::PermissionDenied("a run token cannot use " + req.method + " " + req.path));
    }
    if (sub.empty() && req.method == "GET") {
      auto r = d.store->GetRun(id);
      if (!r.ok()) return Error(r.status());
      return Json(200, RunDetailJson(d, *r));
    }
    if (sub == "stream" && req.method == "GET") {
      auto r = d.store->GetRun(id);
      if (!r.ok()) return Error(r.status());
      int64_t max_points = 2000;
      if (std::string mp = req.Query("max_points"); !mp.empty()) {
        size_t used = 0;
        try {
          max_points = std::stoll(mp, &used);
        } catch (...) {
          used = 0;
        }
        if (used != mp.size() || max_points < 2 || max_points > 100000) {
          return Bad("'max_points' must be a whole number from 2 to 100000, got '" + mp + "'");
        }
      }
      return RunEventStream(d, id, max_points);
    }
    if (sub == "artifacts" && seg.size() == 4 && seg[3] == "link" && req.method == "POST") {
      std::string path = req.Query("path");
      auto list = d.store->ListArtifacts(id);
      if (!list.ok()) return Error(list.status());
      bool found = std::any_of(list->begin(), list->end(), [&](const model::Artifact& a) { return a.path == path; });
      if (!found) return Error(Status::NotFound("run " + id + " has no output '" + path + "'"));
      return Json(200, {{"url", "/api/v1/runs/" + net::UrlEncode(id) + "/artifacts/content?" +
                                    ArtifactLinkQuery(d.run_secret, id, path, static_cast<int64_t>(d.clock->Now()))},
                        {"expires_in", kArtifactLinkSeconds}});
    }
    if (sub == "history" && req.method == "GET") {
      auto h = d.store->History(id);
      if (!h.ok()) return Error(h.status());
      return Json(200, {{"history", HistoryJson(*h)}});
    }
    if (sub == "cancel" && req.method == "POST") return CancelByUser(id);
    if (sub == "logs" || sub == "metrics") {
      if (req.method == "POST") return sub == "logs" ? PostLogs(id) : PostMetrics(id);
      if (req.method == "GET") return sub == "logs" ? GetLogs(id) : GetMetrics(id);
      return MethodNotAllowed();
    }
    if (sub == "artifacts") {
      if (req.method == "POST") return PostArtifacts(id);
      if (seg.size() == 4 && seg[3] == "content") return ArtifactContent(id);
      auto a = d.store->ListArtifacts(id);
      if (!a.ok()) return Error(a.status());
      json arr = json::array();
      for (auto& f : *a) arr.push_back({{"path", f.path}, {"size", f.size}, {"hash", f.hash}});
      return Json(200, {{"artifacts", arr}});
    }
    if (sub == "tags" && req.method == "POST") {
      auto body = ParseBody(req);
      if (!body.ok()) return Error(body.status());
      auto tags = StringMapField(*body, "tags");
      if (!tags.ok()) return Error(tags.status());
      Status st = d.store->SetTags(id, *tags);
      if (!st.ok()) return Error(st);
      return Json(200, {{"tags", *tags}});
    }
    if (sub == "plan" && req.method == "GET") {
      auto r = d.store->GetRun(id);
      if (!r.ok()) return Error(r.status());
      json plan = {{"run", RunToJson(*r)}, {"manifest_id", r->snapshot_id}};
      // What earlier attempts of the asking rank left (a requeued run continues after it).
      auto key = LogKey(id);
      if (!key.ok()) return Error(key.status());
      int rank = std::stoi(req.Query("rank", "0"));
      auto size = d.logs->Size(*key);
      plan["log_size"] = size.ok() ? *size : 0;
      auto seq = d.store->NextMetricSeq(id, rank);
      if (!seq.ok()) return Error(seq.status());
      plan["next_metric_seq"] = *seq;
      // For the script's MLflow client: this run's MLflow endpoints only (not the agent's token).
      plan["mlflow_token"] = MlflowRunToken(d.run_secret, id);
      return Json(200, plan);
    }
    if (sub == "status" && req.method == "POST") return PostStatus(id);
    if (sub == "blobs" && seg.size() == 4 && seg[3] == "fetch" && req.method == "POST") {
      if (is_user) agent_run = id;  // the same snapshot rule for a user fetching a run's files
      return FetchBlobs();
    }
    if (sub == "blobs" && req.method == "POST") {
      // The agent's upload of its artifacts' content (same batch format as /blobs).
      auto r = d.store->GetRun(id);
      if (!r.ok()) return Error(r.status());
      return UploadBlobs();
    }
    return Error(Status::NotFound("no endpoint " + req.method + " " + req.path));
  }

  HandlerResult PostStatus(const std::string& id) {
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    auto name = StringField(*body, "status", true);
    if (!name.ok()) return Error(name.status());
    auto to = model::ParseRunStatus(*name);
    if (!to.ok()) return Error(to.status());
    auto reason = StringField(*body, "reason", false);
    if (!reason.ok()) return Error(reason.status());
    store::TransitionExtras ex;
    if (auto it = body->find("exit_code"); it != body->end() && it->is_number_integer()) ex.exit_code = it->get<int>();
    if (auto it = body->find("error"); it != body->end() && it->is_string()) ex.error = it->get<std::string>();
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
  Result<std::string> LogKey(const std::string& id) {
    std::string rank = req.Query("rank", "0");
    if (rank.empty() || rank.size() > 6 || rank.find_first_not_of("0123456789") != std::string::npos) {
      return Status::InvalidArgument("'rank' must be a whole number, got '" + rank + "'");
    }
    int k = std::stoi(rank);
    return k == 0 ? id : id + "/rank" + std::to_string(k);
  }

  HandlerResult PostLogs(const std::string& id) {
    uint64_t offset = 0;
    try {
      offset = std::stoull(req.Query("offset", "0"));
    } catch (...) {
      return Bad("'offset' must be a non-negative integer");
    }
    auto r = d.store->GetRun(id);
    if (!r.ok()) return Error(r.status());
    auto key = LogKey(id);
    if (!key.ok()) return Error(key.status());
    auto size = d.logs->Append(*key, offset, req.body);
    if (!size.ok()) {
      auto cur = d.logs->Size(*key);
      return Error(size.status(), {{"size", cur.ok() ? *cur : 0}});
    }
    if (!req.body.empty()) Changed(id);  // an empty post is the agent's heartbeat
    return Json(200, {{"size", *size}, {"cancel_requested", r->cancel_requested}});
  }

  HandlerResult GetLogs(const std::string& id) {
    uint64_t offset = 0;
    long wait_ms = 0;
    try {
      offset = std::stoull(req.Query("offset", "0"));
      wait_ms = std::stol(req.Query("wait_ms", "0"));
    } catch (...) {
      return Bad("'offset' and 'wait_ms' must be integers");
    }
    wait_ms = std::clamp(wait_ms, 0L, 60000L);
    auto first = d.store->GetRun(id);
    if (!first.ok()) return Error(first.status());
    auto key_r = LogKey(id);
    if (!key_r.ok()) return Error(key_r.status());
    std::string key = *key_r;
    ApiDeps* deps = &d;
    auto poll = [deps, id, key, offset](bool timed_out) -> std::optional<HttpResponse> {
      auto run = deps->store->GetRun(id);
      if (!run.ok()) return Error(run.status());
      bool terminal = model::IsTerminal(run->status);
      auto data = deps->logs->Read(key, offset, 4 << 20);
      if (!data.ok()) return Error(data.status());
      if (data->empty() && !terminal && !timed_out) return std::nullopt;
      HttpResponse resp;
      resp.content_type = "text/plain; charset=utf-8";
      resp.headers.push_back({"X-Ferry-Next-Offset", std::to_string(offset + data->size())});
      resp.headers.push_back({"X-Ferry-Run-Status", model::RunStatusName(run->status)});
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

  HandlerResult PostMetrics(const std::string& id) {
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
        auto v = obj["v"];
        if (v.type() == simdjson::ondemand::json_type::string) {
          std::string_view s = v.get_string();
          if (s == "nan") p.value = std::nan("");
          else if (s == "inf") p.value = INFINITY;
          else if (s == "-inf") p.value = -INFINITY;
          else return Bad("metric '" + p.key + "' has the non-numeric value '" + std::string(s) + "'");
        } else {
          p.value = v.get_double();
        }
        p.step = obj["s"].get_int64();
        p.time = obj["t"].get_double();
        if (p.key.empty()) return Bad("a metric point has an empty key (seq " + std::to_string(p.seq) + ")");
        points.push_back(std::move(p));
      }
    } catch (const simdjson::simdjson_error& e) {
      return Bad(std::string("malformed metrics batch: ") + e.what() +
                 "; expected {\"points\":[{\"q\":seq,\"k\":key,\"v\":value,\"s\":step,\"t\":time}]}");
    }
    auto n = d.store->AppendMetrics(r->rid, points);
    if (!n.ok()) return Error(n.status());
    Changed(id);
    if (!r->parent_id.empty() && *n > 0) d.scheduler->Wake();  // a sweep's policy judges new reports
    return Json(200, {{"stored", *n}, {"received", points.size()}, {"cancel_requested", r->cancel_requested}});
  }

  HandlerResult GetMetrics(const std::string& id) {
    const std::string key = req.Query("key");
    const std::string max_text = req.Query("max_points");
    json downsampled = json::object();
    Result<std::vector<model::MetricPoint>> pts = std::vector<model::MetricPoint>{};
    if (!max_text.empty()) {
      // A chart's series: at most max_points per key (the extremes of equal slices).
      int64_t max_points = 0;
      try {
        max_points = std::stoll(max_text);
      } catch (...) {
      }
      if (max_points < 2 || max_points > 100000) {
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
        auto series = d.store->GetMetricSeries(id, k, max_points, &total);
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
      if (!f.is_object()) return Status::InvalidArgument(std::string("each entry of '") + field + "' must be an object");
      model::Artifact a;
      a.path = f.value("path", "");
      a.size = f.value("size", 0ull);
      a.hash = f.value("hash", "");
      Status st = model::ValidateRelativePath(a.path);
      if (!st.ok()) return st.WithContext("artifact of run '" + id + "'");
      if (!d.blobs->Has(a.hash)) {
        return Status::FailedPrecondition("artifact '" + a.path + "' names blob " + a.hash +
                                          ", which is not uploaded; upload it first");
      }
      files.push_back(std::move(a));
    }
    return files;
  }

  HandlerResult PostArtifacts(const std::string& id) {
    auto body = ParseBody(req);
    if (!body.ok()) return Error(body.status());
    auto it = body->find("files");
    if (it == body->end()) return Bad("field 'files' must be an array");
    auto files = ArtifactsFromJson(id, *it, "files");
    if (!files.ok()) return Error(files.status());
    Status st = d.store->AddArtifacts(id, *files);
    if (!st.ok()) return Error(st);
    return Json(200, {{"stored", files->size()}});
  }

  HandlerResult ArtifactContent(const std::string& id) {
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

  HttpResponse MethodNotAllowed() {
    HttpResponse r = Error(Status::InvalidArgument(req.method + " is not supported on " + req.path));
    r.status = 405;
    return r;
  }
};

HandlerResult Api::Impl::Route() {
  if (seg.empty()) return Error(Status::NotFound("no endpoint " + req.path));
  if (seg[0] == "health" && req.method == "GET") {
    return Json(200, {{"status", "ok"}, {"version", "0.1.0"}, {"pid", static_cast<int>(::getpid())}});
  }
  // A signed artifact link (from POST .../artifacts/link) needs no Authorization header.
  if (seg.size() == 4 && seg[0] == "runs" && seg[2] == "artifacts" && seg[3] == "content" && req.method == "GET" &&
      !req.Query("sig").empty() && req.Header("authorization").empty()) {
    if (!ArtifactLinkValid(d.run_secret, seg[1], req.Query("path"), req.Query("expires"), req.Query("sig"),
                           static_cast<int64_t>(d.clock->Now()))) {
      return Error(Status::PermissionDenied("this download link is not valid or has expired (links last " +
                                            std::to_string(kArtifactLinkSeconds / 60) + " minutes); open the run's outputs again"));
    }
    return ArtifactContent(seg[1]);
  }
  Status auth = Authenticate();
  if (!auth.ok()) return Error(auth);
  const std::string& top = seg[0];
  if (!is_user && top != "runs" && top != "blobs") return Error(Status::PermissionDenied("a run token cannot use " + req.path));
  if (top == "shutdown" && req.method == "POST") {
    if (d.shutdown) d.shutdown();
    return Json(202, {{"status", "stopping"}});
  }
  if (top == "stream" && seg.size() == 1 && req.method == "GET") return WorkspaceEventStream(d);
  if (top == "experiments" && seg.size() == 1) return Experiments();
  if (top == "computes" && seg.size() <= 3) return Computes();
  if (top == "quota" && seg.size() == 1) return Quota();
  if (top == "blobs") {
    if (!is_user && req.method != "GET") return Error(Status::PermissionDenied("a run token cannot upload snapshots"));
    return Blobs();
  }
  if (top == "snapshots") return Snapshots();
  if (top == "environments" && seg.size() <= 3) return Environments();
  if (top == "runconfigs" && seg.size() == 2 && seg[1] == "parse" && req.method == "POST") return ParseRunConfigFile();
  if (top == "users") return Users();
  if (top == "sweeps") {
    if (seg.size() == 1 && req.method == "POST") return CreateSweep();
    if (seg.size() >= 2 && seg.size() <= 3) return Sweep();
    return MethodNotAllowed();
  }
  if (top == "runs") {
    if (seg.size() == 1) {
      if (!is_user) return Error(Status::PermissionDenied("a run token cannot list or create runs"));
      if (req.method == "POST") return CreateRun();
      if (req.method == "GET") return ListRuns();
      return MethodNotAllowed();
    }
    if (seg.size() == 2 && seg[1] == "keys" && req.method == "GET" && is_user) return RunKeys();
    if (!is_user && agent_run != seg[1]) return Error(Status::PermissionDenied("this token is for another run"));
    return Run();
  }
  return Error(Status::NotFound("no endpoint " + req.method + " " + req.path));
}

HandlerResult Api::Handle(HttpRequest& req) {
  if (req.path.rfind("/api/2.0/mlflow/", 0) == 0 || req.path.rfind("/api/2.0/mlflow-artifacts/", 0) == 0) {
    return MlflowApi(d_).Handle(req);
  }
  const std::string prefix = "/api/v1";
  if (req.path.rfind("/api/", 0) != 0 && req.path != "/api") {
    if (d_.studio) return d_.studio->Serve(req);
    return StudioFiles("").Serve(req);
  }
  if (req.path.rfind(prefix, 0) != 0) {
    return Error(Status::NotFound("no endpoint " + req.path + "; the API is under /api/v1 (MLflow's under /api/2.0/mlflow)"));
  }
  Impl impl{*this, d_, req, SplitPath(req.path.substr(prefix.size()))};
  return impl.Route();
}

}  // namespace ferry::server
