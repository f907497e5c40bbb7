// SqliteMetadataStore's experiments (MLflow's among them, with their tags) and named users.
#include "store/sqlite_store_internal.h"

namespace ferry::store {

using model::Run;
using model::RunStatus;
using nlohmann::json;

namespace {

model::Experiment MakeExperiment(int64_t id, std::string name, double created_at) {
  model::Experiment e;
  e.id = id;
  e.name = std::move(name);
  e.created_at = created_at;
  e.last_update_time = created_at;
  return e;
}

}  // namespace

Result<model::Experiment> SqliteMetadataStore::CreateExperiment(const std::string& name, double now,
                                                                const std::string& created_by) {
  WriteLease lease(this, /*data=*/false);
  FERRY_RETURN_IF_ERROR(model::ValidateExperimentName(name));
  FERRY_ASSIGN_OR_RETURN(
      Stmt st, db().Prepare("INSERT INTO experiments(name, created_at, created_by) VALUES(?,?,?)"));
  st.Bind(1, name).Bind(2, now).Bind(3, created_by);
  Status s = st.Run();
  if (s.code() == StatusCode::kAlreadyExists)
    return Status::AlreadyExists("experiment '" + name + "' already exists");
  FERRY_RETURN_IF_ERROR(s);
  model::Experiment e = MakeExperiment(db().LastInsertRowid(), name, now);
  e.created_by = created_by;
  return e;
}

Result<model::Experiment> SqliteMetadataStore::CreateExperimentWith(
    const std::string& name, const std::string& artifact_location,
    const std::map<std::string, std::string>& tags, double now, const std::string& created_by) {
  WriteLease lease(this, /*data=*/false);
  FERRY_RETURN_IF_ERROR(model::ValidateExperimentName(name));
  FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
  Result<model::Experiment> e = [&]() -> Result<model::Experiment> {
    FERRY_ASSIGN_OR_RETURN(
        Stmt st,
        db().Prepare("INSERT INTO experiments(name, created_at, "
                     "last_update_time, artifact_location, created_by) VALUES(?,?,?,?,?)"));
    Status s = st.Bind(1, name)
                   .Bind(2, now)
                   .Bind(3, now)
                   .Bind(4, artifact_location)
                   .Bind(5, created_by)
                   .Run();
    if (s.code() == StatusCode::kAlreadyExists)
      return Status::AlreadyExists("experiment '" + name + "' already exists");
    FERRY_RETURN_IF_ERROR(s);
    model::Experiment out = MakeExperiment(db().LastInsertRowid(), name, now);
    out.artifact_location = artifact_location;
    out.tags = tags;
    out.created_by = created_by;
    FERRY_ASSIGN_OR_RETURN(Stmt tag,
                           db().Prepare("INSERT OR REPLACE INTO experiment_tags VALUES(?,?,?)"));
    for (const auto& [k, v] : tags)
      FERRY_RETURN_IF_ERROR(tag.Bind(1, out.id).Bind(2, k).Bind(3, v).Run());
    return out;
  }();
  if (!e.ok()) {
    (void)db().Exec("ROLLBACK");
    return e;
  }
  FERRY_RETURN_IF_ERROR(Commit());
  return e;
}

Result<model::Experiment> SqliteMetadataStore::EnsureExperiment(const std::string& name,
                                                                double now) {
  WriteLease lease(this, /*data=*/false);
  return EnsureExperimentLocked(name, now, "");
}

Result<std::vector<model::Experiment>> SqliteMetadataStore::ListExperiments() {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT id, name, created_at, lifecycle_stage, "
                                               "last_update_time, artifact_location, created_by "
                                               "FROM experiments ORDER BY name"));
  std::vector<model::Experiment> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    model::Experiment e = MakeExperiment(st.Int(0), st.Text(1), st.Double(2));
    e.lifecycle_stage = st.Text(3);
    e.last_update_time = st.Double(4) > 0 ? st.Double(4) : e.created_at;
    e.artifact_location = st.Text(5);
    e.created_by = st.Text(6);
    out.push_back(std::move(e));
  }
  for (auto& e : out) {
    FERRY_ASSIGN_OR_RETURN(
        e.tags, ReadKv("SELECT key, value FROM experiment_tags WHERE eid=? ORDER BY key", e.id));
  }
  return out;
}

Status SqliteMetadataStore::UpdateExperiment(int64_t id, const std::optional<std::string>& name,
                                             const std::optional<std::string>& lifecycle_stage,
                                             double now) {
  WriteLease lease(this, /*data=*/false);
  if (name) FERRY_RETURN_IF_ERROR(model::ValidateExperimentName(*name));
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("UPDATE experiments SET name=COALESCE(?2, name), "
                                               "lifecycle_stage=COALESCE(?3, lifecycle_stage), "
                                               "last_update_time=?4 WHERE id=?1"));
  st.Bind(1, id).Bind(4, now);
  if (name) st.Bind(2, *name);
  if (lifecycle_stage) st.Bind(3, *lifecycle_stage);
  Status s = st.Run();
  if (s.code() == StatusCode::kAlreadyExists)
    return Status::AlreadyExists("experiment '" + *name + "' already exists");
  FERRY_RETURN_IF_ERROR(s);
  if (db().Changes() == 0)
    return Status::NotFound("experiment " + std::to_string(id) + " does not exist");
  return Status::Ok();
}

