// Unit tests for the SQLite metadata store and the file blob store.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <span>
#include <thread>

#include "common/crypto.h"
#include "common/fs.h"
#include "common/zstd_util.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"
#include "store/sqlite_db.h"

namespace ferry::store {
namespace {

using model::RunStatus;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry_store_XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    auto s = OpenSqliteMetadataStore(dir_ + "/ferry.db");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  void TearDown() override {
    store_.reset();
    (void)RemoveAll(dir_);
  }
  model::Run MakeRun(const std::string& id) {
    model::Run r;
    r.id = id;
    r.experiment = "exp";
    r.target = "local";
    r.script = "train.py";
    r.arguments = {"--alpha", "0.5"};
    r.python = "/usr/bin/python3";
    r.snapshot_id = Sha256Hex("m");
    r.tags = {{"team", "a"}};
    return r;
  }
  std::string dir_;
  std::unique_ptr<MetadataStore> store_;
};

TEST_F(StoreTest, ExperimentsAreUniqueAndValidated) {
  ASSERT_TRUE(store_->CreateExperiment("e1", 1, "").ok());
  EXPECT_EQ(store_->CreateExperiment("e1", 2, "").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->CreateExperiment("", 2, "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CreateExperiment(std::string(501, 'x'), 2, "").status().code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(store_->EnsureExperiment("e1", 3).ok());
  // MLflow's names: spaces, slashes, '#', '?', '%' and any UTF-8 (model::ValidateExperimentName).
  ASSERT_TRUE(store_->CreateExperiment("My Experiment/#1?100%", 4, "").ok());
  EXPECT_TRUE(store_->UpdateExperiment(1, std::string("renamed é"), std::nullopt, 5).ok());
  EXPECT_EQ(store_->UpdateExperiment(1, std::string("bad \xff"), std::nullopt, 6).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListExperiments()->size(), 2u);
}

TEST_F(StoreTest, ExperimentWithLocationAndTagsIsCreatedWhole) {
  auto e =
      store_->CreateExperimentWith("with", "/data/art", {{"owner", "ml"}, {"team", "a"}}, 7, "");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  auto all = store_->ListExperiments();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->at(0).artifact_location, "/data/art");
  EXPECT_EQ(all->at(0).tags, (std::map<std::string, std::string>{{"owner", "ml"}, {"team", "a"}}));
  // A refused one leaves nothing behind: no experiment, no tags.
  EXPECT_EQ(store_->CreateExperimentWith("with", "", {{"x", "y"}}, 8, "").status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->CreateExperimentWith("", "", {{"x", "y"}}, 8, "").status().code(),
            StatusCode::kInvalidArgument);
  all = store_->ListExperiments();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->at(0).tags.size(), 2u);
  ASSERT_TRUE(store_->DeleteExperimentTag(e->id, "owner", 9).ok());
  EXPECT_EQ(store_->DeleteExperimentTag(e->id, "owner", 9).code(), StatusCode::kNotFound);
  all = store_->ListExperiments();
  EXPECT_EQ(all->at(0).tags, (std::map<std::string, std::string>{{"team", "a"}}));
  EXPECT_EQ(all->at(0).last_update_time, 9);
}

TEST_F(StoreTest, RunLifecycleRecordsHistoryInOrder) {
  auto r = store_->CreateRun(MakeRun("r1"), {{"alpha", "0.5"}}, "th", 10);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, RunStatus::kQueued);
  EXPECT_EQ(r->arguments.size(), 2u);
  EXPECT_EQ(r->tags.at("team"), "a");
  ASSERT_TRUE(store_->Transition("r1", RunStatus::kPreparing, "scheduled", 11).ok());
  ASSERT_TRUE(store_->Transition("r1", RunStatus::kRunning, "started", 12).ok());
  auto bad = store_->Transition("r1", RunStatus::kCompleted, "skip", 13);
  EXPECT_EQ(bad.status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->Transition("r1", RunStatus::kFinalizing, "exited", 13).ok());
  TransitionExtras ex;
  ex.exit_code = 0;
  auto done = store_->Transition("r1", RunStatus::kCompleted, "uploaded", 14, ex);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->exit_code, 0);
  EXPECT_EQ(done->started_at, 12);
  EXPECT_EQ(done->ended_at, 14);
  auto h = store_->History("r1");
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 5u);
  EXPECT_EQ((*h)[0].status, RunStatus::kQueued);
  EXPECT_EQ((*h)[4].status, RunStatus::kCompleted);
  EXPECT_EQ((*h)[4].reason, "uploaded");
  EXPECT_EQ(store_->Params("r1")->at("alpha"), "0.5");
  EXPECT_TRUE(store_->ListActiveRuns()->empty());
  EXPECT_EQ(store_->GetRun("nope").status().code(), StatusCode::kNotFound);
}

TEST_F(StoreTest, QuickFinishPassesFinalizingAndRegistersArtifactsInOneTransaction) {
  ASSERT_TRUE(store_->CreateRun(MakeRun("q"), {}, "t", 10).ok());
  ASSERT_TRUE(store_->Transition("q", RunStatus::kPreparing, "scheduled", 11).ok());
  ASSERT_TRUE(store_->Transition("q", RunStatus::kRunning, "started", 12).ok());
  TransitionExtras ex;
  ex.exit_code = 0;
  ex.finalizing_reason = "script exited with code 0";
  ex.artifacts = {{"logs/std_log.txt", 3, std::string(64, 'a')},
                  {"outputs/m.bin", 5, std::string(64, 'b')}};
  // Illegal at the end (Queued is not reachable from Finalizing): nothing of it is kept.
  auto bad = store_->Transition("q", RunStatus::kPreempted, "no", 13, ex);
  EXPECT_EQ(bad.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetRun("q")->status, RunStatus::kRunning);
  EXPECT_TRUE(store_->ListArtifacts("q")->empty());
  EXPECT_EQ(store_->History("q")->size(), 3u);
  auto done = store_->Transition("q", RunStatus::kCompleted, "script exited with code 0", 14, ex);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->status, RunStatus::kCompleted);
  auto h = store_->History("q");
  ASSERT_EQ(h->size(), 5u);
  EXPECT_EQ((*h)[3].status, RunStatus::kFinalizing);
  EXPECT_EQ((*h)[3].reason, "script exited with code 0");
  EXPECT_EQ((*h)[4].status, RunStatus::kCompleted);
  auto arts = store_->ListArtifacts("q");
  ASSERT_EQ(arts->size(), 2u);
  EXPECT_EQ((*arts)[1].path, "outputs/m.bin");
  EXPECT_EQ((*arts)[1].size, 5u);
}

