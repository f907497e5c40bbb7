"""Real OpenSSH servers as "remote hosts" for Ferry's tests: one network namespace per host, on a
private bridge, each with its own sshd, host key, hostname and test user. No mocks.

    with SshLab(tmp_path / "ssh", hosts=2) as lab:      # bridge ferbr0 = 10.77.0.1/24 + 2 hosts
        h = lab.hosts[0]                                # h.ip == "10.77.0.11", h.port == 22
        subprocess.run([*h.ssh_argv(), "uname -n"])     # key auth as the test user "ferrytest"
        h.run("id -un", password=lab.password)          # password auth via SSH_ASKPASS
        h.block(); ...; h.unblock()                     # network partition, processes keep running
        h.stop()                                        # a lost VM: everything in the netns is killed
                                                        # (h.start() brings a fresh one back, same "disk")

    # as a pytest fixture
    @pytest.fixture
    def ssh_lab(tmp_path):
        if (why := SshLab.unavailable_reason()):
            pytest.skip(why)
        with SshLab(tmp_path / "ssh", hosts=2) as lab:
            yield lab

Each host (class SshHost) is:
- netns `<prefix><tag>-<n>` (default prefix "ferry-ssh-", tag = this process's pid) with eth0 =
  10.77.<octet>.(10+n)/24, plugged into the lab's bridge through host-side veth "fsv<crc32>".
  No default route, ip_forward untouched: hosts reach only the bridge subnet. The host side is
  10.77.<octet>.1.
- a "holder" process (`sleep infinity`, the host's "init") started as
  `nsenter --net=/run/netns/NS unshare --mount --uts --propagation private sh -c ...`, which sets up
  the host's private mount namespace: tmpfs on /run (sshd needs /run/sshd; /run/ferry-ssh holds
  root's authorized_keys), bind-mounted copies of /etc/passwd, shadow, group, hosts, hostname
  (adding the test user; the host's /etc is never written), tmpfs on /home with the user's home
  bind-mounted at /home/<user>, per-host copies over /var/log/{wtmp,btmp,lastlog}, and hostname.
  `nsenter --net` and not `ip netns exec`: the latter remounts /sys.
- sshd started inside the holder's namespaces (`nsenter -t HOLDER --net --mount --uts sshd -D`), with
  its own config, ed25519 host key, pid file and VERBOSE log (-E) under the host's directory.
  UsePAM no: sshd checks the bind-mounted /etc/shadow itself (password hashed with
  `openssl passwd -6`); StrictModes stays on (the paths sshd checks are on root-owned tmpfs).

"Remote" files land on this machine's disk: the user's home on host h is `h.home` here and
`h.remote_home` (/home/<user>) over ssh; every host has its own. Everything else (/tmp, /work, ...) is
shared with this machine unless private_tmp=True (then /tmp is `h.dir/tmp`). /work/main/build is
world-readable (0755 all the way), so the unprivileged test user can run build/bin/ferry; root
logins work too (key: authorized_keys in /run/ferry-ssh, never the host's /root/.ssh). Note: root's
~/.bashrc here runs `pyenv init`, which bash sources for every ssh command (~90 ms more per call) and
puts pyenv's `python3` first; the test user's home is empty: sshd's default PATH
/usr/local/bin:/usr/bin:/bin:/usr/games, `python3` = /usr/bin/python3 (Debian's).

Traps handled here: sshd's stderr goes to a file, not a pipe (SIGPIPE); an ARP entry left INCOMPLETE
during a cut, or holding the MAC of a stopped host's old eth0, delays or breaks the next connection
(unblock()/start()/stop() flush the entries for that IP, on our bridge and in the netns only). Trap
left to callers: PID 1 here reaps orphans only about once a second, so a killed remote process can
linger as a zombie in /proc: use pid_alive(), which counts zombies as dead.

Ownership: every lab writes a record to /tmp/ferry-sshlab-registry/<lab>.json (owner pid + start time,
namespaces, bridge, pids) *before* creating anything. A new lab first removes what dead owners left
(and netns with its prefix that no live lab claims), so a crashed session is cleaned up. Things this
harness did not create (a bridge or subnet already present) are never touched: the lab refuses to
start and says which option to change (octet / bridge / prefix, or env FERRY_SSHLAB_OCTET,
FERRY_SSHLAB_BRIDGE). `python tests/support/sshd.py --cleanup` removes stale labs by hand.

Stdlib only (Python 3.11). Needs root, sshd/ssh/ssh-keygen (openssh-server, openssh-client),
ip (iproute2), nsenter/unshare (util-linux), openssl; iptables for block(mode="drop"); rsync for
rsync tests.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import select
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import zlib
from pathlib import Path

import netns
from netns import disable_ipv6 as _disable_ipv6
from netns import ident as _ident
from netns import alive as _alive
from netns import link_exists as _link_exists
from netns import netns_inode, pids_in_netns

SSHD = "/usr/sbin/sshd"
DEFAULT_PREFIX = "ferry-ssh-"
REGISTRY = Path(os.environ.get("FERRY_SSHLAB_REGISTRY", "/tmp/ferry-sshlab-registry"))
ASKPASS_VAR = "FERRY_SSH_ASKPASS_SECRET"
ALLOCATED_RE = re.compile(r"Allocated port (\d+) for remote forward")
_TOOLS = ("ssh", "ssh-keygen", "ip", "nsenter", "unshare", "openssl", "mount")


class SshLabError(netns.NetnsError):
    pass


# ---- small process helpers ------------------------------------------------------------------
def _run(*argv, **kw) -> subprocess.CompletedProcess:
    return netns.run(*argv, error=SshLabError, **kw)


def kill_netns_processes(inode: int, timeout: float = 10.0) -> list[int]:
    """SIGKILLs every process in the network namespace until none is left; returns their pids."""
    return netns.kill_netns_processes(inode, timeout, error=SshLabError)


def _write_inplace(path: Path, text: str, mode: int | None = None) -> None:
    """Rewrites a file keeping its inode: a file bind-mounted into a namespace sees the new content
    (os.replace would leave the mount on the old inode)."""
    with open(path, "w") as f:
        f.write(text)
    if mode is not None:
        os.chmod(path, mode)


def _hash_password(password: str) -> str:
    return _run("openssl", "passwd", "-6", "-stdin", input=password + "\n").stdout.strip()


# ---- ownership registry (netns.py) --------------------------------------------------------------
def _registry_lock():
    return netns.registry_lock(REGISTRY)


def _load_records() -> list[tuple[Path, dict]]:
    return netns.load_records(REGISTRY)


def cleanup_stale(prefix: str = DEFAULT_PREFIX, verbose: bool = False) -> list[str]:
    """Removes what dead labs left behind (their namespaces with all processes in them — the
    recorded holder and sshd first —, veths, bridge, control dir, registry record) and netns named
    `prefix*` that no live lab claims. Returns what it removed."""
    return netns.cleanup_stale(REGISTRY, prefix, "sshd.py", ("holder", "sshd"), verbose=verbose)


# ---- a remote forward (ssh -R) --------------------------------------------------------------
class RemoteForward:
    """A running `ssh -N -R ...`; `port` is the port sshd listens on inside the host (allocated by
    the server when 0 was asked for, parsed from ssh's "Allocated port N for remote forward")."""

    def __init__(self, proc: subprocess.Popen, port: int, stderr_lines: list[str]):
        self.proc, self.port, self.stderr_lines = proc, port, stderr_lines

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- one host --------------------------------------------------------------------------------
class SshHost:
    """One "remote host": netns + veth + private mount/UTS namespace + sshd + test user.
    Created by SshLab.add_host(); prepared files survive stop()/start() like a VM's disk."""

    def __init__(self, lab: "SshLab", index: int, name: str):
        self.lab, self.index, self.name = lab, index, name
        self.netns = f"{lab.prefix}{lab.tag}-{index}"
        self.veth = "fsv%08x" % zlib.crc32(self.netns.encode())  # host side; IFNAMSIZ is 16
        self.ip = f"{lab.subnet}.{10 + index}"
        self.port = lab.port
        self.user = lab.user
        self.dir = lab.root / "hosts" / name
        self.home = self.dir / "home"                 # the user's home, as this machine sees it
        self.remote_home = f"/home/{lab.user}"         # ... and as the host (ssh) sees it
        self.root_ssh_dir = self.dir / "root-ssh"      # mounted at /run/ferry-ssh inside the host
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.sshd_config = self.dir / "sshd_config"
        self.log_path = self.dir / "sshd.log"
        self.pid_file = self.dir / "sshd.pid"
        self._holder: subprocess.Popen | None = None
        self._sshd: subprocess.Popen | None = None
        self._blocked: str | None = None
        self._prepare()

    # -- properties ----------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self.ip

    @property
    def key(self) -> Path:
        return self.lab.client_key

    @property
    def known_hosts(self) -> Path:
        return self.lab.known_hosts

    @property
    def holder_pid(self) -> int | None:
        return self._holder.pid if self._holder and self._holder.poll() is None else None

    @property
    def sshd_pid(self) -> int | None:
        return self._sshd.pid if self._sshd and self._sshd.poll() is None else None

    @property
    def running(self) -> bool:
        return self.holder_pid is not None and self.sshd_pid is not None

    @property
    def blocked(self) -> str | None:
        return self._blocked

    def __repr__(self) -> str:
        return f"SshHost({self.name} {self.ip}:{self.port} netns={self.netns} running={self.running})"

    # -- files ---------------------------------------------------------------------------------
    def _prepare(self) -> None:
        lab = self.lab
        for d in (self.dir, self.dir / "etc", self.dir / "log", self.root_ssh_dir):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        os.chmod(self.root_ssh_dir, 0o700)
        if not self.home.exists():
            (self.home / ".ssh").mkdir(parents=True)
            for p in (self.home, self.home / ".ssh"):
                os.chown(p, lab.uid, lab.gid)
            os.chmod(self.home, 0o755)
            os.chmod(self.home / ".ssh", 0o700)
        pubs = lab.authorized_keys_text()
        ak = self.home / ".ssh/authorized_keys"
        ak.write_text(pubs)
        os.chown(ak, lab.uid, lab.gid)
        os.chmod(ak, 0o600)
        _write_inplace(self.root_ssh_dir / "authorized_keys", pubs, 0o600)
        if lab.private_tmp:
            (self.dir / "tmp").mkdir(exist_ok=True)
            os.chmod(self.dir / "tmp", 0o1777)
        for f in ("wtmp", "btmp", "lastlog"):
            (self.dir / "log" / f).touch()
        self._write_etc()
        if not self.host_key.exists():
            self._keygen()
        self._write_sshd_config()

    def _write_etc(self, password: str | None = None) -> None:
        lab, user = self.lab, self.lab.user
        password = lab.password if password is None else password
        def keep(text):
            return "".join(l + "\n" for l in text.splitlines() if not l.startswith(user + ":"))
        passwd = keep(Path("/etc/passwd").read_text()) + \
            f"{user}:x:{lab.uid}:{lab.gid}:Ferry test user:{self.remote_home}:/bin/bash\n"
        group = keep(Path("/etc/group").read_text()) + f"{user}:x:{lab.gid}:\n"
        shadow_lines = []
        for l in keep(Path("/etc/shadow").read_text()).splitlines():
            f = l.split(":")
            if f[0] == "root" and lab.root_password_hash:
                f[1] = lab.root_password_hash
            shadow_lines.append(":".join(f))
        # lastchg must not be 0 (that forces a password change); max 99999 = never expires
        shadow_lines.append(f"{user}:{_hash_password(password)}:19000:0:99999:7:::")
        _write_inplace(self.dir / "etc/passwd", passwd, 0o644)
        _write_inplace(self.dir / "etc/group", group, 0o644)
        _write_inplace(self.dir / "etc/shadow", "\n".join(shadow_lines) + "\n", 0o640)
        _write_inplace(self.dir / "etc/hostname", self.name + "\n", 0o644)
        self.write_hosts_file()

    def write_hosts_file(self) -> None:
        lines = ["127.0.0.1\tlocalhost", f"{self.lab.gateway}\tferry-lab-gateway"]
        lines += [f"{h.ip}\t{h.name}" for h in self.lab.hosts]
        if self not in self.lab.hosts:
            lines.append(f"{self.ip}\t{self.name}")
        _write_inplace(self.dir / "etc/hosts", "\n".join(lines) + "\n", 0o644)

    def set_password(self, password: str) -> None:
        """New password for the test user on this host (effective for the next login)."""
        self._write_etc(password)

    def _keygen(self) -> None:
        for p in (self.host_key, self.host_key.with_suffix(".pub")):
            p.unlink(missing_ok=True)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{self.name}-host",
             "-f", self.host_key)

    def _write_sshd_config(self) -> None:
        opts = {
            "ListenAddress": self.ip, "Port": self.port, "AddressFamily": "inet",
            "HostKey": self.host_key, "PidFile": self.pid_file,
            "LogLevel": "VERBOSE", "PermitRootLogin": "yes",
            "PubkeyAuthentication": "yes", "PasswordAuthentication": "yes",
            "KbdInteractiveAuthentication": "no", "UsePAM": "no", "StrictModes": "yes",
            "AuthorizedKeysFile": ".ssh/authorized_keys", "UseDNS": "no",
            "PrintMotd": "no", "PrintLastLog": "no", "X11Forwarding": "no",
            "AllowTcpForwarding": "yes", "AllowAgentForwarding": "yes", "GatewayPorts": "no",
            "AcceptEnv": "LANG LC_* FERRY_*", "MaxStartups": "100:30:200", "MaxSessions": "100",
            "MaxAuthTries": "10", "LoginGraceTime": "30",
            "Subsystem": "sftp /usr/lib/openssh/sftp-server",
        }
        opts.update(self.lab.sshd_options)
        text = "".join(f"{k} {v}\n" for k, v in opts.items() if v is not None)
        # root's keys: never the host's /root/.ssh; /run/ferry-ssh is a bind of root_ssh_dir on a
        # root-owned tmpfs, so StrictModes' path checks pass (they would fail under /tmp).
        text += "Match User root\n    AuthorizedKeysFile /run/ferry-ssh/authorized_keys\n"
        _write_inplace(self.sshd_config, text, 0o600)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> "SshHost":
        """Creates the netns + veth, the mount/UTS namespace and starts sshd; waits for its banner.
        Idempotent."""
        if self.running:
            return self
        if self._holder or self._sshd or netns_inode(self.netns) is not None:
            self.stop()
        self._net_up()
        try:
            self._start_holder(timeout)
            self.lab._save_record()
            self._start_sshd(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _net_up(self) -> None:
        lab, ns = self.lab, self.netns
        lab._save_record(extra_ns={ns: {"veth": self.veth}})  # recorded before it exists
        _run("ip", "netns", "add", ns)
        if _link_exists(self.veth):
            _run("ip", "link", "del", self.veth)
        _run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _disable_ipv6(self.veth)
        _run("ip", "link", "set", self.veth, "master", lab.bridge, "up")
        # a neighbour entry for this IP may still hold the MAC of a previous incarnation's eth0
        # (REACHABLE for up to 45 s): new connections would go to a MAC that no longer exists
        _run("ip", "neigh", "flush", "dev", lab.bridge, "to", self.ip, check=False)
        _run("ip", "-n", ns, "-b", "-", input=(
            "link set lo up\n"
            "link set eth0 addrgenmode none\n"
            f"addr add {self.ip}/24 dev eth0\n"
            "link set eth0 up\n"))

    _HOLDER_SCRIPT = r"""
set -e
d=$1 user=$2 name=$3 private_tmp=$4
mount -t tmpfs -o mode=755,size=16m ferry-ssh-run /run
mkdir -m 755 /run/sshd /run/ferry-ssh
mount --bind "$d/root-ssh" /run/ferry-ssh
for f in passwd shadow group hosts hostname; do
  if [ -e "/etc/$f" ]; then mount --bind "$d/etc/$f" "/etc/$f"; fi
done
mount -t tmpfs -o mode=755,size=1m ferry-ssh-home /home
mkdir -m 755 "/home/$user"
mount --bind "$d/home" "/home/$user"
for f in wtmp btmp lastlog; do
  if [ -f "/var/log/$f" ]; then mount --bind "$d/log/$f" "/var/log/$f"; fi
done
if [ "$private_tmp" = 1 ]; then mount --bind "$d/tmp" /tmp; fi
hostname "$name"
echo ready
exec sleep infinity </dev/null >/dev/null 2>&1
"""

    def _start_holder(self, timeout: float) -> None:
        log = open(self.dir / "holder.log", "ab")
        try:
            p = subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{self.netns}", "unshare", "--mount", "--uts",
                 "--propagation", "private", "sh", "-c", self._HOLDER_SCRIPT, "holder",
                 str(self.dir), self.user, self.name, "1" if self.lab.private_tmp else "0"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        finally:
            log.close()
        self._holder = p
        r, _, _ = select.select([p.stdout], [], [], timeout)
        line = p.stdout.readline() if r else b""
        p.stdout.close()
        if line.strip() != b"ready":
            raise SshLabError(f"{self.name}: namespace setup failed: "
                              f"{(self.dir / 'holder.log').read_text()[-2000:]}")

    def _start_sshd(self, timeout: float = 10.0) -> None:
        holder = self.holder_pid
        if holder is None:
            raise SshLabError(f"{self.name}: not started (no namespace holder)")
        self.pid_file.unlink(missing_ok=True)
        log_size = self.log_path.stat().st_size if self.log_path.exists() else 0
        err_path = self.dir / "sshd.stderr"
        with open(err_path, "wb") as err:  # a file, not a pipe: sshd must never get SIGPIPE
            self._sshd = subprocess.Popen(
                ["nsenter", "-t", str(holder), "--net", "--mount", "--uts", "--",
                 SSHD, "-D", "-f", str(self.sshd_config), "-E", str(self.log_path)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                start_new_session=True)
        self.lab._save_record()
        deadline = time.monotonic() + timeout
        while True:
            if self._sshd.poll() is not None:
                err = err_path.read_text(errors="replace")
                raise SshLabError(f"{self.name}: sshd exited with {self._sshd.returncode}: {err.strip()} "
                                  f"{self.log_text()[log_size:][-2000:]}")
            if self._banner_ok(0.5):
                return
            if time.monotonic() > deadline:
                raise SshLabError(f"{self.name}: sshd not answering on {self.ip}:{self.port} after "
                                  f"{timeout} s: {self.log_text()[log_size:][-2000:]}")
            time.sleep(0.01)

    def _banner_ok(self, timeout: float) -> bool:
        try:
            with socket.create_connection((self.ip, self.port), timeout=timeout) as s:
                s.settimeout(timeout)
                ok = s.recv(64).startswith(b"SSH-")
                s.sendall(b"SSH-2.0-ferry-sshlab-probe\r\n")
                return ok
        except OSError:
            return False

    def stop_sshd(self) -> None:
        """Stops only the listening sshd; established sessions (their own sshd processes) go on."""
        p, self._sshd = self._sshd, None
        if p and p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def restart_sshd(self, timeout: float = 10.0) -> None:
        """Restarts the listening sshd (re-reads config and host key); sessions survive."""
        self._write_sshd_config()
        self.stop_sshd()
        self._start_sshd(timeout)

    def regenerate_host_key(self) -> str:
        """New host key and sshd restart: clients with the old known_hosts line are refused with
        "REMOTE HOST IDENTIFICATION HAS CHANGED". Updates the lab's known_hosts; returns the new line."""
        self._keygen()
        if self.running:
            self.restart_sshd()
        self.lab.write_known_hosts()
        return self.host_key_line()

    def stop(self) -> list[int]:
        """A lost VM: SIGKILLs every process in the host's network namespace (holder, sshd, sessions,
        anything started over ssh, daemonized or not), then deletes the netns and its veth.
        The host's files stay; start() boots it again. Returns the killed pids."""
        killed: list[int] = []
        ino = netns_inode(self.netns)
        if ino is not None:
            killed = kill_netns_processes(ino)
        for p in (self._holder, self._sshd):
            if p is not None:
                if p.poll() is None:
                    p.kill()
                p.wait()
                for s in (p.stdout, p.stderr):
                    if s:
                        s.close()
        self._holder = self._sshd = None
        if ino is not None:
            _run("ip", "netns", "del", self.netns, check=False)
        if _link_exists(self.veth):
            _run("ip", "link", "del", self.veth, check=False)
        if _link_exists(self.lab.bridge):
            _run("ip", "neigh", "flush", "dev", self.lab.bridge, "to", self.ip, check=False)
        self._blocked = None
        self.lab._save_record()
        return killed

    def pids(self) -> list[int]:
        """Processes now in this host's network namespace."""
        ino = netns_inode(self.netns)
        return pids_in_netns(ino) if ino is not None else []

    def exec_ns(self, *argv, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """Runs a command as root directly in the host's namespaces (no ssh): a console on the VM."""
        holder = self.holder_pid
        if holder is None:
            raise SshLabError(f"{self.name}: not running")
        return _run("nsenter", "-t", holder, "--net", "--mount", "--uts", "--", *argv,
                    check=check, timeout=timeout)

    # -- network faults ------------------------------------------------------------------------
    def block(self, mode: str = "link") -> None:
        """Cuts this host off the network; processes keep running.
        mode "link": host-side veth down (the host's eth0 loses carrier, like a pulled cable or a
        dead switch port). mode "drop": iptables DROP on the host's eth0 inside its netns (silent
        loss, links stay up). Either way established TCP connections stall and new ones time out."""
        if self._blocked:
            return
        if mode == "link":
            _run("ip", "link", "set", self.veth, "down")
        elif mode == "drop":
            ns = f"--net=/run/netns/{self.netns}"
            _run("nsenter", ns, "iptables", "-w", "-I", "INPUT", "-i", "eth0", "-j", "DROP")
            _run("nsenter", ns, "iptables", "-w", "-I", "OUTPUT", "-o", "eth0", "-j", "DROP")
        else:
            raise ValueError(f"block mode {mode!r}: use 'link' or 'drop'")
        self._blocked = mode

    def unblock(self) -> None:
        """Ends block(). Also flushes the neighbour (ARP) entries between this machine and the host on
        both sides: an entry left INCOMPLETE during the cut delays the next connection by ~1 s."""
        mode, self._blocked = self._blocked, None
        if mode == "link":
            _run("ip", "link", "set", self.veth, "up")
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                try:
                    if Path(f"/sys/class/net/{self.veth}/operstate").read_text().strip() == "up":
                        break
                except OSError:
                    break
                time.sleep(0.002)
        elif mode == "drop":
            ns = f"--net=/run/netns/{self.netns}"
            _run("nsenter", ns, "iptables", "-w", "-D", "INPUT", "-i", "eth0", "-j", "DROP", check=False)
            _run("nsenter", ns, "iptables", "-w", "-D", "OUTPUT", "-o", "eth0", "-j", "DROP", check=False)
        if mode:
            _run("ip", "-n", self.netns, "neigh", "flush", "dev", "eth0", check=False)
            _run("ip", "neigh", "flush", "dev", self.lab.bridge, "to", self.ip, check=False)

    def cut(self, seconds: float, mode: str = "link", wait: bool = False) -> threading.Timer | None:
        """block() now and unblock() after `seconds`: in the background (returns the timer; cancel()
        it and call unblock() to end early) or, with wait=True, before returning."""
        self.block(mode)
        if wait:
            time.sleep(seconds)
            self.unblock()
            return None
        t = threading.Timer(seconds, self.unblock)
        t.daemon = True
        t.start()
        return t

    # -- client side ---------------------------------------------------------------------------
    def host_key_line(self) -> str:
        """This host's known_hosts entry: "IP ssh-ed25519 AAAA..." ("[IP]:PORT ..." when the port is
        not 22: OpenSSH looks up the bracketed form only for non-default ports)."""
        typ, key = self.host_key.with_suffix(".pub").read_text().split()[:2]
        spec = self.ip if self.port == 22 else f"[{self.ip}]:{self.port}"
        return f"{spec} {typ} {key}"

    def ssh_options(self, key: str | os.PathLike | None = None, *, password: bool = False,
                    known_hosts: str | os.PathLike | None = None, strict: str = "yes",
                    batch: bool | None = None, connect_timeout: float = 5,
                    extra: list[str] | tuple = ()) -> list[str]:
        """OpenSSH client options (no "ssh", no destination): -F /dev/null ignores ~/.ssh/config and
        /etc/ssh/ssh_config; known_hosts defaults to the lab's (all hosts' current keys).
        password=True: password auth only (pair with lab.askpass_env(password)). batch defaults to
        True for the passphrase-less key, False when askpass must answer (password, passphrase)."""
        key = Path(key) if key is not None else self.lab.client_key
        if batch is None:
            batch = not password and key != self.lab.client_key_pp
        o = ["-F", "/dev/null", "-p", str(self.port),
             "-o", f"UserKnownHostsFile={known_hosts or self.lab.known_hosts}",
             "-o", "GlobalKnownHostsFile=/dev/null",
             "-o", f"StrictHostKeyChecking={strict}",
             "-o", "UpdateHostKeys=no",
             "-o", f"ConnectTimeout={int(connect_timeout)}",
             "-o", f"BatchMode={'yes' if batch else 'no'}",
             "-o", "IdentityAgent=none"]
        if password:
            o += ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
                  "-o", "NumberOfPasswordPrompts=1"]
        else:
            o += ["-i", str(key), "-o", "IdentitiesOnly=yes",
                  "-o", "PreferredAuthentications=publickey"]
        return o + [str(x) for x in extra]

    def ssh_argv(self, user: str | None = None, key: str | os.PathLike | None = None,
                 **kw) -> list[str]:
        """["ssh", options..., "user@ip"]: append the remote command. kw as ssh_options()."""
        return ["ssh", *self.ssh_options(key, **kw), f"{user or self.user}@{self.ip}"]

    def rsync_rsh(self, key: str | os.PathLike | None = None, **kw) -> str:
        """For `rsync -e`: the ssh command line without destination."""
        return shlex.join(["ssh", *self.ssh_options(key, **kw)])

    def dest(self, path: str, user: str | None = None) -> str:
        """rsync/scp destination "user@ip:path"."""
        return f"{user or self.user}@{self.ip}:{path}"

    def run(self, command: str, *, user: str | None = None, key: str | os.PathLike | None = None,
            password: str | None = None, passphrase: str | None = None, timeout: float = 30,
            check: bool = False, input: str | None = None, **kw) -> subprocess.CompletedProcess:
        """Runs `command` over ssh (key auth; password= for password auth, passphrase= with the
        passphrase-protected key, both answered by the lab's SSH_ASKPASS script)."""
        env = None
        if password is not None:
            argv = self.ssh_argv(user, password=True, **kw)
            env = self.lab.askpass_env(password)
        else:
            if passphrase is not None:
                key = key or self.lab.client_key_pp
                env = self.lab.askpass_env(passphrase)
            argv = self.ssh_argv(user, key, **kw)
        p = subprocess.run([*argv, command], input=input, capture_output=True, text=True,
                           timeout=timeout, env=env,
                           stdin=None if input is not None else subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise SshLabError(f"ssh {self.name} {command!r}: rc {p.returncode}: {p.stderr.strip()}")
        return p

    def remote_forward(self, local_port: int, *, local_host: str = "127.0.0.1", remote_port: int = 0,
                       user: str | None = None, timeout: float = 10,
                       extra: list[str] | tuple = ()) -> RemoteForward:
        """`ssh -N -R remote_port:local_host:local_port`: inside the host, 127.0.0.1:<port> reaches
        local_host:local_port on this machine. With remote_port=0 the server picks the port; ssh
        prints "Allocated port N for remote forward to ..." on stderr (LogLevel INFO, the default),
        which is parsed. With a fixed port, readiness is ssh's -v line "remote forward success"."""
        argv = self.ssh_argv(user, extra=["-v", "-N", "-o", "ExitOnForwardFailure=yes",
                                          "-o", "ServerAliveInterval=5",
                                          "-R", f"{remote_port}:{local_host}:{local_port}", *extra])
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        lines: list[str] = []
        found: dict = {}
        ready = threading.Event()

        def reader():
            for line in proc.stderr:
                lines.append(line.rstrip("\n"))
                m = ALLOCATED_RE.search(line)
                if m:
                    found["port"] = int(m.group(1))
                    ready.set()
                elif remote_port and "remote forward success" in line:
                    found["port"] = remote_port
                    ready.set()
            ready.set()

        threading.Thread(target=reader, daemon=True).start()
        ready.wait(timeout)
        if "port" not in found:
            proc.kill()
            proc.wait()
            raise SshLabError(f"{self.name}: remote forward failed (rc {proc.returncode}): "
                              + "\n".join(l for l in lines if not l.startswith("debug"))[-2000:])
        return RemoteForward(proc, found["port"], lines)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


# ---- the lab ---------------------------------------------------------------------------------
class SshLab:
    """Bridge + N SshHosts + client keys/known_hosts/askpass; a context manager (usable as a pytest
    fixture). close() removes every namespace, veth, process and the bridge it made, also after a
    failed test (and at interpreter exit, if nobody called it)."""

    def __init__(self, root: str | os.PathLike | None = None, hosts: int = 0, *,
                 tag: str | None = None, prefix: str = DEFAULT_PREFIX, octet: int | None = None,
                 bridge: str | None = None, port: int = 22, user: str = "ferrytest",
                 password: str = "ferry-test-pw", key_passphrase: str = "ferry-key-pw",
                 root_password: str | None = None, private_tmp: bool = False,
                 sshd_options: dict | None = None, names: list[str] | None = None,
                 keep_root: bool = False):
        if octet is None:
            octet = int(os.environ.get("FERRY_SSHLAB_OCTET", "0"))
        if not 0 <= octet <= 255:
            raise ValueError("octet must be 0..255")
        self.octet = octet
        self.subnet = f"10.77.{octet}"
        self.gateway = f"{self.subnet}.1"          # this machine, on the bridge
        self.bridge = bridge or os.environ.get("FERRY_SSHLAB_BRIDGE") or f"ferbr{octet}"
        if len(self.bridge) > 15:
            raise ValueError("bridge name longer than 15 characters")
        self.prefix = prefix
        self.tag = tag or str(os.getpid())
        self.lab_id = f"{prefix}{self.tag}"
        self.port, self.user, self.password = port, user, password
        self.key_passphrase = key_passphrase
        self.root_password_hash = _hash_password(root_password) if root_password else None
        self.private_tmp = private_tmp
        self.sshd_options = dict(sshd_options or {})
        self._n_initial, self._names = hosts, list(names or [])
        self._own_root = root is None
        self.keep_root = keep_root
        self.root = Path(root) if root is not None else None
        self.hosts: list[SshHost] = []
        self.control_dir: Path | None = None
        self._created_bridge = False
        self._opened = False
        self._record_path = REGISTRY / f"{self.lab_id}.json"
        self.uid = self.gid = -1

    # -- availability --------------------------------------------------------------------------
    @staticmethod
    def unavailable_reason() -> str | None:
        """Why this machine cannot run labs (for pytest.skip), or None."""
        if os.geteuid() != 0:
            return "SshLab needs root (network namespaces, bind mounts)"
        missing = [t for t in _TOOLS if not shutil.which(t)]
        if not os.access(SSHD, os.X_OK):
            missing.append(SSHD + " (openssh-server)")
        if missing:
            return f"SshLab needs: {', '.join(missing)} (scripts/setup.sh installs them)"
        return None

    # -- open / close --------------------------------------------------------------------------
    def __enter__(self) -> "SshLab":
        try:
            return self.open()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> "SshLab":
        if self._opened:
            return self
        why = self.unavailable_reason()
        if why:
            raise SshLabError(why)
        cleanup_stale(self.prefix)
        self.uid, self.gid = self._pick_ids()
        with _registry_lock():   # refuse before creating anything
            for path, rec in _load_records():
                if path == self._record_path and _alive(rec.get("owner")):
                    raise SshLabError(f"lab {self.lab_id} is in use by live pid {rec['owner'][0]}: "
                                      "pass another tag=")
                if rec.get("bridge") == self.bridge and _alive(rec.get("owner")):
                    raise SshLabError(f"bridge {self.bridge} belongs to live lab {rec.get('lab')} "
                                      f"(pid {rec['owner'][0]}): pass octet=/bridge= (or "
                                      "FERRY_SSHLAB_OCTET) to run labs side by side")
            if _link_exists(self.bridge):
                raise SshLabError(f"network interface {self.bridge} exists and was not created by "
                                  "this harness: pass bridge= / octet= (FERRY_SSHLAB_BRIDGE / "
                                  "FERRY_SSHLAB_OCTET)")
            used = _run("ip", "-4", "-o", "addr", "show").stdout
            if re.search(rf"inet {re.escape(self.subnet)}\.\d+/", used):
                raise SshLabError(f"subnet {self.subnet}.0/24 is already in use on this machine: "
                                  "pass octet= (or FERRY_SSHLAB_OCTET)")
            if self.root is None or self._own_root:
                self.root = Path(tempfile.mkdtemp(prefix="ferry-sshlab-"))
            self.root = self.root.resolve()
            self.root.mkdir(parents=True, exist_ok=True)
            # ControlPath sockets need a short path (sun_path is 108 bytes): not under pytest's tmp_path
            self.control_dir = Path(tempfile.mkdtemp(prefix="fsl-", dir="/tmp"))
            self._opened = True
            self._created_bridge = True   # recorded before it exists: a crash from here on is cleaned up
            self._save_record(locked=True)
        atexit.register(self.close)
        try:
            _run("ip", "link", "add", self.bridge, "type", "bridge")
            _disable_ipv6(self.bridge)
            _run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _run("ip", "link", "set", self.bridge, "up")
            self._client_files()
            for i in range(self._n_initial):
                self.add_host(self._names[i] if i < len(self._names) else None)
        except BaseException:
            try:
                self.close()
            except Exception:
                pass
            raise
        return self

    def _pick_ids(self) -> tuple[int, int]:
        for line in Path("/etc/passwd").read_text().splitlines():
            f = line.split(":")
            if f[0] == self.user:
                return int(f[2]), int(f[3])
        used_u = {int(l.split(":")[2]) for l in Path("/etc/passwd").read_text().splitlines() if l.count(":") >= 3}
        used_g = {int(l.split(":")[2]) for l in Path("/etc/group").read_text().splitlines() if l.count(":") >= 3}
        i = 4242
        while i in used_u or i in used_g:
            i += 1
        return i, i

    def _client_files(self) -> None:
        c = self.root / "client"
        c.mkdir(mode=0o700, exist_ok=True)
        self.client_key = c / "id_ed25519"
        self.client_key_pp = c / "id_ed25519_pp"
        if not self.client_key.exists():
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ferry-sshlab", "-f", self.client_key)
        if not self.client_key_pp.exists():
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", self.key_passphrase, "-C", "ferry-sshlab-pp",
                 "-f", self.client_key_pp)
        self.askpass = c / "askpass.sh"
        _write_inplace(self.askpass, "#!/bin/sh\n# SSH_ASKPASS: the secret comes from the environment, "
                       f"never argv\nprintf '%s\\n' \"${ASKPASS_VAR}\"\n", 0o700)
        self.known_hosts = c / "known_hosts"
        self.ssh_config = c / "ssh_config"
        self.write_known_hosts()

    def authorized_keys_text(self) -> str:
        return "".join(p.with_suffix(".pub").read_text() for p in (self.client_key, self.client_key_pp))

    def add_host(self, name: str | None = None, start: bool = True) -> SshHost:
        if not self._opened:
            self.open()
        used = {h.index for h in self.hosts}
        index = next(i for i in range(1, 245) if i not in used)
        h = SshHost(self, index, name or f"node{index}")
        self.hosts.append(h)
        for other in self.hosts:
            other.write_hosts_file()
        self.write_known_hosts()
        if start:
            h.start()
        return h

    def close(self) -> None:
        """Stops every host (kills all processes in their namespaces), removes namespaces, veths,
        the bridge, mux masters in control_dir, the registry record and (if it made it) the root."""
        if not self._opened:
            return
        errors = []
        for h in self.hosts:
            try:
                h.stop()
            except Exception as e:  # keep going: the rest must still be removed
                errors.append(f"{h.name}: {e}")
        if self.control_dir and self.control_dir.exists():
            for sock in self.control_dir.iterdir():
                if sock.is_socket():
                    _run("ssh", "-F", "/dev/null", "-o", f"ControlPath={sock}", "-O", "exit", "x",
                         check=False, timeout=5)
            shutil.rmtree(self.control_dir, ignore_errors=True)
        with _registry_lock():
            if self._created_bridge and _link_exists(self.bridge):
                p = _run("ip", "link", "del", self.bridge, check=False)
                if p.returncode:
                    errors.append(p.stderr.strip())
            self._created_bridge = False
            self._record_path.unlink(missing_ok=True)
        self._opened = False
        atexit.unregister(self.close)
        if self._own_root and not self.keep_root and self.root:
            shutil.rmtree(self.root, ignore_errors=True)
        if errors:
            raise SshLabError("SshLab cleanup: " + "; ".join(errors))

    def _save_record(self, extra_ns: dict | None = None, locked: bool = False) -> None:
        if not self._opened:
            return
        rec = {
            "lab": self.lab_id, "owner": _ident(os.getpid()), "prefix": self.prefix,
            "bridge": self.bridge if self._created_bridge else None, "root": str(self.root),
            "remove_dirs": [str(self.control_dir)] + ([str(self.root)] if self._own_root else []),
            "netns": {}}
        for h in self.hosts:
            if netns_inode(h.netns) is not None or h._holder:
                rec["netns"][h.netns] = {
                    "veth": h.veth,
                    "holder": _ident(h.holder_pid) if h.holder_pid else None,
                    "sshd": _ident(h.sshd_pid) if h.sshd_pid else None}
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

    # -- client helpers ------------------------------------------------------------------------
    def write_known_hosts(self, path: str | os.PathLike | None = None,
                          hosts: list[SshHost] | None = None) -> Path:
        """Writes the hosts' current known_hosts lines to `path` (default: the lab's known_hosts,
        which the lab keeps current; also rewrites the lab's ssh_config)."""
        path = Path(path) if path else self.known_hosts
        hosts = self.hosts if hosts is None else hosts
        path.write_text("".join(h.host_key_line() + "\n" for h in hosts if h.host_key.exists()))
        if path == self.known_hosts:
            self._write_ssh_config()
        return path

    def _write_ssh_config(self) -> None:
        """An ssh_config with a Host entry per host name: `ssh -F lab.ssh_config node1 cmd`."""
        out = []
        for h in self.hosts:
            out.append(f"Host {h.name}\n  HostName {h.ip}\n  Port {h.port}\n  User {h.user}\n"
                       f"  IdentityFile {self.client_key}\n  IdentitiesOnly yes\n  IdentityAgent none\n"
                       f"  UserKnownHostsFile {self.known_hosts}\n  GlobalKnownHostsFile /dev/null\n"
                       "  StrictHostKeyChecking yes\n  UpdateHostKeys no\n  BatchMode yes\n"
                       "  ConnectTimeout 5\n")
        self.ssh_config.write_text("".join(out))

    def askpass_env(self, secret: str, base: dict | None = None) -> dict:
        """Environment that makes OpenSSH answer password/passphrase prompts with `secret`,
        non-interactively (no tty, no sshpass): SSH_ASKPASS + SSH_ASKPASS_REQUIRE=force."""
        env = dict(os.environ if base is None else base)
        env.update({"SSH_ASKPASS": str(self.askpass), "SSH_ASKPASS_REQUIRE": "force", ASKPASS_VAR: secret})
        return env

    def mux_options(self, persist: int | str = 60) -> list[str]:
        """ControlMaster options with ControlPath in the lab's short control_dir (closed by close())."""
        return ["-o", "ControlMaster=auto", "-o", f"ControlPath={self.control_dir}/%C",
                "-o", f"ControlPersist={persist}"]


def password_ssh_demo(host: SshHost, password: str, command: str = "id -un") -> subprocess.CompletedProcess:
    """The minimal non-interactive password login with plain OpenSSH (what host.run(password=) does):

        SSH_ASKPASS=<script printing $FERRY_SSH_ASKPASS_SECRET> SSH_ASKPASS_REQUIRE=force \\
        FERRY_SSH_ASKPASS_SECRET=<password> ssh -o PubkeyAuthentication=no \\
            -o PreferredAuthentications=password -o NumberOfPasswordPrompts=1 -o BatchMode=no \\
            user@ip command </dev/null
    A wrong password gives rc 255 and "Permission denied (publickey,password)." on stderr."""
    argv = host.ssh_argv(password=True) + [command]
    return subprocess.run(argv, env=host.lab.askpass_env(password), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30)


if __name__ == "__main__":
    import sys
    if "--cleanup" in sys.argv:
        pfx = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--prefix=")), DEFAULT_PREFIX)
        removed = cleanup_stale(pfx, verbose=True)
        print(f"sshd.py: {len(removed)} stale item(s) removed")
    else:
        print("usage: python tests/support/sshd.py --cleanup [--prefix=ferry-ssh-]")
