// SqliteMetadataStore's metrics: idempotent appends keyed by (run, key, seq), per-run
// summaries, per-bucket rollups, and the reads (all points, after a sequence number, a
// downsampled series, MLflow's latest points).
#include "store/sqlite_store_internal.h"

namespace ferry::store {

using model::Run;
using model::RunStatus;
using nlohmann::json;

namespace {

// MLflow's latest point of a metric (its SQLAlchemy store's latest_metrics): the highest step,
// then the latest time, then the largest value, a NaN counting as 0 - a point replaces the
// latest only when strictly later by these, so of equal ones the first logged stays, which
// is the lowest sequence number (sequence numbers follow the order of logging). This is a
// total order, so the latest does not depend on the order batches arrive in. True when a is
// later than b. The SQL of the summaries' upsert (kLatestWins) is the same rule.
bool MlflowLater(const model::MetricPoint& a, const model::MetricPoint& b) {
  if (a.step != b.step) return a.step > b.step;
  if (a.time != b.time) return a.time > b.time;
  const double av = std::isnan(a.value) ? 0 : a.value, bv = std::isnan(b.value) ? 0 : b.value;
  if (av != bv) return av > bv;
  return a.seq < b.seq;
}
constexpr const char* kLatestWins =
    "(latest_seq < 0 OR excluded.latest_step > latest_step OR (excluded.latest_step = latest_step "
    "AND "
    "(excluded.latest_time > latest_time OR (excluded.latest_time = latest_time AND "
    "(COALESCE(excluded.latest_value, 0) > COALESCE(latest_value, 0) OR "
    "(COALESCE(excluded.latest_value, 0) = COALESCE(latest_value, 0) AND excluded.latest_seq < "
    "latest_seq))))))";

// Sequence numbers per rollup bucket (as a shift).
constexpr int kRollupShift = 8;

// A metric point from columns seq, step, value, time starting at col (NULL value: NaN).
model::MetricPoint PointFrom(const Stmt& st, int col, std::string key) {
  model::MetricPoint p;
  p.key = std::move(key);
  p.seq = st.Int(col);
  p.step = st.Int(col + 1);
  p.value = st.IsNull(col + 2) ? std::numeric_limits<double>::quiet_NaN() : st.Double(col + 2);
  p.time = st.Double(col + 3);
  return p;
}

}  // namespace

Result<int64_t> SqliteMetadataStore::LogMetrics(const std::string& id,
                                                std::vector<model::MetricPoint> points) {
  WriteLease lease(this, /*data=*/true);
  FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
  if (points.empty()) return int64_t{0};
  // Client-logged points take sequence numbers from their own range, above every rank's:
  // an agent's metrics file and a client may log to the same run.
  auto next = client_seq_.find(rid);
  if (next == client_seq_.end()) {
    FERRY_ASSIGN_OR_RETURN(Stmt q,
                           db().Prepare("SELECT MAX(seq) FROM metrics WHERE rid=? AND seq>=?"));
    q.Bind(1, rid).Bind(2, kClientSeqBase);
    FERRY_ASSIGN_OR_RETURN(bool row, q.Step());
    int64_t first = row && !q.IsNull(0) ? q.Int(0) + 1 : kClientSeqBase;
    next = client_seq_.emplace(rid, first).first;
  }
  for (auto& p : points) p.seq = next->second++;
  FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
  auto r = AppendMetricsLocked(rid, points);
  Status done = r.ok() ? Commit() : r.status();
  if (!done.ok()) {
    if (!r.ok()) (void)db().Exec("ROLLBACK");  // Commit rolls back itself
    key_cache_.clear();      // ids assigned in the rolled-back transaction are gone
    client_seq_.erase(rid);  // read again from what is stored
    return done;
  }
  return r;
}

Result<int64_t> SqliteMetadataStore::NextMetricSeq(const std::string& id, int rank) {
  FERRY_ASSIGN_OR_RETURN(int64_t points, NextPointSeq(id, rank));
  // The metrics file's lines number the non-numeric values too (model::RunValue).
  auto lease = Read();
  const int64_t lo = static_cast<int64_t>(rank) << kRankSeqShift,
                hi = static_cast<int64_t>(rank + 1) << kRankSeqShift;
  FERRY_ASSIGN_OR_RETURN(Stmt st,
                         db().Prepare("SELECT MAX(v.seq) FROM run_values v JOIN runs r ON "
                                      "r.rid = v.rid WHERE r.id=? AND v.seq>=? AND v.seq<?"));
  st.Bind(1, id).Bind(2, lo).Bind(3, hi);
  FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row || st.IsNull(0)) return points;
  return std::max(points, st.Int(0) + 1);
}

