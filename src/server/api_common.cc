// What every REST handler shares: replies, request parsing, and the per-request context (who
// may change a run, whether it still takes data).
#include <charconv>
#include <nlohmann/json.hpp>

#include "server/api_internal.h"

namespace ferry::server {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

namespace {

// An agent's last shipment after its run ended (it may still be flushing when the server
// ends the run, e.g. on a cancel): accepted for this long, then refused.
constexpr double kFinalFlushSeconds = 120;

int HttpStatusFor(StatusCode c) {
  switch (c) {
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
      return 409;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kIoError:
      return 507;
    default:
      return 500;
  }
}

}  // namespace

HttpResponse Json(int status, const json& j) {
  HttpResponse r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpResponse Error(const Status& st, json extra) {
  extra["code"] = StatusCodeName(st.code());
  extra["message"] = st.message();
  return Json(HttpStatusFor(st.code()), {{"error", extra}});
}

HttpResponse Bad(const std::string& msg) { return Error(Status::InvalidArgument(msg)); }

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

std::string Shown(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

std::optional<uint64_t> ParseCount(std::string_view s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

Result<int64_t> AssetVersion(const std::string& what, const std::string& s) {
  if (s == "latest" || s.empty()) return int64_t{0};
  auto v = ParseCount(s);
  if (!v || *v < 1 || *v > (uint64_t{1} << 62)) {
    return Status::InvalidArgument(what + " version must be a positive integer or 'latest', got '" +
                                   s + "'");
  }
  return static_cast<int64_t>(*v);
}

void Api::Impl::Changed(const std::string& run_id) {
  if (d.notify) d.notify(RunChannel(run_id));
}

Status Api::Impl::MayChange(const model::Run& r) {
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

Status Api::Impl::AcceptsData(const model::Run& r) {
  if (!model::IsTerminal(r.status)) return Status::Ok();
  if (!agent_run.empty() && d.clock->Now() - r.ended_at <= kFinalFlushSeconds) return Status::Ok();
  return Status::FailedPrecondition("run '" + r.id + "' has ended (" +
                                    model::RunStatusName(r.status) +
                                    "); it takes no more logs, metrics, tags or outputs");
}

HttpResponse Api::Impl::Ended(const model::Run& r, const Status& st) {
  return Error(st, {{"status", model::RunStatusName(r.status)}});
}

Result<model::Run> Api::Impl::RunForWrite(bool data) {
  FERRY_ASSIGN_OR_RETURN(model::Run r, d.store->GetRun(P(0)));
  FERRY_RETURN_IF_ERROR(MayChange(r));
  if (data) FERRY_RETURN_IF_ERROR(AcceptsData(r));
  return r;
}

HttpResponse Api::Impl::WriteRefused(const Status& st) {
  if (st.code() == StatusCode::kFailedPrecondition) {
    auto r = d.store->GetRun(P(0));
    if (r.ok()) return Ended(*r, st);
  }
  return Error(st);
}

}  // namespace ferry::server