Status SqliteMetadataStore::SetExperimentTag(int64_t id, const std::string& key,
                                             const std::string& value, double now) {
  WriteLease lease(this, /*data=*/false);
  FERRY_ASSIGN_OR_RETURN(Stmt q,
                         db().Prepare("UPDATE experiments SET last_update_time=?2 WHERE id=?1"));
  FERRY_RETURN_IF_ERROR(q.Bind(1, id).Bind(2, now).Run());
  if (db().Changes() == 0)
    return Status::NotFound("experiment " + std::to_string(id) + " does not exist");
  FERRY_ASSIGN_OR_RETURN(Stmt st,
                         db().Prepare("INSERT OR REPLACE INTO experiment_tags VALUES(?,?,?)"));
  return st.Bind(1, id).Bind(2, key).Bind(3, value).Run();
}

Status SqliteMetadataStore::DeleteExperimentTag(int64_t id, const std::string& key, double now) {
  WriteLease lease(this, /*data=*/false);
  FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
  Status s = [&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(Stmt del,
                           db().Prepare("DELETE FROM experiment_tags WHERE eid=? AND key=?"));
    FERRY_RETURN_IF_ERROR(del.Bind(1, id).Bind(2, key).Run());
    if (db().Changes() == 0) {
      return Status::NotFound("No tag with name: " + key + " in experiment with id " +
                              std::to_string(id));
    }
    FERRY_ASSIGN_OR_RETURN(Stmt up,
                           db().Prepare("UPDATE experiments SET last_update_time=?2 WHERE id=?1"));
    return up.Bind(1, id).Bind(2, now).Run();
  }();
  if (!s.ok()) {
    (void)db().Exec("ROLLBACK");
    return s;
  }
  return Commit();
}

Status SqliteMetadataStore::CreateUser(const UserRecord& u) {
  WriteLease lease(this, /*data=*/false);
  FERRY_ASSIGN_OR_RETURN(
      Stmt st,
      db().Prepare("INSERT INTO users(name, token_hash, created_at, role) VALUES(?,?,?,?)"));
  Status s = st.Bind(1, u.name).Bind(2, u.token_hash).Bind(3, u.created_at).Bind(4, u.role).Run();
  if (s.code() == StatusCode::kAlreadyExists)
    return Status::AlreadyExists("user '" + u.name + "' exists already");
  return s;
}

Result<std::vector<UserRecord>> SqliteMetadataStore::ListUsers() {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(
      Stmt st, db().Prepare("SELECT name, role, token_hash, created_at FROM users ORDER BY name"));
  std::vector<UserRecord> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.Text(0), st.Text(1), st.Text(2), st.Double(3)});
  }
  return out;
}

Status SqliteMetadataStore::SetUserRole(const std::string& name, const std::string& role) {
  WriteLease lease(this, /*data=*/false);
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("UPDATE users SET role=? WHERE name=?"));
  FERRY_RETURN_IF_ERROR(st.Bind(1, role).Bind(2, name).Run());
  if (db().Changes() == 0) return Status::NotFound("no user '" + name + "'; see 'ferry user list'");
  return Status::Ok();
}

Status SqliteMetadataStore::DeleteUser(const std::string& name) {
  WriteLease lease(this, /*data=*/false);
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("DELETE FROM users WHERE name=?"));
  FERRY_RETURN_IF_ERROR(st.Bind(1, name).Run());
  if (db().Changes() == 0) return Status::NotFound("no user '" + name + "'; see 'ferry user list'");
  return Status::Ok();
}

// A new experiment belongs to created_by (the user whose run made it).
Result<model::Experiment> SqliteMetadataStore::EnsureExperimentLocked(
    const std::string& name, double now, const std::string& created_by) {
  FERRY_RETURN_IF_ERROR(model::ValidateExperimentName(name));
  FERRY_ASSIGN_OR_RETURN(
      Stmt ins,
      db().Prepare(
          "INSERT OR IGNORE INTO experiments(name, created_at, created_by) VALUES(?,?,?)"));
  FERRY_RETURN_IF_ERROR(ins.Bind(1, name).Bind(2, now).Bind(3, created_by).Run());
  FERRY_ASSIGN_OR_RETURN(Stmt q,
                         db().Prepare("SELECT id, created_at FROM experiments WHERE name=?"));
  q.Bind(1, name);
  FERRY_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return Status::Internal("experiment vanished: " + name);
  return MakeExperiment(q.Int(0), name, q.Double(1));
}

}  // namespace ferry::store
