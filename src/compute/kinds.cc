// The table of compute kinds (kind.h). Adding a kind: a folder with its driver and its
// operations, and one row below (ARCHITECTURE.md, "Adding a compute kind").
#include <nlohmann/json.hpp>

#include "compute/cluster/cluster.h"
#include "compute/kind.h"
#include "compute/slurm/slurm_target.h"
#include "compute/ssh/ssh_target.h"

namespace ferry::compute {

using nlohmann::json;
using T = KindOption::Type;

namespace {

// `--key`, `--passphrase-file`, `--password-file`: how every kind reached over SSH authenticates.
void AddSshAuthOptions(std::vector<KindOption>* o) {
  o->push_back({"--key", "key_file", T::kPath, "Private key file (preferred)"});
  o->push_back(
      {"--passphrase-file", "passphrase", T::kSecretFile, "File holding the key's passphrase"});
  o->push_back({"--password-file", "password", T::kSecretFile,
                "File holding the password (keys are preferred)"});
}

std::vector<KindOption> SshHostOptions(bool instance) {
  std::vector<KindOption> o = {
      {"--host", "host", T::kString,
       "Host name or address (as ssh understands it: ~/.ssh/config applies)", true},
      {"--port", "port", T::kInt, "SSH port (default 22)"},
      {"--user", "user", T::kString, "Remote user", true},
  };
  AddSshAuthOptions(&o);
  o.push_back({"--max-concurrent-jobs", "max_concurrent_runs", T::kInt,
               "Runs at once on the host (default 1)"});
  o.push_back({"--work-dir", "remote_dir", T::kString,
               "Ferry's directory on the host (default ~/.ferry-agent)"});
  if (instance) {
    o.push_back({"--owner", "owner", T::kString,
                 "The user who may submit to it (default: the workspace token's holder)"});
    o.push_back({"--stop-command", "stop_command", T::kString,
                 "Shell command, run on the server's machine, that stops the machine"});
    o.push_back({"--start-command", "start_command", T::kString,
                 "Shell command, run on the server's machine, that starts it"});
  }
  return o;
}

std::vector<KindOption> SlurmOptions() {
  std::vector<KindOption> o = {
      {"--local", "local", T::kFlag,
       "The Slurm commands (sbatch, squeue, ...) are on this machine"},
      {"--login", "login", T::kString,
       "USER@HOST of a login node: the Slurm commands run there over SSH"},
      {"--port", "port", T::kInt, "SSH port of the login node (default 22)"},
  };
  AddSshAuthOptions(&o);
  o.insert(o.end(), {
                        {"--partition", "partition", T::kString,
                         "Partition for runs (default: the cluster's default)"},
                        {"--account", "account", T::kString, "Account to charge"},
                        {"--qos", "qos", T::kString, "QOS for runs"},
                        {"--low-priority-partition", "low_priority_partition", T::kString,
                         "Partition for 'priority: low' runs (preemptible)"},
                        {"--low-priority-qos", "low_priority_qos", T::kString,
                         "QOS for 'priority: low' runs (preemptible)"},
                        {"--shared-dir", "shared_dir", T::kString,
                         "A directory every node sees at the same path", true},
                        {"--server-url", "server_url", T::kString,
                         "How the nodes reach this server (default: its --bind address)"},
                    });
  return o;
}

std::vector<KindOption> ClusterOptions() {
  return {
      {"--min-nodes", "min_nodes", T::kInt, "Nodes always up (default 0)"},
      {"--max-nodes", "max_nodes", T::kInt, "Nodes at most (default 1)"},
      {"--idle-seconds-before-scaledown", "idle_seconds_before_scaledown", T::kInt,
       "Idle seconds before a node is stopped (default 300)"},
      {"--node-size", "", T::kNodeSize, "CPUS,MEMORY_MB[,GPUS] of every node (default 1,1024)"},
      {"--priority", "priority", T::kString,
       "dedicated | low (low: every run preemptible, requeued)"},
      {"--provider", "provider", T::kString, "What starts nodes: netns (this machine) | command",
       true},
      {"--start-command", "start_command", T::kString,
       "command provider: starts node {node}; prints its address last"},
      {"--stop-command", "stop_command", T::kString, "command provider: stops node {node}"},
      {"--provider-timeout", "provider_timeout_s", T::kInt,
       "Seconds a node may take to start (default 300)"},
      {"--controller-address", "controller_address", T::kString,
       "command provider: this machine's address for the nodes"},
      {"--server-url", "server_url", T::kString,
       "command provider: how the nodes reach this server"},
  };
}

std::vector<KindOps> BuildKinds() {
  std::vector<KindOps> k;
  k.push_back(
      {"local", "", "This machine: runs start as local processes (always present)", "", {}});
  KindOps ssh{"ssh", "attach", "A machine reached with OpenSSH (key or password)", "RemoteCompute",
              SshHostOptions(false)};
  ssh.attach = AttachSshHost;
  ssh.make = MakeSshHostTarget;
  ssh.trust = TrustSshHost;
  k.push_back(std::move(ssh));
  KindOps instance{"instance", "create",
                   "A single-owner machine over SSH, with a job queue and stop/start commands",
                   "ComputeInstance", SshHostOptions(true)};
  instance.attach = AttachSshHost;
  instance.make = MakeSshHostTarget;
  instance.trust = TrustSshHost;
  instance.powered = true;
  k.push_back(std::move(instance));
  KindOps slurm{"slurm", "attach", "A Slurm cluster (runs become sbatch jobs)", "SlurmCompute",
                SlurmOptions()};
  slurm.attach = AttachSlurmCluster;
  slurm.make = MakeSlurmClusterTarget;
  slurm.trust = TrustSlurmLogin;
  k.push_back(std::move(slurm));
  KindOps cluster{"cluster", "create",
                  "A managed Slurm cluster that grows to --max-nodes when runs queue and shrinks "
                  "to --min-nodes when idle",
                  "AmlCompute", ClusterOptions()};
  cluster.attach = CreateManagedCluster;
  cluster.make = StartManagedCluster;
  cluster.release = ReleaseManagedCluster;
  cluster.provisions = true;
  k.push_back(std::move(cluster));
  return k;
}

}  // namespace

const std::vector<KindOps>& Kinds() {
  static const std::vector<KindOps> kinds = BuildKinds();  // built on first use
  return kinds;
}

const KindOps* FindKind(std::string_view name) {
  for (const auto& k : Kinds()) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

std::string AttachableKindNames() {
  std::string s;
  for (const auto& k : Kinds()) {
    if (k.attach) s += (s.empty() ? "" : ", ") + std::string(k.name);
  }
  return s;
}

std::string KindsJson() {
  json arr = json::array();
  for (const auto& k : Kinds()) {
    json opts = json::array();
    for (const auto& o : k.options) {
      static const char* const kTypes[] = {"string", "int",         "flag",
                                           "path",   "secret_file", "node_size"};
      opts.push_back({{"flag", o.flag},
                      {"field", o.field},
                      {"type", kTypes[static_cast<int>(o.type)]},
                      {"help", o.help},
                      {"required", o.required}});
    }
    arr.push_back({{"name", k.name},
                   {"verb", k.verb},
                   {"help", k.help},
                   {"sdk_class", k.sdk_class},
                   {"attachable", k.attach != nullptr},
                   {"powered", k.powered},
                   {"provisions", k.provisions},
                   {"options", opts}});
  }
  return json{{"kinds", arr}}.dump();
}

Result<std::string> BodyString(const json& body, const char* key, bool required) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) {
    if (required) return Status::InvalidArgument("field '" + std::string(key) + "' is required");
    return std::string();
  }
  if (!it->is_string())
    return Status::InvalidArgument("field '" + std::string(key) + "' must be a string");
  return it->get<std::string>();
}

