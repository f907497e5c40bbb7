// Managed compute clusters: Ferry configures and drives a Slurm cluster of its own that grows
// from min to max nodes when runs queue and shrinks back when idle. Slurm places the jobs;
// Ferry's autoscaler (autoscaler.h, run by ClusterTarget) decides when nodes come and go.
// Ferry writes slurm.conf, runs the controller (munged + slurmctld) on this machine, and
// starts and stops nodes through a node provider:
//   - `netns`: nodes as network namespaces on this machine (tests, demos; needs root);
//   - `command`: user commands that start/stop a named node (a cloud CLI, IPMI, ...).
// Everything of a cluster lives in one directory (<home>/clusters/<name>): cluster.json (this
// config, as created or last updated),
// slurm.conf, the munge key, Slurm's state and logs, and nodes/<node>.json (each node's last
// provider event, shown by `ferry compute show`).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/subprocess.h"
#include "compute/kind.h"

namespace ferry::compute {

struct ClusterConfig {
  std::string name;
  int min_nodes = 0;
  int max_nodes = 1;
  int idle_seconds = 300;  // idle time before a node is stopped (Slurm's SuspendTime)
  int cpus = 1, memory_mb = 1024, gpus = 0;  // --node-size CPUS,MEM[,GPUS]
  std::string priority = "dedicated";        // low: every run requeue-able (preemptible nodes)
  // The workspace's node-size name the size came from ("STANDARD_D2_V2"; server/node_sizes.cc),
  // "" when given as numbers.
  std::string vm_size;
  // A compute instance made from a node size (single_owner): the one user who may submit
  // ("" = the workspace token's holder), as for the `instance` kind.
  bool single_owner = false;
  std::string owner;
  // Run-based compute: the run this cluster was made for. The server deletes the cluster when
  // that run has ended ("" = a cluster someone created, kept until deleted).
  std::string for_run;

  std::string provider;  // "netns" | "command"
  // netns: the nodes reach beyond this machine (package indexes, datasets) through the
  // bridge: a default route and masquerading (NAT) of the cluster's subnet. Off: the nodes
  // reach only this machine's bridge address (the server and the controller).
  bool outbound = false;
  // command: {node} {cluster} {munge_key} {slurm_conf} are replaced; start prints the node's
  // address (IP or host name) on its last line of output, stop is given the node again.
  std::string start_command, stop_command;
  int provider_timeout_s = 300;  // a node not registered by then is failed (ResumeTimeout)
  // netns: the /24 subnet ("10.78.5"), nodes at .10+i, the bridge (host side .1).
  std::string subnet, bridge;

  std::string dir;  // <home>/clusters/<name>
  std::string ferry_executable;
  int slurmctld_port = 0;
  std::string controller_address;  // where slurmd reaches slurmctld (netns: the bridge's .1)
  std::string server_url;          // how agents on the nodes reach the Ferry server

  // Stored with every field under its member's name; a missing key loads as the initialiser
  // above. Not an object, or a field of the wrong type: Corruption naming the field.
  std::string ToJson() const;
  static Result<ClusterConfig> FromJson(const std::string& text);

  std::string ConfPath() const { return dir + "/slurm.conf"; }
  // munged's socket must be reachable by every user (the whole path executable for all), which
  // a workspace home (0700) is not: it lives in /tmp/ferry-cluster-<hash of dir>/ (0755, ours).
  std::string RunDir() const;
  std::string MungeSocket() const { return RunDir() + "/munge.sock"; }
  // Node names: <cluster>-1 .. <cluster>-<max> (the cluster name made a host name).
  std::string NodeName(int index) const;
  std::vector<std::string> NodeNames() const;
  int NodeIndex(const std::string& node) const;  // 0 when not one of ours
  std::string NodeAddress(int index) const;      // netns only
  // slurm.conf: every node up to the maximum, defined statically; a node takes jobs only once
  // the autoscaler has started it and its slurmd registered (ReturnToService=2).
  std::string SlurmConf(const std::string& controller_host) const;
};

// Checks a create/update request's numbers; the message names the field.
Status ValidateCluster(const ClusterConfig& c);

// 32-bit FNV-1a: short, stable names made from long ones (run directories, node names, veths).
uint32_t Fnv1a(std::string_view text);

// One node's last known provider state, kept in <dir>/nodes/<node>.json.
struct NodeRecord {
  std::string node;
  std::string state;  // starting, started, failed, stopping, stopped
  std::string address;
  std::string error;  // the provider's failure, with its output's tail
  double time = 0;
  double start_seconds = 0;  // how long the provider took to start it (state started)
};
std::vector<NodeRecord> ReadNodeRecords(const ClusterConfig& c);

// The controller (munged + slurmctld, daemons that outlive the server): started when not
// running, waited for until `scontrol ping` answers. Idempotent.
Status EnsureController(const ClusterConfig& c, double timeout_s = 60);
// Stops the nodes (through the provider), then slurmctld and munged. Best effort; returns the
// first error.
Status StopCluster(const ClusterConfig& c);
// Nodes the provider runs that are not among `keep` (after max_nodes went down): stopped.
Status ApplyNodeChanges(const ClusterConfig& c);
// `scontrol reconfigure`, or a restart of slurmctld when the node list changed (jobs survive:
// their state is saved), after slurm.conf was rewritten.
Status ReloadController(const ClusterConfig& c, bool nodes_changed);

class ComputeTarget;
// The cluster as a compute target: `slurm` (the Slurm target of its controller) described with
// the cluster's size and nodes.
std::unique_ptr<ComputeTarget> MakeClusterTarget(const ClusterConfig& c,
                                                 std::unique_ptr<ComputeTarget> slurm);

class NodeProvider;
Status WriteNodeRecord(const ClusterConfig& c, const NodeRecord& r);
// Starts a node through the provider, recording starting -> started | failed (with why).
Status StartNode(const ClusterConfig& c, NodeProvider& provider, const std::string& node);
// Drains the node in Slurm, stops it through the provider, marks it DOWN with `why` (its jobs
// are requeued).
enum class StopKind {
  kIdle,    // scale down: a node that got a job meanwhile is resumed and kept (FailedPrecondition)
  kFailed,  // never registered: recorded failed (started again only after a pause)
  kLost,    // gone under its jobs (reclaimed, died): recorded stopped, `why` kept as its error
};
Status StopNode(const ClusterConfig& c, NodeProvider& provider, const std::string& node,
                const std::string& why, StopKind kind);

// The `cluster` row of the kind table (kind.h), in cluster_kind.cc.
Result<Attached> CreateManagedCluster(const std::string& name, const nlohmann::json& body,
                                      const KindHost& host);
// Brings the cluster's network, the server's listener for its nodes and its controller up (all
// idempotent), then makes its target.
Result<std::shared_ptr<ComputeTarget>> StartManagedCluster(const std::string& name,
                                                           const std::string& config_json,
                                                           const KindHost& host);
// The target of a running cluster (its controller's Slurm target, with its autoscaler).
std::shared_ptr<ComputeTarget> MakeManagedClusterTarget(const std::string& name,
                                                        const ClusterConfig& c,
                                                        const KindHost& host);
Status ReleaseManagedCluster(const std::string& name, const std::string& config_json);
// A Slurm command of the cluster (its own SLURM_CONF).
Result<ProcessResult> ClusterSlurm(const ClusterConfig& c, std::vector<std::string> argv);
// This machine's short host name (the controller's SlurmctldHost).
std::string ShortHostName();

}  // namespace ferry::compute
