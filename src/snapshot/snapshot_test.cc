// Tests for BuildSnapshot (walk, ignore files, symlinks, stat cache) and ReadGitState.
#include "snapshot/snapshot.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>

#include "common/crypto.h"
#include "common/fs.h"
#include "common/subprocess.h"

namespace ferry::snapshot {
namespace {

namespace fs = std::filesystem;

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry_snapshot_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    src_ = tmp_ + "/src";
    cache_ = tmp_ + "/cache/stat.cache";
    ASSERT_TRUE(MakeDirs(src_).ok());
  }
  void TearDown() override {
    // Restore permissions changed by tests so that cleanup works.
    std::error_code ec;
    for (auto& e :
         fs::recursive_directory_iterator(tmp_, fs::directory_options::skip_permission_denied, ec))
      if (!e.is_symlink()) ::chmod(e.path().c_str(), e.is_directory() ? 0755 : 0644);
    (void)RemoveAll(tmp_);
  }

  void Write(const std::string& rel, const std::string& content, int mode = 0644) {
    std::string path = src_ + "/" + rel;
    ASSERT_TRUE(MakeDirs(DirName(path)).ok());
    ASSERT_TRUE(WriteFileAtomic(path, content, mode).ok()) << path;
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }
  // Sets the mtime of every regular file to `seconds_ago` in the past, so that the stat cache's
  // racy-timestamp rule does not force re-hashing.
  void AgeAll(int seconds_ago = 3600) {
    for (auto& e : fs::recursive_directory_iterator(src_)) {
      if (e.is_symlink() || !e.is_regular_file()) continue;
      Age(e.path().string(), seconds_ago);
    }
  }
  void Age(const std::string& abs, int seconds_ago) {
    struct timespec ts[2];
    ::clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= seconds_ago;
    ts[1] = ts[0];
    ASSERT_EQ(::utimensat(AT_FDCWD, abs.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << abs;
  }
  Result<SnapshotResult> Snap(bool use_cache = false, int threads = 2,
                              bool use_ignore_files = true) {
    SnapshotOptions o;
    o.source_dir = src_;
    o.use_ignore_files = use_ignore_files;
    o.stat_cache_path = use_cache ? cache_ : "";
    o.hash_threads = threads;
    return BuildSnapshot(o);
  }
  static std::vector<std::string> Paths(const SnapshotResult& r) {
    std::vector<std::string> out;
    for (const auto& e : r.manifest.entries) out.push_back(e.path);
    return out;
  }
  static const model::ManifestEntry* Find(const SnapshotResult& r, const std::string& path) {
    for (const auto& e : r.manifest.entries)
      if (e.path == path) return &e;
    return nullptr;
  }
  static bool HasWarning(const SnapshotResult& r, const std::string& needle) {
    return std::any_of(r.warnings.begin(), r.warnings.end(),
                       [&](const std::string& w) { return w.find(needle) != std::string::npos; });
  }

  std::string tmp_, src_, cache_;
};

using Strings = std::vector<std::string>;

TEST_F(SnapshotTest, MissingSourceDirIsNotFoundAndNamed) {
  SnapshotOptions o;
  o.source_dir = tmp_ + "/nope";
  auto r = BuildSnapshot(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(tmp_ + "/nope"), std::string::npos) << r.status().ToString();
}

TEST_F(SnapshotTest, SourceThatIsAFileIsInvalid) {
  Write("f", "x");
  SnapshotOptions o;
  o.source_dir = src_ + "/f";
  auto r = BuildSnapshot(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not a directory"), std::string::npos);
}

TEST_F(SnapshotTest, ManifestContentsHashesAndTotals) {
  Write("a.txt", "hello");
  Write("d/b.txt", "world!");
  Write("d/e/c.txt", "hello");  // same content as a.txt
  Write("empty", "");
  auto r = Snap();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Paths(*r), (Strings{"a.txt", "d/b.txt", "d/e/c.txt", "empty"}));
  EXPECT_EQ(Find(*r, "a.txt")->hash, Sha256Hex("hello"));
  EXPECT_EQ(Find(*r, "d/b.txt")->size, 6u);
  EXPECT_EQ(Find(*r, "empty")->hash, Sha256Hex(""));
  EXPECT_EQ(r->files, 4u);
  EXPECT_EQ(r->bytes, 16u);
  EXPECT_EQ(r->files_hashed, 4u);
  EXPECT_EQ(r->bytes_hashed, 16u);
  EXPECT_EQ(r->manifest_text, r->manifest.Serialize());
  EXPECT_EQ(r->id, Sha256Hex(r->manifest_text));
  auto paths = PathsByHash(*r);
  ASSERT_EQ(paths.size(), 3u);
  std::string p = paths.at(Sha256Hex("hello"));
  EXPECT_TRUE(p == fs::canonical(src_).string() + "/a.txt" ||
              p == fs::canonical(src_).string() + "/d/e/c.txt")
      << p;
  auto parsed = model::Manifest::Parse(r->manifest_text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_TRUE(r->warnings.empty());
}

TEST_F(SnapshotTest, EmptyDirectoryGivesEmptyManifest) {
  auto r = Snap();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->files, 0u);
  EXPECT_EQ(r->id, Sha256Hex(""));
}

TEST_F(SnapshotTest, IdIsStableAndChangesWithContent) {
  Write("a.txt", "one");
  Write("sub/b.txt", "two");
  auto r1 = Snap();
  auto r2 = Snap(false, 1);
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ(r1->id, r2->id);
  Write("sub/b.txt", "TWO");
  auto r3 = Snap();
  ASSERT_TRUE(r3.ok());
  EXPECT_NE(r1->id, r3->id);
  Write("sub/b.txt", "two");
  auto r4 = Snap();
  ASSERT_TRUE(r4.ok());
  EXPECT_EQ(r1->id, r4->id);
}

TEST_F(SnapshotTest, ExecBitRecordedAsMode) {
  Write("run.sh", "#!/bin/sh\n", 0750);
  Write("data.txt", "x", 0600);
  auto r = Snap();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Find(*r, "run.sh")->mode, 0755u);
  EXPECT_EQ(Find(*r, "data.txt")->mode, 0644u);
  auto before = r->id;
  ASSERT_EQ(::chmod((src_ + "/data.txt").c_str(), 0700), 0);
  auto r2 = Snap();
  ASSERT_TRUE(r2.ok());
  EXPECT_NE(before, r2->id);
}

TEST_F(SnapshotTest, GitDirectoriesAlwaysExcluded) {
  Write(".git/config", "[core]");
  Write(".git/objects/ab/cd", "blob");
  Write("sub/.git", "gitdir: ../.git/modules/sub");  // submodule-style .git file
  Write("sub/code.py", "print(1)");
  Write(".gitignore", "!.git\n");
  Write(".github/workflows/ci.yml", "on: push");
  auto r = Snap();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Paths(*r), (Strings{".github/workflows/ci.yml", ".gitignore", "sub/code.py"}));
}

