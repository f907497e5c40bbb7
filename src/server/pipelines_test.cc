// Unit tests of the PipelineController against the real SQLite store: steps start in
// dependency order with their producers' outputs as inputs, reuse by key (and not over changed
// data), a rerun reuses completed steps whatever allow_reuse says, failures stop the rest,
// a cancel cascades, and a new controller (a restarted server) neither loses nor repeats a
// step. Step runs are made by a fake prepare_run and moved through their states by the test.
#include "server/pipelines.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/fs.h"
#include "model/assets.h"
#include "model/run_options.h"
#include "pipeline/spec.h"
#include "scheduler/scheduler.h"
#include "store/metadata_store.h"

namespace ferry::server {
namespace {

using model::RunStatus;
using nlohmann::json;

class FakeClock final : public Clock {
 public:
  double Now() const override { return now_.load(); }
  void Advance() { now_.store(now_.load() + 1); }

 private:
  std::atomic<double> now_{1000.0};
};

class PipelineControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry_pipelines_XXXXXX";
    char* d = ::mkdtemp(tmpl);
    ASSERT_NE(d, nullptr);
    dir_ = d;
    auto s = store::OpenSqliteMetadataStore(dir_ + "/ferry.db");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    scheduler::SchedulerOptions so;
    sched_ = std::make_unique<scheduler::Scheduler>(store_.get(), &clock_, so);
    controller_ = MakeController();
  }
  void TearDown() override {
    controller_.reset();
    sched_.reset();
    store_.reset();
    (void)RemoveAll(dir_);
  }

  std::unique_ptr<PipelineController> MakeController() {
    PipelineDeps d;
    d.store = store_.get();
    d.scheduler = sched_.get();
    d.clock = &clock_;
    d.prepare_run = [this](const json& body, const std::string& user) -> Result<model::Run> {
      if (!fail_prepare_.ok()) return fail_prepare_;
      model::Run r;
      r.id = "step_" + std::to_string(++made_);
      r.experiment = body.value("experiment", "");
      r.target = body.value("target", "");
      r.script = body.value("script", "");
      r.snapshot_id = body.value("snapshot_id", "");
      r.python = "python3";
      r.submitted_by = user;
      for (const auto& a : body["arguments"]) r.arguments.push_back(a.get<std::string>());
      auto options = model::RunOptionsFromJson(body);
      if (!options.ok()) return options.status();
      r.options = *options;
      return r;
    };
    return std::make_unique<PipelineController>(std::move(d));
  }

  // prep (writes "clean") -> train (reads it, and the data reference "raw").
  static pipeline::PipelineSpec TwoSteps(bool allow_reuse = true) {
    pipeline::PipelineSpec spec;
    spec.name = "two";
    spec.data_references.push_back({"raw", "workspaceblobstore", "raw/", "", 0, "mount", 0});
    pipeline::Step prep;
    prep.name = "prep";
    prep.script_name = "prep.py";
    prep.snapshot_id = std::string(64, 'a');
    prep.allow_reuse = allow_reuse;
    prep.inputs.push_back({"raw_in", "raw", "mount", false, 0});
    prep.outputs.push_back({"clean", "clean", "", "", "mount", "", 0});
    prep.arguments = {{pipeline::Argument::Kind::kLiteral, "--out"},
                      {pipeline::Argument::Kind::kOutput, "clean"}};
    pipeline::Step train;
    train.name = "train";
    train.script_name = "train.py";
    train.snapshot_id = std::string(64, 'b');
    train.allow_reuse = allow_reuse;
    train.inputs.push_back({"data", "clean", "download", false, 0});
    train.arguments = {{pipeline::Argument::Kind::kLiteral, "--data"},
                       {pipeline::Argument::Kind::kInput, "data"}};
    spec.steps = {prep, train};
    return spec;
  }

  // A pipeline run as the API creates one, with "raw" resolved to `raw_manifest`.
  std::string Submit(const pipeline::PipelineSpec& spec, const std::string& raw_manifest,
                     const std::string& rerun_of = "") {
    model::Run run;
    run.id = "pipe_" + std::to_string(++submitted_);
    run.experiment = "exp";
    run.target = "local";
    PipelineSettings settings;
    settings.rerun_of = rerun_of;
    settings.continue_on_step_failure = spec.continue_on_step_failure;  // as the API copies it
    settings.data["ref:raw"] = {{"datastore", std::string(model::kWorkspaceBlobStore)},
                                {"manifest", raw_manifest},
                                {"kind", "file"}};
    store::PipelineRunRecord rec{pipeline::PipelineToJson(spec).dump(), "{}",
                                 PipelineSettingsToJson(settings).dump()};
    auto created = store_->Pipelines().CreatePipelineRun(run, rec, clock_.Now());
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    clock_.Advance();
    return run.id;
  }

  std::map<std::string, store::PipelineStepRecord> Steps(const std::string& id) {
    std::map<std::string, store::PipelineStepRecord> out;
    auto steps = store_->Pipelines().ListPipelineSteps(id);
    EXPECT_TRUE(steps.ok()) << steps.status().ToString();
    if (steps.ok()) {
      for (auto& s : *steps) out[s.step] = s;
    }
    return out;
  }

