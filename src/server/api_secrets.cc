// REST handlers of the workspace's secrets (Azure ML's workspace Key Vault): /secrets,
// /secrets/{name}, /secrets/fetch. Values are sealed (common/seal.h) before they reach the
// store and unsealed only to answer a read of that value; no listing, log line or error message
// carries one. Who may do what: docs/security.md (writes: contributors; values: contributors
// and a running run's script; names: any person).
#include <nlohmann/json.hpp>

#include "model/run.h"
#include "server/api_internal.h"
#include "store/secret_store.h"

namespace ferry::server {

using net::HandlerResult;
using nlohmann::json;

namespace {

// Azure Key Vault's limit on a secret's value.
constexpr size_t kMaxSecretValueBytes = 25 * kKiB;
constexpr const char* kNoContentType = "application/NotProvided";

json SecretJson(const store::SecretRecord& s) {  // never the value
  return {{"name", s.name},
          {"content_type", s.content_type},
          {"updated_by", s.updated_by},
          {"created_at", s.created_at},
          {"updated_at", s.updated_at}};
}

// The value of secret `name` from a request's JSON: a string of at most 25 KiB. The error
// names the secret and the field, never the value.
Result<std::string> SecretValue(const std::string& name, const json& v, const std::string& field) {
  if (!v.is_string()) {
    return Status::InvalidArgument("secret '" + name + "': " + field + " must be a string (got " +
                                   std::string(v.type_name()) + ")");
  }
  std::string value = v.get<std::string>();
  if (value.size() > kMaxSecretValueBytes) {
    return Status::InvalidArgument("secret '" + name + "': the value is " +
                                   std::to_string(value.size()) + " bytes; at most " +
                                   std::to_string(kMaxSecretValueBytes) +
                                   " (Azure Key Vault's limit): keep larger data in a datastore");
  }
  return value;
}

}  // namespace

// A run's script (its MLflow token, admitted for the run in X-Ferry-Run) reads values only
// while that run has not ended: a token that outlives its run (copied into a log, an output)
// opens nothing.
Status Api::Impl::MayReadSecrets() {
  if (caller.person()) return Status::Ok();
  const std::string run_id = req.Header("x-ferry-run");
  auto run = d.store->GetRun(run_id);
  if (!run.ok()) return run.status();
  if (model::IsTerminal(run->status)) {
    return Status::PermissionDenied("run '" + run_id + "' has ended (" +
                                    model::RunStatusName(run->status) +
                                    "); its token reads secrets only while it runs");
  }
  return Status::Ok();
}

Result<std::string> Api::Impl::OpenSecret(const std::string& name) {
  FERRY_RETURN_IF_ERROR(store::ValidateSecretName(name));
  FERRY_ASSIGN_OR_RETURN(auto rec, d.store->Secrets().GetSecret(name));
  if (d.sealer == nullptr) return Status::Internal("this server cannot open sealed secrets");
  auto value = d.sealer->Unseal(rec.sealed_value);
  if (!value.ok()) return value.status().WithContext("secret '" + name + "'");
  return value;
}

HandlerResult Api::Impl::ListSecrets() {
  auto list = d.store->Secrets().ListSecrets();
  if (!list.ok()) return Error(list.status());
  json arr = json::array();
  for (const auto& s : *list) arr.push_back(SecretJson(s));
  return Json(200, {{"secrets", arr}});
}

// Body: {"value": "...", "content_type": "..."}; creates the secret or replaces its value.
HandlerResult Api::Impl::PutSecret() {
  const std::string& name = P(0);
  Status valid = store::ValidateSecretName(name);
  if (!valid.ok()) return Error(valid);
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto v = body->find("value");
  if (v == body->end()) {
    return Bad("secret '" + name + "': field 'value' is required: the secret's value");
  }
  auto value = SecretValue(name, *v, "field 'value'");
  if (!value.ok()) return Error(value.status());
  auto content_type = StringField(*body, "content_type", false);
  if (!content_type.ok()) return Error(content_type.status());
  if (d.sealer == nullptr) return Error(Status::Internal("this server cannot seal secrets"));
  const double now = d.clock->Now();
  store::SecretRecord rec{name,
                          d.sealer->Seal(*value),
                          content_type->empty() ? kNoContentType : *content_type,
                          user_name,
                          now,
                          now};
  Status s = d.store->Secrets().PutSecrets({rec});
  if (!s.ok()) return Error(s);
  auto stored = d.store->Secrets().GetSecret(name);
  if (!stored.ok()) return Error(stored.status());
  return Json(200, SecretJson(*stored));
}

// Body: {"secrets": {"name": "value", ...}}; all of them or none.
HandlerResult Api::Impl::PutSecrets() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto m = body->find("secrets");
  if (m == body->end() || !m->is_object()) {
    return Bad("field 'secrets' is required: an object of secret names and their values");
  }
  if (d.sealer == nullptr) return Error(Status::Internal("this server cannot seal secrets"));
  const double now = d.clock->Now();
  std::vector<store::SecretRecord> recs;
  for (const auto& [name, v] : m->items()) {
    Status valid = store::ValidateSecretName(name);
    if (!valid.ok()) return Error(valid.WithContext("field 'secrets'"));
    auto value = SecretValue(name, v, "its value in field 'secrets'");
    if (!value.ok()) return Error(value.status());
    recs.push_back({name, d.sealer->Seal(*value), kNoContentType, user_name, now, now});
  }
  Status s = d.store->Secrets().PutSecrets(recs);
  if (!s.ok()) return Error(s);
  json names = json::array();
  for (const auto& r : recs) names.push_back(r.name);
  return Json(200, {{"names", names}});
}

HandlerResult Api::Impl::GetSecret() {
  if (Status may = MayReadSecrets(); !may.ok()) return Error(may);
  auto rec = d.store->Secrets().GetSecret(P(0));
  if (!rec.ok()) {
    Status valid = store::ValidateSecretName(P(0));
    return Error(valid.ok() ? rec.status() : valid);
  }
  auto value = OpenSecret(P(0));
  if (!value.ok()) return Error(value.status());
  json j = SecretJson(*rec);
  j["value"] = *value;
  return Json(200, j);
}

// Body: {"names": [...]}; answers {"secrets": {name: value}, "not_found": [names]}.
HandlerResult Api::Impl::FetchSecrets() {
  if (Status may = MayReadSecrets(); !may.ok()) return Error(may);
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto names = body->find("names");
  if (names == body->end() || !names->is_array()) {
    return Bad("field 'names' is required: a list of secret names");
  }
  json found = json::object();
  json missing = json::array();
  for (const auto& n : *names) {
    if (!n.is_string()) return Bad("field 'names': " + Shown(n) + " is not a secret name");
    const std::string name = n.get<std::string>();
    Status valid = store::ValidateSecretName(name);
    if (!valid.ok()) return Error(valid.WithContext("field 'names'"));
    auto value = OpenSecret(name);
    if (value.ok()) {
      found[name] = *value;
    } else if (value.status().code() == StatusCode::kNotFound) {
      missing.push_back(name);
    } else {
      return Error(value.status());
    }
  }
  return Json(200, {{"secrets", found}, {"not_found", missing}});
}

HandlerResult Api::Impl::DeleteSecret() {
  Status valid = store::ValidateSecretName(P(0));
  if (!valid.ok()) return Error(valid);
  Status s = d.store->Secrets().DeleteSecret(P(0));
  if (!s.ok()) return Error(s);
  return Json(200, {{"name", P(0)}, {"deleted", true}});
}

}  // namespace ferry::server