TEST_F(SnapshotTest, FerryignoreBeatsAmlignoreBeatsGitignoreInSameDir) {
  Write("a.bin", "a");
  Write("b.bin", "b");
  Write("c.bin", "c");
  Write(".ferryignore", "a.bin\n");
  Write(".amlignore", "b.bin\n");
  Write(".gitignore", "c.bin\n");
  auto r = Snap();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Paths(*r), (Strings{".amlignore", ".ferryignore", ".gitignore", "b.bin", "c.bin"}));

  ASSERT_EQ(::unlink((src_ + "/.ferryignore").c_str()), 0);
  r = Snap();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Paths(*r), (Strings{".amlignore", ".gitignore", "a.bin", "c.bin"}));

  ASSERT_EQ(::unlink((src_ + "/.amlignore").c_str()), 0);
  r = Snap();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Paths(*r), (Strings{".gitignore", "a.bin", "b.bin"}));
}

TEST_F(SnapshotTest, DataSnapshotsTakeWhatIgnoreFilesLeaveOutButNotGit) {
  Write("train.csv", "a,b\n");
  Write("sub/big.parquet", "PAR1");
  Write(".gitignore", "*.csv\n");
  Write("sub/.amlignore", "*.parquet\n");
  Write(".git/config", "[core]");
  auto code = Snap();
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(Paths(*code), (Strings{".gitignore", "sub/.amlignore"}));
  auto data = Snap(/*use_cache=*/false, /*threads=*/2, /*use_ignore_files=*/false);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(Paths(*data),
            (Strings{".gitignore", "sub/.amlignore", "sub/big.parquet", "train.csv"}));
}

