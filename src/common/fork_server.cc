// Fork server: requests are one SOCK_SEQPACKET message each (JSON, with the daemon's stdio
// descriptors attached as SCM_RIGHTS); the answer is {"pid":N} or {"error":..,"errno":N}.
#include "common/fork_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/fs.h"

namespace ferry {
namespace {

using nlohmann::json;

constexpr size_t kMaxMessage = 1 << 20;  // command line + environment changes
constexpr int kMaxFds = 3;
constexpr int kAnswerTimeoutMs = 10000;

Status SendWithFds(int fd, const std::string& text, const std::vector<int>& fds) {
  iovec iov{const_cast<char*>(text.data()), text.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do {
    n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoStatus("fork server: send", "", errno);
  return Status::Ok();
}

// One message into buf (reused: no fresh pages to fault in per message); fds receives the
// attached descriptors (close-on-exec). 0 bytes: peer closed.
ssize_t ReceiveWithFds(int fd, std::vector<char>& buf, std::string* text, std::vector<int>* fds) {
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return n;
  text->assign(buf.data(), static_cast<size_t>(n));
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int f;
      std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
      fds->push_back(f);
    }
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    errno = EMSGSIZE;
    return -1;
  }
  return n;
}

// In the daemon (grandchild of the fork server): stdio, signals, environment, directory.
// Returns 0 or the errno of what failed.
int SetUpDaemon(const json& req, const std::vector<int>& fds, int keep_fd) {
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  int stdio[3] = {devnull, devnull, devnull};
  const json& targets = req.at("fds");
  for (size_t i = 0; i < targets.size() && i < fds.size(); ++i) {
    int t = targets[i].get<int>();
    if (t >= 0 && t < 3) stdio[t] = fds[i];
  }
  for (int t = 0; t < 3; ++t) {
    if (::dup2(stdio[t], t) < 0) return errno;
  }
  // Nothing of the fork server's leaks into the daemon (its socket above all).
  if (keep_fd > 3) ::close_range(3, static_cast<unsigned>(keep_fd) - 1, 0);
  ::close_range(static_cast<unsigned>(keep_fd) + 1, ~0U, 0);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int s = 1; s < NSIG; ++s) ::signal(s, SIG_DFL);
  for (const auto& k : req.at("env_unset")) ::unsetenv(k.get<std::string>().c_str());
  for (const auto& [k, v] : req.at("env_set").items()) {
    if (::setenv(k.c_str(), v.get<std::string>().c_str(), 1) != 0) return errno;
  }
  std::string cwd = req.value("cwd", "");
  if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) return errno;
  return 0;
}

// Forks the daemon for one request; returns the answer.
json Fork(const json& req, const std::vector<int>& fds, int sock,
          const std::function<int(int, char**)>& main) {
  std::vector<std::string> argv = req.at("argv").get<std::vector<std::string>>();
  if (argv.empty()) return {{"error", "empty command line"}, {"errno", EINVAL}};
  int pidpipe[2], errpipe[2];
  if (::pipe2(pidpipe, O_CLOEXEC) != 0) return {{"error", "pipe"}, {"errno", errno}};
  if (::pipe2(errpipe, O_CLOEXEC) != 0) {
    ::close(pidpipe[0]);
    ::close(pidpipe[1]);
    return {{"error", "pipe"}, {"errno", errno}};
  }
  pid_t mid = ::fork();
  if (mid == 0) {
    ::setsid();
    pid_t grand = ::fork();
    if (grand != 0) {
      (void)!::write(pidpipe[1], &grand, sizeof grand);
      ::_exit(0);
    }
    ::close(sock);
    ::close(pidpipe[0]);
    ::close(pidpipe[1]);
    ::close(errpipe[0]);
    int e = 0;
    try {
      e = SetUpDaemon(req, fds, errpipe[1]);
    } catch (const std::exception&) {
      e = EINVAL;
    }
    if (e != 0) {
      (void)!::write(errpipe[1], &e, sizeof e);
      ::_exit(127);
    }
    ::close(errpipe[1]);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    int rc = main(static_cast<int>(argv.size()), args.data());
    std::exit(rc);
  }
  ::close(pidpipe[1]);
  ::close(errpipe[1]);
  if (mid < 0) {
    int e = errno;
    ::close(pidpipe[0]);
    ::close(errpipe[0]);
    return {{"error", "fork"}, {"errno", e}};
  }
  DaemonStart d = FinishDoubleFork(mid, pidpipe[0], errpipe[0]);
  if (d.error != 0) {
    std::string what = req.value("cwd", "").empty()
                           ? "cannot start"
                           : "cannot start (cwd " + req.value("cwd", "") + ")";
    return {{"error", what}, {"errno", d.error}};
  }
  if (d.pid <= 0) return {{"error", "fork"}, {"errno", EAGAIN}};
  return {{"pid", d.pid}};
}

}  // namespace

