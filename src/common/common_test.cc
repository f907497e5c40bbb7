// Unit tests for common: Status, files, hashing, zstd, processes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <utility>

#include "common/crypto.h"
#include "common/fs.h"
#include "common/seal.h"
#include "common/status.h"
#include "common/subprocess.h"
#include "common/zstd_util.h"

namespace ferry {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/ferry_common_XXXXXX";
  return ::mkdtemp(tmpl);
}

Result<int> Half(int x) {
  if (x % 2) return Status::InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Status UsesMacros(int x, int* out) {
  FERRY_ASSIGN_OR_RETURN(int h, Half(x));
  *out = h;
  return Status::Ok();
}

TEST(Status, ResultAndMacros) {
  int out = 0;
  EXPECT_TRUE(UsesMacros(4, &out).ok());
  EXPECT_EQ(out, 2);
  Status st = UsesMacros(3, &out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.ToString(), "InvalidArgument: odd: 3");
  EXPECT_EQ(st.WithContext("ctx").message(), "ctx: odd: 3");
}

TEST(Crypto, Sha256KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 h;
  h.Update("a");
  h.Update("bc");
  EXPECT_EQ(h.HexDigest(), Sha256Hex("abc"));
  EXPECT_TRUE(IsSha256Hex(Sha256Hex("x")));
  EXPECT_FALSE(IsSha256Hex("../etc/passwd"));
  EXPECT_EQ(RandomHex(16).size(), 32u);
  EXPECT_NE(RandomHex(16), RandomHex(16));
}

TEST(Fs, AtomicWriteAndRead) {
  std::string dir = TempDir();
  std::string p = JoinPath(dir, "a/b/c.txt");
  ASSERT_TRUE(MakeDirs(DirName(p)).ok());
  ASSERT_TRUE(WriteFileAtomic(p, "hello").ok());
  auto r = ReadFile(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "hello");
  uint64_t size = 0;
  auto h = Sha256File(p, &size);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, Sha256Hex("hello"));
  EXPECT_EQ(size, 5u);
  auto missing = ReadFile(JoinPath(dir, "nope"));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope"), std::string::npos);
  ASSERT_TRUE(RemoveAll(dir).ok());
  EXPECT_FALSE(PathExists(dir));
}

TEST(Fs, TailAndLastLines) {
  std::string dir = TempDir();
  std::string p = JoinPath(dir, "log.txt");
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "line " + std::to_string(i) + "\n";
  ASSERT_TRUE(WriteFileAtomic(p, text).ok());
  auto tail = ReadFileTail(p, 30);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, text.substr(text.size() - 30));
  EXPECT_EQ(*ReadFileTail(p, 1 << 20), text);
  EXPECT_EQ(LastLines(text, 2), "line 998\nline 999\n");
  EXPECT_EQ(LastLines("a\nb", 1), "b");
  EXPECT_EQ(LastLines("only\n", 5), "only\n");
  EXPECT_EQ(LastLines("", 3), "");
  (void)RemoveAll(dir);
}

TEST(Zstd, RoundTripAndCorruption) {
  std::string data(100000, 'x');
  data += "tail";
  auto c = ZstdCompress(data);
  EXPECT_LT(c.size(), data.size());
  auto d = ZstdDecompress(c);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, data);
  EXPECT_EQ(ZstdDecompress("garbage").status().code(), StatusCode::kCorruption);
}

