// The agent: runs one run on a node. It fetches the run's plan, materialises the snapshot
// into a fresh working directory, starts the script in its own process group, ships logs
// (byte offsets) and metrics (line sequence numbers) until the server acknowledges them,
// collects outputs/ and logs/ as artifacts and reports the final status. A server that is
// down or restarting only delays shipping: the files on disk are the spool.
#pragma once

#include <string>

namespace ferry::agent {

struct AgentOptions {
  std::string run_id;
  std::string home;            // workspace home: server.json (URL), blobs/, work/
  std::string token;           // the run's token (from FERRY_RUN_TOKEN)
  double cancel_grace_s = 10;  // SIGTERM to SIGKILL
  // The home is this node's own (a remote host's), not the workspace's: its blobs/ is a cache
  // filled from the server, and outputs are uploaded over HTTP.
  bool blob_cache = false;
  // Distributed runs: one agent per process (rank). Rank 0 (the leader) reports the run's
  // status and collects its outputs; the others run their rank and ship its logs (a stream
  // per rank) and metrics. From FERRY_RANK, else SLURM_PROCID inside a Slurm job step.
  int rank = 0;
};

// `ferry agent --detach`: reads the run token from stdin, starts the agent as a daemon (it
// outlives the SSH session that started it) and prints {"pid","start_time","boot_id"}.
int LaunchDetachedAgent(const AgentOptions& options, const std::string& executable);

class ServerApi;
class ScriptRunner;

// Returns the agent's process exit code (0 when the final status was delivered).
int RunAgent(const AgentOptions& options);

// RunAgent with its seams given (tests: a fake server and a fake script runner). Installs no
// signal handlers; `server` and `runner` outlive the call.
int RunAgentWith(const AgentOptions& options, ServerApi* server, ScriptRunner* runner);

}  // namespace ferry::agent