  model::Run Get(const std::string& id) {
    auto r = store_->GetRun(id);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : model::Run{};
  }

  void Move(const std::string& id, RunStatus to) {
    auto r = store_->Transition(id, to, "test", clock_.Now());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    clock_.Advance();
  }

  // The step run goes through its states to Completed, with one output of this content.
  void Complete(const std::string& id, const std::string& output, const std::string& manifest) {
    Move(id, RunStatus::kPreparing);
    Move(id, RunStatus::kRunning);
    if (!output.empty()) {
      ASSERT_TRUE(store_->Pipelines()
                      .PutRunOutputs({{id, output, "workspaceblobstore", "x", manifest, 1, 1}})
                      .ok());
    }
    Move(id, RunStatus::kFinalizing);
    Move(id, RunStatus::kCompleted);
  }

  std::string dir_;
  FakeClock clock_;
  std::unique_ptr<store::MetadataStore> store_;
  std::unique_ptr<scheduler::Scheduler> sched_;
  std::unique_ptr<PipelineController> controller_;
  Status fail_prepare_ = Status::Ok();
  int made_ = 0, submitted_ = 0;
};

const std::string kRaw1(64, '1'), kRaw2(64, '2'), kClean(64, 'c');

TEST_F(PipelineControllerTest, StepsRunInOrderWithTheirProducersOutputs) {
  const std::string id = Submit(TwoSteps(), kRaw1);
  controller_->Step();
  EXPECT_EQ(Get(id).status, RunStatus::kRunning);
  auto steps = Steps(id);
  ASSERT_EQ(steps.size(), 1u) << "train must wait for prep";
  const model::Run prep = Get(steps["prep"].run_id);
  EXPECT_EQ(prep.parent_id, id);
  EXPECT_EQ(prep.name, "prep");
  EXPECT_EQ(prep.target, "local");
  ASSERT_EQ(prep.options.inputs.size(), 1u);
  EXPECT_EQ(prep.options.inputs[0].name, "raw_in");
  EXPECT_EQ(prep.options.inputs[0].manifest, kRaw1);
  ASSERT_EQ(prep.options.outputs.size(), 1u);
  EXPECT_EQ(prep.options.outputs[0].name, "clean");
  EXPECT_EQ(prep.arguments, (std::vector<std::string>{"--out", "OutputFileDatasetConfig:clean"}));

  controller_->Step();
  EXPECT_EQ(Steps(id).size(), 1u) << "nothing new while prep runs";
  Complete(prep.id, "clean", kClean);
  controller_->Step();
  steps = Steps(id);
  ASSERT_EQ(steps.size(), 2u);
  const model::Run train = Get(steps["train"].run_id);
  ASSERT_EQ(train.options.inputs.size(), 1u);
  EXPECT_EQ(train.options.inputs[0].manifest, kClean) << "train reads what prep wrote";
  EXPECT_EQ(train.options.inputs[0].mode, "download");
  EXPECT_EQ(train.arguments, (std::vector<std::string>{"--data", "DatasetConsumptionConfig:data"}));
  EXPECT_EQ(Get(id).status, RunStatus::kRunning);
  Complete(train.id, "", "");
  controller_->Step();
  EXPECT_EQ(Get(id).status, RunStatus::kCompleted);
}

TEST_F(PipelineControllerTest, SameCodeAndDataIsReusedChangedDataIsNot) {
  const std::string first = Submit(TwoSteps(), kRaw1);
  controller_->Step();
  Complete(Steps(first)["prep"].run_id, "clean", kClean);
  controller_->Step();
  Complete(Steps(first)["train"].run_id, "", "");
  controller_->Step();
  ASSERT_EQ(Get(first).status, RunStatus::kCompleted);
  const int runs_before = made_;

  // The same pipeline over the same data: both steps reused at once, no run made.
  const std::string again = Submit(TwoSteps(), kRaw1);
  controller_->Step();
  auto steps = Steps(again);
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps["prep"].reused_from, Steps(first)["prep"].run_id);
  EXPECT_EQ(steps["train"].reused_from, Steps(first)["train"].run_id);
  EXPECT_EQ(made_, runs_before);
  EXPECT_EQ(Get(again).status, RunStatus::kCompleted);

  // New bytes behind the same path: prep runs again.
  const std::string changed = Submit(TwoSteps(), kRaw2);
  controller_->Step();
  steps = Steps(changed);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_TRUE(steps["prep"].reused_from.empty());
  EXPECT_EQ(made_, runs_before + 1);
  // ...and when it writes what it wrote before, train is reused.
  Complete(steps["prep"].run_id, "clean", kClean);
  controller_->Step();
  steps = Steps(changed);
  EXPECT_EQ(steps["train"].reused_from, Steps(first)["train"].run_id);
  EXPECT_EQ(Get(changed).status, RunStatus::kCompleted);
}