Result<int64_t> SqliteMetadataStore::NextPointSeq(const std::string& id, int rank) {
  auto lease = Read();
  const int64_t lo = static_cast<int64_t>(rank) << kRankSeqShift,
                hi = static_cast<int64_t>(rank + 1) << kRankSeqShift;
  // The summaries' highest sequence number answers when it is in this rank's range (always
  // for single-process runs); else the rank's own points are looked at.
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT MAX(s.last_seq) FROM metric_summaries s "
                                               "JOIN runs r ON r.rid = s.rid WHERE r.id=?"));
  st.Bind(1, id);
  FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row || st.IsNull(0) || st.Int(0) < lo) return lo;
  if (st.Int(0) < hi) return st.Int(0) + 1;
  FERRY_ASSIGN_OR_RETURN(Stmt q,
                         db().Prepare("SELECT MAX(m.seq) FROM metrics m JOIN runs r ON r.rid = "
                                      "m.rid WHERE r.id=? AND m.seq>=? AND m.seq<?"));
  q.Bind(1, id).Bind(2, lo).Bind(3, hi);
  FERRY_ASSIGN_OR_RETURN(row, q.Step());
  if (!row || q.IsNull(0)) return lo;
  return q.Int(0) + 1;
}

Result<int64_t> SqliteMetadataStore::AppendMetrics(int64_t rid,
                                                   std::span<const model::MetricPoint> points) {
  WriteLease lease(this, /*data=*/true);
  if (points.empty()) return int64_t{0};
  FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
  auto r = AppendMetricsLocked(rid, points);
  if (!r.ok()) {
    (void)db().Exec("ROLLBACK");
    key_cache_.clear();  // ids assigned in the rolled-back transaction are gone
    return r.status();
  }
  FERRY_RETURN_IF_ERROR(Commit());
  return r;
}

Result<std::vector<model::MetricPoint>> SqliteMetadataStore::GetMetrics(const std::string& id,
                                                                        const std::string& key) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
  std::string sql =
      "SELECT k.name, m.seq, m.step, m.value, m.time FROM metrics m JOIN metric_keys k ON k.kid = "
      "m.kid "
      "WHERE m.rid=?1";
  if (!key.empty()) sql += " AND k.name=?2";
  sql += " ORDER BY k.name, m.seq";
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql));
  st.Bind(1, rid);
  if (!key.empty()) st.Bind(2, key);
  std::vector<model::MetricPoint> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(PointFrom(st, 1, st.Text(0)));
  }
  return out;
}

Result<std::vector<model::MetricPoint>> SqliteMetadataStore::GetMetricsAfter(const std::string& id,
                                                                             const std::string& key,
                                                                             int64_t after_seq,
                                                                             int64_t limit) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
  FERRY_ASSIGN_OR_RETURN(
      Stmt st,
      db().Prepare("SELECT m.seq, m.step, m.value, m.time FROM metrics m WHERE m.rid=?1 AND "
                   "m.kid=(SELECT kid FROM metric_keys WHERE name=?2) AND m.seq>?3 ORDER BY "
                   "m.seq LIMIT ?4"));
  st.Bind(1, rid).Bind(2, key).Bind(3, after_seq).Bind(4, limit);
  std::vector<model::MetricPoint> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(PointFrom(st, 0, key));
  }
  return out;
}

