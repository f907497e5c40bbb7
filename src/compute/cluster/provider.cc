// The `netns` and `command` node providers.
#include "compute/cluster/provider.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>
#include <vector>

#include "common/fs.h"
#include "common/subprocess.h"
#include "compute/ssh/ssh_client.h"

namespace ferry::compute {
namespace {

std::string Tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : s.substr(s.size() - n);
}

Result<ProcessResult> Sh(const std::string& script, int timeout_ms,
                         const std::map<std::string, std::string>& env = {}) {
  SpawnOptions so;
  so.argv = {"/bin/sh", "-c", script};
  so.env_set = env;
  return RunProcess(so, "", timeout_ms);
}

Status ShOk(const std::string& what, const std::string& script, int timeout_ms = 30000) {
  FERRY_ASSIGN_OR_RETURN(ProcessResult r, Sh(script, timeout_ms));
  if (r.exit_code != 0) {
    return Status::FailedPrecondition(what + " failed (exit code " + std::to_string(r.exit_code) +
                                      "): " + Tail(r.err.empty() ? r.out : r.err, 400));
  }
  return Status::Ok();
}

// Nodes as network namespaces on this machine, on the cluster's own bridge: each runs slurmd
// with its own hostname and /etc/hosts (private UTS and mount namespaces); the filesystem is
// shared with this machine. Needs root, iproute2, util-linux (nsenter, unshare) and slurmd.
class NetnsProvider final : public NodeProvider {
 public:
  explicit NetnsProvider(ClusterConfig c) : c_(std::move(c)) {}

  Status Setup() override {
    const std::string br = ShellQuote(c_.bridge), gw = c_.subnet + ".1";
    FERRY_RETURN_IF_ERROR(ShOk(
        "creating the bridge " + c_.bridge,
        // The bridge exists already when AllocateNetnsSubnet reserved it for this cluster.
        "{ ip link show " + br + " >/dev/null 2>&1 || ip link add " + br +
            " type bridge; } && "
            "{ ip -4 addr show dev " +
            br + " | grep -qF ' " + gw + "/' || ip addr add " + gw + "/24 dev " + br +
            "; } && ip link set " + br +
            " up; "
            "echo 1 > /proc/sys/net/ipv6/conf/" +
            c_.bridge +
            "/disable_ipv6 2>/dev/null; "
            // with br_netfilter, frames between two nodes go through FORWARD: a
            // DROP policy (docker's) would silently cut node-to-node traffic
            "if [ \"$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null)\" = 1 ] && "
            "command -v iptables >/dev/null; then iptables -w -C FORWARD -i " +
            br + " -o " + br + " -j ACCEPT 2>/dev/null || iptables -w -I FORWARD -i " + br +
            " -o " + br + " -j ACCEPT; fi; true"));
    if (c_.outbound) FERRY_RETURN_IF_ERROR(ShOk("opening the nodes' outbound network", Nat("-A")));
    // Every node resolves the controller's and the other nodes' names from this file.
    std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" + gw +
                        "\t" + ControllerHost() + "\n";
    for (int i = 1; i <= c_.max_nodes; ++i)
      hosts += c_.NodeAddress(i) + "\t" + c_.NodeName(i) + "\n";
    return WriteFileAtomic(c_.dir + "/hosts", hosts, 0644);
  }

  Status Teardown() override {
    std::string br = ShellQuote(c_.bridge);
    if (c_.outbound) (void)ShOk("closing the nodes' outbound network", Nat("-D"));
    return ShOk("removing the bridge " + c_.bridge,
                "iptables -w -D FORWARD -i " + br + " -o " + br +
                    " -j ACCEPT 2>/dev/null; "
                    "if ip link show " +
                    br + " >/dev/null 2>&1; then ip link del " + br + "; fi");
  }

