// Unit tests for the scheduler: driven with RunOnce() against the real SQLite store, a fake
// compute target and a fake clock.
#include "scheduler/scheduler.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/fs.h"
#include "compute/compute_target.h"
#include "scheduler/sweep_controller.h"
#include "store/metadata_store.h"

namespace ferry::scheduler {
namespace {

using compute::JobState;
using model::RunStatus;

class FakeClock final : public Clock {
 public:
  double Now() const override { return now_.load(); }
  void Set(double t) { now_.store(t); }

 private:
  std::atomic<double> now_{1000.0};
};

class FakeTarget final : public compute::ComputeTarget {
 public:
  explicit FakeTarget(std::string name, int max_runs) : name_(std::move(name)), max_(max_runs) {}

  const std::string& name() const override { return name_; }
  std::string kind() const override { return "fake"; }
  compute::Capabilities capabilities() const override {
    compute::Capabilities c;
    c.gpus = !gpu_ids.empty();
    return c;
  }
  int max_concurrent_runs() const override { return max_; }
  std::vector<int> gpus() const override { return gpu_ids; }

  Result<std::string> Launch(const compute::RunPlan& plan) override {
    plans.push_back(plan);
    launched.push_back(plan.run.id);
    auto it = fail_launch.find(plan.run.id);
    if (it != fail_launch.end()) return it->second;
    return "h-" + plan.run.id;
  }
  std::vector<JobState> Poll(const std::vector<std::string>& handles) override {
    ++poll_calls;
    polled.push_back(handles);
    if (on_poll) on_poll(handles);
    std::vector<JobState> out;
    out.reserve(handles.size());
    for (const auto& h : handles) {
      out.push_back(gone.count(h)      ? JobState::kGone
                    : waiting.count(h) ? JobState::kWaiting
                                       : JobState::kAlive);
    }
    return out;
  }
  Status Cancel(const std::string& handle) override {
    canceled.push_back(handle);
    return Status::Ok();
  }
  std::string Describe() const override { return "{}"; }
  std::string NotReady() const override { return not_ready; }
  std::string GoneReason(const std::string&) const override { return gone_reason; }

  void set_max(int m) { max_ = m; }

  std::vector<int> gpu_ids;  // devices this fake node has
  std::string not_ready, gone_reason;
  std::vector<std::string> launched;    // run ids, in Launch order
  std::vector<compute::RunPlan> plans;  // every plan passed to Launch
  std::set<std::string> gone;           // handles Poll reports kGone
  std::set<std::string> waiting;        // handles Poll reports kWaiting (requeued by a cluster)
  int poll_calls = 0;
  std::vector<std::vector<std::string>> polled;                  // handles of each Poll call
  std::vector<std::string> canceled;                             // handles passed to Cancel
  std::map<std::string, Status> fail_launch;                     // run id -> Launch failure
  std::function<void(const std::vector<std::string>&)> on_poll;  // runs inside Poll

 private:
  std::string name_;
  int max_;
};

// Forwards to the real store; runs a one-shot hook right after the n-th GetRun call from now,
// to interleave a scheduler cycle with Scheduler::Cancel deterministically.
class HookStore final : public store::MetadataStore {
 public:
  explicit HookStore(store::MetadataStore* s) : s_(s) {}
  void AfterGetRun(int nth, std::function<void()> hook) {
    countdown_ = nth;
    hook_ = std::move(hook);
  }

