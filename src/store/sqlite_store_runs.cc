// SqliteMetadataStore's runs: create, read, list and count with filters, status transitions
// with their history, cancel requests, sweeps, tags, params, artifacts, and the keys of an
// experiment's runs.
#include "store/sqlite_store_internal.h"

namespace ferry::store {

using model::Run;
using model::RunStatus;
using nlohmann::json;

namespace {

constexpr const char* kRunColumns =
    "r.rid, r.id, e.name, r.target, r.status, r.script, r.arguments, r.python, r.snapshot_id, "
    "r.git, r.created_at, r.started_at, r.ended_at, r.exit_code, r.error, r.attempt, "
    "r.job_handle, r.cancel_requested, r.options, r.gpu_ids, r.submitted_by, r.kind, r.parent_id, "
    "r.cancel_reason, r.name, r.lifecycle_stage";

json GitToJson(const model::GitState& g) {
  if (!g.present) return json::object();
  return {
      {"remote_url", g.remote_url}, {"branch", g.branch}, {"commit", g.commit}, {"dirty", g.dirty}};
}

model::GitState GitFromJson(const std::string& s) {
  model::GitState g;
  json j = json::parse(s, nullptr, false);
  if (!j.is_object() || j.empty()) return g;
  g.present = true;
  g.remote_url = j.value("remote_url", "");
  g.branch = j.value("branch", "");
  g.commit = j.value("commit", "");
  g.dirty = j.value("dirty", false);
  return g;
}

json OptionsToJson(const model::Run& r) {
  json j = json::object();
  model::RunOptionsToJson(r.options, &j);
  return j;
}

void OptionsFromJson(const std::string& s, model::Run* r) {
  json j = json::parse(s, nullptr, false);
  if (!j.is_object()) return;
  // Stored options were validated when the run was created.
  auto o = model::RunOptionsFromJson(j);
  if (o.ok()) r->options = std::move(o).value();
}

std::vector<int> GpuIdsFromJson(const std::string& s) {
  std::vector<int> out;
  json j = json::parse(s, nullptr, false);
  if (!j.is_array()) return out;
  for (auto& v : j) {
    if (v.is_number_integer()) out.push_back(v.get<int>());
  }
  return out;
}

}  // namespace

Status SqliteMetadataStore::SetRunName(const std::string& id, const std::string& name) {
  WriteLease lease(this, /*data=*/false);
  return UpdateRun("UPDATE runs SET name=?2 WHERE id=?1", id, name, true);
}

Status SqliteMetadataStore::SetRunLifecycle(const std::string& id, const std::string& stage) {
  WriteLease lease(this, /*data=*/false);
  return UpdateRun("UPDATE runs SET lifecycle_stage=?2 WHERE id=?1", id, stage);
}

Status SqliteMetadataStore::SetParams(const std::string& id,
                                      const std::map<std::string, std::string>& params) {
  WriteLease lease(this, /*data=*/true);
  FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
  FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
  Status s = [&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(Stmt q,
                           db().Prepare("SELECT value FROM run_params WHERE rid=? AND name=?"));
    FERRY_ASSIGN_OR_RETURN(Stmt ins, db().Prepare("INSERT INTO run_params VALUES(?,?,?)"));
    for (const auto& [k, v] : params) {
      q.Bind(1, rid).Bind(2, k);
      FERRY_ASSIGN_OR_RETURN(bool row, q.Step());
      std::string old = row ? q.Text(0) : "";
      q.Reset();
      if (row) {
        if (old == v) continue;
        return Status::FailedPrecondition("parameter '" + k + "' of run '" + id + "' is '" + old +
                                          "' already; a parameter cannot be changed (tried '" + v +
                                          "')");
      }
      FERRY_RETURN_IF_ERROR(ins.Bind(1, rid).Bind(2, k).Bind(3, v).Run());
    }
    return Status::Ok();
  }();
  if (!s.ok()) {
    (void)db().Exec("ROLLBACK");
    return s;
  }
  return Commit();
}

Status SqliteMetadataStore::DeleteTag(const std::string& id, const std::string& key) {
  WriteLease lease(this, /*data=*/false);
  FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("DELETE FROM run_tags WHERE rid=? AND key=?"));
  FERRY_RETURN_IF_ERROR(st.Bind(1, rid).Bind(2, key).Run());
  if (db().Changes() == 0) return Status::NotFound("run '" + id + "' has no tag '" + key + "'");
  return Status::Ok();
}

