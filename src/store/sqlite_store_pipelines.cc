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

namespace {

constexpr const char* kMiniBatchColumns =
    "idx, items, item_count, state, attempts, worker, lease_until, rows, failed_items, error";

MiniBatch MiniBatchFrom(const Stmt& st) {
  MiniBatch b;
  b.index = st.Int(0);
  b.items = st.Text(1);
  b.item_count = st.Int(2);
  b.state = st.Text(3);
  b.attempts = static_cast<int>(st.Int(4));
  b.worker = st.Text(5);
  b.lease_until = st.Double(6);
  b.rows = st.Text(7);
  b.failed_items = st.Int(8);
  b.error = st.Text(9);
  return b;
}

}  // namespace

Result<int64_t> SqliteMetadataStore::CreateMiniBatches(const std::string& run_id,
                                                       const std::vector<MiniBatch>& batches) {
  WriteLease lease(this, /*data=*/true);
  int64_t count = 0;
  FERRY_RETURN_IF_ERROR(InWriteTransaction([&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(run_id));
    FERRY_ASSIGN_OR_RETURN(Stmt have, db().Prepare("SELECT COUNT(*) FROM minibatches WHERE rid=?"));
    have.Bind(1, rid);
    FERRY_ASSIGN_OR_RETURN(bool row, have.Step());
    count = row ? have.Int(0) : 0;
    if (count > 0) return Status::Ok();
    FERRY_ASSIGN_OR_RETURN(
        Stmt ins, db().Prepare("INSERT INTO minibatches VALUES(?,?,?,?,'pending',0,'',0,'',0,'')"));
    for (const auto& b : batches) {
      ins.Reset();
      FERRY_RETURN_IF_ERROR(
          ins.Bind(1, rid).Bind(2, b.index).Bind(3, b.items).Bind(4, b.item_count).Run());
    }
    count = static_cast<int64_t>(batches.size());
    return Status::Ok();
  }));
  return count;
}

Result<std::optional<MiniBatch>> SqliteMetadataStore::LeaseMiniBatch(const std::string& run_id,
                                                                     const std::string& worker,
                                                                     double now, double lease_s,
                                                                     int max_tries) {
  WriteLease lease(this, /*data=*/true);
  std::optional<MiniBatch> out;
  FERRY_RETURN_IF_ERROR(InWriteTransaction([&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(run_id));
    // Leases that ran out: the worker or its node is gone.
    FERRY_ASSIGN_OR_RETURN(
        Stmt expire,
        db().Prepare("UPDATE minibatches SET state=CASE WHEN attempts>=?3 THEN 'failed' ELSE "
                     "'pending' END, error='the worker ' || worker || ' held it past its lease "
                     "(lost, or run() did not return)', worker='' WHERE rid=?1 AND "
                     "state='leased' AND lease_until<?2"));
    FERRY_RETURN_IF_ERROR(expire.Bind(1, rid).Bind(2, now).Bind(3, max_tries).Run());
    FERRY_ASSIGN_OR_RETURN(Stmt pick, db().Prepare(std::string("SELECT ") + kMiniBatchColumns +
                                                   " FROM minibatches WHERE rid=? AND "
                                                   "state='pending' ORDER BY idx LIMIT 1"));
    pick.Bind(1, rid);
    FERRY_ASSIGN_OR_RETURN(bool row, pick.Step());
    if (!row) return Status::Ok();
    MiniBatch b = MiniBatchFrom(pick);
    b.state = "leased";
    b.attempts += 1;
    b.worker = worker;
    b.lease_until = now + lease_s;
    FERRY_ASSIGN_OR_RETURN(
        Stmt take, db().Prepare("UPDATE minibatches SET state='leased', attempts=?3, worker=?4, "
                                "lease_until=?5 WHERE rid=?1 AND idx=?2"));
    FERRY_RETURN_IF_ERROR(take.Bind(1, rid)
                              .Bind(2, b.index)
                              .Bind(3, b.attempts)
                              .Bind(4, worker)
                              .Bind(5, b.lease_until)
                              .Run());
    out = std::move(b);
    return Status::Ok();
  }));
  return out;
}

