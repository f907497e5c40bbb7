// SecretStore on the SQLite store: the workspace's secrets, sealed by the caller (the store
// never sees a plaintext value).
#include "store/sqlite_store_internal.h"

namespace ferry::store {

Status ValidateSecretName(const std::string& name) {
  const char* rule =
      "a secret name is 1 to 127 characters, each an ASCII letter, digit or '-' (Azure Key "
      "Vault's rule)";
  if (name.empty())
    return Status::InvalidArgument(std::string("the secret name is empty; ") + rule);
  if (name.size() > kMaxSecretNameLength) {
    return Status::InvalidArgument("secret name '" + name.substr(0, 40) + "...' is " +
                                   std::to_string(name.size()) + " characters long; " + rule);
  }
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return Status::InvalidArgument("secret name '" + name + "' is not valid: " + rule);
  }
  return Status::Ok();
}

Status SqliteMetadataStore::PutSecrets(const std::vector<SecretRecord>& secrets) {
  for (const auto& s : secrets) FERRY_RETURN_IF_ERROR(ValidateSecretName(s.name));
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(
        Stmt put,
        db().Prepare("INSERT INTO secrets VALUES(?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET "
                     "sealed_value=excluded.sealed_value, content_type=excluded.content_type, "
                     "updated_by=excluded.updated_by, updated_at=excluded.updated_at"));
    for (const auto& s : secrets) {
      put.Reset();
      FERRY_RETURN_IF_ERROR(put.Bind(1, s.name)
                                .Bind(2, s.sealed_value)
                                .Bind(3, s.content_type)
                                .Bind(4, s.updated_by)
                                .Bind(5, s.created_at)
                                .Bind(6, s.updated_at)
                                .Run());
    }
    return Status::Ok();
  });
}

Result<SecretRecord> SqliteMetadataStore::GetSecret(const std::string& name) {
  auto lease = ReadOne();
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT name, sealed_value, content_type, "
                                               "updated_by, created_at, updated_at FROM secrets "
                                               "WHERE name=?"));
  st.Bind(1, name);
  FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) {
    return Status::NotFound("secret '" + name +
                            "' does not exist in the workspace; set it first "
                            "(keyvault.set_secret) or see keyvault.list_secrets()");
  }
  return SecretRecord{st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Double(4), st.Double(5)};
}

Result<std::vector<SecretRecord>> SqliteMetadataStore::ListSecrets() {
  auto lease = ReadOne();
  FERRY_ASSIGN_OR_RETURN(Stmt st,
                         db().Prepare("SELECT name, content_type, updated_by, "
                                      "created_at, updated_at FROM secrets ORDER BY name"));
  std::vector<SecretRecord> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.Text(0), "", st.Text(1), st.Text(2), st.Double(3), st.Double(4)});
  }
  return out;
}

Status SqliteMetadataStore::DeleteSecret(const std::string& name) {
  WriteLease lease(this, /*data=*/false);
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("DELETE FROM secrets WHERE name=?"));
  FERRY_RETURN_IF_ERROR(st.Bind(1, name).Run());
  if (db().Changes() == 0) {
    return Status::NotFound("secret '" + name +
                            "' does not exist in the workspace; see keyvault.list_secrets()");
  }
  return Status::Ok();
}

}  // namespace ferry::store