Result<Run> SqliteMetadataStore::CreateRun(const Run& run,
                                           const std::map<std::string, std::string>& params,
                                           const std::string& token_hash, double now) {
  WriteLease lease(this, /*data=*/false);
  FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
  Status created = CreateRunLocked(run, params, token_hash, now);
  if (!created.ok()) {
    (void)db().Exec("ROLLBACK");
    return created;
  }
  FERRY_RETURN_IF_ERROR(Commit());
  return GetRunLocked(run.id);
}

Result<Run> SqliteMetadataStore::GetRun(const std::string& id) {
  auto lease = Read();
  return GetRunLocked(id);
}

Result<Run> SqliteMetadataStore::GetRunSummary(const std::string& id) {
  auto lease = ReadOne();
  return GetRunLocked(id, true);
}

Result<SqliteMetadataStore::RunQuery> SqliteMetadataStore::BuildRunQuery(
    const model::RunFilter& f) {
  RunQuery q;
  std::string join, where = " WHERE 1=1";
  auto bind = [&](const std::string& v) {
    q.binds.push_back(v);
    return "?" + std::to_string(q.binds.size());
  };
  std::string dir = f.ascending ? " ASC" : " DESC";
  if (f.sort.rfind("metric:", 0) == 0 && f.sort.size() > 7) {
    join +=
        " LEFT JOIN metric_summaries so ON so.rid = r.rid AND so.kid = (SELECT kid FROM "
        "metric_keys WHERE name = " +
        bind(f.sort.substr(7)) + ")";
    q.order = " ORDER BY so.last IS NULL, so.last" + dir + ", r.rid DESC";
  } else if (f.sort.rfind("param:", 0) == 0 && f.sort.size() > 6) {
    join += " LEFT JOIN run_params po ON po.rid = r.rid AND po.name = " + bind(f.sort.substr(6));
    // Numbers first and as numbers, then other text in text order.
    q.order =
        " ORDER BY po.value IS NULL, (po.value = '' OR po.value GLOB '*[^0-9.eE+-]*'), "
        "CAST(po.value AS REAL)" +
        dir + ", po.value" + dir + ", r.rid DESC";
  } else if (f.sort == "started" || f.sort == "ended") {
    std::string col = f.sort == "started" ? "r.started_at" : "r.ended_at";
    q.order = " ORDER BY " + col + " = 0, " + col + dir + ", r.rid DESC";
  } else if (f.sort.empty() || f.sort == "created") {
    q.order = std::string(" ORDER BY r.rid") + (f.ascending ? " ASC" : " DESC");
  } else {
    return Status::InvalidArgument(
        "'sort' must be created, started, ended, metric:<key> or param:<key>; got '" + f.sort +
        "'");
  }
  if (!f.experiment.empty()) where += " AND e.name = " + bind(f.experiment);
  if (!f.target.empty()) where += " AND r.target = " + bind(f.target);
  if (f.status) where += " AND r.status = " + bind(model::RunStatusName(*f.status));
  if (!f.parent.empty()) {
    where += " AND r.parent_id = " + bind(f.parent);
  } else if (!f.include_children) {
    where += " AND r.parent_id = ''";
  }
  for (const auto& [k, v] : f.tags) {
    where += " AND EXISTS (SELECT 1 FROM run_tags t WHERE t.rid = r.rid AND t.key = " + bind(k) +
             " AND t.value = " + bind(v) + ")";
  }
  for (const auto& [k, v] : f.params) {
    where += " AND EXISTS (SELECT 1 FROM run_params p WHERE p.rid = r.rid AND p.name = " + bind(k) +
             " AND p.value = " + bind(v) + ")";
  }
  static const std::set<std::string> kOps = {"<", "<=", ">", ">=", "="};
  for (const auto& m : f.metrics) {
    if (!kOps.count(m.op))
      return Status::InvalidArgument("metric condition operator must be one of < <= > >= =, got '" +
                                     m.op + "'");
    where +=
        " AND EXISTS (SELECT 1 FROM metric_summaries ms WHERE ms.rid = r.rid AND ms.kid = (SELECT "
        "kid FROM "
        "metric_keys WHERE name = " +
        bind(m.key) + ") AND ms.last " + m.op + " CAST(" + bind([&] {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.17g", m.value);
          return std::string(buf);
        }()) +
        " AS REAL))";
  }
  q.from_where = " FROM runs r JOIN experiments e ON e.id = r.experiment_id" + join + where;
  return q;
}

