// Unit tests for the store's data assets: datastores, dataset versions, lineage.
#include <gtest/gtest.h>

#include "common/crypto.h"
#include "store/store_fixture_test.h"

namespace ferry::store {
namespace {

class DataStoreTest : public FreshStoreTest {
 protected:
  static model::DatasetVersion Version(const std::string& name, const std::string& content) {
    model::DatasetVersion v;
    v.name = name;
    v.kind = "file";
    v.datastore = "workspaceblobstore";
    v.definition_json = R"({"paths":["data/**"]})";
    v.id = Sha256Hex(content);
    v.manifest_hash = Sha256Hex("manifest " + content);
    v.file_count = 3;
    v.total_bytes = 300;
    v.tags = {{"split", "train"}};
    return v;
  }
  void AddRun(const std::string& id) {
    model::Run r;
    r.id = id;
    r.experiment = "exp";
    r.target = "local";
    r.script = "train.py";
    r.snapshot_id = Sha256Hex("snap");
    ASSERT_TRUE(store_->CreateRun(r, {}, "t", 1).ok());
  }
  AssetStore& assets() { return store_->Assets(); }
};

TEST_F(DataStoreTest, TheWorkspaceBlobStoreAlwaysExistsAndCannotBeTakenOrDeleted) {
  auto list = assets().ListDatastores();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "workspaceblobstore");
  EXPECT_EQ((*list)[0].kind, "blob");
  EXPECT_EQ(assets().GetDatastore("workspaceblobstore")->kind, "blob");
  auto taken = assets().CreateDatastore({"workspaceblobstore", "directory", "{}", "", 1});
  EXPECT_EQ(taken.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(assets().DeleteDatastore("workspaceblobstore").code(), StatusCode::kFailedPrecondition);
}

TEST_F(DataStoreTest, DatastoresAreNamedLikeAzuresAndSurviveAReopen) {
  ASSERT_TRUE(
      assets().CreateDatastore({"shared_nfs", "directory", R"({"path":"/srv"})", "ann", 5}).ok());
  auto again = assets().CreateDatastore({"shared_nfs", "directory", "{}", "", 6});
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(again.message().find("'shared_nfs'"), std::string::npos) << again.message();
  for (const char* bad : {"", "_x", "has-dash", "sp ace", "é"}) {
    Status s = assets().CreateDatastore({bad, "directory", "{}", "", 1});
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("datastore name"), std::string::npos) << s.message();
  }
  Open();
  auto d = assets().GetDatastore("shared_nfs");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->config_json, R"({"path":"/srv"})");
  EXPECT_EQ(d->created_by, "ann");
  EXPECT_EQ(assets().ListDatastores()->size(), 2u);
  auto missing = assets().GetDatastore("nope");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("'nope'"), std::string::npos);
}

TEST_F(DataStoreTest, SameContentIsTheSameVersionOtherContentNeedsNewVersion) {
  bool created = false;
  auto v1 = assets().RegisterDataset(Version("iris", "a"), false, 10, &created);
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  EXPECT_TRUE(created);
  EXPECT_EQ(v1->version, 1);
  // Registering identical content again returns version 1, whatever create_new_version says.
  for (bool new_version : {false, true}) {
    auto same = assets().RegisterDataset(Version("iris", "a"), new_version, 11, &created);
    ASSERT_TRUE(same.ok());
    EXPECT_FALSE(created);
    EXPECT_EQ(same->version, 1);
    EXPECT_EQ(same->created_at, 10);
  }
  // Other content under a taken name: refused unless a new version is asked for.
  auto refused = assets().RegisterDataset(Version("iris", "b"), false, 12, &created);
  EXPECT_EQ(refused.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(refused.status().message().find("create_new_version"), std::string::npos);
  auto v2 = assets().RegisterDataset(Version("iris", "b"), true, 13, &created);
  ASSERT_TRUE(v2.ok());
  EXPECT_TRUE(created);
  EXPECT_EQ(v2->version, 2);
  // Back to the first content: that is version 1 still, not a third version.
  auto back = assets().RegisterDataset(Version("iris", "a"), true, 14, &created);
  EXPECT_EQ(back->version, 1);
  EXPECT_FALSE(created);

  EXPECT_EQ(assets().GetDataset("iris", 0)->version, 2);  // latest
  EXPECT_EQ(assets().GetDataset("iris", 1)->id, Sha256Hex("a"));
  EXPECT_EQ(assets().GetDatasetById(Sha256Hex("b"))->version, 2);
  auto tags = assets().GetDataset("iris", 1)->tags;
  EXPECT_EQ(tags.at("split"), "train");
  auto missing = assets().GetDataset("iris", 3);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("dataset 'iris' version 3"), std::string::npos);
  EXPECT_EQ(assets().GetDatasetById("feed").status().code(), StatusCode::kNotFound);
}

TEST_F(DataStoreTest, BadDatasetsAreRefusedWithTheirNames) {
  bool created = false;
  auto v = Version("bad name", "a");
  EXPECT_EQ(assets().RegisterDataset(v, true, 1, &created).status().code(),
            StatusCode::kInvalidArgument);
  v = Version("ok", "a");
  v.kind = "table";
  auto kind = assets().RegisterDataset(v, true, 1, &created);
  EXPECT_EQ(kind.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(kind.status().message().find("'table'"), std::string::npos);
  EXPECT_TRUE(assets().ListDatasets("", true)->empty());
}

TEST_F(DataStoreTest, ListingShowsLatestVersionsAndHidesArchivedOnes) {
  bool created = false;
  ASSERT_TRUE(assets().RegisterDataset(Version("a", "1"), true, 1, &created).ok());
  ASSERT_TRUE(assets().RegisterDataset(Version("a", "2"), true, 2, &created).ok());
  ASSERT_TRUE(assets().RegisterDataset(Version("b", "3"), true, 3, &created).ok());
  auto latest = assets().ListDatasets("", false);
  ASSERT_EQ(latest->size(), 2u);
  EXPECT_EQ((*latest)[0].name, "a");
  EXPECT_EQ((*latest)[0].version, 2);
  EXPECT_EQ(assets().ListDatasets("a", false)->size(), 2u);
  ASSERT_TRUE(assets().SetDatasetArchived("b", 0, true).ok());
  EXPECT_EQ(assets().ListDatasets("", false)->size(), 1u);
  EXPECT_EQ(assets().ListDatasets("", true)->size(), 2u);
  EXPECT_TRUE(assets().GetDataset("b", 1)->archived);  // archived versions stay readable
  EXPECT_EQ(assets().SetDatasetArchived("zz", 0, true).code(), StatusCode::kNotFound);
  EXPECT_EQ(assets().SetDatasetArchived("a", 9, true).code(), StatusCode::kNotFound);
}

TEST_F(DataStoreTest, UpdateChangesDescriptionAndTagsButNeverTheContent) {
  bool created = false;
  model::DatasetVersion v = Version("a", "1");
  v.tags = {{"team", "fr"}, {"stage", "raw"}};
  ASSERT_TRUE(assets().RegisterDataset(v, true, 1, &created).ok());
  auto up = assets().UpdateDataset("a", 1, std::string("cleaned"), {{"owner", "ana"}}, {"stage"});
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  auto got = assets().GetDataset("a", 1);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->description, "cleaned");
  EXPECT_EQ(got->tags, (std::map<std::string, std::string>{{"owner", "ana"}, {"team", "fr"}}));
  EXPECT_EQ(got->id, up->id);
  EXPECT_EQ(got->manifest_hash, v.manifest_hash);
  auto kept = assets().UpdateDataset("a", 1, std::nullopt, {}, {});  // nothing given: unchanged
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->description, "cleaned");
  EXPECT_EQ(assets().UpdateDataset("a", 7, std::nullopt, {}, {}).status().code(),
            StatusCode::kNotFound);
}

TEST_F(DataStoreTest, ADatastoreWithDatasetsCannotBeDeleted) {
  ASSERT_TRUE(assets().CreateDatastore({"nfs", "directory", "{}", "", 1}).ok());
  auto v = Version("images", "x");
  v.datastore = "nfs";
  bool created = false;
  ASSERT_TRUE(assets().RegisterDataset(v, true, 2, &created).ok());
  Status s = assets().DeleteDatastore("nfs");
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("dataset 'images' version 1"), std::string::npos) << s.message();
  EXPECT_TRUE(assets().GetDatastore("nfs").ok());
  ASSERT_TRUE(assets().CreateDatastore({"spare", "directory", "{}", "", 1}).ok());
  EXPECT_TRUE(assets().DeleteDatastore("spare").ok());
  EXPECT_EQ(assets().DeleteDatastore("spare").code(), StatusCode::kNotFound);
}

TEST_F(DataStoreTest, LineageRecordsWhatRunsReadAndWroteOnceEach) {
  bool created = false;
  ASSERT_TRUE(assets().RegisterDataset(Version("train", "t"), true, 1, &created).ok());
  ASSERT_TRUE(assets().RegisterDataset(Version("preds", "p"), true, 1, &created).ok());
  AddRun("r1");
  AddRun("r2");
  std::vector<model::AssetUse> uses = {{"r1", "input", "dataset", "train", 1, "train"},
                                       {"r1", "output", "dataset", "preds", 1, ""}};
  ASSERT_TRUE(assets().RecordAssetUses(uses).ok());
  ASSERT_TRUE(assets().RecordAssetUses(uses).ok());  // a resend records nothing twice
  ASSERT_TRUE(assets().RecordAssetUses({{"r2", "input", "dataset", "train", 1, "x"}}).ok());
  auto of_r1 = assets().AssetUsesOfRun("r1");
  ASSERT_EQ(of_r1->size(), 2u);
  EXPECT_EQ((*of_r1)[0].direction, "input");
  EXPECT_EQ((*of_r1)[0].as_name, "train");
  auto readers = assets().RunsUsingAsset("dataset", "train", 1);
  ASSERT_EQ(readers->size(), 2u);
  EXPECT_EQ((*readers)[1].run_id, "r2");
  EXPECT_EQ(assets().RunsUsingAsset("dataset", "train", 0)->size(), 2u);
  // Nothing half-recorded: a use of an unknown run or version fails the whole call.
  Status bad = assets().RecordAssetUses(
      {{"r2", "output", "dataset", "preds", 1, ""}, {"r2", "input", "dataset", "train", 7, ""}});
  EXPECT_EQ(bad.code(), StatusCode::kNotFound);
  EXPECT_NE(bad.message().find("dataset 'train' version 7"), std::string::npos);
  EXPECT_EQ(assets().AssetUsesOfRun("r2")->size(), 1u);
  EXPECT_EQ(assets().RecordAssetUses({{"nope", "input", "dataset", "train", 1, ""}}).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(assets().RecordAssetUses({{"r1", "sideways", "dataset", "train", 1, ""}}).code(),
            StatusCode::kInvalidArgument);
}

TEST_F(DataStoreTest, DatastoreFilesArePutAllOrNoneAndListedByPrefix) {
  const std::string a = Sha256Hex("a"), b = Sha256Hex("b");
  ASSERT_TRUE(
      assets()
          .PutDatastoreFiles(
              "workspaceblobstore",
              {{"iris/train.csv", a, 1, 0}, {"iris/test.csv", b, 1, 0}, {"irises/x.csv", a, 1, 0}},
              false, 10)
          .ok());
  // The same blob at the same path again: kept, with its first time.
  ASSERT_TRUE(assets()
                  .PutDatastoreFiles("workspaceblobstore", {{"iris/train.csv", a, 1, 0}}, false, 20)
                  .ok());
  auto list = assets().ListDatastoreFiles("workspaceblobstore", "iris/");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 2u);  // not irises/
  EXPECT_EQ((*list)[0].path, "iris/test.csv");
  EXPECT_EQ((*list)[1].path, "iris/train.csv");
  EXPECT_EQ((*list)[1].modified_at, 10);

  // Other content at a taken path: refused naming it, and nothing of the batch is written.
  Status clash = assets().PutDatastoreFiles(
      "workspaceblobstore", {{"iris/new.csv", a, 1, 0}, {"iris/train.csv", b, 1, 0}}, false, 30);
  EXPECT_EQ(clash.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(clash.message().find("iris/train.csv"), std::string::npos) << clash.message();
  EXPECT_EQ(assets().ListDatastoreFiles("workspaceblobstore", "iris/")->size(), 2u);

  ASSERT_TRUE(assets()
                  .PutDatastoreFiles("workspaceblobstore", {{"iris/train.csv", b, 1, 0}}, true, 40)
                  .ok());
  EXPECT_EQ((*assets().ListDatastoreFiles("workspaceblobstore", "iris/train"))[0].blob, b);
  EXPECT_EQ(assets().ListDatastoreFiles("workspaceblobstore", "")->size(), 3u);

  // Bad paths and hashes name what is wrong.
  Status bad = assets().PutDatastoreFiles("workspaceblobstore", {{"../x", a, 1, 0}}, false, 50);
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  bad = assets().PutDatastoreFiles("workspaceblobstore", {{"x", "nothex", 1, 0}}, false, 50);
  EXPECT_NE(bad.message().find("nothex"), std::string::npos);
}

}  // namespace
}  // namespace ferry::store