TEST_F(SnapshotTest, ChoiceOfIgnoreFileIsPerDirectory) {
  // The root uses .ferryignore; sub/ only has a .gitignore, which still applies there.
  Write(".ferryignore", "*.tmp\n");
  Write(".gitignore", "*.keep\n");  // shadowed by .ferryignore in the same dir
  Write("x.keep", "1");
  Write("sub/.gitignore", "*.dat\n");
  Write("sub/y.dat", "2");
  Write("sub/z.tmp", "3");
  Write("sub/w.txt", "4");
  auto r = Snap();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Paths(*r),
            (Strings{".ferryignore", ".gitignore", "sub/.gitignore", "sub/w.txt", "x.keep"}));
}

TEST_F(SnapshotTest, NestedIgnoreFilesOverrideShallowerOnes) {
  Write(".gitignore", "*.log\n");
  Write("root.log", "r");
  Write("keep.log", "k");
  Write("sub/.gitignore", "!keep.log\n");
  Write("sub/keep.log", "k");
  Write("sub/other.log", "o");
  Write("sub/deeper/keep.log", "k2");
  auto r = Snap();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Paths(*r),
            (Strings{".gitignore", "sub/.gitignore", "sub/deeper/keep.log", "sub/keep.log"}));
}

TEST_F(SnapshotTest, AnchoredRulesInSubdirectoryAreRelativeToIt) {
  Write("sub/.gitignore", "/out\nmodels/*.pt\n");
  Write("sub/out/a", "1");
  Write("sub/x/out/b", "2");
  Write("sub/models/m.pt", "3");
  Write("sub/x/models/m.pt", "4");
  Write("out/c", "5");
  auto r = Snap();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Paths(*r), (Strings{"out/c", "sub/.gitignore", "sub/x/models/m.pt", "sub/x/out/b"}));
}

TEST_F(SnapshotTest, IgnoredDirectoryCannotBeReincluded) {
  Write(".gitignore", "build/\n!build/keep.txt\n!keep.txt\n");
  Write("build/keep.txt", "k");
  Write("build/.gitignore", "!*\n");  // never read: the directory is not walked
  Write("build/obj/x.o", "o");
  Write("src/build", "a file named build is kept: the rule is directory-only");
  auto r = Snap();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Paths(*r), (Strings{".gitignore", "src/build"}));
}

TEST_F(SnapshotTest, DoubleStarAndNegationInWalk) {
  Write(".ferryignore", "data/**\n!data/**/\n!data/**/*.csv\n**/__pycache__\n");
  Write("data/a/b.csv", "1");
  Write("data/a/b.bin", "2");
  Write("data/top.csv", "3");
  Write("pkg/__pycache__/m.pyc", "4");
  Write("pkg/m.py", "5");
  auto r = Snap();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Paths(*r), (Strings{".ferryignore", "data/a/b.csv", "data/top.csv", "pkg/m.py"}));
}