TEST_F(StoreTest, ValuesAreIdempotentBySeqAndClientValuesNumberedApart) {
  auto r = store_->CreateRun(MakeRun("vals"), {}, "t", 1);
  ASSERT_TRUE(r.ok());
  std::vector<model::RunValue> vals = {{3, "note", "string", "\"hello\"", 0, 10.0},
                                       {5, "tbl", "table", "{\"a\":[1,2]}", 0, 11.0}};
  ASSERT_EQ(*store_->AppendValues(r->rid, vals, false), 2);
  ASSERT_EQ(*store_->AppendValues(r->rid, vals, false), 0);  // a resend stores nothing
  // A client's values take their own numbers, so they never collide with the agent's.
  std::vector<model::RunValue> mine = {{3, "note", "string", "\"again\"", 1, 12.0}};
  ASSERT_EQ(*store_->AppendValues(r->rid, mine, true), 1);
  ASSERT_EQ(*store_->AppendValues(r->rid, mine, true), 1);
  auto all = store_->GetValues("vals", "");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].key, "note");
  EXPECT_EQ((*all)[0].value, "\"hello\"");
  EXPECT_EQ((*all)[1].seq, MetadataStore::kClientSeqBase);
  EXPECT_EQ((*all)[2].seq, MetadataStore::kClientSeqBase + 1);
  EXPECT_EQ((*all)[3].type, "table");
  auto one = store_->GetValues("vals", "tbl");
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].value, "{\"a\":[1,2]}");
  // Numeric reads never see them.
  EXPECT_TRUE(store_->GetMetrics("vals", "")->empty());
}

TEST_F(StoreTest, MetricSeriesKeepsEachSlicesExtremesInOrder) {
  auto r = store_->CreateRun(MakeRun("series"), {}, "t", 1);
  ASSERT_TRUE(r.ok());
  std::vector<model::MetricPoint> pts;
  for (int64_t i = 0; i < 10000; ++i) {
    double v = std::sin(i / 100.0);
    if (i == 4321) v = 50;  // a spike
    if (i == 777) v = -50;  // a dip
    if (i >= 9000 && i < 9100) v = std::numeric_limits<double>::quiet_NaN();
    pts.push_back({i, "loss", v, i, 1000.0 + i});
  }
  ASSERT_EQ(*store_->AppendMetrics(r->rid, pts), 10000);
  int64_t total = 0;
  auto s = store_->GetMetricSeries("series", "loss", 200, &total);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(total, 10000);
  EXPECT_LE(s->size(), 200u);
  EXPECT_GE(s->size(), 190u);
  bool spike = false, dip = false;
  for (size_t i = 0; i < s->size(); ++i) {
    if (i > 0) {
      EXPECT_LT((*s)[i - 1].seq, (*s)[i].seq);
    }
    spike = spike || (*s)[i].value == 50;
    dip = dip || (*s)[i].value == -50;
    EXPECT_EQ((*s)[i].step, (*s)[i].seq);  // whole points, not averages
  }
  EXPECT_TRUE(spike && dip);
  // Few points: all of them; an unknown key: none.
  auto all = store_->GetMetricSeries("series", "loss", 20000, &total);
  EXPECT_EQ(all->size(), 10000u);
  auto none = store_->GetMetricSeries("series", "nope", 100, &total);
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(total, 0);
}

TEST_F(StoreTest, LongSeriesDownsampleFromRollupsKeptAcrossBatches) {
  auto r = store_->CreateRun(MakeRun("long"), {}, "t", 1);
  ASSERT_TRUE(r.ok());
  std::vector<model::MetricPoint> pts;
  for (int64_t i = 0; i < 100000; ++i) {
    double v = std::sin(i / 1000.0);
    if (i == 43210) v = 50;  // a spike
    if (i == 7770) v = -50;  // a dip
    if (i >= 90000 && i < 91000) v = std::numeric_limits<double>::quiet_NaN();
    pts.push_back({i, "loss", v, i, 1000.0 + i});
  }
  // Out of order and with a resend: buckets are merged by upsert, resent points not counted.
  std::span<const model::MetricPoint> all(pts);
  ASSERT_EQ(*store_->AppendMetrics(r->rid, all.subspan(50000)), 50000);
  ASSERT_EQ(*store_->AppendMetrics(r->rid, all.subspan(0, 50100)), 50000);
  ASSERT_EQ(*store_->AppendMetrics(r->rid, all.subspan(40000, 20000)), 0);
  int64_t total = 0, max_seq = 0;
  auto s = store_->GetMetricSeries("long", "loss", 200, &total, &max_seq);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(total, 100000);
  EXPECT_EQ(max_seq, 99999);
  // 391 buckets of 256 in 98 slices of 4, each with its lowest and highest point (the
  // point-by-point path would give 100 slices of 1,000 and a lone NaN for 90,000..90,999).
  EXPECT_EQ(s->size(), 196u);
  bool spike = false, dip = false;
  for (size_t i = 0; i < s->size(); ++i) {
    if (i > 0) {
      EXPECT_LT((*s)[i - 1].seq, (*s)[i].seq);
    }
    EXPECT_EQ((*s)[i].step, (*s)[i].seq);
    EXPECT_EQ((*s)[i].time, 1000.0 + (*s)[i].seq);
    spike = spike || (*s)[i].value == 50;
    dip = dip || (*s)[i].value == -50;
  }
  EXPECT_TRUE(spike && dip);
  // A coarse request of a shorter series reads the points themselves.
  auto few = store_->GetMetricSeries("long", "loss", 100000, &total);
  EXPECT_EQ(few->size(), 100000u);
}

TEST_F(StoreTest, MetricsAfterACursorAndTheSeriesCursorAgree) {
  auto r = store_->CreateRun(MakeRun("live"), {}, "t", 1);
  ASSERT_TRUE(r.ok());
  std::vector<model::MetricPoint> pts;
  for (int64_t i = 0; i < 50; ++i) pts.push_back({i, "loss", 1.0 / (i + 1), i, 100.0 + i});
  ASSERT_EQ(*store_->AppendMetrics(r->rid, pts), 50);
  int64_t total = 0, max_seq = -1;
  auto s = store_->GetMetricSeries("live", "loss", 10, &total, &max_seq);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(total, 50);
  EXPECT_EQ(max_seq, 49);  // the series' true end, though the last point may not be returned
  std::vector<model::MetricPoint> more;
  for (int64_t i = 50; i < 60; ++i) more.push_back({i, "loss", 0.0, i, 200.0 + i});
  ASSERT_EQ(*store_->AppendMetrics(r->rid, more), 10);
  auto after = store_->GetMetricsAfter("live", "loss", max_seq, 4);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 4u);
  EXPECT_EQ((*after)[0].seq, 50);
  EXPECT_EQ((*after)[3].step, 53);
  EXPECT_TRUE(store_->GetMetricsAfter("live", "loss", 59, 100)->empty());
  EXPECT_TRUE(store_->GetMetricsAfter("live", "nope", -1, 100)->empty());
  auto sums = store_->MetricSummaries("live");
  ASSERT_EQ(sums->size(), 1u);
  EXPECT_EQ((*sums)[0].last_seq, 59);
  EXPECT_EQ((*sums)[0].count, 60);
}

