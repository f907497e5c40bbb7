#!/usr/bin/env python3
"""Snapshot + upload cost of `ferry run submit` on a large source tree.

Tree: 50,000 files, ~600 MB, in ~1,000 leaf directories (3 levels), deterministic
pseudo-random content: most files small (1-8 KB, base64 text), ~35 large (1-20 MB, random
bytes), committed to a local git repository. It is read once (tar > /dev/null) before
anything is timed, so every measurement runs with a warm page cache.

(a) first snapshot: `ferry run submit --source-dir TREE trivial.py` (no --wait: it returns
    once the run is created) with a FRESH home and server each time (empty blob store,
    no stat cache): walk + hash + upload + store. Anchor: `tar -cf - . | zstd -1 -T1`
    (and -T0) to /dev/null -- reading and compressing every byte once.
(b) unchanged re-snapshot: the same submit again with the same home (stat cache warm,
    the server has the snapshot already). Anchor: `git status` on the tree.
Also: `ferry compute list` (fixed CLI cost: process start + one request), and, when the
bench/snapshot_build helper is built, BuildSnapshot alone (cold: no stat cache; warm),
which splits a submit into snapshot vs upload+rest.

Between timed submits the run that was created is left to finish (untimed), so the
agent materialising 600 MB does not overlap the next measurement.

Output: human-readable lines, then one ``RESULT key=value ...`` line.
This is a benchmark, not a test: the exit status does not depend on the numbers.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import FERRY, PYTHON, REPO, Server, median  # noqa: E402

MB = 1 << 20


def find_helper() -> str | None:
    for p in (os.environ.get("SNAPSHOT_BUILD_BIN", ""), os.path.join(REPO, "build", "bench", "snapshot_build"),
              "/tmp/ferry-bench/snapshot_build"):
        if p and os.access(p, os.X_OK):
            return p
    return None


def gen_tree(root: str, files: int, leaf_dirs: int, target_bytes: int, seed: int) -> tuple[int, int]:
    rng = random.Random(seed)
    fan = max(2, round(leaf_dirs ** (1 / 3)))
    leaves = []
    for a in range(fan):
        for b in range(fan):
            for c in range(fan):
                leaves.append(os.path.join(f"pkg{a:02d}", f"mod{b:02d}", f"part{c:02d}"))
    leaves = leaves[:leaf_dirs]
    # Small files first (sizes decide how many large ones are needed).
    small_sizes = [rng.randint(1024, 8192) for _ in range(files)]
    large_sizes: list[int] = []
    while True:  # each large file replaces a small one until the total reaches the target
        remaining = target_bytes - sum(small_sizes[: files - len(large_sizes)]) - sum(large_sizes)
        if remaining <= 0:
            break
        large_sizes.append(min(rng.randint(1 * MB, 20 * MB), max(remaining, MB)))
    n_small = files - len(large_sizes)
    total = 0
    os.makedirs(root, exist_ok=True)
    for d in leaves:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    with open(os.path.join(root, "trivial.py"), "w") as f:
        f.write('print("hi")\n')
    total += 12
    for i in range(n_small - 1):  # trivial.py is one of the files
        size = small_sizes[i]
        raw = rng.randbytes((size * 3 + 3) // 4)
        data = base64.b64encode(raw)[:size]
        path = os.path.join(root, leaves[i % len(leaves)], f"f{i:05d}.py" if i % 3 else f"f{i:05d}.txt")
        with open(path, "wb") as f:
            f.write(data)
        total += size
    for j, size in enumerate(large_sizes):
        path = os.path.join(root, leaves[(j * 37) % len(leaves)], f"blob{j:03d}.bin")
        with open(path, "wb") as f:
            left = size
            while left:
                n = min(left, 4 * MB)
                f.write(rng.randbytes(n))
                left -= n
        total += size
    return n_small + len(large_sizes), total


def sh(cmd: str, cwd: str | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def timed(argv: list, cwd: str | None = None) -> tuple[float, str, str]:
    t0 = time.perf_counter()
    p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    return dt, p.stdout, p.stderr


def wait_done(server: Server, run_id: str, timeout: float = 300.0) -> str:
    deadline = time.monotonic() + timeout
    status = "?"
    while time.monotonic() < deadline:
        run = server.request("GET", f"/api/v1/runs/{run_id}")
        status = (run.get("run") or run).get("status", "?")
        if status in ("Completed", "Failed", "Canceled"):
            return status
        time.sleep(0.1)
    return status


SNAP_RE = re.compile(r"Snapshot (\w+): (\d+) files, (\d+) bytes; uploaded (\d+) files, (\d+) bytes")
RUN_RE = re.compile(r"Run (\S+) submitted")


def submit(home: str, tree: str) -> tuple[float, dict]:
    dt, out, err = timed([FERRY, "--home", home, "run", "submit", "--source-dir", tree, "--python", PYTHON,
                          "trivial.py"], cwd=tree)
    m = SNAP_RE.search(err)
    r = RUN_RE.search(err)
    info = {"run": r.group(1) if r else out.strip()}
    if m:
        info.update(files=int(m.group(2)), bytes=int(m.group(3)), up_files=int(m.group(4)), up_bytes=int(m.group(5)))
    return dt, info


def helper_seconds(helper: str, tree: str, cache: str | None, reps: int) -> float:
    argv = [helper, tree, "--reps", str(reps)]
    if cache:
        argv += ["--cache", cache]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return float(re.search(r"RESULT seconds=([\d.]+)", out).group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=50_000)
    ap.add_argument("--dirs", type=int, default=1000)
    ap.add_argument("--mb", type=int, default=600, help="total size in MiB")
    ap.add_argument("--first-reps", type=int, default=3, help="fresh-home submits (a)")
    ap.add_argument("--reps", type=int, default=5, help="unchanged re-submits and anchors (b)")
    ap.add_argument("--tree", help="use/keep this tree directory instead of a temporary one")
    ap.add_argument("--keep", action="store_true", help="do not delete the tree at the end")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="ferry-bench-snap-")
    tree = args.tree or os.path.join(tmp, "tree")
    helper = find_helper()
    try:
        t0 = time.perf_counter()
        if not os.path.exists(os.path.join(tree, ".git")):
            nfiles, nbytes = gen_tree(tree, args.files, args.dirs, args.mb * MB, seed=20240601)
            gen_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            git = ["git", "-c", "core.looseCompression=1", "-c", "gc.auto=0"]
            subprocess.run(["git", "init", "-q"], cwd=tree, check=True)
            subprocess.run(["git", "config", "user.email", "bench@ferry.invalid"], cwd=tree, check=True)
            subprocess.run(["git", "config", "user.name", "Ferry bench"], cwd=tree, check=True)
            subprocess.run(git + ["add", "-A"], cwd=tree, check=True)
            subprocess.run(git + ["commit", "-q", "-m", "bench tree"], cwd=tree, check=True)
            git_s = time.perf_counter() - t1
            print(f"snapshot: generated {nfiles} files, {nbytes / MB:.0f} MiB in {gen_s:.1f} s; git add+commit {git_s:.1f} s",
                  flush=True)
        else:
            print(f"snapshot: reusing tree {tree}", flush=True)
        # mtimes must be older than the stat cache's racy window (2 s) for (b) to hit the cache.
        time.sleep(2.5)
        os.sync()  # flush the generated tree so the server's syncfs() does not pay for it
        warm_s = sh("tar -cf - . > /dev/null", cwd=tree)
        print(f"snapshot: warmed the tree (tar > /dev/null) in {warm_s:.2f} s", flush=True)

        # Anchors for (a).
        tar1 = [sh("tar -cf - --exclude=./.git . | zstd -1 -T1 -q > /dev/null", cwd=tree) for _ in range(args.first_reps)]
        tar0 = [sh("tar -cf - --exclude=./.git . | zstd -1 -T0 -q > /dev/null", cwd=tree) for _ in range(args.first_reps)]

        # BuildSnapshot alone, cold (no stat cache).
        build_cold = helper_seconds(helper, tree, None, args.first_reps) if helper else None

        # (a) first snapshot, fresh home each time.
        first, info_a = [], {}
        home = None
        for i in range(args.first_reps):
            home = os.path.join(tmp, f"home{i}")
            server = Server(home)
            server.start()
            os.sync()  # untimed: dirty pages of the previous rep's run are not this submit's cost
            try:
                dt, info_a = submit(home, tree)
                first.append(dt)
                wait_done(server, info_a["run"])
            finally:
                server.stop()
            if i + 1 < args.first_reps:
                shutil.rmtree(home, ignore_errors=True)
            print(f"  (a) rep {i + 1}: {dt:.2f} s  {info_a}", flush=True)

        # (b) unchanged re-snapshot with the last home (stat cache warm, snapshot stored).
        again, noop, info_b = [], [], {}
        with Server(home) as server:
            for i in range(args.reps):
                os.sync()
                dt, info_b = submit(home, tree)
                again.append(dt)
                wait_done(server, info_b["run"])
            for _ in range(args.reps):
                noop.append(timed([FERRY, "--home", home, "compute", "list"])[0])
        gitst = [timed(["git", "status"], cwd=tree)[0] for _ in range(args.reps)]
        gitst_porcelain = [timed(["git", "status", "--porcelain", "--untracked-files=no"], cwd=tree)[0]
                           for _ in range(args.reps)]
        cache = None
        if helper and home:
            cache_dir = os.path.join(home, "cache", "stat")
            names = os.listdir(cache_dir) if os.path.isdir(cache_dir) else []
            cache = os.path.join(cache_dir, names[0]) if names else None
        build_warm = helper_seconds(helper, tree, cache, args.reps) if helper and cache else None
    finally:
        if args.keep and not args.tree:
            print(f"snapshot: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)  # homes (blob stores, runs' work dirs)
            if args.tree and not args.keep:
                shutil.rmtree(args.tree, ignore_errors=True)

    a, b = median(first), median(again)
    t1m, t0m = median(tar1), median(tar0)
    g, gp, n = median(gitst), median(gitst_porcelain), median(noop)
    files, nbytes = info_a.get("files", 0), info_a.get("bytes", 0)
    print(f"snapshot: tree {files} files, {nbytes / MB:.0f} MiB; {PYTHON}; helper {'yes' if helper else 'no (build bench/snapshot_build)'}")
    print(f"  (a) first submit, fresh home          {a:8.2f} s  median of {len(first)} ({nbytes / MB / a:.0f} MiB/s); "
          f"uploaded {info_a.get('up_files', 0)} files, {info_a.get('up_bytes', 0) / MB:.0f} MiB")
    if build_cold is not None:
        print(f"      of which BuildSnapshot (cold)     {build_cold:8.2f} s  (walk + hash, 2 threads); "
              f"upload + store + rest {a - build_cold:.2f} s")
    print(f"      anchor tar | zstd -1 -T1          {t1m:8.2f} s   ratio {a / t1m:.2f}")
    print(f"      anchor tar | zstd -1 -T0          {t0m:8.2f} s   ratio {a / t0m:.2f}")
    print(f"  (b) unchanged re-submit, warm cache   {b * 1e3:8.1f} ms median of {len(again)}; "
          f"uploaded {info_b.get('up_files', 0)} files")
    if build_warm is not None:
        print(f"      of which BuildSnapshot (warm)     {build_warm * 1e3:8.1f} ms")
    print(f"      anchor git status                 {g * 1e3:8.1f} ms  ratio {b / g:.2f}")
    print(f"      git status --porcelain -uno       {gp * 1e3:8.1f} ms  (what submit runs for the git state)")
    print(f"      ferry compute list (fixed cost)   {n * 1e3:8.1f} ms")
    print(f"RESULT first_s={a:.3f} tar_zstd_t1_s={t1m:.3f} tar_zstd_t0_s={t0m:.3f} ratio_first_t1={a / t1m:.2f} "
          f"build_cold_s={build_cold if build_cold is not None else -1:.3f} "
          f"again_ms={b * 1e3:.1f} git_status_ms={g * 1e3:.1f} ratio_again_git={b / g:.2f} "
          f"git_porcelain_ms={gp * 1e3:.1f} build_warm_ms={build_warm * 1e3 if build_warm is not None else -1:.1f} "
          f"noop_ms={n * 1e3:.1f} files={files} bytes={nbytes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
