// SqliteMetadataStore's registered environments and snapshots.
#include "store/sqlite_store_internal.h"

namespace ferry::store {

using model::Run;
using model::RunStatus;
using nlohmann::json;

Result<model::RegisteredEnvironment> SqliteMetadataStore::RegisterEnvironment(
    const model::RegisteredEnvironment& env, double now, bool* created) {
  WriteLease lease(this, /*data=*/false);
  FERRY_ASSIGN_OR_RETURN(
      auto latest,
      ReadEnvironments("SELECT * FROM environments WHERE name=?1 ORDER BY version DESC LIMIT 1",
                       env.name, 0));
  if (!latest.empty() && latest[0].hash == env.hash) {
    *created = false;
    return latest[0];
  }
  model::RegisteredEnvironment e = env;
  e.version = latest.empty() ? 1 : latest[0].version + 1;
  e.created_at = now;
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("INSERT INTO environments VALUES(?,?,?,?,?,?,?)"));
  FERRY_RETURN_IF_ERROR(st.Bind(1, e.name)
                            .Bind(2, e.version)
                            .Bind(3, e.type)
                            .Bind(4, e.content)
                            .Bind(5, e.hash)
                            .Bind(6, e.description)
                            .Bind(7, now)
                            .Run());
  *created = true;
  return e;
}

Result<model::RegisteredEnvironment> SqliteMetadataStore::GetEnvironment(const std::string& name,
                                                                         int64_t version) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(
      auto found,
      ReadEnvironments(
          version > 0 ? "SELECT * FROM environments WHERE name=?1 AND version=?2"
                      : "SELECT * FROM environments WHERE name=?1 ORDER BY version DESC LIMIT 1",
          name, version));
  if (found.empty()) {
    return Status::NotFound("environment '" + name + "'" +
                            (version > 0 ? " version " + std::to_string(version) : std::string()) +
                            " is not registered; see 'ferry environment list'");
  }
  return found[0];
}

Result<std::vector<model::RegisteredEnvironment>> SqliteMetadataStore::ListEnvironments(
    const std::string& name) {
  auto lease = Read();
  if (!name.empty())
    return ReadEnvironments("SELECT * FROM environments WHERE name=?1 ORDER BY version", name, 0);
  return ReadEnvironments(
      "SELECT e.* FROM environments e WHERE e.version = "
      "(SELECT MAX(version) FROM environments WHERE name = e.name) ORDER BY e.name",
      "", 0);
}

Status SqliteMetadataStore::PutSnapshot(const std::string& id, int64_t files, int64_t bytes,
                                        double now) {
  WriteLease lease(this, /*data=*/false);
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("INSERT OR IGNORE INTO snapshots VALUES(?,?,?,?)"));
  return st.Bind(1, id).Bind(2, files).Bind(3, bytes).Bind(4, now).Run();
}

Result<std::optional<SnapshotRecord>> SqliteMetadataStore::GetSnapshot(const std::string& id) {
  auto lease = ReadOne();
  FERRY_ASSIGN_OR_RETURN(Stmt st,
                         db().Prepare("SELECT file_count, total_bytes FROM snapshots WHERE id=?"));
  st.Bind(1, id);
  FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<SnapshotRecord>();
  return std::optional<SnapshotRecord>(SnapshotRecord{st.Int(0), st.Int(1)});
}

Result<std::vector<model::RegisteredEnvironment>> SqliteMetadataStore::ReadEnvironments(
    const char* sql, const std::string& name, int64_t version) {
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql));
  if (!name.empty()) st.Bind(1, name);
  if (version > 0) st.Bind(2, version);
  std::vector<model::RegisteredEnvironment> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(
        {st.Text(0), st.Int(1), st.Text(2), st.Text(3), st.Text(4), st.Text(5), st.Double(6)});
  }
  return out;
}

}  // namespace ferry::store
