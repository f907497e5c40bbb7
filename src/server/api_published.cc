// REST handlers of published pipelines, pipeline endpoints and schedules (docs/pipelines.md,
// "Publish and schedule"; Azure ML SDK v1's PublishedPipeline, PipelineEndpoint and Schedule).
// A publish checks the definition exactly as a submit does and freezes it under a random id;
// a submit of a published pipeline (Azure's REST body: ExperimentName, ParameterAssignments,
// DataPathAssignments) starts a pipeline run of it through StartPipelineRun; a schedule is
// stored with its first slot, which the schedule loop (schedules.cc) fires.
#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "pipeline/schedule.h"
#include "pipeline/spec.h"
#include "server/api_internal.h"
#include "server/datastore_io.h"
#include "server/schedules.h"

namespace ferry::server {

using net::HandlerResult;
using nlohmann::json;

namespace {

json NullIfZero(double t) { return t == 0 ? json(nullptr) : json(t); }

// Where a published pipeline is submitted (the endpoint Azure's PublishedPipeline shows).
std::string SubmitUrl(const net::HttpRequest& req, const std::string& what, const std::string& id) {
  const std::string host = req.Header("host");
  const std::string path = "/api/v1/" + what + "/" + id + "/submit";
  return host.empty() ? path : "http://" + host + path;
}

json PublishedJson(const net::HttpRequest& req, const store::PublishedPipelineRecord& p,
                   bool with_spec) {
  json spec = json::parse(p.spec, nullptr, false);
  json steps = json::array();
  json params = json::array();
  if (spec.is_object()) {
    for (const auto& s : spec.value("steps", json::array())) steps.push_back(s.value("name", ""));
    params = spec.value("parameters", json::array());
  }
  json j = {{"id", p.id},
            {"name", p.name},
            {"description", p.description},
            {"version", p.version},
            {"status", p.status},
            {"endpoint", SubmitUrl(req, "pipelines", p.id)},
            {"continue_on_step_failure", p.continue_on_step_failure},
            {"created_by", p.created_by},
            {"created_at", p.created_at},
            {"steps", steps},
            {"parameters", params}};
  if (with_spec) j["pipeline"] = spec;
  return j;
}

json EndpointJson(const net::HttpRequest& req, const store::PipelineEndpointRecord& e) {
  json versions = json::array();
  for (size_t v = 0; v < e.pipelines.size(); ++v) {
    versions.push_back({{"version", std::to_string(v)}, {"pipeline_id", e.pipelines[v]}});
  }
  const auto def = static_cast<size_t>(e.default_version);
  return {{"id", e.id},
          {"name", e.name},
          {"description", e.description},
          {"status", e.status},
          {"default_version", std::to_string(e.default_version)},
          {"default_pipeline_id", def < e.pipelines.size() ? e.pipelines[def] : ""},
          {"pipelines", versions},
          {"endpoint", SubmitUrl(req, "pipeline-endpoints", e.id)},
          {"created_by", e.created_by},
          {"created_at", e.created_at}};
}

json ScheduleJson(const store::ScheduleRecord& s) {
  json j = json::parse(s.spec, nullptr, false);
  if (!j.is_object()) j = json::object();
  json state = s.poll_state.empty() ? json::object() : json::parse(s.poll_state, nullptr, false);
  if (!state.is_object()) state = json::object();
  j["id"] = s.id;
  j["name"] = s.name;
  j["status"] = s.status;
  j["next_fire"] = NullIfZero(s.next_fire);
  j["pending_fire"] = NullIfZero(s.pending_fire);
  j["last_fire"] = NullIfZero(s.last_fire);
  j["last_run_id"] = s.last_run_id.empty() ? json(nullptr) : json(s.last_run_id);
  j["last_error"] = state.value("last_error", "").empty() ? json(nullptr) : state["last_error"];
  j["created_by"] = s.created_by;
  j["created_at"] = s.created_at;
  j["updated_at"] = s.updated_at;
  return j;
}

// Azure's submit body: {"ExperimentName", "ParameterAssignments": {name: value},
// "DataPathAssignments": {name: {"DataStoreName", "RelativePath"}}, "Tags": {...},
// "ContinueOnStepFailure",
// "PipelineVersion" (an endpoint's)}. Other keys Azure's clients send are ignored.
Status SubmitFromBody(const json& body, PublishedSubmit* s) {
  FERRY_ASSIGN_OR_RETURN(s->experiment, StringField(body, "ExperimentName", false));
  if (s->experiment.empty()) {
    return Status::InvalidArgument(
        "field 'ExperimentName' is required: the experiment the pipeline run goes to");
  }
  if (auto p = body.find("ParameterAssignments"); p != body.end() && !p->is_null()) {
    if (!p->is_object()) {
      return Status::InvalidArgument(
          "field 'ParameterAssignments' must be an object {parameter name: value}");
    }
    for (const auto& [k, v] : p->items()) s->parameters[k] = v;
  }
  if (auto p = body.find("DataPathAssignments"); p != body.end() && !p->is_null()) {
    if (!p->is_object()) {
      return Status::InvalidArgument(
          "field 'DataPathAssignments' must be an object {parameter name: {\"DataStoreName\", "
          "\"RelativePath\"}}");
    }
    for (const auto& [k, v] : p->items()) {
      const std::string where = "field 'DataPathAssignments." + k + "'";
      if (!v.is_object()) {
        return Status::InvalidArgument(where +
                                       " must be {\"DataStoreName\": ..., \"RelativePath\": ...}");
      }
      FERRY_ASSIGN_OR_RETURN(std::string ds, StringField(v, "DataStoreName", false));
      FERRY_ASSIGN_OR_RETURN(std::string path, StringField(v, "RelativePath", true));
      s->parameters[k] = {{"datastore", ds}, {"path", path}};
    }
  }
  if (auto c = body.find("ContinueOnStepFailure"); c != body.end() && !c->is_null()) {
    if (!c->is_boolean()) {
      return Status::InvalidArgument("field 'ContinueOnStepFailure' must be true or false");
    }
    s->continue_on_step_failure = c->get<bool>();
  }
  FERRY_ASSIGN_OR_RETURN(s->tags, StringMapField(body, "Tags"));
  FERRY_ASSIGN_OR_RETURN(s->endpoint_version, StringField(body, "PipelineVersion", false));
  return Status::Ok();
}

// "true"/"1" in a query.
bool QueryTrue(const net::HttpRequest& req, const char* name) {
  const std::string v = req.Query(name);
  return v == "true" || v == "True" || v == "1";
}

}  // namespace

Result<model::Run> Api::SubmitPublished(const PublishedSubmit& s) {
  net::HttpRequest req;
  Impl::Context ctx;
  ctx.caller.kind = s.user.empty() ? Caller::Kind::kWorkspace : Caller::Kind::kUser;
  ctx.caller.role = s.user.empty() ? Role::kAdmin : Role::kContributor;
  ctx.caller.name = s.user;
  Impl impl{*this, d_, req, ctx};
  return impl.RunPublished(s);
}

Result<std::vector<DataFile>> Api::ListDatastorePath(const std::string& datastore,
                                                     const std::string& path) {
  net::HttpRequest req;
  Impl::Context ctx;
  ctx.caller.kind = Caller::Kind::kWorkspace;
  ctx.caller.role = Role::kAdmin;
  Impl impl{*this, d_, req, ctx};
  FERRY_ASSIGN_OR_RETURN(std::string prefix, DatastorePath("path_on_datastore", path));
  FERRY_ASSIGN_OR_RETURN(
      auto io, impl.OpenDatastore(datastore.empty() ? impl.DefaultDatastore() : datastore));
  FERRY_ASSIGN_OR_RETURN(std::vector<DataFile> files, io->List(prefix));
  // The path itself, or what is under it as a directory ("numbers" is not "numbers2/x").
  std::vector<DataFile> out;
  for (auto& f : files) {
    if (prefix.empty() || f.path == prefix || f.path.rfind(prefix + "/", 0) == 0) {
      out.push_back(std::move(f));
    }
  }
  return out;
}

Result<model::Run> Api::Impl::RunPublished(const PublishedSubmit& s) {
  std::string pipeline_id = s.pipeline_id;
  auto tags = s.tags;
  if (!s.endpoint_id.empty()) {
    FERRY_ASSIGN_OR_RETURN(auto e, d.store->Published().GetPipelineEndpoint(s.endpoint_id));
    if (e.status != "Active") {
      return Status::FailedPrecondition("pipeline endpoint '" + e.name + "' (" + e.id +
                                        ") is disabled; enable it (POST "
                                        "/api/v1/pipeline-endpoints/" +
                                        e.id + "/enable) to submit to it");
    }
    int64_t version = e.default_version;
    if (!s.endpoint_version.empty()) {
      auto v = ParseCount(s.endpoint_version);
      if (!v || *v >= e.pipelines.size()) {
        return Status::NotFound("pipeline endpoint '" + e.name + "' has no version '" +
                                s.endpoint_version + "'; its versions are 0 to " +
                                std::to_string(e.pipelines.size() - 1));
      }
      version = static_cast<int64_t>(*v);
    }
    pipeline_id = e.pipelines.at(static_cast<size_t>(version));
    tags["ferry.pipeline.endpoint_id"] = e.id;
    tags["ferry.pipeline.endpoint_version"] = std::to_string(version);
  }
  FERRY_ASSIGN_OR_RETURN(auto p, d.store->Published().GetPublishedPipeline(pipeline_id));
  if (p.status != "Active") {
    return Status::FailedPrecondition("published pipeline '" + p.name + "' (" + p.id +
                                      ") is disabled; enable it ('ferry pipeline enable -i " +
                                      p.id + "') to submit it");
  }
  tags["ferry.pipeline.published_id"] = p.id;
  json spec = json::parse(p.spec, nullptr, false);
  return StartPipelineRun(spec, s.experiment, s.parameters, tags, "",
                          s.continue_on_step_failure.value_or(p.continue_on_step_failure));
}

// ---- published pipelines

// POST /pipelines {"name", "description", "version", "pipeline": SPEC,
// "continue_on_step_failure"}: checked as a submit would be, then frozen.
HandlerResult Api::Impl::PublishPipeline() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto spec_it = body->find("pipeline");
  if (spec_it == body->end() || !spec_it->is_object()) {
    return Bad("field 'pipeline' is required: the pipeline's definition (docs/pipelines.md)");
  }
  store::PublishedPipelineRecord p;
  for (const auto& [key, out] : std::initializer_list<std::pair<const char*, std::string*>>{
           {"name", &p.name}, {"description", &p.description}, {"version", &p.version}}) {
    auto v = StringField(*body, key, false);
    if (!v.ok()) return Error(v.status());
    *out = *v;
  }
  if (auto c = body->find("continue_on_step_failure"); c != body->end() && !c->is_null()) {
    if (!c->is_boolean()) return Bad("field 'continue_on_step_failure' must be true or false");
    p.continue_on_step_failure = c->get<bool>();
  }
  auto spec = CheckPipeline(*spec_it);
  if (!spec.ok()) return Error(spec.status());
  if (p.name.empty()) p.name = spec->name;
  if (p.name.empty()) {
    return Bad("field 'name' is required: the published pipeline's name (or name the pipeline)");
  }
  if (p.description.empty()) p.description = spec->description;
  if (body->find("continue_on_step_failure") == body->end()) {
    p.continue_on_step_failure = spec->continue_on_step_failure;
  }
  p.id = RandomHex(16);
  p.spec = pipeline::PipelineToJson(*spec).dump();
  p.created_by = user_name;
  p.created_at = d.clock->Now();
  if (Status st = d.store->Published().CreatePublishedPipeline(p); !st.ok()) return Error(st);
  return Json(201, PublishedJson(req, p, true));
}