  Result<model::Experiment> CreateExperiment(const std::string& n, double now,
                                             const std::string& by) override {
    return s_->CreateExperiment(n, now, by);
  }
  Result<model::Experiment> CreateExperimentWith(const std::string& n, const std::string& loc,
                                                 const std::map<std::string, std::string>& tags,
                                                 double now, const std::string& by) override {
    return s_->CreateExperimentWith(n, loc, tags, now, by);
  }
  Result<model::Experiment> EnsureExperiment(const std::string& n, double now) override {
    return s_->EnsureExperiment(n, now);
  }
  Result<std::vector<model::Experiment>> ListExperiments() override {
    return s_->ListExperiments();
  }
  Status EnsureTarget(const model::ComputeTargetRecord& t) override { return s_->EnsureTarget(t); }
  Result<model::ComputeTargetRecord> GetTarget(const std::string& n) override {
    return s_->GetTarget(n);
  }
  Result<std::vector<model::ComputeTargetRecord>> ListTargets() override {
    return s_->ListTargets();
  }
  Status PutSnapshot(const std::string& id, int64_t c, int64_t b, double now) override {
    return s_->PutSnapshot(id, c, b, now);
  }
  Result<std::optional<store::SnapshotRecord>> GetSnapshot(const std::string& id) override {
    return s_->GetSnapshot(id);
  }
  Result<model::Run> CreateRun(const model::Run& run, const std::map<std::string, std::string>& p,
                               const std::string& th, double now) override {
    return s_->CreateRun(run, p, th, now);
  }
  Result<model::Run> GetRunSummary(const std::string& id) override { return s_->GetRunSummary(id); }
  Result<model::Run> GetRun(const std::string& id) override {
    auto r = s_->GetRun(id);
    if (hook_ && --countdown_ == 0) {
      auto h = std::move(hook_);
      hook_ = nullptr;
      h();
    }
    return r;
  }
  Result<std::vector<model::Run>> ListRuns(const model::RunFilter& f) override {
    return s_->ListRuns(f);
  }
  Result<int64_t> CountRuns(const model::RunFilter& f) override { return s_->CountRuns(f); }
  Result<std::vector<model::Run>> ListActiveRuns() override {
    if (stale_active) {  // one-shot: a listing taken earlier
      auto out = std::move(*stale_active);
      stale_active.reset();
      return out;
    }
    return s_->ListActiveRuns();
  }
  std::optional<std::vector<model::Run>> stale_active;
  Result<model::Run> Transition(const std::string& id, model::RunStatus to,
                                const std::string& reason, double now,
                                const store::TransitionExtras& ex) override {
    return s_->Transition(id, to, reason, now, ex);
  }
  Status SetJobHandle(const std::string& id, const std::string& h) override {
    return s_->SetJobHandle(id, h);
  }
  Status RequestCancel(const std::string& id, const std::string& reason) override {
    return s_->RequestCancel(id, reason);
  }
  Result<model::Run> CreateSweep(const model::Run& run, const store::SweepRecord& sw,
                                 double now) override {
    return s_->CreateSweep(run, sw, now);
  }
  Result<store::SweepRecord> GetSweep(const std::string& id) override { return s_->GetSweep(id); }
  Result<std::vector<model::StatusEvent>> History(const std::string& id) override {
    return s_->History(id);
  }
  Result<std::string> RunTokenHash(const std::string& id) override { return s_->RunTokenHash(id); }
  Status SetTags(const std::string& id, const std::map<std::string, std::string>& t) override {
    return s_->SetTags(id, t);
  }
  Result<std::map<std::string, std::string>> Params(const std::string& id) override {
    return s_->Params(id);
  }
  Result<int64_t> AppendMetrics(int64_t rid, std::span<const model::MetricPoint> p) override {
    return s_->AppendMetrics(rid, p);
  }
  Result<std::vector<model::MetricPoint>> GetMetrics(const std::string& id,
                                                     const std::string& key) override {
    return s_->GetMetrics(id, key);
  }
  Result<int64_t> AppendValues(int64_t rid, std::span<const model::RunValue> v,
                               bool client) override {
    return s_->AppendValues(rid, v, client);
  }
  Result<std::vector<model::RunValue>> GetValues(const std::string& id,
                                                 const std::string& key) override {
    return s_->GetValues(id, key);
  }
  Result<std::vector<model::MetricSummary>> MetricSummaries(const std::string& id) override {
    return s_->MetricSummaries(id);
  }
  Status DeleteExperimentTag(int64_t id, const std::string& key, double now) override {
    return s_->DeleteExperimentTag(id, key, now);
  }
  Result<std::map<std::string, std::vector<model::MetricPoint>>> LatestMetrics(
      const std::vector<std::string>& ids) override {
    return s_->LatestMetrics(ids);
  }
  Result<std::map<std::string, std::map<std::string, std::string>>> ParamsOfRuns(
      const std::vector<std::string>& ids) override {
    return s_->ParamsOfRuns(ids);
  }
  Status AddArtifacts(const std::string& id, const std::vector<model::Artifact>& f) override {
    return s_->AddArtifacts(id, f);
  }
  store::AssetStore& Assets() override { return s_->Assets(); }
  store::ModelStore& Models() override { return s_->Models(); }
  store::SecretStore& Secrets() override { return s_->Secrets(); }
  store::PipelineStore& Pipelines() override { return s_->Pipelines(); }
  store::PublishedPipelineStore& Published() override { return s_->Published(); }
  Result<std::vector<model::Artifact>> ListArtifacts(const std::string& id) override {
    return s_->ListArtifacts(id);
  }
  Status CreateTarget(const model::ComputeTargetRecord& t) override { return s_->CreateTarget(t); }
  Status CreateUser(const store::UserRecord& u) override { return s_->CreateUser(u); }
  Status SetUserRole(const std::string& n, const std::string& r) override {
    return s_->SetUserRole(n, r);
  }
  Status DeleteUser(const std::string& n) override { return s_->DeleteUser(n); }
  Result<int64_t> NextMetricSeq(const std::string& id, int rank) override {
    return s_->NextMetricSeq(id, rank);
  }
  Status UpdateExperiment(int64_t id, const std::optional<std::string>& n,
                          const std::optional<std::string>& l, double now) override {
    return s_->UpdateExperiment(id, n, l, now);
  }
  Status SetExperimentTag(int64_t id, const std::string& k, const std::string& v,
                          double now) override {
    return s_->SetExperimentTag(id, k, v, now);
  }
  Status SetParams(const std::string& id, const std::map<std::string, std::string>& p) override {
    return s_->SetParams(id, p);
  }
  Status DeleteTag(const std::string& id, const std::string& k) override {
    return s_->DeleteTag(id, k);
  }
  Status SetRunName(const std::string& id, const std::string& n) override {
    return s_->SetRunName(id, n);
  }
  Status SetRunLifecycle(const std::string& id, const std::string& l) override {
    return s_->SetRunLifecycle(id, l);
  }
  Result<std::vector<model::MetricPoint>> GetMetricSeries(const std::string& id,
                                                          const std::string& k, int64_t n,
                                                          int64_t* total,
                                                          int64_t* max_seq) override {
    return s_->GetMetricSeries(id, k, n, total, max_seq);
  }
  Result<std::vector<model::MetricPoint>> GetMetricsAfter(const std::string& id,
                                                          const std::string& k, int64_t a,
                                                          int64_t n) override {
    return s_->GetMetricsAfter(id, k, a, n);
  }
  Result<RunKeys> ListRunKeys(const std::string& e, int n) override {
    return s_->ListRunKeys(e, n);
  }
  Result<int64_t> LogMetrics(const std::string& id, std::vector<model::MetricPoint> p) override {
    return s_->LogMetrics(id, std::move(p));
  }
  Result<std::vector<store::UserRecord>> ListUsers() override { return s_->ListUsers(); }
  Status UpdateTargetConfig(const std::string& n, const std::string& c) override {
    return s_->UpdateTargetConfig(n, c);
  }
  Status DeleteTarget(const std::string& n) override { return s_->DeleteTarget(n); }
  Result<model::RegisteredEnvironment> RegisterEnvironment(const model::RegisteredEnvironment& e,
                                                           double now, bool* created) override {
    return s_->RegisterEnvironment(e, now, created);
  }
  Result<model::RegisteredEnvironment> GetEnvironment(const std::string& name,
                                                      int64_t version) override {
    return s_->GetEnvironment(name, version);
  }
  Result<std::vector<model::RegisteredEnvironment>> ListEnvironments(
      const std::string& name) override {
    return s_->ListEnvironments(name);
  }

 private:
  store::MetadataStore* s_;
  int countdown_ = 0;
  std::function<void()> hook_;
};

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry_sched_XXXXXX";
    char* d = ::mkdtemp(tmpl);
    ASSERT_NE(d, nullptr);
    dir_ = d;
    auto s = store::OpenSqliteMetadataStore(dir_ + "/ferry.db");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    sched_ = MakeScheduler();
    sched_->AddTarget(&target_);
  }
  void TearDown() override {
    sched_.reset();
    store_.reset();
    (void)RemoveAll(dir_);
  }

  std::unique_ptr<Scheduler> MakeScheduler() {
    SchedulerOptions opts;
    opts.poll_interval_s = 0.01;
    opts.token_for = [this](const std::string& id) {
      token_calls_.push_back(id);
      return "tok-" + id;
    };
    opts.on_change = [this](const std::string& id) { changes_.push_back(id); };
    return std::make_unique<Scheduler>(store_.get(), &clock_, std::move(opts));
  }

  void Submit(const std::string& id, const std::string& target = "fake", int gpus = 0) {
    model::Run r;
    r.options.gpus = gpus;
    r.id = id;
    r.experiment = "exp";
    r.target = target;
    r.script = "train.py";
    r.python = "/usr/bin/python3";
    r.snapshot_id = std::string(64, 'a');
    auto c = store_->CreateRun(r, {}, "hash-" + id, clock_.Now());
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    clock_.Set(clock_.Now() + 1);
  }

  model::Run Get(const std::string& id) {
    auto r = store_->GetRun(id);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : model::Run{};
  }
  RunStatus StatusOf(const std::string& id) { return Get(id).status; }

  std::vector<RunStatus> HistoryOf(const std::string& id) {
    auto h = store_->History(id);
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    std::vector<RunStatus> out;
    if (h.ok())
      for (const auto& e : *h) out.push_back(e.status);
    return out;
  }
  std::string LastReason(const std::string& id) {
    auto h = store_->History(id);
    return h.ok() && !h->empty() ? h->back().reason : "";
  }

