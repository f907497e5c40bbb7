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
#include "compute/kind.h"
#include "compute/ssh/ssh_client.h"

namespace ferry::compute {

// What the target record stores (config JSON), secrets sealed. These fields are stored under
// their member names; a key missing from a stored configuration loads as the initialiser here.
struct SshTargetFields {
  std::string host;
  int port = 22;
  std::string user;
  std::string key_file;                     // path on the server's machine
  std::string remote_dir = ".ferry-agent";  // relative to the remote user's home, or absolute
  int max_concurrent_runs = 1;
  std::string known_hosts;  // the trusted host key lines
  // Compute instances (kind "instance"): a single owner, and commands (run on the server's
  // machine) that stop and start the machine.
  std::string kind = "ssh";
  std::string owner;  // the user who may submit; "" = the workspace token's holder
  std::string stop_command, start_command;
  std::string state = "running";  // running | stopping | stopped | starting | failed
  std::string state_reason;
};

// The whole stored configuration: the fields above plus two stored in another form.
struct SshTargetConfig : SshTargetFields {
  std::string secret_sealed;      // key "secret": sealed password or key passphrase; empty: none
  std::string facts_json = "{}";  // key "facts", an object: what attach found (OS, arch, CPUs,
                                  // disk, pythons, GPUs)

  std::string ToJson() const;  // no plaintext secret ever
  // A stored configuration; not an object, or a field of the wrong type: Corruption naming the
  // kind and the field.
  static Result<SshTargetConfig> FromJson(const std::string& text);
};

struct SshTargetDeps {
  std::string home;                  // workspace home (known_hosts and tunnel logs under home/ssh)
  std::string ferry_executable;      // this binary: copied to hosts (same architecture)
  std::string python_package_dir;    // Ferry's in-script package, copied with it
  std::function<int()> server_port;  // the port the tunnel forwards to
  // The address it forwards to (ReverseTunnelAddress of the server's bind address).
  std::string server_address = "127.0.0.1";
  std::string secret;  // unsealed password/passphrase (memory only)
};

// Where a host's reverse tunnel reaches the server on this machine: the address the server
// listens on, or loopback when it listens on every address (or on loopback). A server bound to
// one non-loopback address (a cluster's bridge) does not answer on 127.0.0.1. IPv6 addresses
// come in brackets, as ssh's -R takes them.
std::string ReverseTunnelAddress(const std::string& server_bind);

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

// The `ssh` and `instance` rows of the kind table (kind.h), in ssh_kind.cc.
Result<Attached> AttachSshHost(const std::string& name, const nlohmann::json& body,
                               const KindHost& host);
Result<std::shared_ptr<ComputeTarget>> MakeSshHostTarget(const std::string& name,
                                                         const std::string& config_json,
                                                         const KindHost& host);
Result<Trusted> TrustSshHost(const std::string& name, const std::string& config_json,
                             const KindHost& host);
// An endpoint for probing a host at attach/trust time: a throwaway known_hosts (the key seen is
// then stored with the target).
SshEndpoint ProbeEndpoint(const KindHost& host, const std::string& name, const std::string& address,
                          int port, const std::string& user, const std::string& key_file,
                          const std::string& secret);
// The SSH credentials of a request: a key file (preferred, maybe with a passphrase) or a
// password, never both.
struct SshAuth {
  std::string key_file, password, passphrase;
  const std::string& secret() const { return password.empty() ? passphrase : password; }
};
Result<SshAuth> ParseSshAuth(const nlohmann::json& body);

}  // namespace ferry::compute