TEST_F(StoreTest, RunKeysComeFromTheNewestRuns) {
  for (int i = 0; i < 3; ++i) {
    std::string id = "k" + std::to_string(i);
    auto r = store_->CreateRun(MakeRun(id), {}, "t", 1 + i);
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(store_->SetParams(id, {{"p" + std::to_string(i), "1"}}).ok());
    ASSERT_TRUE(store_->SetTags(id, {{"t" + std::to_string(i), "x"}}).ok());
    std::vector<model::MetricPoint> pts = {{0, "m" + std::to_string(i), 1.0, 0, 1.0}};
    ASSERT_EQ(*store_->AppendMetrics(r->rid, pts), 1);
  }
  auto all = store_->ListRunKeys("", 100);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->params, (std::vector<std::string>{"p0", "p1", "p2"}));
  EXPECT_EQ(all->metrics, (std::vector<std::string>{"m0", "m1", "m2"}));
  EXPECT_EQ(all->tags, (std::vector<std::string>{"t0", "t1", "t2", "team"}));
  auto newest = store_->ListRunKeys("", 2);  // k2 and k1 only
  EXPECT_EQ(newest->params, (std::vector<std::string>{"p1", "p2"}));
  auto other = store_->ListRunKeys("no-such-experiment", 100);
  EXPECT_TRUE(other->params.empty());
}

TEST_F(StoreTest, RunListFiltersByTagsAndParamsSortsByMetricOrParamAndCounts) {
  // 5 runs: lr 0.1, 0.01, 1e-3, "auto", none; loss decreasing with the index; team tag alternating.
  const char* lrs[] = {"0.1", "0.01", "1e-3", "auto", nullptr};
  for (int i = 0; i < 5; ++i) {
    model::Run run = MakeRun("r" + std::to_string(i));
    run.tags = {{"team", i % 2 ? "b" : "a"}};
    std::map<std::string, std::string> params;
    if (lrs[i]) params["lr"] = lrs[i];
    auto r = store_->CreateRun(run, params, "t", 10 + i);
    ASSERT_TRUE(r.ok());
    if (i != 2) {
      std::vector<model::MetricPoint> pts = {{0, "loss", 1.0 / (i + 1), 0, 1.0}};
      ASSERT_TRUE(store_->AppendMetrics(r->rid, pts).ok());
    }
  }
  auto ids = [](const Result<std::vector<model::Run>>& runs) {
    std::string out;
    for (auto& r : *runs) out += r.id.substr(1);
    return out;
  };
  model::RunFilter f;
  f.sort = "metric:loss";
  f.ascending = true;
  EXPECT_EQ(ids(store_->ListRuns(f)), "43102");  // r2 has no loss: last
  f.ascending = false;
  EXPECT_EQ(ids(store_->ListRuns(f)), "01342");
  f.sort = "param:lr";
  f.ascending = true;
  EXPECT_EQ(ids(store_->ListRuns(f)), "21034");  // numbers as numbers, then text, then none
  f.tags = {{"team", "a"}};
  EXPECT_EQ(ids(store_->ListRuns(f)), "204");
  EXPECT_EQ(*store_->CountRuns(f), 3);
  f.params = {{"lr", "0.1"}};
  EXPECT_EQ(ids(store_->ListRuns(f)), "0");
  f.limit = 1;
  f.params.clear();
  f.offset = 1;
  EXPECT_EQ(ids(store_->ListRuns(f)), "0");  // paging after the sort
  EXPECT_EQ(*store_->CountRuns(f), 3);       // limit and offset do not change the count
  f.sort = "sideways";
  EXPECT_EQ(store_->ListRuns(f).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, RunConfigurationOptionsRoundTrip) {
  model::Run r = MakeRun("opts");
  r.options.environment_variables = {{"A", "1"}, {"B", "two words"}};
  r.options.max_run_duration_seconds = 90;
  r.options.gpus = 2;
  r.options.environment = {"conda", "", "name: x\ndependencies: [python=3.11]\n", "base", 3};
  r.options.docker.enabled = true;
  r.options.docker.base_image = "localhost/py:3.11";
  r.options.docker.shm_size = "2g";
  ASSERT_TRUE(store_->CreateRun(r, {}, "t", 1).ok());
  auto back = store_->GetRun("opts");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->options.environment_variables, r.options.environment_variables);
  EXPECT_EQ(back->options.max_run_duration_seconds, 90);
  EXPECT_EQ(back->options.gpus, 2);
  EXPECT_EQ(back->options.environment.type, "conda");
  EXPECT_EQ(back->options.environment.content, r.options.environment.content);
  EXPECT_EQ(back->options.environment.name, "base");
  EXPECT_EQ(back->options.environment.version, 3);
  EXPECT_TRUE(back->options.docker.enabled);
  EXPECT_EQ(back->options.docker.base_image, "localhost/py:3.11");
  EXPECT_EQ(back->options.docker.shm_size, "2g");
  ASSERT_TRUE(store_->CreateRun(MakeRun("plain"), {}, "t", 1).ok());
  EXPECT_FALSE(store_->GetRun("plain")->options.max_run_duration_seconds.has_value());
  EXPECT_TRUE(store_->GetRun("plain")->options.environment.type.empty());
}

TEST_F(StoreTest, GpuIdsAreRecordedWhenScheduled) {
  ASSERT_TRUE(store_->CreateRun(MakeRun("g"), {}, "t", 1).ok());
  TransitionExtras ex;
  ex.gpu_ids = std::vector<int>{1, 3};
  auto prep = store_->Transition("g", model::RunStatus::kPreparing, "scheduled", 2, ex);
  ASSERT_TRUE(prep.ok());
  EXPECT_EQ(prep->gpu_ids, (std::vector<int>{1, 3}));
  EXPECT_EQ(store_->GetRun("g")->gpu_ids, (std::vector<int>{1, 3}));
}

TEST_F(StoreTest, RegisteredEnvironmentsAreVersionedAndIdempotent) {
  model::RegisteredEnvironment e{"torch", 0, "pip", "numpy==1.26\n", "h1", "first", 0};
  bool created = false;
  auto v1 = store_->RegisterEnvironment(e, 10, &created);
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  EXPECT_TRUE(created);
  EXPECT_EQ(v1->version, 1);
  auto again = store_->RegisterEnvironment(e, 11, &created);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(created);
  EXPECT_EQ(again->version, 1);
  e.content = "numpy==2.0\n";
  e.hash = "h2";
  auto v2 = store_->RegisterEnvironment(e, 12, &created);
  ASSERT_TRUE(v2.ok());
  EXPECT_TRUE(created);
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(store_->GetEnvironment("torch", 0)->version, 2);
  EXPECT_EQ(store_->GetEnvironment("torch", 1)->content, "numpy==1.26\n");
  EXPECT_EQ(store_->GetEnvironment("torch", 7).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetEnvironment("nope", 0).status().code(), StatusCode::kNotFound);
  model::RegisteredEnvironment other{"base", 0, "conda", "dependencies: []\n", "h3", "", 0};
  ASSERT_TRUE(store_->RegisterEnvironment(other, 13, &created).ok());
  auto latest = store_->ListEnvironments("");
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 2u);
  EXPECT_EQ((*latest)[0].name, "base");
  EXPECT_EQ((*latest)[1].version, 2);
  EXPECT_EQ(store_->ListEnvironments("torch")->size(), 2u);
}