  void Move(const std::string& id, RunStatus to) {
    auto t = store_->Transition(id, to, "test", clock_.Now());
    ASSERT_TRUE(t.ok()) << t.status().ToString();
  }
  // Running -> Finalizing -> Completed, as the agent would report.
  void Finish(const std::string& id) {
    Move(id, RunStatus::kFinalizing);
    Move(id, RunStatus::kCompleted);
  }

  std::string dir_;
  std::unique_ptr<store::MetadataStore> store_;
  FakeClock clock_;
  FakeTarget target_{"fake", 2};
  std::unique_ptr<Scheduler> sched_;
  std::vector<std::string> changes_;
  std::vector<std::string> token_calls_;
};

using V = std::vector<std::string>;
using H = std::vector<RunStatus>;

TEST_F(SchedulerTest, LaunchesQueuedRunsFifoWithinCapacity) {
  for (int i = 1; i <= 5; ++i) Submit("r" + std::to_string(i));

  sched_->RunOnce();
  EXPECT_EQ(target_.launched, (V{"r1", "r2"}));
  for (const char* id : {"r1", "r2"}) {
    model::Run r = Get(id);
    EXPECT_EQ(r.status, RunStatus::kPreparing) << id;
    EXPECT_EQ(r.job_handle, std::string("h-") + id);
    EXPECT_EQ(HistoryOf(id), (H{RunStatus::kQueued, RunStatus::kPreparing}));
    EXPECT_EQ(LastReason(id), "scheduled on fake");
  }
  for (const char* id : {"r3", "r4", "r5"}) {
    EXPECT_EQ(StatusOf(id), RunStatus::kQueued) << id;
    EXPECT_EQ(Get(id).job_handle, "");
  }

  // Full: more cycles launch nothing, and each cycle polls the target once for all its jobs.
  target_.poll_calls = 0;
  target_.polled.clear();
  for (int i = 0; i < 3; ++i) sched_->RunOnce();
  EXPECT_EQ(target_.launched.size(), 2u);
  EXPECT_EQ(target_.poll_calls, 3);
  for (const auto& p : target_.polled) EXPECT_EQ(p, (V{"h-r1", "h-r2"}));

  // The agent of r1 runs and completes; its slot is freed and r3 is next.
  Move("r1", RunStatus::kRunning);
  sched_->RunOnce();
  EXPECT_EQ(target_.launched.size(), 2u);  // Running still holds the slot
  Finish("r1");
  EXPECT_EQ(HistoryOf("r1"), (H{RunStatus::kQueued, RunStatus::kPreparing, RunStatus::kRunning,
                                RunStatus::kFinalizing, RunStatus::kCompleted}));
  target_.poll_calls = 0;
  target_.polled.clear();
  sched_->RunOnce();
  EXPECT_EQ(target_.launched, (V{"r1", "r2", "r3"}));
  EXPECT_EQ(target_.poll_calls, 1);
  ASSERT_EQ(target_.polled.size(), 1u);
  EXPECT_EQ(target_.polled[0], (V{"h-r2"}));
  EXPECT_EQ(StatusOf("r3"), RunStatus::kPreparing);
  EXPECT_EQ(StatusOf("r4"), RunStatus::kQueued);
  EXPECT_EQ(StatusOf("r5"), RunStatus::kQueued);

  // Next cycle polls r2 and r3 together, once.
  target_.poll_calls = 0;
  target_.polled.clear();
  sched_->RunOnce();
  EXPECT_EQ(target_.poll_calls, 1);
  ASSERT_EQ(target_.polled.size(), 1u);
  EXPECT_EQ(target_.polled[0], (V{"h-r2", "h-r3"}));
  EXPECT_EQ(target_.launched.size(), 3u);
}

TEST_F(SchedulerTest, NoPollWhenTargetHasNoLaunchedJobs) {
  sched_->RunOnce();
  EXPECT_EQ(target_.poll_calls, 0);
  Submit("r1");
  sched_->RunOnce();  // r1 was Queued at listing time: launched, not polled
  EXPECT_EQ(target_.poll_calls, 0);
  sched_->RunOnce();
  EXPECT_EQ(target_.poll_calls, 1);
}

TEST_F(SchedulerTest, GoneAgentFailsRunningRun) {
  Submit("r1");
  sched_->RunOnce();
  Move("r1", RunStatus::kRunning);
  target_.gone.insert("h-r1");
  clock_.Set(5000);
  changes_.clear();
  sched_->RunOnce();

  model::Run r = Get("r1");
  EXPECT_EQ(r.status, RunStatus::kFailed);
  EXPECT_NE(r.error.find("h-r1"), std::string::npos) << r.error;
  EXPECT_EQ(r.ended_at, 5000);
  EXPECT_EQ(HistoryOf("r1"), (H{RunStatus::kQueued, RunStatus::kPreparing, RunStatus::kRunning,
                                RunStatus::kFailed}));
  EXPECT_EQ(LastReason("r1"), "agent lost");
  EXPECT_EQ(changes_, (V{"r1"}));

  // An ended run is not polled again.
  target_.poll_calls = 0;
  sched_->RunOnce();
  EXPECT_EQ(target_.poll_calls, 0);
  EXPECT_EQ(StatusOf("r1"), RunStatus::kFailed);
}

TEST_F(SchedulerTest, GoneAgentFreesSlotInSameCycle) {
  target_.set_max(1);
  Submit("r1");
  Submit("r2");
  sched_->RunOnce();
  EXPECT_EQ(target_.launched, (V{"r1"}));
  Move("r1", RunStatus::kRunning);
  target_.gone.insert("h-r1");
  sched_->RunOnce();
  EXPECT_EQ(StatusOf("r1"), RunStatus::kFailed);
  EXPECT_EQ(target_.launched, (V{"r1", "r2"}));
  EXPECT_EQ(StatusOf("r2"), RunStatus::kPreparing);
}

TEST_F(SchedulerTest, RunThatCompletedAfterListingIsNotMarkedGone) {
  Submit("r1");
  sched_->RunOnce();
  Move("r1", RunStatus::kRunning);
  target_.gone.insert("h-r1");
  // The agent reports its final status after the scheduler listed the run but before it
  // acts on the poll result (the job is gone because it exited normally).
  target_.on_poll = [this](const std::vector<std::string>&) {
    target_.on_poll = nullptr;
    Finish("r1");
  };
  changes_.clear();
  sched_->RunOnce();

  model::Run r = Get("r1");
  EXPECT_EQ(r.status, RunStatus::kCompleted);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(HistoryOf("r1"), (H{RunStatus::kQueued, RunStatus::kPreparing, RunStatus::kRunning,
                                RunStatus::kFinalizing, RunStatus::kCompleted}));
  EXPECT_TRUE(changes_.empty());
}

