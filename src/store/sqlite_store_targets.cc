// SqliteMetadataStore's compute targets.
#include "store/sqlite_store_internal.h"

namespace ferry::store {

using model::Run;
using model::RunStatus;
using nlohmann::json;

Status SqliteMetadataStore::EnsureTarget(const model::ComputeTargetRecord& t) {
  WriteLease lease(this, /*data=*/false);
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("INSERT OR IGNORE INTO compute_targets(name, "
                                               "kind, config, created_at) VALUES(?,?,?,?)"));
  return st.Bind(1, t.name).Bind(2, t.kind).Bind(3, t.config_json).Bind(4, t.created_at).Run();
}

Status SqliteMetadataStore::CreateTarget(const model::ComputeTargetRecord& t) {
  WriteLease lease(this, /*data=*/false);
  FERRY_ASSIGN_OR_RETURN(
      Stmt st,
      db().Prepare("INSERT INTO compute_targets(name, kind, config, created_at) VALUES(?,?,?,?)"));
  Status s = st.Bind(1, t.name).Bind(2, t.kind).Bind(3, t.config_json).Bind(4, t.created_at).Run();
  if (s.code() == StatusCode::kAlreadyExists) {
    return Status::AlreadyExists("compute target '" + t.name +
                                 "' exists already; detach it first or choose another name");
  }
  return s;
}

Status SqliteMetadataStore::UpdateTargetConfig(const std::string& name,
                                               const std::string& config_json) {
  WriteLease lease(this, /*data=*/false);
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("UPDATE compute_targets SET config=? WHERE name=?"));
  FERRY_RETURN_IF_ERROR(st.Bind(1, config_json).Bind(2, name).Run());
  if (db().Changes() == 0) return Status::NotFound("compute target '" + name + "' does not exist");
  return Status::Ok();
}

Status SqliteMetadataStore::DeleteTarget(const std::string& name) {
  WriteLease lease(this, /*data=*/false);
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("DELETE FROM compute_targets WHERE name=?"));
  FERRY_RETURN_IF_ERROR(st.Bind(1, name).Run());
  if (db().Changes() == 0) return Status::NotFound("compute target '" + name + "' does not exist");
  return Status::Ok();
}

Result<model::ComputeTargetRecord> SqliteMetadataStore::GetTarget(const std::string& name) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(
      Stmt st,
      db().Prepare("SELECT name, kind, config, created_at FROM compute_targets WHERE name=?"));
  st.Bind(1, name);
  FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row)
    return Status::NotFound("compute target '" + name +
                            "' does not exist; see 'ferry compute list'");
  return model::ComputeTargetRecord{st.Text(0), st.Text(1), st.Text(2), st.Double(3)};
}

Result<std::vector<model::ComputeTargetRecord>> SqliteMetadataStore::ListTargets() {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(
      Stmt st,
      db().Prepare("SELECT name, kind, config, created_at FROM compute_targets ORDER BY name"));
  std::vector<model::ComputeTargetRecord> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.Text(0), st.Text(1), st.Text(2), st.Double(3)});
  }
  return out;
}

}  // namespace ferry::store