TEST_F(SnapshotTest, StatCacheSkipsUnchangedFiles) {
  for (int i = 0; i < 20; ++i)
    Write("d" + std::to_string(i % 3) + "/f" + std::to_string(i), "content " + std::to_string(i));
  AgeAll();
  auto r1 = Snap(true);
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  EXPECT_EQ(r1->files_hashed, 20u);
  ASSERT_TRUE(PathExists(cache_));

  auto r2 = Snap(true);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->files_hashed, 0u);
  EXPECT_EQ(r2->bytes_hashed, 0u);
  EXPECT_EQ(r2->id, r1->id);
  EXPECT_EQ(r2->manifest_text, r1->manifest_text);
  EXPECT_EQ(PathsByHash(*r2), PathsByHash(*r1));

  // Modify one file (same size) and give it an old mtime: ctime still changes.
  Write("d1/f4", "CONTENT 4");
  Age(src_ + "/d1/f4", 7200);
  auto r3 = Snap(true);
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3->files_hashed, 1u);
  EXPECT_NE(r3->id, r1->id);
  EXPECT_EQ(Find(*r3, "d1/f4")->hash, Sha256Hex("CONTENT 4"));

  // The uncached result agrees with the cached one.
  auto fresh = Snap(false);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->id, r3->id);

  // Deleting a file drops it without hashing anything.
  ASSERT_EQ(::unlink((src_ + "/d0/f0").c_str()), 0);
  auto r4 = Snap(true);
  ASSERT_TRUE(r4.ok());
  EXPECT_EQ(r4->files_hashed, 0u);
  EXPECT_EQ(r4->files, 19u);
  auto r5 = Snap(true);
  ASSERT_TRUE(r5.ok());
  EXPECT_EQ(r5->files_hashed, 0u);
  EXPECT_EQ(r5->id, r4->id);
}

TEST_F(SnapshotTest, StatCacheDoesNotTrustRecentlyModifiedFiles) {
  Write("a", "1");
  Write("b", "2");
  Age(src_ + "/b", 3600);
  auto r1 = Snap(true);
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1->files_hashed, 2u);
  // "a" was modified within the racy window of the cache's write time: hashed again.
  auto r2 = Snap(true);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->files_hashed, 1u);
  EXPECT_EQ(r2->id, r1->id);
}

TEST_F(SnapshotTest, CorruptOrForeignCacheIsIgnored) {
  Write("a", "1");
  AgeAll();
  ASSERT_TRUE(MakeDirs(DirName(cache_)).ok());
  ASSERT_TRUE(WriteFileAtomic(cache_, "FERRYSC1 this is not a valid cache file at all").ok());
  auto r1 = Snap(true);
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  EXPECT_EQ(r1->files_hashed, 1u);
  auto r2 = Snap(true);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->files_hashed, 0u);

  // Truncate the now-valid cache: ignored, not an error.
  auto data = ReadFile(cache_);
  ASSERT_TRUE(data.ok());
  ASSERT_TRUE(WriteFileAtomic(cache_, data->substr(0, data->size() - 5)).ok());
  auto r3 = Snap(true);
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3->files_hashed, 1u);

  // The same cache file used for another source dir does not vouch for its files.
  std::string other = tmp_ + "/other";
  ASSERT_TRUE(MakeDirs(other).ok());
  ASSERT_TRUE(WriteFileAtomic(other + "/a", "1").ok());
  fs::last_write_time(other + "/a", fs::last_write_time(src_ + "/a"));
  SnapshotOptions o;
  o.source_dir = other;
  o.stat_cache_path = cache_;
  auto r4 = BuildSnapshot(o);
  ASSERT_TRUE(r4.ok());
  EXPECT_EQ(r4->files_hashed, 1u);
}

TEST_F(SnapshotTest, ManyThreadsAgreeWithOne) {
  for (int i = 0; i < 100; ++i)
    Write("f" + std::to_string(i), std::string(static_cast<size_t>(i) * 37, 'x'));
  auto r1 = Snap(false, 1);
  auto r8 = Snap(false, 8);
  ASSERT_TRUE(r1.ok() && r8.ok());
  EXPECT_EQ(r1->id, r8->id);
  EXPECT_EQ(r8->files_hashed, 100u);
}

TEST_F(SnapshotTest, SymlinkInsideIsRecordedAsTheTargetFile) {
  Write("real/data.txt", "payload", 0755);
  ASSERT_EQ(::symlink("real/data.txt", (src_ + "/link.txt").c_str()), 0);
  auto r = Snap();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto* e = Find(*r, "link.txt");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->hash, Sha256Hex("payload"));
  EXPECT_EQ(e->size, 7u);
  EXPECT_EQ(e->mode, 0755u);
  // Also through the cache.
  AgeAll();
  auto c1 = Snap(true);
  auto c2 = Snap(true);
  ASSERT_TRUE(c1.ok() && c2.ok());
  EXPECT_EQ(c2->files_hashed, 0u);
  EXPECT_EQ(c2->id, r->id);
}