HandlerResult Api::Impl::ListPublishedPipelines() {
  auto list = d.store->Published().ListPublishedPipelines(QueryTrue(req, "active_only"));
  if (!list.ok()) return Error(list.status());
  json arr = json::array();
  for (const auto& p : *list) arr.push_back(PublishedJson(req, p, false));
  return Json(200, {{"pipelines", arr}});
}

HandlerResult Api::Impl::GetPublishedPipeline() {
  auto p = d.store->Published().GetPublishedPipeline(P(0));
  if (!p.ok()) return Error(p.status());
  return Json(200, PublishedJson(req, *p, true));
}

HandlerResult Api::Impl::EnablePublishedPipeline() {
  if (Status st = d.store->Published().SetPublishedPipelineStatus(P(0), "Active"); !st.ok()) {
    return Error(st);
  }
  return GetPublishedPipeline();
}

HandlerResult Api::Impl::DisablePublishedPipeline() {
  if (Status st = d.store->Published().SetPublishedPipelineStatus(P(0), "Disabled"); !st.ok()) {
    return Error(st);
  }
  return GetPublishedPipeline();
}

namespace {

json SubmittedJson(const model::Run& run) {
  return {{"Id", run.id}, {"Status", model::RunStatusName(run.status)}, {"run", RunToJson(run)}};
}

}  // namespace

