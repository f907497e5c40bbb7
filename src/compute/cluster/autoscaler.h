// The autoscaler of a managed cluster: from Slurm's view (pending jobs, node states) and the
// provider's (which nodes it started, which failed), which nodes to start and which to stop.
// A pure function, unit-tested with made-up states; ClusterTarget runs it once a second.
//
// Why Ferry decides rather than Slurm's power saving (SuspendProgram/ResumeProgram): Slurm
// 22.05 launches a batch job on a resumed cloud node only on its periodic retry (observed: 30
// to 60 s after the node registered), far from the "seconds" a user waiting on an idle
// cluster expects. Here a node is started *before* Slurm places a job on it: stopped nodes are
// DOWN in Slurm (never allocated), a started node's slurmd registers and Slurm (ReturnToService
// =2) makes it IDLE and schedules the waiting jobs at once. Slurm still does all placement.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace ferry::compute {

struct AutoscaleNode {
  std::string name;
  int index = 0;               // 1-based
  std::string slurm_state;     // sinfo %T: idle, allocated, mixed, completing, down*, drained, ...
  std::string provider_state;  // stopped, starting, started, failed, stopping
  double provider_since = 0;   // when provider_state was entered
  double idle_since = 0;       // when Slurm was first seen reporting it idle (0: not idle)
};

struct AutoscaleInput {
  double now = 0;
  int min_nodes = 0, max_nodes = 1, cpus_per_node = 1;
  double idle_seconds = 300;
  double start_timeout = 300;  // a started node must register with Slurm within this
  double retry_after = 30;     // a failed node is not started again before this
  std::vector<AutoscaleNode> nodes;
  // Pending jobs that wait for resources: nodes and CPUs each asks for.
  std::vector<std::pair<int, int>> pending;  // (nodes, cpus)
};

struct AutoscaleDecision {
  std::vector<std::string> start;  // ask the provider to start
  std::vector<std::string> stop;   // idle long enough (or never registered): drain and stop
  std::map<std::string, std::string> fail;  // started but never registered: why
};

AutoscaleDecision DecideScaling(const AutoscaleInput& in);

// Whether a node in this Slurm state is up (registered, usable or in use).
bool SlurmNodeUp(const std::string& state);

}  // namespace ferry::compute