TEST_F(SnapshotTest, SymlinkOutsideIsAnErrorUnlessIgnored) {
  Write("a", "1");
  ASSERT_TRUE(WriteFileAtomic(tmp_ + "/secret", "s").ok());
  ASSERT_EQ(::symlink((tmp_ + "/secret").c_str(), (src_ + "/escape").c_str()), 0);
  auto r = Snap();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("symlink 'escape' points outside the source directory"),
            std::string::npos)
      << r.status().ToString();
  EXPECT_NE(r.status().message().find(".ferryignore"), std::string::npos);
  Write(".ferryignore", "escape\n");
  r = Snap();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Paths(*r), (Strings{".ferryignore", "a"}));
}

TEST_F(SnapshotTest, DanglingAndDirectorySymlinksAreSkippedWithWarnings) {
  Write("dir/x", "1");
  ASSERT_EQ(::symlink("nowhere", (src_ + "/dangling").c_str()), 0);
  ASSERT_EQ(::symlink("dir", (src_ + "/dirlink").c_str()), 0);
  auto r = Snap();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Paths(*r), (Strings{"dir/x"}));
  EXPECT_TRUE(HasWarning(*r, "dangling"));
  EXPECT_TRUE(HasWarning(*r, "dirlink"));
}

TEST_F(SnapshotTest, SpecialFilesAreSkippedWithWarning) {
  Write("a", "1");
  ASSERT_EQ(::mkfifo((src_ + "/pipe").c_str(), 0644), 0);
  auto r = Snap();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Paths(*r), (Strings{"a"}));
  EXPECT_TRUE(HasWarning(*r, "pipe"));
}

TEST_F(SnapshotTest, BadFileNameIsAnErrorNamingIt) {
  Write("ok", "1");
  Write("bad\nname", "2");
  auto r = Snap();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("bad\nname"), std::string::npos) << r.status().ToString();
  Write(".ferryignore", "bad*\n");
  r = Snap();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
}

TEST_F(SnapshotTest, UnreadableFileAndDirectoryAreErrors) {
  Write("locked.txt", "x");
  Write("closed/y", "y");
  ASSERT_EQ(::chmod((src_ + "/locked.txt").c_str(), 0), 0);
  // Root reads everything, so as root the check runs in a child that drops to 'nobody'.
  auto check = [&]() -> std::string {
    auto r = Snap();
    if (r.ok()) return "unreadable file was not an error";
    if (r.status().code() != StatusCode::kPermissionDenied) return "file: " + r.status().ToString();
    if (r.status().message().find("locked.txt") == std::string::npos)
      return "file not named: " + r.status().ToString();
    return "";
  };
  auto check_dir = [&]() -> std::string {
    auto r = Snap();
    if (r.ok()) return "unreadable directory was not an error";
    if (r.status().code() != StatusCode::kPermissionDenied) return "dir: " + r.status().ToString();
    if (r.status().message().find("closed") == std::string::npos)
      return "dir not named: " + r.status().ToString();
    return "";
  };
  if (::geteuid() != 0) {
    EXPECT_EQ(check(), "");
    ASSERT_EQ(::unlink((src_ + "/locked.txt").c_str()), 0);
    ASSERT_EQ(::chmod((src_ + "/closed").c_str(), 0), 0);
    EXPECT_EQ(check_dir(), "");
    ASSERT_EQ(::chmod((src_ + "/closed").c_str(), 0755), 0);
    return;
  }
  ASSERT_EQ(::chmod(tmp_.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(src_.c_str(), 0777), 0);
  auto in_child_as_nobody = [&](const std::function<std::string()>& fn) -> std::string {
    int pipefd[2];
    if (::pipe(pipefd) != 0) return "pipe failed";
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(pipefd[0]);
      std::string err;
      if (::setgid(65534) != 0 || ::setuid(65534) != 0)
        err = "cannot drop privileges";
      else
        err = fn();
      (void)!::write(pipefd[1], err.data(), err.size());
      ::_exit(0);
    }
    ::close(pipefd[1]);
    std::string out;
    char buf[512];
    ssize_t n;
    while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(pipefd[0]);
    int st;
    ::waitpid(pid, &st, 0);
    return out;
  };
  EXPECT_EQ(in_child_as_nobody(check), "");
  ASSERT_EQ(::unlink((src_ + "/locked.txt").c_str()), 0);
  ASSERT_EQ(::chmod((src_ + "/closed").c_str(), 0), 0);
  EXPECT_EQ(in_child_as_nobody(check_dir), "");
  ASSERT_EQ(::chmod((src_ + "/closed").c_str(), 0755), 0);
}