// POST /pipelines/{id}/submit: Azure's REST call on a published pipeline's endpoint.
HandlerResult Api::Impl::SubmitPublishedPipeline() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  PublishedSubmit s;
  if (Status st = SubmitFromBody(*body, &s); !st.ok()) return Error(st);
  if (!s.endpoint_version.empty()) {
    return Bad(
        "field 'PipelineVersion' is for a pipeline endpoint's submit, not a published "
        "pipeline's");
  }
  s.pipeline_id = P(0);
  s.user = user_name;
  auto run = RunPublished(s);
  if (!run.ok()) return Error(run.status());
  return Json(200, SubmittedJson(*run));
}

// ---- pipeline endpoints

// POST /pipeline-endpoints {"name", "description", "pipeline_id"}: version 0, the default.
HandlerResult Api::Impl::CreatePipelineEndpoint() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto name = StringField(*body, "name", true);
  if (!name.ok()) return Error(name.status());
  auto description = StringField(*body, "description", false);
  if (!description.ok()) return Error(description.status());
  auto pipeline_id = StringField(*body, "pipeline_id", true);
  if (!pipeline_id.ok()) return Error(pipeline_id.status());
  if (name->empty()) return Bad("field 'name' must not be empty");
  store::PipelineEndpointRecord e;
  e.id = RandomHex(16);
  e.name = *name;
  e.description = *description;
  e.created_by = user_name;
  e.created_at = d.clock->Now();
  auto made = d.store->Published().CreatePipelineEndpoint(e, *pipeline_id);
  if (!made.ok()) return Error(made.status());
  return Json(201, EndpointJson(req, *made));
}

