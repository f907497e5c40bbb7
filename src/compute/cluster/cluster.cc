// Managed clusters: slurm.conf, the controller's daemons (munged, slurmctld), and starting and
// stopping nodes through a provider when the autoscaler asks.
#include "compute/cluster/cluster.h"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/fs.h"
#include "common/subprocess.h"
#include "compute/cluster/provider.h"
#include "compute/config_json.h"
#include "compute/ssh/ssh_client.h"

namespace ferry::compute {
namespace {

using nlohmann::json;

std::string Tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : s.substr(s.size() - n);
}

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string UserName() {
  struct passwd* pw = ::getpwuid(::getuid());
  return pw ? pw->pw_name : "root";
}

// Runs a Slurm command against this cluster's configuration.
Result<ProcessResult> Slurm(const ClusterConfig& c, std::vector<std::string> argv,
                            int timeout_ms = 30000) {
  SpawnOptions so;
  so.argv = std::move(argv);
  so.env_set["SLURM_CONF"] = c.ConfPath();
  return RunProcess(so, "", timeout_ms);
}

// A daemon's pid from its pid file, when it is alive.
std::optional<pid_t> LivePid(const std::string& pid_file) {
  auto text = ReadFile(pid_file);
  if (!text.ok()) return std::nullopt;
  pid_t pid = static_cast<pid_t>(std::atol(text->c_str()));
  if (pid <= 0 || !ProcessAlive(pid, 0)) return std::nullopt;
  return pid;
}

void StopDaemon(const std::string& pid_file, double timeout_s) {
  auto pid = LivePid(pid_file);
  if (!pid) return;
  ::kill(*pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (ProcessAlive(*pid, 0) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (ProcessAlive(*pid, 0)) ::kill(*pid, SIGKILL);
  (void)RemoveAll(pid_file);
}

}  // namespace

Status WriteNodeRecord(const ClusterConfig& c, const NodeRecord& r) {
  json j = {{"node", r.node},   {"state", r.state}, {"address", r.address},
            {"error", r.error}, {"time", r.time},   {"start_seconds", r.start_seconds}};
  return WriteFileAtomic(c.dir + "/nodes/" + r.node + ".json", j.dump() + "\n");
}

namespace {

Status StartMunge(const ClusterConfig& c, double timeout_s) {
  const std::string d = c.dir + "/munge";
  if (LivePid(d + "/munged.pid") && PathExists(c.MungeSocket())) return Status::Ok();
  FERRY_RETURN_IF_ERROR(MakeDirs(d, 0755));
  const std::string key = d + "/munge.key";
  if (!PathExists(key)) {
    std::string bytes(1024, '\0');
    std::ifstream rnd("/dev/urandom", std::ios::binary);
    rnd.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!rnd) return Status::IoError("cannot read /dev/urandom for the cluster's munge key");
    FERRY_RETURN_IF_ERROR(WriteFileAtomic(key, bytes, 0400));
  }
  // The socket's directory: ours, a real directory, 0755 (a sticky /tmp keeps others out).
  const std::string run = c.RunDir();
  if (::mkdir(run.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus("mkdir", run, errno);
  struct stat st;
  if (::lstat(run.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid()) {
    return Status::FailedPrecondition(run +
                                      " is not a directory of this user: remove it and try again");
  }
  ::chmod(run.c_str(), 0755);
  (void)RemoveAll(c.MungeSocket());
  std::string munged = FindOnPath("munged");
  if (munged.empty() && PathExists("/usr/sbin/munged")) munged = "/usr/sbin/munged";
  if (munged.empty())
    return Status::FailedPrecondition("munged is not installed (Debian: apt install munge)");
  SpawnOptions so;
  so.argv = {munged,
             "--socket=" + c.MungeSocket(),
             "--key-file=" + key,
             "--pid-file=" + d + "/munged.pid",
             "--seed-file=" + d + "/munged.seed",
             "--log-file=" + c.dir + "/log/munged.log"};
  FERRY_ASSIGN_OR_RETURN(ProcessResult r, RunProcess(so, "", static_cast<int>(timeout_s * 1000)));
  if (r.exit_code != 0) {
    auto log = ReadFile(c.dir + "/log/munged.log");
    return Status::FailedPrecondition("munged did not start (exit code " +
                                      std::to_string(r.exit_code) +
                                      "): " + Tail(r.err + r.out + (log.ok() ? *log : ""), 600));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (!PathExists(c.MungeSocket())) {
    if (std::chrono::steady_clock::now() > deadline)
      return Status::Unavailable("munged's socket did not appear");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::Ok();
}

Status StartSlurmctld(const ClusterConfig& c, double timeout_s) {
  if (!LivePid(c.dir + "/run/slurmctld.pid")) {
    std::string ctld = FindOnPath("slurmctld");
    if (ctld.empty() && PathExists("/usr/sbin/slurmctld")) ctld = "/usr/sbin/slurmctld";
    if (ctld.empty())
      return Status::FailedPrecondition(
          "slurmctld is not installed (Debian: apt install slurmctld)");
    // Daemonizes itself; its saved state (jobs, node power states) is kept across restarts.
    FERRY_ASSIGN_OR_RETURN(
        ProcessResult r, Slurm(c, {ctld, "-f", c.ConfPath()}, static_cast<int>(timeout_s * 1000)));
    if (r.exit_code != 0) {
      auto log = ReadFile(c.dir + "/log/slurmctld.log");
      return Status::FailedPrecondition(
          "slurmctld did not start (exit code " + std::to_string(r.exit_code) +
          "): " + Tail(r.err + r.out + "\n" + (log.ok() ? *log : ""), 800));
    }
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    auto ping = Slurm(c, {"scontrol", "ping"}, 10000);
    if (ping.ok() && ping->exit_code == 0 && ping->out.find("UP") != std::string::npos)
      return Status::Ok();
    if (std::chrono::steady_clock::now() > deadline) {
      auto log = ReadFile(c.dir + "/log/slurmctld.log");
      return Status::Unavailable("slurmctld does not answer after " +
                                 std::to_string(int(timeout_s)) +
                                 " s: " + Tail(log.ok() ? *log : "", 800));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

// The stored configuration's fields, listed once (defaults: the struct's initialisers); every
// one is stored under its member's name.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ClusterConfig, name, min_nodes, max_nodes,
                                                idle_seconds, cpus, memory_mb, gpus, priority,
                                                provider, start_command, stop_command,
                                                provider_timeout_s, subnet, bridge, dir,
                                                ferry_executable, slurmctld_port,
                                                controller_address, server_url, vm_size,
                                                single_owner, owner, for_run, outbound)

std::string ClusterConfig::ToJson() const { return json(*this).dump(); }

Result<ClusterConfig> ClusterConfig::FromJson(const std::string& text) {
  FERRY_ASSIGN_OR_RETURN(json j, ParseConfigObject(text, "cluster configuration"));
  return ConfigFromJson<ClusterConfig>(j, "cluster configuration");
}

uint32_t Fnv1a(std::string_view text) {
  uint32_t h = 2166136261u;
  for (unsigned char ch : text) {
    h ^= ch;
    h *= 16777619u;
  }
  return h;
}

namespace {

// Fnv1a as 8 hex digits.
std::string ShortHash(std::string_view text) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08x", Fnv1a(text));
  return hex;
}

}  // namespace

std::string ClusterConfig::RunDir() const { return "/tmp/ferry-cluster-" + ShortHash(dir); }

std::string ClusterConfig::NodeName(int index) const {
  std::string base;
  for (char ch : name) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    base += (std::isalnum(static_cast<unsigned char>(l)) ? l : '-');
  }
  if (base.empty() || !std::isalpha(static_cast<unsigned char>(base[0]))) base = "c" + base;
  // slurmstepd's sockets are <RunDir()>/spool/<node>/<node>_<job>.<step> and a Unix socket's
  // path holds at most 107 bytes: a node name has at most 26 characters. A longer cluster name
  // (a run-based cluster named after its run) keeps its first 13 and a hash of the whole.
  if (base.size() > 22) base = base.substr(0, 13) + "-" + ShortHash(base);
  return base + "-" + std::to_string(index);
}

std::vector<std::string> ClusterConfig::NodeNames() const {
  std::vector<std::string> out;
  for (int i = 1; i <= max_nodes; ++i) out.push_back(NodeName(i));
  return out;
}

int ClusterConfig::NodeIndex(const std::string& node) const {
  auto dash = node.rfind('-');
  if (dash == std::string::npos) return 0;
  int i = std::atoi(node.c_str() + dash + 1);
  return i >= 1 && NodeName(i) == node ? i : 0;
}

std::string ClusterConfig::NodeAddress(int index) const {
  return subnet + "." + std::to_string(10 + index - 1);
}

std::string ClusterConfig::SlurmConf(const std::string& controller_host) const {
  const bool netns = provider == "netns";
  std::ostringstream o;
  std::string cluster_name;
  for (char ch : NodeName(1).substr(0, NodeName(1).rfind('-')))
    cluster_name += ch == '-' ? '_' : ch;
  o << "# Written by Ferry for managed cluster '" << name
    << "'; `ferry compute update` rewrites it.\n"
    << "ClusterName=" << cluster_name << "\n"
    << "SlurmctldHost=" << controller_host << "(" << controller_address << ")\n"
    << "SlurmctldPort=" << slurmctld_port << "\n"
    << "SlurmdPort=6818\n"
    << "SlurmUser=" << UserName() << "\nSlurmdUser=root\n"
    << "AuthType=auth/munge\nCredType=cred/munge\n"
    // A requeued job may start again cred_expire + 1 s after it ended (default 121 s): short
    // on this machine's nodes, longer where launches cross a network.
    << "AuthInfo=socket=" << MungeSocket() << ",cred_expire=" << (netns ? 10 : 60) << "\n"
    << "StateSaveLocation=" << dir << "/state\n"
    << "SlurmctldPidFile=" << dir << "/run/slurmctld.pid\n"
    << "SlurmctldLogFile=" << dir << "/log/slurmctld.log\n";
  if (netns) {
    // The nodes share this machine's filesystem: every per-node path has %n.
    // The spool holds slurmstepd's Unix sockets (at most 108 bytes of path): in the short
    // run directory, not under the workspace home.
    o << "SlurmdSpoolDir=" << RunDir() << "/spool/%n\nTmpFS=" << dir << "/tmp/%n\n"
      << "SlurmdPidFile=" << dir << "/run/slurmd.%n.pid\nSlurmdLogFile=" << dir
      << "/log/slurmd.%n.log\n";
  }
  o << "MailProg=/bin/true\n"
    << "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
    << "JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/"
       "none\nJobCompType=jobcomp/none\n"
    << "SwitchType=switch/none\nSchedulerType=sched/backfill\nSchedulerParameters=bf_interval=1\n"
    << "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\nMpiDefault=none\n"
    << "ReturnToService=2\nSlurmdTimeout=30\nMessageTimeout=10\nKillWait=15\nInactiveLimit="
       "0\nMinJobAge=300\n"
    << "JobRequeue=1\nTreeWidth=65533\nCommunicationParameters=NoAddrCache\n";
  // Ferry's autoscaler starts and stops the nodes (see autoscaler.h): a stopped node is DOWN
  // (set when stopped) and never allocated; a started one registers and becomes IDLE
  // (ReturnToService=2).
  if (gpus > 0) o << "GresTypes=gpu\n";
  for (int i = 1; i <= max_nodes; ++i) {
    o << "NodeName=" << NodeName(i);
    if (netns) o << " NodeAddr=" << NodeAddress(i) << " NodeHostname=" << NodeName(i);
    o << " CPUs=" << cpus << " RealMemory=" << memory_mb;
    if (gpus > 0) o << " Gres=gpu:" << gpus;
    // No State=: a restarted slurmctld keeps each node's saved state (a State=DOWN here would
    // take every running job's node down at a restart); an unknown node is used only once its
    // slurmd registers.
    o << "\n";
  }
  o << "PartitionName=" << cluster_name << " Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n";
  return o.str();
}

Status ValidateCluster(const ClusterConfig& c) {
  if (c.min_nodes < 0)
    return Status::InvalidArgument("--min-nodes must be >= 0, got " + std::to_string(c.min_nodes));
  if (c.max_nodes < 1 || c.max_nodes > 1000) {
    return Status::InvalidArgument("--max-nodes must be 1-1000, got " +
                                   std::to_string(c.max_nodes));
  }
  if (c.min_nodes > c.max_nodes) {
    return Status::InvalidArgument("--min-nodes (" + std::to_string(c.min_nodes) +
                                   ") is more than --max-nodes (" + std::to_string(c.max_nodes) +
                                   ")");
  }
  if (c.idle_seconds < 1) {
    return Status::InvalidArgument("--idle-seconds-before-scaledown must be >= 1, got " +
                                   std::to_string(c.idle_seconds));
  }
  if (c.cpus < 1 || c.memory_mb < 1 || c.gpus < 0) {
    return Status::InvalidArgument(
        "--node-size wants CPUS,MEMORY_MB[,GPUS] with CPUS >= 1, MEMORY_MB >= 1, GPUS >= 0");
  }
  if (c.priority != "dedicated" && c.priority != "low") {
    return Status::InvalidArgument("--priority: '" + c.priority +
                                   "' is not one of: dedicated, low");
  }
  if (c.provider == "netns") {
    if (c.max_nodes > 200)
      return Status::InvalidArgument("the netns provider runs at most 200 nodes");
    if (c.gpus > 0 && !c.vm_size.empty()) {
      return Status::InvalidArgument(
          "vm_size '" + c.vm_size + "' has " + std::to_string(c.gpus) +
          " GPU(s) per node and the netns provider's nodes have none: pick a size without "
          "GPUs, or an admin gives this size a provider with GPUs ('ferry compute sizes set')");
    }
    if (c.gpus > 0)
      return Status::InvalidArgument(
          "the netns provider's nodes have no GPUs: use --node-size CPUS,MEM");
  } else if (c.provider == "command") {
    if (c.start_command.empty() || c.stop_command.empty()) {
      return Status::InvalidArgument(
          "the command provider needs --start-command and --stop-command");
    }
  } else if (c.provider.empty()) {
    return Status::InvalidArgument(
        "no node provider: give --provider netns|command, or --vm-size SIZE with a workspace "
        "default provider ('ferry compute sizes provider')");
  } else {
    return Status::InvalidArgument("--provider: '" + c.provider +
                                   "' is not one of: netns, command");
  }
  if (c.provider_timeout_s < 10)
    return Status::InvalidArgument("--provider-timeout must be >= 10 seconds");
  return Status::Ok();
}

std::vector<NodeRecord> ReadNodeRecords(const ClusterConfig& c) {
  std::vector<NodeRecord> out;
  for (const std::string& node : c.NodeNames()) {
    auto text = ReadFile(c.dir + "/nodes/" + node + ".json");
    json j = text.ok() ? json::parse(*text, nullptr, false) : json();
    NodeRecord r;
    r.node = node;
    r.state = "stopped";
    if (j.is_object()) {
      r.state = j.value("state", "stopped");
      r.address = j.value("address", "");
      r.error = j.value("error", "");
      r.time = j.value("time", 0.0);
      r.start_seconds = j.value("start_seconds", 0.0);
    }
    out.push_back(std::move(r));
  }
  return out;
}

Status EnsureController(const ClusterConfig& c, double timeout_s) {
  for (const char* sub : {"state", "log", "run", "spool", "tmp", "nodes", "shared"}) {
    FERRY_RETURN_IF_ERROR(MakeDirs(c.dir + "/" + sub));
  }
  FERRY_RETURN_IF_ERROR(StartMunge(c, timeout_s));
  return StartSlurmctld(c, timeout_s);
}

Status StopCluster(const ClusterConfig& c) {
  Status first = Status::Ok();
  auto provider = MakeNodeProvider(c);
  for (const NodeRecord& r : ReadNodeRecords(c)) {
    if (r.state == "stopped") continue;
    Status st = provider->Stop(r.node);
    if (!st.ok() && first.ok()) first = st;
    (void)WriteNodeRecord(c, {r.node, "stopped", "", st.ok() ? "" : st.message(), Now()});
  }
  StopDaemon(c.dir + "/run/slurmctld.pid", 15);
  StopDaemon(c.dir + "/munge/munged.pid", 5);
  (void)RemoveAll(c.RunDir());
  Status net = provider->Teardown();
  return first.ok() ? net : first;
}

Status ApplyNodeChanges(const ClusterConfig& c) {
  auto provider = MakeNodeProvider(c);
  Status first = Status::Ok();
  // Nodes above the new maximum: their provider state is all that is left of them.
  for (int i = c.max_nodes + 1; i <= 1000; ++i) {
    std::string node = c.NodeName(i);
    std::string path = c.dir + "/nodes/" + node + ".json";
    if (!PathExists(path)) break;
    Status st = provider->Stop(node);
    if (!st.ok() && first.ok()) first = st;
    (void)RemoveAll(path);
  }
  return first;
}

Status ReloadController(const ClusterConfig& c, bool nodes_changed) {
  if (nodes_changed) {
    // Slurm 22.05 reads the node list only at start; jobs survive the restart (saved state).
    StopDaemon(c.dir + "/run/slurmctld.pid", 15);
    return EnsureController(c);
  }
  FERRY_ASSIGN_OR_RETURN(ProcessResult r, Slurm(c, {"scontrol", "reconfigure"}));
  if (r.exit_code != 0)
    return Status::Unavailable("scontrol reconfigure failed: " + Tail(r.err, 300));
  return Status::Ok();
}

Status StartNode(const ClusterConfig& c, NodeProvider& provider, const std::string& node) {
  const double t0 = Now();
  (void)WriteNodeRecord(c, {node, "starting", "", "", t0});
  auto addr = provider.Start(node);
  if (!addr.ok()) {
    (void)WriteNodeRecord(c, {node, "failed", "", addr.status().message(), Now()});
    return addr.status();
  }
  if (c.provider != "netns") {
    // Where slurmctld reaches the node's slurmd: only known now.
    auto r = Slurm(c, {"scontrol", "update", "NodeName=" + node, "NodeAddr=" + *addr,
                       "NodeHostname=" + *addr});
    if (!r.ok() || r->exit_code != 0) {
      std::string why =
          "scontrol update NodeAddr failed: " + (r.ok() ? Tail(r->err, 300) : r.status().message());
      (void)provider.Stop(node);
      (void)WriteNodeRecord(c, {node, "failed", "", why, Now()});
      return Status::Unavailable(why);
    }
  }
  const double t1 = Now();
  return WriteNodeRecord(c, {node, "started", *addr, "", t1, t1 - t0});
}

Status StopNode(const ClusterConfig& c, NodeProvider& provider, const std::string& node,
                const std::string& why, StopKind kind) {
  const bool failed = kind == StopKind::kFailed;
  // Drained first: Slurm places nothing new on it. A job that slipped in keeps it up.
  (void)Slurm(c, {"scontrol", "update", "NodeName=" + node, "State=DRAIN",
                  "Reason=ferry: stopping (" + why + ")"});
  auto q = Slurm(c, {"squeue", "-h", "-w", node, "-o", "%i"});
  if (q.ok() && q->exit_code == 0 && !q->out.empty() && kind == StopKind::kIdle) {
    (void)Slurm(c, {"scontrol", "update", "NodeName=" + node, "State=RESUME"});
    return Status::FailedPrecondition("node " + node + " got job " +
                                      q->out.substr(0, q->out.find('\n')) + "; kept");
  }
  (void)WriteNodeRecord(c, {node, "stopping", "", "", Now()});
  Status st = provider.Stop(node);
  (void)Slurm(c, {"scontrol", "update", "NodeName=" + node, "State=DOWN", "Reason=ferry: " + why});
  // DOWN without the drain flag: when it is started again, its registration alone makes it
  // usable (ReturnToService=2).
  (void)Slurm(c, {"scontrol", "update", "NodeName=" + node, "State=UNDRAIN"});
  std::string error = kind == StopKind::kIdle ? "" : why;
  if (!st.ok()) error += (error.empty() ? "" : "; ") + st.message();
  (void)WriteNodeRecord(c, {node, failed ? "failed" : "stopped", "", error, Now()});
  return st;
}

}  // namespace ferry::compute
