"""A real Slurm cluster on this machine for Ferry's tests: slurmctld on the host, N slurmd "nodes",
each in its own network namespace with its own hostname. No mocks.

    with SlurmCluster(nodes=2) as c:                 # bridge ferbs8 = 10.77.8.1/24, node1..node2
        c.nodes[0].name, c.nodes[0].ip               # "node1", "10.77.8.11"
        job = c.sbatch("-N2", "-o", f"{c.shared_dir}/%j.out", wrap="srun hostname")
        c.wait_job(job, {"COMPLETED"})
        subprocess.run(["squeue"], env=c.env)        # any Slurm client: just SLURM_CONF (c.client_env)
        c.node_stop("node2")                         # a lost node: everything in its netns is killed
        c.node_start("node2")                        # boots again (ReturnToService=2: back to idle)

    # as a pytest fixture
    @pytest.fixture
    def slurm(tmp_path):
        if (why := SlurmCluster.unavailable_reason()):
            pytest.skip(why)
        with SlurmCluster(tmp_path / "slurm", nodes=2) as c:
            yield c

Layout (all of it removed by stop(), unless keep_root=True for the root):
- root (a temp dir unless given): slurm.conf, state/ (StateSaveLocation), log/ (slurmctld.log,
  slurmd.<node>.log, daemon stdout/stderr), shared/ (`shared_dir`).
- run_dir, always a short path /tmp/fslurm-<octet>-XXXX (0755): the private munged's key and socket,
  SlurmdSpoolDir=<run_dir>/spool/%n, TmpFS=<run_dir>/tmp/%n, pid files, the nodes' hosts file. Kept
  short on purpose: slurmstepd and pmix put unix sockets under the spool/TmpFS dirs (sun_path is 108
  bytes, a pytest tmp_path is too long), and munged wants every directory above its socket to be
  world-searchable (pytest's /tmp/pytest-of-root is 0700).
- Every per-node path has %n: the nodes share this machine's filesystem (two slurmd with one spool
  dir, or one TmpFS, break; `srun --mpi=pmix` fails with "File exists").

Clients: a Slurm command talks to this cluster when SLURM_CONF=<root>/slurm.conf is in its
environment (`client_env`; `env` is os.environ without inherited SLURM_* plus that). slurm.conf
carries the controller address (SlurmctldHost=<hostname -s>(10.77.<octet>.1), SlurmctldPort) and the
munge socket (AuthInfo=socket=...): nothing else is needed, so a Ferry server started with `c.env`
uses this cluster. Jobs run as root and inherit the submitter's environment (sbatch --export=ALL).

`shared_dir` (<root>/shared) is seen by every node at the same path, as is every other path on this
machine: the nodes are namespaces, not VMs. Put job scripts and outputs there.

Each node (class SlurmNode) is netns `<prefix><tag>-<name>` (default prefix "ferry-slurm-", tag =
this process's pid) with eth0 = 10.77.<octet>.(10+i)/24 on the cluster's bridge through host-side veth
"fsb<crc32>"; no default route, ip_forward untouched. slurmd runs as
`nsenter --net=/run/netns/NS unshare --uts --mount sh -c 'mount --bind HOSTS /etc/hosts; mount --bind
HOSTNAME /etc/hostname; hostname NAME; exec slurmd -D -N NAME'` (not `ip netns exec`: it remounts /sys, hiding the cgroup tree, and
slurmd 22.05 fails to initialise). The hosts file maps every node name to its IP and the controller's
short hostname to the bridge address, so a node's hostname resolves to its own IP (torch/gloo and
Open MPI pick addresses that way). Job steps are children of slurmd: same namespaces.

Defaults chosen for fast, reliable tests (see _slurm_conf): AuthInfo cred_expire=10 (a requeued job
may restart cred_expire+1 s after it ended; Slurm's default is 121 s), bf_interval=1, SlurmdTimeout=10,
MessageTimeout=5, KillWait=3, ReturnToService=2, JobRequeue=1, proctrack/linuxproc + task/none (no
cgroups, no systemd needed; a job's processes are found by parentage, so a double-forked daemon
escapes scancel — node_stop() still kills it), SlurmdParameters=config_overrides (CPUs/RealMemory as
configured, not as detected), MpiDefault=none (`srun --mpi=pmix` works when libpmix-dev is installed:
Slurm's mpi/pmix dlopens the unversioned .../pmix2/lib/libpmix.so), partitions "debug" (default,
PriorityTier=10) and "low" (PriorityTier=1) over all nodes with PreemptType=preempt/partition_prio,
PreemptMode=REQUEUE: a job in "debug" preempts (requeues) "low" jobs in its way.
Latency: sbatch returns in ~10 ms, but jobs are started by the backfill pass (bf_interval=1), not at
submit time: a job on idle nodes is RUNNING 0-1 s after sbatch; a trivial job is COMPLETED ~1 s after.
No slurmdbd: `sacct` fails ("accounting storage is disabled"); use squeue / scontrol show job, which
keep finished jobs for MinJobAge=300 s.

munge: munge="private" (default) starts a munged of our own (key, socket, pid in run_dir) that
only this cluster uses; munge="system" uses /run/munge/munge.socket.2, starting the system munged
(as user munge, as Debian would) if it is not running, and leaving it running.

Ownership: every cluster writes a record to /tmp/ferry-slurm-registry/<cluster>.json (owner pid +
start time, namespaces, bridge, daemon pids) *before* creating anything; a new cluster first removes
what dead owners left (and netns with its prefix that no live cluster claims). Things this harness
did not create (a bridge or subnet already present) are never touched: the cluster refuses to start
and says which option to change. `python tests/support/slurm.py --cleanup` removes stale clusters by
hand. Defaults are chosen not to collide with tests/support/sshd.py (10.77.0.0/24, ferbr0,
"ferry-ssh-"; its selftest's crash lab uses 10.77.1.0/24): 10.77.8.0/24 (octet=8, env
FERRY_SLURM_OCTET), bridge ferbs<octet> (FERRY_SLURM_BRIDGE), prefix "ferry-slurm-", registry
/tmp/ferry-slurm-registry, SlurmctldPort 6817 or the next free port (FERRY_SLURM_PORT). slurmctld listens on 0.0.0.0:<port> (22.05 has no bind option).

Traps handled here: a zombie counts as dead (PID 1 here reaps orphans only about once a second);
ARP entries for a node's IP are flushed when it stops/starts (else slurmctld keeps sending to the
old eth0's MAC); if br_netfilter makes bridged traffic go through an iptables FORWARD chain that
does not accept it, an ACCEPT rule for our bridge is added (and removed by stop()).

Stdlib only (Python 3.11). Needs root, slurm-wlm (slurmctld, slurmd, client commands), munge, ip
(iproute2), nsenter/unshare/mount (util-linux); iptables only in the br_netfilter case.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import zlib
from pathlib import Path
from typing import NamedTuple

import netns
from netns import disable_ipv6 as _disable_ipv6
from netns import ident as _ident
from netns import alive as _alive
from netns import link_exists as _link_exists
from netns import netns_inode, pid_alive, pids_in_netns

DEFAULT_PREFIX = "ferry-slurm-"
DEFAULT_OCTET = 8
DEFAULT_PORT = 6817
REGISTRY = Path(os.environ.get("FERRY_SLURM_REGISTRY", "/tmp/ferry-slurm-registry"))
SYSTEM_MUNGE_SOCKET = "/run/munge/munge.socket.2"
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_TOOLS = ("slurmctld", "slurmd", "sbatch", "srun", "squeue", "scontrol", "scancel", "sinfo",
          "munged", "ip", "nsenter", "unshare", "mount")
# node states (sinfo %T, lower case, "*" = not responding) in which slurmd has registered and answers
_RESPONDING = {"idle", "allocated", "mixed", "completing", "planned", "reserved"}


def _children(pid: int) -> list[int]:
    """Direct children of pid (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


class SlurmError(netns.NetnsError):
    pass


# ---- small process helpers ------------------------------------------------------------------
def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=SBIN_PATH)


