// Child processes via fork/exec with process groups.
#include "common/subprocess.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "common/fs.h"

extern char** environ;

namespace ferry {
namespace {

struct PreparedExec {
  std::vector<std::string> argv_storage;
  std::vector<char*> argv;
  std::vector<std::string> env_storage;
  std::vector<char*> env;
  std::string path;
};

Result<PreparedExec> Prepare(const SpawnOptions& o) {
  if (o.argv.empty()) return Status::InvalidArgument("empty command line");
  PreparedExec p;
  p.argv_storage = o.argv;
  for (auto& a : p.argv_storage) p.argv.push_back(a.data());
  p.argv.push_back(nullptr);
  std::map<std::string, std::string> env;
  for (char** e = environ; o.inherit_env && *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (auto& u : o.env_unset) env.erase(u);
  for (auto& [k, v] : o.env_set) env[k] = v;
  for (auto& [k, v] : env) p.env_storage.push_back(k + "=" + v);
  for (auto& e : p.env_storage) p.env.push_back(e.data());
  p.env.push_back(nullptr);
  p.path = o.argv[0];
  if (p.path.find('/') == std::string::npos) {
    auto path_it = env.find("PATH");
    std::string found;
    std::string dirs = path_it != env.end() ? path_it->second : "/usr/local/bin:/usr/bin:/bin";
    size_t start = 0;
    while (start <= dirs.size()) {
      size_t end = dirs.find(':', start);
      if (end == std::string::npos) end = dirs.size();
      std::string cand = JoinPath(dirs.substr(start, end - start), p.path);
      if (::access(cand.c_str(), X_OK) == 0) {
        found = cand;
        break;
      }
      start = end + 1;
    }
    if (found.empty()) return Status::NotFound("program '" + p.path + "' not found on PATH");
    p.path = found;
  }
  return p;
}

// In the child after fork: set up and exec; never returns. parent: the pid that forked it.
[[noreturn]] void ExecChild(const SpawnOptions& o, PreparedExec& p, int err_pipe, pid_t parent) {
  if (o.new_session)
    ::setsid();
  else if (o.new_process_group)
    ::setpgid(0, 0);
  if (o.die_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // it died before the line above
  }
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  ::dup2(o.stdin_fd >= 0 ? o.stdin_fd : devnull, 0);
  ::dup2(o.stdout_fd >= 0 ? o.stdout_fd : devnull, 1);
  ::dup2(o.stderr_fd >= 0 ? o.stderr_fd : devnull, 2);
  // Nothing else of the parent's leaks into the child (a server's listening socket would
  // otherwise outlive the server in every agent and script).
  if (err_pipe > 3) ::close_range(3, static_cast<unsigned>(err_pipe) - 1, 0);
  ::close_range(static_cast<unsigned>(err_pipe) + 1, ~0U, 0);
  // Reset signal state the parent may have changed.
  sigset_t all;
  sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGCHLD, SIG_DFL);
  if (!o.cwd.empty() && ::chdir(o.cwd.c_str()) != 0) {
    int e = errno;
    (void)!::write(err_pipe, &e, sizeof e);
    ::_exit(127);
  }
  ::execve(p.path.c_str(), p.argv.data(), p.env.data());
  int e = errno;
  (void)!::write(err_pipe, &e, sizeof e);
  ::_exit(127);
}

}  // namespace

Result<Subprocess> Subprocess::Spawn(const SpawnOptions& o) {
  FERRY_ASSIGN_OR_RETURN(PreparedExec p, Prepare(o));
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return ErrnoStatus("pipe", "", errno);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return ErrnoStatus("fork", o.argv[0], errno);
  }
  if (pid == 0) {
    ::close(pipefd[0]);
    ExecChild(o, p, pipefd[1], parent);
  }
  ::close(pipefd[1]);
  if (o.new_process_group && !o.new_session) ::setpgid(pid, pid);  // avoid the race with the child
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(pipefd[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  ::close(pipefd[0]);
  Subprocess sp(pid);
  if (n == sizeof child_errno) {
    sp.Wait();
    std::string what = o.cwd.empty() ? "cannot execute" : "cannot execute (cwd " + o.cwd + ")";
    return ErrnoStatus(what, p.path, child_errno);
  }
  return sp;
}

Subprocess& Subprocess::operator=(Subprocess&& o) noexcept {
  if (this != &o) {
    this->~Subprocess();
    pid_ = o.pid_;
    exited_ = o.exited_;
    status_ = o.status_;
    o.pid_ = -1;
  }
  return *this;
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !exited_) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    Wait();
  }
}

