// Child processes: RAII ownership of a process group, detached daemons, captured commands.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ferry {

struct SpawnOptions {
  std::vector<std::string> argv;               // argv[0] is looked up on PATH when it has no '/'
  std::map<std::string, std::string> env_set;  // added to (or replacing in) the inherited env
  std::vector<std::string> env_unset;
  std::string cwd;                // empty: inherit
  int stdin_fd = -1;              // -1: /dev/null
  int stdout_fd = -1;             // -1: /dev/null
  int stderr_fd = -1;             // -1: /dev/null
  bool new_process_group = true;  // child leads its own process group
  bool new_session = false;       // setsid() (implies a new group)
  // The child gets SIGKILL when the thread that spawned it exits (PR_SET_PDEATHSIG), and does
  // not start at all when its parent is already gone. Only the child itself: what it starts
  // needs a GroupWatchdog.
  bool die_with_parent = false;
  // false: the child's environment is exactly env_set (nothing inherited; env_unset unused).
  bool inherit_env = true;
};

// Owns a child process and its process group. The destructor SIGKILLs the group and
// reaps the child unless it has been waited for or Release()d. Not thread-safe.
class Subprocess {
 public:
  static Result<Subprocess> Spawn(const SpawnOptions& options);

  Subprocess(Subprocess&& o) noexcept : pid_(o.pid_), exited_(o.exited_), status_(o.status_) {
    o.pid_ = -1;
  }
  Subprocess& operator=(Subprocess&& o) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();

  pid_t pid() const { return pid_; }
  // Non-blocking: the raw wait status if the child has exited.
  std::optional<int> TryWait();
  // Blocks until exit; returns the raw wait status.
  int Wait();
  // Sends sig to the whole process group (the child and everything it started).
  void SignalGroup(int sig) const;
  // Gives up ownership: the destructor will neither kill nor reap.
  pid_t Release();

 private:
  explicit Subprocess(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

// Stops a process group when this process dies, however it dies (kill -9 included): a forked
// helper, in its own session, blocks reading a pipe whose only write end this object holds.
// End of file without Dismiss() means its creator is gone: it SIGKILLs the group, creates
// marker_path (when given, to tell whoever reconciles later) and execs cleanup_argv (when
// given: e.g. removing a container). Dismiss() (also the destructor) lets it exit quietly and
// reaps it. Start it right after the group's leader; the pipe's write end is close-on-exec
// and Subprocess children close every inherited descriptor, so no child keeps it open.
// Not thread-safe; only async-signal-safe calls run in the helper, so any process may use it.
class GroupWatchdog {
 public:
  struct Options {
    pid_t pgid = -1;
    std::string marker_path;
    std::vector<std::string> cleanup_argv;  // argv[0] looked up on PATH at Start
  };
  static Result<GroupWatchdog> Start(const Options& options);

  GroupWatchdog() = default;
  GroupWatchdog(GroupWatchdog&& o) noexcept : pid_(o.pid_), fd_(o.fd_) { o.pid_ = o.fd_ = -1; }
  GroupWatchdog& operator=(GroupWatchdog&& o) noexcept;
  GroupWatchdog(const GroupWatchdog&) = delete;
  GroupWatchdog& operator=(const GroupWatchdog&) = delete;
  ~GroupWatchdog() { Dismiss(); }

  pid_t pid() const { return pid_; }
  void Dismiss();

 private:
  pid_t pid_ = -1;
  int fd_ = -1;  // the write end
};

// Where an agent records its script's process group, so that whoever finds the agent gone can
// stop what is left (files in the agent's directory): kScriptGroupFile holds
// "<pgid> <session id>\n"; the watchdog creates kScriptStoppedFile when it stopped the group.
inline constexpr const char* kScriptGroupFile = "script.group";
inline constexpr const char* kScriptStoppedFile = "script.stopped";
std::string FormatGroupRecord(pid_t pgid, pid_t sid);
bool ParseGroupRecord(std::string_view text, pid_t* pgid, pid_t* sid);

// SIGKILL to every live process of group pgid in session sid (the pair names one group even
// after its leader is gone: the kernel does not reuse a pid number that is still some live
// process's group or session id). Returns how many were signalled.
int KillGroupInSession(pid_t pgid, pid_t sid);

// Starts a daemon (double fork + setsid) that is not our child: it survives our exit and
// we never need to reap it. Returns its pid.
Result<pid_t> SpawnDetached(const SpawnOptions& options);

// The end of a double fork (SpawnDetached, ForkServer): reaps the middle process, then reads
// the daemon's pid from pid_fd and the errno of a failed set-up from err_fd (0 when the
// daemon closed it unwritten). Closes both descriptors.
struct DaemonStart {
  pid_t pid = -1;
  int error = 0;
};
DaemonStart FinishDoubleFork(pid_t mid, int pid_fd, int err_fd);

struct CommandOutput {
  int exit_code = -1;
  std::string out;  // stdout
};
// Runs argv to completion with stdout captured (stderr discarded). With timeout_ms > 0 the
// command's process group is killed past the deadline and Unavailable is returned.
Result<CommandOutput> RunCommand(const std::vector<std::string>& argv, const std::string& cwd = "",
                                 int timeout_ms = 0);

struct ProcessResult {
  int exit_code = -1;
  std::string out, err;
  bool timed_out = false;  // killed at the deadline (exit_code is then 128+SIGKILL)
};
// Runs a command with `input` on its stdin and both outputs captured; with timeout_ms > 0
// its process group is killed at the deadline (timed_out set, not an error).
Result<ProcessResult> RunProcess(const SpawnOptions& options, const std::string& input,
                                 int timeout_ms);

// Exit code from a raw wait status: the code for a normal exit, 128+signal for a signal.
int ExitCodeFromWaitStatus(int status);

// The kernel's start time of pid (clock ticks since boot), used with the pid as a process
// identity that survives pid reuse. nullopt when the process does not exist.
std::optional<unsigned long long> ProcessStartTime(pid_t pid);
// True when pid exists and (when start_time is non-zero) has that start time, and is not a zombie.
bool ProcessAlive(pid_t pid, unsigned long long start_time);

// Looks a program up on PATH; empty when not found.
std::string FindOnPath(const std::string& name);

}  // namespace ferry