  Result<std::string> Start(const std::string& node) override {
    int index = c_.NodeIndex(node);
    if (index == 0)
      return Status::InvalidArgument("'" + node + "' is not a node of cluster '" + c_.name + "'");
    FERRY_RETURN_IF_ERROR(Stop(node));  // a stale namespace of an earlier start
    const std::string ns = Netns(node), veth = Veth(node), ip = c_.NodeAddress(index);
    FERRY_RETURN_IF_ERROR(ShOk(
        "creating the network of node " + node,
        "set -e; ip netns add " + ns + "; ip link add " + veth +
            " type veth peer name eth0 netns " + ns + "; echo 1 > /proc/sys/net/ipv6/conf/" + veth +
            "/disable_ipv6 2>/dev/null || true; "
            "ip link set " +
            veth + " master " + ShellQuote(c_.bridge) +
            " up; "
            "ip neigh flush dev " +
            ShellQuote(c_.bridge) + " to " + ip +
            " 2>/dev/null || true; "
            "ip -n " +
            ns + " addr add " + ip + "/24 dev eth0; ip -n " + ns +
            " link set eth0 up; "
            "ip -n " +
            ns + " link set lo up" +
            (c_.outbound ? "; ip -n " + ns + " route add default via " + c_.subnet + ".1"
                         : std::string())));
    std::string slurmd = FindOnPath("slurmd");
    if (slurmd.empty()) slurmd = "/usr/sbin/slurmd";
    if (::access(slurmd.c_str(), X_OK) != 0)
      return Status::FailedPrecondition("slurmd is not installed (apt install slurmd)");
    FERRY_RETURN_IF_ERROR(MakeDirs(c_.RunDir() + "/spool/" + node));
    FERRY_RETURN_IF_ERROR(MakeDirs(c_.dir + "/tmp/" + node));
    std::string log = c_.dir + "/log/slurmd." + node + ".out";
    UniqueFd out(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!out.valid()) return ErrnoStatus("open", log, errno);
    // The node "booted" a second ago: its own boot clock (a time namespace). Slurm takes a
    // node it powered up as resumed only once the node reports a boot after the request, and
    // every namespace shares this machine's kernel and boot time.
    SpawnOptions so;
    so.argv = {
        "nsenter",
        "--net=/run/netns/" + ns,
        "unshare",
        "--uts",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount --bind \"$1\" /etc/hosts && hostname \"$2\" && exec \"$3\" -D -f \"$4\" -N \"$2\"",
        "slurmd-" + node,
        c_.dir + "/hosts",
        node,
        slurmd,
        c_.ConfPath()};
    so.env_set["SLURM_CONF"] = c_.ConfPath();
    so.stdout_fd = out.get();
    so.stderr_fd = out.get();
    FERRY_ASSIGN_OR_RETURN(pid_t pid, SpawnDetached(so));
    (void)pid;
    return ip;
  }

  bool Alive(const std::string& node) override {
    // The namespace and its slurmd (pid file written by slurmd once it runs).
    struct stat st;
    if (::stat(("/run/netns/" + Netns(node)).c_str(), &st) != 0) return false;
    auto pid = ReadFile(c_.dir + "/run/slurmd." + node + ".pid");
    if (!pid.ok()) return true;  // not written yet: starting
    return ProcessAlive(static_cast<pid_t>(std::atol(pid->c_str())), 0);
  }

  Status Stop(const std::string& node) override {
    const std::string ns = Netns(node);
    struct stat st;
    if (::stat(("/run/netns/" + ns).c_str(), &st) == 0) {
      // Everything whose network namespace is the node's: slurmd, job steps, scripts.
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      for (;;) {
        std::vector<pid_t> pids = PidsInNetns(st.st_ino);
        if (pids.empty()) break;
        for (pid_t p : pids) ::kill(p, SIGKILL);
        if (std::chrono::steady_clock::now() > deadline) {
          return Status::Unavailable("processes of node " + node + " did not die (e.g. pid " +
                                     std::to_string(pids[0]) + ")");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      FERRY_RETURN_IF_ERROR(ShOk("removing the network of node " + node, "ip netns del " + ns));
    }
    return ShOk("removing the link of node " + node,
                "if ip link show " + Veth(node) + " >/dev/null 2>&1; then ip link del " +
                    Veth(node) +
                    "; fi; "
                    "ip neigh flush dev " +
                    ShellQuote(c_.bridge) + " to " +
                    c_.NodeAddress(std::max(1, c_.NodeIndex(node))) + " 2>/dev/null; true");
  }

 private:
  std::string Netns(const std::string& node) const { return "ferry-" + c_.bridge + "-" + node; }

  // The outbound network's rules (op "-A" adds those missing, "-D" deletes them): the
  // subnet masqueraded behind this machine's address on the way out, and forwarding to and
  // from the bridge allowed (a DROP policy, docker's, would cut it). Forwarding is switched on
  // for the machine, as container engines do.
  std::string Nat(const std::string& op) const {
    const std::string br = ShellQuote(c_.bridge), net = c_.subnet + ".0/24";
    const std::pair<std::string, std::string> rules[] = {
        // (table option, chain and rule)
        {"-t nat ", "POSTROUTING -s " + net + " ! -o " + br + " -j MASQUERADE"},
        {"", "FORWARD -i " + br + " ! -o " + br + " -j ACCEPT"},
        {"", "FORWARD -o " + br + " ! -i " + br +
                 " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"}};
    std::string sh =
        "command -v iptables >/dev/null || { echo 'iptables is not installed (apt "
        "install iptables)' >&2; exit 1; }; ";
    if (op == "-A") sh += "echo 1 > /proc/sys/net/ipv4/ip_forward; ";
    for (const auto& [table, rule] : rules) {
      if (op == "-A") {
        // Inserted first: after a REJECT of another tool's they would never match.
        sh += "iptables -w " + table + "-C " + rule + " 2>/dev/null || iptables -w " + table +
              "-I " + rule + " || exit 1; ";
      } else {
        sh += "while iptables -w " + table + "-D " + rule + " 2>/dev/null; do :; done; ";
      }
    }
    return sh + "true";
  }
  std::string Veth(const std::string& node) const {
    char buf[16];
    std::snprintf(buf, sizeof buf, "fcv%08x", Fnv1a(Netns(node)));
    return buf;
  }
  static std::string ControllerHost() {
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    std::string h = host;
    return h.substr(0, h.find('.'));
  }
  // Live (not zombie) processes in the network namespace with that inode.
  static std::vector<pid_t> PidsInNetns(ino_t inode) {
    std::vector<pid_t> out;
    const std::string want = "net:[" + std::to_string(inode) + "]";
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
      const std::string name = e.path().filename();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      char link[64];
      ssize_t n = ::readlink(("/proc/" + name + "/ns/net").c_str(), link, sizeof link - 1);
      if (n <= 0) continue;
      link[n] = '\0';
      pid_t pid = static_cast<pid_t>(std::atol(name.c_str()));
      if (want == link && ProcessAlive(pid, 0)) out.push_back(pid);
    }
    return out;
  }

  ClusterConfig c_;
};

// User commands that start and stop a named node: any cloud CLI, IPMI, wake-on-LAN.
class CommandProvider final : public NodeProvider {
 public:
  explicit CommandProvider(ClusterConfig c) : c_(std::move(c)) {}