Result<std::vector<model::MetricPoint>> SqliteMetadataStore::GetMetricSeries(const std::string& id,
                                                                             const std::string& key,
                                                                             int64_t max_points,
                                                                             int64_t* total,
                                                                             int64_t* max_seq) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
  std::vector<model::MetricPoint> out;
  *total = 0;
  if (max_seq) *max_seq = 0;
  FERRY_ASSIGN_OR_RETURN(Stmt k, db().Prepare("SELECT kid FROM metric_keys WHERE name=?"));
  k.Bind(1, key);
  FERRY_ASSIGN_OR_RETURN(bool has_key, k.Step());
  if (!has_key) return out;
  const int64_t kid = k.Int(0);
  FERRY_ASSIGN_OR_RETURN(
      Stmt c, db().Prepare("SELECT count, last_seq FROM metric_summaries WHERE rid=? AND kid=?"));
  c.Bind(1, rid).Bind(2, kid);
  FERRY_ASSIGN_OR_RETURN(bool has_count, c.Step());
  *total = has_count ? c.Int(0) : 0;
  if (max_seq && has_count) *max_seq = c.Int(1);
  FERRY_ASSIGN_OR_RETURN(
      Stmt st,
      db().Prepare(
          "SELECT seq, step, value, time FROM metrics WHERE rid=? AND kid=? ORDER BY seq"));
  st.Bind(1, rid).Bind(2, kid);
  auto point = [&]() { return PointFrom(st, 0, key); };
  const int64_t buckets = std::max<int64_t>(1, max_points / 2);
  if (max_points > 0 && *total > max_points) {
    // A long series: from its rollups when they are complete and at least half as fine as
    // the slices asked for (a few thousand rows instead of every point).
    FERRY_ASSIGN_OR_RETURN(Stmt rc, db().Prepare("SELECT COUNT(*), COALESCE(SUM(count), 0) FROM "
                                                 "metric_rollups WHERE rid=? AND kid=?"));
    rc.Bind(1, rid).Bind(2, kid);
    FERRY_ASSIGN_OR_RETURN(bool any_row, rc.Step());
    if (any_row && rc.Int(1) == *total && rc.Int(0) * 2 >= buckets) {
      return SeriesFromRollupsLocked(rid, kid, key, rc.Int(0), buckets);
    }
  }
  if (max_points <= 0 || *total <= max_points) {
    for (;;) {
      FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(point());
    }
    return out;
  }
  // One pass: slice b holds rows [b * total / buckets, (b + 1) * total / buckets).
  out.reserve(static_cast<size_t>(2 * buckets));
  int64_t i = 0, bucket = -1;
  std::optional<model::MetricPoint> lo, hi, any;
  auto flush = [&]() {
    if (lo && hi) {
      if (lo->seq == hi->seq)
        out.push_back(*lo);
      else if (lo->seq < hi->seq)
        out.push_back(*lo), out.push_back(*hi);
      else
        out.push_back(*hi), out.push_back(*lo);
    } else if (any) {
      out.push_back(*any);  // a slice of NaNs only
    }
    lo.reset();
    hi.reset();
    any.reset();
  };
  for (;; ++i) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    const int64_t b = std::min(buckets - 1, i * buckets / std::max<int64_t>(*total, 1));
    if (b != bucket) {
      flush();
      bucket = b;
    }
    model::MetricPoint p = point();
    if (std::isnan(p.value)) {
      if (!any) any = p;
      continue;
    }
    if (!lo || p.value < lo->value) lo = p;
    if (!hi || p.value > hi->value) hi = p;
  }
  flush();
  *total = std::max(*total, i);
  return out;
}

Result<std::vector<model::MetricSummary>> SqliteMetadataStore::MetricSummaries(
    const std::string& id) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
  FERRY_ASSIGN_OR_RETURN(
      Stmt st, db().Prepare("SELECT k.name, s.count, s.min, s.max, s.last, s.last_step, "
                            "s.last_seq FROM metric_summaries s "
                            "JOIN metric_keys k ON k.kid = s.kid WHERE s.rid=? ORDER BY k.name"));
  st.Bind(1, rid);
  std::vector<model::MetricSummary> out;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.Text(0), st.Int(1), st.IsNull(2) ? nan : st.Double(2),
                   st.IsNull(3) ? nan : st.Double(3), st.IsNull(4) ? nan : st.Double(4), st.Int(5),
                   st.Int(6)});
  }
  return out;
}

