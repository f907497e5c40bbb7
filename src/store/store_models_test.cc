// Unit tests for the store's model registry: registered models, versions, stages, aliases,
// lineage of versions, and MLflow 3's logged models.
#include <gtest/gtest.h>

#include "common/crypto.h"
#include "store/store_fixture_test.h"

namespace ferry::store {
namespace {

class ModelStoreTest : public FreshStoreTest {
 protected:
  void AddRun(const std::string& id) {
    model::Run r;
    r.id = id;
    r.experiment = "exp";
    r.target = "local";
    r.script = "train.py";
    r.snapshot_id = Sha256Hex("snap");
    ASSERT_TRUE(store_->CreateRun(r, {}, "t", 1).ok());
  }
  static model::ModelVersion Version(const std::string& name, const std::string& run = "") {
    model::ModelVersion v;
    v.name = name;
    v.source = "mlflow-artifacts:/0/models/m-1/artifacts";
    v.run_id = run;
    v.tags = {{"k", "v"}};
    v.properties = {{"accuracy", "0.9"}};
    v.manifest_hash = Sha256Hex("manifest " + name);
    v.file_count = 2;
    v.total_bytes = 20;
    return v;
  }
  ModelStore& models() { return store_->Models(); }
};

TEST_F(ModelStoreTest, RegisteredModelsAreUniqueByNameAndSurviveAReopen) {
  model::RegisteredModel m;
  m.name = "clf";
  m.description = "a classifier";
  m.tags = {{"team", "vision"}};
  auto made = models().CreateRegisteredModel(m, 10);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(made->created_at, 10);
  auto again = models().CreateRegisteredModel(m, 11);
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(again.status().message().find("clf"), std::string::npos);
  Open();
  auto got = models().GetRegisteredModel("clf");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->description, "a classifier");
  EXPECT_EQ(got->tags.at("team"), "vision");
  auto missing = models().GetRegisteredModel("nope");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope"), std::string::npos);
  model::RegisteredModel bad;
  bad.name = "a/b";
  EXPECT_EQ(models().CreateRegisteredModel(bad, 1).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ModelStoreTest, VersionsCountUpAndADeletedNumberIsNeverReused) {
  EXPECT_EQ(models().CreateModelVersion(Version("clf"), false, 1).status().code(),
            StatusCode::kNotFound);
  auto v1 = models().CreateModelVersion(Version("clf"), /*create_model=*/true, 1);
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  EXPECT_EQ(v1->version, 1);
  EXPECT_EQ(v1->stage, "None");
  EXPECT_EQ(v1->status, "READY");
  auto v2 = models().CreateModelVersion(Version("clf"), false, 2);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->version, 2);
  ASSERT_TRUE(models().DeleteModelVersion("clf", 2, 3).ok());
  EXPECT_EQ(models().GetModelVersion("clf", 2).status().code(), StatusCode::kNotFound);
  auto latest = models().GetModelVersion("clf", 0);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->version, 1);
  auto v3 = models().CreateModelVersion(Version("clf"), false, 4);
  ASSERT_TRUE(v3.ok());
  EXPECT_EQ(v3->version, 3);
  auto list = models().ListModelVersions("clf");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].properties.at("accuracy"), "0.9");
  EXPECT_EQ((*list)[1].manifest_hash, Sha256Hex("manifest clf"));
  auto missing = models().GetModelVersion("clf", 9);
  EXPECT_NE(missing.status().message().find("version=9"), std::string::npos);
}

TEST_F(ModelStoreTest, NewestFirstPagesSkipDeletedVersionsAndCarryAliases) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(models().CreateModelVersion(Version("m"), /*create_model=*/i == 0, i + 1).ok());
  }
  ASSERT_TRUE(models().DeleteModelVersion("m", 4, 9).ok());
  ASSERT_TRUE(models().SetModelAlias("m", "champion", 3).ok());
  auto first = models().ListModelVersionsNewestFirst("m", 0, 2);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].version, 5);
  EXPECT_EQ((*first)[1].version, 3);  // 4 is deleted
  EXPECT_EQ((*first)[1].aliases, std::vector<std::string>{"champion"});
  auto rest = models().ListModelVersionsNewestFirst("m", 3, 10);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ((*rest)[0].version, 2);
  EXPECT_EQ((*rest)[1].version, 1);
  EXPECT_TRUE(models().ListModelVersionsNewestFirst("nope", 0, 10)->empty());
}