  Result<std::string> Start(const std::string& node) override {
    FERRY_ASSIGN_OR_RETURN(ProcessResult r, Run(c_.start_command, node));
    if (r.timed_out) {
      return Status::Unavailable("the start command for " + node + " did not finish within " +
                                 std::to_string(c_.provider_timeout_s) +
                                 " s: " + Tail(r.err + r.out, 400));
    }
    if (r.exit_code != 0) {
      return Status::FailedPrecondition("the start command for " + node +
                                        " failed with exit code " + std::to_string(r.exit_code) +
                                        ": " + Tail(r.err.empty() ? r.out : r.err, 400));
    }
    std::string last;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
      line.erase(0, line.find_first_not_of(" \t\r"));
      line.erase(line.find_last_not_of(" \t\r") + 1);
      if (!line.empty()) last = line;
    }
    if (last.empty()) {
      return Status::FailedPrecondition(
          "the start command for " + node +
          " printed no address (its last line of output must be the node's IP or host name)");
    }
    return last;
  }

  Status Stop(const std::string& node) override {
    FERRY_ASSIGN_OR_RETURN(ProcessResult r, Run(c_.stop_command, node));
    if (r.exit_code != 0) {
      return Status::FailedPrecondition("the stop command for " + node + " failed with exit code " +
                                        std::to_string(r.exit_code) + ": " +
                                        Tail(r.err.empty() ? r.out : r.err, 400));
    }
    return Status::Ok();
  }

 private:
  Result<ProcessResult> Run(const std::string& command, const std::string& node) {
    std::string s = command;
    auto put = [&s](const std::string& key, const std::string& value) {
      for (size_t p = s.find(key); p != std::string::npos; p = s.find(key, p + value.size()))
        s.replace(p, key.size(), value);
    };
    put("{node}", ShellQuote(node));
    put("{cluster}", ShellQuote(c_.name));
    put("{munge_key}", ShellQuote(c_.dir + "/munge/munge.key"));
    put("{slurm_conf}", ShellQuote(c_.ConfPath()));
    return Sh(s, c_.provider_timeout_s * 1000,
              {{"FERRY_NODE", node}, {"FERRY_CLUSTER", c_.name}, {"SLURM_CONF", c_.ConfPath()}});
  }

  ClusterConfig c_;
};

}  // namespace

std::unique_ptr<NodeProvider> MakeNodeProvider(const ClusterConfig& c) {
  if (c.provider == "netns") return std::make_unique<NetnsProvider>(c);
  return std::make_unique<CommandProvider>(c);
}

Result<std::pair<std::string, std::string>> AllocateNetnsSubnet() {
  FERRY_ASSIGN_OR_RETURN(ProcessResult r,
                         Sh("ip -o -4 addr show; ip -o link show; ip -4 route show", 10000));
  if (r.exit_code != 0)
    return Status::FailedPrecondition("cannot list this machine's addresses: " + Tail(r.err, 200));
  for (int x = 0; x < 256; ++x) {
    std::string subnet = "10.78." + std::to_string(x), bridge = "ferryc" + std::to_string(x);
    if (r.out.find(subnet + ".") == std::string::npos &&
        r.out.find(" " + bridge + ":") == std::string::npos &&
        r.out.find(" " + bridge + "@") == std::string::npos) {
      // Reserved by making its bridge: the kernel refuses a second one of that name, so two
      // servers creating clusters at once never share a subnet (the loser tries the next).
      FERRY_ASSIGN_OR_RETURN(ProcessResult add,
                             Sh("ip link add " + ShellQuote(bridge) + " type bridge", 10000));
      if (add.exit_code == 0) return std::make_pair(subnet, bridge);
    }
  }
  return Status::Unavailable("no free subnet in 10.78.0.0/16 for the cluster's nodes");
}

}  // namespace ferry::compute
