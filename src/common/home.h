// The workspace home ($FERRY_HOME, default ~/.ferry): where the server, CLI and local agents
// find each other. Layout:
//   ferry.db          metadata (SQLite, WAL)        blobs/       content-addressed store
//   server.json       {"url","pid","port"} of the running server (written after listen)
//   token             the workspace token (0600)    secret       HMAC key for run tokens (0600)
//   server.lock       flock()ed by the running server
//   runs/<id>/        server-side run data (logs)   work/<id>/   local agents' working dirs
#pragma once

#include <string>

#include "common/status.h"

namespace ferry {

struct ServerInfo {
  std::string url;
  int pid = 0;
  int port = 0;
};

// $FERRY_HOME, else $HOME/.ferry. Absolute.
std::string DefaultHome();
std::string HomePath(const std::string& home, const std::string& name);
// Reads server.json; NotFound when no server has written one.
Result<ServerInfo> ReadServerInfo(const std::string& home);
// Reads a secret file (token, secret), trimming whitespace.
Result<std::string> ReadSecretFile(const std::string& path);
// Creates the file with a new random value (0600) if missing; returns its content.
Result<std::string> EnsureSecretFile(const std::string& path);

// Ferry's in-script Python package directory (FERRY_PYTHON_PACKAGE_DIR, else found next to
// this binary: share/ferry/python in an install, python/ in a build tree); empty if none.
std::string FindPythonPackageDir();

}  // namespace ferry