TEST_F(SchedulerTest, LaunchFailureFailsRunAndFreesSlot) {
  target_.set_max(1);
  Submit("r1");
  Submit("r2");
  Submit("r3");
  target_.fail_launch["r1"] = Status::FailedPrecondition("spawn failed: no such interpreter");
  changes_.clear();
  sched_->RunOnce();

  EXPECT_EQ(target_.launched, (V{"r1", "r2"}));
  model::Run r1 = Get("r1");
  EXPECT_EQ(r1.status, RunStatus::kFailed);
  EXPECT_NE(r1.error.find("spawn failed: no such interpreter"), std::string::npos) << r1.error;
  EXPECT_EQ(r1.job_handle, "");
  EXPECT_EQ(HistoryOf("r1"), (H{RunStatus::kQueued, RunStatus::kPreparing, RunStatus::kFailed}));
  EXPECT_EQ(LastReason("r1"), "launch failed");
  EXPECT_EQ(StatusOf("r2"), RunStatus::kPreparing);
  EXPECT_EQ(Get("r2").job_handle, "h-r2");
  EXPECT_EQ(StatusOf("r3"), RunStatus::kQueued);
  EXPECT_EQ(changes_, (V{"r1", "r1", "r2"}));
}

TEST_F(SchedulerTest, UnavailableTargetKeepsRunsQueuedWithTheReason) {
  target_.not_ready = "cannot reach u@h:22: Connection timed out; retrying";
  Submit("r1");
  sched_->RunOnce();
  EXPECT_EQ(StatusOf("r1"), RunStatus::kQueued);
  EXPECT_TRUE(target_.launched.empty());
  EXPECT_EQ(sched_->QueueReason("r1"), target_.not_ready);
  // Ready again, but the host drops during the launch: back to the queue, not Failed.
  target_.not_ready.clear();
  target_.fail_launch["r1"] = Status::Unavailable("cannot reach u@h:22");
  sched_->RunOnce();
  EXPECT_EQ(StatusOf("r1"), RunStatus::kQueued);
  EXPECT_EQ(Get("r1").attempt, 2);
  EXPECT_EQ(sched_->QueueReason("r1"), "cannot reach u@h:22");
  target_.fail_launch.clear();
  sched_->RunOnce();
  EXPECT_EQ(StatusOf("r1"), RunStatus::kPreparing);
  EXPECT_EQ(sched_->QueueReason("r1"), "");
}

TEST_F(SchedulerTest, QueueReasonSaysWhenSlotsAreFull) {
  target_.set_max(1);
  Submit("a");
  Submit("b");
  sched_->RunOnce();
  EXPECT_NE(sched_->QueueReason("b").find("waiting for a free slot on fake (1 of 1 in use)"),
            std::string::npos)
      << sched_->QueueReason("b");
}

TEST_F(SchedulerTest, GoneReasonFromTheDriverIsTheRunsError) {
  Submit("a");
  sched_->RunOnce();
  target_.gone.insert("h-a");
  target_.gone_reason = "the host rebooted while the run was active";
  sched_->RunOnce();
  EXPECT_EQ(StatusOf("a"), RunStatus::kFailed);
  EXPECT_EQ(Get("a").error, "the host rebooted while the run was active");
}

TEST_F(SchedulerTest, RequeueOnNodeLossQueuesAgainUpToALimit) {
  model::Run r;
  r.id = "rq";
  r.experiment = "exp";
  r.target = "fake";
  r.script = "train.py";
  r.python = "python3";
  r.snapshot_id = std::string(64, 'a');
  r.options.requeue_on_node_loss = true;
  ASSERT_TRUE(store_->CreateRun(r, {}, "h", clock_.Now()).ok());
  target_.gone_reason = "the host rebooted while the run was active";
  for (int attempt = 1; attempt < model::kMaxNodeLossAttempts; ++attempt) {
    sched_->RunOnce();  // launched
    ASSERT_EQ(StatusOf("rq"), RunStatus::kPreparing) << attempt;
    target_.gone.insert(Get("rq").job_handle);
    sched_->RunOnce();  // lost: requeued (and launched again by the next cycle)
    EXPECT_EQ(StatusOf("rq"), RunStatus::kQueued);
    EXPECT_EQ(Get("rq").attempt, attempt + 1);
    EXPECT_NE(LastReason("rq").find("requeued (requeueOnNodeLoss): the host rebooted"),
              std::string::npos);
    target_.gone.clear();
    target_.launched.clear();
    target_.fail_launch.clear();
  }
  // The last attempt is lost too: Failed.
  sched_->RunOnce();
  target_.gone.insert(Get("rq").job_handle);
  sched_->RunOnce();
  EXPECT_EQ(StatusOf("rq"), RunStatus::kFailed);
  EXPECT_EQ(Get("rq").error, "the host rebooted while the run was active");
}

TEST_F(SchedulerTest, ClusterRequeuedJobIsPreemptedThenQueuedAndNotRelaunched) {
  Submit("p");
  sched_->RunOnce();
  Move("p", RunStatus::kRunning);
  target_.waiting.insert("h-p");
  target_.gone_reason = "preempted: Slurm requeued job 7";
  sched_->RunOnce();
  EXPECT_EQ(StatusOf("p"), RunStatus::kQueued);
  EXPECT_EQ(Get("p").attempt, 2);
  EXPECT_EQ(Get("p").job_handle, "h-p");  // still the cluster's job
  auto h = HistoryOf("p");
  ASSERT_GE(h.size(), 2u);
  EXPECT_EQ(h[h.size() - 2], RunStatus::kPreempted);
  // Further cycles poll it and leave it to the cluster: no second launch.
  sched_->RunOnce();
  sched_->RunOnce();
  EXPECT_EQ(target_.launched, (V{"p"}));
  EXPECT_EQ(StatusOf("p"), RunStatus::kQueued);
  // A queued run whose job disappeared fails with the driver's reason.
  target_.waiting.clear();
  target_.gone.insert("h-p");
  target_.gone_reason = "Slurm job 7 ended as CANCELLED";
  sched_->RunOnce();
  EXPECT_EQ(StatusOf("p"), RunStatus::kFailed);
}

TEST_F(SchedulerTest, CancelQueuedRunEndsItAtOnce) {
  Submit("r1");
  changes_.clear();
  ASSERT_TRUE(sched_->Cancel("r1", "user asked").ok());
  model::Run r = Get("r1");
  EXPECT_EQ(r.status, RunStatus::kCanceled);
  EXPECT_TRUE(r.cancel_requested);
  EXPECT_EQ(HistoryOf("r1"), (H{RunStatus::kQueued, RunStatus::kCanceled}));
  EXPECT_EQ(LastReason("r1"), "user asked");
  EXPECT_EQ(changes_, (V{"r1"}));

  sched_->RunOnce();
  EXPECT_TRUE(target_.launched.empty());
  EXPECT_TRUE(target_.canceled.empty());
  EXPECT_EQ(StatusOf("r1"), RunStatus::kCanceled);
}

TEST_F(SchedulerTest, QueuedRunWithCancelRequestIsCanceledByCycle) {
  // The cancel request was recorded but the status change lost a race (simulated).
  Submit("r1");
  ASSERT_TRUE(store_->RequestCancel("r1").ok());
  changes_.clear();
  sched_->RunOnce();
  EXPECT_TRUE(target_.launched.empty());
  EXPECT_EQ(StatusOf("r1"), RunStatus::kCanceled);
  EXPECT_EQ(HistoryOf("r1"), (H{RunStatus::kQueued, RunStatus::kCanceled}));
  EXPECT_EQ(changes_, (V{"r1"}));
}

