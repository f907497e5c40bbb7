// Node providers of managed clusters: what starts and stops a named node when Slurm's power
// saving asks for it.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "compute/cluster/cluster.h"

namespace ferry::compute {

class NodeProvider {
 public:
  virtual ~NodeProvider() = default;
  // Starts the node; returns its address (how slurmctld and the other nodes reach it). The
  // node's slurmd registers with the controller by itself.
  virtual Result<std::string> Start(const std::string& node) = 0;
  // Stops the node and everything on it. Stopping a stopped node is not an error.
  virtual Status Stop(const std::string& node) = 0;
  // False when the provider knows a started node is gone (reclaimed, its machine died): its
  // jobs are requeued at once instead of after Slurm's SlurmdTimeout. Cheap (once a second).
  virtual bool Alive(const std::string& node) {
    (void)node;
    return true;
  }
  // The cluster's network (netns: the bridge), before the first node and at every server start.
  virtual Status Setup() { return Status::Ok(); }
  virtual Status Teardown() { return Status::Ok(); }
};

std::unique_ptr<NodeProvider> MakeNodeProvider(const ClusterConfig& c);

// netns provider: a free /24 for a new cluster's nodes ("10.78.X", X unused by any address
// or route on this machine) and its bridge name ("ferryc<X>").
Result<std::pair<std::string, std::string>> AllocateNetnsSubnet();

}  // namespace ferry::compute