Result<std::map<std::string, std::vector<model::MetricPoint>>> SqliteMetadataStore::LatestMetrics(
    const std::vector<std::string>& run_ids) {
  auto lease = Read();
  std::map<std::string, std::vector<model::MetricPoint>> out;
  FERRY_RETURN_IF_ERROR(ForRunsLocked(
      "SELECT r.id, k.name, s.latest_seq, s.latest_step, s.latest_value, s.latest_time FROM runs "
      "r "
      "JOIN metric_summaries s ON s.rid = r.rid JOIN metric_keys k ON k.kid = s.kid WHERE r.id "
      "IN (%s) "
      "ORDER BY r.id, k.name",
      run_ids, [&](const Stmt& st) { out[st.Text(0)].push_back(PointFrom(st, 2, st.Text(1))); }));
  return out;
}

Result<int64_t> SqliteMetadataStore::KeyId(const std::string& name) {
  auto it = key_cache_.find(name);
  if (it != key_cache_.end()) return it->second;
  if (!key_insert_) {
    FERRY_ASSIGN_OR_RETURN(Stmt a,
                           db().Prepare("INSERT OR IGNORE INTO metric_keys(name) VALUES(?)"));
    FERRY_ASSIGN_OR_RETURN(Stmt b, db().Prepare("SELECT kid FROM metric_keys WHERE name=?"));
    key_insert_.emplace(std::move(a));
    key_select_.emplace(std::move(b));
  }
  FERRY_RETURN_IF_ERROR(key_insert_->Bind(1, name).Run());
  key_select_->Bind(1, name);
  FERRY_ASSIGN_OR_RETURN(bool row, key_select_->Step());
  int64_t kid = row ? key_select_->Int(0) : -1;
  key_select_->Reset();
  if (kid < 0) return Status::Internal("metric key vanished: " + name);
  key_cache_.emplace(name, kid);
  return kid;
}

// Groups consecutive rollup buckets into at most `slices` slices; each gives its lowest and
// highest point in sequence order (one NaN point for a slice of NaNs only).
Result<std::vector<model::MetricPoint>> SqliteMetadataStore::SeriesFromRollupsLocked(
    int64_t rid, int64_t kid, const std::string& key, int64_t rows, int64_t slices) {
  FERRY_ASSIGN_OR_RETURN(Stmt st,
                         db().Prepare("SELECT lo_seq, lo_step, lo_value, lo_time, hi_seq, hi_step, "
                                      "hi_value, hi_time, any_seq, any_step, any_time "
                                      "FROM metric_rollups WHERE rid=? AND kid=? ORDER BY bucket"));
  st.Bind(1, rid).Bind(2, kid);
  const int64_t per = (rows + slices - 1) / slices;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<model::MetricPoint> out;
  out.reserve(static_cast<size_t>(2 * slices));
  std::optional<model::MetricPoint> lo, hi, any;

  auto flush = [&] {
    if (lo && hi) {
      if (lo->seq == hi->seq)
        out.push_back(*lo);
      else if (lo->seq < hi->seq)
        out.push_back(*lo), out.push_back(*hi);
      else
        out.push_back(*hi), out.push_back(*lo);
    } else if (any) {
      out.push_back(*any);
    }
    lo.reset();
    hi.reset();
    any.reset();
  };
  for (int64_t i = 0;; ++i) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    if (i > 0 && i % per == 0) flush();
    if (!any)
      any = model::MetricPoint{st.Int(8), key, nan, st.Int(9), st.Double(10)};  // a NaN point
    if (!st.IsNull(0) && (!lo || st.Double(2) < lo->value)) lo = PointFrom(st, 0, key);
    if (!st.IsNull(4) && (!hi || st.Double(6) > hi->value)) hi = PointFrom(st, 4, key);
  }
  flush();
  return out;
}