TEST_F(SchedulerTest, CancelRunningRunAsksDriverOnce) {
  Submit("r1");
  Submit("r2");
  sched_->RunOnce();
  Move("r1", RunStatus::kRunning);
  Move("r2", RunStatus::kRunning);
  changes_.clear();
  ASSERT_TRUE(sched_->Cancel("r1", "user asked").ok());
  model::Run r = Get("r1");
  EXPECT_EQ(r.status, RunStatus::kRunning);
  EXPECT_TRUE(r.cancel_requested);
  EXPECT_TRUE(target_.canceled.empty());  // forwarded by the next cycle, not by Cancel()

  for (int i = 0; i < 4; ++i) sched_->RunOnce();
  EXPECT_EQ(target_.canceled, (V{"h-r1"}));
  EXPECT_EQ(StatusOf("r1"), RunStatus::kRunning);  // the agent reports Canceled itself
  EXPECT_EQ(StatusOf("r2"), RunStatus::kRunning);
  EXPECT_TRUE(changes_.empty());

  // A second request does not re-send.
  ASSERT_TRUE(sched_->Cancel("r1", "again").ok());
  sched_->RunOnce();
  EXPECT_EQ(target_.canceled, (V{"h-r1"}));

  // The agent reports Canceled; further cancels are refused.
  Move("r1", RunStatus::kCanceled);
  sched_->RunOnce();
  EXPECT_EQ(target_.canceled, (V{"h-r1"}));
  Status st = sched_->Cancel("r1", "late");
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
}

TEST_F(SchedulerTest, CancelEndedOrUnknownRun) {
  Submit("r1");
  sched_->RunOnce();
  Move("r1", RunStatus::kRunning);
  Finish("r1");
  Status st = sched_->Cancel("r1", "too late");
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_FALSE(Get("r1").cancel_requested);
  EXPECT_EQ(StatusOf("r1"), RunStatus::kCompleted);

  st = sched_->Cancel("nope", "x");
  EXPECT_EQ(st.code(), StatusCode::kNotFound) << st.ToString();
}

