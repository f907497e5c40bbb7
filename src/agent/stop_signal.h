// The agent's stop signals: SIGTERM/SIGINT ask it to stop (cancel the script, give up waiting
// for the server while the script runs); every handled signal also wakes the supervisor's wait.
#pragma once

namespace ferry::agent {

// Installs the handlers (SIGTERM, SIGINT, SIGCHLD; ignores SIGPIPE and SIGHUP) and the
// self-pipe. Once per process, from RunAgent, before any thread. False when the pipe fails.
bool InstallStopSignals();

// True once SIGTERM or SIGINT arrived. Async-signal-safe to set, safe to read anywhere.
bool StopRequested();

// A descriptor that becomes readable when a signal arrives (-1 before InstallStopSignals:
// then waits on it only time out); DrainWakeFd empties it.
int SignalWakeFd();
void DrainWakeFd();

}  // namespace ferry::agent