Result<std::vector<Run>> SqliteMetadataStore::ListRuns(const model::RunFilter& f) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(RunQuery q, BuildRunQuery(f));
  const int n = static_cast<int>(q.binds.size());
  std::string sql = std::string("SELECT ") + kRunColumns + q.from_where + q.order + " LIMIT ?" +
                    std::to_string(n + 1) + " OFFSET ?" + std::to_string(n + 2);
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql));
  for (int i = 0; i < n; ++i) st.Bind(i + 1, q.binds[i]);
  st.Bind(n + 1, f.limit).Bind(n + 2, f.offset);
  return ReadRuns(st, f.light);
}

Result<int64_t> SqliteMetadataStore::CountRuns(const model::RunFilter& f) {
  auto lease = Read();
  model::RunFilter unsorted = f;
  unsorted.sort.clear();  // no join needed to count
  FERRY_ASSIGN_OR_RETURN(RunQuery q, BuildRunQuery(unsorted));
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT COUNT(*)" + q.from_where));
  for (size_t i = 0; i < q.binds.size(); ++i) st.Bind(static_cast<int>(i + 1), q.binds[i]);
  FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.Int(0) : int64_t{0};
}

Result<std::vector<Run>> SqliteMetadataStore::ListActiveRuns() {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(
      Stmt st,
      db().Prepare(std::string("SELECT ") + kRunColumns +
                   " FROM runs r JOIN experiments e ON e.id = r.experiment_id"
                   " WHERE r.status NOT IN ('Completed','Failed','Canceled') ORDER BY r.rid"));
  return ReadRuns(st);
}

Result<Run> SqliteMetadataStore::Transition(const std::string& id, RunStatus to,
                                            const std::string& reason, double now,
                                            const TransitionExtras& extras) {
  WriteLease lease(this, /*data=*/false);
  FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
  Status st = Status::Ok();
  if (extras.finalizing_reason)
    st = TransitionLocked(id, RunStatus::kFinalizing, *extras.finalizing_reason, now, {});
  if (st.ok() && !extras.artifacts.empty()) st = AddArtifactsLocked(id, extras.artifacts);
  if (st.ok()) st = TransitionLocked(id, to, reason, now, extras);
  if (!st.ok()) {
    (void)db().Exec("ROLLBACK");
    return st;
  }
  FERRY_RETURN_IF_ERROR(Commit());
  return GetRunLocked(id);
}

Status SqliteMetadataStore::SetJobHandle(const std::string& id, const std::string& handle) {
  WriteLease lease(this, /*data=*/false);
  return UpdateRun("UPDATE runs SET job_handle=?2 WHERE id=?1", id, handle);
}

Status SqliteMetadataStore::RequestCancel(const std::string& id, const std::string& reason) {
  WriteLease lease(this, /*data=*/false);
  FERRY_ASSIGN_OR_RETURN(
      Stmt st,
      db().Prepare(
          "UPDATE runs SET cancel_requested=1, "
          "cancel_reason=CASE WHEN cancel_reason='' THEN ?2 ELSE cancel_reason END WHERE id=?1"));
  st.Bind(1, id).Bind(2, reason);
  FERRY_RETURN_IF_ERROR(st.Run());
  if (db().Changes() == 0) return RunNotFound(id);
  return Status::Ok();
}

