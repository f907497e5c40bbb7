// Store-level metric ingestion benchmark.
//
// Ferry:  MetadataStore::AppendMetrics (SQLite store, as opened by the server) in batches of
//         --batch points (10 keys, increasing seq/step) until --points points.
// Anchor: raw SQLite, same PRAGMAs (WAL, synchronous=FULL), a bare table
//         metrics(rid,kid,seq,step,value,time) WITHOUT ROWID, PRIMARY KEY(rid,kid,seq),
//         one prepared INSERT OR IGNORE, one transaction per batch.
//
// Only the store calls / transactions are timed (building the input rows is not).
// Each side runs --reps times in a fresh temporary directory; the median is reported.
// Output: human-readable lines, then one line "RESULT key=value ..." for bench/run_all.sh.
// This is a benchmark, not a test: the exit status is 0 unless something failed to run.
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "store/metadata_store.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int64_t points = 2'000'000;
  int64_t batch = 20'000;
  int keys = 10;
  int reps = 3;
  std::string dir;  // parent of the temporary directories ("" = $TMPDIR or /tmp)
};

struct Sample {
  double seconds = 0;    // sum of the timed batch calls
  double first_pps = 0;  // throughput of the first 10% of batches
  double last_pps = 0;   // throughput of the last 10% of batches
  double p50_ms = 0, max_ms = 0;
};

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "metric_ingest: %s\n", msg.c_str());
  std::exit(2);
}

std::string MakeTempDir(const Options& o) {
  std::string parent = o.dir;
  if (parent.empty()) {
    const char* t = std::getenv("TMPDIR");
    parent = (t && *t) ? t : "/tmp";
  }
  std::string tmpl = parent + "/ferry-bench-ingest-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) Die("mkdtemp failed in " + parent);
  return buf.data();
}

// Fills `out` with points [first, first + n): key i % keys, seq i, step i / keys.
void FillBatch(std::vector<ferry::model::MetricPoint>& out, const std::vector<std::string>& keys,
               int64_t first, int64_t n) {
  out.resize(static_cast<size_t>(n));
  const int64_t k = static_cast<int64_t>(keys.size());
  for (int64_t j = 0; j < n; ++j) {
    int64_t i = first + j;
    auto& p = out[static_cast<size_t>(j)];
    p.key = keys[static_cast<size_t>(i % k)];
    p.seq = i;
    p.step = i / k;
    p.value = 1.0 / static_cast<double>(1 + (i % 977)) + static_cast<double>(i % 13);
    p.time = 1.7e9 + static_cast<double>(i) * 1e-3;
  }
}

Sample Summarise(const std::vector<double>& batch_s, int64_t batch) {
  Sample s;
  for (double b : batch_s) s.seconds += b;
  std::vector<double> sorted = batch_s;
  std::sort(sorted.begin(), sorted.end());
  s.p50_ms = sorted[sorted.size() / 2] * 1e3;
  s.max_ms = sorted.back() * 1e3;
  size_t tenth = std::max<size_t>(1, batch_s.size() / 10);
  double a = 0, z = 0;
  for (size_t i = 0; i < tenth; ++i) a += batch_s[i];
  for (size_t i = batch_s.size() - tenth; i < batch_s.size(); ++i) z += batch_s[i];
  s.first_pps = static_cast<double>(tenth * batch) / a;
  s.last_pps = static_cast<double>(tenth * batch) / z;
  return s;
}

Sample RunFerry(const Options& o, const std::vector<std::string>& keys) {
  std::string dir = MakeTempDir(o);
  auto store = ferry::store::OpenSqliteMetadataStore(dir + "/ferry.db");
  if (!store.ok()) Die(store.status().ToString());
  ferry::model::Run run;
  run.id = "bench-ingest-run";
  run.experiment = "bench";
  run.target = "local";
  run.script = "train.py";
  run.python = "python3";
  run.snapshot_id = "none";
  auto created = (*store)->CreateRun(run, {}, "token-hash", 1.7e9);
  if (!created.ok()) Die(created.status().ToString());
  const int64_t rid = created->rid;
  std::vector<ferry::model::MetricPoint> pts;
  std::vector<double> batch_s;
  for (int64_t first = 0; first < o.points; first += o.batch) {
    int64_t n = std::min(o.batch, o.points - first);
    FillBatch(pts, keys, first, n);
    auto t0 = Clock::now();
    auto r = (*store)->AppendMetrics(rid, pts);
    auto t1 = Clock::now();
    if (!r.ok()) Die(r.status().ToString());
    if (*r != n) Die("AppendMetrics stored " + std::to_string(*r) + " of " + std::to_string(n));
    batch_s.push_back(std::chrono::duration<double>(t1 - t0).count());
  }
  // Sanity: the summaries saw every point.
  auto sums = (*store)->MetricSummaries(run.id);
  if (!sums.ok()) Die(sums.status().ToString());
  int64_t total = 0;
  for (auto& s : *sums) total += s.count;
  if (total != o.points) Die("summaries count " + std::to_string(total) + " points");
  store->reset();
  std::filesystem::remove_all(dir);
  return Summarise(batch_s, o.batch);
}

void Check(sqlite3* db, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    Die(std::string(what) + ": " + sqlite3_errmsg(db));
  }
}

void Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "?";
    sqlite3_free(err);
    Die(std::string("exec '") + sql + "': " + m);
  }
}

Sample RunAnchor(const Options& o, const std::vector<std::string>& keys) {
  std::string dir = MakeTempDir(o);
  std::string path = dir + "/anchor.db";
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    Die("cannot open " + path);
  }
  Exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY;");
  Exec(db,
       "CREATE TABLE metrics(rid INTEGER NOT NULL, kid INTEGER NOT NULL, seq INTEGER NOT NULL, "
       "step INTEGER NOT NULL, value REAL, time REAL NOT NULL, PRIMARY KEY(rid, kid, seq)) WITHOUT "
       "ROWID");
  sqlite3_stmt* ins = nullptr;
  Check(db,
        sqlite3_prepare_v3(db, "INSERT OR IGNORE INTO metrics VALUES(?,?,?,?,?,?)", -1,
                           SQLITE_PREPARE_PERSISTENT, &ins, nullptr),
        "prepare");
  const int64_t rid = 1;
  std::vector<ferry::model::MetricPoint> pts;
  std::vector<double> batch_s;
  for (int64_t first = 0; first < o.points; first += o.batch) {
    int64_t n = std::min(o.batch, o.points - first);
    FillBatch(pts, keys, first, n);
    auto t0 = Clock::now();
    Exec(db, "BEGIN IMMEDIATE");
    for (const auto& p : pts) {
      // kid: the key's index (the anchor has no key table; Ferry resolves names via a cache).
      int64_t kid = p.seq % static_cast<int64_t>(keys.size()) + 1;
      sqlite3_bind_int64(ins, 1, rid);
      sqlite3_bind_int64(ins, 2, kid);
      sqlite3_bind_int64(ins, 3, p.seq);
      sqlite3_bind_int64(ins, 4, p.step);
      sqlite3_bind_double(ins, 5, p.value);
      sqlite3_bind_double(ins, 6, p.time);
      Check(db, sqlite3_step(ins), "insert");
      sqlite3_reset(ins);
    }
    Exec(db, "COMMIT");
    auto t1 = Clock::now();
    batch_s.push_back(std::chrono::duration<double>(t1 - t0).count());
  }
  sqlite3_finalize(ins);
  sqlite3_close(db);
  std::filesystem::remove_all(dir);
  return Summarise(batch_s, o.batch);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void Print(const char* name, const Options& o, const std::vector<Sample>& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    std::printf(
        "  %-6s rep %zu: %8.3f s  %10.0f points/s  (first 10%%: %.0f/s, last 10%%: %.0f/s; "
        "batch p50 %.1f ms, max %.1f ms)\n",
        name, i + 1, s[i].seconds, static_cast<double>(o.points) / s[i].seconds, s[i].first_pps,
        s[i].last_pps, s[i].p50_ms, s[i].max_ms);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--points")
      o.points = std::stoll(next());
    else if (a == "--batch")
      o.batch = std::stoll(next());
    else if (a == "--keys")
      o.keys = std::stoi(next());
    else if (a == "--reps")
      o.reps = std::stoi(next());
    else if (a == "--dir")
      o.dir = next();
    else if (a == "-h" || a == "--help") {
      std::printf(
          "usage: metric_ingest [--points N] [--batch N] [--keys N] [--reps N] [--dir "
          "TMPPARENT]\n");
      return 0;
    } else {
      Die("unknown argument " + a);
    }
  }
  if (o.points <= 0 || o.batch <= 0 || o.keys <= 0 || o.reps <= 0)
    Die("arguments must be positive");
  std::vector<std::string> keys;
  keys.reserve(o.keys);
  for (int k = 0; k < o.keys; ++k) keys.push_back("train/metric_" + std::to_string(k));

  std::printf("metric_ingest: %lld points, batches of %lld, %d keys, %d reps (median reported)\n",
              static_cast<long long>(o.points), static_cast<long long>(o.batch), o.keys, o.reps);
  std::vector<Sample> ferry_s, anchor_s;
  for (int r = 0; r < o.reps; ++r) {  // interleaved so drift in machine load hits both sides
    ferry_s.push_back(RunFerry(o, keys));
    anchor_s.push_back(RunAnchor(o, keys));
  }
  Print("ferry", o, ferry_s);
  Print("anchor", o, anchor_s);
  std::vector<double> fp, ap, fl;
  for (auto& s : ferry_s) fp.push_back(static_cast<double>(o.points) / s.seconds);
  for (auto& s : ferry_s) fl.push_back(s.last_pps);
  for (auto& s : anchor_s) ap.push_back(static_cast<double>(o.points) / s.seconds);
  double f = Median(fp), a = Median(ap);
  std::printf("ferry AppendMetrics: %.0f points/s (median; goal >= 500000)\n", f);
  std::printf("raw SQLite anchor:   %.0f points/s (median)\n", a);
  std::printf("ratio ferry/anchor:  %.2f\n", f / a);
  std::printf(
      "RESULT ferry_pps=%.0f anchor_pps=%.0f ratio=%.3f ferry_last10_pps=%.0f points=%lld "
      "batch=%lld reps=%d\n",
      f, a, f / a, Median(fl), static_cast<long long>(o.points), static_cast<long long>(o.batch),
      o.reps);
  return 0;
}