TEST_F(SchedulerTest, UnknownTargetFailsRun) {
  Submit("r1", "elsewhere");
  Submit("r2");
  changes_.clear();
  sched_->RunOnce();
  model::Run r = Get("r1");
  EXPECT_EQ(r.status, RunStatus::kFailed);
  EXPECT_NE(r.error.find("is not available"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("elsewhere"), std::string::npos) << r.error;
  EXPECT_EQ(HistoryOf("r1"), (H{RunStatus::kQueued, RunStatus::kFailed}));
  EXPECT_EQ(target_.launched, (V{"r2"}));
  EXPECT_EQ(changes_, (V{"r1", "r2"}));
}

TEST_F(SchedulerTest, StartupFailsRunsLeftPreparingWithoutHandle) {
  // Left over from a previous server: Preparing, no job handle recorded.
  Submit("old");
  Move("old", RunStatus::kPreparing);
  // Also a run that was launched properly: it must be kept.
  Submit("kept");
  Move("kept", RunStatus::kPreparing);
  ASSERT_TRUE(store_->SetJobHandle("kept", "h-kept").ok());

  auto fresh = MakeScheduler();
  fresh->AddTarget(&target_);
  changes_.clear();
  fresh->RunOnce();
  model::Run r = Get("old");
  EXPECT_EQ(r.status, RunStatus::kFailed);
  EXPECT_NE(r.error.find("server stopped while launching"), std::string::npos) << r.error;
  EXPECT_EQ(HistoryOf("old"), (H{RunStatus::kQueued, RunStatus::kPreparing, RunStatus::kFailed}));
  EXPECT_NE(LastReason("old").find("server stopped"), std::string::npos) << LastReason("old");
  EXPECT_EQ(StatusOf("kept"), RunStatus::kPreparing);
  EXPECT_EQ(changes_, (V{"old"}));
  EXPECT_EQ(target_.polled, (std::vector<V>{{"h-kept"}}));

  // After the first cycle a handle-less Preparing run is left alone and holds its slot.
  target_.set_max(2);
  Submit("mid");
  Move("mid", RunStatus::kPreparing);
  Submit("q");
  changes_.clear();
  for (int i = 0; i < 3; ++i) fresh->RunOnce();
  EXPECT_EQ(StatusOf("mid"), RunStatus::kPreparing);
  EXPECT_EQ(HistoryOf("mid"), (H{RunStatus::kQueued, RunStatus::kPreparing}));
  EXPECT_EQ(StatusOf("q"), RunStatus::kQueued);  // kept + mid fill the 2 slots
  EXPECT_TRUE(target_.launched.empty());
  EXPECT_TRUE(changes_.empty());
}

TEST_F(SchedulerTest, StartupCheckRunsOnlyOnFirstCycle) {
  sched_->RunOnce();  // the first cycle of sched_, with nothing to do
  Submit("r1");
  Move("r1", RunStatus::kPreparing);
  sched_->RunOnce();
  sched_->RunOnce();
  EXPECT_EQ(StatusOf("r1"), RunStatus::kPreparing);
  EXPECT_EQ(HistoryOf("r1"), (H{RunStatus::kQueued, RunStatus::kPreparing}));
}

TEST_F(SchedulerTest, OnChangeAndTokenForEachLaunch) {
  Submit("r1");
  Submit("r2");
  Submit("r3");
  changes_.clear();
  sched_->RunOnce();
  EXPECT_EQ(token_calls_, (V{"r1", "r2"}));
  ASSERT_EQ(target_.plans.size(), 2u);
  EXPECT_EQ(target_.plans[0].token, "tok-r1");
  EXPECT_EQ(target_.plans[0].run.id, "r1");
  EXPECT_EQ(target_.plans[0].run.status, RunStatus::kPreparing);
  EXPECT_EQ(target_.plans[0].run.script, "train.py");
  EXPECT_EQ(target_.plans[1].token, "tok-r2");
  EXPECT_EQ(changes_, (V{"r1", "r2"}));

  // Nothing changes: no callbacks.
  changes_.clear();
  sched_->RunOnce();
  EXPECT_TRUE(changes_.empty());
  EXPECT_EQ(token_calls_.size(), 2u);

  // r1 gone -> Failed (change r1), r3 launched (change r3, token r3).
  Move("r1", RunStatus::kRunning);
  target_.gone.insert("h-r1");
  sched_->RunOnce();
  EXPECT_EQ(changes_, (V{"r1", "r3"}));
  EXPECT_EQ(token_calls_, (V{"r1", "r2", "r3"}));
  ASSERT_EQ(target_.plans.size(), 3u);
  EXPECT_EQ(target_.plans[2].token, "tok-r3");
}

// Cancel() of a run that was Queued when Cancel read it but is launched by a cycle before
// the request is recorded: the agent must still be told to stop (not orphaned under a
// Canceled run).
TEST_F(SchedulerTest, CancelRacingLaunchBeforeRequestIsRecorded) {
  HookStore hs(store_.get());
  SchedulerOptions opts;
  opts.token_for = [](const std::string& id) { return "tok-" + id; };
  Scheduler s(&hs, &clock_, std::move(opts));
  s.AddTarget(&target_);
  s.RunOnce();  // startup cycle
  Submit("r1");
  // Cancel's first GetRun sees Queued; then a cycle launches r1 before RequestCancel.
  hs.AfterGetRun(1, [&] { s.RunOnce(); });
  ASSERT_TRUE(s.Cancel("r1", "user asked").ok());
  EXPECT_EQ(target_.launched, (V{"r1"}));
  s.RunOnce();
  s.RunOnce();
  EXPECT_EQ(target_.canceled, (V{"h-r1"}));
  model::Run r = Get("r1");
  EXPECT_TRUE(r.cancel_requested);
  EXPECT_EQ(r.status, RunStatus::kPreparing);  // the agent reports Canceled itself
}

// Cancel() records the request and reads Queued; a cycle that listed the run before the
// request was recorded then launches it, and Cancel's Transition to Canceled still succeeds
// (legal from Preparing). The run is then no longer active, so the launching cycle itself
// must forward the cancel to the driver, or the agent is orphaned.
TEST_F(SchedulerTest, CancelRacingLaunchAfterRequestIsRecorded) {
  HookStore hs(store_.get());
  SchedulerOptions opts;
  opts.token_for = [](const std::string& id) { return "tok-" + id; };
  Scheduler s(&hs, &clock_, std::move(opts));
  s.AddTarget(&target_);
  s.RunOnce();
  Submit("r1");
  auto before = store_->ListActiveRuns();  // the cycle's listing, taken before the request
  ASSERT_TRUE(before.ok());
  // The 2nd GetRun of Cancel is its status re-read after RequestCancel.
  hs.AfterGetRun(2, [&] {
    hs.stale_active = *before;
    s.RunOnce();
  });
  ASSERT_TRUE(s.Cancel("r1", "user asked").ok());
  EXPECT_EQ(target_.launched, (V{"r1"}));
  EXPECT_EQ(target_.canceled, (V{"h-r1"}));
  EXPECT_EQ(StatusOf("r1"), RunStatus::kCanceled);
  EXPECT_EQ(HistoryOf("r1"), (H{RunStatus::kQueued, RunStatus::kPreparing, RunStatus::kCanceled}));
  s.RunOnce();
  EXPECT_EQ(target_.canceled, (V{"h-r1"}));  // once
}

TEST_F(SchedulerTest, GpusAreGivenDisjointlyAndNeverOversubscribed) {
  target_.gpu_ids = {0, 1, 2};
  Submit("a", "fake", 2);
  Submit("b", "fake", 2);  // only one left: waits
  Submit("c", "fake", 0);  // no GPUs needed: starts
  sched_->RunOnce();
  EXPECT_EQ(Get("a").gpu_ids, (std::vector<int>{0, 1}));
  EXPECT_EQ(StatusOf("b"), RunStatus::kQueued);
  EXPECT_EQ(StatusOf("c"), RunStatus::kPreparing);
  EXPECT_TRUE(Get("c").gpu_ids.empty());
  ASSERT_EQ(target_.plans.size(), 2u);
  EXPECT_EQ(target_.plans[0].run.gpu_ids, (std::vector<int>{0, 1}));
  EXPECT_NE(LastReason("a").find("with GPUs 0,1"), std::string::npos) << LastReason("a");
  // a ends: its GPUs go to b.
  Move("a", RunStatus::kRunning);
  Finish("a");
  sched_->RunOnce();
  EXPECT_EQ(StatusOf("b"), RunStatus::kPreparing);
  EXPECT_EQ(Get("b").gpu_ids, (std::vector<int>{0, 1}));
}

TEST_F(SchedulerTest, AWaitingGpuRunHoldsBackLaterGpuRuns) {
  target_.gpu_ids = {0, 1};
  Submit("big1", "fake", 1);
  sched_->RunOnce();
  Submit("big2", "fake", 2);   // needs both: waits for big1
  Submit("small", "fake", 1);  // would fit, but must not starve big2
  sched_->RunOnce();
  EXPECT_EQ(StatusOf("big2"), RunStatus::kQueued);
  EXPECT_EQ(StatusOf("small"), RunStatus::kQueued);
  Move("big1", RunStatus::kRunning);
  Finish("big1");
  sched_->RunOnce();
  EXPECT_EQ(StatusOf("big2"), RunStatus::kPreparing);
  EXPECT_EQ(StatusOf("small"), RunStatus::kQueued);
}

TEST_F(SchedulerTest, GpusOfRunsStartedBeforeARestartStayTaken) {
  target_.gpu_ids = {0, 1};
  Submit("a", "fake", 1);
  sched_->RunOnce();
  ASSERT_EQ(Get("a").gpu_ids, (std::vector<int>{0}));
  // A new scheduler (server restart) must see GPU 0 in use from the store.
  sched_.reset();
  sched_ = MakeScheduler();
  sched_->AddTarget(&target_);
  Submit("b", "fake", 1);
  sched_->RunOnce();
  EXPECT_EQ(Get("b").gpu_ids, (std::vector<int>{1}));
}

TEST_F(SchedulerTest, LostAgentFreesItsGpus) {
  target_.gpu_ids = {0};
  Submit("a", "fake", 1);
  sched_->RunOnce();
  Submit("b", "fake", 1);
  sched_->RunOnce();
  EXPECT_EQ(StatusOf("b"), RunStatus::kQueued);
  target_.gone.insert("h-a");
  sched_->RunOnce();
  EXPECT_EQ(StatusOf("a"), RunStatus::kFailed);
  EXPECT_EQ(StatusOf("b"), RunStatus::kPreparing);
  EXPECT_EQ(Get("b").gpu_ids, (std::vector<int>{0}));
}

TEST_F(SchedulerTest, GoneJobWithACancelRequestIsCanceledAndFreesItsSlotAndGpus) {
  // A job that a cluster dropped before its agent ran, after the user asked to cancel it.
  target_.set_max(1);
  target_.gpu_ids = {0};
  Submit("a", "fake", 1);
  Submit("b", "fake", 1);
  sched_->RunOnce();
  ASSERT_EQ(StatusOf("a"), RunStatus::kPreparing);
  ASSERT_TRUE(sched_->Cancel("a", "user asked").ok());
  target_.gone.insert("h-a");
  changes_.clear();
  sched_->RunOnce();
  EXPECT_EQ(StatusOf("a"), RunStatus::kCanceled);
  EXPECT_EQ(LastReason("a"), "user asked");         // the request's reason, kept by the store
  EXPECT_TRUE(target_.canceled.empty());            // nothing left to stop
  EXPECT_EQ(StatusOf("b"), RunStatus::kPreparing);  // the slot and GPU 0, in the same cycle
  EXPECT_EQ(Get("b").gpu_ids, (std::vector<int>{0}));
  EXPECT_EQ(changes_, (V{"a", "b"}));
}

TEST_F(SchedulerTest, AGpuRunTheTargetCanNoLongerHoldFailsWithoutBlockingOthers) {
  Submit("g", "fake", 1);  // stored directly: the target has no GPU (e.g. restarted without)
  Submit("c");
  sched_->RunOnce();
  model::Run g = Get("g");
  EXPECT_EQ(g.status, RunStatus::kFailed);
  EXPECT_EQ(LastReason("g"), "cannot be placed");
  EXPECT_NE(g.error.find("asks for 1 GPU(s)"), std::string::npos) << g.error;
  EXPECT_EQ(target_.launched, (V{"c"}));
}

TEST_F(SchedulerTest, ALaunchTheTargetCouldNotTakeGivesItsGpusBack) {
  target_.gpu_ids = {0};
  Submit("a", "fake", 1);
  Submit("b", "fake", 1);
  target_.fail_launch["a"] = Status::Unavailable("cannot reach u@h:22");
  sched_->RunOnce();
  EXPECT_EQ(StatusOf("a"), RunStatus::kQueued);
  EXPECT_EQ(Get("b").gpu_ids, (std::vector<int>{0}));
  EXPECT_EQ(StatusOf("b"), RunStatus::kPreparing);
  EXPECT_EQ(sched_->QueueReason("a"), "cannot reach u@h:22");
}

TEST_F(SchedulerTest, CheckFitsNamesWhatTheTargetLacks) {
  target_.gpu_ids = {0};
  model::Run r;
  r.target = "fake";
  r.options.gpus = 2;
  Status st = sched_->CheckFits(r);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("asks for 2 GPU(s)"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("has 1"), std::string::npos) << st.message();
  r.options.gpus = 1;
  EXPECT_TRUE(sched_->CheckFits(r).ok());
  r.options.docker.enabled = true;
  st = sched_->CheckFits(r);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no container engine"), std::string::npos) << st.message();
}

// ---- sweeps: the controller runs before each cycle; trials are runs on the fake target.

class SweepControllerTest : public SchedulerTest {
 protected:
  void SetUp() override {
    SchedulerTest::SetUp();
    Attach();
  }
  void TearDown() override {
    sched_.reset();
    sweeps_.reset();
    SchedulerTest::TearDown();
  }
  // A fresh controller (and scheduler), as after a server restart.
  void Attach() {
    sched_ = MakeScheduler();
    sched_->AddTarget(&target_);
    sweeps_ = std::make_unique<SweepController>(store_.get(), sched_.get(), &clock_, nullptr);
    sched_->SetBeforeCycle([this] { sweeps_->Step(); });
  }
  void SubmitSweep(const std::string& id, const std::string& spec) {
    model::Run r;
    r.id = id;
    r.experiment = "exp";
    r.target = "fake";
    r.script = "train.py";
    r.arguments = {"--epochs", "3"};
    r.python = "/usr/bin/python3";
    r.snapshot_id = std::string(64, 'a');
    SweepSettings settings;
    settings.seed = 11;
    auto c = store_->CreateSweep(r, {"hd.yml", spec, SweepSettingsToJson(settings)}, clock_.Now());
    ASSERT_TRUE(c.ok()) << c.status().ToString();
  }
  void Report(const std::string& id, const std::vector<double>& values) {
    model::Run r = Get(id);
    std::vector<model::MetricPoint> pts;
    pts.reserve(values.size());
    auto next = store_->NextMetricSeq(id);
    ASSERT_TRUE(next.ok());
    for (double v : values) pts.push_back({(*next)++, "acc", v, 0, clock_.Now()});
    ASSERT_TRUE(store_->AppendMetrics(r.rid, pts).ok());
  }
  std::vector<std::string> Trials(const std::string& sweep) {
    model::RunFilter f;
    f.parent = sweep;
    auto runs = store_->ListRuns(f);
    EXPECT_TRUE(runs.ok());
    std::vector<std::string> ids;
    for (auto it = runs->rbegin(); it != runs->rend(); ++it) ids.push_back(it->id);
    return ids;
  }
  std::unique_ptr<SweepController> sweeps_;
};

constexpr const char* kGrid3 = R"(
sampling: {type: grid, parameter_space: [{name: --lr, expression: choice, values: [0.1, 0.2, 0.3]}]}
primary_metric_name: acc
primary_metric_goal: Maximize
max_concurrent_runs: 2
)";

