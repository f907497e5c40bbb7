// PublishedPipelineStore on the SQLite store: published pipelines, pipeline endpoints with their
// versions, and schedules with the schedule loop's state (published_store.h).
#include "store/sqlite_store_internal.h"

namespace ferry::store {

namespace {

constexpr const char* kPipelineColumns =
    "id, name, description, version, spec, status, continue_on_step_failure, created_by, "
    "created_at";

PublishedPipelineRecord PipelineRow(const Stmt& st) {
  PublishedPipelineRecord p;
  p.id = st.Text(0);
  p.name = st.Text(1);
  p.description = st.Text(2);
  p.version = st.Text(3);
  p.spec = st.Text(4);
  p.status = st.Text(5);
  p.continue_on_step_failure = st.Int(6) != 0;
  p.created_by = st.Text(7);
  p.created_at = st.Double(8);
  return p;
}

constexpr const char* kEndpointColumns =
    "id, name, description, default_version, status, created_by, created_at";

PipelineEndpointRecord EndpointRow(const Stmt& st) {
  PipelineEndpointRecord e;
  e.id = st.Text(0);
  e.name = st.Text(1);
  e.description = st.Text(2);
  e.default_version = st.Int(3);
  e.status = st.Text(4);
  e.created_by = st.Text(5);
  e.created_at = st.Double(6);
  return e;
}

constexpr const char* kScheduleColumns =
    "id, name, spec, status, next_fire, pending_fire, last_fire, last_run_id, poll_state, "
    "created_by, created_at, updated_at";

ScheduleRecord ScheduleRow(const Stmt& st) {
  ScheduleRecord s;
  s.id = st.Text(0);
  s.name = st.Text(1);
  s.spec = st.Text(2);
  s.status = st.Text(3);
  s.next_fire = st.Double(4);
  s.pending_fire = st.Double(5);
  s.last_fire = st.Double(6);
  s.last_run_id = st.Text(7);
  s.poll_state = st.Text(8);
  s.created_by = st.Text(9);
  s.created_at = st.Double(10);
  s.updated_at = st.Double(11);
  return s;
}

Status PipelineNotFound(const std::string& id) {
  return Status::NotFound("published pipeline '" + id +
                          "' does not exist; see 'ferry pipeline list'");
}

Status EndpointNotFound(const std::string& id) {
  return Status::NotFound("pipeline endpoint '" + id +
                          "' does not exist (by id or name); see GET /api/v1/pipeline-endpoints");
}

Status ScheduleNotFound(const std::string& id) {
  return Status::NotFound("schedule '" + id +
                          "' does not exist; see 'ferry pipeline show-schedule' or GET "
                          "/api/v1/schedules");
}

Status CheckStatusValue(const std::string& status) {
  if (status == "Active" || status == "Disabled") return Status::Ok();
  return Status::InvalidArgument("status '" + status + "' is neither Active nor Disabled");
}

}  // namespace

Status SqliteMetadataStore::CreatePublishedPipeline(const PublishedPipelineRecord& p) {
  FERRY_RETURN_IF_ERROR(CheckStatusValue(p.status));
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(Stmt have, db().Prepare("SELECT 1 FROM published_pipelines WHERE id=?"));
    have.Bind(1, p.id);
    FERRY_ASSIGN_OR_RETURN(bool exists, have.Step());
    if (exists) return Status::AlreadyExists("published pipeline '" + p.id + "' exists already");
    FERRY_ASSIGN_OR_RETURN(
        Stmt ins, db().Prepare(std::string("INSERT INTO published_pipelines(") + kPipelineColumns +
                               ") VALUES(?,?,?,?,?,?,?,?,?)"));
    return ins.Bind(1, p.id)
        .Bind(2, p.name)
        .Bind(3, p.description)
        .Bind(4, p.version)
        .Bind(5, p.spec)
        .Bind(6, p.status)
        .Bind(7, p.continue_on_step_failure ? 1 : 0)
        .Bind(8, p.created_by)
        .Bind(9, p.created_at)
        .Run();
  });
}

Result<PublishedPipelineRecord> SqliteMetadataStore::GetPublishedPipeline(const std::string& id) {
  auto lease = ReadOne();
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(std::string("SELECT ") + kPipelineColumns +
                                               " FROM published_pipelines WHERE id=?"));
  st.Bind(1, id);
  FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return PipelineNotFound(id);
  return PipelineRow(st);
}

Result<std::vector<PublishedPipelineRecord>> SqliteMetadataStore::ListPublishedPipelines(
    bool active_only) {
  auto lease = ReadOne();
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(std::string("SELECT ") + kPipelineColumns +
                                               " FROM published_pipelines" +
                                               (active_only ? " WHERE status='Active'" : "") +
                                               " ORDER BY created_at DESC, id"));
  std::vector<PublishedPipelineRecord> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(PipelineRow(st));
  }
  return out;
}

