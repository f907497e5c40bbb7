"""Working copies reused across runs on a node: whatever a run did to its copy, the next
run sees exactly its own snapshot (see src/agent/workdir.h)."""

from __future__ import annotations

from pathlib import Path

from test_runconfig import write

# The digest of a tree (files outside outputs/ and logs/, with content, mode bits and
# symlink-ness): one definition, run inside the job and in the test.
TREE_DIGEST = """
import hashlib, os, stat
def tree_digest(root):
    h = hashlib.sha256()
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        if rel.split(os.sep)[0] in ("outputs", "logs"):
            continue
        dirs.sort()
        for n in sorted(dirs + files):
            if rel == "." and n in ("outputs", "logs"):
                continue
            p = os.path.join(d, n)
            st = os.lstat(p)
            h.update(f"{os.path.relpath(p, root)} {stat.S_IFMT(st.st_mode)} {st.st_mode & 0o777}\\n".encode())
            if stat.S_ISREG(st.st_mode):
                h.update(open(p, "rb").read())
    return h.hexdigest()
"""

# Prints the working copy's digest, then vandalises it the way scripts can.
CHECK_AND_VANDALISE = TREE_DIGEST + """
import sys
print("digest", tree_digest("."), flush=True)
print("outputs", sorted(os.listdir("outputs")), flush=True)
if sys.argv[1] == "vandalise":
    # Same size, right away: only the ctime check can see this one.
    with open("data/a.txt", "r+") as f:
        f.write("X")
    os.chmod("data/b.txt", 0o600)
    os.remove("data/c.txt")
    os.makedirs("junk/deeper", exist_ok=True)
    open("junk/deeper/x.bin", "w").write("junk")
    open("new.txt", "w").write("created by the run")
    os.rename("pkg", "pkg_moved")
    os.symlink(sys.argv[2], "pkg")            # a tracked directory now points outside
    os.symlink("/etc/passwd", "data/link")
    open("outputs/result.txt", "w").write("out")
"""


def digest_of(src: Path) -> str:
    ns: dict = {}
    exec(TREE_DIGEST, ns)
    return ns["tree_digest"](str(src))


def test_a_reused_copy_is_exactly_the_next_snapshot(workspace, src, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("must survive")
    write(src / "check.py", CHECK_AND_VANDALISE)
    write(src / "data" / "a.txt", "aaaa")
    write(src / "data" / "b.txt", "bbbb")
    write(src / "data" / "c.txt", "cccc")
    write(src / "pkg" / "mod.py", "VALUE = 1\n")
    for p in src.rglob("*"):
        if p.is_file():
            p.chmod(0o644)
    expected = digest_of(src)

    def run(*args):
        run_id, r = workspace.submit(src, "check.py", *args, wait=True)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout, workspace.agent_info(run_id)

    out, _ = run("vandalise", str(outside))
    assert f"digest {expected}" in out, out
    # The vandalised copy is reused: the next run still sees exactly the snapshot.
    out, log = run("vandalise", str(outside))
    assert "working copy: reused one from this node" in log, log
    assert f"digest {expected}" in out, out
    assert "outputs []" in out  # the previous run's outputs are gone too
    assert (outside / "precious.txt").read_text() == "must survive"
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
    # A changed snapshot: one file edited, one removed, one added.
    write(src / "data" / "a.txt", "changed content")
    (src / "data" / "c.txt").unlink()
    write(src / "data" / "d.txt", "dddd")
    (src / "data" / "a.txt").chmod(0o644)
    (src / "data" / "d.txt").chmod(0o644)
    expected2 = digest_of(src)
    out, log = run("look")
    assert "working copy: reused" in log and f"digest {expected2}" in out, out + log
    out, log = run("look")
    assert f"digest {expected2}" in out and "0 written, 0 removed" in log, log