TEST_F(SweepControllerTest, StartsTrialsUpToConcurrencyAndCompletesWithTheBest) {
  SubmitSweep("s", kGrid3);
  sched_->RunOnce();
  EXPECT_EQ(StatusOf("s"), RunStatus::kRunning);
  EXPECT_EQ(target_.launched, (V{"s_0", "s_1"}));  // the sweep itself is never launched
  EXPECT_EQ(Get("s_0").arguments, (V{"--epochs", "3", "--lr", "0.1"}));
  EXPECT_EQ(Get("s_0").parent_id, "s");
  EXPECT_EQ(store_->Params("s_1")->at("lr"), "0.2");
  Move("s_0", RunStatus::kRunning);
  Report("s_0", {0.5, 0.7});
  Finish("s_0");
  sched_->RunOnce();
  EXPECT_EQ(target_.launched, (V{"s_0", "s_1", "s_2"}));
  Move("s_1", RunStatus::kRunning);
  Report("s_1", {0.9});
  Finish("s_1");
  Move("s_2", RunStatus::kRunning);
  Move("s_2", RunStatus::kFailed);  // a failed trial does not stop the sweep
  sched_->RunOnce();
  EXPECT_EQ(Trials("s").size(), 3u);
  EXPECT_EQ(StatusOf("s"), RunStatus::kCompleted);
  EXPECT_EQ(LastReason("s"),
            "sweep finished: 3 trials: 2 completed, 1 failed, 0 stopped early or canceled; "
            "best acc 0.9 (s_1)");
  EXPECT_EQ(Get("s").tags["best_child_run_id"], "s_1");
}

TEST_F(SweepControllerTest, PolicyStopsATrialThroughItsDriverWithTheNumbers) {
  SubmitSweep("s", R"(
sampling: {type: grid, parameter_space: [{name: --lr, expression: choice, values: [0.1, 0.2]}]}
policy: {type: BanditPolicy, slack_factor: 0.2}
primary_metric_name: acc
primary_metric_goal: Maximize
)");
  sched_->RunOnce();
  Move("s_0", RunStatus::kRunning);
  Move("s_1", RunStatus::kRunning);
  Report("s_0", {0.9});
  Report("s_1", {0.5});
  sched_->RunOnce();
  EXPECT_EQ(target_.canceled, (V{"h-s_1"}));
  const std::string why =
      "early termination: BanditPolicy at interval 1: 0.5 < best 0.9 / (1 + 0.2) = 0.75";
  EXPECT_EQ(Get("s_1").cancel_reason, why);
  Move("s_1", RunStatus::kCanceled);  // the agent reports the end; the reason is the policy's
  EXPECT_EQ(LastReason("s_1"), why);
  Report("s_0", {0.95});
  sched_->RunOnce();
  EXPECT_EQ(target_.canceled.size(), 1u);  // the leader is never stopped
}

