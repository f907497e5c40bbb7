"""Self-test of tests/support/sshd.py on this machine (root, openssh-server, iproute2, util-linux):

    .venv/bin/python tests/support/sshd_selftest.py [--keep]

Starts real sshd "remote hosts" in network namespaces and checks, with a timing per step: key auth
(test user and root), password and key-passphrase auth through SSH_ASKPASS, wrong password,
unknown / accepted / changed host keys, ControlMaster multiplexing, `ssh -R 0:...` remote forwards
end to end, a setsid'ed process surviving its ssh connection and dying with stop(), network cuts
(link down and iptables drop) noticed by ServerAliveInterval, rsync over ssh, a host "reboot"
(stop + start), and the cleanup of a crashed lab. Exits non-zero when a check fails (2 when the
harness cannot run here).
"""

from __future__ import annotations

import http.server
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sshd import (REGISTRY, SshLab, netns_inode, password_ssh_demo, pid_alive,  # noqa: E402
                  pids_in_netns)

REPO = Path(__file__).resolve().parents[2]
failures: list[str] = []


def step(what: str, t0: float, ok: bool = True, detail: str = "", info: bool = False) -> None:
    """Prints PASS/FAIL (or INFO: a measurement or a known behaviour, never a failure)."""
    ms = (time.monotonic() - t0) * 1000
    tag = ("INFO" if info else "PASS") if ok or info else "FAIL"
    print(f"{tag} {ms:8.0f} ms  {what}{'  ' + detail if detail else ''}", flush=True)
    if not ok and not info:
        failures.append(what)


def short(p: subprocess.CompletedProcess) -> str:
    return f"rc={p.returncode} out={p.stdout.strip()[-120:]!r} err={p.stderr.strip()[-200:]!r}"


def ssh(argv: list[str], command: str, timeout: float = 30, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([*argv, command], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, env=env)


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def crashed_lab() -> list[str]:
    """A child process opens a lab (octet 1, tag "selftest-crash") and dies without cleanup."""
    code = ("import os, sys; sys.path.insert(0, %r); from sshd import SshLab; "
            "lab = SshLab(hosts=1, tag='selftest-crash', octet=1, keep_root=True).open(); "
            "print(lab.hosts[0].netns, lab.bridge, lab.root, flush=True); os._exit(0)"
            % str(Path(__file__).resolve().parent))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(p.stderr)
    return p.stdout.split()


def main() -> int:
    why = SshLab.unavailable_reason()
    if why:
        print(f"SKIP: {why}")
        return 2
    keep = "--keep" in sys.argv
    scratch = Path(tempfile.mkdtemp(prefix="ferry-sshd-selftest-"))

    t = time.monotonic()
    ns, br, croot = crashed_lab()
    left = netns_inode(ns) is not None and os.path.exists(f"/sys/class/net/{br}")
    step("a crashed lab (child killed without cleanup) leaves netns + bridge behind", t, left, f"{ns} {br}")

    lab = SshLab(scratch / "lab")
    t = time.monotonic()
    lab.open()   # the first thing open() does is cleanup_stale()
    gone = netns_inode(ns) is None and not os.path.exists(f"/sys/class/net/{br}") \
        and not any(REGISTRY.glob("*selftest-crash*"))
    step("new lab removed the crashed lab's netns, processes, bridge and record", t, gone)
    shutil.rmtree(croot, ignore_errors=True)
    try:
        t = time.monotonic()
        lab.add_host()
        lab.add_host()
        step("two hosts up (netns + veth + mount ns + sshd, banner answered)", t,
             all(h.running for h in lab.hosts), " ".join(f"{h.name}={h.ip}" for h in lab.hosts))
        run_checks(lab, scratch)
    finally:
        t = time.monotonic()
        names = [h.netns for h in lab.hosts]
        bridge = lab.bridge
        try:
            lab.close()
            err = ""
        except Exception as e:  # reported below
            err = str(e)
        leftover = [n for n in names if netns_inode(n) is not None]
        if os.path.exists(f"/sys/class/net/{bridge}"):
            leftover.append(bridge)
        leftover += [str(p) for p in REGISTRY.glob(f"{lab.lab_id}.json")]
        step("cleanup: hosts stopped, netns/veths/bridge/mux masters/record removed", t,
             not leftover and not err, f"{leftover} {err}".strip())
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"failures: {len(failures)}" + (f" ({', '.join(failures)})" if failures else ""))
    return 1 if failures else 0


