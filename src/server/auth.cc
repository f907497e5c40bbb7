// Tokens, roles and the user directory.
#include "server/auth.h"

#include "common/crypto.h"

namespace ferry::server {

const char* RoleName(Role r) {
  switch (r) {
    case Role::kReader:
      return "reader";
    case Role::kContributor:
      return "contributor";
    case Role::kAdmin:
      return "admin";
  }
  return "reader";
}

Result<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kReader, Role::kContributor, Role::kAdmin}) {
    if (name == RoleName(r)) return r;
  }
  return Status::InvalidArgument("role '" + std::string(name) +
                                 "' is not one of: reader, contributor, admin");
}

Status UserDirectory::Reload() {
  FERRY_ASSIGN_OR_RETURN(auto users, store_->ListUsers());
  std::unordered_map<std::string, store::UserRecord> by_hash;
  for (auto& u : users) by_hash.emplace(u.token_hash, std::move(u));
  MutexLock lock(&mu_);
  by_hash_ = std::move(by_hash);
  return Status::Ok();
}

std::optional<store::UserRecord> UserDirectory::ByToken(std::string_view token) const {
  // Users' tokens are "fu_" + 48 hex digits; anything else is not looked up.
  if (token.size() < 32 || token.substr(0, 3) != "fu_") return std::nullopt;
  const std::string hash = Sha256Hex(token);
  MutexLock lock(&mu_);
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  return it->second;
}

Result<Caller> IdentifyCaller(const net::HttpRequest& req, std::string_view workspace_token,
                              const UserDirectory& users) {
  const std::string auth = req.Header("authorization");
  constexpr std::string_view kPrefix = "Bearer ";
  if (auth.size() <= kPrefix.size() ||
      std::string_view(auth).substr(0, kPrefix.size()) != kPrefix) {
    return Status::Unauthenticated(
        "missing 'Authorization: Bearer <token>'; the workspace token is in the workspace home's "
        "'token' "
        "file, a user's token comes from 'ferry user add' (MLflow clients: MLFLOW_TRACKING_TOKEN)");
  }
  Caller c;
  std::string token = auth.substr(kPrefix.size());
  if (ConstantTimeEquals(token, workspace_token)) {
    c.kind = Caller::Kind::kWorkspace;
    c.role = Role::kAdmin;
    return c;
  }
  if (auto u = users.ByToken(token)) {
    auto role = ParseRole(u->role);
    c.kind = Caller::Kind::kUser;
    c.role = role.ok() ? *role : Role::kReader;  // an unknown stored role grants the least
    c.name = u->name;
    return c;
  }
  c.kind = Caller::Kind::kRunToken;
  c.token = std::move(token);
  return c;
}

}  // namespace ferry::server