TEST_F(SweepControllerTest, MaxDurationCancelsTrialsAndEndsTheSweep) {
  SubmitSweep("s", std::string(kGrid3) + "max_duration_minutes: 1\n");
  sched_->RunOnce();
  Move("s_0", RunStatus::kRunning);
  Report("s_0", {0.4});
  clock_.Set(clock_.Now() + 59);
  sched_->RunOnce();
  EXPECT_TRUE(target_.canceled.empty());
  clock_.Set(clock_.Now() + 2);
  sched_->RunOnce();
  EXPECT_EQ(Get("s_0").cancel_reason, "the sweep reached max_duration_minutes (1)");
  EXPECT_EQ(target_.canceled,
            (V{"h-s_0", "h-s_1"}));  // launched (s_1 not yet running): both asked to stop
  Move("s_0", RunStatus::kCanceled);
  sched_->RunOnce();
  EXPECT_EQ(StatusOf("s"), RunStatus::kRunning);  // until every trial has ended
  Move("s_1", RunStatus::kCanceled);
  sched_->RunOnce();
  EXPECT_EQ(Trials("s").size(), 2u);  // no trial after the limit
  EXPECT_EQ(StatusOf("s"), RunStatus::kCompleted);
  EXPECT_EQ(LastReason("s").rfind("max_duration_minutes (1) reached; 2 trials", 0), 0u)
      << LastReason("s");
}

TEST_F(SweepControllerTest, ARestartedControllerGoesOnWithoutLosingOrRepeatingTrials) {
  const std::string spec = R"(
sampling: {type: random, parameter_space: [{name: --lr, expression: uniform, values: [0, 1]}]}
primary_metric_name: acc
primary_metric_goal: Maximize
max_total_runs: 4
max_concurrent_runs: 2
)";
  target_.set_max(10);
  SubmitSweep("a", spec);
  SubmitSweep("b", spec);  // the same seed: the reference sequence, never restarted
  sched_->RunOnce();
  Move("a_0", RunStatus::kRunning);
  Attach();  // the server restarted
  sched_->RunOnce();
  EXPECT_EQ(Trials("a"), (V{"a_0", "a_1"}));  // both still active: nothing new
  for (const std::string s : {"a", "b"}) {
    for (int k = 0; k < 4; ++k) {
      std::string id = s + "_" + std::to_string(k);
      if (StatusOf(id) == RunStatus::kQueued) {
        sched_->RunOnce();
      }
      if (StatusOf(id) != RunStatus::kRunning) Move(id, RunStatus::kRunning);
      Finish(id);
      if (k == 1 && s == "a") Attach();
      sched_->RunOnce();
    }
  }
  EXPECT_EQ(Trials("a"), (V{"a_0", "a_1", "a_2", "a_3"}));
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(store_->Params("a_" + std::to_string(k))->at("lr"),
              store_->Params("b_" + std::to_string(k))->at("lr"));
  }
  EXPECT_EQ(StatusOf("a"), RunStatus::kFailed);  // no trial reported acc
  EXPECT_NE(Get("a").error.find("no trial reported the primary metric 'acc'"), std::string::npos);
}

TEST_F(SweepControllerTest, AHugeGridIsWalkedLazilyAndResumedAtItsIndexAfterARestart) {
  // 100^9 = 1e18 points (listing them ran the server out of memory); 4 of them run, in order.
  std::string values;
  for (int i = 0; i < 100; ++i) values += (i ? ", " : "") + std::to_string(i);
  std::string spec = "sampling:\n  type: grid\n  parameter_space:\n";
  for (int k = 0; k < 9; ++k) {
    spec +=
        "  - {name: --p" + std::to_string(k) + ", expression: choice, values: [" + values + "]}\n";
  }
  spec +=
      "primary_metric_name: acc\nprimary_metric_goal: Maximize\nmax_total_runs: "
      "4\nmax_concurrent_runs: 2\n";
  SubmitSweep("g", spec);
  sched_->RunOnce();
  EXPECT_EQ(Trials("g"), (V{"g_0", "g_1"}));
  Move("g_0", RunStatus::kRunning);
  Finish("g_0");
  Attach();  // the server restarted: the grid's index is the number of stored trials
  sched_->RunOnce();
  Move("g_1", RunStatus::kRunning);
  Finish("g_1");
  sched_->RunOnce();
  ASSERT_EQ(Trials("g"), (V{"g_0", "g_1", "g_2", "g_3"}));
  for (int k = 0; k < 4; ++k) {
    auto params = store_->Params("g_" + std::to_string(k));
    ASSERT_TRUE(params.ok());
    EXPECT_EQ(params->at("p8"), std::to_string(k));
    EXPECT_EQ(params->at("p0"), "0");
  }
}

TEST_F(SweepControllerTest, AScriptThatAlwaysFailsStopsTheSweepAfterThreeTrials) {
  target_.set_max(10);
  SubmitSweep("s", R"(
sampling: {type: random, parameter_space: [{name: --lr, expression: uniform, values: [0, 1]}]}
primary_metric_name: acc
primary_metric_goal: Maximize
max_total_runs: 100
max_concurrent_runs: 2
)");
  for (int k = 0; k < 3; ++k) {
    sched_->RunOnce();
    std::string id = "s_" + std::to_string(k);
    Move(id, RunStatus::kRunning);
    Move(id, RunStatus::kFailed);
  }
  sched_->RunOnce();  // s_3 still runs; nothing new starts
  EXPECT_EQ(Trials("s"), (V{"s_0", "s_1", "s_2", "s_3"}));
  EXPECT_EQ(StatusOf("s"), RunStatus::kRunning);
  Move("s_3", RunStatus::kRunning);
  Move("s_3", RunStatus::kFailed);
  sched_->RunOnce();
  EXPECT_EQ(Trials("s").size(), 4u);
  EXPECT_EQ(StatusOf("s"), RunStatus::kFailed);
  EXPECT_NE(Get("s").error.find("the first trials all failed, so no more were started"),
            std::string::npos)
      << Get("s").error;
}

TEST_F(SweepControllerTest, FailuresAfterASuccessDoNotStopTheSweep) {
  target_.set_max(10);
  SubmitSweep("s", R"(
sampling: {type: random, parameter_space: [{name: --lr, expression: uniform, values: [0, 1]}]}
primary_metric_name: acc
primary_metric_goal: Maximize
max_total_runs: 6
max_concurrent_runs: 1
)");
  for (int k = 0; k < 6; ++k) {
    sched_->RunOnce();
    std::string id = "s_" + std::to_string(k);
    Move(id, RunStatus::kRunning);
    if (k == 0) {
      Report(id, {0.5});
      Finish(id);
    } else {
      Move(id, RunStatus::kFailed);
    }
  }
  sched_->RunOnce();
  EXPECT_EQ(Trials("s").size(), 6u);
  EXPECT_EQ(StatusOf("s"), RunStatus::kCompleted);
}

}  // namespace
}  // namespace ferry::scheduler
