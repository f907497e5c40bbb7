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
  o->push_back(KindOption{"--key", "key_file", T::kPath, "Private key file (preferred)"}.Form(
      "Key file", "/home/me/.ssh/id_ed25519"));
  o->push_back(KindOption{"--passphrase-file", "passphrase", T::kSecretFile,
                          "File holding the key's passphrase"}
                   .Form("Key passphrase"));
  o->push_back(KindOption{"--password-file", "password", T::kSecretFile,
                          "File holding the password (keys are preferred)"}
                   .Form("Password"));
}

std::vector<KindOption> SshHostOptions(bool instance) {
  std::vector<KindOption> o = {
      KindOption{"--host", "host", T::kString,
                 "Host name or address (as ssh understands it: ~/.ssh/config applies)", true}
          .Form("Host", "gpu1.example.com"),
      KindOption{"--port", "port", T::kInt, "SSH port (default 22)"}
          .Form("Port", "22")
          .Range(1, 65535),
      KindOption{"--user", "user", T::kString, "Remote user", true}.Form("User"),
  };
  AddSshAuthOptions(&o);
  o.push_back(KindOption{"--max-concurrent-jobs", "max_concurrent_runs", T::kInt,
                         "Runs at once on the host (default 1)"}
                  .Form("Max concurrent runs", "1")
                  .Range(1));
  o.push_back(KindOption{"--work-dir", "remote_dir", T::kString,
                         "Ferry's directory on the host (default ~/.ferry-agent)"}
                  .Form("Remote directory", ".ferry-agent"));
  if (instance) {
    o.push_back(KindOption{"--owner", "owner", T::kString,
                           "The user who may submit to it (default: the workspace token's holder)"}
                    .Form("Owner"));
    o.push_back(KindOption{"--stop-command", "stop_command", T::kString,
                           "Shell command, run on the server's machine, that stops the machine"}
                    .Form("Stop command"));
    o.push_back(KindOption{"--start-command", "start_command", T::kString,
                           "Shell command, run on the server's machine, that starts it"}
                    .Form("Start command"));
  }
  return o;
}

std::vector<KindOption> SlurmOptions() {
  std::vector<KindOption> o = {
      KindOption{"--local", "local", T::kFlag,
                 "The Slurm commands (sbatch, squeue, ...) are on this machine", false, "where"}
          .Form("Slurm commands are on this server machine"),
      KindOption{"--login", "login", T::kString,
                 "USER@HOST of a login node: the Slurm commands run there over SSH", false, "where"}
          .Form("Login node (user@host)", "me@login.hpc.example")
          .When("local=false"),
      KindOption{"--port", "port", T::kInt, "SSH port of the login node (default 22)"}
          .Form("Port", "22")
          .Range(1, 65535)
          .When("local=false"),
  };
  std::vector<KindOption> auth;
  AddSshAuthOptions(&auth);
  for (auto& a : auth) o.push_back(a.When("local=false"));  // the login node's
  o.insert(o.end(),
           {
               KindOption{"--shared-dir", "shared_dir", T::kString,
                          "A directory every node sees at the same path", true}
                   .Form("Shared directory", "/shared/ferry"),
               KindOption{"--partition", "partition", T::kString,
                          "Partition for runs (default: the cluster's default)"}
                   .Form("Partition"),
               KindOption{"--account", "account", T::kString, "Account to charge"}.Form("Account"),
               KindOption{"--qos", "qos", T::kString, "QOS for runs"}.Form("QOS"),
               KindOption{"--low-priority-partition", "low_priority_partition", T::kString,
                          "Partition for 'priority: low' runs (preemptible)"}
                   .Form("Low-priority partition"),
               KindOption{"--low-priority-qos", "low_priority_qos", T::kString,
                          "QOS for 'priority: low' runs (preemptible)"}
                   .Form("Low-priority QOS"),
               KindOption{"--server-url", "server_url", T::kString,
                          "How the nodes reach this server (default: its --bind address)"}
                   .Form("Server URL for the nodes", "http://10.0.0.1:8080"),
           });
  return o;
}