std::optional<int> Subprocess::TryWait() {
  if (exited_) return status_;
  if (pid_ <= 0) return std::nullopt;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    status_ = st;
    return st;
  }
  return std::nullopt;
}

int Subprocess::Wait() {
  if (exited_ || pid_ <= 0) return status_;
  int st = 0;
  while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  exited_ = true;
  status_ = st;
  return st;
}

void Subprocess::SignalGroup(int sig) const {
  if (pid_ > 0) ::kill(-pid_, sig);
}

pid_t Subprocess::Release() {
  pid_t p = pid_;
  pid_ = -1;
  return p;
}

Result<GroupWatchdog> GroupWatchdog::Start(const Options& o) {
  if (o.pgid <= 1) return Status::InvalidArgument("watchdog: no process group to watch");
  std::optional<PreparedExec> cleanup;
  if (!o.cleanup_argv.empty()) {
    SpawnOptions so;
    so.argv = o.cleanup_argv;
    FERRY_ASSIGN_OR_RETURN(PreparedExec p, Prepare(so));
    cleanup = std::move(p);
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe", "", errno);
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return ErrnoStatus("fork", "watchdog", e);
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    ::setsid();  // out of its creator's group: a kill of that group must not take it along
    const int rd = fds[0];
    int devnull = ::open("/dev/null", O_RDWR);
    for (int t = 0; t < 3; ++t) ::dup2(devnull, t);
    ::close_range(3, static_cast<unsigned>(rd) - 1, 0);
    ::close_range(static_cast<unsigned>(rd) + 1, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig : {SIGTERM, SIGINT, SIGCHLD, SIGPIPE}) ::signal(sig, SIG_DFL);
    char c = 0;
    ssize_t n;
    do {
      n = ::read(rd, &c, 1);
    } while (n < 0 && errno == EINTR);
    if (n == 1 && c == 'q') ::_exit(0);
    if (::kill(-o.pgid, SIGKILL) == 0 && !o.marker_path.empty()) {
      int m = ::open(o.marker_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                     0644);
      if (m >= 0) ::close(m);
    }
    if (cleanup) ::execve(cleanup->path.c_str(), cleanup->argv.data(), cleanup->env.data());
    ::_exit(0);
  }
  ::close(fds[0]);
  GroupWatchdog w;
  w.pid_ = pid;
  w.fd_ = fds[1];
  return w;
}

GroupWatchdog& GroupWatchdog::operator=(GroupWatchdog&& o) noexcept {
  if (this != &o) {
    Dismiss();
    pid_ = o.pid_;
    fd_ = o.fd_;
    o.pid_ = o.fd_ = -1;
  }
  return *this;
}

void GroupWatchdog::Dismiss() {
  if (fd_ >= 0) {
    (void)!::write(fd_, "q", 1);
    ::close(fd_);
    fd_ = -1;
  }
  if (pid_ > 0) {
    int st;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
}

std::string FormatGroupRecord(pid_t pgid, pid_t sid) {
  return std::to_string(pgid) + " " + std::to_string(sid) + "\n";
}

bool ParseGroupRecord(std::string_view text, pid_t* pgid, pid_t* sid) {
  long long g = 0, s = 0;
  char end = 0;
  if (std::sscanf(std::string(text).c_str(), "%lld %lld%c", &g, &s, &end) != 3 || end != '\n') {
    return false;
  }
  if (g <= 1 || s <= 0) return false;
  *pgid = static_cast<pid_t>(g);
  *sid = static_cast<pid_t>(s);
  return true;
}

int KillGroupInSession(pid_t pgid, pid_t sid) {
  if (pgid <= 1) return 0;
  int killed = 0;
  DIR* d = ::opendir("/proc");
  if (!d) return 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    auto stat = ReadFile(std::string("/proc/") + e->d_name + "/stat");
    if (!stat.ok()) continue;
    auto rp = stat->rfind(')');
    if (rp == std::string::npos) continue;
    char state = 0;
    long long ppid = 0, pgrp = 0, session = 0;
    if (std::sscanf(stat->c_str() + rp + 1, " %c %lld %lld %lld", &state, &ppid, &pgrp, &session) !=
        4)
      continue;
    if (state == 'Z' || state == 'X' || pgrp != pgid || session != sid) continue;
    if (::kill(static_cast<pid_t>(std::atoll(e->d_name)), SIGKILL) == 0) ++killed;
  }
  ::closedir(d);
  return killed;
}

