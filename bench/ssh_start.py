#!/usr/bin/env python3
"""Run start on an attached SSH host, everything cached (agent, blobs, host key, tunnel).

Host:    a real sshd in a network namespace on this machine (tests/support/sshd.py), key auth.
Ferry:   `ferry run submit -t box --wait job.py` of `print("hi")` with the server up and the
         target attached and warm (one run before): snapshot, submit, launch over the
         multiplexed connection, detached agent, plan and status through the reverse tunnel,
         script, logs streamed back, final status.
Anchor:  `ssh host python3 job.py` of the same file already on the host, over a multiplexed
         connection (ControlMaster up).
Goal:    <= 100 ms extra (median).

Needs root (network namespaces). Output: human-readable lines, then one RESULT line.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import FERRY, REPO, Server, attach_ssh_target, median, perf_times  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "tests", "support"))
from sshd import SshLab  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--runs", type=int, default=20)
    args = ap.parse_args()
    why = SshLab.unavailable_reason()
    if why:
        print(f"ssh_start: cannot start sshd hosts here: {why}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ferry-bench-ssh-") as tmp, SshLab(os.path.join(tmp, "lab"), hosts=1) as lab:
        host = lab.hosts[0]
        home, src = os.path.join(tmp, "home"), os.path.join(tmp, "src")
        os.makedirs(src)
        with open(os.path.join(src, "job.py"), "w") as f:
            f.write("print('hi')\n")
        (host.home / "job.py").write_text("print('hi')\n")
        with Server(home):
            base = [FERRY, "--home", home]
            attach_ssh_target(home, "box", host, lab.client_key)
            submit = base + ["run", "submit", "-t", "box", "--source-dir", src, "--wait", "job.py"]
            subprocess.run(submit, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm
            anchor = host.ssh_argv(extra=lab.mux_options()) + ["python3 job.py"]
            subprocess.run(anchor, check=True, stdout=subprocess.DEVNULL)  # master up
            t_ferry = perf_times(submit, args.runs, 2, src)
            t_ssh = perf_times(anchor, args.runs, 2, src)
    f, s = median(t_ferry) * 1e3, median(t_ssh) * 1e3
    print(f"ssh_start: median of {args.runs}")
    print(f"  ferry run submit -t box --wait   {f:8.1f} ms")
    print(f"  ssh host python3 job.py (mux)    {s:8.1f} ms")
    print(f"  extra                            {f - s:8.1f} ms  (goal <= 100 ms)")
    print(f"RESULT ferry_ms={f:.1f} ssh_ms={s:.1f} extra_ms={f - s:.1f} ratio={f / s:.2f} runs={args.runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
