// Unit tests for the schedule loop (schedules.h) on a real store with a fake clock and fake
// submit/find/list functions: when recurrences fire (at creation, on their grid, once for
// slots missed while down, never at creation with fixed times), exactly one run per slot when
// a claim was left pending, datastore triggers (first poll records only, a change fires with
// the changed path), disabled schedules, and errors recorded.
#include "server/schedules.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/fs.h"
#include "store/metadata_store.h"

namespace ferry::server {
namespace {

using nlohmann::json;

class FakeClock final : public Clock {
 public:
  double Now() const override { return now_.load(); }
  void Set(double t) { now_.store(t); }

 private:
  std::atomic<double> now_{1'700'000'000.0};  // 2023-11-14 22:13:20 UTC
};

struct FakeRun {
  std::string id;
  std::map<std::string, json> parameters;
  std::map<std::string, std::string> tags;
};

class ScheduleLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry_schedules_XXXXXX";
    char* d = ::mkdtemp(tmpl);
    ASSERT_NE(d, nullptr);
    dir_ = d;
    auto s = store::OpenSqliteMetadataStore(dir_ + "/ferry.db");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    loop_ = MakeLoop();
  }
  void TearDown() override {
    loop_.reset();
    store_.reset();
    (void)RemoveAll(dir_);
  }

  std::unique_ptr<ScheduleLoop> MakeLoop() {
    ScheduleLoopDeps d;
    d.store = &store_->Published();
    d.clock = &clock_;
    d.submit = [this](const store::ScheduleRecord&, const pipeline::ScheduleSpec& spec,
                      const std::map<std::string, json>& params,
                      const std::map<std::string, std::string>& tags) -> Result<std::string> {
      if (!fail_submit_.ok()) return fail_submit_;
      FakeRun r{"run_" + std::to_string(runs_.size() + 1), params, tags};
      EXPECT_EQ(spec.pipeline_id, "p1");
      runs_.push_back(r);
      return r.id;
    };
    d.find_run = [this](const std::string& id, const std::string& fire) -> Result<std::string> {
      ++finds_;
      for (const auto& r : runs_) {
        if (r.tags.at("ferry.schedule") == id && r.tags.at("ferry.schedule.fire") == fire) {
          return r.id;
        }
      }
      return std::string();
    };
    d.list = [this](const std::string& ds,
                    const std::string& path) -> Result<std::vector<WatchedFile>> {
      EXPECT_EQ(ds, "landing");
      EXPECT_EQ(path, "incoming");
      ++lists_;
      return files_;
    };
    return std::make_unique<ScheduleLoop>(std::move(d));
  }

  // A schedule made now from its JSON form, as POST /schedules makes one.
  std::string Create(json spec_json) {
    spec_json["name"] = "s";
    spec_json["pipeline_id"] = "p1";
    spec_json["experiment_name"] = "nightly";
    auto spec = pipeline::ScheduleFromJson(spec_json);
    EXPECT_TRUE(spec.ok()) << spec.status().ToString();
    EXPECT_TRUE(pipeline::ValidateSchedule(*spec).ok());
    store::ScheduleRecord s;
    s.id = "sched" + std::to_string(++made_);
    s.name = "s";
    s.spec = pipeline::ScheduleToJson(*spec).dump();
    s.created_at = s.updated_at = clock_.Now();
    auto first = ScheduleLoop::FirstFire(*spec, s.created_at, s.created_at, 60);
    EXPECT_TRUE(first.ok()) << first.status().ToString();
    s.next_fire = *first;
    EXPECT_TRUE(store_->Published().CreateSchedule(s).ok());
    return s.id;
  }
  store::ScheduleRecord Get(const std::string& id) { return *store_->Published().GetSchedule(id); }
  void At(double t) {
    clock_.Set(t);
    loop_->StepNow();
  }

  static json Minutely() { return {{"recurrence", {{"frequency", "Minute"}, {"interval", 1}}}}; }