TEST(Subprocess, ExitCodesAndCapture) {
  auto r = RunCommand({"sh", "-c", "echo hi; exit 3"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "hi\n");
  auto missing = RunCommand({"definitely-not-a-program-xyz"});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

// `sh -c 'sleep 60 & echo $!; wait'` in its own process group: the shell, and the pid of its
// child (-1 when something failed).
std::pair<std::optional<Subprocess>, pid_t> SpawnShellWithChild(bool die_with_parent = false) {
  int out[2];
  if (::pipe(out) != 0) return {std::nullopt, -1};
  SpawnOptions o;
  o.argv = {"sh", "-c", "sleep 60 & echo $!; wait"};
  o.stdout_fd = out[1];
  o.die_with_parent = die_with_parent;
  auto sp = Subprocess::Spawn(o);
  ::close(out[1]);
  char buf[32] = {0};
  ssize_t n = sp.ok() ? ::read(out[0], buf, sizeof buf - 1) : -1;
  ::close(out[0]);
  if (n <= 0) return {std::nullopt, -1};
  return {std::move(sp).value(), static_cast<pid_t>(std::atoi(buf))};
}

TEST(Subprocess, DestructorKillsTheWholeGroup) {
  pid_t grandchild = -1;
  {
    auto [sp, child] = SpawnShellWithChild();
    ASSERT_TRUE(sp.has_value());
    grandchild = child;
    ASSERT_TRUE(ProcessAlive(grandchild, 0));
  }
  // The group was SIGKILLed; the orphaned sleep gets reaped by init shortly after.
  for (int i = 0; i < 500 && ProcessAlive(grandchild, 0); ++i) ::usleep(10000);
  EXPECT_FALSE(ProcessAlive(grandchild, 0));
}

// Forks a "creator" that starts `sh -c script` in its own group (die_with_parent as given)
// and, with a watchdog, guards it; returns the creator's pid and the shell's and its
// background child's pids. The creator then waits to be killed.
struct Creator {
  pid_t pid = -1, shell = -1, child = -1;
};
Creator StartCreator(bool die_with_parent, bool watchdog, const std::string& marker) {
  int fds[2];
  if (::pipe(fds) != 0) return {};
  pid_t creator = ::fork();
  if (creator == 0) {
    ::close(fds[0]);
    auto [sp, child] = SpawnShellWithChild(die_with_parent);
    if (!sp) ::_exit(1);
    std::optional<GroupWatchdog> dog;
    if (watchdog) {
      GroupWatchdog::Options w;
      w.pgid = sp->pid();
      w.marker_path = marker;
      auto d = GroupWatchdog::Start(w);
      if (!d.ok()) ::_exit(1);
      dog.emplace(std::move(d).value());
    }
    std::string line = std::to_string(sp->pid()) + " " + std::to_string(child);
    (void)!::write(fds[1], line.data(), line.size());
    for (;;) ::pause();
  }
  ::close(fds[1]);
  char buf[64] = {0};
  ssize_t n = ::read(fds[0], buf, sizeof buf - 1);
  ::close(fds[0]);
  Creator c;
  c.pid = creator;
  if (n > 0) std::sscanf(buf, "%d %d", &c.shell, &c.child);
  return c;
}

bool GoneWithin(pid_t pid, int ms) {
  for (int i = 0; i < ms / 10 && ProcessAlive(pid, 0); ++i) ::usleep(10000);
  return !ProcessAlive(pid, 0);
}

TEST(Subprocess, WatchdogStopsTheGroupWhenItsCreatorIsKilled) {
  std::string dir = TempDir();
  std::string marker = dir + "/stopped";
  Creator c = StartCreator(/*die_with_parent=*/false, /*watchdog=*/true, marker);
  ASSERT_GT(c.shell, 0);
  ASSERT_GT(c.child, 0);
  ASSERT_TRUE(ProcessAlive(c.child, 0));
  ::kill(c.pid, SIGKILL);
  ::waitpid(c.pid, nullptr, 0);
  EXPECT_TRUE(GoneWithin(c.shell, 10000));
  EXPECT_TRUE(GoneWithin(c.child, 10000));  // the whole group, not just its leader
  EXPECT_TRUE(PathExists(marker));
  (void)RemoveAll(dir);
}

TEST(Subprocess, DieWithParentStopsTheChildItself) {
  Creator c = StartCreator(/*die_with_parent=*/true, /*watchdog=*/false, "");
  ASSERT_GT(c.shell, 0);
  ::kill(c.pid, SIGKILL);
  ::waitpid(c.pid, nullptr, 0);
  EXPECT_TRUE(GoneWithin(c.shell, 10000));
  // Its own child is not covered by PR_SET_PDEATHSIG (that is the watchdog's job).
  EXPECT_TRUE(ProcessAlive(c.child, 0));
  ::kill(c.child, SIGKILL);
}

TEST(Subprocess, DismissedWatchdogLeavesTheGroupAlone) {
  SpawnOptions o;
  o.argv = {"sleep", "60"};
  auto sp = Subprocess::Spawn(o);
  ASSERT_TRUE(sp.ok());
  {
    GroupWatchdog::Options w;
    w.pgid = sp->pid();
    auto dog = GroupWatchdog::Start(w);
    ASSERT_TRUE(dog.ok());
    pid_t helper = dog->pid();
    dog->Dismiss();
    EXPECT_FALSE(ProcessAlive(helper, 0));  // reaped
  }
  EXPECT_TRUE(ProcessAlive(sp->pid(), 0));
}

TEST(Subprocess, KillGroupInSessionMatchesGroupAndSession) {
  auto [sp, child] = SpawnShellWithChild();
  ASSERT_TRUE(sp.has_value());
  EXPECT_EQ(KillGroupInSession(sp->pid(), ::getsid(0) + 1), 0);  // another session: not ours
  EXPECT_TRUE(ProcessAlive(child, 0));
  EXPECT_EQ(KillGroupInSession(sp->pid(), ::getsid(0)), 2);
  sp->Wait();
  EXPECT_TRUE(GoneWithin(child, 10000));
  pid_t g = 0, s = 0;
  EXPECT_TRUE(ParseGroupRecord(FormatGroupRecord(1234, 99), &g, &s));
  EXPECT_EQ(g, 1234);
  EXPECT_EQ(s, 99);
  EXPECT_FALSE(ParseGroupRecord("1234", &g, &s));
}

TEST(Subprocess, InheritEnvFalseGivesExactlyTheSetVariables) {
  ::setenv("FERRY_TEST_INHERITED", "yes", 1);
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "echo \"${FERRY_TEST_INHERITED:-none} $ONLY\""};
  o.inherit_env = false;
  o.env_set = {{"ONLY", "this"}};
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  o.stdout_fd = out[1];
  auto sp = Subprocess::Spawn(o);
  ::close(out[1]);
  ASSERT_TRUE(sp.ok());
  auto text = ReadAll(out[0], "pipe");
  ::close(out[0]);
  sp->Wait();
  EXPECT_EQ(*text, "none this\n");
  ::unsetenv("FERRY_TEST_INHERITED");
}

TEST(Fs, OpenBeneathFollowsNoSymlink) {
  std::string dir = TempDir();
  ASSERT_TRUE(MakeDirs(dir + "/a/b").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/a/b/file", "inside").ok());
  ASSERT_EQ(::symlink("/etc", (dir + "/link").c_str()), 0);
  ASSERT_EQ(::symlink("../..", (dir + "/a/up").c_str()), 0);
  ASSERT_EQ(::symlink("b/file", (dir + "/a/alias").c_str()), 0);
  UniqueFd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY));
  auto ok = OpenBeneath(root.get(), "a/b/file", O_RDONLY);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(*ReadAll(ok->get(), "file"), "inside");
  for (const char* bad : {"link/passwd", "a/up/etc/passwd", "a/alias", "link"}) {
    auto r = OpenBeneath(root.get(), bad, O_RDONLY);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition)
        << bad << ": " << r.status().ToString();
  }
  EXPECT_EQ(OpenBeneath(root.get(), "a/missing", O_RDONLY).status().code(), StatusCode::kNotFound);
  (void)RemoveAll(dir);
}