TEST_F(StoreTest, ListRunsFilters) {
  ASSERT_TRUE(store_->CreateRun(MakeRun("a"), {}, "t", 1).ok());
  ASSERT_TRUE(store_->CreateRun(MakeRun("b"), {}, "t", 2).ok());
  ASSERT_TRUE(store_->Transition("b", RunStatus::kCanceled, "user", 3).ok());
  model::RunFilter f;
  f.status = RunStatus::kQueued;
  auto runs = store_->ListRuns(f);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].id, "a");
  f = {};
  f.experiment = "other";
  EXPECT_TRUE(store_->ListRuns(f)->empty());
  EXPECT_EQ(store_->ListActiveRuns()->size(), 1u);
}

TEST_F(StoreTest, MetricsAreIdempotentAndSummarised) {
  auto r = store_->CreateRun(MakeRun("m"), {}, "t", 1);
  ASSERT_TRUE(r.ok());
  std::vector<model::MetricPoint> pts;
  pts.reserve(100);
  for (int i = 0; i < 100; ++i) pts.push_back({i, i % 2 ? "a" : "b", double(i), i / 2, 1.0});
  EXPECT_EQ(*store_->AppendMetrics(r->rid, pts), 100);
  // A resend of an overlapping batch after a lost acknowledgement stores nothing twice.
  std::vector<model::MetricPoint> again(pts.begin() + 50, pts.end());
  again.push_back({100, "a", std::nan(""), 50, 2.0});
  EXPECT_EQ(*store_->AppendMetrics(r->rid, again), 1);
  auto all = store_->GetMetrics("m", "");
  ASSERT_EQ(all->size(), 101u);
  auto a = store_->GetMetrics("m", "a");
  ASSERT_EQ(a->size(), 51u);
  EXPECT_TRUE(std::isnan(a->back().value));
  auto sums = store_->MetricSummaries("m");
  ASSERT_EQ(sums->size(), 2u);
  EXPECT_EQ((*sums)[0].key, "a");
  EXPECT_EQ((*sums)[0].count, 51);
  EXPECT_EQ((*sums)[0].min, 1);
  EXPECT_EQ((*sums)[0].max, 99);
  EXPECT_TRUE(std::isnan((*sums)[0].last));
  EXPECT_EQ((*sums)[1].last, 98);
}

// MLflow's latest point per key (highest step, then time, then value with NaN as 0, then the
// first logged), kept with the summaries whatever order the batches come in.
TEST_F(StoreTest, LatestPointIsMlflowsAcrossOutOfOrderBatchesResendsAndNaN) {
  auto r = store_->CreateRun(MakeRun("lp"), {}, "t", 1);
  ASSERT_TRUE(r.ok());
  const double nan = std::nan("");
  // seq, key, value, step, time
  std::vector<model::MetricPoint> later = {{10, "acc", 0.9, 5, 50.0},
                                           {11, "acc", 0.1, 3, 99.0},
                                           {12, "loss", nan, 7, 10.0},
                                           {13, "tie", 2.0, 1, 5.0}};
  std::vector<model::MetricPoint> earlier = {
      {0, "acc", 0.5, 5, 40.0},   // same step, older: loses
      {1, "loss", 3.0, 7, 10.0},  // same step and time, 3 > NaN(0): wins
      {2, "tie", 2.0, 1, 5.0},    // equal to seq 13: the first logged wins
      {3, "neg", -1.0, 0, 1.0},
      {4, "neg", nan, 0, 1.0}};                         // NaN(0) > -1
  ASSERT_EQ(*store_->AppendMetrics(r->rid, later), 4);  // the later points arrive first
  ASSERT_EQ(*store_->AppendMetrics(r->rid, earlier), 5);
  ASSERT_EQ(*store_->AppendMetrics(r->rid, later), 0);  // a resend changes nothing
  ASSERT_EQ(
      *store_->AppendMetrics(r->rid, std::vector<model::MetricPoint>{{20, "acc", 0.3, 4, 999.0}}),
      1);
  auto latest = store_->LatestMetrics({"lp", "missing"});
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  ASSERT_EQ(latest->size(), 1u);
  const auto& pts = latest->at("lp");
  ASSERT_EQ(pts.size(), 4u);  // in key order
  EXPECT_EQ(pts[0].key, "acc");
  EXPECT_EQ(pts[0].seq, 10);
  EXPECT_EQ(pts[0].value, 0.9);
  EXPECT_EQ(pts[0].step, 5);
  EXPECT_EQ(pts[0].time, 50.0);
  EXPECT_EQ(pts[1].key, "loss");
  EXPECT_EQ(pts[1].value, 3.0);
  EXPECT_EQ(pts[2].key, "neg");
  EXPECT_TRUE(std::isnan(pts[2].value));
  EXPECT_EQ(pts[3].key, "tie");
  EXPECT_EQ(pts[3].seq, 2);
  // Within one batch the same rule holds, and client-logged points (LogMetrics) follow it too.
  ASSERT_TRUE(store_->CreateRun(MakeRun("lp2"), {}, "t", 1).ok());
  ASSERT_EQ(*store_->LogMetrics(
                "lp2", {{0, "m", 1.0, 2, 5.0}, {0, "m", 7.0, 1, 9.0}, {0, "m", nan, 2, 5.0}}),
            3);
  auto two = store_->LatestMetrics({"lp2", "lp"});
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ(two->at("lp2").at(0).value,
            1.0);  // step 2 beats step 1; 1.0 beats NaN(0) at equal time
  EXPECT_EQ(two->at("lp").size(), 4u);
}

// Reads run on their own connections beside the writer, each method in one read transaction:
// a series read while batches are being appended is always one consistent snapshot (its
// count, its points and its highest sequence number agree).
TEST_F(StoreTest, ConcurrentReadsBesideWritesAreConsistent) {
  auto r = store_->CreateRun(MakeRun("busy"), {}, "t", 1);
  ASSERT_TRUE(r.ok());
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, torn{0}, failed{0};
  std::vector<std::thread> readers;
  readers.reserve(4);
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!done) {
        int64_t total = 0, max_seq = 0;
        auto pts = store_->GetMetricSeries("busy", "k", 1 << 30, &total, &max_seq);
        if (!pts.ok()) {
          ++failed;
          continue;
        }
        if (static_cast<int64_t>(pts->size()) != total ||
            (!pts->empty() && pts->back().seq != max_seq))
          ++torn;
        ++reads;
      }
    });
  }
  int64_t seq = 0;
  for (int batch = 0; batch < 300; ++batch) {
    std::vector<model::MetricPoint> pts;
    for (int i = 0; i < 7; ++i, ++seq) pts.push_back({seq, "k", 1.0 * seq, seq, 1.0});
    ASSERT_EQ(*store_->AppendMetrics(r->rid, pts), 7);
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(torn.load(), 0) << "of " << reads.load() << " reads";
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(store_->MetricSummaries("busy")->at(0).count, 2100);
}