// Runs git in dir; fails the test on error.
void Git(const std::string& dir, std::vector<std::string> args) {
  std::vector<std::string> argv = {"git", "-C", dir};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = RunCommand(argv);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->exit_code, 0) << "git " << args[0];
}

TEST_F(SnapshotTest, GitStateOfATemporaryRepository) {
  if (FindOnPath("git").empty()) GTEST_SKIP() << "git is not installed";
  ::setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
  // Outside any repository (tmp_ is under /tmp).
  auto none = ReadGitState(tmp_);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->present);

  Git(src_, {"init", "-q", "-b", "main"});
  Git(src_, {"config", "user.name", "Ferry Test"});
  Git(src_, {"config", "user.email", "test@example.com"});
  auto unborn = ReadGitState(src_);
  ASSERT_TRUE(unborn.ok());
  EXPECT_TRUE(unborn->present);
  EXPECT_EQ(unborn->commit, "");
  EXPECT_EQ(unborn->branch, "main");

  Write("train.py", "print('hi')\n");
  Git(src_, {"add", "-A"});
  Git(src_, {"commit", "-q", "-m", "first"});
  Git(src_, {"remote", "add", "origin", "https://example.com/repo.git"});
  Write("sub/untracked.txt", "u");
  auto clean = ReadGitState(src_ + "/sub");
  ASSERT_TRUE(clean.ok());
  EXPECT_TRUE(clean->present);
  EXPECT_TRUE(IsSha256Hex(clean->commit) || clean->commit.size() == 40) << clean->commit;
  EXPECT_EQ(clean->commit.size(), 40u);
  EXPECT_EQ(clean->branch, "main");
  EXPECT_EQ(clean->remote_url, "https://example.com/repo.git");
  EXPECT_FALSE(clean->dirty);  // untracked files do not count

  Write("train.py", "print('changed')\n");
  auto dirty = ReadGitState(src_);
  ASSERT_TRUE(dirty.ok());
  EXPECT_TRUE(dirty->dirty);

  Git(src_, {"checkout", "-q", "--detach"});
  auto detached = ReadGitState(src_);
  ASSERT_TRUE(detached.ok());
  EXPECT_EQ(detached->branch, "HEAD");
  EXPECT_EQ(detached->commit, clean->commit);
}

}  // namespace
}  // namespace ferry::snapshot

namespace ferry::snapshot {
namespace {

TEST(SnapshotContentSink, GetsEachHashedFileOnceFromTheSameRead) {
  char tmpl[] = "/tmp/ferry_snapshot_sink_XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  ASSERT_TRUE(MakeDirs(dir + "/src/sub").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/src/a.txt", "alpha").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/src/sub/b.txt", std::string(100000, 'b')).ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/src/big.bin", std::string(5000, 'x')).ok());
  std::mutex mu;
  std::map<std::string, std::string> seen;  // hash -> content
  SnapshotOptions o;
  o.source_dir = dir + "/src";
  o.on_content_max_bytes = 4096;  // big.bin is only hashed
  o.on_content = [&](const std::string& hash, std::string_view content) {
    std::lock_guard lock(mu);
    EXPECT_EQ(hash, Sha256Hex(content));
    EXPECT_TRUE(seen.emplace(hash, std::string(content)).second) << "twice: " << hash;
    return Status::Ok();
  };
  auto r = BuildSnapshot(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(seen.size(), 1u);  // a.txt only: b.txt (100 kB) and big.bin exceed the limit
  EXPECT_EQ(seen.count(Sha256Hex("alpha")), 1u);
  o.on_content_max_bytes = 1 << 20;
  seen.clear();
  ASSERT_TRUE(BuildSnapshot(o).ok());
  EXPECT_EQ(seen.size(), 3u);
  // A sink error aborts the snapshot with that error.
  o.on_content = [](const std::string&, std::string_view) { return Status::IoError("disk full"); };
  auto failed = BuildSnapshot(o);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("disk full"), std::string::npos);
  (void)RemoveAll(dir);
}

