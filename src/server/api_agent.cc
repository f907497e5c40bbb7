// REST handlers a run's agent uses: its plan, its status changes, and its log streams (which people
// read too).
#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "server/api_internal.h"

namespace ferry::server {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

namespace {

std::string LogKey(const std::string& id, int rank) {
  return rank == 0 ? id : id + "/rank" + std::to_string(rank);
}

}  // namespace

HandlerResult Api::Impl::GetPlan() {
  const std::string& id = P(0);
  auto r = d.store->GetRun(id);
  if (!r.ok()) return Error(r.status());
  json plan = {{"run", RunToJson(*r)}, {"manifest_id", r->snapshot_id}};
  auto urls = InputUrls(*r);
  if (!urls.ok()) return Error(urls.status());
  if (!urls->empty()) plan["input_urls"] = *urls;
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

HandlerResult Api::Impl::PostStatus() {
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
  std::string why = *reason;
  if (*to == model::RunStatus::kCompleted) {
    // Output datasets are written before the run is Completed: a run whose outputs could not
    // be kept fails, naming the output.
    auto run = d.store->GetRun(id);
    if (!run.ok()) return Error(run.status());
    if (run->status != model::RunStatus::kCompleted) {
      if (Status out = FinishDatasetOutputs(*run, ex.artifacts); !out.ok()) {
        *to = model::RunStatus::kFailed;
        why = "writing the output datasets failed";
        ex.error = out.message();
      }
    }
  }
  auto r = d.store->Transition(id, *to, why, d.clock->Now(), ex);
  if (!r.ok() && r.status().code() == StatusCode::kFailedPrecondition) {
    // A resend whose answer the agent did not get (it retries dropped connections and 5xx):
    // the run has this status already, so the report was taken; answer as the first time.
    auto now = d.store->GetRun(id);
    if (now.ok() && now->status == *to) return Json(200, RunToJson(*now));
  }
  if (!r.ok()) return Error(r.status());
  if (*to == model::RunStatus::kCompleted) {
    // Models the script registered from its outputs, which are stored now.
    if (auto full = d.store->GetRun(id); full.ok()) RegisterModelsOfRun(*full);
  }
  Changed(id);
  if (model::IsTerminal(*to)) d.scheduler->Wake();
  return Json(200, RunToJson(*r));
}

// Each rank of a multi-node run has its own log stream: rank 0 is the run's log, rank k
// is kept as "<id>/rank<k>".
Result<int> Api::Impl::RankParam() {
  std::string rank = req.Query("rank", "0");
  auto k = ParseCount(rank);
  if (!k || *k > 999999)
    return Status::InvalidArgument("'rank' must be a whole number from 0 to 999999, got '" + rank +
                                   "'");
  return static_cast<int>(*k);
}

HandlerResult Api::Impl::PostLogs() {
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

HandlerResult Api::Impl::GetLogs() {
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

}  // namespace ferry::server