// Lifecycle writes from many threads share group-commit syncs beside logged data: every call
// returns (no waiter is left behind a sync that did not cover it) and everything is there after
// the store is closed and opened again.
TEST_F(StoreTest, ConcurrentLifecycleWritesAreGroupCommitted) {
  auto r = store_->CreateRun(MakeRun("metrics"), {}, "t", 1);
  ASSERT_TRUE(r.ok());
  std::atomic<int> failed{0};
  std::vector<std::thread> writers;
  writers.reserve(6);
  for (int t = 0; t < 6; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        auto made = store_->CreateRun(MakeRun("g" + std::to_string(t) + "_" + std::to_string(i)),
                                      {}, "t", 1);
        if (!made.ok()) ++failed;
        std::vector<model::MetricPoint> one = {{t * 1000 + i, "k", 1.0, t * 1000 + i, 1.0}};
        if (!store_->AppendMetrics(r->rid, one).ok()) ++failed;
      }
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(failed.load(), 0);
  store_.reset();
  auto s = OpenSqliteMetadataStore(dir_ + "/ferry.db");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  store_ = std::move(s).value();
  for (int t = 0; t < 6; ++t)
    for (int i = 0; i < 40; ++i)
      EXPECT_TRUE(store_->GetRun("g" + std::to_string(t) + "_" + std::to_string(i)).ok());
  EXPECT_EQ(store_->MetricSummaries("metrics")->at(0).count, 240);
}

TEST_F(StoreTest, ParamsAndLatestPointsOfManyRunsInBatches) {
  std::vector<std::string> ids;
  for (int i = 0; i < 600; ++i) {  // more than one chunk of ids
    ids.push_back("b" + std::to_string(i));
    auto r = store_->CreateRun(MakeRun(ids.back()), {{"i", std::to_string(i)}}, "t", 1);
    ASSERT_TRUE(r.ok());
    if (i % 2 == 0) {
      std::vector<model::MetricPoint> one = {{0, "x", 1.0 * i, 0, 1}};
      ASSERT_EQ(*store_->AppendMetrics(r->rid, one), 1);
    }
  }
  auto params = store_->ParamsOfRuns(ids);
  ASSERT_TRUE(params.ok()) << params.status().ToString();
  ASSERT_EQ(params->size(), 600u);
  EXPECT_EQ(params->at("b599").at("i"), "599");
  auto latest = store_->LatestMetrics(ids);
  ASSERT_EQ(latest->size(), 300u);
  EXPECT_EQ(latest->at("b598").at(0).value, 598.0);
  EXPECT_EQ(latest->count("b599"), 0u);
  EXPECT_TRUE(store_->ParamsOfRuns({})->empty());
}

// Migration 9 fills in the latest point of series stored before it.
TEST_F(StoreTest, MigrationBackfillsTheLatestPoints) {
  auto r = store_->CreateRun(MakeRun("old"), {}, "t", 1);
  ASSERT_TRUE(r.ok());
  const double nan = std::nan("");
  std::vector<model::MetricPoint> pts = {
      {0, "a", 1.0, 9, 1.0}, {1, "a", 2.0, 3, 8.0}, {2, "a", nan, 9, 1.0}, {3, "b", nan, 0, 1.0}};
  ASSERT_EQ(*store_->AppendMetrics(r->rid, pts), 4);
  store_.reset();
  {
    auto db = Db::Open(dir_ + "/ferry.db");
    ASSERT_TRUE(db.ok());
    for (const char* col : {"latest_seq", "latest_step", "latest_time", "latest_value"}) {
      ASSERT_TRUE(db->Exec(std::string("ALTER TABLE metric_summaries DROP COLUMN ") + col).ok());
    }
    // Back to before migration 9 (and those after it).
    ASSERT_TRUE(db->Exec("ALTER TABLE experiments DROP COLUMN created_by").ok());
    ASSERT_TRUE(
        db->Exec("DROP TABLE datastores; DROP TABLE dataset_versions; DROP TABLE asset_uses; "
                 "DROP TABLE datastore_files")
            .ok());
    ASSERT_TRUE(
        db->Exec("DROP TABLE registered_models; DROP TABLE model_versions; "
                 "DROP TABLE model_aliases; DROP TABLE logged_models; "
                 "DROP TABLE logged_model_metrics; DROP TABLE logged_model_files; "
                 "DROP TABLE logged_model_uses; DROP TABLE run_values; DROP TABLE secrets; "
                 "DROP TABLE pipeline_runs; DROP TABLE pipeline_steps; DROP TABLE run_outputs; "
                 "DROP TABLE minibatches; "
                 "DROP TABLE published_pipelines; DROP TABLE pipeline_endpoints; "
                 "DROP TABLE pipeline_endpoint_versions; DROP TABLE schedules")
            .ok());
    ASSERT_TRUE(db->Exec("DELETE FROM schema_migrations WHERE version >= 9").ok());
  }
  auto s = OpenSqliteMetadataStore(dir_ + "/ferry.db");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto latest = (*s)->LatestMetrics({"old"});
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  const auto& got = latest->at("old");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].seq, 0);  // step 9, time 1: 1.0 beats NaN(0)
  EXPECT_EQ(got[0].value, 1.0);
  EXPECT_TRUE(std::isnan(got[1].value));
  EXPECT_EQ(got[1].seq, 3);
}

TEST_F(StoreTest, NextMetricSeqIsPerRank) {
  auto r = store_->CreateRun(MakeRun("d"), {}, "t", 1);
  ASSERT_TRUE(r.ok());
  const int64_t r1 = int64_t{1} << store::MetadataStore::kRankSeqShift, r2 = 2 * r1;
  EXPECT_EQ(*store_->NextMetricSeq("d", 0), 0);
  EXPECT_EQ(*store_->NextMetricSeq("d", 1), r1);
  // Rank 0 logged 0..9, rank 2 logged 5 points; rank 1 none yet.
  std::vector<model::MetricPoint> pts;
  pts.reserve(15);
  for (int i = 0; i < 10; ++i) pts.push_back({i, "loss", double(i), i, 1.0});
  for (int i = 0; i < 5; ++i) pts.push_back({r2 + i, "loss", double(i), i, 1.0});
  ASSERT_EQ(*store_->AppendMetrics(r->rid, pts), 15);
  EXPECT_EQ(*store_->NextMetricSeq("d", 0), 10);  // not rank 2's range
  EXPECT_EQ(*store_->NextMetricSeq("d", 1), r1);
  EXPECT_EQ(*store_->NextMetricSeq("d", 2), r2 + 5);
}

TEST_F(StoreTest, MigrationsAreAppliedOnce) {
  ASSERT_TRUE(store_->CreateExperiment("keep", 1, "").ok());
  store_.reset();
  auto s = OpenSqliteMetadataStore(dir_ + "/ferry.db");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->ListExperiments()->size(), 1u);
}

TEST_F(StoreTest, ArtifactsAndTags) {
  ASSERT_TRUE(store_->CreateRun(MakeRun("x"), {}, "t", 1).ok());
  ASSERT_TRUE(store_->AddArtifacts("x", {{"outputs/m.pkl", 3, Sha256Hex("abc")}}).ok());
  EXPECT_EQ(store_->ListArtifacts("x")->at(0).path, "outputs/m.pkl");
  ASSERT_TRUE(store_->SetTags("x", {{"k", "v"}}).ok());
  EXPECT_EQ(store_->GetRun("x")->tags.at("k"), "v");
  EXPECT_EQ(store_->SetTags("nope", {{"k", "v"}}).code(), StatusCode::kNotFound);
}

