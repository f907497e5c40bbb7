// REST handlers of runs as people use them: submit, list, show, cancel, tags, history, event
// stream.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "model/manifest.h"
#include "server/api_internal.h"
#include "server/studio.h"
#include "server/targets.h"

namespace ferry::server {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

namespace {

constexpr size_t kMaxTagValueBytes = 64 << 10;

// metric.<key>=<op><number>, op one of < <= > >= = (e.g. metric.loss=<0.5).
Result<model::RunFilter::MetricCondition> ParseMetricCondition(const std::string& key,
                                                               const std::string& v) {
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
  if (n == 0 || num.empty() || end != num.c_str() + num.size() || errno != 0 ||
      !std::isfinite(c.value)) {
    return Status::InvalidArgument(
        "filter 'metric." + key +
        "' must be <op><number> with op one of < <= > >= =, e.g. metric." + key + "=<0.5; got '" +
        v + "'");
  }
  return c;
}

std::vector<std::string> SplitList(const std::string& s) {
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

// The filter and paging of GET /runs from its query (errors name the parameter).
Result<model::RunFilter> RunFilterFromQuery(const net::HttpRequest& req) {
  model::RunFilter f;
  f.experiment = req.Query("experiment");
  f.target = req.Query("target");
  f.parent = req.Query("parent");
  f.include_children = req.Query("include_children") == "true";
  std::string status = req.Query("status");
  if (!status.empty()) {
    auto s = model::ParseRunStatus(status);
    if (!s.ok()) return s.status();
    f.status = *s;
  }
  auto limit = ParseCount(req.Query("limit", "100"));
  auto offset = ParseCount(req.Query("offset", "0"));
  if (!limit || *limit < 1 || *limit > 1000)
    return Status::InvalidArgument("'limit' must be a whole number from 1 to 1000, got '" +
                                   req.Query("limit") + "'");
  if (!offset || *offset > (1u << 30))
    return Status::InvalidArgument("'offset' must be a whole number from 0 to 2^30, got '" +
                                   req.Query("offset") + "'");
  f.limit = static_cast<int>(*limit);
  f.offset = static_cast<int>(*offset);
  // tag.<key>=<value>, param.<key>=<value>: every one must match.
  for (const auto& [k, v] : req.query) {
    if (k.rfind("tag.", 0) == 0 && k.size() > 4) f.tags[k.substr(4)] = v;
    if (k.rfind("param.", 0) == 0 && k.size() > 6) f.params[k.substr(6)] = v;
    if (k.rfind("metric.", 0) == 0 && k.size() > 7) {
      auto cond = ParseMetricCondition(k.substr(7), v);
      if (!cond.ok()) return cond.status();
      f.metrics.push_back(*cond);
    }
  }
  return f;
}

// The fields of a submit's body as a run (not yet checked against the workspace): names,
// arguments, tags, options, git state. Errors name the field.
Result<model::Run> RunFieldsFromBody(const json& j) {
  model::Run run;
  auto get = [&](const char* f, bool req, std::string* out) -> Status {
    auto v = StringField(j, f, req);
    if (!v.ok()) return v.status();
    *out = *v;
    return Status::Ok();
  };
  std::string experiment;
  // A command run (a pipeline's CommandStep) has a command line instead of a script.
  const bool command = j.contains("command") && j["command"].is_string();
  for (auto [f, r, out] : {std::tuple{"experiment", false, &experiment},
                           {"target", false, &run.target},
                           {"script", !command, &run.script},
                           {"python", false, &run.python},
                           {"snapshot_id", true, &run.snapshot_id}}) {
    Status st = get(f, r, out);
    if (!st.ok()) return st;
  }
  run.experiment = experiment.empty() ? "default" : experiment;
  if (run.target.empty()) run.target = "local";
  if (run.python.empty()) run.python = "python3";
  if (auto it = j.find("arguments"); it != j.end() && !it->is_null()) {
    if (!it->is_array())
      return Status::InvalidArgument("field 'arguments' must be an array of strings");
    for (auto& a : *it) {
      if (!a.is_string())
        return Status::InvalidArgument("field 'arguments' must contain only strings, found " +
                                       a.dump());
      run.arguments.push_back(a.get<std::string>());
    }
  }
  auto tags = StringMapField(j, "tags");
  if (!tags.ok()) return tags.status();
  run.tags = *tags;
  auto options = model::RunOptionsFromJson(j);
  if (!options.ok()) return options.status();
  run.options = std::move(options).value();
  if (auto it = j.find("git"); it != j.end() && it->is_object() && !it->empty()) {
    run.git.present = true;
    run.git.remote_url = it->value("remote_url", "");
    run.git.branch = it->value("branch", "");
    run.git.commit = it->value("commit", "");
    run.git.dirty = it->value("dirty", false);
  }
  return run;
}

// The run's script (and environment file) are files of its snapshot, whose manifest is
// manifest_text.
Status CheckInSnapshot(const model::Run& run, const std::string& manifest_text) {
  // The stored manifest was validated when it was posted; a binary search over its
  // sorted lines finds the script without parsing 50,000 lines on every submit.
  if (!(run.script.empty() && !run.options.command.empty()) &&
      !model::ManifestTextHasPath(manifest_text, run.script)) {
    size_t files =
        static_cast<size_t>(std::count(manifest_text.begin(), manifest_text.end(), '\n'));
    return Status::InvalidArgument(
        "script '" + run.script + "' is not in the snapshot of the source directory (" +
        std::to_string(files) + " files); check the path and ignore files");
  }
  if (const std::string& env_file = run.options.environment.file;
      !env_file.empty() && !model::ManifestTextHasPath(manifest_text, env_file)) {
    return Status::InvalidArgument(
        "environment file '" + env_file +
        "' is not in the snapshot of the source directory; "
        "check the path (relative to the source directory) and ignore files");
  }
  return Status::Ok();
}

}  // namespace

// The run a submit describes, validated (snapshot stored, script in it, target usable).
Result<model::Run> Api::Impl::RunFromBody(const json& j) {
  FERRY_ASSIGN_OR_RETURN(model::Run run, RunFieldsFromBody(j));
  run.submitted_by = user_name;
  model::EnvironmentSpec& env = run.options.environment;
  if (!env.name.empty() && env.file.empty() && env.content.empty()) {
    // A registered environment: the run keeps its spec, so later versions don't change it.
    auto reg = d.store->GetEnvironment(env.name, env.version);
    if (!reg.ok()) return reg.status().WithContext("field 'environment'");
    env.type = reg->type;
    env.content = reg->content;
    env.version = reg->version;
  }
  if (!run.script.empty() || run.options.command.empty()) {
    Status st = model::ValidateRelativePath(run.script);
    if (!st.ok()) return st.WithContext("field 'script'");
  } else if (run.options.command.find_first_not_of(" \t\n") == std::string::npos) {
    return Status::InvalidArgument("field 'command' is empty; give the command line to run");
  }
  auto target = d.store->GetTarget(run.target);
  // Azure's run-based compute: target "amlcompute" (when no target has that name) is a
  // cluster made for this run from its amlcompute section, once the rest is known valid.
  const bool run_based =
      !target.ok() && run.target == "amlcompute" && target.status().code() == StatusCode::kNotFound;
  if (!target.ok() && !run_based) return target.status();
  // As in Azure ML, the section means nothing for another target (its files carry it empty).
  if (!run_based) run.options.amlcompute = {};
  if (!IsSha256Hex(run.snapshot_id))
    return Status::InvalidArgument("field 'snapshot_id' is not a SHA-256 hex digest");
  auto manifest_text = d.blobs->Get(run.snapshot_id);
  if (!manifest_text.ok()) {
    return Status::NotFound("snapshot " + run.snapshot_id + " is not stored; upload it first");
  }
  FERRY_RETURN_IF_ERROR(CheckInSnapshot(run, *manifest_text));
  if (!run_based) FERRY_RETURN_IF_ERROR(CheckPlacement(run));
  run.id = model::RunIdPrefix(run.experiment) + "_" +
           std::to_string(static_cast<long long>(d.clock->Now())) + "_" + RandomHex(4);
  FERRY_RETURN_IF_ERROR(ResolveRunData(&run));
  if (run_based) {
    FERRY_ASSIGN_OR_RETURN(run.target, d.targets->CreateRunCluster(run));
    if (Status st = CheckPlacement(run); !st.ok()) {
      d.targets->DropRunCluster(run.target);
      return st;
    }
  }
  return run;
}

// Whether the run may go to its target now and can ever be placed there.
Status Api::Impl::CheckPlacement(const model::Run& run) {
  FERRY_RETURN_IF_ERROR(d.targets->CheckSubmit(run.target, user_name));
  FERRY_RETURN_IF_ERROR(d.scheduler->CheckFits(run));
  if (run.options.priority == "low") {
    auto t = d.scheduler->GetTarget(run.target);
    if (t && !t->capabilities().preemption) {
      return Status::InvalidArgument(
          "priority 'low': compute target '" + run.target +
          "' has no low-priority nodes to run it on; leave priority out (or dedicated), or "
          "submit to a cluster created with --vm-priority lowpriority or a Slurm target with a "
          "low-priority partition or QOS");
    }
  }
  return Status::Ok();
}

HandlerResult Api::Impl::CreateRun() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto run = RunFromBody(*body);
  if (!run.ok()) return Error(run.status());
  auto created =
      d.store->CreateRun(*run, model::ParamsFromArguments(run->arguments), "hmac", d.clock->Now());
  if (!created.ok()) {
    if (!run->options.amlcompute.empty()) d.targets->DropRunCluster(run->target);
    return Error(created.status());
  }
  if (Status lineage = RecordRunInputs(*created); !lineage.ok()) {
    spdlog::warn("run {}: the lineage of its inputs was not recorded: {}", created->id,
                 lineage.message());
  }
  d.scheduler->Wake();
  return Json(201, RunToJson(*created));
}

HandlerResult Api::Impl::CancelRun() {
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

HandlerResult Api::Impl::ListRuns() {
  auto filter = RunFilterFromQuery(req);
  if (!filter.ok()) return Error(filter.status());
  model::RunFilter& f = *filter;
  bool with_params = false, with_metrics = false;
  for (const auto& part : SplitList(req.Query("with"))) {
    if (part == "params")
      with_params = true;
    else if (part == "metrics")
      with_metrics = true;
    else
      return Bad("'with' takes params and/or metrics (comma-separated), got '" + part + "'");
  }
  f.sort = req.Query("sort");
  std::string order = req.Query("order", "desc");
  if (order != "asc" && order != "desc")
    return Bad("'order' must be asc or desc, got '" + order + "'");
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

HandlerResult Api::Impl::RunKeys() {
  auto keys = d.store->ListRunKeys(req.Query("experiment"), 10000);
  if (!keys.ok()) return Error(keys.status());
  return Json(200, {{"params", keys->params}, {"metrics", keys->metrics}, {"tags", keys->tags}});
}

HandlerResult Api::Impl::GetRun() {
  auto r = d.store->GetRun(P(0));
  if (!r.ok()) return Error(r.status());
  return Json(200, RunDetailJson(d, *r));
}

HandlerResult Api::Impl::RunStream() {
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

HandlerResult Api::Impl::RunHistory() {
  auto h = d.store->History(P(0));
  if (!h.ok()) return Error(h.status());
  return Json(200, {{"history", HistoryJson(*h)}});
}

HandlerResult Api::Impl::PostTags() {
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

// A run logged by a client (created through MLflow's create-run, as the SDK's
// Experiment.start_logging does) ends when its client says so: {"status": "Completed" |
// "Failed" | "Canceled", "error": optional text}. A run Ferry launched ends with its script.
HandlerResult Api::Impl::EndRun() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto status = body->find("status");
  std::optional<RunStatus> to;
  if (status != body->end() && status->is_string()) {
    const std::string s = status->get<std::string>();
    if (s == "Completed") to = RunStatus::kCompleted;
    if (s == "Failed") to = RunStatus::kFailed;
    if (s == "Canceled") to = RunStatus::kCanceled;
  }
  if (!to)
    return Bad("'status' must be Completed, Failed or Canceled, got " +
               (status == body->end() ? std::string("nothing") : Shown(*status)));
  auto error = body->find("error");
  if (error != body->end() && !error->is_null() && !error->is_string())
    return Bad("'error' must be a string, got " + Shown(*error));
  auto r = RunForWrite(false);
  if (!r.ok()) return WriteRefused(r.status());
  if (r->kind != "external") {
    return Error(Status::FailedPrecondition(
        "run '" + r->id +
        "' was submitted: it ends when its script exits; to stop it, POST /runs/" + r->id +
        "/cancel"));
  }
  if (model::IsTerminal(r->status)) {
    return Error(Status::FailedPrecondition("run '" + r->id + "' has ended already (" +
                                            model::RunStatusName(r->status) + ")"),
                 {{"status", model::RunStatusName(r->status)}});
  }
  store::TransitionExtras ex;
  if (*to == RunStatus::kCompleted) ex.finalizing_reason = "ended by its client";
  if (error != body->end() && error->is_string() && *to == RunStatus::kFailed) {
    std::string text = error->get<std::string>();
    if (text.size() > kMaxTagValueBytes) text.resize(kMaxTagValueBytes);
    ex.error = text;
  }
  auto t = d.store->Transition(r->id, *to, "ended by its client", d.clock->Now(), ex);
  if (!t.ok()) return Error(t.status());
  Changed(r->id);
  auto again = d.store->GetRun(r->id);
  if (!again.ok()) return Error(again.status());
  return Json(200, RunToJson(*again));
}

}  // namespace ferry::server