  FakeClock clock_;
  std::string dir_;
  std::unique_ptr<store::MetadataStore> store_;
  std::unique_ptr<ScheduleLoop> loop_;
  std::vector<FakeRun> runs_;
  std::vector<WatchedFile> files_;
  Status fail_submit_ = Status::Ok();
  int made_ = 0, finds_ = 0, lists_ = 0;
};

TEST_F(ScheduleLoopTest, ARecurrenceFiresAtCreationThenOnItsGridOnce) {
  const double t0 = clock_.Now();
  const std::string id = Create(Minutely());
  EXPECT_EQ(Get(id).next_fire, t0);
  At(t0);
  ASSERT_EQ(runs_.size(), 1u);
  EXPECT_EQ(runs_[0].tags["ferry.schedule"], id);
  EXPECT_EQ(runs_[0].tags["ferry.schedule.fire"], ScheduleLoop::SlotText(t0));
  auto s = Get(id);
  EXPECT_EQ(s.next_fire, t0 + 60);
  EXPECT_EQ(s.pending_fire, 0);
  EXPECT_EQ(s.last_fire, t0);
  EXPECT_EQ(s.last_run_id, "run_1");
  At(t0 + 30);
  At(t0 + 59);
  EXPECT_EQ(runs_.size(), 1u);
  At(t0 + 60);
  ASSERT_EQ(runs_.size(), 2u);
  EXPECT_EQ(runs_[1].tags["ferry.schedule.fire"], ScheduleLoop::SlotText(t0 + 60));
}

TEST_F(ScheduleLoopTest, StepPassesAtMostOnceASecond) {
  const double t0 = clock_.Now();
  Create(Minutely());
  loop_->Step();
  EXPECT_EQ(runs_.size(), 1u);
  // A second schedule due now is not seen until a second has passed.
  Create(Minutely());
  clock_.Set(t0 + 0.5);
  loop_->Step();
  EXPECT_EQ(runs_.size(), 1u);
  clock_.Set(t0 + 1.0);
  loop_->Step();
  EXPECT_EQ(runs_.size(), 2u);
}

TEST_F(ScheduleLoopTest, SlotsMissedWhileDownFireOnce) {
  const double t0 = clock_.Now();
  const std::string id = Create(Minutely());
  At(t0);
  // Down for ten minutes and a bit: one run for all the missed slots, then the grid again.
  At(t0 + 630);
  ASSERT_EQ(runs_.size(), 2u);
  EXPECT_EQ(runs_[1].tags["ferry.schedule.fire"], ScheduleLoop::SlotText(t0 + 60));
  EXPECT_EQ(Get(id).next_fire, t0 + 660);
  At(t0 + 640);
  EXPECT_EQ(runs_.size(), 2u);
}

TEST_F(ScheduleLoopTest, FixedTimesNeverFireAtCreation) {
  // 22:13:20 UTC now; at 23:05 every day.
  const double t0 = clock_.Now();
  const std::string id = Create(
      {{"recurrence", {{"frequency", "Day"}, {"interval", 1}, {"hours", {23}}, {"minutes", {5}}}}});
  const double expected = t0 - (22 * 3600 + 13 * 60 + 20) + 23 * 3600 + 5 * 60;
  EXPECT_EQ(Get(id).next_fire, expected);
  At(t0);
  At(t0 + 60);
  EXPECT_TRUE(runs_.empty());
  At(expected);
  EXPECT_EQ(runs_.size(), 1u);
  EXPECT_EQ(Get(id).next_fire, expected + 86400);
}

TEST_F(ScheduleLoopTest, APendingClaimWithItsRunIsOnlyRecorded) {
  const double t0 = clock_.Now();
  const std::string id = Create(Minutely());
  // The server died after the run was made and before the claim was cleared.
  runs_.push_back({"made_before",
                   {},
                   {{"ferry.schedule", id}, {"ferry.schedule.fire", ScheduleLoop::SlotText(t0)}}});
  ASSERT_TRUE(store_->Published()
                  .UpdateSchedule(id,
                                  [&](store::ScheduleRecord* r) {
                                    r->pending_fire = t0;
                                    r->next_fire = t0 + 60;
                                    return Status::Ok();
                                  })
                  .ok());
  loop_ = MakeLoop();  // a restart
  At(t0 + 5);
  EXPECT_EQ(runs_.size(), 1u) << "the slot's run exists: no second one";
  auto s = Get(id);
  EXPECT_EQ(s.pending_fire, 0);
  EXPECT_EQ(s.last_run_id, "made_before");
  EXPECT_EQ(s.next_fire, t0 + 60);
}

TEST_F(ScheduleLoopTest, APendingClaimWithoutItsRunIsSubmittedOnce) {
  const double t0 = clock_.Now();
  const std::string id = Create(Minutely());
  // The server died after the claim and before the submit.
  ASSERT_TRUE(store_->Published()
                  .UpdateSchedule(id,
                                  [&](store::ScheduleRecord* r) {
                                    r->pending_fire = t0;
                                    r->next_fire = t0 + 60;
                                    return Status::Ok();
                                  })
                  .ok());
  loop_ = MakeLoop();
  At(t0 + 5);
  ASSERT_EQ(runs_.size(), 1u);
  EXPECT_EQ(runs_[0].tags["ferry.schedule.fire"], ScheduleLoop::SlotText(t0));
  EXPECT_EQ(Get(id).pending_fire, 0);
  At(t0 + 10);
  EXPECT_EQ(runs_.size(), 1u);
  EXPECT_GE(finds_, 1);
}

TEST_F(ScheduleLoopTest, DisabledSchedulesDoNotFire) {
  const std::string id = Create(Minutely());
  ASSERT_TRUE(store_->Published()
                  .UpdateSchedule(id,
                                  [](store::ScheduleRecord* r) {
                                    r->status = "Disabled";
                                    return Status::Ok();
                                  })
                  .ok());
  At(clock_.Now() + 3600);
  EXPECT_TRUE(runs_.empty());
}

TEST_F(ScheduleLoopTest, AFailedSubmitIsRecordedAndTheClaimCleared) {
  const double t0 = clock_.Now();
  const std::string id = Create(Minutely());
  fail_submit_ = Status::FailedPrecondition("published pipeline 'p1' is disabled");
  At(t0);
  auto s = Get(id);
  EXPECT_EQ(s.pending_fire, 0);
  EXPECT_EQ(s.next_fire, t0 + 60);
  EXPECT_NE(s.poll_state.find("is disabled"), std::string::npos) << s.poll_state;
  fail_submit_ = Status::Ok();
  At(t0 + 60);
  EXPECT_EQ(runs_.size(), 1u);
  EXPECT_EQ(Get(id).poll_state.find("last_error"), std::string::npos);
}

TEST_F(ScheduleLoopTest, ADatastoreTriggerFiresOnAChangeWithTheChangedPath) {
  const double t0 = clock_.Now();
  files_ = {{"incoming/a.csv", 10, 1.0, "h1"}};
  const std::string id = Create({{"datastore_name", "landing"},
                                 {"path_on_datastore", "incoming"},
                                 {"polling_interval", 5},
                                 {"data_path_parameter_name", "input_data"}});
  At(t0);  // the first poll records what is there
  EXPECT_TRUE(runs_.empty());
  EXPECT_EQ(lists_, 1);
  EXPECT_EQ(Get(id).next_fire, t0 + 300);
  At(t0 + 100);  // not due
  EXPECT_EQ(lists_, 1);
  At(t0 + 300);  // nothing changed
  EXPECT_TRUE(runs_.empty());
  EXPECT_EQ(lists_, 2);
  // Two new files and a changed one: one run, the first changed path by name.
  files_ = {{"incoming/a.csv", 11, 2.0, "h2"},
            {"incoming/c.csv", 1, 2.0, "h3"},
            {"incoming/b.csv", 1, 2.0, "h4"}};
  At(t0 + 600);
  ASSERT_EQ(runs_.size(), 1u);
  EXPECT_EQ(runs_[0].parameters["input_data"],
            (json{{"datastore", "landing"}, {"path", "incoming/a.csv"}}));
  EXPECT_EQ(runs_[0].tags["ferry.schedule.path"], "incoming/a.csv");
  auto s = Get(id);
  EXPECT_EQ(s.pending_fire, 0);
  EXPECT_EQ(s.last_run_id, "run_1");
  EXPECT_EQ(s.poll_state.find("pending_path"), std::string::npos);
  // A file removed is no change to fire on.
  files_.pop_back();
  At(t0 + 900);
  EXPECT_EQ(runs_.size(), 1u);
}

TEST_F(ScheduleLoopTest, MinutesCanBeShortenedForTests) {
  pipeline::ScheduleSpec spec;
  spec.recurrence = pipeline::Recurrence{};
  spec.recurrence->frequency = "Minute";
  spec.recurrence->interval = 3;
  const double t0 = 1'700'000'000;
  EXPECT_EQ(*ScheduleLoop::FirstFire(spec, t0, t0, 2), t0);
  EXPECT_EQ(*ScheduleLoop::NextFire(spec, t0, t0, 2), t0 + 6);
  EXPECT_EQ(*ScheduleLoop::NextFire(spec, t0, t0 + 6.5, 2), t0 + 12);
  EXPECT_EQ(*ScheduleLoop::NextFire(spec, t0, t0, 60), t0 + 180);
  pipeline::ScheduleSpec poll;
  poll.polling_interval = 1;
  EXPECT_EQ(*ScheduleLoop::NextFire(poll, t0, t0 + 3, 2), t0 + 5);
}

}  // namespace
}  // namespace ferry::server