HandlerResult Api::Impl::ListPipelineEndpoints() {
  auto list = d.store->Published().ListPipelineEndpoints();
  if (!list.ok()) return Error(list.status());
  json arr = json::array();
  for (const auto& e : *list) {
    if (QueryTrue(req, "active_only") && e.status != "Active") continue;
    arr.push_back(EndpointJson(req, e));
  }
  return Json(200, {{"pipeline_endpoints", arr}});
}

HandlerResult Api::Impl::GetPipelineEndpoint() {
  auto e = d.store->Published().GetPipelineEndpoint(P(0));
  if (!e.ok()) return Error(e.status());
  return Json(200, EndpointJson(req, *e));
}

// POST /pipeline-endpoints/{id}/pipelines {"pipeline_id", "set_default"}: the next version.
HandlerResult Api::Impl::AddPipelineEndpointVersion() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto pipeline_id = StringField(*body, "pipeline_id", true);
  if (!pipeline_id.ok()) return Error(pipeline_id.status());
  bool set_default = false;
  if (auto c = body->find("set_default"); c != body->end() && !c->is_null()) {
    if (!c->is_boolean()) return Bad("field 'set_default' must be true or false");
    set_default = c->get<bool>();
  }
  auto v = d.store->Published().AddPipelineEndpointVersion(P(0), *pipeline_id, set_default);
  if (!v.ok()) return Error(v.status());
  auto e = d.store->Published().GetPipelineEndpoint(P(0));
  if (!e.ok()) return Error(e.status());
  json j = EndpointJson(req, *e);
  j["version"] = std::to_string(*v);
  return Json(201, j);
}

// PUT /pipeline-endpoints/{id}/default {"version": "N"}.
HandlerResult Api::Impl::SetPipelineEndpointDefault() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto it = body->find("version");
  std::optional<uint64_t> version;
  if (it != body->end() && it->is_string()) version = ParseCount(it->get<std::string>());
  if (it != body->end() && it->is_number_unsigned()) version = it->get<uint64_t>();
  if (!version || *version > (1ull << 31)) {
    return Bad(
        "field 'version' is required: the endpoint's version to make the default, "
        "\"0\", \"1\", ...");
  }
  Status st = d.store->Published().SetPipelineEndpointDefault(P(0), static_cast<int64_t>(*version));
  if (!st.ok()) return Error(st);
  return GetPipelineEndpoint();
}

// POST /pipeline-endpoints/{id}/submit {"ExperimentName", "ParameterAssignments",
// "DataPathAssignments", "PipelineVersion"}: the default version unless one is named.
HandlerResult Api::Impl::SubmitPipelineEndpoint() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  PublishedSubmit s;
  if (Status st = SubmitFromBody(*body, &s); !st.ok()) return Error(st);
  s.endpoint_id = P(0);
  s.user = user_name;
  auto run = RunPublished(s);
  if (!run.ok()) return Error(run.status());
  return Json(200, SubmittedJson(*run));
}