Status SqliteMetadataStore::SetPublishedPipelineStatus(const std::string& id,
                                                       const std::string& status) {
  FERRY_RETURN_IF_ERROR(CheckStatusValue(status));
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(Stmt up,
                           db().Prepare("UPDATE published_pipelines SET status=? WHERE id=?"));
    FERRY_RETURN_IF_ERROR(up.Bind(1, status).Bind(2, id).Run());
    if (db().Changes() == 0) return PipelineNotFound(id);
    return Status::Ok();
  });
}

namespace {

// The endpoint's versions, in order, on the current connection.
Status LoadVersions(Db& db, PipelineEndpointRecord* e) {
  FERRY_ASSIGN_OR_RETURN(Stmt st, db.Prepare("SELECT pipeline_id FROM pipeline_endpoint_versions "
                                             "WHERE endpoint_id=? ORDER BY version"));
  st.Bind(1, e->id);
  e->pipelines.clear();
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    e->pipelines.push_back(st.Text(0));
  }
  return Status::Ok();
}

// By id, or else by name, on the current connection.
Result<PipelineEndpointRecord> EndpointLocked(Db& db, const std::string& id_or_name) {
  for (const char* key : {"id", "name"}) {
    FERRY_ASSIGN_OR_RETURN(Stmt st, db.Prepare(std::string("SELECT ") + kEndpointColumns +
                                               " FROM pipeline_endpoints WHERE " + key + "=?"));
    st.Bind(1, id_or_name);
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) continue;
    PipelineEndpointRecord e = EndpointRow(st);
    FERRY_RETURN_IF_ERROR(LoadVersions(db, &e));
    return e;
  }
  return EndpointNotFound(id_or_name);
}

Status PipelineExistsLocked(Db& db, const std::string& pipeline_id) {
  FERRY_ASSIGN_OR_RETURN(Stmt st, db.Prepare("SELECT 1 FROM published_pipelines WHERE id=?"));
  st.Bind(1, pipeline_id);
  FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? Status::Ok() : PipelineNotFound(pipeline_id);
}

}  // namespace

Result<PipelineEndpointRecord> SqliteMetadataStore::CreatePipelineEndpoint(
    const PipelineEndpointRecord& e, const std::string& pipeline_id) {
  FERRY_RETURN_IF_ERROR(CheckStatusValue(e.status));
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<PipelineEndpointRecord> {
    FERRY_RETURN_IF_ERROR(PipelineExistsLocked(db(), pipeline_id));
    FERRY_ASSIGN_OR_RETURN(Stmt have,
                           db().Prepare("SELECT id FROM pipeline_endpoints WHERE name=? OR id=?"));
    have.Bind(1, e.name).Bind(2, e.id);
    FERRY_ASSIGN_OR_RETURN(bool exists, have.Step());
    if (exists) {
      return Status::AlreadyExists("a pipeline endpoint named '" + e.name + "' exists already (" +
                                   have.Text(0) +
                                   "); add a version to it (PipelineEndpoint.add) or pick "
                                   "another name");
    }
    FERRY_ASSIGN_OR_RETURN(Stmt ins, db().Prepare(std::string("INSERT INTO pipeline_endpoints(") +
                                                  kEndpointColumns + ") VALUES(?,?,?,0,?,?,?)"));
    FERRY_RETURN_IF_ERROR(ins.Bind(1, e.id)
                              .Bind(2, e.name)
                              .Bind(3, e.description)
                              .Bind(4, e.status)
                              .Bind(5, e.created_by)
                              .Bind(6, e.created_at)
                              .Run());
    FERRY_ASSIGN_OR_RETURN(Stmt ver, db().Prepare("INSERT INTO pipeline_endpoint_versions("
                                                  "endpoint_id, version, pipeline_id) "
                                                  "VALUES(?,0,?)"));
    FERRY_RETURN_IF_ERROR(ver.Bind(1, e.id).Bind(2, pipeline_id).Run());
    return EndpointLocked(db(), e.id);
  });
}

Result<PipelineEndpointRecord> SqliteMetadataStore::GetPipelineEndpoint(
    const std::string& id_or_name) {
  auto lease = Read();
  return EndpointLocked(db(), id_or_name);
}

Result<std::vector<PipelineEndpointRecord>> SqliteMetadataStore::ListPipelineEndpoints() {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(std::string("SELECT ") + kEndpointColumns +
                                               " FROM pipeline_endpoints ORDER BY name"));
  std::vector<PipelineEndpointRecord> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(EndpointRow(st));
  }
  for (auto& e : out) FERRY_RETURN_IF_ERROR(LoadVersions(db(), &e));
  return out;
}