std::vector<KindOption> ClusterOptions() {
  return {
      KindOption{"--min-nodes", "min_nodes", T::kInt, "Nodes always up (default 0)"}
          .Form("Min nodes", "0")
          .Range(0),
      KindOption{"--max-nodes", "max_nodes", T::kInt, "Nodes at most (default 1)"}
          .Form("Max nodes", "1")
          .Range(1, 1000),
      KindOption{"--idle-seconds-before-scaledown", "idle_seconds_before_scaledown", T::kInt,
                 "Idle seconds before a node is stopped (default 300)"}
          .Form("Idle seconds before scale-down", "300")
          .Range(1),
      KindOption{"--vm-size", "vm_size", T::kString,
                 "A node size of the workspace's catalog ('ferry compute sizes list', e.g. "
                 "STANDARD_D2_V2): its CPUs, memory, GPUs and provider"}
          .Form("Node size name", "STANDARD_D2_V2"),
      KindOption{"--node-size", "", T::kNodeSize,
                 "CPUS,MEMORY_MB[,GPUS] of every node (default 1,1024, or --vm-size's)"}
          .Form("Node size"),
      KindOption{"--priority", "priority", T::kString,
                 "dedicated | low (low: every run preemptible, requeued)"}
          .Form("Priority")
          .Choices("dedicated|low"),
      KindOption{"--provider", "provider", T::kString,
                 "What starts nodes: netns (this machine) | command (default: the node size's "
                 "or the workspace's default provider)"}
          .Form("Provider")
          .Choices("netns|command"),
      KindOption{"--outbound", "outbound", T::kFlag,
                 "netns provider: nodes reach beyond this machine (NAT on the cluster's bridge), "
                 "e.g. to install packages"}
          .Form("Outbound network")
          .When("provider=netns"),
      KindOption{"--start-command", "start_command", T::kString,
                 "command provider: starts node {node}; prints its address last"}
          .Form("Start command ({node})")
          .When("provider=command"),
      KindOption{"--stop-command", "stop_command", T::kString,
                 "command provider: stops node {node}"}
          .Form("Stop command ({node})")
          .When("provider=command"),
      KindOption{"--provider-timeout", "provider_timeout_s", T::kInt,
                 "Seconds a node may take to start (default 300)"}
          .Form("Provider timeout (s)", "300")
          .Range(10)
          .When("provider=command"),
      KindOption{"--controller-address", "controller_address", T::kString,
                 "command provider: this machine's address for the nodes"}
          .Form("Controller address")
          .When("provider=command"),
      KindOption{"--server-url", "server_url", T::kString,
                 "command provider: how the nodes reach this server"}
          .Form("Server URL for the nodes")
          .When("provider=command"),
  };
}

// "a|b" -> ["a", "b"]; "" -> [].
json SplitChoices(std::string_view choices) {
  json out = json::array();
  while (!choices.empty()) {
    size_t bar = choices.find('|');
    out.push_back(std::string(choices.substr(0, bar)));
    choices = bar == std::string_view::npos ? std::string_view() : choices.substr(bar + 1);
  }
  return out;
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
      json j = {{"flag", o.flag},
                {"field", o.field},
                {"type", kTypes[static_cast<int>(o.type)]},
                {"help", o.help},
                {"required", o.required},
                {"one_of", o.one_of},
                {"label", *o.label ? o.label : o.field},
                {"placeholder", o.placeholder},
                {"choices", SplitChoices(o.choices)},
                {"shown_when", o.shown_when}};
      if (o.min != KindOption::kNoBound) j["min"] = o.min;
      if (o.max != KindOption::kNoBound) j["max"] = o.max;
      if (o.type == KindOption::Type::kNodeSize) j["fields"] = {"cpus", "memory_mb", "gpus"};
      opts.push_back(std::move(j));
    }
    arr.push_back({{"name", k.name},
                   {"verb", k.verb},
                   {"help", k.help},
                   {"sdk_class", k.sdk_class},
                   {"attachable", k.attach != nullptr},
                   {"powered", k.powered},
                   {"provisions", k.provisions},
                   {"host_key", k.trust != nullptr},
                   {"options", opts}});
  }
  return json{{"kinds", arr}}.dump();
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