Result<pid_t> SpawnDetached(const SpawnOptions& o) {
  FERRY_ASSIGN_OR_RETURN(PreparedExec p, Prepare(o));
  int pidpipe[2];
  int errpipe[2];
  if (::pipe2(pidpipe, O_CLOEXEC) != 0) return ErrnoStatus("pipe", "", errno);
  if (::pipe2(errpipe, O_CLOEXEC) != 0) return ErrnoStatus("pipe", "", errno);
  pid_t mid = ::fork();
  if (mid < 0) return ErrnoStatus("fork", o.argv[0], errno);
  if (mid == 0) {
    ::setsid();
    pid_t grand = ::fork();
    if (grand < 0) ::_exit(1);
    if (grand > 0) {
      (void)!::write(pidpipe[1], &grand, sizeof grand);
      ::_exit(0);
    }
    ::close(pidpipe[0]);
    ::close(errpipe[0]);
    SpawnOptions o2 = o;
    o2.new_session = false;
    o2.new_process_group = false;  // already session and group leader via setsid in parent
    o2.die_with_parent = false;    // a daemon outlives us by definition
    ExecChild(o2, p, errpipe[1], ::getppid());
  }
  ::close(pidpipe[1]);
  ::close(errpipe[1]);
  DaemonStart d = FinishDoubleFork(mid, pidpipe[0], errpipe[0]);
  if (d.error != 0) return ErrnoStatus("cannot execute", p.path, d.error);
  if (d.pid <= 0) return Status::Internal("could not start detached process " + o.argv[0]);
  return d.pid;
}

DaemonStart FinishDoubleFork(pid_t mid, int pid_fd, int err_fd) {
  DaemonStart d;
  int st;
  while (::waitpid(mid, &st, 0) < 0 && errno == EINTR) {
  }
  ssize_t n;
  do {
    n = ::read(pid_fd, &d.pid, sizeof d.pid);
  } while (n < 0 && errno == EINTR);
  if (n != sizeof d.pid) d.pid = -1;
  ::close(pid_fd);
  int e = 0;
  do {
    n = ::read(err_fd, &e, sizeof e);
  } while (n < 0 && errno == EINTR);
  ::close(err_fd);
  if (n == sizeof e) d.error = e;
  return d;
}

Result<CommandOutput> RunCommand(const std::vector<std::string>& argv, const std::string& cwd,
                                 int timeout_ms) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return ErrnoStatus("pipe", "", errno);
  SpawnOptions o;
  o.argv = argv;
  o.cwd = cwd;
  o.stdout_fd = pipefd[1];
  auto sp = Subprocess::Spawn(o);
  ::close(pipefd[1]);
  if (!sp.ok()) {
    ::close(pipefd[0]);
    return sp.status();
  }
  UniqueFd rd(pipefd[0]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  CommandOutput out;
  char buf[8192];
  for (;;) {
    if (timeout_ms > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{rd.get(), POLLIN, 0};
      int r = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) {
        sp->SignalGroup(SIGKILL);
        sp->Wait();
        return Status::Unavailable("'" + argv[0] + "' did not finish within " +
                                   std::to_string(timeout_ms) + " ms");
      }
    }
    ssize_t n = ::read(rd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.out.append(buf, static_cast<size_t>(n));
  }
  out.exit_code = ExitCodeFromWaitStatus(sp->Wait());
  return out;
}

