// Seeds a workspace's store with many finished runs, for Studio's runs-table benchmark and
// its 100,000-run browser test: seed_runs <ferry.db> <count> [experiment [points]]. The server must
// not be running. One run goes through the store (so the schema is current); the others are
// copies of it made in one SQLite transaction, each with a parameter `lr`, a tag `batch` and
// a metric `loss` (its summary), statuses mostly Completed with some Failed and Canceled.
// Run ids are seed-0000001 (oldest) ... seed-<count>. With points, the first run's `loss` has
// that many points (a noisy decaying curve; for the 1,000,000-point chart benchmark).
#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "store/metadata_store.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: seed_runs <ferry.db> <count> [experiment [points]]\n");
    return 2;
  }
  const std::string db_path = argv[1];
  const long count = std::strtol(argv[2], nullptr, 10);
  const std::string experiment = argc > 3 ? argv[3] : "seeded";
  const long points = argc > 4 ? std::strtol(argv[4], nullptr, 10) : 0;
  if (count < 1) {
    std::fprintf(stderr, "seed_runs: count must be at least 1\n");
    return 2;
  }
  {
    auto store = ferry::store::OpenSqliteMetadataStore(db_path);
    if (!store.ok()) {
      std::fprintf(stderr, "seed_runs: %s\n", store.status().ToString().c_str());
      return 1;
    }
    ferry::model::Run r;
    r.id = "seed-0000001";
    r.experiment = experiment;
    r.target = "local";
    r.script = "train.py";
    r.arguments = {"--epochs", "10"};
    r.python = "python3";
    r.snapshot_id = std::string(64, '0');
    auto made = (*store)->CreateRun(r, {}, "seed", 1.7e9);
    if (!made.ok()) {
      std::fprintf(stderr, "seed_runs: %s\n", made.status().ToString().c_str());
      return 1;
    }
    // The long series goes through the store, as an agent's points do (summaries, rollups).
    std::vector<ferry::model::MetricPoint> batch;
    for (long n = 0; n < points; ++n) {
      double v = 2.0 / (1.0 + n / 5000.0) + 0.1 * static_cast<double>((n * 7919) % 1000) / 1000.0;
      batch.push_back({n, "loss", v, n, 1.7e9 + n * 0.01});
      if (batch.size() == 20000 || n + 1 == points) {
        auto st = (*store)->AppendMetrics(made->rid, batch);
        if (!st.ok()) {
          std::fprintf(stderr, "seed_runs: %s\n", st.status().ToString().c_str());
          return 1;
        }
        batch.clear();
      }
    }
  }
  sqlite3* db = nullptr;
  if (sqlite3_open(db_path.c_str(), &db) != SQLITE_OK) return 1;
  const std::string sql = R"sql(
PRAGMA journal_mode=WAL;
BEGIN;
WITH RECURSIVE seq(n) AS (SELECT 2 UNION ALL SELECT n + 1 FROM seq WHERE n <= )sql" +
                          std::to_string(count - 1) + R"sql()
INSERT INTO runs(id, experiment_id, target, status, script, arguments, python, snapshot_id, git, created_at,
                 started_at, ended_at, exit_code, error, token_hash, options, kind)
SELECT printf('seed-%07d', n), t.experiment_id, t.target,
       CASE n % 10 WHEN 0 THEN 'Failed' WHEN 5 THEN 'Canceled' ELSE 'Completed' END,
       t.script, t.arguments, t.python, t.snapshot_id, t.git, 1.7e9 + n * 10, 1.7e9 + n * 10 + 2,
       1.7e9 + n * 10 + 2 + (n % 97), CASE n % 10 WHEN 0 THEN 1 ELSE 0 END,
       CASE n % 10 WHEN 0 THEN 'script exited with code 1' ELSE '' END, t.token_hash, t.options, t.kind
FROM seq, runs t WHERE t.id = 'seed-0000001';
UPDATE runs SET status = 'Completed', started_at = 1.7e9 + 2, ended_at = 1.7e9 + 40, exit_code = 0
  WHERE id = 'seed-0000001';
INSERT OR REPLACE INTO run_params(rid, name, value)
  SELECT rid, 'lr', printf('%g', 0.0001 * (1 + rid % 100)) FROM runs WHERE id GLOB 'seed-*';
INSERT OR REPLACE INTO run_tags(rid, key, value)
  SELECT rid, 'batch', printf('b%d', rid % 7) FROM runs WHERE id GLOB 'seed-*';
INSERT OR IGNORE INTO metric_keys(name) VALUES('loss');
INSERT OR REPLACE INTO metric_summaries(rid, kid, count, min, max, last, last_step, last_seq)
  SELECT rid, (SELECT kid FROM metric_keys WHERE name = 'loss'), 1, v, v, v, 0, 0
  FROM (SELECT rid, 1.0 / (1 + (rid * 7919) % 1000) AS v FROM runs WHERE id GLOB 'seed-*'
        AND (id != 'seed-0000001' OR NOT EXISTS (SELECT 1 FROM metric_summaries s WHERE s.rid = runs.rid)));
COMMIT;
)sql";
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::fprintf(stderr, "seed_runs: %s\n", err ? err : "sqlite error");
    sqlite3_free(err);
    sqlite3_close(db);
    return 1;
  }
  sqlite3_close(db);
  std::printf("seeded %ld runs in experiment '%s'\n", count, experiment.c_str());
  return 0;
}
