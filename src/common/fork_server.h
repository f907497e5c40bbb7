// A fork server: one small, single-threaded ferry process, started once, that starts
// daemons by forking itself instead of exec'ing a new ferry for each.
//
// Starting an agent the plain way costs the server a double fork of its whole address space
// (page tables copied, then every page it touches copy-on-write faulted back) and the agent an
// exec of a large binary (loading, relocating ~9,000 symbols of a dozen shared libraries,
// faulting its pages in). For a long training run that is noise; for a sweep of 1,000 trials
// of a few seconds each it is a real share of the machine. The fork server has already paid
// the exec once: a daemon is a fork of it running `main` with the daemon's command line.
//
// Same contract as SpawnDetached: the daemon is in its own session, not our child, survives
// our exit, gets the requested environment changes, working directory and stdio. Any failure
// of the fork server (it died, did not answer in time, sent garbage) falls back to
// SpawnDetached, and a new fork server is tried again later. The fork server exits when the
// process that started it goes away (its socket closes).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "common/subprocess.h"

namespace ferry {

class ForkServer {
 public:
  // server_argv: the command line that runs ServeForks on stdin (e.g. {ferry, "fork-server"});
  // its stderr goes to log_path. program: the executable whose `main` the fork server runs;
  // requests for other programs are spawned the plain way.
  ForkServer(std::vector<std::string> server_argv, std::string log_path);
  ~ForkServer();
  ForkServer(const ForkServer&) = delete;
  ForkServer& operator=(const ForkServer&) = delete;

  // SpawnDetached(o), forked from the fork server when o.argv[0] is its program.
  // Thread-safe.
  Result<pid_t> SpawnDetached(const SpawnOptions& o);

  // The fork server's pid, if one is running (tests).
  std::optional<pid_t> server_pid();
  // Requests answered by the fork server / spawned the plain way (tests, diagnostics).
  int forked() const EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return forked_;
  }
  int fallbacks() const EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return fallbacks_;
  }

 private:
  Status Start() REQUIRES(mu_);
  Result<pid_t> Request(const SpawnOptions& o) REQUIRES(mu_);
  void Stop() REQUIRES(mu_);

  std::vector<std::string> argv_;
  std::string log_path_;
  mutable Mutex mu_;
  std::unique_ptr<Subprocess> proc_ GUARDED_BY(mu_);
  int fd_ GUARDED_BY(mu_) = -1;
  std::chrono::steady_clock::time_point retry_at_ GUARDED_BY(mu_){};
  int forked_ GUARDED_BY(mu_) = 0;
  int fallbacks_ GUARDED_BY(mu_) = 0;
};

// The fork server's loop on `fd` (a SOCK_SEQPACKET socket): each request forks a daemon that
// runs main(argv) and exits with its result. Returns 0 when the other end closes. Must be
// called from a single-threaded process.
int ServeForks(int fd, const std::function<int(int, char**)>& main);

}  // namespace ferry
