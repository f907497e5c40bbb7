#include "compute/cluster/autoscaler.h"

#include <algorithm>

namespace ferry::compute {

bool SlurmNodeUp(const std::string& state) {
  if (state.empty() || state.back() == '*' || state.back() == '~')
    return false;  // not responding / powered off
  for (const char* up : {"idle", "alloc", "mix", "compl", "drain", "plnd"}) {
    if (state.rfind(up, 0) == 0) return true;
  }
  return false;
}

AutoscaleDecision DecideScaling(const AutoscaleInput& in) {
  AutoscaleDecision d;
  int up = 0, starting = 0, idle = 0;
  for (const auto& n : in.nodes) {
    const bool registered = SlurmNodeUp(n.slurm_state);
    if (n.provider_state == "starting") {
      ++starting;
    } else if (n.provider_state == "started" && registered) {
      ++up;
      if (n.slurm_state.rfind("idle", 0) == 0) ++idle;
    } else if (n.provider_state == "started") {
      if (in.now - n.provider_since < in.start_timeout) {
        ++starting;  // started, slurmd not registered yet
      } else {
        d.fail[n.name] = "the node did not register with Slurm within " +
                         std::to_string(int(in.start_timeout)) +
                         " s of its start (is slurmd running there, with this cluster's slurm.conf "
                         "and munge key?)";
        d.stop.push_back(n.name);
      }
    }
  }
  // What the waiting jobs need: the widest job's nodes, or their CPUs in whole nodes.
  int need = 0, cpus = 0;
  for (auto [nodes, c] : in.pending) {
    need = std::max(need, nodes);
    cpus += c;
  }
  if (in.cpus_per_node > 0) need = std::max(need, (cpus + in.cpus_per_node - 1) / in.cpus_per_node);
  int want = need - starting - idle;
  want = std::max(want, in.min_nodes - up - starting);
  want = std::min(want, in.max_nodes - up - starting);
  for (const auto& n : in.nodes) {
    if (want <= 0) break;
    bool can = n.provider_state == "stopped" ||
               (n.provider_state == "failed" && in.now - n.provider_since >= in.retry_after);
    if (!can) continue;
    d.start.push_back(n.name);
    --want;
  }
  // Scale down: idle long enough, above the minimum, and nothing waits that could use them.
  if (need == 0) {
    int keep = up;
    for (auto it = in.nodes.rbegin(); it != in.nodes.rend() && keep > in.min_nodes; ++it) {
      const auto& n = *it;
      if (n.provider_state != "started" || n.slurm_state.rfind("idle", 0) != 0 || n.idle_since <= 0)
        continue;
      if (in.now - n.idle_since < in.idle_seconds) continue;
      d.stop.push_back(n.name);
      --keep;
    }
  }
  return d;
}

}  // namespace ferry::compute