def run_checks(lab: SshLab, scratch: Path) -> None:
    h1, h2 = lab.hosts

    # -- key auth ------------------------------------------------------------------------------
    for h in (h1, h2):
        t = time.monotonic()
        p = ssh(h.ssh_argv(), "true")
        step(f"key auth: ssh {h.user}@{h.ip} true", t, p.returncode == 0, "" if p.returncode == 0 else short(p))
    t = time.monotonic()
    p = ssh(h2.ssh_argv(), "echo $(id -un) $(hostname) $HOME")
    step("test user, hostname and home inside the host", t,
         p.stdout.split() == [lab.user, h2.name, h2.remote_home], short(p))
    t = time.monotonic()
    p = ssh(h1.ssh_argv("root"), "hostname")
    step("root key auth (authorized_keys in /run/ferry-ssh, not /root/.ssh)", t,
         p.stdout.strip() == h1.name, short(p))
    print("      ssh " + " ".join(h1.ssh_options()) + f" {h1.user}@{h1.ip} CMD")

    ferry = REPO / "build/bin/ferry"
    t = time.monotonic()
    if ferry.is_file():
        p = ssh(h1.ssh_argv(), f"{ferry} --version")
        step(f"test user runs {ferry} --version over ssh", t, p.returncode == 0, short(p))
    else:
        step(f"{ferry} not built: remote run not checked", t, info=True)

    # -- password / passphrase via SSH_ASKPASS --------------------------------------------------
    t = time.monotonic()
    p = password_ssh_demo(h1, lab.password)
    step("password auth via SSH_ASKPASS + SSH_ASKPASS_REQUIRE=force (no tty, no sshpass)", t,
         p.returncode == 0 and p.stdout.strip() == lab.user, short(p))
    t = time.monotonic()
    p = password_ssh_demo(h1, "wrong-password")
    step("wrong password: rc 255, 'Permission denied'", t,
         p.returncode == 255 and "Permission denied" in p.stderr, short(p))
    t = time.monotonic()
    p = h2.run("id -un", passphrase=lab.key_passphrase)
    step("passphrase-protected key, passphrase via SSH_ASKPASS", t, p.stdout.strip() == lab.user, short(p))
    t = time.monotonic()
    h2.set_password("changed-pw")
    ok_new = h2.run("true", password="changed-pw").returncode == 0
    ok_old = h2.run("true", password=lab.password).returncode == 255
    h2.set_password(lab.password)
    step("set_password: new one works, old one refused", t, ok_new and ok_old)

    # -- host keys -----------------------------------------------------------------------------
    kh = scratch / "kh_test"
    kh.write_text("")
    t = time.monotonic()
    p = ssh(h1.ssh_argv(known_hosts=kh, strict="yes"), "true")
    step("unknown host key + StrictHostKeyChecking=yes: refused", t,
         p.returncode == 255 and "Host key verification failed" in p.stderr, short(p))
    t = time.monotonic()
    p = ssh(h1.ssh_argv(known_hosts=kh, strict="accept-new"), "true")
    recorded = kh.read_text().strip()
    step("accept-new records the key = host_key_line()", t,
         p.returncode == 0 and recorded == h1.host_key_line(), f"{recorded[:60]}...")
    old_kh = scratch / "kh_old"
    shutil.copy(kh, old_kh)
    t = time.monotonic()
    new_line = h1.regenerate_host_key()
    step("regenerate_host_key (ssh-keygen + sshd restart)", t, new_line != recorded and h1.running)
    for strict in ("yes", "accept-new"):
        t = time.monotonic()
        p = ssh(h1.ssh_argv(known_hosts=old_kh, strict=strict), "true")
        step(f"changed host key refused (StrictHostKeyChecking={strict})", t,
             p.returncode == 255 and "REMOTE HOST IDENTIFICATION HAS CHANGED" in p.stderr,
             f"rc={p.returncode}")
    t = time.monotonic()
    p = ssh(h1.ssh_argv(), "true")
    step("lab known_hosts follows the new key", t, p.returncode == 0, short(p))
    t = time.monotonic()
    p = ssh(["ssh", "-F", str(lab.ssh_config), h2.name], "hostname")
    step(f"ssh -F lab.ssh_config {h2.name} (Host aliases)", t, p.stdout.strip() == h2.name, short(p))

    # -- multiplexing --------------------------------------------------------------------------
    n = 5
    t = time.monotonic()
    for _ in range(n):
        ssh(h2.ssh_argv(), "true")
    plain = (time.monotonic() - t) * 1000 / n
    mux = lab.mux_options(60)
    t = time.monotonic()
    p1 = ssh(h2.ssh_argv(extra=mux), "true")
    first = (time.monotonic() - t) * 1000
    t = time.monotonic()
    p2 = ssh(h2.ssh_argv(extra=mux), "true")
    second = (time.monotonic() - t) * 1000
    chk = subprocess.run(h2.ssh_argv(extra=[*mux, "-O", "check"]), capture_output=True, text=True)
    step("ControlMaster: second command reuses the master", t,
         p1.returncode == 0 and p2.returncode == 0 and second < first / 2 and "Master running" in chk.stderr,
         f"plain {plain:.0f} ms/call; master {first:.0f} ms; multiplexed {second:.0f} ms")

    # -- remote forward ------------------------------------------------------------------------
    token = f"ferry-{os.getpid()}-{time.time_ns()}"
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            body = token.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    lport = srv.server_address[1]
    try:
        t = time.monotonic()
        with h1.remote_forward(lport) as fwd:
            step(f"ssh -R 0:127.0.0.1:{lport}: 'Allocated port N' parsed from stderr", t, fwd.port > 0,
                 f"N={fwd.port}")
            t = time.monotonic()
            get = ("python3 -c \"import urllib.request,sys; "
                   f"sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:{fwd.port}/from-ns').read().decode())\"")
            p = ssh(h1.ssh_argv(), get)
            step("inside the host, 127.0.0.1:N reaches this machine's 127.0.0.1 HTTP server", t,
                 p.stdout == token and seen == ["/from-ns"], short(p))
        t = time.monotonic()
        p = subprocess.run(h2.ssh_argv(extra=[*mux, "-O", "forward", "-R", f"0:127.0.0.1:{lport}"]),
                           capture_output=True, text=True, timeout=10)
        port2 = int(p.stdout.strip()) if p.stdout.strip().isdigit() else 0
        ok = port2 > 0 and ssh(h2.ssh_argv(extra=mux), get.replace(f":{fwd.port}/", f":{port2}/")).stdout == token
        step("mux 'ssh -O forward -R 0:...' prints the allocated port on stdout; works too", t, ok,
             f"N={port2}")
    finally:
        srv.shutdown()
        srv.server_close()

    # -- a detached process survives its ssh connection; stop() kills it -----------------------
    t = time.monotonic()
    p = ssh(h1.ssh_argv(), "setsid nohup sleep 3001 >/dev/null 2>&1 </dev/null & echo $!")
    pid = int(p.stdout.strip()) if p.stdout.strip().isdigit() else -1
    time.sleep(0.2)
    alive = pid > 0 and pid_alive(pid) and pid in h1.pids()
    step("setsid nohup sleep: ssh returns, the process lives on in the host's netns", t, alive,
         f"pid {pid}")

    # -- network cuts --------------------------------------------------------------------------
    for h, mode in ((h1, "link"), (h2, "drop")):
        t = time.monotonic()
        proc = subprocess.Popen(h.ssh_argv(extra=["-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=3"])
                                + ["echo started; exec sleep 60"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        r, _, _ = select.select([proc.stdout], [], [], 10)
        started = bool(r) and proc.stdout.readline().strip() == "started"
        remote_sleep: list[int] = []
        deadline = time.monotonic() + 5   # "started" is echoed just before bash execs sleep
        while started and not remote_sleep and time.monotonic() < deadline:
            remote_sleep = [q for q in h.pids() if cmdline(q) == ["sleep", "60"]]
            time.sleep(0.01)
        t = time.monotonic()
        h.block(mode)
        try:
            rc = proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = None
        err = proc.stderr.read()
        step(f"block({mode!r}): established ssh (ServerAliveInterval=1, CountMax=3) dies", t,
             started and rc == 255 and "Timeout" in err, f"rc={rc} {err.strip()[-80:]!r}")
        still = [q for q in remote_sleep if pid_alive(q)]
        step(f"block({mode!r}): the remote 'sleep 60' keeps running (no process killed)", t,
             bool(remote_sleep) and still == remote_sleep, f"pids {still}")
        t = time.monotonic()
        p = ssh(h.ssh_argv(connect_timeout=2), "true")
        step(f"block({mode!r}): a new ssh fails (ConnectTimeout=2)", t, p.returncode == 255, short(p))
        t = time.monotonic()
        h.unblock()
        p = ssh(h.ssh_argv(), "true")
        step("unblock: a new ssh works", t, p.returncode == 0, short(p))
        proc.stdout.close()
        proc.stderr.close()
    t = time.monotonic()
    timer = h2.cut(1.0)
    blocked = h2.blocked == "link"
    timer.join()
    p = ssh(h2.ssh_argv(), "true")
    step("cut(1.0): blocked at once, reachable again after the timer", t,
         blocked and h2.blocked is None and p.returncode == 0, short(p))

    # -- rsync ---------------------------------------------------------------------------------
    src = scratch / "rsync-src"
    (src / "sub").mkdir(parents=True)
    for i in range(50):
        (src / "sub" / f"f{i}").write_bytes(os.urandom(20000))
    (src / "top.txt").write_text("hello\n")
    t = time.monotonic()
    p = subprocess.run(["rsync", "-a", "--delete", "-e", h2.rsync_rsh(), f"{src}/", h2.dest("data/")],
                       capture_output=True, text=True, timeout=60)
    dst = h2.home / "data"
    same = p.returncode == 0 and subprocess.run(["diff", "-r", str(src), str(dst)],
                                                capture_output=True).returncode == 0
    step("rsync -a -e 'ssh ...' of a directory (51 files) to ~/data", t, same, short(p) if not same else "")
    t = time.monotonic()
    p = ssh(h2.ssh_argv(), "stat -c %U data/top.txt; test ! -e ~/data/../../ferrytest/nonexistent && echo ok")
    step("the rsync'd files belong to the test user, as on a real host", t, p.stdout.split() == [lab.user, "ok"],
         short(p))
    t = time.monotonic()
    p = subprocess.run(["rsync", "-a", "-e", h2.rsync_rsh(), h2.dest("data/top.txt"), str(scratch / "back.txt")],
                       capture_output=True, text=True, timeout=60)
    step("rsync back from the host", t, (scratch / "back.txt").read_text() == "hello\n", short(p))

    # -- restart sshd, then a lost VM and a reboot ---------------------------------------------
    t = time.monotonic()
    h2.restart_sshd()
    p = ssh(h2.ssh_argv(extra=mux), "true")   # the master's session survived the restart
    q = ssh(h2.ssh_argv(), "true")
    step("restart_sshd: multiplexed session survives, new connections work", t,
         p.returncode == 0 and q.returncode == 0, short(p) + short(q))

    ino = netns_inode(h1.netns)
    t = time.monotonic()
    killed = h1.stop()
    ms = (time.monotonic() - t) * 1000
    step("stop(): every process in the netns killed (a lost VM), netns + veth removed", t,
         pid in killed and not pid_alive(pid) and not pids_in_netns(ino)
         and netns_inode(h1.netns) is None and not os.path.exists(f"/sys/class/net/{h1.veth}"),
         f"killed {len(killed)} pids incl. the setsid'ed sleep {pid}")
    t = time.monotonic()
    p = ssh(h1.ssh_argv(connect_timeout=2), "true")
    step("after stop(): ssh fails", t, p.returncode == 255, p.stderr.strip()[-80:])
    t = time.monotonic()
    h1.start()
    p = ssh(h1.ssh_argv(), "hostname; ls -a ~ | wc -l")
    step("start() again: same host key and home ('disk' kept)", t, p.returncode == 0 and
         p.stdout.split()[0] == h1.name, short(p))
    print(f"INFO              host stop {ms:.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
