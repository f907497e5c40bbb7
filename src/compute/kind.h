// The table of compute kinds: everything Ferry knows about a kind, in one row (kinds.cc).
//
// A kind is a folder under src/compute (its driver, its attach-time probe, its stored
// configuration) plus one row here. The server (TargetManager), the CLI (`ferry compute
// attach|create KIND`), the REST API (`GET /api/v1/compute-kinds`) and Studio's attach form
// (which reads that) follow the table; the SDK has one configuration class per row, named by
// it (Azure's class names are the SDK's API). Beyond the table, only what one kind alone has
// names it: a managed cluster's scale settings and node states (server/clusters.cc, the
// metrics' nodes gauge, `ferry compute update`). The table is built on first use (no static
// initialisers), in the style of Slurm's plugin ops tables: plain data and function pointers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "compute/compute_target.h"

namespace ferry {
class Sealer;
}

namespace ferry::compute {

// What a kind's operations may use of the server that hosts them: handed in, never global.
struct KindHost {
  std::string home;                // workspace home (ssh/known_hosts, clusters/NAME)
  std::string ferry_executable;    // this binary (copied to hosts, run by cluster nodes)
  std::string python_package_dir;  // Ferry's in-script package, copied with it
  std::function<int()> server_port;
  std::string server_bind;  // the address the server listens on
  const Sealer* sealer = nullptr;
  // Listens on one more address (a managed cluster's bridge); returns the port.
  std::function<Result<int>(const std::string& address)> add_listener;
  // Whether a named user exists (a compute instance's owner).
  std::function<bool(const std::string& user)> user_exists;
  // The workspace quota's verdict on a target of this many cores and GPUs at most.
  std::function<Status(const std::string& name, int64_t cores, int64_t gpus)> check_quota;
};

// One option of `ferry compute attach|create KIND NAME` and the request field it fills.
struct KindOption {
  enum class Type {
    kString,      // the text as given
    kInt,         // an integer
    kFlag,        // true when given
    kPath,        // a path on this machine, sent absolute
    kSecretFile,  // a file whose first line is sent (never the path): passwords, passphrases
    kNodeSize,    // CPUS,MEMORY_MB[,GPUS] into "cpus", "memory_mb", "gpus" (field unused)
  };
  const char* flag;   // "--host"
  const char* field;  // request body field, "host"
  Type type;
  const char* help;
  bool required = false;
  // Options of one group: exactly one of them must be given (the CLI checks, naming them).
  const char* one_of = "";

  // How Studio's attach form shows it (GET /api/v1/compute-kinds; the CLI ignores these).
  const char* label = "";        // the field's label; "" shows the request field's name
  const char* placeholder = "";  // an example or the default, shown greyed in the empty input
  int64_t min = kNoBound;        // kInt: the least and greatest value the form accepts
  int64_t max = kNoBound;
  const char* choices = "";  // kString: "a|b": the values a select offers; "" any text
  // "FIELD=VALUE": shown and sent only while another field of the form has that value
  // (a flag's value is "true" or "false"); "" always.
  const char* shown_when = "";

  static constexpr int64_t kNoBound = INT64_MIN;

  // Chained setters for the form fields, so rows stay one expression each.
  KindOption& Form(const char* l, const char* example = "") {
    label = l;
    placeholder = example;
    return *this;
  }
  KindOption& Range(int64_t lo, int64_t hi = kNoBound) {
    min = lo;
    max = hi;
    return *this;
  }
  KindOption& Choices(const char* c) {
    choices = c;
    return *this;
  }
  KindOption& When(const char* condition) {
    shown_when = condition;
    return *this;
  }
};

// What attaching (or creating) a target produced.
struct Attached {
  std::string config_json;            // stored with the target; secrets sealed
  std::string answer_json = "{}";     // kind-specific fields of the answer (facts, cluster)
  std::vector<std::string> warnings;  // shown once
  std::string summary;                // one line for the CLI ("user@host:22, Linux x86_64, ...")
};

// What reading a host key again found.
struct Trusted {
  std::string config_json;  // the configuration with the key now trusted
  std::string known_hosts;  // the key lines
  bool changed = false;     // whether they differ from those trusted before
};

struct KindOps {
  const char* name;  // as stored and as in requests: "ssh"
  const char*
      verb;  // the CLI verb that adds one: "attach" (exists already) or "create" (Ferry makes it)
  const char* help;       // one line: what a target of this kind is
  const char* sdk_class;  // the SDK's configuration class (python/ferry/compute.py); "" none
  std::vector<KindOption> options;
  // Validates a request (a JSON object; "name" and "kind" already checked) and probes what it
  // names. Nothing is stored yet. nullptr: cannot be attached (local).
  Result<Attached> (*attach)(const std::string& name, const nlohmann::json& body,
                             const KindHost& host) = nullptr;
  // The driver of a stored target: at server start, after attach and after trust. Brings up
  // what the target needs on this machine (a cluster's controller). nullptr: made elsewhere.
  Result<std::shared_ptr<ComputeTarget>> (*make)(const std::string& name,
                                                 const std::string& config_json,
                                                 const KindHost& host) = nullptr;
  // Reads the host key again (trust on first use after an expected change). nullptr: the kind
  // has no host key.
  Result<Trusted> (*trust)(const std::string& name, const std::string& config_json,
                           const KindHost& host) = nullptr;
  // Undoes what `attach` or `make` created outside the store (a cluster's nodes and network).
  // Called on detach and when attach fails after make. nullptr: nothing to undo.
  Status (*release)(const std::string& name, const std::string& config_json) = nullptr;
  // Compute instances: the configuration (JSON object) holds a power state ("state": running |
  // stopping | stopped | starting | failed, "state_reason"), an "owner" who alone may submit,
  // and a "stop_command" and "start_command" run on the server's machine. The server's
  // TargetManager drives them the same way for every powered kind.
  bool powered = false;
  // Targets that bring nodes up after they are created (the CLI's --wait follows them).
  bool provisions = false;
};

// Every kind, in help order. The table is built on first use and never changes.
const std::vector<KindOps>& Kinds();
// The row of `name`; nullptr when Ferry has no such kind.
const KindOps* FindKind(std::string_view name);
// "ssh, instance, slurm, cluster": the kinds that `attach` accepts, for error messages.
std::string AttachableKindNames();
// The table as JSON, for `GET /api/v1/compute-kinds` (the SDK and tests read it).
std::string KindsJson();

// Why a powered target in `state` takes no runs now ("" when running).
std::string PausedReason(const std::string& name, const std::string& state,
                         const std::string& reason);
// "http://ADDRESS:PORT" for the server's bind address (IPv6 in brackets).
std::string ServerUrl(const std::string& bind, int port);
// Whether the server's bind address cannot tell other machines where to reach it (loopback,
// or every address).
bool BindUnreachableForNodes(const std::string& bind);

}  // namespace ferry::compute
