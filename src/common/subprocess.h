// Child processes: RAII ownership of a process group, detached daemons, captured commands.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace ferry {

struct SpawnOptions {
  std::vector<std::string> argv;          // argv[0] is looked up on PATH when it has no '/'
  std::map<std::string, std::string> env_set;  // added to (or replacing in) the inherited env
  std::vector<std::string> env_unset;
  std::string cwd;                        // empty: inherit
  int stdin_fd = -1;                      // -1: /dev/null
  int stdout_fd = -1;                     // -1: /dev/null
  int stderr_fd = -1;                     // -1: /dev/null
  bool new_process_group = true;          // child leads its own process group
  bool new_session = false;               // setsid() (implies a new group)
};

// Owns a child process and its process group. The destructor SIGKILLs the group and
// reaps the child unless it has been waited for or Release()d. Not thread-safe.
class Subprocess {
 public:
  static Result<Subprocess> Spawn(const SpawnOptions& options);

  Subprocess(Subprocess&& o) noexcept : pid_(o.pid_), exited_(o.exited_), status_(o.status_) { o.pid_ = -1; }
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
Result<ProcessResult> RunProcess(const SpawnOptions& options, const std::string& input, int timeout_ms);

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
