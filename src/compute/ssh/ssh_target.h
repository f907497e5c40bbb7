// The `ssh` compute target: a remote machine reached with the OpenSSH client. Runs look like
// local runs: the agent runs detached on the host (a dropped connection does not stop the
// run) and reaches the server only through a reverse tunnel that the driver keeps up; the
// agent binary, snapshot blobs and environments are cached on the host.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "common/status.h"
#include "compute/compute_target.h"
#include "compute/ssh/ssh_client.h"

namespace ferry::compute {

// What the target record stores (config JSON), secrets sealed.
struct SshTargetConfig {
  std::string host;
  int port = 22;
  std::string user;
  std::string key_file;                     // path on the server's machine
  std::string secret_sealed;                // sealed password or key passphrase; empty: none
  std::string remote_dir = ".ferry-agent";  // relative to the remote user's home, or absolute
  int max_concurrent_runs = 1;
  std::string known_hosts;        // the trusted host key lines
  std::string facts_json = "{}";  // what attach found: OS, arch, CPUs, disk, pythons, GPUs
  // Compute instances (kind "instance"): a single owner, and commands (run on the server's
  // machine) that stop and start the machine.
  std::string kind = "ssh";
  std::string owner;  // the user who may submit; "" = the workspace token's holder
  std::string stop_command, start_command;
  std::string state = "running";  // running | stopping | stopped | starting | failed
  std::string state_reason;

  std::string ToJson() const;  // no plaintext secret ever
  static Result<SshTargetConfig> FromJson(const std::string& text);
};

struct SshTargetDeps {
  std::string home;                  // workspace home (known_hosts and tunnel logs under home/ssh)
  std::string ferry_executable;      // this binary: copied to hosts (same architecture)
  std::string python_package_dir;    // Ferry's in-script package, copied with it
  std::function<int()> server_port;  // the port the tunnel forwards to
  std::string secret;                // unsealed password/passphrase (memory only)
};

// Starts the target's monitor thread (tunnel, job states, reachability).
std::unique_ptr<ComputeTarget> MakeSshTarget(const std::string& name, const SshTargetConfig& config,
                                             SshTargetDeps deps);

// Attach-time probe: connects (trusting the host key on first use into `known_hosts_path`),
// and collects facts. The error says exactly what failed (unreachable, host key, auth, not
// Linux, another CPU architecture).
struct SshProbe {
  std::string known_hosts;  // the host key lines now trusted
  std::string facts_json;
  std::vector<std::string> warnings;  // e.g. no python3, little free disk
};
Result<SshProbe> ProbeSshHost(const SshEndpoint& endpoint, const std::string& remote_dir);

// Short, per-workspace directory for ControlMaster sockets (socket paths are limited to
// 108 bytes, and workspace homes can be long).
std::string SshControlDir(const std::string& home);

}  // namespace ferry::compute
