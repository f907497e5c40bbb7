// WorkdirPool: a released copy is claimed whole by the next run and made exactly its snapshot;
// records that are torn, from another boot, or orphaned are never trusted.
#include "agent/workdir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <map>

#include "common/crypto.h"
#include "common/fs.h"

namespace ferry::agent {
namespace {

class WorkdirPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry_workdir_XXXXXX";
    root_ = ::mkdtemp(tmpl);
    pool_dir_ = root_ + "/work/.reuse";
    ASSERT_TRUE(MakeDirs(root_ + "/work").ok());
  }
  void TearDown() override { (void)RemoveAll(root_); }

  model::Manifest Snapshot(const std::map<std::string, std::string>& files) {
    model::Manifest m;
    for (const auto& [path, content] : files) {
      std::string h = Sha256Hex(content);
      blobs_[h] = content;
      m.entries.push_back({path, 0644, content.size(), h});
    }
    EXPECT_TRUE(m.Normalize().ok());
    return m;
  }

  Result<WorkdirStats> Materialize(WorkdirPool& pool, const model::Manifest& m,
                                   const std::string& run) {
    return pool.Materialize(
        m, "snap", Dir(run), Record(run),
        [&](const std::string& h, int fd, const std::string& path) {
          return WriteAll(fd, blobs_.at(h), path);
        },
        nullptr);
  }
  std::string Dir(const std::string& run) { return root_ + "/work/" + run; }
  std::string Record(const std::string& run) {
    (void)MakeDirs(root_ + "/work/" + run + ".agent");
    return root_ + "/work/" + run + ".agent/workcopy.record";
  }
  std::vector<std::string> PoolEntries() {
    auto names = ListDir(pool_dir_);
    return names.ok() ? *names : std::vector<std::string>{};
  }
  std::string OnlyPooledRecord() {
    for (const auto& n : PoolEntries()) {
      if (n.size() > 7 && n.substr(n.size() - 7) == ".record") return pool_dir_ + "/" + n;
    }
    return "";
  }

  std::string root_, pool_dir_;
  std::map<std::string, std::string> blobs_;
};

TEST_F(WorkdirPoolTest, ReleasedCopyIsClaimedByRenamesOnly) {
  WorkdirPool pool(pool_dir_, 2);
  auto m = Snapshot({{"a.txt", "aaa"}, {"d/b.txt", "bbb"}});
  auto s1 = Materialize(pool, m, "r1");
  ASSERT_TRUE(s1.ok()) << s1.status().ToString();
  EXPECT_FALSE(s1->reused);
  EXPECT_EQ(s1->written, 2);
  ASSERT_TRUE(pool.Release(Dir("r1"), Record("r1")).ok());
  EXPECT_FALSE(PathExists(Dir("r1")));
  EXPECT_FALSE(PathExists(Record("r1")));  // moved into the pool beside the copy
  EXPECT_EQ(PoolEntries().size(), 2u);

  struct stat before;
  ASSERT_EQ(::stat(OnlyPooledRecord().c_str(), &before), 0);
  auto s2 = Materialize(pool, m, "r2");
  ASSERT_TRUE(s2.ok()) << s2.status().ToString();
  EXPECT_TRUE(s2->reused);
  EXPECT_EQ(s2->kept, 2);
  EXPECT_EQ(s2->written, 0);
  EXPECT_TRUE(PoolEntries().empty());
  struct stat after;
  ASSERT_EQ(::stat(Record("r2").c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);  // the same record file, rewritten in place
  EXPECT_EQ(*ReadFile(Dir("r2") + "/d/b.txt"), "bbb");
}

TEST_F(WorkdirPoolTest, TornOrForeignRecordsAreNotTrusted) {
  WorkdirPool pool(pool_dir_, 2);
  auto m = Snapshot({{"a.txt", "aaa"}});
  for (const std::string bad : {"torn", "other boot"}) {
    SCOPED_TRACE(bad);
    ASSERT_TRUE(Materialize(pool, m, "r1").ok());
    ASSERT_TRUE(pool.Release(Dir("r1"), Record("r1")).ok());
    std::string rec = OnlyPooledRecord();
    ASSERT_FALSE(rec.empty());
    std::string text = *ReadFile(rec);
    ASSERT_NE(text.find("\nend " + BootId() + "\n"), std::string::npos);
    if (bad == "torn")
      text = text.substr(0, text.size() - 3);
    else
      text.replace(text.find("\nend ") + 5, BootId().size(),
                   "00000000-0000-0000-0000-000000000000");
    ASSERT_TRUE(WriteFileReplace(rec, text).ok());
    auto s = Materialize(pool, m, "r2");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_FALSE(s->reused);
    EXPECT_EQ(s->written, 1);
    EXPECT_TRUE(PoolEntries().empty());  // the untrusted copy and its record are gone
    EXPECT_EQ(*ReadFile(Dir("r2") + "/a.txt"), "aaa");
    ASSERT_TRUE(RemoveAll(Dir("r2")).ok());
  }
}

TEST_F(WorkdirPoolTest, StaleHalvesAreRemovedAndCapacityHolds) {
  WorkdirPool pool(pool_dir_, 1);
  ASSERT_TRUE(MakeDirs(pool_dir_ + "/c-1-old/tree").ok());  // a copy without a record
  ASSERT_TRUE(WriteFileReplace(pool_dir_ + "/c-2-gone.record", "snapshot x\n")
                  .ok());  // a record without a copy
  ASSERT_TRUE(WriteFileReplace(pool_dir_ + "/c-3-fresh.record", "snapshot x\n")
                  .ok());  // a release under way
  utimbuf old{::time(nullptr) - 7200, ::time(nullptr) - 7200};
  ASSERT_EQ(::utime((pool_dir_ + "/c-1-old").c_str(), &old), 0);
  ASSERT_EQ(::utime((pool_dir_ + "/c-2-gone.record").c_str(), &old), 0);
  auto m = Snapshot({{"a.txt", "aaa"}});
  auto s = Materialize(pool, m, "r1");
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->reused);
  EXPECT_EQ(PoolEntries(), std::vector<std::string>{"c-3-fresh.record"});
  ASSERT_TRUE(::unlink((pool_dir_ + "/c-3-fresh.record").c_str()) == 0);
  // Capacity 1: the first copy is kept, the second removed.
  ASSERT_TRUE(Materialize(pool, m, "r2").ok());
  ASSERT_TRUE(pool.Release(Dir("r1"), Record("r1")).ok());
  ASSERT_TRUE(pool.Release(Dir("r2"), Record("r2")).ok());
  EXPECT_FALSE(PathExists(Dir("r2")));
  EXPECT_EQ(PoolEntries().size(), 2u);
}

}  // namespace
}  // namespace ferry::agent
