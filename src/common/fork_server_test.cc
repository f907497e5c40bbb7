// ForkServer: daemons forked by a fork server behave like SpawnDetached's, and a dead fork
// server falls back to plain spawns. The test binary is its own "program": started with
// FERRY_TEST_FORK_PROGRAM set, it serves forks (`fork-server`) or runs TestMain, before gtest.
#include "common/fork_server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/fs.h"
#include "common/subprocess.h"

namespace ferry {
namespace {

// argv: <exe> record <file>: writes what a daemon can observe about itself to <file>.
int TestMain(int argc, char** argv) {
  if (argc < 3 || std::string(argv[1]) != "record") return 2;
  struct sigaction sa {};
  ::sigaction(SIGTERM, nullptr, &sa);
  char cwd[4096] = {};
  if (!::getcwd(cwd, sizeof cwd)) return 3;
  const char* set = std::getenv("FORK_TEST_SET");
  const char* unset = std::getenv("FORK_TEST_UNSET");
  const char* bind_now = std::getenv("LD_BIND_NOW");
  const bool fd3_open = ::fcntl(3, F_GETFD) >= 0;  // before this function opens anything
  std::ofstream f(argv[2]);
  f << "pid " << ::getpid() << "\nsid " << ::getsid(0) << "\ncwd " << cwd << "\nset "
    << (set ? set : "-") << "\nunset " << (unset ? unset : "-") << "\nsigterm "
    << (sa.sa_handler == SIG_DFL ? "default" : "changed") << "\nfd3 "
    << (fd3_open ? "open" : "closed") << "\nbind_now " << (bind_now ? bind_now : "-") << "\n";
  f.close();
  std::printf("to stdout\n");
  return 0;
}

std::vector<std::string> SelfArgv() {
  std::ifstream in("/proc/self/cmdline");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> argv;
  std::string cur;
  for (char c : all) {
    if (c)
      cur += c;
    else
      argv.push_back(cur), cur.clear();
  }
  return argv;
}

// Runs before gtest's main in the processes the tests start.
[[maybe_unused]] const bool kProgram = [] {
  if (!std::getenv("FERRY_TEST_FORK_PROGRAM")) return false;
  auto args = SelfArgv();
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (args.size() >= 2 && args[1] == "fork-server") std::exit(ServeForks(0, TestMain));
  std::exit(TestMain(static_cast<int>(args.size()), argv.data()));
}();

std::map<std::string, std::string> ReadRecord(const std::string& path) {
  std::map<std::string, std::string> m;
  for (int i = 0; i < 500 && !PathExists(path); ++i) ::usleep(10000);
  ::usleep(50000);  // the daemon writes it in one go; let it finish
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto sp = line.find(' ');
    if (sp != std::string::npos) m[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return m;
}

TEST(ForkServer, DaemonsLikeSpawnDetachedAndFallbackWhenItDies) {
  ::unsetenv("LD_BIND_NOW");  // the fork server sets it for itself only
  char tmpl[] = "/tmp/ferry_fork_XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  ::setenv("FERRY_TEST_FORK_PROGRAM", "1", 1);
  ::setenv("FORK_TEST_UNSET", "inherited", 1);
  const std::string exe = "/proc/self/exe";
  ForkServer forks({exe, "fork-server"}, dir + "/fork-server.log");

  auto spawn = [&](const std::string& record, const std::string& out) {
    SpawnOptions o;
    o.argv = {exe, "record", record};
    o.env_set["FORK_TEST_SET"] = "yes";
    o.env_unset = {"FORK_TEST_UNSET"};
    o.cwd = dir;
    UniqueFd fd(::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    o.stdout_fd = fd.get();
    return forks.SpawnDetached(o);
  };

  auto pid = spawn(dir + "/a.txt", dir + "/a.out");
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  EXPECT_EQ(forks.forked(), 1);
  EXPECT_EQ(forks.fallbacks(), 0);
  auto a = ReadRecord(dir + "/a.txt");
  EXPECT_EQ(a["pid"], std::to_string(*pid));
  EXPECT_NE(a["sid"], std::to_string(::getsid(0)));  // its own session, not ours
  EXPECT_EQ(a["cwd"], dir);
  EXPECT_EQ(a["set"], "yes");
  EXPECT_EQ(a["unset"], "-");
  EXPECT_EQ(a["sigterm"], "default");
  EXPECT_EQ(a["fd3"], "closed");  // nothing of the fork server's leaks in
  EXPECT_EQ(a["bind_now"], "-");  // the fork server's own LD_BIND_NOW is not passed on
  auto out = [](const std::string& p) {
    auto r = ReadFile(p);
    return r.ok() ? *r : std::string();
  };
  for (int i = 0; i < 200 && out(dir + "/a.out").empty(); ++i) ::usleep(10000);
  EXPECT_EQ(out(dir + "/a.out"), "to stdout\n");

  // A directory that does not exist is the daemon's error, as with a plain spawn.
  SpawnOptions bad;
  bad.argv = {exe, "record", dir + "/never.txt"};
  bad.cwd = dir + "/missing";
  auto r = forks.SpawnDetached(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing"), std::string::npos) << r.status().ToString();

  // The fork server dies: the next daemon is spawned the plain way.
  auto server = forks.server_pid();
  ASSERT_TRUE(server.has_value());
  ::kill(*server, SIGKILL);
  ::usleep(50000);
  auto pid2 = spawn(dir + "/b.txt", dir + "/b.out");
  ASSERT_TRUE(pid2.ok()) << pid2.status().ToString();
  EXPECT_EQ(forks.fallbacks(), 1);
  auto b = ReadRecord(dir + "/b.txt");
  EXPECT_EQ(b["pid"], std::to_string(*pid2));
  EXPECT_EQ(b["set"], "yes");
  EXPECT_EQ(b["unset"], "-");
  ::unsetenv("FERRY_TEST_FORK_PROGRAM");
  (void)RemoveAll(dir);
}

}  // namespace
}  // namespace ferry
