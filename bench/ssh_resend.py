#!/usr/bin/env python3
"""Re-sending an unchanged 10,000-file snapshot to an attached SSH host.

Tree:    10,000 files (1-4 KiB, 100 directories), ~25 MB, submitted once before.
Ferry:   (a) the send: `ferry run submit -t box` of the unchanged tree up to the run's
         Running status — snapshot with a warm stat cache (nothing uploaded: the server has
         it), launch, and the agent checking its host-side blob cache (0 bytes fetched) and
         writing the run's fresh working copy;
         (b) the part of (a) that decides what to send: the CLI's snapshot + submit, and the
         agent's cache check, without writing the working copy (reported separately).
         The host keeps finished working copies for reuse (src/agent/workdir.h), so (a)
         rewrites nothing either.
Anchor:  a no-op `rsync -a --delete -e ssh` of the same tree to the host (already synced),
         over a multiplexed connection.
Goal:    <= the rsync time.

Needs root (network namespaces). Output: human-readable lines, then one RESULT line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import FERRY, REPO, Server, attach_ssh_target, median  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "tests", "support"))
from sshd import SshLab  # noqa: E402


def make_tree(root: str, n: int) -> None:
    rnd = random.Random(7)
    for i in range(n):
        d = os.path.join(root, f"pkg{i % 100:03d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"mod{i:05d}.py"), "w") as f:
            f.write(f"# module {i}\n" + "x = 1\n" * rnd.randint(150, 650))
    with open(os.path.join(root, "job.py"), "w") as f:
        f.write("print('hi')\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--runs", type=int, default=7)
    ap.add_argument("--files", type=int, default=10000)
    args = ap.parse_args()
    why = SshLab.unavailable_reason()
    if why:
        print(f"ssh_resend: cannot start sshd hosts here: {why}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ferry-bench-resend-") as tmp, \
            SshLab(os.path.join(tmp, "lab"), hosts=1) as lab:
        host = lab.hosts[0]
        home, src = os.path.join(tmp, "home"), os.path.join(tmp, "src")
        make_tree(src, args.files)
        with Server(home):
            base = [FERRY, "--home", home]
            attach_ssh_target(home, "box", host, lab.client_key)
            submit = base + ["run", "submit", "-t", "box", "--source-dir", src, "--wait", "job.py"]
            t0 = time.perf_counter()
            subprocess.run(submit, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            first = time.perf_counter() - t0
            rsh = shlex.join(["ssh", *host.ssh_options(extra=lab.mux_options())])
            rsync = ["rsync", "-a", "--delete", "-e", rsh, src + "/", host.dest("tree/")]
            subprocess.run(rsync, check=True)  # the initial copy
            to_running, cli_submit, cache_check, rsync_t = [], [], [], []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                r = subprocess.run(submit[:-2] + ["job.py"], check=True, capture_output=True, text=True)
                cli_submit.append(time.perf_counter() - t0)
                run_id = r.stdout.strip().splitlines()[-1]
                subprocess.run(base + ["run", "logs", "-f", run_id], check=True, stdout=subprocess.DEVNULL)
                show = json.loads(subprocess.run(base + ["-o", "json", "run", "show", run_id], check=True,
                                                 capture_output=True, text=True).stdout)
                times = {h["status"]: h["time"] for h in show["history"]}
                to_running.append(times["Running"] - show["created_at"] + cli_submit[-1])
                dl = os.path.join(tmp, "dl-" + run_id)
                subprocess.run(base + ["run", "download", run_id, "--output-dir", dl, "--prefix", "logs/ferry-agent.txt"],
                               check=True, capture_output=True)
                log = open(os.path.join(dl, "logs", "ferry-agent.txt")).read()
                m = re.search(r"fetched (\d+) blobs \((\d+) bytes\).*cache check ([0-9.]+) ms", log)
                if not m or m.group(1) != "0":
                    raise RuntimeError("the unchanged snapshot was not served from the host's cache:\n" + log[:500])
                cache_check.append(float(m.group(3)) / 1e3)
                t0 = time.perf_counter()
                subprocess.run(rsync, check=True)
                rsync_t.append(time.perf_counter() - t0)
    a, c, k, rs = (median(x) * 1e3 for x in (to_running, cli_submit, cache_check, rsync_t))
    print(f"ssh_resend: {args.files} files, median of {args.runs} (first submit {first * 1e3:.0f} ms)")
    print(f"  (a) submit -> Running, unchanged tree   {a:8.1f} ms")
    print(f"  (b) CLI snapshot + submit               {c:8.1f} ms")
    print(f"      agent cache check (0 bytes fetched) {k:8.1f} ms")
    print(f"  no-op rsync over ssh (anchor)           {rs:8.1f} ms")
    print(f"  ratio (b)/anchor                        {(c + k) / rs:8.2f}   (goal <= 1)")
    print(f"  ratio (a)/anchor                        {a / rs:8.2f}")
    print(f"RESULT to_running_ms={a:.1f} submit_ms={c:.1f} cache_check_ms={k:.1f} rsync_ms={rs:.1f} "
          f"ratio_send={(c + k) / rs:.2f} ratio_to_running={a / rs:.2f} files={args.files} runs={args.runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