Result<Run> SqliteMetadataStore::CreateSweep(const Run& run, const SweepRecord& sweep, double now) {
  WriteLease lease(this, /*data=*/false);
  FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
  Run parent = run;
  parent.kind = "sweep";
  Status st = CreateRunLocked(parent, {}, "", now);
  if (st.ok()) {
    auto ins =
        db().Prepare("INSERT INTO sweeps(rid, spec_file, spec_text, settings) VALUES(?,?,?,?)");
    st = ins.ok() ? ins->Bind(1, db().LastInsertRowid())
                        .Bind(2, sweep.spec_file)
                        .Bind(3, sweep.spec_text)
                        .Bind(4, sweep.settings.empty() ? "{}" : sweep.settings)
                        .Run()
                  : ins.status();
  }
  if (!st.ok()) {
    (void)db().Exec("ROLLBACK");
    return st;
  }
  FERRY_RETURN_IF_ERROR(Commit());
  return GetRunLocked(run.id);
}

Result<SweepRecord> SqliteMetadataStore::GetSweep(const std::string& id) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(Stmt st,
                         db().Prepare("SELECT s.spec_file, s.spec_text, s.settings FROM sweeps s "
                                      "JOIN runs r ON r.rid = s.rid WHERE r.id=?"));
  st.Bind(1, id);
  FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("run '" + id + "' is not a sweep; see 'ferry run list'");
  return SweepRecord{st.Text(0), st.Text(1), st.Text(2)};
}

Result<std::vector<model::StatusEvent>> SqliteMetadataStore::History(const std::string& id) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
  FERRY_ASSIGN_OR_RETURN(
      Stmt st,
      db().Prepare("SELECT status, time, reason FROM run_status_history WHERE rid=? ORDER BY seq"));
  st.Bind(1, rid);
  std::vector<model::StatusEvent> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    FERRY_ASSIGN_OR_RETURN(RunStatus s, model::ParseRunStatus(st.Text(0)));
    out.push_back({s, st.Double(1), st.Text(2)});
  }
  return out;
}

Result<std::string> SqliteMetadataStore::RunTokenHash(const std::string& id) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT token_hash FROM runs WHERE id=?"));
  st.Bind(1, id);
  FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return RunNotFound(id);
  return st.Text(0);
}

Status SqliteMetadataStore::SetTags(const std::string& id,
                                    const std::map<std::string, std::string>& tags) {
  WriteLease lease(this, /*data=*/true);
  FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
  FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
  Status s = PutKv("INSERT OR REPLACE INTO run_tags VALUES(?,?,?)", rid, tags);
  if (!s.ok()) {
    (void)db().Exec("ROLLBACK");
    return s;
  }
  return Commit();
}

Result<std::map<std::string, std::string>> SqliteMetadataStore::Params(const std::string& id) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
  return ReadKv("SELECT name, value FROM run_params WHERE rid=? ORDER BY name", rid);
}

Result<SqliteMetadataStore::RunKeys> SqliteMetadataStore::ListRunKeys(const std::string& experiment,
                                                                      int recent) {
  auto lease = Read();
  // The newest runs only: a bounded scan however many runs the workspace holds.
  std::string runs = "SELECT r.rid FROM runs r";
  if (!experiment.empty())
    runs += " JOIN experiments e ON e.id = r.experiment_id WHERE e.name = ?1";
  runs += " ORDER BY r.rid DESC LIMIT ?2";
  RunKeys out;
  auto read = [&](const std::string& sql, std::vector<std::string>* into) -> Status {
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql));
    st.Bind(1, experiment).Bind(2, recent);
    for (;;) {
      FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      into->push_back(st.Text(0));
    }
    return Status::Ok();
  };
  FERRY_RETURN_IF_ERROR(read(
      "SELECT DISTINCT name FROM run_params WHERE rid IN (" + runs + ") ORDER BY name LIMIT 1000",
      &out.params));
  FERRY_RETURN_IF_ERROR(
      read("SELECT DISTINCT k.name FROM metric_summaries s JOIN metric_keys k ON k.kid = s.kid "
           "WHERE s.rid IN (" +
               runs + ") ORDER BY k.name LIMIT 1000",
           &out.metrics));
  FERRY_RETURN_IF_ERROR(
      read("SELECT DISTINCT key FROM run_tags WHERE rid IN (" + runs + ") ORDER BY key LIMIT 1000",
           &out.tags));
  return out;
}