Result<bool> SqliteMetadataStore::FinishMiniBatch(const std::string& run_id,
                                                  const MiniBatch& result, bool ok, int max_tries) {
  WriteLease lease(this, /*data=*/true);
  bool taken = false;
  FERRY_RETURN_IF_ERROR(InWriteTransaction([&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(run_id));
    FERRY_ASSIGN_OR_RETURN(
        Stmt st,
        db().Prepare(ok ? "UPDATE minibatches SET state='done', rows=?5, failed_items=?6, "
                          "error='' WHERE rid=?1 AND idx=?2 AND state='leased' AND "
                          "attempts=?3 AND worker=?4"
                        : "UPDATE minibatches SET state=CASE WHEN attempts>=?7 THEN 'failed' "
                          "ELSE 'pending' END, failed_items=?6, error=?8, worker='' WHERE "
                          "rid=?1 AND idx=?2 AND state='leased' AND attempts=?3 AND worker=?4"));
    st.Bind(1, rid)
        .Bind(2, result.index)
        .Bind(3, static_cast<int64_t>(result.attempts))
        .Bind(4, result.worker)
        .Bind(6, result.failed_items);
    if (ok) {
      st.Bind(5, result.rows);
    } else {
      st.Bind(7, static_cast<int64_t>(max_tries)).Bind(8, result.error);
    }
    FERRY_RETURN_IF_ERROR(st.Run());
    taken = db().Changes() > 0;
    return Status::Ok();
  }));
  return taken;
}

Result<int64_t> SqliteMetadataStore::ReleaseMiniBatches(const std::string& run_id,
                                                        const std::string& worker,
                                                        const std::string& reason, int max_tries) {
  WriteLease lease(this, /*data=*/true);
  int64_t released = 0;
  FERRY_RETURN_IF_ERROR(InWriteTransaction([&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(run_id));
    FERRY_ASSIGN_OR_RETURN(
        Stmt st, db().Prepare("UPDATE minibatches SET state=CASE WHEN attempts>=?3 THEN 'failed' "
                              "ELSE 'pending' END, error=?4, worker='' WHERE rid=?1 AND "
                              "state='leased' AND worker=?2"));
    FERRY_RETURN_IF_ERROR(st.Bind(1, rid).Bind(2, worker).Bind(3, max_tries).Bind(4, reason).Run());
    released = db().Changes();
    return Status::Ok();
  }));
  return released;
}

Result<MiniBatchCounts> SqliteMetadataStore::CountMiniBatches(const std::string& run_id) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(run_id));
  FERRY_ASSIGN_OR_RETURN(Stmt st,
                         db().Prepare("SELECT state, COUNT(*), SUM(item_count), SUM(failed_items) "
                                      "FROM minibatches WHERE rid=? GROUP BY state"));
  st.Bind(1, rid);
  MiniBatchCounts c;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    const std::string state = st.Text(0);
    const int64_t n = st.Int(1);
    c.total += n;
    c.items += st.Int(2);
    // Items fail for good only with their batch's last try (done with fewer rows, or failed).
    if (state == "done" || state == "failed") c.failed_items += st.Int(3);
    if (state == "pending") c.pending = n;
    if (state == "leased") c.leased = n;
    if (state == "done") c.done = n;
    if (state == "failed") c.failed = n;
  }
  if (c.failed > 0) {
    FERRY_ASSIGN_OR_RETURN(Stmt e, db().Prepare("SELECT idx, error FROM minibatches WHERE rid=? "
                                                "AND state='failed' ORDER BY idx LIMIT 1"));
    e.Bind(1, rid);
    FERRY_ASSIGN_OR_RETURN(bool row, e.Step());
    if (row) c.first_error = "mini-batch " + std::to_string(e.Int(0)) + ": " + e.Text(1);
  }
  return c;
}

Result<std::vector<MiniBatch>> SqliteMetadataStore::ListMiniBatches(const std::string& run_id,
                                                                    int64_t from, int64_t limit) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(run_id));
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(std::string("SELECT ") + kMiniBatchColumns +
                                               " FROM minibatches WHERE rid=? AND idx>=? "
                                               "ORDER BY idx LIMIT ?"));
  st.Bind(1, rid).Bind(2, from).Bind(3, limit);
  std::vector<MiniBatch> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(MiniBatchFrom(st));
  }
  return out;
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
