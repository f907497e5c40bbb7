// The `slurm` compute target: Ferry never schedules cluster nodes itself; a run becomes one
// sbatch job whose steps start Ferry's agent on the allocated nodes. Slurm commands run on
// the server's machine (--local) or on a login node over SSH. The cluster's shared directory
// holds the agent bundle, the node-side blob cache, job scripts and each run's token (0600);
// agents reach the server at a URL the nodes can reach.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "compute/compute_target.h"
#include "compute/kind.h"
#include "compute/ssh/ssh_client.h"

namespace ferry::compute {

// What the target record stores (config JSON), secrets sealed. These fields are stored under
// their member names; a key missing from a stored configuration loads as the initialiser here.
struct SlurmTargetFields {
  bool local = true;  // commands on this machine; else over SSH (login)
  std::string login_host, login_user, key_file, known_hosts;
  int login_port = 22;
  std::string partition, account, qos;
  std::string low_priority_partition, low_priority_qos;
  std::string shared_dir;  // same path on the server side (or login node) and every node
  std::string server_url;  // how nodes reach the server
  bool server_url_auto =
      false;  // derived from the server's bind address and port (re-derived at start)
  int max_queued_jobs = 1000;  // runs handed to Slurm at once (Slurm queues them)
  std::string
      slurm_conf;  // SLURM_CONF for the commands (a managed cluster's own); empty: inherited
  bool requeue_all = false;  // every run preemptible (a low-priority managed cluster)
};

// The whole stored configuration: the fields above plus two stored in another form.
struct SlurmTargetConfig : SlurmTargetFields {
  std::string secret_sealed;      // key "secret": sealed login password or passphrase; empty: none
  std::string facts_json = "{}";  // key "facts", an object: what attach found (ProbeSlurm)

  std::string ToJson() const;  // no plaintext secret ever
  // A stored configuration; not an object, or a field of the wrong type: Corruption naming the
  // kind and the field.
  static Result<SlurmTargetConfig> FromJson(const std::string& text);
};

struct SlurmTargetDeps {
  std::string name;  // the target's (names its known_hosts file in login mode)
  std::string home;
  std::string ferry_executable;
  std::string python_package_dir;
  std::string secret;  // unsealed login password/passphrase, if any
};

// Runs a shell command where Slurm's commands are (locally, or on the login node).
using SlurmShell = std::function<Result<ProcessResult>(const std::string& command,
                                                       const std::string& input, int timeout_ms)>;
SlurmShell MakeSlurmShell(const SlurmTargetConfig& c, const SlurmTargetDeps& d);

std::unique_ptr<ComputeTarget> MakeSlurmTarget(const std::string& name,
                                               const SlurmTargetConfig& config,
                                               SlurmTargetDeps deps);

// Attach-time checks: the Slurm commands answer, the partitions exist, the shared directory is
// writable. Returns the facts (partitions with node counts and states, gres, version).
Result<std::string> ProbeSlurm(const SlurmTargetConfig& config, const SlurmShell& shell);

// Slurm's `-o 'a|b|c'` output: one row of fields per line.
std::vector<std::vector<std::string>> SplitRows(const std::string& out);

// Parses `squeue -h -t all -o '%i|%j|%T|%r|%V'` output: job id -> (name, state, reason, submit
// time).
struct SlurmJobRow {
  std::string id, name, state, reason, submit;
};
std::vector<SlurmJobRow> ParseSqueue(const std::string& out);
// Parses `sacct -X -n -P -o JobIDRaw,JobName,State,ExitCode,Submit`: state without "by UID",
// the exit code ("2:0"; empty when 0:0) in `reason`.
std::vector<SlurmJobRow> ParseSacct(const std::string& out);

// The `slurm` row of the kind table (kind.h), in slurm_kind.cc.
Result<Attached> AttachSlurmCluster(const std::string& name, const nlohmann::json& body,
                                    const KindHost& host);
Result<std::shared_ptr<ComputeTarget>> MakeSlurmClusterTarget(const std::string& name,
                                                              const std::string& config_json,
                                                              const KindHost& host);
Result<Trusted> TrustSlurmLogin(const std::string& name, const std::string& config_json,
                                const KindHost& host);

}  // namespace ferry::compute