// The hashing threads read into buffers reused from file to file; a file that grew after the
// walk saw its size is read to its end.
TEST(SnapshotContentSink, ReusedBuffersGiveEachFileItsOwnBytesAndGrownFilesWhole) {
  char tmpl[] = "/tmp/ferry_snapshot_grow_XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  ASSERT_TRUE(MakeDirs(dir + "/src").ok());
  std::map<std::string, std::string> want;  // name -> content
  for (int i = 0; i < 40; ++i) {  // sizes up and down, so a buffer is reused larger and smaller
    std::string name = "f" + std::to_string(i);
    std::string content(static_cast<size_t>((i * 7919) % 300000), static_cast<char>('a' + i % 26));
    content += name;
    ASSERT_TRUE(WriteFileAtomic(dir + "/src/" + name, content).ok());
    want[name] = content;
  }
  std::mutex mu;
  std::map<std::string, std::string> seen;  // hash -> content
  bool grown = false;
  SnapshotOptions o;
  o.source_dir = dir + "/src";
  o.hash_threads = 1;  // files in walk order: the first one's callback runs before the rest
  o.on_content = [&](const std::string& hash, std::string_view content) {
    std::lock_guard lock(mu);
    EXPECT_EQ(hash, Sha256Hex(content));
    seen.emplace(hash, std::string(content));
    if (!grown) {  // every file not read yet grows well past the size the walk saw
      grown = true;
      for (auto& [name, content] : want) {
        if (seen.count(Sha256Hex(content))) continue;
        // Appended in place (same inode, as a growing log file): the walk's size is stale.
        const std::string more(3 << 20, 'g');
        UniqueFd fd(::open((dir + "/src/" + name).c_str(), O_WRONLY | O_APPEND));
        EXPECT_TRUE(fd.valid());
        EXPECT_TRUE(WriteAll(fd.get(), more, name).ok());
        content += more;
      }
    }
    return Status::Ok();
  };
  auto r = BuildSnapshot(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->manifest.entries.size(), want.size());
  for (const auto& e : r->manifest.entries) {
    EXPECT_EQ(e.hash, Sha256Hex(want[e.path])) << e.path;
    EXPECT_EQ(e.size, want[e.path].size()) << e.path;
    EXPECT_EQ(seen[e.hash], want[e.path]) << e.path;
  }
  (void)RemoveAll(dir);
}

TEST(SnapshotHashProgress, CountsEveryHashedFileAndTheTotals) {
  char tmpl[] = "/tmp/ferry_snapshot_progress_XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  ASSERT_TRUE(MakeDirs(dir + "/src/sub").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/src/a.txt", "alpha").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/src/sub/b.txt", std::string(100000, 'b')).ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/src/c.bin", std::string(5000, 'x')).ok());
  std::mutex mu;
  std::vector<SnapshotOptions::HashProgress> calls;
  SnapshotOptions o;
  o.source_dir = dir + "/src";
  o.on_hashed = [&](const SnapshotOptions::HashProgress& p) {
    std::lock_guard lock(mu);
    calls.push_back(p);
  };
  ASSERT_TRUE(BuildSnapshot(o).ok());
  ASSERT_EQ(calls.size(), 3u);
  uint64_t max_files = 0, max_bytes = 0;
  for (auto& p : calls) {
    EXPECT_EQ(p.files_total, 3u);
    EXPECT_EQ(p.bytes_total, 105005u);
    EXPECT_LE(p.bytes_done, p.bytes_total);
    max_files = std::max(max_files, p.files_done);
    max_bytes = std::max(max_bytes, p.bytes_done);
  }
  EXPECT_EQ(max_files, 3u);
  EXPECT_EQ(max_bytes, 105005u);
  (void)RemoveAll(dir);
}

}  // namespace
}  // namespace ferry::snapshot