TEST_F(ModelStoreTest, UpdatesAndStageTransitionsArchiveTheOthers) {
  ASSERT_TRUE(models().CreateModelVersion(Version("clf"), true, 1).ok());
  ASSERT_TRUE(models().CreateModelVersion(Version("clf"), false, 1).ok());
  ASSERT_TRUE(models().TransitionModelVersionStage("clf", 1, "Production", false, 2).ok());
  auto p2 = models().TransitionModelVersionStage("clf", 2, "Production", true, 3);
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(p2->stage, "Production");
  EXPECT_EQ(models().GetModelVersion("clf", 1)->stage, "Archived");
  auto changed = models().UpdateModelVersion(
      "clf", 2,
      [](model::ModelVersion* v) {
        v->description = "better";
        v->tags.erase("k");
        v->version = 99;  // ignored
        return Status::Ok();
      },
      4);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->version, 2);
  auto got = models().GetModelVersion("clf", 2);
  EXPECT_EQ(got->description, "better");
  EXPECT_TRUE(got->tags.empty());
  auto refused = models().UpdateModelVersion(
      "clf", 2,
      [](model::ModelVersion* v) {
        v->description = "never";
        return Status::InvalidArgument("no");
      },
      5);
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(models().GetModelVersion("clf", 2)->description, "better");
  EXPECT_EQ(models().GetRegisteredModel("clf")->updated_at, 4);
}