Result<std::map<std::string, std::map<std::string, std::string>>> SqliteMetadataStore::ParamsOfRuns(
    const std::vector<std::string>& run_ids) {
  auto lease = Read();
  std::map<std::string, std::map<std::string, std::string>> out;
  FERRY_RETURN_IF_ERROR(
      ForRunsLocked("SELECT r.id, p.name, p.value FROM runs r JOIN run_params p ON p.rid = r.rid "
                    "WHERE r.id IN (%s)",
                    run_ids, [&](const Stmt& st) { out[st.Text(0)][st.Text(1)] = st.Text(2); }));
  return out;
}

Status SqliteMetadataStore::AddArtifacts(const std::string& id,
                                         const std::vector<model::Artifact>& files) {
  WriteLease lease(this, /*data=*/false);
  FERRY_RETURN_IF_ERROR(RidLocked(id).status());
  FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
  Status s = AddArtifactsLocked(id, files);
  if (!s.ok()) {
    (void)db().Exec("ROLLBACK");
    return s;
  }
  return Commit();
}

Result<std::vector<model::Artifact>> SqliteMetadataStore::ListArtifacts(const std::string& id) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
  FERRY_ASSIGN_OR_RETURN(
      Stmt st, db().Prepare("SELECT path, size, hash FROM artifacts WHERE rid=? ORDER BY path"));
  st.Bind(1, rid);
  std::vector<model::Artifact> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.Text(0), static_cast<uint64_t>(st.Int(1)), st.Text(2)});
  }
  return out;
}

Result<int64_t> SqliteMetadataStore::RidLocked(const std::string& id) {
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT rid FROM runs WHERE id=?"));
  st.Bind(1, id);
  FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return RunNotFound(id);
  return st.Int(0);
}

Status SqliteMetadataStore::PutKv(const char* sql, int64_t rid,
                                  const std::map<std::string, std::string>& kv) {
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql));
  for (const auto& [k, v] : kv) {
    if (k.empty()) return Status::InvalidArgument("empty tag or parameter name");
    FERRY_RETURN_IF_ERROR(st.Bind(1, rid).Bind(2, k).Bind(3, v).Run());
  }
  return Status::Ok();
}

Result<std::map<std::string, std::string>> SqliteMetadataStore::ReadKv(const char* sql,
                                                                       int64_t rid) {
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql));
  st.Bind(1, rid);
  std::map<std::string, std::string> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out[st.Text(0)] = st.Text(1);
  }
  return out;
}

