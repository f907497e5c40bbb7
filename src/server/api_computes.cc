// REST handlers of compute targets and the managed-cluster quota: /computes, /quota (the lifecycle
// itself is targets.cc's).
#include <nlohmann/json.hpp>

#include "server/api_internal.h"
#include "server/targets.h"

namespace ferry::server {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

json Api::Impl::TargetJson(const model::ComputeTargetRecord& t,
                           const std::vector<model::Run>& active) {
  int running = 0, queued = 0;
  for (auto& r : active) {
    if (r.target != t.name) continue;
    if (r.status == RunStatus::kQueued)
      ++queued;
    else
      ++running;
  }
  json j = {{"name", t.name},
            {"kind", t.kind},
            {"created_at", t.created_at},
            {"active_runs", running},
            {"queued_runs", queued}};
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
    j["capabilities"] = {{"multi_node", caps.multi_node},
                         {"gpus", caps.gpus},
                         {"preemption", caps.preemption},
                         {"autoscaling", caps.autoscaling},
                         {"containers", caps.containers}};
    j["details"] = json::parse(target->Describe(), nullptr, false);
  } else {
    j["state"] = "unavailable";
  }
  return j;
}

// The kind table (compute/kind.h): names, CLI options, SDK classes.
HandlerResult Api::Impl::ComputeKinds() { return Json(200, json::parse(compute::KindsJson())); }

HandlerResult Api::Impl::ListComputes() {
  auto active = d.store->ListActiveRuns();
  if (!active.ok()) return Error(active.status());
  auto list = d.store->ListTargets();
  if (!list.ok()) return Error(list.status());
  json arr = json::array();
  for (auto& t : *list) arr.push_back(TargetJson(t, *active));
  return Json(200, {{"computes", arr}});
}

HandlerResult Api::Impl::GetCompute() {
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

HandlerResult Api::Impl::AttachCompute() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  // A compute instance made from a node size belongs to whoever creates it (unless named).
  if (body->is_object() && body->value("single_owner", false) && !body->contains("owner"))
    (*body)["owner"] = ctx.caller.name;
  auto r = d.targets->Attach(*body);
  if (!r.ok()) return Error(r.status());
  d.scheduler->Wake();
  return Json(201, *r);
}

HandlerResult Api::Impl::DetachCompute() {
  return JsonOr(200,
                d.targets->Detach(P(0), req.Query("force") == "true" || req.Query("force") == "1"));
}

HandlerResult Api::Impl::StopCompute() { return JsonOr(202, d.targets->StopInstance(P(0))); }

HandlerResult Api::Impl::StartCompute() { return JsonOr(202, d.targets->StartInstance(P(0))); }

HandlerResult Api::Impl::UpdateCompute() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  return JsonOr(200, d.targets->UpdateCluster(P(0), *body));
}

HandlerResult Api::Impl::TrustCompute() { return JsonOr(200, d.targets->Trust(P(0))); }

// The workspace's limits on managed clusters (cores, GPUs at their maximum size).
HandlerResult Api::Impl::GetQuota() { return JsonOr(200, d.targets->GetQuota()); }

HandlerResult Api::Impl::SetQuota() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  return JsonOr(200, d.targets->SetQuota(*body));
}

// The workspace's node sizes (names such as STANDARD_D2_V2) and its default node provider.
HandlerResult Api::Impl::ListNodeSizes() { return JsonOr(200, d.targets->GetNodeSizes()); }

HandlerResult Api::Impl::SetNodeSize() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  return JsonOr(200, d.targets->SetNodeSize(P(0), *body));
}

HandlerResult Api::Impl::DeleteNodeSize() { return JsonOr(200, d.targets->DeleteNodeSize(P(0))); }

HandlerResult Api::Impl::SetNodeProvider() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  return JsonOr(200, d.targets->SetNodeProvider(*body));
}

}  // namespace ferry::server