HandlerResult Api::Impl::EnablePipelineEndpoint() {
  if (Status st = d.store->Published().SetPipelineEndpointStatus(P(0), "Active"); !st.ok()) {
    return Error(st);
  }
  return GetPipelineEndpoint();
}

HandlerResult Api::Impl::DisablePipelineEndpoint() {
  if (Status st = d.store->Published().SetPipelineEndpointStatus(P(0), "Disabled"); !st.ok()) {
    return Error(st);
  }
  return GetPipelineEndpoint();
}

// ---- schedules

namespace {

// The published pipeline or endpoint a schedule names exists, and it names exactly one.
Status CheckScheduleTarget(store::MetadataStore* store, const pipeline::ScheduleSpec& s) {
  if (s.pipeline_id.empty() == s.pipeline_endpoint_id.empty()) {
    return Status::InvalidArgument(
        "a schedule names exactly one of 'pipeline_id' (a published pipeline) and "
        "'pipeline_endpoint_id' (a pipeline endpoint)");
  }
  if (s.experiment_name.empty()) {
    return Status::InvalidArgument(
        "field 'experiment_name' is required: the experiment the schedule's runs go to");
  }
  if (!s.pipeline_id.empty()) {
    return store->Published().GetPublishedPipeline(s.pipeline_id).status();
  }
  return store->Published().GetPipelineEndpoint(s.pipeline_endpoint_id).status();
}

}  // namespace

// POST /schedules {"name", "pipeline_id" | "pipeline_endpoint_id", "experiment_name",
// "recurrence": {...} | "datastore_name", "polling_interval", ..., "pipeline_parameters"}:
// pipeline::ScheduleToJson's fields.
HandlerResult Api::Impl::CreateSchedule() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto spec = pipeline::ScheduleFromJson(*body);
  if (!spec.ok()) return Error(spec.status());
  if (Status st = pipeline::ValidateSchedule(*spec); !st.ok()) return Error(st);
  if (Status st = CheckScheduleTarget(d.store, *spec); !st.ok()) return Error(st);
  if (spec->name.empty()) return Bad("field 'name' is required: the schedule's name");
  store::ScheduleRecord s;
  s.id = RandomHex(16);
  s.name = spec->name;
  s.spec = pipeline::ScheduleToJson(*spec).dump();
  s.created_by = user_name;
  s.created_at = d.clock->Now();
  s.updated_at = s.created_at;
  auto first =
      ScheduleLoop::FirstFire(*spec, s.created_at, s.created_at, d.schedule_minute_seconds);
  if (!first.ok()) return Error(first.status());
  s.next_fire = *first;
  if (Status st = d.store->Published().CreateSchedule(s); !st.ok()) return Error(st);
  d.scheduler->Wake();
  return Json(201, ScheduleJson(s));
}

// GET /schedules[?pipeline_id=&active_only=true].
HandlerResult Api::Impl::ListSchedules() {
  auto list = d.store->Published().ListSchedules();
  if (!list.ok()) return Error(list.status());
  const std::string pipeline_id = req.Query("pipeline_id");
  const std::string endpoint_id = req.Query("pipeline_endpoint_id");
  const bool active_only = QueryTrue(req, "active_only");
  json arr = json::array();
  for (const auto& s : *list) {
    json j = ScheduleJson(s);
    if (active_only && s.status != "Active") continue;
    if (!pipeline_id.empty() && j.value("pipeline_id", "") != pipeline_id) continue;
    if (!endpoint_id.empty() && j.value("pipeline_endpoint_id", "") != endpoint_id) continue;
    arr.push_back(std::move(j));
  }
  return Json(200, {{"schedules", arr}});
}

HandlerResult Api::Impl::GetSchedule() {
  auto s = d.store->Published().GetSchedule(P(0));
  if (!s.ok()) return Error(s.status());
  return Json(200, ScheduleJson(*s));
}

namespace {

// A schedule made Active at `now` fires next at its first slot from now on.
Status Activate(store::ScheduleRecord* r, const pipeline::ScheduleSpec& spec, double now,
                double minute_seconds) {
  FERRY_ASSIGN_OR_RETURN(r->next_fire,
                         ScheduleLoop::FirstFire(spec, r->created_at, now, minute_seconds));
  r->status = "Active";
  return Status::Ok();
}

}  // namespace

