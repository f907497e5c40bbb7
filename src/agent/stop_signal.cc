// Stop signals of the agent process (see stop_signal.h).
#include "agent/stop_signal.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

namespace ferry::agent {
namespace {

int g_signal_pipe[2] = {-1, -1};
volatile sig_atomic_t g_term = 0;

void OnSignal(int sig) {
  if (sig == SIGTERM || sig == SIGINT) g_term = 1;
  int saved = errno;
  char c = static_cast<char>(sig);
  (void)!::write(g_signal_pipe[1], &c, 1);
  errno = saved;
}

}  // namespace

bool InstallStopSignals() {
  if (::pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return false;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGCHLD, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  return true;
}

bool StopRequested() { return g_term != 0; }

int SignalWakeFd() { return g_signal_pipe[0]; }

void DrainWakeFd() {
  if (g_signal_pipe[0] < 0) return;
  char buf[64];
  while (::read(g_signal_pipe[0], buf, sizeof buf) > 0) {
  }
}

}  // namespace ferry::agent
