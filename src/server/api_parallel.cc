// REST handlers of a ParallelRunStep's mini-batch queue (docs/pipelines.md#parallelrunstep),
// called by python/ferry/_parallel_run.py in the step's run with the run's own token: lease a
// batch (reporting the last one's result in the same call), release a dead worker's batches,
// the queue's progress, and the rows of the batches done, in order. The batches are made from
// the run's input on the first call (pipeline/parallel.h), in one transaction.
#include <nlohmann/json.hpp>

#include "model/manifest.h"
#include "pipeline/parallel.h"
#include "server/api_internal.h"

namespace ferry::server {

using net::HandlerResult;
using nlohmann::json;

namespace {

// Seconds a lease outlives run_invocation_timeout: the worker's own timeout fires first.
constexpr double kLeaseSlackSeconds = 15;

json CountsJson(const store::MiniBatchCounts& c, const std::string& abort) {
  const bool finished = c.total > 0 && ((c.pending == 0 && c.leased == 0) || !abort.empty());
  return {{"total", c.total},
          {"pending", c.pending},
          {"leased", c.leased},
          {"done", c.done},
          {"failed", c.failed},
          {"items", c.items},
          {"failed_items", c.failed_items},
          {"first_error", c.first_error},
          {"finished", finished},
          {"abort", abort.empty() ? json(nullptr) : json(abort)}};
}

}  // namespace

// The run in the path as a parallel step: its configuration, and its batches made if they
// are not yet.
Result<pipeline::ParallelConfig> Api::Impl::ParallelRunOf(model::Run* run) {
  FERRY_ASSIGN_OR_RETURN(*run, d.store->GetRun(P(0)));
  if (run->options.parallel.empty()) {
    return Status::FailedPrecondition("run '" + run->id +
                                      "' is not a ParallelRunStep's run; it has no mini-batches");
  }
  json j = json::parse(run->options.parallel, nullptr, false);
  FERRY_ASSIGN_OR_RETURN(auto cfg, pipeline::ParallelConfigFromJson(j, "run '" + run->id + "': "));
  FERRY_ASSIGN_OR_RETURN(auto counts, d.store->Pipelines().CountMiniBatches(run->id));
  if (counts.total > 0) return cfg;
  // The input's files: a manifest of the workspace's blobs, or an external file list.
  const model::DataInput* input = nullptr;
  for (const auto& in : run->options.inputs) {
    if (in.name == cfg.input) input = &in;
  }
  if (!input) {
    return Status::FailedPrecondition("run '" + run->id + "': its parallel input '" + cfg.input +
                                      "' is not one of its inputs");
  }
  FERRY_ASSIGN_OR_RETURN(std::string text, d.blobs->Get(input->manifest));
  std::vector<pipeline::InputFile> files;
  if (auto m = model::Manifest::Parse(text); m.ok()) {
    for (const auto& e : m->entries) files.push_back({e.path, static_cast<int64_t>(e.size)});
  } else {
    json ext = json::parse(text, nullptr, false);
    if (!ext.is_object() || !ext.contains("files")) {
      return Status::Corruption("input '" + input->name + "': its manifest is not a file list");
    }
    for (const auto& f : ext["files"]) {
      files.push_back({f.value("path", ""), f.value("size", int64_t{0})});
    }
  }
  FERRY_ASSIGN_OR_RETURN(auto split, pipeline::SplitIntoMiniBatches(cfg, files));
  std::vector<store::MiniBatch> batches;
  for (size_t i = 0; i < split.size(); ++i) {
    store::MiniBatch b;
    b.index = static_cast<int64_t>(i);
    b.items = split[i].items.dump();
    b.item_count = split[i].item_count;
    batches.push_back(std::move(b));
  }
  FERRY_RETURN_IF_ERROR(d.store->Pipelines().CreateMiniBatches(run->id, batches).status());
  return cfg;
}

// POST /runs/{id}/minibatches/lease {"worker", "result": {index, attempt, ok, rows,
// failed_items, error} | null, "stop": bool} -> {"batch": {index, items, attempt}} | {"wait": s}
// | {"done": true} | {"abort": reason}.
HandlerResult Api::Impl::LeaseMiniBatch() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  model::Run run;
  auto cfg = ParallelRunOf(&run);
  if (!cfg.ok()) return Error(cfg.status());
  auto worker = StringField(*body, "worker", true);
  if (!worker.ok()) return Error(worker.status());
  if (auto r = body->find("result"); r != body->end() && r->is_object()) {
    store::MiniBatch done;
    done.index = r->value("index", int64_t{-1});
    done.attempts = r->value("attempt", 0);
    done.worker = *worker;
    done.failed_items = r->value("failed_items", int64_t{0});
    const bool ok = r->value("ok", false);
    if (ok) {
      json rows = r->value("rows", json::array());
      if (!rows.is_array()) return Bad("field 'result.rows' must be a list of strings");
      done.rows = rows.dump(-1, ' ', false, json::error_handler_t::replace);
    } else {
      done.error = r->value("error", std::string("run() failed"));
      if (done.error.size() > 4000) done.error = done.error.substr(0, 4000) + "...";
    }
    auto taken = d.store->Pipelines().FinishMiniBatch(run.id, done, ok, cfg->run_max_try);
    if (!taken.ok()) return Error(taken.status());
  }
  auto counts = d.store->Pipelines().CountMiniBatches(run.id);
  if (!counts.ok()) return Error(counts.status());
  const std::string abort = pipeline::AbortReason(
      *cfg, {counts->total, counts->done, counts->failed, counts->failed_items});
  if (!abort.empty()) return Json(200, {{"abort", abort}});
  if (body->value("stop", false)) return Json(200, {{"done", true}});
  auto leased = d.store->Pipelines().LeaseMiniBatch(
      run.id, *worker, d.clock->Now(), cfg->run_invocation_timeout + kLeaseSlackSeconds,
      cfg->run_max_try);
  if (!leased.ok()) return Error(leased.status());
  if (*leased) {
    return Json(200, {{"batch",
                       {{"index", (*leased)->index},
                        {"attempt", (*leased)->attempts},
                        {"items", json::parse((*leased)->items, nullptr, false)}}}});
  }
  if (counts->pending == 0 && counts->leased == 0) return Json(200, {{"done", true}});
  // Others hold the rest; one of them may fail and need a worker again.
  return Json(200, {{"wait", 0.5}});
}

