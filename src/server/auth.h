// Who is calling and what they may do: bearer tokens, roles and the in-memory user directory
// (docs/security.md). Checked from a request's headers, before its body is read.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/mutex.h"
#include "common/status.h"
#include "net/http.h"
#include "store/metadata_store.h"

namespace ferry::server {

// Workspace-wide roles, each including the ones below it.
enum class Role {
  kReader = 0,       // reads everything: runs, logs, metrics, outputs, targets
  kContributor = 1,  // and submits runs and sweeps, creates experiments, manages its own runs
  kAdmin = 2,        // and everyone's runs, users, compute targets, the quota
};
const char* RoleName(Role r);
Result<Role> ParseRole(std::string_view name);

// The bearer of a request's token.
struct Caller {
  enum class Kind {
    kWorkspace,  // the workspace token (the machine's owner): admin, and may stop the server
    kUser,       // a named user's token
    kRunToken,   // any other token: valid only where it is the token of the run in question
  };
  Kind kind = Kind::kRunToken;
  Role role = Role::kReader;  // kWorkspace: kAdmin; kRunToken: none (reader is never used)
  std::string name;           // the user's name; "" for the workspace token
  std::string token;          // kRunToken: the token, to check against a run's
  bool person() const { return kind != Kind::kRunToken; }
  bool at_least(Role r) const { return person() && role >= r; }
};

// The named users and their tokens' hashes, held in memory so that a request is
// authenticated without touching storage. Reload() after every change to the users.
// Thread-safe.
class UserDirectory {
 public:
  explicit UserDirectory(store::MetadataStore* store) : store_(store) {}
  Status Reload() EXCLUDES(mu_);
  std::optional<store::UserRecord> ByToken(std::string_view token) const EXCLUDES(mu_);

 private:
  store::MetadataStore* store_;
  mutable Mutex mu_;
  std::unordered_map<std::string, store::UserRecord> by_hash_ GUARDED_BY(mu_);
};

// The caller a request's Authorization header names. Unauthenticated without one (or with
// another scheme); a token that is neither the workspace token nor a user's is returned as
// kRunToken, to be checked once the run it is meant for is known.
Result<Caller> IdentifyCaller(const net::HttpRequest& req, std::string_view workspace_token,
                              const UserDirectory& users);

}  // namespace ferry::server