Result<int> BodyInt(const json& body, const char* key, int fallback) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_number_integer())
    return Status::InvalidArgument("field '" + std::string(key) + "' must be an integer");
  return it->get<int>();
}

Result<int> BodyPort(const json& body, const char* key, int fallback) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_number_integer() || *it < 1 || *it > 65535) {
    return Status::InvalidArgument("field '" + std::string(key) + "' must be 1-65535");
  }
  return it->get<int>();
}

std::string PausedReason(const std::string& name, const std::string& state,
                         const std::string& reason) {
  if (state == "stopping")
    return "compute instance '" + name + "' is stopping (active runs finish first)";
  if (state == "stopped")
    return "compute instance '" + name + "' is stopped; start it with 'ferry compute start " +
           name + "'";
  if (state == "starting") return "compute instance '" + name + "' is starting";
  if (state == "failed") return "compute instance '" + name + "': " + reason;
  return "";
}

std::string ServerUrl(const std::string& bind, int port) {
  return "http://" + (bind.find(':') != std::string::npos ? "[" + bind + "]" : bind) + ":" +
         std::to_string(port);
}

bool BindUnreachableForNodes(const std::string& b) {
  return b.empty() || b == "127.0.0.1" || b == "::1" || b == "localhost" || b == "0.0.0.0" ||
         b == "::";
}

}  // namespace ferry::compute