// POST /runs/{id}/minibatches/release {"worker", "reason"}: a worker that died.
HandlerResult Api::Impl::ReleaseMiniBatches() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  model::Run run;
  auto cfg = ParallelRunOf(&run);
  if (!cfg.ok()) return Error(cfg.status());
  auto worker = StringField(*body, "worker", true);
  if (!worker.ok()) return Error(worker.status());
  auto reason = StringField(*body, "reason", false);
  if (!reason.ok()) return Error(reason.status());
  auto released = d.store->Pipelines().ReleaseMiniBatches(
      run.id, *worker, reason->empty() ? "its worker " + *worker + " died" : *reason,
      cfg->run_max_try);
  if (!released.ok()) return Error(released.status());
  return Json(200, {{"released", *released}});
}

Result<json> Api::Impl::MiniBatchProgressJson(const model::Run& run) {
  json j = json::parse(run.options.parallel, nullptr, false);
  FERRY_ASSIGN_OR_RETURN(auto cfg, pipeline::ParallelConfigFromJson(j, ""));
  FERRY_ASSIGN_OR_RETURN(auto counts, d.store->Pipelines().CountMiniBatches(run.id));
  return CountsJson(counts, pipeline::AbortReason(cfg, {counts.total, counts.done, counts.failed,
                                                        counts.failed_items}));
}

// GET /runs/{id}/minibatches: done / failed / remaining.
HandlerResult Api::Impl::MiniBatchProgress() {
  auto run = d.store->GetRun(P(0));
  if (!run.ok()) return Error(run.status());
  if (run->options.parallel.empty()) {
    return Error(Status::FailedPrecondition("run '" + run->id +
                                            "' is not a ParallelRunStep's run; it has no "
                                            "mini-batches"));
  }
  return JsonOr(200, MiniBatchProgressJson(*run));
}

// GET /runs/{id}/minibatches/results?from=N&limit=M: the rows of the batches done, in order.
HandlerResult Api::Impl::MiniBatchResults() {
  auto run = d.store->GetRun(P(0));
  if (!run.ok()) return Error(run.status());
  auto from = ParseCount(req.Query("from", "0"));
  auto limit = ParseCount(req.Query("limit", "100"));
  if (!from || !limit || *limit < 1 || *limit > 1000) {
    return Bad("'from' must be a whole number and 'limit' one from 1 to 1000");
  }
  auto batches = d.store->Pipelines().ListMiniBatches(run->id, static_cast<int64_t>(*from),
                                                      static_cast<int64_t>(*limit));
  if (!batches.ok()) return Error(batches.status());
  json arr = json::array();
  for (const auto& b : *batches) {
    json rows = b.state == "done" ? json::parse(b.rows, nullptr, false) : json::array();
    arr.push_back({{"index", b.index},
                   {"state", b.state},
                   {"attempts", b.attempts},
                   {"worker", b.worker},
                   {"rows", rows.is_array() ? rows : json::array()},
                   {"error", b.error}});
  }
  json next = batches->size() == *limit ? json(static_cast<int64_t>(*from + *limit)) : json();
  return Json(200, {{"batches", arr}, {"next", next}});
}

}  // namespace ferry::server