Result<int64_t> SqliteMetadataStore::AppendMetricsLocked(
    int64_t rid, std::span<const model::MetricPoint> points) {
  if (!metric_insert_) {
    FERRY_ASSIGN_OR_RETURN(Stmt a,
                           db().Prepare("INSERT OR IGNORE INTO metrics VALUES(?,?,?,?,?,?)"));
    std::string summary_sql =
        "INSERT INTO metric_summaries VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12) ON "
        "CONFLICT(rid,kid) DO UPDATE SET "
        "count=count+excluded.count, "
        "min=CASE WHEN excluded.min IS NULL THEN min WHEN min IS NULL OR excluded.min<min THEN "
        "excluded.min ELSE min END, "
        "max=CASE WHEN excluded.max IS NULL THEN max WHEN max IS NULL OR excluded.max>max THEN "
        "excluded.max ELSE max END, "
        "last=CASE WHEN excluded.last_seq>last_seq THEN excluded.last ELSE last END, "
        "last_step=CASE WHEN excluded.last_seq>last_seq THEN excluded.last_step ELSE last_step "
        "END, "
        "last_seq=MAX(last_seq, excluded.last_seq)";
    for (const char* col : {"latest_seq", "latest_step", "latest_time", "latest_value"}) {
      summary_sql += std::string(", ") + col + "=CASE WHEN " + kLatestWins + " THEN excluded." +
                     col + " ELSE " + col + " END";
    }
    FERRY_ASSIGN_OR_RETURN(Stmt b, db().Prepare(summary_sql));
    // A batch's lowest/highest point replaces the stored one (NaN-only sides are NULL).
    std::string rollup_sql =
        "INSERT INTO metric_rollups VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15) "
        "ON CONFLICT(rid,kid,bucket) DO UPDATE SET count=count+excluded.count";
    for (auto [side, cmp] : {std::pair{"lo", "<"}, std::pair{"hi", ">"}}) {
      std::string s(side), wins = "excluded." + s + "_value IS NOT NULL AND (" + s +
                                  "_value IS NULL OR excluded." + s + "_value " + cmp + " " + s +
                                  "_value)";
      for (const char* col : {"_seq", "_step", "_time", "_value"}) {
        rollup_sql += ", " + s + col + "=CASE WHEN " + wins + " THEN excluded." + s + col +
                      " ELSE " + s + col + " END";
      }
    }
    FERRY_ASSIGN_OR_RETURN(Stmt c, db().Prepare(rollup_sql));
    metric_insert_.emplace(std::move(a));
    summary_upsert_.emplace(std::move(b));
    rollup_upsert_.emplace(std::move(c));
  }
  std::unordered_map<int64_t, Agg> aggs;
  std::map<std::pair<int64_t, int64_t>, Rollup> rollups;  // (kid, bucket)
  int64_t inserted = 0;
  Stmt& ins = *metric_insert_;
  for (const auto& p : points) {
    FERRY_ASSIGN_OR_RETURN(int64_t kid, KeyId(p.key));
    ins.Bind(1, rid).Bind(2, kid).Bind(3, p.seq).Bind(4, p.step);
    if (std::isnan(p.value))
      ins.BindNull(5);
    else
      ins.Bind(5, p.value);
    ins.Bind(6, p.time);
    auto r = ins.Step();
    ins.Reset();
    if (!r.ok()) return r.status();
    if (db().Changes() == 0) continue;  // already stored: a resend after a lost ack
    ++inserted;
    Rollup& roll = rollups[{kid, p.seq >> kRollupShift}];
    if (roll.count++ == 0) roll.any = &p;
    if (!std::isnan(p.value)) {
      if (!roll.lo || p.value < roll.lo->value) roll.lo = &p;
      if (!roll.hi || p.value > roll.hi->value) roll.hi = &p;
    }
    Agg& a = aggs[kid];
    ++a.count;
    if (!std::isnan(p.value)) {
      a.min = std::min(a.min, p.value);
      a.max = std::max(a.max, p.value);
    }
    if (p.seq > a.last_seq) {
      a.last_seq = p.seq;
      a.last = p.value;
      a.last_step = p.step;
    }
    if (!a.latest || MlflowLater(p, *a.latest)) a.latest = &p;
  }
  Stmt& up = *summary_upsert_;
  for (const auto& [kid, a] : aggs) {
    up.Bind(1, rid).Bind(2, kid).Bind(3, a.count);
    if (a.min > a.max)
      up.BindNull(4).BindNull(5);  // only NaN values so far
    else
      up.Bind(4, a.min).Bind(5, a.max);
    if (std::isnan(a.last))
      up.BindNull(6);
    else
      up.Bind(6, a.last);
    up.Bind(7, a.last_step).Bind(8, a.last_seq);
    up.Bind(9, a.latest->seq).Bind(10, a.latest->step).Bind(11, a.latest->time);
    if (std::isnan(a.latest->value))
      up.BindNull(12);
    else
      up.Bind(12, a.latest->value);
    FERRY_RETURN_IF_ERROR(up.Run());
  }
  Stmt& ru = *rollup_upsert_;
  for (const auto& [kb, r] : rollups) {
    ru.Bind(1, rid).Bind(2, kb.first).Bind(3, kb.second).Bind(4, r.count);
    for (auto [pt, col] : {std::pair{r.lo, 5}, std::pair{r.hi, 9}}) {
      if (pt)
        ru.Bind(col, pt->seq)
            .Bind(col + 1, pt->step)
            .Bind(col + 2, pt->value)
            .Bind(col + 3, pt->time);
      else
        ru.BindNull(col).BindNull(col + 1).BindNull(col + 2).BindNull(col + 3);
    }
    ru.Bind(13, r.any->seq).Bind(14, r.any->step).Bind(15, r.any->time);
    FERRY_RETURN_IF_ERROR(ru.Run());
  }
  return inserted;
}