Status SqliteMetadataStore::CreateRunLocked(const Run& run,
                                            const std::map<std::string, std::string>& params,
                                            const std::string& token_hash, double now) {
  FERRY_ASSIGN_OR_RETURN(model::Experiment exp,
                         EnsureExperimentLocked(run.experiment, now, run.submitted_by));
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("INSERT INTO runs(id, experiment_id, target, "
                                               "status, script, arguments, python, snapshot_id, "
                                               "git, created_at, token_hash, options, "
                                               "submitted_by, kind, parent_id, name, started_at) "
                                               "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
  // A run is created Queued (whatever run.status says); an external one (an MLflow
  // client's) in its given status, Running, as its client already runs it.
  const bool external = run.kind == "external";
  const RunStatus status = external ? run.status : RunStatus::kQueued;
  st.Bind(1, run.id)
      .Bind(2, exp.id)
      .Bind(3, run.target)
      .Bind(4, model::RunStatusName(status))
      .Bind(5, run.script)
      .Bind(6, json(run.arguments).dump())
      .Bind(7, run.python)
      .Bind(8, run.snapshot_id)
      .Bind(9, GitToJson(run.git).dump())
      .Bind(10, now)
      .Bind(11, token_hash)
      .Bind(12, OptionsToJson(run).dump())
      .Bind(13, run.submitted_by)
      .Bind(14, run.kind.empty() ? "run" : run.kind)
      .Bind(15, run.parent_id)
      .Bind(16, run.name)
      .Bind(17, status == RunStatus::kRunning ? (run.started_at > 0 ? run.started_at : now) : 0.0);
  Status s = st.Run();
  if (s.code() == StatusCode::kAlreadyExists)
    return Status::AlreadyExists("run '" + run.id + "' already exists");
  FERRY_RETURN_IF_ERROR(s);
  int64_t rid = db().LastInsertRowid();
  FERRY_RETURN_IF_ERROR(
      AppendHistory(rid, status, now, external ? "started by its client" : "submitted"));
  FERRY_RETURN_IF_ERROR(PutKv("INSERT OR REPLACE INTO run_tags VALUES(?,?,?)", rid, run.tags));
  FERRY_RETURN_IF_ERROR(PutKv("INSERT OR REPLACE INTO run_params VALUES(?,?,?)", rid, params));
  return Status::Ok();
}

Status SqliteMetadataStore::AppendHistory(int64_t rid, RunStatus s, double now,
                                          const std::string& reason) {
  FERRY_ASSIGN_OR_RETURN(
      Stmt st,
      db().Prepare("INSERT INTO run_status_history SELECT ?1, COALESCE(MAX(seq),0)+1, ?2, ?3, ?4 "
                   "FROM run_status_history WHERE rid=?1"));
  return st.Bind(1, rid).Bind(2, model::RunStatusName(s)).Bind(3, now).Bind(4, reason).Run();
}

Status SqliteMetadataStore::TransitionLocked(const std::string& id, RunStatus to,
                                             const std::string& reason, double now,
                                             const TransitionExtras& extras) {
  FERRY_ASSIGN_OR_RETURN(Stmt q,
                         db().Prepare("SELECT rid, status, cancel_reason FROM runs WHERE id=?"));
  q.Bind(1, id);
  FERRY_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return RunNotFound(id);
  int64_t rid = q.Int(0);
  // A requested cancel says why (the user, a sweep's policy with its numbers); whoever
  // reports the end (agent, scheduler) only knows that it was canceled.
  const std::string cancel_reason = q.Text(2);
  FERRY_ASSIGN_OR_RETURN(RunStatus from, model::ParseRunStatus(q.Text(1)));
  if (!model::IsLegalTransition(from, to)) {
    return Status::FailedPrecondition("run '" + id + "' is " + model::RunStatusName(from) +
                                      "; it cannot become " + model::RunStatusName(to));
  }
  FERRY_RETURN_IF_ERROR(AppendHistory(
      rid, to, now, to == RunStatus::kCanceled && !cancel_reason.empty() ? cancel_reason : reason));
  std::string sql = "UPDATE runs SET status=?2";
  if (to == RunStatus::kRunning) sql += ", started_at=?3";
  if (model::IsTerminal(to)) sql += ", ended_at=?3";
  if (to == RunStatus::kQueued) sql += ", attempt=attempt+1";
  if (extras.exit_code) sql += ", exit_code=?4";
  if (extras.error) sql += ", error=?5";
  if (extras.job_handle) sql += ", job_handle=?6";
  if (extras.gpu_ids) sql += ", gpu_ids=?7";
  sql += " WHERE rid=?1";
  FERRY_ASSIGN_OR_RETURN(Stmt up, db().Prepare(sql));
  up.Bind(1, rid).Bind(2, model::RunStatusName(to)).Bind(3, now);
  if (extras.exit_code) up.Bind(4, *extras.exit_code);
  if (extras.error) up.Bind(5, *extras.error);
  if (extras.job_handle) up.Bind(6, *extras.job_handle);
  if (extras.gpu_ids) up.Bind(7, json(*extras.gpu_ids).dump());
  return up.Run();
}

Status SqliteMetadataStore::AddArtifactsLocked(const std::string& id,
                                               const std::vector<model::Artifact>& files) {
  FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("INSERT OR REPLACE INTO artifacts VALUES(?,?,?,?)"));
  for (const auto& f : files) {
    FERRY_RETURN_IF_ERROR(st.Bind(1, rid)
                              .Bind(2, f.path)
                              .Bind(3, static_cast<int64_t>(f.size))
                              .Bind(4, f.hash)
                              .Run());
  }
  return Status::Ok();
}

