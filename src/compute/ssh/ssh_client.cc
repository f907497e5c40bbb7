// OpenSSH client invocations.
#include "compute/ssh/ssh_client.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "common/fs.h"

namespace ferry::compute {

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

bool MaybeRunAskpass() {
  const char* mode = std::getenv("FERRY_ASKPASS_MODE");
  if (!mode || std::string(mode) != "1") return false;
  const char* secret = std::getenv("FERRY_ASKPASS_SECRET");
  std::fputs(secret ? secret : "", stdout);
  std::fputs("\n", stdout);
  std::fflush(stdout);
  return true;
}

std::string SshClient::Describe() const {
  return (ep_.user.empty() ? "" : ep_.user + "@") + ep_.host + ":" + std::to_string(ep_.port);
}

std::vector<std::string> SshClient::Argv(bool multiplexed, bool accept_new_key) const {
  std::vector<std::string> a = {"ssh", "-p", std::to_string(ep_.port)};
  if (!ep_.user.empty()) a.insert(a.end(), {"-l", ep_.user});
  auto opt = [&](const std::string& o) { a.insert(a.end(), {"-o", o}); };
  opt("UserKnownHostsFile=" + ep_.known_hosts);
  opt("GlobalKnownHostsFile=/dev/null");
  opt(std::string("StrictHostKeyChecking=") + (accept_new_key ? "accept-new" : "yes"));
  opt("HashKnownHosts=no");
  opt("ConnectTimeout=" + std::to_string(ep_.connect_timeout_s));
  opt("ServerAliveInterval=5");
  opt("ServerAliveCountMax=3");
  opt("NumberOfPasswordPrompts=1");
  opt("LogLevel=ERROR");
  if (!ep_.key_file.empty()) {
    a.insert(a.end(), {"-i", ep_.key_file});
    opt("IdentitiesOnly=yes");
    if (ep_.secret.empty()) opt("BatchMode=yes");
    opt("PreferredAuthentications=publickey");
  } else {
    opt("PreferredAuthentications=password,keyboard-interactive");
    opt("PubkeyAuthentication=no");
  }
  if (multiplexed && !ep_.control_dir.empty()) {
    opt("ControlMaster=auto");
    opt("ControlPath=" + ep_.control_dir + "/%C");
    opt("ControlPersist=120");
  } else {
    opt("ControlPath=none");
  }
  a.push_back(ep_.host);
  return a;
}

SpawnOptions SshClient::Spawn(const std::vector<std::string>& argv) const {
  SpawnOptions so;
  so.argv = argv;
  if (!ep_.secret.empty()) {
    so.env_set["SSH_ASKPASS"] = ep_.askpass;
    so.env_set["SSH_ASKPASS_REQUIRE"] = "force";
    so.env_set["DISPLAY"] = ":0";
    so.env_set["FERRY_ASKPASS_MODE"] = "1";
    so.env_set["FERRY_ASKPASS_SECRET"] = ep_.secret;
  }
  so.env_unset = {"FERRY_RUN_TOKEN"};
  return so;
}

void SshClient::Classify(SshResult* r, const std::string& who) {
  // ssh ends its own messages with "\r\n" (so does a remote tty): without the carriage
  // returns, stderr put into an error message ends where its line does.
  std::erase(r->err, '\r');
  const std::string& e = r->err;
  auto has = [&](const char* s) { return e.find(s) != std::string::npos; };
  r->failure = SshFailure::kNone;
  if (r->exit_code != 255) return;
  if (has("REMOTE HOST IDENTIFICATION HAS CHANGED") ||
      (has("Host key verification failed") && has("has changed"))) {
    r->failure = SshFailure::kHostKeyChanged;
    r->message = "the host key of " + who +
                 " has CHANGED since it was trusted; this may be an attack, or the host was "
                 "reinstalled. If the "
                 "change is expected, trust the new key with 'ferry compute trust NAME'";
  } else if (has("Host key verification failed") || has("No ED25519 host key is known") ||
             has("host key is known")) {
    r->failure = SshFailure::kHostKeyUnknown;
    r->message = "the host key of " + who +
                 " is not trusted; re-attach the target or run 'ferry compute trust NAME'";
  } else if (has("Permission denied") || has("Too many authentication failures") ||
             has("incorrect passphrase") || has("Authentication failed")) {
    r->failure = SshFailure::kAuth;
    r->message = "authentication to " + who + " failed (" + e.substr(0, e.find('\n')) +
                 "); check the user, key or password";
  } else {
    r->failure = SshFailure::kUnreachable;
    std::string first = e.substr(0, e.find('\n'));
    r->message = "cannot reach " + who + (first.empty() ? "" : ": " + first);
  }
}

Result<SshResult> SshClient::Run(const std::string& command, const std::string& input,
                                 int timeout_ms, bool accept_new_key) const {
  if (!ep_.control_dir.empty()) {
    (void)MakeDirs(ep_.control_dir);
    ::chmod(ep_.control_dir.c_str(), 0700);
  }
  std::vector<std::string> argv = Argv(!accept_new_key, accept_new_key);
  argv.push_back(command);
  FERRY_ASSIGN_OR_RETURN(ProcessResult p, RunProcess(Spawn(argv), input, timeout_ms));
  SshResult r;
  r.exit_code = p.exit_code;
  r.out = std::move(p.out);
  r.err = std::move(p.err);
  if (p.timed_out) {
    r.exit_code = 255;
    r.failure = SshFailure::kUnreachable;
    r.message = "ssh to " + Describe() + " did not finish within " +
                std::to_string(timeout_ms / 1000) + " s";
    return r;
  }
  Classify(&r, Describe());
  return r;
}

void SshClient::CloseMaster() const {
  if (ep_.control_dir.empty()) return;
  std::vector<std::string> argv = Argv(true, false);
  argv.insert(argv.end() - 1, {"-O", "exit"});
  (void)RunProcess(Spawn(argv), "", 5000);
}

}  // namespace ferry::compute