std::string TempDirForBlobs() {
  char tmpl[] = "/tmp/ferry_blobs_XXXXXX";
  return ::mkdtemp(tmpl);
}

std::string OnlyPackFile(const std::string& dir) {
  std::string found;
  for (auto& e : std::filesystem::directory_iterator(dir + "/packs")) found = e.path().string();
  return found;
}

TEST(BlobStore, PutGetVerify) {
  std::string dir = TempDirForBlobs();
  auto bs = OpenFsBlobStore(dir);
  ASSERT_TRUE(bs.ok()) << bs.status().ToString();
  auto h = (*bs)->Put("hello", "");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, Sha256Hex("hello"));
  EXPECT_TRUE((*bs)->Has(*h));
  EXPECT_EQ(*(*bs)->Get(*h), "hello");
  EXPECT_EQ((*bs)->Put("hello", Sha256Hex("other")).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*bs)->Get(Sha256Hex("missing")).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE((*bs)->Has(Sha256Hex("missing")));
  EXPECT_EQ((*bs)->Get("../../etc/passwd").status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE((*bs)->Sync().ok());
  (void)RemoveAll(dir);
}

// Streams `content` into a writer in 100,000-byte pieces.
Result<std::string> WriteInPieces(BlobStore& bs, const std::string& content,
                                  const std::string& expected, std::optional<uint64_t> size) {
  auto w = bs.NewWriter(expected, size);
  for (size_t i = 0; i < content.size(); i += 100000) {
    FERRY_RETURN_IF_ERROR(w->Append(std::string_view(content).substr(i, 100000)));
  }
  return w->Commit();
}

size_t FilesUnder(const std::string& dir) {
  size_t n = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir))
    n += e.is_regular_file() ? 1 : 0;
  return n;
}

TEST(BlobStore, WritersStreamLargeBlobsAndCheckHashAndSize) {
  std::string dir = TempDirForBlobs();
  auto bs = OpenFsBlobStore(dir);
  ASSERT_TRUE(bs.ok());
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  const std::string hash = Sha256Hex(big);
  // Wrong hash or wrong size: refused, and nothing (not even a temporary file) is left.
  auto wrong = WriteInPieces(**bs, big, Sha256Hex("other"), big.size());
  EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument);
  auto shorter = WriteInPieces(**bs, big, hash, big.size() + 1);
  EXPECT_EQ(shorter.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(shorter.status().message().find("ended after"), std::string::npos);
  auto longer = WriteInPieces(**bs, big, hash, big.size() - 1);
  EXPECT_EQ(longer.status().code(), StatusCode::kInvalidArgument);
  {
    auto abandoned = (*bs)->NewWriter(hash, std::nullopt);
    ASSERT_TRUE(abandoned->Append(big).ok());
  }
  EXPECT_FALSE((*bs)->Has(hash));
  EXPECT_EQ(FilesUnder(dir + "/tmp"), 0u);
  // Known and unknown sizes both store it; Size() reads only the frame's header when it can.
  for (std::optional<uint64_t> size :
       {std::optional<uint64_t>(big.size()), std::optional<uint64_t>()}) {
    auto h = WriteInPieces(**bs, big, size ? hash : "", size);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    EXPECT_EQ(*h, hash);
  }
  EXPECT_EQ(*(*bs)->Get(hash), big);
  EXPECT_EQ(*(*bs)->Size(hash), big.size());
  EXPECT_EQ(FilesUnder(dir + "/tmp"), 0u);
  // A small blob written the same way lands in a pack.
  auto small = WriteInPieces(**bs, "tiny", "", std::nullopt);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(*(*bs)->Size(*small), 4u);
  ASSERT_TRUE((*bs)->Sync().ok());
  auto other = OpenFsBlobStore(dir);
  EXPECT_EQ(*(*other)->Get(*small), "tiny");
  EXPECT_EQ(*(*other)->Size(hash), big.size());
  EXPECT_EQ((*other)->Size(Sha256Hex("missing")).status().code(), StatusCode::kNotFound);
  (void)RemoveAll(dir);
}

TEST(BlobStore, SmallBlobsArePackedAndVisibleToOthersOnlyAfterSync) {
  std::string dir = TempDirForBlobs();
  auto writer = OpenFsBlobStore(dir);
  auto reader = OpenFsBlobStore(dir);  // another process in production (e.g. an agent)
  ASSERT_TRUE(writer.ok() && reader.ok());
  std::vector<std::string> hashes;
  hashes.reserve(100);
  for (int i = 0; i < 100; ++i) hashes.push_back(*(*writer)->Put("blob " + std::to_string(i), ""));
  EXPECT_FALSE((*reader)->Has(hashes[0]));  // not durable yet, so not announced
  ASSERT_TRUE((*writer)->Sync().ok());
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE((*reader)->Has(hashes[i]));
    EXPECT_EQ(*(*reader)->Get(hashes[i]), "blob " + std::to_string(i));
  }
  // One pack file, not one file per blob.
  size_t packs = 0;
  for (auto& e : std::filesystem::directory_iterator(dir + "/packs")) packs += e.is_regular_file();
  EXPECT_EQ(packs, 1u);
  // A large blob is stored loose.
  std::string big(3 << 20, 'x');
  big += "end";
  auto hb = (*writer)->Put(big, "");
  ASSERT_TRUE(hb.ok());
  EXPECT_TRUE(PathExists(dir + "/" + hb->substr(0, 2) + "/" + *hb));
  ASSERT_TRUE((*writer)->Sync().ok());
  EXPECT_EQ(*(*reader)->Get(*hb), big);
  writer->reset();
  auto reopened = OpenFsBlobStore(dir);
  EXPECT_EQ(*(*reopened)->Get(hashes[42]), "blob 42");
  (void)RemoveAll(dir);
}

TEST(BlobStore, SizesAnswersForPackedPendingLooseAndAbsentBlobsInOrder) {
  std::string dir = TempDirForBlobs();
  auto bs = OpenFsBlobStore(dir);
  ASSERT_TRUE(bs.ok());
  std::vector<std::string> hashes;
  std::vector<std::optional<uint64_t>> want;
  for (int i = 0; i < 5000; ++i) {  // more than one index batch
    std::string content(static_cast<size_t>(i % 300), static_cast<char>('a' + i % 26));
    content += std::to_string(i);
    hashes.push_back(*(*bs)->Put(content, ""));
    want.emplace_back(content.size());
  }
  ASSERT_TRUE((*bs)->Sync().ok());
  hashes.push_back(*(*bs)->Put("pending, not synced", ""));
  want.emplace_back(19);
  std::string big(3 << 20, 'z');
  hashes.push_back(*(*bs)->Put(big, ""));  // loose
  want.emplace_back(big.size());
  hashes.push_back(Sha256Hex("absent"));
  want.emplace_back(std::nullopt);
  hashes.push_back(hashes[7]);  // asked twice
  want.push_back(want[7]);
  auto sizes = (*bs)->Sizes(hashes);
  ASSERT_TRUE(sizes.ok()) << sizes.status().ToString();
  EXPECT_EQ(*sizes, want);
  auto other = OpenFsBlobStore(dir);  // another process sees what was synced
  ASSERT_TRUE((*bs)->Sync().ok());
  EXPECT_EQ(*(*other)->Sizes(hashes), want);
  EXPECT_EQ((*bs)->Sizes({"../etc"}).status().code(), StatusCode::kInvalidArgument);
  (void)RemoveAll(dir);
}