Status SqliteMetadataStore::UpdateRun(const char* sql, const std::string& id,
                                      const std::string& value, bool bind_empty) {
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql));
  st.Bind(1, id);
  if (!value.empty() || bind_empty) st.Bind(2, value);
  FERRY_RETURN_IF_ERROR(st.Run());
  if (db().Changes() == 0) return RunNotFound(id);
  return Status::Ok();
}

Result<Run> SqliteMetadataStore::GetRunLocked(const std::string& id, bool summary) {
  FERRY_ASSIGN_OR_RETURN(
      Stmt st,
      db().Prepare(std::string("SELECT ") + kRunColumns +
                   " FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE r.id=?"));
  st.Bind(1, id);
  if (summary) {
    FERRY_ASSIGN_OR_RETURN(auto runs, ReadRunRows(st, true));
    if (runs.empty()) return RunNotFound(id);
    return std::move(runs[0]);
  }
  FERRY_ASSIGN_OR_RETURN(auto runs, ReadRuns(st));
  if (runs.empty()) return RunNotFound(id);
  return std::move(runs[0]);
}

Result<std::vector<Run>> SqliteMetadataStore::ReadRuns(Stmt& st, bool light) {
  FERRY_ASSIGN_OR_RETURN(std::vector<Run> out, ReadRunRows(st, light));
  return WithTags(std::move(out));
}

// The runs' rows; light: without parsing arguments, git state, options and GPU ids.
Result<std::vector<Run>> SqliteMetadataStore::ReadRunRows(Stmt& st, bool light) {
  std::vector<Run> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    Run r;
    r.rid = st.Int(0);
    r.id = st.Text(1);
    r.experiment = st.Text(2);
    r.target = st.Text(3);
    FERRY_ASSIGN_OR_RETURN(r.status, model::ParseRunStatus(st.Text(4)));
    r.script = st.Text(5);
    if (!light) {
      json args = json::parse(st.Text(6), nullptr, false);
      if (args.is_array()) {
        for (auto& a : args) r.arguments.push_back(a.get<std::string>());
      }
      r.git = GitFromJson(st.Text(9));
    }
    r.python = st.Text(7);
    r.snapshot_id = st.Text(8);
    r.created_at = st.Double(10);
    r.started_at = st.Double(11);
    r.ended_at = st.Double(12);
    if (!st.IsNull(13)) r.exit_code = static_cast<int>(st.Int(13));
    r.error = st.Text(14);
    r.attempt = static_cast<int>(st.Int(15));
    r.job_handle = st.Text(16);
    r.cancel_requested = st.Int(17) != 0;
    if (!light) {
      OptionsFromJson(st.Text(18), &r);
      r.gpu_ids = GpuIdsFromJson(st.Text(19));
    }
    r.submitted_by = st.Text(20);
    r.kind = st.Text(21);
    r.parent_id = st.Text(22);
    r.cancel_reason = st.Text(23);
    r.name = st.Text(24);
    r.lifecycle_stage = st.Text(25);
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<Run>> SqliteMetadataStore::WithTags(std::vector<Run> out) {
  if (out.size() == 1) {
    FERRY_ASSIGN_OR_RETURN(
        out[0].tags,
        ReadKv("SELECT key, value FROM run_tags WHERE rid=? ORDER BY key", out[0].rid));
    return out;
  }
  // Many runs: their tags in a few queries, not one per run.
  std::unordered_map<int64_t, Run*> by_rid;
  std::vector<int64_t> rids;
  for (auto& r : out) {
    by_rid.emplace(r.rid, &r);
    rids.push_back(r.rid);
  }
  FERRY_RETURN_IF_ERROR(ForRunsLocked(
      "SELECT rid, key, value FROM run_tags WHERE rid IN (%s)", rids,
      [&](const Stmt& t) { by_rid.at(t.Int(0))->tags.emplace(t.Text(1), t.Text(2)); }));
  return out;
}

}  // namespace ferry::store
