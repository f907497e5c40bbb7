// Unit tests for published pipelines, pipeline endpoints and schedules in the store
// (published_store.h): round trips, status changes, endpoint versions and defaults, the
// schedule's read-modify-write, and the records surviving a reopen.
#include <gtest/gtest.h>

#include <string>

#include "store/store_fixture_test.h"

namespace ferry::store {
namespace {

class PublishedStoreTest : public FreshStoreTest {
 protected:
  PublishedPipelineStore& pub() { return store_->Published(); }
  void Publish(const std::string& id, double at, const std::string& status = "Active") {
    PublishedPipelineRecord p;
    p.id = id;
    p.name = "pipe-" + id;
    p.description = "d";
    p.version = "1.0";
    p.spec = R"({"name":"x","steps":[]})";
    p.status = status;
    p.continue_on_step_failure = true;
    p.created_by = "alice";
    p.created_at = at;
    ASSERT_TRUE(pub().CreatePublishedPipeline(p).ok());
  }
};

TEST_F(PublishedStoreTest, PublishedPipelinesRoundTripAndChangeStatus) {
  Publish("aa", 1);
  Publish("bb", 2, "Disabled");
  auto got = pub().GetPublishedPipeline("aa");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->name, "pipe-aa");
  EXPECT_EQ(got->version, "1.0");
  EXPECT_TRUE(got->continue_on_step_failure);
  EXPECT_EQ(got->created_by, "alice");
  EXPECT_EQ(got->status, "Active");
  EXPECT_EQ(pub().CreatePublishedPipeline(*got).code(), StatusCode::kAlreadyExists);

  auto all = pub().ListPublishedPipelines(false);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, "bb");  // newest first
  auto active = pub().ListPublishedPipelines(true);
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ((*active)[0].id, "aa");

  ASSERT_TRUE(pub().SetPublishedPipelineStatus("aa", "Disabled").ok());
  EXPECT_EQ(pub().GetPublishedPipeline("aa")->status, "Disabled");
  EXPECT_EQ(pub().SetPublishedPipelineStatus("aa", "Paused").code(), StatusCode::kInvalidArgument);
  Status missing = pub().SetPublishedPipelineStatus("zz", "Active");
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("'zz'"), std::string::npos) << missing.message();
  EXPECT_EQ(pub().GetPublishedPipeline("zz").status().code(), StatusCode::kNotFound);
}

TEST_F(PublishedStoreTest, EndpointsKeepNumberedVersionsAndADefault) {
  Publish("p0", 1);
  Publish("p1", 2);
  PipelineEndpointRecord e;
  e.id = "e1";
  e.name = "nightly";
  e.created_by = "bob";
  e.created_at = 3;
  EXPECT_EQ(pub().CreatePipelineEndpoint(e, "nope").status().code(), StatusCode::kNotFound);
  auto made = pub().CreatePipelineEndpoint(e, "p0");
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(made->default_version, 0);
  EXPECT_EQ(made->pipelines, std::vector<std::string>{"p0"});
  PipelineEndpointRecord same_name = e;
  same_name.id = "e2";
  EXPECT_EQ(pub().CreatePipelineEndpoint(same_name, "p0").status().code(),
            StatusCode::kAlreadyExists);

  auto v1 = pub().AddPipelineEndpointVersion("nightly", "p1", /*set_default=*/false);
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  EXPECT_EQ(*v1, 1);
  EXPECT_EQ(pub().GetPipelineEndpoint("e1")->default_version, 0);
  auto v2 = pub().AddPipelineEndpointVersion("e1", "p0", /*set_default=*/true);
  EXPECT_EQ(*v2, 2);
  auto by_name = pub().GetPipelineEndpoint("nightly");
  ASSERT_TRUE(by_name.ok());
  EXPECT_EQ(by_name->default_version, 2);
  EXPECT_EQ(by_name->pipelines, (std::vector<std::string>{"p0", "p1", "p0"}));

  ASSERT_TRUE(pub().SetPipelineEndpointDefault("e1", 1).ok());
  EXPECT_EQ(pub().GetPipelineEndpoint("e1")->default_version, 1);
  Status no_version = pub().SetPipelineEndpointDefault("e1", 3);
  EXPECT_EQ(no_version.code(), StatusCode::kNotFound);
  EXPECT_NE(no_version.message().find("0 to 2"), std::string::npos) << no_version.message();
  EXPECT_EQ(pub().AddPipelineEndpointVersion("e1", "nope", false).status().code(),
            StatusCode::kNotFound);

  ASSERT_TRUE(pub().SetPipelineEndpointStatus("nightly", "Disabled").ok());
  Open();  // a restart keeps everything
  auto list = pub().ListPipelineEndpoints();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].status, "Disabled");
  EXPECT_EQ((*list)[0].pipelines.size(), 3u);
  EXPECT_EQ(pub().GetPipelineEndpoint("other").status().code(), StatusCode::kNotFound);
}

TEST_F(PublishedStoreTest, SchedulesUpdateInOneTransaction) {
  ScheduleRecord s;
  s.id = "s1";
  s.name = "hourly";
  s.spec = R"({"pipeline_id":"p0"})";
  s.next_fire = 100;
  s.created_at = 1;
  s.updated_at = 1;
  ASSERT_TRUE(pub().CreateSchedule(s).ok());
  EXPECT_EQ(pub().CreateSchedule(s).code(), StatusCode::kAlreadyExists);

  auto claimed = pub().UpdateSchedule("s1", [](ScheduleRecord* r) {
    r->pending_fire = r->next_fire;
    r->next_fire = 200;
    r->id = "moved";  // ignored: the id names the record
    return Status::Ok();
  });
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  EXPECT_EQ(claimed->pending_fire, 100);
  EXPECT_EQ(claimed->id, "s1");

  // A change that fails leaves the record as it was.
  auto refused = pub().UpdateSchedule("s1", [](ScheduleRecord* r) {
    r->next_fire = 999;
    return Status::FailedPrecondition("no");
  });
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(pub().GetSchedule("s1")->next_fire, 200);
  EXPECT_EQ(pub()
                .UpdateSchedule("s1",
                                [](ScheduleRecord* r) {
                                  r->status = "Sleeping";
                                  return Status::Ok();
                                })
                .status()
                .code(),
            StatusCode::kInvalidArgument);

  Open();
  auto got = pub().GetSchedule("s1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->pending_fire, 100);
  EXPECT_EQ(got->next_fire, 200);
  EXPECT_EQ(got->spec, s.spec);
  EXPECT_EQ(pub().ListSchedules()->size(), 1u);
  EXPECT_EQ(pub().GetSchedule("s2").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(
      pub().UpdateSchedule("s2", [](ScheduleRecord*) { return Status::Ok(); }).status().code(),
      StatusCode::kNotFound);
}

}  // namespace
}  // namespace ferry::store