TEST_F(ModelStoreTest, AliasesPointAtVersionsAndGoWithThem) {
  ASSERT_TRUE(models().CreateModelVersion(Version("clf"), true, 1).ok());
  ASSERT_TRUE(models().CreateModelVersion(Version("clf"), false, 1).ok());
  EXPECT_EQ(models().SetModelAlias("clf", "champion", 7).code(), StatusCode::kNotFound);
  EXPECT_EQ(models().SetModelAlias("clf", "latest", 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(models().SetModelAlias("clf", "v3", 1).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(models().SetModelAlias("clf", "champion", 1).ok());
  ASSERT_TRUE(models().SetModelAlias("clf", "champion", 2).ok());
  auto by = models().GetModelVersionByAlias("clf", "champion");
  ASSERT_TRUE(by.ok());
  EXPECT_EQ(by->version, 2);
  EXPECT_EQ(by->aliases, std::vector<std::string>{"champion"});
  auto m = models().GetRegisteredModel("clf");
  ASSERT_EQ(m->aliases.size(), 1u);
  EXPECT_EQ(m->aliases[0].version, 2);
  ASSERT_TRUE(models().DeleteModelVersion("clf", 2, 2).ok());
  EXPECT_EQ(models().GetModelVersionByAlias("clf", "champion").status().code(),
            StatusCode::kNotFound);
  ASSERT_TRUE(models().DeleteModelAlias("clf", "champion").ok());
}

TEST_F(ModelStoreTest, RenameAndDeleteCarryVersionsAliasesAndLineage) {
  AddRun("r1");
  ASSERT_TRUE(models().CreateModelVersion(Version("clf", "r1"), true, 1).ok());
  ASSERT_TRUE(models().CreateModelVersion(Version("clf", "not-a-run"), false, 1).ok());
  ASSERT_TRUE(models().SetModelAlias("clf", "champion", 1).ok());
  auto uses = store_->Assets().RunsUsingAsset("model", "clf", 1);
  ASSERT_TRUE(uses.ok());
  ASSERT_EQ(uses->size(), 1u);
  EXPECT_EQ((*uses)[0].direction, "output");
  EXPECT_EQ((*uses)[0].run_id, "r1");
  ASSERT_TRUE(store_->Assets().RecordAssetUses({{"r1", "input", "model", "clf", 2, "m"}}).ok());
  EXPECT_EQ(store_->Assets().RecordAssetUses({{"r1", "input", "model", "clf", 5, ""}}).code(),
            StatusCode::kNotFound);
  model::RegisteredModel other;
  other.name = "other";
  ASSERT_TRUE(models().CreateRegisteredModel(other, 1).ok());
  EXPECT_EQ(models().RenameRegisteredModel("clf", "other", 2).status().code(),
            StatusCode::kAlreadyExists);
  auto renamed = models().RenameRegisteredModel("clf", "clf2", 2);
  ASSERT_TRUE(renamed.ok()) << renamed.status().ToString();
  EXPECT_EQ(renamed->aliases.size(), 1u);
  EXPECT_EQ(models().ListModelVersions("clf2")->size(), 2u);
  EXPECT_EQ(store_->Assets().RunsUsingAsset("model", "clf2", 0)->size(), 2u);
  ASSERT_TRUE(models().DeleteRegisteredModel("clf2").ok());
  EXPECT_EQ(models().GetRegisteredModel("clf2").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Assets().RunsUsingAsset("model", "clf2", 0)->empty());
  EXPECT_EQ(models().DeleteRegisteredModel("clf2").code(), StatusCode::kNotFound);
  auto v = models().CreateModelVersion(Version("clf2"), true, 3);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->version, 1);
}

TEST_F(ModelStoreTest, LoggedModelsKeepParamsTagsMetricsFilesAndRuns) {
  AddRun("r1");
  model::LoggedModel m;
  m.model_id = "m-0123";
  m.experiment_id = "1";
  m.name = "model";
  m.params = {{"alpha", "0.5"}};
  ASSERT_TRUE(models().CreateLoggedModel(m, 1).ok());
  EXPECT_EQ(models().CreateLoggedModel(m, 1).status().code(), StatusCode::kAlreadyExists);
  m.model_id = "m-0456";
  ASSERT_TRUE(models().CreateLoggedModel(m, 2).ok());
  auto list = models().ListLoggedModels({"1", "2"});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].model_id, "m-0456");  // newest first
  auto updated = models().UpdateLoggedModel(
      "m-0123",
      [](model::LoggedModel* lm) {
        lm->status = "LOGGED_MODEL_READY";
        lm->tags["t"] = "v";
        return Status::Ok();
      },
      3);
  ASSERT_TRUE(updated.ok());
  model::LoggedModelMetric point{"acc", 0.5, 1000, 1, "r1", "train", "abc"};
  ASSERT_TRUE(models().AddLoggedModelMetrics("m-0123", {point, point}).ok());
  EXPECT_EQ(models().AddLoggedModelMetrics("m-9", {point}).code(), StatusCode::kNotFound);
  auto got = models().GetLoggedModel("m-0123");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->status, "LOGGED_MODEL_READY");
  EXPECT_EQ(got->tags.at("t"), "v");
  ASSERT_EQ(got->metrics.size(), 1u);
  EXPECT_EQ(got->metrics[0].dataset_digest, "abc");
  EXPECT_EQ(*models().LoggedModelsWithDataset("train", ""), std::vector<std::string>{"m-0123"});
  EXPECT_TRUE(models().LoggedModelsWithDataset("train", "zzz")->empty());
  ASSERT_TRUE(models().AddLoggedModelFiles("m-0123", {{"MLmodel", 3, Sha256Hex("a")}}).ok());
  ASSERT_TRUE(models().AddLoggedModelFiles("m-0123", {{"MLmodel", 4, Sha256Hex("b")}}).ok());
  auto files = models().ListLoggedModelFiles("m-0123");
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ((*files)[0].size, 4u);
  ASSERT_TRUE(models().RecordLoggedModelUses({{"r1", "output", "m-0123", 1}}).ok());
  ASSERT_TRUE(models().RecordLoggedModelUses({{"r1", "output", "m-0123", 1}}).ok());
  EXPECT_EQ(models().RecordLoggedModelUses({{"r9", "output", "m-0123", 1}}).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(models().LoggedModelUsesOfRun("r1")->size(), 1u);
  ASSERT_TRUE(models().DeleteLoggedModel("m-0123", 4).ok());
  EXPECT_EQ(models().GetLoggedModel("m-0123").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(models().ListLoggedModels({"1"})->size(), 1u);
}

}  // namespace
}  // namespace ferry::store