def _run(*argv, **kw) -> subprocess.CompletedProcess:
    return netns.run(*argv, error=SlurmError, **kw)


def kill_netns_processes(inode: int, timeout: float = 10.0) -> list[int]:
    """SIGKILLs every process in the network namespace until none is left; returns their pids."""
    return netns.kill_netns_processes(inode, timeout, error=SlurmError)


def _kill_ident(ident, sig: int = signal.SIGKILL, wait: float = 10.0) -> bool:
    return netns.kill_ident(ident, sig, wait, error=SlurmError)


def _port_free(port: int) -> bool:
    """True if slurmctld could listen on 0.0.0.0:port. SO_REUSEADDR as slurmctld sets it: sockets
    in TIME_WAIT (a cluster stopped a moment ago) do not count, a listener does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
            return True
        except OSError:
            return False


def _forward_rule(bridge: str) -> list[str]:
    return ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT", "-m", "comment",
            "--comment", "ferry-slurm"]


def _parse_kv(line: str) -> dict[str, str]:
    """`scontrol show ... -o` output: "Key=Value Key2=Value with spaces ..." -> dict."""
    out: dict[str, str] = {}
    for m in re.finditer(r"(?:^|\s)([A-Za-z][\w:/.]*)=(.*?)(?=\s+[A-Za-z][\w:/.]*=|\s*$)", line):
        out.setdefault(m.group(1), m.group(2))
    return out


# ---- ownership registry (netns.py) --------------------------------------------------------------
def _registry_lock():
    return netns.registry_lock(REGISTRY)


def _load_records() -> list[tuple[Path, dict]]:
    return netns.load_records(REGISTRY)


def _remove_extras(rec: dict, removed: list[str]) -> None:
    """A dead cluster's daemons (slurmctld, munged) and its iptables rule."""
    for name, ident in rec.get("procs", {}).items():
        if ident and _kill_ident(ident, signal.SIGTERM, wait=5):
            removed.append(f"{name} pid {ident[0]}")
    br = rec.get("bridge")
    if rec.get("iptables") and br:
        if _run("iptables", "-w", "-D", *_forward_rule(br), check=False).returncode == 0:
            removed.append(f"iptables rule for {br}")


def cleanup_stale(prefix: str = DEFAULT_PREFIX, verbose: bool = False) -> list[str]:
    """Removes what dead clusters left behind (their slurmctld, munged, namespaces with every process
    in them — slurmd, slurmstepd, jobs —, veths, bridge, iptables rule, dirs, registry record) and
    netns named `prefix*` that no live cluster claims. Returns what it removed."""
    return netns.cleanup_stale(REGISTRY, prefix, "slurm.py", ("slurmd",), _remove_extras, verbose)