TEST(Subprocess, DetachedProcessIdentity) {
  SpawnOptions o;
  o.argv = {"sleep", "30"};
  auto pid = SpawnDetached(o);
  ASSERT_TRUE(pid.ok());
  auto start = ProcessStartTime(*pid);
  ASSERT_TRUE(start.has_value());
  EXPECT_TRUE(ProcessAlive(*pid, *start));
  EXPECT_FALSE(ProcessAlive(*pid, *start + 1));  // a reused pid would have another start time
  ::kill(*pid, SIGKILL);
  for (int i = 0; i < 500 && ProcessAlive(*pid, *start); ++i) ::usleep(10000);
  EXPECT_FALSE(ProcessAlive(*pid, *start));
}

}  // namespace
}  // namespace ferry

namespace ferry {
namespace {

TEST(Seal, RoundTripTamperAndWrongKey) {
  char tmpl[] = "/tmp/ferry-seal-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  auto a = Sealer::Open(dir + "/a.key");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  struct stat st;
  ASSERT_EQ(::stat((dir + "/a.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string sealed = a->Seal("hunter2");
  EXPECT_TRUE(Sealer::IsSealed(sealed));
  EXPECT_EQ(sealed.find("hunter2"), std::string::npos);
  EXPECT_NE(a->Seal("hunter2"), sealed);  // fresh nonce each time
  EXPECT_EQ(*a->Unseal(sealed), "hunter2");
  // The same key file opens it again; another workspace's key does not.
  EXPECT_EQ(*Sealer::Open(dir + "/a.key")->Unseal(sealed), "hunter2");
  auto b = Sealer::Open(dir + "/b.key");
  ASSERT_TRUE(b.ok());
  auto wrong = b->Unseal(sealed);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().message().find("hunter2"), std::string::npos);
  std::string tampered = sealed;
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(a->Unseal(tampered).ok());
  EXPECT_FALSE(a->Unseal("plain").ok());
  (void)RemoveAll(dir);
}

}  // namespace
}  // namespace ferry
