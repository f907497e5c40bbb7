// The OpenSSH client as Ferry's transport to remote hosts: the user's ~/.ssh/config, agent
// and ProxyJump keep working; connections are multiplexed (ControlMaster); host keys are
// checked against the target's own known_hosts (trust on first use at attach, a changed key
// refused); passwords and key passphrases go through SSH_ASKPASS (this binary, in askpass
// mode) with SSH_ASKPASS_REQUIRE=force, never on a command line or in a file.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "common/subprocess.h"

namespace ferry::compute {

struct SshEndpoint {
  std::string host;
  int port = 22;
  std::string user;
  std::string key_file;     // private key on the server's machine; empty with a password
  std::string secret;       // password, or the key's passphrase (plaintext in memory only)
  std::string known_hosts;  // this target's known_hosts file
  std::string
      control_dir;      // where ControlMaster sockets live (short path: sockets are <= 108 bytes)
  std::string askpass;  // executable answering SSH_ASKPASS prompts (ferry itself)
  int connect_timeout_s = 10;
};

// How an ssh invocation failed, from its exit code and stderr.
enum class SshFailure { kNone, kHostKeyChanged, kHostKeyUnknown, kAuth, kUnreachable, kRemote };

struct SshResult {
  int exit_code = -1;
  std::string out, err;
  SshFailure failure = SshFailure::kNone;
  // The failure in words for users (no secret in it): "host key of ... changed", ...
  std::string message;
};

class SshClient {
 public:
  explicit SshClient(SshEndpoint ep) : ep_(std::move(ep)) {}
  const SshEndpoint& endpoint() const { return ep_; }
  std::string Describe() const;  // user@host:port

  // Runs a remote shell command line, `input` on its stdin. A non-zero remote exit status is
  // not an error (see SshResult); only a failure to start ssh is.
  // accept_new_key: trust an unknown host key (attach time) and record it.
  Result<SshResult> Run(const std::string& command, const std::string& input = "",
                        int timeout_ms = 60000, bool accept_new_key = false) const;
  // The argv of `ssh ... host` (options included) before the remote command, and the
  // environment it needs (askpass); for long-lived processes such as tunnels.
  std::vector<std::string> Argv(bool multiplexed, bool accept_new_key) const;
  SpawnOptions Spawn(const std::vector<std::string>& argv) const;
  // Ends the multiplexing master, if any.
  void CloseMaster() const;

  // Classifies a finished ssh invocation (and drops the carriage returns of its stderr).
  static void Classify(SshResult* r, const std::string& who);

 private:
  SshEndpoint ep_;
};

// Quotes a string for a POSIX shell (single quotes).
std::string ShellQuote(const std::string& s);

// `ferry` started as SSH_ASKPASS: prints the secret from FERRY_ASKPASS_SECRET. Returns true
// when this process is in that mode (the caller then exits).
bool MaybeRunAskpass();

}  // namespace ferry::compute
