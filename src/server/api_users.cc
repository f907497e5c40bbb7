// REST handlers of named users and their roles: /users.
#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "server/api_internal.h"

namespace ferry::server {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

namespace {

json UserJson(const store::UserRecord& u) {
  return {{"name", u.name}, {"role", u.role}, {"created_at", u.created_at}};
}

Result<Role> RoleField(const json& body, Role def) {
  FERRY_ASSIGN_OR_RETURN(std::string role, StringField(body, "role", false));
  if (role.empty()) return def;
  auto r = ParseRole(role);
  if (!r.ok()) return r.status().WithContext("field 'role'");
  return r;
}

}  // namespace

HandlerResult Api::Impl::ListUsers() {
  auto users = d.store->ListUsers();
  if (!users.ok()) return Error(users.status());
  json arr = json::array();
  for (auto& u : *users) arr.push_back(UserJson(u));
  return Json(200, {{"users", arr}});
}

HandlerResult Api::Impl::CreateUser() {
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

HandlerResult Api::Impl::UpdateUser() {
  auto body = ParseBody(req);
  if (!body.ok()) return Error(body.status());
  auto role = RoleField(*body, Role::kReader);
  if (!role.ok()) return Error(role.status());
  if (!body->contains("role")) return Bad("field 'role' is required: reader, contributor or admin");
  Status st = d.store->SetUserRole(P(0), RoleName(*role));
  if (st.ok() && d.users) st = d.users->Reload();
  if (!st.ok()) return Error(st);
  return Json(200, {{"name", P(0)}, {"role", RoleName(*role)}});
}

HandlerResult Api::Impl::DeleteUser() {
  Status st = d.store->DeleteUser(P(0));
  if (st.ok() && d.users) st = d.users->Reload();
  if (!st.ok()) return Error(st);
  return Json(200, {{"name", P(0)}, {"deleted", true}});
}

}  // namespace ferry::server