// Pack appends are written outside the store's lock while other threads append and read
// blobs that are still being written.
TEST(BlobStore, ConcurrentPutsAndReadsWhileThePackIsWritten) {
  std::string dir = TempDirForBlobs();
  auto bs = OpenFsBlobStore(dir);
  ASSERT_TRUE(bs.ok());
  auto content = [](int t, int i) {  // ~8 KB that compresses little: many 4 MiB writes
    std::string c(8000, '\0');
    uint64_t x = static_cast<uint64_t>(t) * 1000003u + static_cast<uint64_t>(i) + 1;
    for (char& ch : c) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      ch = static_cast<char>(x);
    }
    return c;
  };
  constexpr int kThreads = 4, kEach = 1500;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  std::atomic<int> bad{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string c = content(t, i);
        auto h = (*bs)->Put(c, "");
        if (!h.ok()) ++bad;
        if (i % 100 == 0) {  // read back one of this thread's own, maybe mid-write
          auto got = (*bs)->Get(*h);
          if (!got.ok() || *got != c) ++bad;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  ASSERT_TRUE((*bs)->Sync().ok());
  auto other = OpenFsBlobStore(dir);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kEach; i += 7) {
      std::string c = content(t, i);
      auto got = (*other)->Get(Sha256Hex(c));
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(*got, c);
    }
  }
  (void)RemoveAll(dir);
}

TEST(BlobStore, CorruptBlobsAreRefusedAndRepairedByTheNextUpload) {
  std::string dir = TempDirForBlobs();
  auto bs = OpenFsBlobStore(dir);
  ASSERT_TRUE(bs.ok());
  auto h = (*bs)->Put("hello", "");
  ASSERT_TRUE((*bs)->Sync().ok());
  std::string pack = OnlyPackFile(dir);
  ASSERT_FALSE(pack.empty());
  {
    UniqueFd fd(::open(pack.c_str(), O_WRONLY));  // flip the stored bytes in place
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(::pwrite(fd.get(), "zzzzzzzz", 8, 0), 8);
  }
  EXPECT_EQ((*bs)->Get(*h).status().code(), StatusCode::kCorruption);
  EXPECT_FALSE((*bs)->Has(*h));  // forgotten: the next upload stores it again
  ASSERT_TRUE((*bs)->Put("hello", *h).ok());
  EXPECT_EQ(*(*bs)->Get(*h), "hello");
  // Loose blobs too.
  std::string big(2 << 20, 'y');
  auto hb = (*bs)->Put(big, "");
  std::string loose = dir + "/" + hb->substr(0, 2) + "/" + *hb;
  ASSERT_TRUE(WriteFileAtomic(loose, "garbage").ok());
  EXPECT_EQ((*bs)->Get(*hb).status().code(), StatusCode::kCorruption);
  EXPECT_FALSE((*bs)->Has(*hb));
  ASSERT_TRUE((*bs)->Put(big, *hb).ok());
  EXPECT_EQ(*(*bs)->Get(*hb), big);
  (void)RemoveAll(dir);
}

// Reads a whole reader piece by piece; *pieces counts them, *got holds what was handed out.
Status ReadPieces(ByteSource& reader, std::string* got, int* pieces) {
  std::string piece;
  for (;;) {
    FERRY_RETURN_IF_ERROR(reader.Read(&piece));
    if (piece.empty()) return Status::Ok();
    EXPECT_LE(piece.size(), ByteSource::kPiece);
    *got += piece;
    ++*pieces;
  }
}

TEST(BlobStore, ReadersStreamBlobsInPiecesAndFindCorruptionBeforeTheLastPiece) {
  std::string dir = TempDirForBlobs();
  auto bs = OpenFsBlobStore(dir);
  ASSERT_TRUE(bs.ok());
  std::string big((5 << 20) + 12345, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  const std::string hash = *(*bs)->Put(big, "");
  // A loose blob comes in pieces and whole.
  auto reader = (*bs)->Open(hash);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->size(), big.size());
  std::string got;
  int pieces = 0;
  ASSERT_TRUE(ReadPieces(**reader, &got, &pieces).ok());
  EXPECT_EQ(got, big);
  EXPECT_EQ(pieces, 6);
  std::string piece = "stale";
  EXPECT_TRUE((*reader)->Read(&piece).ok());  // after the end: still the end
  EXPECT_TRUE(piece.empty());
  // A frame that does not declare its size (an upload of unknown length) still has one.
  std::string other = big + "!";
  auto unsized = WriteInPieces(**bs, other, "", std::nullopt);
  ASSERT_TRUE(unsized.ok());
  auto reader2 = (*bs)->Open(*unsized);
  ASSERT_TRUE(reader2.ok());
  EXPECT_EQ((*reader2)->size(), other.size());
  EXPECT_EQ(*ReadWhole(**reader2), other);
  // A packed blob, absent blobs and bad names.
  const std::string small = *(*bs)->Put("small", "");
  EXPECT_EQ(*ReadWhole(**(*bs)->Open(small)), "small");
  EXPECT_EQ((*bs)->Open(Sha256Hex("missing")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*bs)->Open("../etc/passwd").status().code(), StatusCode::kInvalidArgument);

  // Stored bytes that decompress to other content of the same size: every piece but the last
  // is handed out, then Corruption, and the blob is forgotten.
  const std::string loose = dir + "/" + hash.substr(0, 2) + "/" + hash;
  std::string changed = big;
  changed[changed.size() - 1] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(loose, ZstdCompress(changed)).ok());
  reader = (*bs)->Open(hash);
  ASSERT_TRUE(reader.ok());
  got.clear();
  pieces = 0;
  Status st = ReadPieces(**reader, &got, &pieces);
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find(hash), std::string::npos);
  EXPECT_LT(got.size(), big.size());
  EXPECT_EQ(pieces, 5);
  EXPECT_FALSE((*bs)->Has(hash));
  EXPECT_EQ((*reader)->Read(&piece).code(), StatusCode::kCorruption);  // it sticks
  // A file cut short is Corruption too, never a short success.
  ASSERT_TRUE((*bs)->Put(big, hash).ok());
  const std::string compressed = ZstdCompress(big);
  ASSERT_TRUE(WriteFileAtomic(loose, compressed.substr(0, compressed.size() / 2)).ok());
  got.clear();
  reader = (*bs)->Open(hash);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(ReadPieces(**reader, &got, &pieces).code(), StatusCode::kCorruption);
  // And the next upload repairs it.
  ASSERT_TRUE((*bs)->Put(big, hash).ok());
  EXPECT_EQ(*ReadWhole(**(*bs)->Open(hash)), big);
  (void)RemoveAll(dir);
}

}  // namespace
}  // namespace ferry::store

