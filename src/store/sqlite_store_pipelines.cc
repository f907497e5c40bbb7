// PipelineStore on the SQLite store: pipeline runs, their steps' records and runs' outputs.
#include "store/sqlite_store_internal.h"

namespace ferry::store {

using model::Run;

Result<Run> SqliteMetadataStore::CreatePipelineRun(const Run& run, const PipelineRunRecord& record,
                                                   double now) {
  WriteLease lease(this, /*data=*/false);
  FERRY_RETURN_IF_ERROR(InWriteTransaction([&]() -> Status {
    Run parent = run;
    parent.kind = "pipeline";
    FERRY_RETURN_IF_ERROR(CreateRunLocked(parent, {}, "", now));
    FERRY_ASSIGN_OR_RETURN(
        Stmt ins,
        db().Prepare("INSERT INTO pipeline_runs(rid, spec, parameters, settings) VALUES(?,?,?,?)"));
    return ins.Bind(1, db().LastInsertRowid())
        .Bind(2, record.spec)
        .Bind(3, record.parameters.empty() ? "{}" : record.parameters)
        .Bind(4, record.settings.empty() ? "{}" : record.settings)
        .Run();
  }));
  return GetRunLocked(run.id);
}

Result<PipelineRunRecord> SqliteMetadataStore::GetPipelineRun(const std::string& id) {
  auto lease = ReadOne();
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT p.spec, p.parameters, p.settings FROM "
                                               "pipeline_runs p JOIN runs r ON r.rid = p.rid "
                                               "WHERE r.id=?"));
  st.Bind(1, id);
  FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) {
    return Status::NotFound("run '" + id +
                            "' is not a pipeline run; see 'ferry run list' for its kind");
  }
  return PipelineRunRecord{st.Text(0), st.Text(1), st.Text(2)};
}

Status SqliteMetadataStore::CreatePipelineStep(const std::string& pipeline_id,
                                               const PipelineStepRecord& step,
                                               const std::optional<Run>& run,
                                               const std::map<std::string, std::string>& params,
                                               double now) {
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(int64_t prid, RidLocked(pipeline_id));
    FERRY_ASSIGN_OR_RETURN(
        Stmt have, db().Prepare("SELECT run_id FROM pipeline_steps WHERE prid=? AND step=?"));
    have.Bind(1, prid).Bind(2, step.step);
    FERRY_ASSIGN_OR_RETURN(bool exists, have.Step());
    if (exists) {
      return Status::AlreadyExists("step '" + step.step + "' of pipeline run '" + pipeline_id +
                                   "' has its run already (" + have.Text(0) + ")");
    }
    if (run) FERRY_RETURN_IF_ERROR(CreateRunLocked(*run, params, "hmac", now));
    FERRY_ASSIGN_OR_RETURN(Stmt ins, db().Prepare("INSERT INTO pipeline_steps(prid, step, run_id, "
                                                  "reuse_key, reused_from, inputs, created_at) "
                                                  "VALUES(?,?,?,?,?,?,?)"));
    return ins.Bind(1, prid)
        .Bind(2, step.step)
        .Bind(3, step.run_id)
        .Bind(4, step.reuse_key)
        .Bind(5, step.reused_from)
        .Bind(6, step.inputs.empty() ? "{}" : step.inputs)
        .Bind(7, now)
        .Run();
  });
}

Result<std::vector<PipelineStepRecord>> SqliteMetadataStore::ListPipelineSteps(
    const std::string& pipeline_id) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(int64_t prid, RidLocked(pipeline_id));
  FERRY_ASSIGN_OR_RETURN(Stmt st,
                         db().Prepare("SELECT step, run_id, reuse_key, reused_from, inputs, "
                                      "created_at FROM pipeline_steps WHERE prid=? "
                                      "ORDER BY created_at, step"));
  st.Bind(1, prid);
  std::vector<PipelineStepRecord> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Text(4), st.Double(5)});
  }
  return out;
}

Result<std::string> SqliteMetadataStore::FindReusableRun(const std::string& reuse_key) {
  auto lease = ReadOne();
  FERRY_ASSIGN_OR_RETURN(
      Stmt st, db().Prepare("SELECT s.run_id FROM pipeline_steps s JOIN runs r ON r.id = s.run_id "
                            "WHERE s.reuse_key=? AND s.reused_from='' AND r.status='Completed' "
                            "ORDER BY r.ended_at DESC LIMIT 1"));
  st.Bind(1, reuse_key);
  FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.Text(0) : std::string();
}

Status SqliteMetadataStore::PutRunOutputs(const std::vector<RunOutputRecord>& outputs) {
  if (outputs.empty()) return Status::Ok();
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(
        Stmt put, db().Prepare("INSERT OR REPLACE INTO run_outputs(rid, name, datastore, path, "
                               "manifest, file_count, total_bytes) VALUES(?,?,?,?,?,?,?)"));
    for (const auto& o : outputs) {
      FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(o.run_id));
      put.Reset();
      FERRY_RETURN_IF_ERROR(put.Bind(1, rid)
                                .Bind(2, o.name)
                                .Bind(3, o.datastore)
                                .Bind(4, o.path)
                                .Bind(5, o.manifest)
                                .Bind(6, o.file_count)
                                .Bind(7, o.total_bytes)
                                .Run());
    }
    return Status::Ok();
  });
}

Result<std::vector<RunOutputRecord>> SqliteMetadataStore::RunOutputs(const std::string& run_id) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(run_id));
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT name, datastore, path, manifest, "
                                               "file_count, total_bytes FROM run_outputs "
                                               "WHERE rid=? ORDER BY name"));
  st.Bind(1, rid);
  std::vector<RunOutputRecord> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({run_id, st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Int(4), st.Int(5)});
  }
  return out;
}

}  // namespace ferry::store
