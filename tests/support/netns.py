"""Process and network-namespace helpers shared by the test harnesses that start "remote"
machines on this one (sshd.py: SSH hosts, slurm.py: Slurm nodes). Stdlib only.

A process is named by (pid, start time) so a reused pid is never mistaken for it; a zombie
counts as dead (PID 1 on this kind of machine reaps orphans only about once a second).
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path


class NetnsError(RuntimeError):
    pass


def run(*argv, check: bool = True, input: str | None = None, timeout: float = 30,
        env: dict | None = None, error: type[Exception] = NetnsError) -> subprocess.CompletedProcess:
    argv = [str(a) for a in argv]
    p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, env=env,
                       stdin=None if input is not None else subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise error(f"{shlex.join(argv)} failed (rc {p.returncode}): "
                    f"{(p.stderr or p.stdout).strip()[-2000:]}")
    return p


def starttime(pid: int) -> int | None:
    """Start time (clock ticks since boot) of pid, None if it does not exist: (pid, start) names a
    process unambiguously across pid reuse."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(data.rsplit(")", 1)[1].split()[19])


def ident(pid: int | None) -> list[int] | None:
    return [pid, starttime(pid) or 0] if pid else None


def alive(ident) -> bool:
    return bool(ident) and starttime(ident[0]) == ident[1] and pid_alive(ident[0])


def pid_alive(pid: int) -> bool:
    """True while pid runs. A zombie counts as dead: PID 1 on this kind of machine reaps orphans only
    about once a second, so a SIGKILLed orphan lingers in /proc as state Z."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return data.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def kill_ident(ident, sig: int = signal.SIGKILL, wait: float = 10.0, error: type[Exception] = NetnsError) -> bool:
    """Signals the process named by ident (if it is still that process); waits until it is gone
    (escalating to SIGKILL). Returns True if it was alive."""
    if not alive(ident):
        return False
    try:
        os.kill(ident[0], sig)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + wait
    while alive(ident):
        if time.monotonic() > deadline:
            if sig == signal.SIGKILL:
                raise error(f"pid {ident[0]} survives SIGKILL")
            os.kill(ident[0], signal.SIGKILL)
            sig, deadline = signal.SIGKILL, time.monotonic() + wait
        time.sleep(0.02)
    return True


def netns_inode(name: str) -> int | None:
    try:
        return os.stat(f"/run/netns/{name}").st_ino
    except OSError:
        return None


def pids_in_netns(inode: int) -> list[int]:
    """All processes whose network namespace is `inode` (as /proc/PID/ns/net shows it)."""
    tag, out = f"net:[{inode}]", []
    for e in os.scandir("/proc"):
        if e.name.isdigit():
            try:
                if os.readlink(f"/proc/{e.name}/ns/net") == tag:
                    out.append(int(e.name))
            except OSError:
                pass
    return out


def kill_netns_processes(inode: int, timeout: float = 10.0, error: type[Exception] = NetnsError) -> list[int]:
    """SIGKILLs every process in the network namespace until none is left; returns their pids."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while True:
        pids = [p for p in pids_in_netns(inode) if p != os.getpid() and pid_alive(p)]
        if not pids:
            return sorted(killed)
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        killed.update(pids)
        if time.monotonic() > deadline:
            raise error(f"processes in netns inode {inode} survive SIGKILL: {pids}")
        time.sleep(0.01)


def link_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def disable_ipv6(ifname: str) -> None:
    try:  # no link-local chatter on our links; harmless if IPv6 is absent
        Path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6").write_text("1")
    except OSError:
        pass


# ---- ownership registry ------------------------------------------------------------------------
# Every lab/cluster writes a record (owner pid + start time, namespaces, bridge, ...) into its
# registry directory before creating anything, so what a crashed session left is found later.
@contextmanager
def registry_lock(registry: Path):
    registry.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(registry / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def load_records(registry: Path) -> list[tuple[Path, dict]]:
    out = []
    for f in sorted(registry.glob("*.json")):
        try:
            out.append((f, json.loads(f.read_text())))
        except (OSError, ValueError):
            out.append((f, {}))
    return out


def destroy_netns(ns: str, info: dict, process_keys: tuple[str, ...] = ()) -> None:
    """Kills the processes a record named for this netns (if still the same ones), everything
    else inside it, then removes it and its host-side veth."""
    for key in process_keys:
        if info.get(key):
            kill_ident(info[key])
    ino = netns_inode(ns)
    if ino is not None:
        kill_netns_processes(ino)
        run("ip", "netns", "del", ns, check=False)
    veth = info.get("veth")
    if veth and link_exists(veth):
        run("ip", "link", "del", veth, check=False)


def cleanup_stale(registry: Path, prefix: str, label: str, process_keys: tuple[str, ...] = (),
                  before_bridge=None, verbose: bool = False) -> list[str]:
    """Removes what dead owners left behind (their namespaces with every process in them, veths,
    bridge, dirs, registry record; `before_bridge(record, removed)` for the harness's own extras)
    and netns named `prefix*` that no live owner claims. Never touches what a live owner (its
    process still running) recorded. Returns what it removed."""
    removed: list[str] = []
    with registry_lock(registry):
        claimed: set[str] = set()
        for path, rec in load_records(registry):
            if rec and alive(rec.get("owner")):
                claimed.update(rec.get("netns", {}))
                continue
            for ns, info in rec.get("netns", {}).items():
                destroy_netns(ns, info, process_keys)
                removed.append(f"netns {ns}")
            if before_bridge:
                before_bridge(rec, removed)
            br = rec.get("bridge")
            if br and link_exists(br):
                run("ip", "link", "del", br, check=False)
                removed.append(f"bridge {br}")
            for d in rec.get("remove_dirs", []):
                shutil.rmtree(d, ignore_errors=True)
            path.unlink(missing_ok=True)
            removed.append(f"record {path.name}")
        try:
            names = os.listdir("/run/netns")
        except OSError:
            names = []
        for ns in names:
            if prefix and ns.startswith(prefix) and ns not in claimed:
                destroy_netns(ns, {})
                removed.append(f"orphan netns {ns}")
    if verbose:
        for r in removed:
            print(f"{label}: removed {r}")
    return removed