int ServeForks(int fd, const std::function<int(int, char**)>& main) {
  // Variables set only for this process (LD_BIND_NOW: every symbol bound once here rather than
  // lazily in every daemon) are not the daemons'.
  if (const char* unset = std::getenv("FERRY_FORK_SERVER_UNSET")) {
    std::string names = unset;
    for (size_t start = 0; start <= names.size();) {
      size_t end = names.find(',', start);
      if (end == std::string::npos) end = names.size();
      if (end > start) ::unsetenv(names.substr(start, end - start).c_str());
      start = end + 1;
    }
    ::unsetenv("FERRY_FORK_SERVER_UNSET");
  }
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGCHLD, SIG_DFL);
  std::vector<char> buf(kMaxMessage);
  for (;;) {
    std::string text;
    std::vector<int> fds;
    ssize_t n = ReceiveWithFds(fd, buf, &text, &fds);
    if (n == 0) return 0;  // the server went away
    json answer;
    if (n < 0) {
      if (errno != EMSGSIZE) return 1;
      answer = {{"error", "request too large"}, {"errno", EMSGSIZE}};
    } else {
      try {
        answer = Fork(json::parse(text), fds, fd, main);
      } catch (const std::exception& e) {
        answer = {{"error", std::string("bad request: ") + e.what()}, {"errno", EINVAL}};
      }
    }
    for (int f : fds) ::close(f);
    if (!SendWithFds(fd, answer.dump(), {}).ok()) return 0;
  }
}

ForkServer::ForkServer(std::vector<std::string> server_argv, std::string log_path)
    : argv_(std::move(server_argv)), log_path_(std::move(log_path)) {}

ForkServer::~ForkServer() {
  MutexLock lock(&mu_);
  Stop();
}

void ForkServer::Stop() {
  if (fd_ >= 0) ::close(fd_);  // the fork server sees end of file and exits
  fd_ = -1;
  proc_.reset();  // reaps it (SIGKILL to its group if it has not exited)
}

std::optional<pid_t> ForkServer::server_pid() {
  MutexLock lock(&mu_);
  if (!proc_) return std::nullopt;
  return proc_->pid();
}

Status ForkServer::Start() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return ErrnoStatus("socketpair", "", errno);
  UniqueFd mine(sv[0]), theirs(sv[1]);
  UniqueFd log(::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  SpawnOptions so;
  so.argv = argv_;
  if (!std::getenv("LD_BIND_NOW")) {
    so.env_set["LD_BIND_NOW"] = "1";
    so.env_set["FERRY_FORK_SERVER_UNSET"] = "LD_BIND_NOW";
  }
  so.stdin_fd = theirs.get();
  so.stdout_fd = log.valid() ? log.get() : -1;
  so.stderr_fd = so.stdout_fd;
  FERRY_ASSIGN_OR_RETURN(Subprocess p, Subprocess::Spawn(so));
  proc_ = std::make_unique<Subprocess>(std::move(p));
  fd_ = mine.Release();
  return Status::Ok();
}

Result<pid_t> ForkServer::Request(const SpawnOptions& o) {
  json req = {{"argv", o.argv}, {"env_set", o.env_set}, {"env_unset", o.env_unset}, {"cwd", o.cwd}};
  std::vector<int> fds;
  json targets = json::array();
  const int stdio[3] = {o.stdin_fd, o.stdout_fd, o.stderr_fd};
  for (int t = 0; t < 3; ++t) {
    if (stdio[t] < 0) continue;
    fds.push_back(stdio[t]);
    targets.push_back(t);
  }
  req["fds"] = targets;
  if (Status st = SendWithFds(fd_, req.dump(), fds); !st.ok())
    return Status::Unavailable(st.message());
  pollfd p{fd_, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, kAnswerTimeoutMs);
  } while (r < 0 && errno == EINTR);
  if (r <= 0) return Status::Unavailable("the fork server did not answer");
  std::vector<char> buf(4096);  // answers are small
  std::string text;
  std::vector<int> got;
  ssize_t n = ReceiveWithFds(fd_, buf, &text, &got);
  for (int f : got) ::close(f);
  if (n <= 0) return Status::Unavailable("the fork server went away");
  json answer = json::parse(text, nullptr, false);
  if (!answer.is_object()) return Status::Unavailable("the fork server sent a bad answer");
  if (answer.contains("pid")) return static_cast<pid_t>(answer["pid"].get<int64_t>());
  int e = answer.value("errno", 0);
  std::string what = answer.value("error", std::string("cannot start"));
  // The daemon's own set-up failed (its directory, say): the same error a plain spawn gives.
  if (what.rfind("cannot start", 0) == 0) return ErrnoStatus(what, o.argv[0], e);
  return Status::Unavailable("the fork server could not fork: " + what + ": " + std::strerror(e));
}

Result<pid_t> ForkServer::SpawnDetached(const SpawnOptions& o) {
  MutexLock lock(&mu_);
  if (o.argv.empty() || argv_.empty() || o.argv[0] != argv_[0]) return ferry::SpawnDetached(o);
  auto now = std::chrono::steady_clock::now();
  if (!proc_ && now >= retry_at_) {
    Status st = Start();
    if (!st.ok()) retry_at_ = now + std::chrono::seconds(30);
  }
  if (proc_) {
    auto r = Request(o);
    if (r.ok()) {
      ++forked_;
      return r;
    }
    if (r.status().code() != StatusCode::kUnavailable) return r.status();
    Stop();  // died or misbehaved: plain spawns for a while, then a new one
    retry_at_ = now + std::chrono::seconds(5);
  }
  ++fallbacks_;
  return ferry::SpawnDetached(o);
}

}  // namespace ferry