namespace ferry::store {
namespace {

TEST(BlobStore, PutHashedStoresWithoutRehashingAndRefusesBadHashes) {
  char tmpl[] = "/tmp/ferry_blobs_XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  auto bs = OpenFsBlobStore(dir);
  ASSERT_TRUE(bs.ok());
  std::string h = Sha256Hex("content");
  EXPECT_TRUE(*(*bs)->PutHashed("content", h));   // new
  EXPECT_FALSE(*(*bs)->PutHashed("content", h));  // already there
  EXPECT_TRUE((*bs)->Has(h));
  EXPECT_EQ(*(*bs)->Get(h), "content");
  EXPECT_EQ((*bs)->PutHashed("x", "not-a-hash").status().code(), StatusCode::kInvalidArgument);
  // A caller that lies about the hash gets caught on read, never served wrong bytes.
  std::string wrong = Sha256Hex("other");
  ASSERT_TRUE((*bs)->PutHashed("content!", wrong).ok());
  EXPECT_EQ((*bs)->Get(wrong).status().code(), StatusCode::kCorruption);
  (void)RemoveAll(dir);
}

// Pipelines: a step's record and its run are one write; a step has one record; reuse finds only
// completed runs that ran (not reused ones); a run's outputs are kept by name.
TEST_F(StoreTest, PipelineStepsRunsAndOutputs) {
  auto parent = store_->Pipelines().CreatePipelineRun(MakeRun("pipe"), {"{}", "{}", "{}"}, 1);
  ASSERT_TRUE(parent.ok()) << parent.status().ToString();
  EXPECT_EQ(parent->kind, "pipeline");
  ASSERT_TRUE(store_->Pipelines().GetPipelineRun("pipe").ok());
  EXPECT_EQ(store_->Pipelines().GetPipelineRun("nope").status().code(), StatusCode::kNotFound);

  model::Run step = MakeRun("step1");
  step.parent_id = "pipe";
  store::PipelineStepRecord rec{"prep", "step1", "key1", "", "{}", 0};
  ASSERT_TRUE(store_->Pipelines().CreatePipelineStep("pipe", rec, step, {{"a", "1"}}, 2).ok());
  EXPECT_EQ(store_->GetRun("step1")->parent_id, "pipe");
  // A second record for the step is refused, and its run is not created.
  model::Run twice = MakeRun("step2");
  rec.run_id = "step2";
  EXPECT_EQ(store_->Pipelines().CreatePipelineStep("pipe", rec, twice, {}, 3).code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->GetRun("step2").status().code(), StatusCode::kNotFound);

  EXPECT_EQ(*store_->Pipelines().FindReusableRun("key1"), "") << "not completed yet";
  for (auto s : {model::RunStatus::kPreparing, model::RunStatus::kRunning,
                 model::RunStatus::kFinalizing, model::RunStatus::kCompleted}) {
    ASSERT_TRUE(store_->Transition("step1", s, "", 4).ok());
  }
  EXPECT_EQ(*store_->Pipelines().FindReusableRun("key1"), "step1");
  EXPECT_EQ(*store_->Pipelines().FindReusableRun("key2"), "");

  ASSERT_TRUE(store_->Pipelines()
                  .PutRunOutputs({{"step1", "out", "workspaceblobstore", "p", "m1", 2, 10}})
                  .ok());
  ASSERT_TRUE(store_->Pipelines()
                  .PutRunOutputs({{"step1", "out", "workspaceblobstore", "p", "m2", 3, 11}})
                  .ok());
  auto outs = store_->Pipelines().RunOutputs("step1");
  ASSERT_TRUE(outs.ok()) << outs.status().ToString();
  ASSERT_EQ(outs->size(), 1u);
  EXPECT_EQ((*outs)[0].manifest, "m2");
  EXPECT_EQ((*outs)[0].file_count, 3);
  auto steps = store_->Pipelines().ListPipelineSteps("pipe");
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_EQ((*steps)[0].run_id, "step1");
}

// A ParallelRunStep's queue: leases in index order, a late or stale result is ignored, an
// expired lease or a released worker puts the batch back until run_max_try tries have failed.
TEST_F(StoreTest, MiniBatchQueue) {
  ASSERT_TRUE(store_->CreateRun(MakeRun("par"), {}, "t", 1).ok());
  std::vector<MiniBatch> batches(3);
  for (int i = 0; i < 3; ++i) {
    batches[i].index = i;
    batches[i].items = "[\"f" + std::to_string(i) + "\"]";
    batches[i].item_count = 1;
  }
  auto& q = store_->Pipelines();
  EXPECT_EQ(*q.CreateMiniBatches("par", batches), 3);
  EXPECT_EQ(*q.CreateMiniBatches("par", {batches[0]}), 3) << "made once";
  auto a = q.LeaseMiniBatch("par", "w0", 100, 10, 2);
  auto b = q.LeaseMiniBatch("par", "w1", 100, 10, 2);
  ASSERT_TRUE(a.ok() && *a && b.ok() && *b);
  EXPECT_EQ((*a)->index, 0);
  EXPECT_EQ((*b)->index, 1);
  EXPECT_EQ((*a)->attempts, 1);
  // w0 finishes; a result from another worker or try is not taken.
  MiniBatch res = **a;
  res.rows = "[\"r0\"]";
  MiniBatch stale = res;
  stale.worker = "w9";
  EXPECT_FALSE(*q.FinishMiniBatch("par", stale, true, 2));
  EXPECT_TRUE(*q.FinishMiniBatch("par", res, true, 2));
  // w1 dies: its batch is pending again (try 1 of 2 used), then leased to w0, fails, and is
  // failed for good.
  EXPECT_EQ(*q.ReleaseMiniBatches("par", "w1", "w1 died", 2), 1);
  auto again = q.LeaseMiniBatch("par", "w0", 101, 10, 2);
  ASSERT_TRUE(again.ok() && *again);
  EXPECT_EQ((*again)->index, 1);
  EXPECT_EQ((*again)->attempts, 2);
  MiniBatch bad = **again;
  bad.error = "ValueError: bad image";
  bad.failed_items = 1;
  EXPECT_TRUE(*q.FinishMiniBatch("par", bad, false, 2));
  // Batch 2's lease runs out (its node is lost): after its last try it fails.
  auto c = q.LeaseMiniBatch("par", "w2", 102, 10, 1);
  ASSERT_TRUE(c.ok() && *c);
  EXPECT_EQ((*c)->index, 2);
  auto none = q.LeaseMiniBatch("par", "w0", 200, 10, 1);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);
  auto counts = q.CountMiniBatches("par");
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->total, 3);
  EXPECT_EQ(counts->done, 1);
  EXPECT_EQ(counts->failed, 2);
  EXPECT_EQ(counts->failed_items, 1);
  EXPECT_NE(counts->first_error.find("mini-batch 1: ValueError"), std::string::npos)
      << counts->first_error;
  auto listed = q.ListMiniBatches("par", 0, 10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 3u);
  EXPECT_EQ((*listed)[0].rows, "[\"r0\"]");
  EXPECT_NE((*listed)[2].error.find("past its lease"), std::string::npos) << (*listed)[2].error;
}

}  // namespace
}  // namespace ferry::store