Result<ProcessResult> RunProcess(const SpawnOptions& options, const std::string& input,
                                 int timeout_ms) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return ErrnoStatus("pipe", "", errno);
  UniqueFd in_r(in[0]), in_w(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) return ErrnoStatus("pipe", "", errno);
  UniqueFd out_r(out[0]), out_w(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) return ErrnoStatus("pipe", "", errno);
  UniqueFd err_r(err[0]), err_w(err[1]);
  SpawnOptions o = options;
  o.stdin_fd = in_r.get();
  o.stdout_fd = out_w.get();
  o.stderr_fd = err_w.get();
  FERRY_ASSIGN_OR_RETURN(Subprocess sp, Subprocess::Spawn(o));
  in_r.Reset();
  out_w.Reset();
  err_w.Reset();
  ::fcntl(in_w.get(), F_SETFL, O_NONBLOCK);
  if (input.empty()) in_w.Reset();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  ProcessResult r;
  size_t written = 0;
  char buf[16384];
  while (out_r.valid() || err_r.valid()) {
    pollfd fds[3];
    int n = 0;
    int i_out = -1, i_err = -1, i_in = -1;
    if (out_r.valid()) {
      fds[n] = {out_r.get(), POLLIN, 0};
      i_out = n++;
    }
    if (err_r.valid()) {
      fds[n] = {err_r.get(), POLLIN, 0};
      i_err = n++;
    }
    if (in_w.valid()) {
      fds[n] = {in_w.get(), POLLOUT, 0};
      i_in = n++;
    }
    int wait_ms = -1;
    if (timeout_ms > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      wait_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    int pr = ::poll(fds, static_cast<nfds_t>(n), wait_ms);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) {
      r.timed_out = true;
      sp.SignalGroup(SIGKILL);
      break;
    }
    auto drain = [&](int idx, UniqueFd& fd, std::string& to) {
      if (idx < 0 || !(fds[idx].revents & (POLLIN | POLLHUP | POLLERR))) return;
      ssize_t got = ::read(fd.get(), buf, sizeof buf);
      if (got > 0)
        to.append(buf, static_cast<size_t>(got));
      else if (got == 0 || errno != EINTR)
        fd.Reset();
    };
    drain(i_out, out_r, r.out);
    drain(i_err, err_r, r.err);
    if (i_in >= 0 && (fds[i_in].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = ::write(in_w.get(), input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if (w < 0 && errno != EAGAIN && errno != EINTR) in_w.Reset();  // the child closed its stdin
      if (written == input.size()) in_w.Reset();
    }
  }
  r.exit_code = ExitCodeFromWaitStatus(sp.Wait());
  return r;
}

int ExitCodeFromWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::optional<unsigned long long> ProcessStartTime(pid_t pid) {
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return std::nullopt;
  const std::string& s = *stat;
  auto rp = s.rfind(')');
  if (rp == std::string::npos) return std::nullopt;
  // Fields after the command: state(3) ... starttime is field 22.
  size_t pos = rp + 2;
  int field = 3;
  char state = s.size() > pos ? s[pos] : '?';
  if (state == 'Z' || state == 'X') return std::nullopt;
  while (field < 22 && pos < s.size()) {
    pos = s.find(' ', pos);
    if (pos == std::string::npos) return std::nullopt;
    ++pos;
    ++field;
  }
  return std::strtoull(s.c_str() + pos, nullptr, 10);
}

bool ProcessAlive(pid_t pid, unsigned long long start_time) {
  if (pid <= 0) return false;
  auto st = ProcessStartTime(pid);
  if (!st) return false;
  return start_time == 0 || *st == start_time;
}

std::string FindOnPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string cand = JoinPath(dirs.substr(start, end - start), name);
    struct stat st;
    if (::stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(cand.c_str(), X_OK) == 0)
      return cand;
    start = end + 1;
  }
  return "";
}

}  // namespace ferry