# ---- one node --------------------------------------------------------------------------------
class SlurmNode:
    """One compute node: netns + veth + private UTS/mount namespace (hostname, /etc/hosts) + slurmd.
    Created by SlurmCluster; its spool survives stop()/start() like a VM's disk."""

    _SCRIPT = ('mount --bind "$1" /etc/hosts && mount --bind "$5" /etc/hostname && hostname "$2" '
               '&& exec "$3" -D -f "$4" -N "$2"')

    def __init__(self, cluster: "SlurmCluster", index: int, name: str):
        self.cluster, self.index, self.name = cluster, index, name
        self.ip = f"{cluster.subnet}.{10 + index}"
        self.netns = f"{cluster.prefix}{cluster.tag}-{name}"
        self.veth = "fsb%08x" % zlib.crc32(self.netns.encode())  # host side; IFNAMSIZ is 16
        self.log_path = cluster.log_dir / f"slurmd.{name}.log"
        self.out_path = cluster.log_dir / f"slurmd.{name}.out"
        self.spool = cluster.run_dir / "spool" / name
        self.tmp = cluster.run_dir / "tmp" / name
        self.hostname_file = cluster.run_dir / f"hostname.{name}"
        self._proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        """slurmd's pid (nsenter, unshare and sh exec into it), None when not running."""
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def __repr__(self) -> str:
        return f"SlurmNode({self.name} {self.ip} netns={self.netns} running={self.running})"

    def start(self) -> "SlurmNode":
        """Creates the netns + veth and starts slurmd in it (does not wait for registration: see
        SlurmCluster.node_start). Idempotent."""
        if self.running:
            return self
        if self._proc or netns_inode(self.netns) is not None:
            self.stop()
        for d in (self.spool, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        self.hostname_file.write_text(self.name + "\n")
        self._net_up()
        try:
            with open(self.out_path, "ab") as out:  # a file, never a pipe (SIGPIPE, full buffers)
                self._proc = subprocess.Popen(
                    ["nsenter", f"--net=/run/netns/{self.netns}", "unshare", "--uts", "--mount",
                     "--propagation", "private", "sh", "-c", self._SCRIPT, "slurmd-" + self.name,
                     str(self.cluster.hosts_file), self.name, self.cluster.slurmd_bin,
                     str(self.cluster.conf_path), str(self.hostname_file)],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    env=self.cluster.daemon_env, start_new_session=True)
            self.cluster._save_record()
        except BaseException:
            self.stop()
            raise
        return self

    def _net_up(self) -> None:
        c, ns = self.cluster, self.netns
        c._save_record(extra_ns={ns: {"veth": self.veth}})  # recorded before it exists
        _run("ip", "netns", "add", ns)
        if _link_exists(self.veth):
            _run("ip", "link", "del", self.veth)
        _run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _disable_ipv6(self.veth)
        _run("ip", "link", "set", self.veth, "master", c.bridge, "up")
        # a neighbour entry for this IP may still hold the MAC of a previous incarnation's eth0
        _run("ip", "neigh", "flush", "dev", c.bridge, "to", self.ip, check=False)
        _run("ip", "-n", ns, "-b", "-", input=(
            "link set lo up\n"
            "link set eth0 addrgenmode none\n"
            f"addr add {self.ip}/24 dev eth0\n"
            "link set eth0 up\n"))

    def stop(self) -> list[int]:
        """A lost node: SIGKILLs every process in its network namespace (slurmd, slurmstepd, job
        processes, daemonized or not), deletes the netns and veth. slurmctld is not told: it notices
        after SlurmdTimeout. Returns the killed pids."""
        killed: list[int] = []
        ino = netns_inode(self.netns)
        if ino is not None:
            killed = kill_netns_processes(ino)
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
        self._proc = None
        if ino is not None:
            _run("ip", "netns", "del", self.netns, check=False)
        if _link_exists(self.veth):
            _run("ip", "link", "del", self.veth, check=False)
        if _link_exists(self.cluster.bridge):
            _run("ip", "neigh", "flush", "dev", self.cluster.bridge, "to", self.ip, check=False)
        self.cluster._save_record()
        return killed

    def pids(self) -> list[int]:
        """Live processes now in this node's network namespace."""
        ino = netns_inode(self.netns)
        return [p for p in pids_in_netns(ino) if pid_alive(p)] if ino is not None else []

    def exec(self, *argv, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """Runs a command as root in the node's namespaces (net, mount, UTS: its hostname and hosts
        file), outside Slurm: a console on the node."""
        pid = self.pid
        if pid is None:
            raise SlurmError(f"{self.name}: not running")
        return _run("nsenter", "-t", pid, "--net", "--mount", "--uts", "--", *argv,
                    check=check, timeout=timeout)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


# ---- the cluster -----------------------------------------------------------------------------
class LoginNode(NamedTuple):
    """An sshd on a cluster node (SlurmCluster.start_login): log in as root with client_key."""
    node: str
    ip: str
    port: int
    client_key: Path
    known_hosts_line: str


class SlurmCluster:
    """slurmctld + munged on the host and N SlurmNodes on a private bridge; a context manager
    (usable as a pytest fixture). stop() removes every process, namespace, veth and the bridge it
    made, also after a failed test (and at interpreter exit, if nobody called it)."""

    partition = "debug"       # default partition, PriorityTier=10
    low_partition = "low"     # preemptible partition, PriorityTier=1 (PreemptMode=REQUEUE)

    def __init__(self, root: str | os.PathLike | None = None, nodes: int = 2, *,
                 tag: str | None = None, prefix: str = DEFAULT_PREFIX, octet: int | None = None,
                 bridge: str | None = None, port: int | None = None, cpus: int = 2,
                 memory_mb: int = 2000, cred_expire: int = 10, slurmd_timeout: int = 10,
                 message_timeout: int = 5, kill_wait: int = 3, job_requeue: bool = True,
                 munge: str = "private", extra_conf: str | dict = "", keep_root: bool = False,
                 debug: str = "info"):
        """nodes: node1..nodeN. root: where config/state/logs/shared go (default: a temp dir that
        stop() removes unless keep_root). tag: names this cluster's netns/record (default: our pid).
        octet/bridge/prefix/port: see the module docstring. cpus/memory_mb: what each node
        declares (not checked against the hardware). cred_expire, slurmd_timeout,
        message_timeout, kill_wait, job_requeue: the slurm.conf settings of those names
        (cred_expire=5, slurmd_timeout=5 also work here and halve the requeue delays).
        munge: "private" or "system". extra_conf: a dict of slurm.conf settings replacing ours
        ({"KillWait": 30}), or text appended to slurm.conf. debug: SlurmctldDebug/SlurmdDebug."""
        if octet is None:
            octet = int(os.environ.get("FERRY_SLURM_OCTET", DEFAULT_OCTET))
        if not 0 <= octet <= 255:
            raise ValueError("octet must be 0..255")
        if not 1 <= nodes <= 200:
            raise ValueError("nodes must be 1..200")
        if munge not in ("private", "system"):
            raise ValueError("munge must be 'private' or 'system'")
        self.octet = octet
        self.subnet = f"10.77.{octet}"
        self.cidr = f"{self.subnet}.0/24"
        self.gateway = f"{self.subnet}.1"           # this machine (slurmctld), on the bridge
        self.bridge = bridge or os.environ.get("FERRY_SLURM_BRIDGE") or f"ferbs{octet}"
        if len(self.bridge) > 15:
            raise ValueError("bridge name longer than 15 characters")
        self.prefix = prefix
        self.tag = tag or str(os.getpid())
        self.cluster_id = f"{prefix}{self.tag}"
        env_port = os.environ.get("FERRY_SLURM_PORT")
        self._port_request = port if port is not None else (int(env_port) if env_port else None)
        self.port: int | None = None
        self.ctl_host = socket.gethostname().split(".")[0]  # slurmctld insists on `hostname -s`
        self.cpus, self.memory_mb = cpus, memory_mb
        self.cred_expire, self.slurmd_timeout = cred_expire, slurmd_timeout
        self.message_timeout, self.kill_wait = message_timeout, kill_wait
        self.job_requeue, self.munge_mode = job_requeue, munge
        self.extra_conf, self.debug = extra_conf, debug
        self._n_nodes = nodes
        self._own_root = root is None
        self.keep_root = keep_root
        self.root = Path(root) if root is not None else None
        self.run_dir: Path | None = None
        self.nodes: list[SlurmNode] = []
        self._ctld: subprocess.Popen | None = None
        self._munged: subprocess.Popen | None = None
        self._munged_ident = None           # system munged we started (not our child after fork)
        self._created_bridge = False
        self._iptables_rule = False
        self._opened = False
        self._record_path = REGISTRY / f"{self.cluster_id}.json"
        self.slurmctld_bin = _which("slurmctld") or "/usr/sbin/slurmctld"
        self.slurmd_bin = _which("slurmd") or "/usr/sbin/slurmd"
        self.munged_bin = _which("munged") or "/usr/sbin/munged"

    # -- availability --------------------------------------------------------------------------
    @staticmethod
    def unavailable_reason() -> str | None:
        """Why this machine cannot run clusters (for pytest.skip), or None."""
        if os.geteuid() != 0:
            return "SlurmCluster needs root (network namespaces, bind mounts, slurmd)"
        missing = [t for t in _TOOLS if not _which(t)]
        if missing:
            return f"SlurmCluster needs: {', '.join(missing)} (scripts/setup.sh installs them)"
        return None

    @staticmethod
    def cleanup_stale(prefix: str = DEFAULT_PREFIX, verbose: bool = False) -> list[str]:
        return cleanup_stale(prefix, verbose)

    # -- paths and environment -----------------------------------------------------------------
    @property
    def conf_path(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def shared_dir(self) -> Path:
        """A directory every node sees at the same path (all nodes share this machine's disk)."""
        return self.root / "shared"

    @property
    def hosts_file(self) -> Path:
        return self.run_dir / "hosts"

    @property
    def munge_socket(self) -> str:
        return (str(self.run_dir / "munge" / "munge.sock") if self.munge_mode == "private"
                else SYSTEM_MUNGE_SOCKET)

    @property
    def client_env(self) -> dict[str, str]:
        """What a Slurm client (sbatch, srun, squeue, scontrol, scancel, sinfo) needs on top of a
        normal environment to talk to this cluster."""
        return {"SLURM_CONF": str(self.conf_path)}

    @property
    def env(self) -> dict[str, str]:
        """os.environ without inherited SLURM_* variables (a test run inside a Slurm job would
        otherwise steer srun/sbatch), plus client_env and sbin dirs on PATH. A fresh dict each time."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        path = env.get("PATH", "")
        for d in ("/usr/bin", "/usr/sbin", "/bin", "/sbin"):
            if d not in path.split(":"):
                path = f"{path}:{d}" if path else d
        env["PATH"] = path
        env.update(self.client_env)
        return env

    @property
    def daemon_env(self) -> dict[str, str]:
        return {"PATH": SBIN_PATH, "LANG": "C.UTF-8", "SLURM_CONF": str(self.conf_path),
                "HOME": "/root"}

    def mpi_env(self) -> dict[str, str]:
        """Open MPI settings for jobs on this cluster (root, TCP on the cluster subnet only)."""
        return {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                "OMPI_MCA_pml": "ob1", "OMPI_MCA_btl": "self,vader,tcp",
                "OMPI_MCA_btl_tcp_if_include": self.cidr, "OMPI_MCA_oob_tcp_if_include": self.cidr}

    def node(self, name: str) -> SlurmNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r} (nodes: {', '.join(n.name for n in self.nodes)})")

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.nodes]

    # -- start / stop --------------------------------------------------------------------------
    def __enter__(self) -> "SlurmCluster":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 60.0) -> "SlurmCluster":
        """Bridge, munged, slurm.conf, slurmctld, all nodes; returns once every node is idle."""
        if self._opened:
            return self
        why = self.unavailable_reason()
        if why:
            raise SlurmError(why)
        cleanup_stale(self.prefix)
        with _registry_lock():   # refuse before creating anything
            live_ports = set()
            for path, rec in _load_records():
                if not _alive(rec.get("owner")):
                    continue
                if path == self._record_path:
                    raise SlurmError(f"cluster {self.cluster_id} is in use by live pid "
                                     f"{rec['owner'][0]}: pass another tag=")
                if rec.get("bridge") == self.bridge:
                    raise SlurmError(f"bridge {self.bridge} belongs to live cluster "
                                     f"{rec.get('cluster')} (pid {rec['owner'][0]}): pass octet=/"
                                     "bridge= (or FERRY_SLURM_OCTET) to run clusters side by side")
                live_ports.add(rec.get("port"))
            if _link_exists(self.bridge):
                raise SlurmError(f"network interface {self.bridge} exists and was not created by "
                                 "this harness: pass bridge= / octet= (FERRY_SLURM_BRIDGE / "
                                 "FERRY_SLURM_OCTET)")
            used = _run("ip", "-4", "-o", "addr", "show").stdout
            if re.search(rf"inet {re.escape(self.subnet)}\.\d+/", used):
                raise SlurmError(f"subnet {self.cidr} is already in use on this machine: pass "
                                 "octet= (or FERRY_SLURM_OCTET)")
            self.port = self._pick_port(live_ports)
            if self._own_root:
                self.root = Path(tempfile.mkdtemp(prefix="ferry-slurm-"))
            self.root = self.root.resolve()
            self.root.mkdir(parents=True, exist_ok=True)
            self.run_dir = Path(tempfile.mkdtemp(prefix=f"fslurm-{self.octet}-", dir="/tmp"))
            os.chmod(self.run_dir, 0o755)
            self._opened = True
            self._created_bridge = True   # recorded before it exists: a crash from here on is cleaned up
            self._save_record(locked=True)
        atexit.register(self.stop)
        try:
            for d in (self.log_dir, self.state_dir, self.shared_dir, self.run_dir / "spool",
                      self.run_dir / "tmp"):
                d.mkdir(parents=True, exist_ok=True)
            os.chmod(self.shared_dir, 0o1777)
            _run("ip", "link", "add", self.bridge, "type", "bridge")
            _disable_ipv6(self.bridge)
            _run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _run("ip", "link", "set", self.bridge, "up")
            self._ensure_forwarding()
            self.nodes = [SlurmNode(self, i, f"node{i}") for i in range(1, self._n_nodes + 1)]
            self._write_hosts()
            self._start_munge()
            self.conf_path.write_text(self._slurm_conf())
            self._start_slurmctld(timeout)
            for n in self.nodes:
                n.start()
            self.wait_nodes_idle(timeout)
        except BaseException:
            try:
                self.stop()
            except Exception:
                pass
            raise
        return self

    def _pick_port(self, live_ports: set) -> int:
        if self._port_request:
            if not _port_free(self._port_request):
                raise SlurmError(f"SlurmctldPort {self._port_request} is in use: pass port= "
                                 "(or FERRY_SLURM_PORT)")
            return self._port_request
        for p in range(DEFAULT_PORT, DEFAULT_PORT + 200):
            if p != 6818 and p not in live_ports and _port_free(p):  # 6818: SlurmdPort
                return p
        raise SlurmError("no free port for slurmctld in 6817..7016: pass port=")

    def _ensure_forwarding(self) -> None:
        """With br_netfilter loaded and bridge-nf-call-iptables=1, frames between two nodes on our
        bridge traverse iptables' FORWARD chain: if its policy is not ACCEPT (docker sets DROP),
        node-to-node traffic (srun, MPI, gloo) silently disappears. Accept our bridge explicitly."""
        try:
            if Path("/proc/sys/net/bridge/bridge-nf-call-iptables").read_text().strip() != "1":
                return
        except OSError:
            return
        if not _which("iptables"):
            return
        p = _run("iptables", "-w", "-S", "FORWARD", check=False)
        if p.returncode != 0 or "-P FORWARD ACCEPT" in p.stdout:
            return
        self._iptables_rule = True
        self._save_record()
        _run("iptables", "-w", "-I", *_forward_rule(self.bridge))

    def _write_hosts(self) -> None:
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
                 f"{self.gateway}\t{self.ctl_host}"]
        lines += [f"{n.ip}\t{n.name}" for n in self.nodes]
        self.hosts_file.write_text("\n".join(lines) + "\n")
        os.chmod(self.hosts_file, 0o644)

    def _start_munge(self, timeout: float = 10.0) -> None:
        if self.munge_mode == "system":
            return self._start_system_munge(timeout)
        d = self.run_dir / "munge"
        d.mkdir(mode=0o755)
        key = d / "munge.key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(1024))
        with open(self.log_dir / "munged.out", "ab") as out:
            self._munged = subprocess.Popen(
                [self.munged_bin, "-F", f"--socket={d / 'munge.sock'}", f"--key-file={key}",
                 f"--pid-file={d / 'munged.pid'}", f"--seed-file={d / 'munged.seed'}",
                 f"--log-file={self.log_dir / 'munged.log'}"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=self.daemon_env, start_new_session=True)
        self._save_record()
        self._wait_munge(timeout)

    def _wait_munge(self, timeout: float) -> None:
        munge = _which("munge")
        deadline = time.monotonic() + timeout
        while True:
            if self._munged is not None and self._munged.poll() is not None:
                raise SlurmError(f"munged exited with {self._munged.returncode}: "
                                 f"{self._tail(self.log_dir / 'munged.out')}"
                                 f"{self._tail(self.log_dir / 'munged.log')}")
            if os.path.exists(self.munge_socket):
                if not munge or _run(munge, "-n", "-S", self.munge_socket, check=False,
                                     timeout=5).returncode == 0:
                    return
            if time.monotonic() > deadline:
                raise SlurmError(f"munged not answering on {self.munge_socket} after {timeout} s")
            time.sleep(0.02)

    def _start_system_munge(self, timeout: float) -> None:
        munge = _which("munge")
        if munge and _run(munge, "-n", check=False, timeout=5).returncode == 0:
            return  # a running system munged: reuse it, never stop it
        if not Path("/etc/munge/munge.key").exists():
            _run("mungekey", "-c")
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        shutil.chown("/run/munge", "munge", "munge")
        _run("runuser", "-u", "munge", "--", self.munged_bin)   # forks: the daemon outlives us
        self._wait_munge(timeout)

    def _slurm_conf(self) -> str:
        r, run = self.root, self.run_dir
        auth = f"cred_expire={self.cred_expire}"
        if self.munge_mode == "private":
            auth = f"socket={self.munge_socket},{auth}"
        conf = f"""\
# written by tests/support/slurm.py (SlurmCluster {self.cluster_id})
ClusterName=ferry
SlurmctldHost={self.ctl_host}({self.gateway})
SlurmctldPort={self.port}
SlurmdPort=6818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# a requeued job may restart only cred_expire+1 s after it ended (default 120 -> 121 s)
AuthInfo={auth}
StateSaveLocation={self.state_dir}
# nodes share one filesystem: every per-node path needs %n
SlurmdSpoolDir={run}/spool/%n
TmpFS={run}/tmp/%n
SlurmctldPidFile={run}/slurmctld.pid
SlurmdPidFile={run}/slurmd.%n.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.%n.log
SlurmctldDebug={self.debug}
SlurmdDebug={self.debug}
MailProg=/bin/true
# no cgroups (hybrid v1/v2 host, no systemd): processes tracked by parentage
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
SchedulerType=sched/backfill
# a backfill pass every second (default 30): a requeued job whose BeginTime passed starts at once
SchedulerParameters=bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# CPUs/RealMemory as configured below, whatever this machine has
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
SlurmdTimeout={self.slurmd_timeout}
MessageTimeout={self.message_timeout}
KillWait={self.kill_wait}
InactiveLimit=0
MinJobAge=300
JobRequeue={1 if self.job_requeue else 0}
# jobs in partition "{self.partition}" preempt (requeue) jobs in "{self.low_partition}"
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
"""
        for n in self.nodes:
            conf += (f"NodeName={n.name} NodeAddr={n.ip} NodeHostname={n.name} CPUs={self.cpus} "
                     f"RealMemory={self.memory_mb} State=UNKNOWN\n")
        conf += (f"PartitionName={self.partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP "
                 "PriorityTier=10\n"
                 f"PartitionName={self.low_partition} Nodes=ALL MaxTime=INFINITE State=UP "
                 "PriorityTier=1\n")
        if isinstance(self.extra_conf, dict):   # {"KillWait": 30}: replaces the line, or appends
            for key, value in self.extra_conf.items():
                line = f"{key}={value}"
                conf, n = re.subn(rf"(?mi)^{re.escape(key)}=.*$", lambda _m: line, conf)  # noqa: B023 (used at once)
                if not n:
                    conf += line + "\n"
        elif self.extra_conf:                    # text: appended as is (NodeName=/PartitionName= lines)
            conf += "# extra_conf\n" + self.extra_conf.strip() + "\n"
        return conf

    def _start_slurmctld(self, timeout: float) -> None:
        out_path = self.log_dir / "slurmctld.out"
        with open(out_path, "ab") as out:
            # -c: discard saved job/node state; -D: foreground (our child, stopped by pid)
            self._ctld = subprocess.Popen(
                [self.slurmctld_bin, "-D", "-c", "-f", str(self.conf_path)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=self.daemon_env, start_new_session=True)
        self._save_record()
        deadline = time.monotonic() + timeout
        while True:
            if self._ctld.poll() is not None:
                raise SlurmError(f"slurmctld exited with {self._ctld.returncode}: "
                                 f"{self._tail(out_path)}{self._tail(self.log_dir / 'slurmctld.log')}")
            try:
                with socket.create_connection((self.gateway, self.port), timeout=0.5):
                    pass
                if self.run("scontrol", "ping", check=False, timeout=10).returncode == 0:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SlurmError(f"slurmctld not answering on {self.gateway}:{self.port} after "
                                 f"{timeout} s: {self._tail(self.log_dir / 'slurmctld.log')}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stops every node (kills all processes in their namespaces), slurmctld, our munged;
        removes namespaces, veths, the bridge, run_dir, the registry record and (if it made it and
        keep_root is False) the root."""
        if not self._opened:
            return
        errors = []
        for n in self.nodes:
            try:
                n.stop()
            except Exception as e:  # keep going: the rest must still be removed
                errors.append(f"{n.name}: {e}")
        for name in ("_ctld", "_munged"):
            p = getattr(self, name)
            if p is not None:
                if p.poll() is None:
                    p.terminate()
                    try:
                        p.wait(15)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
                setattr(self, name, None)
        with _registry_lock():
            if self._iptables_rule:
                _run("iptables", "-w", "-D", *_forward_rule(self.bridge), check=False)
                self._iptables_rule = False
            if self._created_bridge and _link_exists(self.bridge):
                p = _run("ip", "link", "del", self.bridge, check=False)
                if p.returncode:
                    errors.append(p.stderr.strip())
            self._created_bridge = False
            self._record_path.unlink(missing_ok=True)
        self._opened = False
        atexit.unregister(self.stop)
        if self.run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        if self._own_root and not self.keep_root and self.root:
            shutil.rmtree(self.root, ignore_errors=True)
        if errors:
            raise SlurmError("SlurmCluster cleanup: " + "; ".join(errors))

    close = stop

    def _save_record(self, extra_ns: dict | None = None, locked: bool = False) -> None:
        if not self._opened:
            return
        rec = {
            "cluster": self.cluster_id, "owner": _ident(os.getpid()), "prefix": self.prefix,
            "bridge": self.bridge if self._created_bridge else None, "port": self.port,
            "iptables": self._iptables_rule, "root": str(self.root),
            "procs": {"slurmctld": _ident(self._ctld.pid) if self._ctld else None,
                      "munged": _ident(self._munged.pid) if self._munged else None},
            "remove_dirs": [str(self.run_dir)] + ([str(self.root)] if self._own_root else []),
            "netns": {}}
        for n in self.nodes:
            if netns_inode(n.netns) is not None or n._proc:
                rec["netns"][n.netns] = {"veth": n.veth, "slurmd": _ident(n.pid)}
        rec["netns"].update(extra_ns or {})

        def write():
            tmp = self._record_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(rec, indent=1))
            os.replace(tmp, self._record_path)
        if locked:
            write()
        else:
            with _registry_lock():
                write()

    @staticmethod
    def _tail(path: Path, n: int = 2000) -> str:
        try:
            return "\n" + path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def log_tail(self, n: int = 3000) -> str:
        """The end of slurmctld's and every slurmd's log (for assertion messages)."""
        parts = [f"== slurmctld.log{self._tail(self.log_dir / 'slurmctld.log', n)}"]
        parts += [f"== slurmd.{x.name}.log{self._tail(x.log_path, n)}" for x in self.nodes]
        return "\n".join(parts)

    # -- nodes ---------------------------------------------------------------------------------
    def start_login(self, node: str | None = None, port: int = 22, timeout: float = 10.0,
                    new_host_key: bool = False) -> "LoginNode":
        """An OpenSSH server on a node (default the first), as a cluster's login node: root logs in
        with a key made here, and every session has SLURM_CONF (sshd's SetEnv), so sbatch/squeue
        work there. It dies with the node (everything in its netns is killed). Called again with
        new_host_key=True: the running sshd is replaced by one with a fresh host key (a
        reinstalled login node)."""
        n = self.node(node or self.nodes[0].name)
        if n.pid is None:
            raise SlurmError(f"{n.name}: not running")
        d = self.run_dir / f"login-{n.name}"
        d.mkdir(parents=True, exist_ok=True)
        host_key, client_key = d / "ssh_host_ed25519_key", d / "id_ed25519"
        pid_file = d / "sshd.pid"
        if pid_file.exists():
            try:
                pid = int(pid_file.read_text().split()[0])
                # its connections too (a reinstalled machine keeps none): sshd's children
                for child in _children(pid):
                    os.kill(child, signal.SIGKILL)
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + timeout
                while pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
            except (ValueError, IndexError, ProcessLookupError):
                pass
            pid_file.unlink(missing_ok=True)
        if new_host_key:
            host_key.unlink(missing_ok=True)
            host_key.with_suffix(".pub").unlink(missing_ok=True)
        for key in (host_key, client_key):
            if not key.exists():
                _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ferry-slurm-login", "-f", str(key))
        (d / "authorized_keys").write_text(client_key.with_suffix(".pub").read_text())
        opts = {"ListenAddress": n.ip, "Port": port, "AddressFamily": "inet", "HostKey": host_key,
                "PidFile": pid_file, "LogLevel": "VERBOSE", "PermitRootLogin": "prohibit-password",
                "PubkeyAuthentication": "yes", "PasswordAuthentication": "no",
                "KbdInteractiveAuthentication": "no", "UsePAM": "no",
                # the key files live under /tmp, which StrictModes' path checks refuse
                "StrictModes": "no", "AuthorizedKeysFile": d / "authorized_keys", "UseDNS": "no",
                "PrintMotd": "no", "PrintLastLog": "no", "MaxStartups": "100:30:200",
                "MaxSessions": "100", "SetEnv": f"SLURM_CONF={self.conf_path}"}
        cfg = d / "sshd_config"
        cfg.write_text("".join(f"{k} {v}\n" for k, v in opts.items()))
        log = d / "sshd.log"
        with open(d / "sshd.out", "ab") as out:   # a file, never a pipe
            subprocess.Popen(["nsenter", "-t", str(n.pid), "--net", "--mount", "--uts", "--", "sh", "-c",
                              'mkdir -p /run/sshd && exec /usr/sbin/sshd -D -f "$1" -E "$2"', "sshd-login",
                              str(cfg), str(log)],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((n.ip, port), timeout=1) as c:
                    if c.recv(64).startswith(b"SSH-"):
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise SlurmError(f"{n.name}: the login sshd did not answer on {n.ip}:{port}: "
                             f"{self._tail(log)}{self._tail(d / 'sshd.out')}")
        typ, key = host_key.with_suffix(".pub").read_text().split()[:2]
        return LoginNode(n.name, n.ip, port, client_key, f"{n.ip if port == 22 else f'[{n.ip}]:{port}'} {typ} {key}")

    def node_stop(self, name: str) -> list[int]:
        """A lost node: every process in its netns (slurmd, slurmstepd, the job) is SIGKILLed and the
        netns deleted. slurmctld marks it DOWN after SlurmdTimeout and requeues its --requeue jobs."""
        return self.node(name).stop()

    def node_start(self, name: str, wait: bool = True, timeout: float = 60.0) -> SlurmNode:
        """Boots the node again (fresh netns, slurmd); with wait, returns once this slurmd has
        registered (its SlurmdStartTime changed) and slurmctld sees the node responding
        (ReturnToService=2 turns DOWN into idle on registration). Right after node_stop() slurmctld
        still shows the node idle, so the state alone proves nothing."""
        node = self.node(name)
        if node.running:
            return node
        old = self._slurmd_start_time(name)
        if old is not None and old >= int(time.time()):  # same second: the change would not show
            time.sleep(1.05 - time.time() % 1)
        node.start()
        if wait:
            deadline = time.monotonic() + timeout
            while (st := self._slurmd_start_time(name)) is None or st == old:
                if node._proc is None or node._proc.poll() is not None:
                    raise SlurmError(f"slurmd on {name} exited: {self._tail(node.out_path)}"
                                     f"{self._tail(node.log_path)}")
                if time.monotonic() > deadline:
                    raise SlurmError(f"slurmd on {name} did not register within {timeout} s"
                                     f"{self._tail(node.log_path)}")
                time.sleep(0.05)
            self.wait_nodes_responding(max(1.0, deadline - time.monotonic()), [name])
        return node

    def node_info(self, name: str) -> dict[str, str]:
        """`scontrol show node -o NAME` as a dict (State, Reason, SlurmdStartTime, CPUAlloc, ...)."""
        p = self.run("scontrol", "show", "node", "-o", name, check=False, timeout=15)
        return _parse_kv(p.stdout.strip()) if p.returncode == 0 and p.stdout.strip() else {}

    def _slurmd_start_time(self, name: str) -> float | None:
        v = self.node_info(name).get("SlurmdStartTime", "")
        try:
            return time.mktime(time.strptime(v, "%Y-%m-%dT%H:%M:%S"))
        except ValueError:  # "None": never registered
            return None

    def node_states(self) -> dict[str, str]:
        """{node: sinfo state}, e.g. "idle", "allocated", "down*" ("*": not responding)."""
        p = self.run("sinfo", "-h", "-N", "-o", "%N|%T", check=False, timeout=15)
        states: dict[str, str] = {}
        for line in p.stdout.splitlines():
            if "|" in line:
                node, state = line.strip().split("|", 1)
                states[node] = state
        return states

    def _wait_nodes(self, names, ok, timeout: float, what: str) -> None:
        names = list(names) if names else self.node_names
        deadline = time.monotonic() + timeout
        while True:
            for n in self.nodes:
                if n.name in names and n._proc is not None and n._proc.poll() is not None:
                    raise SlurmError(f"slurmd on {n.name} exited with {n._proc.returncode}: "
                                     f"{self._tail(n.out_path)}{self._tail(n.log_path)}")
            states = self.node_states()
            if all(ok(states.get(x, "")) for x in names):
                return
            if time.monotonic() > deadline:
                raise SlurmError(f"nodes not {what} after {timeout} s: {states}\n{self.log_tail()}")
            time.sleep(0.1)

    def wait_nodes_idle(self, timeout: float = 60.0, nodes: list[str] | None = None) -> None:
        """Waits until the nodes (default: all) are idle."""
        self._wait_nodes(nodes, lambda s: s == "idle", timeout, "idle")

    def wait_nodes_responding(self, timeout: float = 60.0, nodes: list[str] | None = None) -> None:
        """Waits until the nodes are registered and answering (idle, allocated, mixed, ...)."""
        self._wait_nodes(nodes, lambda s: s in _RESPONDING, timeout, "responding")

    # -- client helpers ------------------------------------------------------------------------
    def run(self, *args, check: bool = True, timeout: float = 60, input: str | None = None,
            env: dict | None = None) -> subprocess.CompletedProcess:
        """Runs a Slurm command (`c.run("squeue", "-h")`) against this cluster; text output.
        env entries are added to self.env."""
        full = self.env
        full.update(env or {})
        return _run(*args, check=check, timeout=timeout, input=input, env=full)

    def sbatch(self, *args, script: str | None = None, wrap: str | None = None,
               env: dict | None = None) -> int:
        """Submits a job (`sbatch --parsable args... [--wrap=wrap]`, script text on stdin if
        given) and returns its id."""
        argv = ["sbatch", "--parsable", *args]
        if wrap is not None:
            argv.append(f"--wrap={wrap}")
        p = self.run(*argv, input=script, env=env)
        return int(p.stdout.strip().split(";")[0])

    def job(self, jobid: int | str) -> dict[str, str] | None:
        """`scontrol show job -o ID` as a dict (JobState, NodeList, Restarts, BatchHost, Reason,
        ExitCode, ...), None once Slurm has forgotten it (MinJobAge=300 s after the end)."""
        p = self.run("scontrol", "show", "job", "-o", str(jobid), check=False, timeout=15)
        if p.returncode != 0 or not p.stdout.strip():
            return None
        return _parse_kv(p.stdout.strip().splitlines()[0])

    def job_state(self, jobid: int | str) -> str | None:
        j = self.job(jobid)
        return j.get("JobState") if j else None

    def wait_job(self, jobid: int | str, states, timeout: float = 60.0,
                 poll: float = 0.1) -> dict[str, str]:
        """Waits until the job's JobState is in `states` (a str or a set); returns scontrol's dict."""
        states = {states} if isinstance(states, str) else set(states)
        deadline = time.monotonic() + timeout
        last = None
        while True:
            j = self.job(jobid)
            if j is not None:
                last = j
                if j.get("JobState") in states:
                    return j
            if time.monotonic() > deadline:
                raise SlurmError(f"job {jobid} not in {sorted(states)} after {timeout} s: "
                                 f"{(last or {}).get('JobState')} {(last or {}).get('Reason')}")
            time.sleep(poll)

    def squeue(self, *jobids) -> dict[int, str]:
        """{job id: state} for the given jobs (all when none), in one squeue call; includes finished
        jobs Slurm still remembers."""
        argv = ["squeue", "-h", "-t", "all", "-o", "%i|%T"]
        if jobids:
            argv += ["-j", ",".join(str(j) for j in jobids)]
        out = {}
        for line in self.run(*argv, check=False, timeout=15).stdout.splitlines():
            if "|" in line:
                jid, state = line.strip().split("|", 1)
                out[int(jid.split("_")[0]) if jid.split("_")[0].isdigit() else jid] = state
        return out


if __name__ == "__main__":
    import sys
    if "--cleanup" in sys.argv:
        pfx = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--prefix=")), DEFAULT_PREFIX)
        removed = cleanup_stale(pfx, verbose=True)
        print(f"slurm.py: {len(removed)} stale item(s) removed")
    else:
        print("usage: python tests/support/slurm.py --cleanup [--prefix=ferry-slurm-]")