// PATCH /schedules/{id}: any of ScheduleToJson's fields (a new recurrence, parameters, a
// datastore's path...) and "status"; the definition is checked whole before it is stored.
HandlerResult Api::Impl::UpdateSchedule() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  std::optional<std::string> status;
  if (auto st = body->find("status"); st != body->end() && !st->is_null()) {
    if (!st->is_string() || (*st != "Active" && *st != "Disabled")) {
      return Bad("field 'status' must be \"Active\" or \"Disabled\"");
    }
    status = st->get<std::string>();
  }
  const double now = d.clock->Now();
  auto updated = d.store->Published().UpdateSchedule(P(0), [&](store::ScheduleRecord* r) -> Status {
    json merged = json::parse(r->spec, nullptr, false);
    if (!merged.is_object()) merged = json::object();
    bool timing = false;
    for (const auto& [k, v] : body->items()) {
      if (k == "status") continue;
      if (k == "pipeline_id" || k == "pipeline_endpoint_id") {
        if (v != merged.value(k, json(""))) {
          return Status::InvalidArgument("field '" + k +
                                         "' of a schedule cannot change; create a new schedule "
                                         "for another pipeline");
        }
        continue;
      }
      if (k == "recurrence" || k == "polling_interval" || k == "datastore_name" ||
          k == "path_on_datastore") {
        timing = true;
      }
      merged[k] = v;
    }
    FERRY_ASSIGN_OR_RETURN(pipeline::ScheduleSpec spec, pipeline::ScheduleFromJson(merged));
    FERRY_RETURN_IF_ERROR(pipeline::ValidateSchedule(spec));
    if (spec.name.empty()) return Status::InvalidArgument("field 'name' must not be empty");
    r->name = spec.name;
    r->spec = pipeline::ScheduleToJson(spec).dump();
    r->updated_at = now;
    if (timing && !spec.recurrence) r->poll_state.clear();  // a new watch starts afresh
    if (status == "Disabled") {
      r->status = "Disabled";
    } else if (status == "Active" || (timing && r->status == "Active")) {
      FERRY_RETURN_IF_ERROR(Activate(r, spec, now, d.schedule_minute_seconds));
    }
    return Status::Ok();
  });
  if (!updated.ok()) return Error(updated.status());
  d.scheduler->Wake();
  return Json(200, ScheduleJson(*updated));
}

HandlerResult Api::Impl::EnableSchedule() {
  const double now = d.clock->Now();
  auto updated = d.store->Published().UpdateSchedule(P(0), [&](store::ScheduleRecord* r) -> Status {
    if (r->status == "Active") return Status::Ok();
    FERRY_ASSIGN_OR_RETURN(pipeline::ScheduleSpec spec,
                           pipeline::ScheduleFromJson(json::parse(r->spec, nullptr, false)));
    r->updated_at = now;
    return Activate(r, spec, now, d.schedule_minute_seconds);
  });
  if (!updated.ok()) return Error(updated.status());
  d.scheduler->Wake();
  return Json(200, ScheduleJson(*updated));
}

HandlerResult Api::Impl::DisableSchedule() {
  auto updated = d.store->Published().UpdateSchedule(P(0), [&](store::ScheduleRecord* r) -> Status {
    r->status = "Disabled";
    r->updated_at = d.clock->Now();
    return Status::Ok();
  });
  if (!updated.ok()) return Error(updated.status());
  return Json(200, ScheduleJson(*updated));
}

// GET /schedules/{id}/runs[?limit=N]: the pipeline runs the schedule made, newest first.
HandlerResult Api::Impl::ScheduleRuns() {
  auto s = d.store->Published().GetSchedule(P(0));
  if (!s.ok()) return Error(s.status());
  model::RunFilter f;
  f.tags["ferry.schedule"] = s->id;
  f.include_children = false;
  if (const std::string limit = req.Query("limit"); !limit.empty()) {
    auto n = ParseCount(limit);
    if (!n || *n == 0 || *n > 1000) return Bad("query 'limit' must be a number from 1 to 1000");
    f.limit = static_cast<int>(*n);
  }
  auto runs = d.store->ListRuns(f);
  if (!runs.ok()) return Error(runs.status());
  json arr = json::array();
  for (const auto& r : *runs) arr.push_back(RunToJson(r));
  return Json(200, {{"runs", arr}});
}

}  // namespace ferry::server