Result<int64_t> SqliteMetadataStore::AppendValues(int64_t rid,
                                                  std::span<const model::RunValue> values,
                                                  bool client) {
  WriteLease lease(this, /*data=*/true);
  if (values.empty()) return int64_t{0};
  FERRY_RETURN_IF_ERROR(db().Exec("BEGIN IMMEDIATE"));
  auto append = [&]() -> Result<int64_t> {
    int64_t next = 0;
    if (client) {  // a client's values: numbered after its earlier ones, above every rank's
      FERRY_ASSIGN_OR_RETURN(
          Stmt q, db().Prepare("SELECT MAX(seq) FROM run_values WHERE rid=? AND seq>=?"));
      q.Bind(1, rid).Bind(2, kClientSeqBase);
      FERRY_ASSIGN_OR_RETURN(bool row, q.Step());
      next = row && !q.IsNull(0) ? q.Int(0) + 1 : kClientSeqBase;
    }
    FERRY_ASSIGN_OR_RETURN(Stmt ins,
                           db().Prepare("INSERT OR IGNORE INTO run_values(rid, seq, key, "
                                        "type, value, step, time) VALUES(?,?,?,?,?,?,?)"));
    int64_t stored = 0;
    for (const auto& v : values) {
      ins.Reset();
      ins.Bind(1, rid)
          .Bind(2, client ? next++ : v.seq)
          .Bind(3, v.key)
          .Bind(4, v.type)
          .Bind(5, v.value)
          .Bind(6, v.step)
          .Bind(7, v.time);
      FERRY_RETURN_IF_ERROR(ins.Run());
      stored += db().Changes();
    }
    return stored;
  };
  auto r = append();
  if (!r.ok()) {
    (void)db().Exec("ROLLBACK");
    return r.status();
  }
  FERRY_RETURN_IF_ERROR(Commit());
  return r;
}

Result<std::vector<model::RunValue>> SqliteMetadataStore::GetValues(const std::string& id,
                                                                    const std::string& key) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(int64_t rid, RidLocked(id));
  std::string sql = "SELECT key, seq, type, value, step, time FROM run_values WHERE rid=?1";
  if (!key.empty()) sql += " AND key=?2";
  sql += " ORDER BY key, seq";
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql));
  st.Bind(1, rid);
  if (!key.empty()) st.Bind(2, key);
  std::vector<model::RunValue> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    model::RunValue v;
    v.key = st.Text(0);
    v.seq = st.Int(1);
    v.type = st.Text(2);
    v.value = st.Text(3);
    v.step = st.Int(4);
    v.time = st.Double(5);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace ferry::store