TEST_F(PipelineControllerTest, AllowReuseFalseRunsAgainButARerunReusesCompletedSteps) {
  const std::string first = Submit(TwoSteps(/*allow_reuse=*/false), kRaw1);
  controller_->Step();
  Complete(Steps(first)["prep"].run_id, "clean", kClean);
  controller_->Step();
  const std::string train_run = Steps(first)["train"].run_id;
  Move(train_run, RunStatus::kPreparing);
  Move(train_run, RunStatus::kFailed);
  controller_->Step();
  const model::Run failed = Get(first);
  EXPECT_EQ(failed.status, RunStatus::kFailed);
  EXPECT_NE(failed.error.find("step 'train'"), std::string::npos) << failed.error;
  EXPECT_NE(failed.error.find("ferry pipeline rerun " + first), std::string::npos);

  const std::string second = Submit(TwoSteps(false), kRaw1);
  controller_->Step();
  EXPECT_TRUE(Steps(second)["prep"].reused_from.empty()) << "allow_reuse false runs again";

  const std::string rerun = Submit(TwoSteps(false), kRaw1, /*rerun_of=*/first);
  const int before = made_;
  controller_->Step();
  auto steps = Steps(rerun);
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps["prep"].reused_from, Steps(first)["prep"].run_id);
  EXPECT_TRUE(steps["train"].reused_from.empty()) << "the failed step runs again";
  EXPECT_EQ(made_, before + 1);
}

TEST_F(PipelineControllerTest, AFailedStepStopsTheRestUnlessContinueOnStepFailure) {
  // a and b are independent; c needs both.
  pipeline::PipelineSpec spec;
  spec.name = "fan";
  for (const char* n : {"a", "b", "c"}) {
    pipeline::Step s;
    s.name = n;
    s.script_name = "s.py";
    s.snapshot_id = std::string(64, 'a');
    s.allow_reuse = false;
    spec.steps.push_back(s);
  }
  spec.steps[2].run_after = {"a", "b"};
  const std::string stop = Submit(spec, kRaw1);
  controller_->Step();
  auto steps = Steps(stop);
  ASSERT_EQ(steps.size(), 2u);
  Move(steps["a"].run_id, RunStatus::kFailed);
  controller_->Step();
  EXPECT_TRUE(Get(steps["b"].run_id).cancel_requested) << "b is stopped";
  controller_->Step();
  EXPECT_EQ(Get(stop).status, RunStatus::kFailed);
  EXPECT_EQ(Steps(stop).count("c"), 0u);

  spec.continue_on_step_failure = true;
  const std::string go_on = Submit(spec, kRaw1);
  controller_->Step();
  steps = Steps(go_on);
  Move(steps["a"].run_id, RunStatus::kFailed);
  controller_->Step();
  EXPECT_FALSE(Get(steps["b"].run_id).cancel_requested) << "b goes on";
  EXPECT_EQ(Get(go_on).status, RunStatus::kRunning);
  Complete(steps["b"].run_id, "", "");
  controller_->Step();
  const model::Run ended = Get(go_on);
  EXPECT_EQ(ended.status, RunStatus::kFailed);
  EXPECT_NE(ended.error.find("not run: c"), std::string::npos) << ended.error;
}

TEST_F(PipelineControllerTest, CancelReachesEveryRunningStep) {
  const std::string id = Submit(TwoSteps(), kRaw1);
  controller_->Step();
  const std::string prep = Steps(id)["prep"].run_id;
  Move(prep, RunStatus::kPreparing);
  Move(prep, RunStatus::kRunning);
  ASSERT_TRUE(sched_->Cancel(id, "canceled by the user").ok());
  controller_->Step();
  EXPECT_TRUE(Get(prep).cancel_requested);
  EXPECT_EQ(Get(id).status, RunStatus::kRunning) << "until its step has stopped";
  Move(prep, RunStatus::kCanceled);
  controller_->Step();
  EXPECT_EQ(Get(id).status, RunStatus::kCanceled);
  EXPECT_EQ(Steps(id).count("train"), 0u);
}

TEST_F(PipelineControllerTest, ARestartedControllerNeitherLosesNorRepeatsAStep) {
  const std::string id = Submit(TwoSteps(), kRaw1);
  controller_->Step();
  const std::string prep = Steps(id)["prep"].run_id;
  controller_ = MakeController();  // the server restarted
  controller_->Step();
  controller_->Step();
  ASSERT_EQ(Steps(id).size(), 1u);
  EXPECT_EQ(Steps(id)["prep"].run_id, prep);
  EXPECT_EQ(made_, 1);
  Complete(prep, "clean", kClean);
  controller_ = MakeController();
  controller_->Step();
  EXPECT_EQ(Steps(id).size(), 2u);
  EXPECT_EQ(made_, 2);
}

TEST_F(PipelineControllerTest, AStepThatCannotBeMadeFailsThePipelineNamingIt) {
  fail_prepare_ = Status::NotFound("compute target 'gpu' does not exist");
  const std::string id = Submit(TwoSteps(), kRaw1);
  controller_->Step();
  const model::Run r = Get(id);
  EXPECT_EQ(r.status, RunStatus::kFailed);
  EXPECT_NE(r.error.find("step 'prep' could not be started"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("compute target 'gpu'"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace ferry::server