Result<int64_t> SqliteMetadataStore::AddPipelineEndpointVersion(const std::string& endpoint_id,
                                                                const std::string& pipeline_id,
                                                                bool set_default) {
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<int64_t> {
    FERRY_ASSIGN_OR_RETURN(PipelineEndpointRecord e, EndpointLocked(db(), endpoint_id));
    FERRY_RETURN_IF_ERROR(PipelineExistsLocked(db(), pipeline_id));
    const auto version = static_cast<int64_t>(e.pipelines.size());
    FERRY_ASSIGN_OR_RETURN(Stmt ver, db().Prepare("INSERT INTO pipeline_endpoint_versions("
                                                  "endpoint_id, version, pipeline_id) "
                                                  "VALUES(?,?,?)"));
    FERRY_RETURN_IF_ERROR(ver.Bind(1, e.id).Bind(2, version).Bind(3, pipeline_id).Run());
    if (set_default) {
      FERRY_ASSIGN_OR_RETURN(
          Stmt up, db().Prepare("UPDATE pipeline_endpoints SET default_version=? WHERE id=?"));
      FERRY_RETURN_IF_ERROR(up.Bind(1, version).Bind(2, e.id).Run());
    }
    return version;
  });
}

Status SqliteMetadataStore::SetPipelineEndpointDefault(const std::string& endpoint_id,
                                                       int64_t version) {
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(PipelineEndpointRecord e, EndpointLocked(db(), endpoint_id));
    if (version < 0 || version >= static_cast<int64_t>(e.pipelines.size())) {
      return Status::NotFound("pipeline endpoint '" + e.name + "' has no version " +
                              std::to_string(version) + "; its versions are 0 to " +
                              std::to_string(static_cast<int64_t>(e.pipelines.size()) - 1));
    }
    FERRY_ASSIGN_OR_RETURN(
        Stmt up, db().Prepare("UPDATE pipeline_endpoints SET default_version=? WHERE id=?"));
    return up.Bind(1, version).Bind(2, e.id).Run();
  });
}

Status SqliteMetadataStore::SetPipelineEndpointStatus(const std::string& endpoint_id,
                                                      const std::string& status) {
  FERRY_RETURN_IF_ERROR(CheckStatusValue(status));
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(PipelineEndpointRecord e, EndpointLocked(db(), endpoint_id));
    FERRY_ASSIGN_OR_RETURN(Stmt up,
                           db().Prepare("UPDATE pipeline_endpoints SET status=? WHERE id=?"));
    return up.Bind(1, status).Bind(2, e.id).Run();
  });
}

namespace {

Status PutScheduleLocked(Db& db, const ScheduleRecord& s, bool insert) {
  FERRY_ASSIGN_OR_RETURN(
      Stmt st,
      db.Prepare(insert ? std::string("INSERT INTO schedules(") + kScheduleColumns +
                              ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?)"
                        : std::string("UPDATE schedules SET id=?, name=?, spec=?, status=?, "
                                      "next_fire=?, pending_fire=?, last_fire=?, last_run_id=?, "
                                      "poll_state=?, created_by=?, created_at=?, updated_at=? "
                                      "WHERE id=?1")));
  return st.Bind(1, s.id)
      .Bind(2, s.name)
      .Bind(3, s.spec)
      .Bind(4, s.status)
      .Bind(5, s.next_fire)
      .Bind(6, s.pending_fire)
      .Bind(7, s.last_fire)
      .Bind(8, s.last_run_id)
      .Bind(9, s.poll_state)
      .Bind(10, s.created_by)
      .Bind(11, s.created_at)
      .Bind(12, s.updated_at)
      .Run();
}

Result<ScheduleRecord> ScheduleLocked(Db& db, const std::string& id) {
  FERRY_ASSIGN_OR_RETURN(Stmt st, db.Prepare(std::string("SELECT ") + kScheduleColumns +
                                             " FROM schedules WHERE id=?"));
  st.Bind(1, id);
  FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return ScheduleNotFound(id);
  return ScheduleRow(st);
}

}  // namespace

Status SqliteMetadataStore::CreateSchedule(const ScheduleRecord& s) {
  FERRY_RETURN_IF_ERROR(CheckStatusValue(s.status));
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Status {
    if (ScheduleLocked(db(), s.id).ok()) {
      return Status::AlreadyExists("schedule '" + s.id + "' exists already");
    }
    return PutScheduleLocked(db(), s, /*insert=*/true);
  });
}

Result<ScheduleRecord> SqliteMetadataStore::GetSchedule(const std::string& id) {
  auto lease = ReadOne();
  return ScheduleLocked(db(), id);
}

Result<std::vector<ScheduleRecord>> SqliteMetadataStore::ListSchedules() {
  auto lease = ReadOne();
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(std::string("SELECT ") + kScheduleColumns +
                                               " FROM schedules ORDER BY created_at DESC, id"));
  std::vector<ScheduleRecord> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ScheduleRow(st));
  }
  return out;
}

Result<ScheduleRecord> SqliteMetadataStore::UpdateSchedule(
    const std::string& id, const std::function<Status(ScheduleRecord*)>& change) {
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<ScheduleRecord> {
    FERRY_ASSIGN_OR_RETURN(ScheduleRecord s, ScheduleLocked(db(), id));
    FERRY_RETURN_IF_ERROR(change(&s));
    FERRY_RETURN_IF_ERROR(CheckStatusValue(s.status));
    s.id = id;  // the id is the record's name; a change cannot move it
    FERRY_RETURN_IF_ERROR(PutScheduleLocked(db(), s, /*insert=*/false));
    return s;
  });
}

}  // namespace ferry::store
