"""Terminal conventions of the `ferry` command: colour and progress only on a terminal (never
with NO_COLOR, --no-color or -o json), shell completion generated from the command tree, and
unknown commands answered with the nearest one.

The real binary runs under a pseudo-terminal (python's pty module) and with pipes.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from conftest import wait_until

SGR = re.compile(rb"\x1b\[[0-9;]*m")  # a colour or style escape


def terminal_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    env.update(extra)
    return env


def run_pty(cmd, env=None, timeout: float = 120, cwd=None, on_output=None) -> tuple[int, bytes]:
    """Runs cmd with stdout and stderr on one pseudo-terminal (200 columns); returns its exit
    code and everything it wrote. on_output(bytes so far) is called as output arrives."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    p = subprocess.Popen([str(c) for c in cmd], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                         env=env, cwd=cwd)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every end of the terminal is closed
                    break
                if not data:
                    break
                out += data
                if on_output:
                    on_output(bytes(out))
            elif p.poll() is not None:
                break
            if time.monotonic() > deadline:
                p.kill()
                raise AssertionError(f"{cmd} still running after {timeout} s; output:\n{bytes(out)!r}")
        return p.wait(timeout=30), bytes(out)
    finally:
        os.close(master)


def cli_pty(ws, *args, env=None, **kw) -> tuple[int, bytes]:
    return run_pty([ws.ferry, "--home", ws.home, *args], env=env or terminal_env(), **kw)


def cli_pipe(ws, *args, env=None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(ws.ferry), "--home", str(ws.home), *map(str, args)], capture_output=True,
                          env=env or terminal_env(), timeout=timeout)


@pytest.fixture
def done_run(workspace, src):
    (src / "ok.py").write_text("print('ok')\n")
    run_id, _ = workspace.submit(src, "ok.py", wait=True)
    return run_id


# ---- colour


def test_statuses_are_coloured_on_a_terminal_only(workspace, done_run):
    rc, out = cli_pty(workspace, "run", "list")
    assert rc == 0, out
    assert b"\x1b[32mCompleted\x1b[0m" in out, out  # green
    # Columns stay aligned: the padding is outside the colour codes.
    row = next(line for line in out.splitlines() if done_run.encode() in line)
    assert SGR.sub(b"", row).split()[1] == b"Completed", row

    piped = cli_pipe(workspace, "run", "list")
    assert piped.returncode == 0 and done_run.encode() in piped.stdout, piped
    assert b"\x1b[" not in piped.stdout + piped.stderr, piped

    rc, out = cli_pty(workspace, "run", "show", done_run)
    assert rc == 0 and b"\x1b[32mCompleted" in out, out


@pytest.mark.parametrize("how", ["NO_COLOR", "--no-color", "TERM=dumb"])
def test_no_colour_when_asked(workspace, done_run, how):
    env = terminal_env()
    args = ["run", "list"]
    if how == "NO_COLOR":
        env["NO_COLOR"] = "1"
    elif how == "TERM=dumb":
        env["TERM"] = "dumb"
    else:
        args.append("--no-color")
    rc, out = cli_pty(workspace, *args, env=env)
    assert rc == 0 and done_run.encode() in out, out
    assert not SGR.search(out), out


def test_empty_no_color_does_not_turn_colour_off(workspace, done_run):
    rc, out = cli_pty(workspace, "run", "list", env=terminal_env(NO_COLOR=""))  # no-color.org
    assert rc == 0 and b"\x1b[32mCompleted" in out, out


def test_errors_say_error_in_red_on_a_terminal(workspace):
    rc, out = cli_pty(workspace, "run", "show", "no_such_run_42")
    assert rc == 1, out
    assert b"ferry: \x1b[1;31merror:\x1b[0m " in out and b"no_such_run_42" in out, out
    rc, out = cli_pty(workspace, "run", "show", "no_such_run_42", env=terminal_env(NO_COLOR="1"))
    assert rc == 1 and b"ferry: error: " in out and not SGR.search(out), out
    # In a pipe the message keeps the form scripts match.
    piped = cli_pipe(workspace, "run", "show", "no_such_run_42")
    assert piped.returncode == 1 and piped.stderr.startswith(b"ferry: "), piped
    assert b"error:" not in piped.stderr and b"\x1b[" not in piped.stderr, piped


# ---- progress


@pytest.fixture
def big_src(src):
    (src / "ok.py").write_text("print('ok')\n")
    for i in range(40):
        (src / f"data_{i}.bin").write_bytes(os.urandom(64 * 1024))
    return src


def submit_args(src, *extra):
    return ["run", "submit", "--source-dir", src, "--python", sys.executable, *extra, "ok.py"]


@pytest.mark.parametrize("upload", ["local", "http"])
def test_snapshot_progress_on_a_terminal(workspace, big_src, upload):
    env = terminal_env(**({"FERRY_UPLOAD": "http"} if upload == "http" else {}))
    rc, out = cli_pty(workspace, *submit_args(big_src), env=env)
    assert rc == 0, out
    # Redrawn in place with \r, erased before the summary line.
    assert re.search(rb"\rHashing \d+/41 files, [0-9.]+ (B|KiB|MiB)/2\.\d MiB", out), out
    if upload == "http":
        assert re.search(rb"\rUploading \d+/41 files", out), out
    assert b"\r\x1b[KSnapshot " in out, out
    assert re.search(rb"Snapshot \w+: 41 files, \d+ bytes; uploaded 41 files", out), out


def test_no_progress_in_pipes_or_with_json(workspace, big_src):
    piped = cli_pipe(workspace, *submit_args(big_src), env=terminal_env(FERRY_UPLOAD="http"))
    assert piped.returncode == 0, piped
    assert b"\r" not in piped.stderr and b"Hashing" not in piped.stderr and b"\x1b[" not in piped.stderr, piped
    assert b"Snapshot " in piped.stderr, piped  # the milestone line stays
    (big_src / "more.bin").write_bytes(os.urandom(64 * 1024))  # something to hash again
    rc, out = cli_pty(workspace, "-o", "json", *submit_args(big_src), env=terminal_env(FERRY_UPLOAD="http"))
    assert rc == 0, out
    assert b"Hashing" not in out and b"Uploading" not in out and b"\r\x1b[K" not in out, out


@pytest.fixture
def one_slot(make_workspace):
    return make_workspace(max_runs=1)


def blocker(ws, src) -> tuple[str, Path]:
    """A run that holds the only slot until the returned file exists."""
    release = src.parent / f"release_{time.monotonic_ns()}"
    (src / "hold.py").write_text(
        f"import os, time\nwhile not os.path.exists({str(release)!r}):\n    time.sleep(0.05)\n")
    run_id, _ = ws.submit(src, "hold.py")
    ws.wait_status(run_id, "Running")
    return run_id, release


def test_wait_shows_a_queued_run_on_a_terminal(one_slot, src):
    ws = one_slot
    (src / "ok.py").write_text("print('after the wait')\n")
    held, release = blocker(ws, src)

    def on_output(out: bytes):
        if b"Queued: queued" in out:
            release.touch()

    rc, out = cli_pty(ws, *submit_args(src, "--wait"), on_output=on_output)
    assert rc == 0, out
    assert re.search(rb"\rRun \S+ Queued: queued \(\d+ s\)", out), out
    assert b"after the wait" in out, out
    # The line is erased before the run's output, which starts at the beginning of a line.
    before = out[:out.index(b"after the wait")]
    assert before.rfind(b"\r\x1b[K") > before.rfind(b"\rRun "), out
    ws.wait_status(held, "Completed")


def test_wait_in_a_pipe_prints_no_progress(one_slot, src):
    ws = one_slot
    (src / "ok.py").write_text("print('after the wait')\n")
    held, release = blocker(ws, src)
    p = subprocess.Popen([str(ws.ferry), "--home", str(ws.home), *map(str, submit_args(src, "--wait"))],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=terminal_env())

    def queued():
        runs = ws.api("GET", "/runs?limit=10")[1]["runs"]
        return any(r["status"] == "Queued" for r in runs)

    wait_until(queued, 60, "the second run to be queued")
    release.touch()
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, (out, err)
    assert b"after the wait" in out
    assert b"\r" not in err and b"queued (" not in err and b"\x1b[" not in err, err


def test_wait_shows_the_environment_build_on_a_terminal(make_workspace, src, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
    from wheels import make_wheel
    from test_environments import JOB, managed, offline_env

    wheels = tmp_path / "wheels"
    make_wheel(wheels, "ferrytestpkg", "1.0")
    ws = make_workspace(env=offline_env(wheels, "pip"))
    (src / "requirements.txt").write_text("ferrytestpkg==1.0\n")
    (src / "job.py").write_text(JOB)
    (src / "m.runconfig").write_text(managed("") + "requirementsFile: requirements.txt\n")
    rc, out = cli_pty(ws, "run", "submit-script", "-d", src, "-c", src / "m.runconfig", "--wait")
    assert rc == 0, out
    assert b"pkg 1.0" in out, out
    # Drawn while the run is Preparing (below the build's output once some has come), erased
    # before the script's.
    assert re.search(rb"\rRun \S+ Preparing: (preparing the working copy and|building) the pip environment "
                     rb"from requirements\.txt \(\d+ s\)", out), out
    before = out[:out.index(b"pkg 1.0")]
    assert before.rfind(b"\r\x1b[K") > before.rfind(b"\rRun "), out


def test_cluster_wait_counts_nodes_on_a_terminal(make_workspace):
    from test_clusters import _force_cleanup, _missing

    why = _missing()
    if why:
        pytest.fail(why)
    ws = make_workspace()
    try:
        rc, out = cli_pty(ws, "compute", "create", "cluster", "tty", "--provider", "netns", "--min-nodes", "1",
                          "--max-nodes", "1", "--node-size", "1,1000", "--wait", timeout=180)
        assert rc == 0, out
        assert re.search(rb"\rcluster tty: \d/1 nodes up, \d+ starting \(\d+ s\)", out), out
        assert b"cluster tty ready: 1 node(s) up" in out, out
        # Erased before the node lines and the final one, which stay.
        before = out[:out.index(b"cluster tty ready")]
        assert before.rfind(b"\r\x1b[K") > before.rfind(b"\rcluster tty:"), out
    finally:
        ws.cli("compute", "delete", "tty", "--force", "--yes", check=False)
        _force_cleanup(ws.home)


# ---- completion


def bash_complete(ferry: Path, *words: str) -> list[str]:
    """What the generated bash completion offers for the last of words (the one being typed)."""
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in ("ferry", *words))
    script = (f"source <('{ferry}' completion bash) || exit 9\n"
              f"COMP_WORDS=({quoted}); COMP_CWORD={len(words)}\n"
              "_ferry; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    return [w for w in r.stdout.splitlines() if w]


def help_commands(ferry: Path, *path: str) -> list[str]:
    r = subprocess.run([str(ferry), *path, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    text = r.stdout.split("Subcommands:", 1)[1]
    return [line.split()[0] for line in text.splitlines() if line.startswith("  ") and line.strip()]


def test_bash_completion_loads(ferry_bin):
    r = subprocess.run(["bash", "-c", f"source <('{ferry_bin}' completion bash); complete -p ferry"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    assert r.stdout.strip() == "complete -o default -F _ferry ferry", r


def test_bash_completion_offers_the_command_tree(ferry_bin):
    # Every verb of the help, none of the internal ones: the script is made from the same tree.
    assert sorted(bash_complete(ferry_bin, "")) == sorted(help_commands(ferry_bin))
    assert "agent" not in bash_complete(ferry_bin, "a")
    assert bash_complete(ferry_bin, "ru") == ["run"]
    assert sorted(bash_complete(ferry_bin, "run", "")) == sorted(help_commands(ferry_bin, "run"))
    assert set(bash_complete(ferry_bin, "run", "sub")) == {"submit", "submit-script", "submit-hyperdrive",
                                                          "submit-pipeline"}
    # Flags take no value: the word after one is still a command.
    assert bash_complete(ferry_bin, "--no-color", "ru") == ["run"]
    assert sorted(bash_complete(ferry_bin, "run", "submit", "--wait", "-")) == sorted(
        bash_complete(ferry_bin, "run", "submit", "-"))
    # Global options before the verb, with their values, are stepped over.
    assert sorted(bash_complete(ferry_bin, "--home", "/tmp/x", "compute", "attach", "")) == ["slurm", "ssh"]
    assert sorted(bash_complete(ferry_bin, "-o", "json", "compute", "create", "")) == sorted(
        help_commands(ferry_bin, "compute", "create"))


def test_bash_completion_offers_options_at_every_level(ferry_bin):
    assert "--wait" in bash_complete(ferry_bin, "run", "submit", "--w")
    assert "--experiment" in bash_complete(ferry_bin, "run", "submit", "--e")
    assert "--max-nodes" in bash_complete(ferry_bin, "compute", "create", "cluster", "--max")
    # The root's options apply after the verb too (ferry run list -o json).
    assert "--no-color" in bash_complete(ferry_bin, "run", "list", "--no")
    assert "--output" in bash_complete(ferry_bin, "sweep", "show", "--out")
    # After an option that takes a value, nothing is offered (files, from -o default).
    assert bash_complete(ferry_bin, "run", "submit", "--experiment", "") == []
    # After --, the words are the script's.
    assert bash_complete(ferry_bin, "run", "submit", "x.py", "--", "") == []


def test_zsh_completion(ferry_bin):
    r = subprocess.run([str(ferry_bin), "completion", "zsh"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    text = r.stdout
    assert text.startswith("#compdef ferry\n"), text[:200]
    assert "typeset -gA _ferry_commands" in text and "compdef _ferry ferry" in text
    assert "['ferry run']='" + " ".join(help_commands(ferry_bin, "run")) + "'" in text
    assert re.search(r"\['ferry run submit'\]='[^']*--wait", text)
    if shutil.which("zsh"):
        z = subprocess.run(["zsh", "-c", f"autoload -U compinit; compinit -u; source <('{ferry_bin}' completion zsh); "
                            "print -r -- $_comps[ferry]"], capture_output=True, text=True, timeout=30)
        assert z.returncode == 0 and z.stdout.strip() == "_ferry", z


def test_completion_needs_a_known_shell(ferry_bin):
    r = subprocess.run([str(ferry_bin), "completion", "fish"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r


# ---- unknown commands


@pytest.mark.parametrize("args,message", [
    (["rnu"], "ferry: error: unknown command 'rnu'; did you mean 'run'?"),
    (["swep"], "ferry: error: unknown command 'swep'; did you mean 'sweep'?"),
    (["env"], "ferry: error: unknown command 'env'; did you mean 'environment'?"),
    (["run", "lst"], "ferry: error: unknown command 'lst' for 'ferry run'; did you mean 'list'?"),
    (["compute", "attach", "shh"],
     "ferry: error: unknown command 'shh' for 'ferry compute attach'; did you mean 'ssh'?"),
    (["--home", "/tmp/nowhere", "run", "-o", "json", "lsit"],
     "ferry: error: unknown command 'lsit' for 'ferry run'; did you mean 'list'?"),
])
def test_unknown_command_suggests_the_nearest(ferry_bin, tmp_path, args, message):
    r = subprocess.run([str(ferry_bin), "--home", str(tmp_path / "home"), *args], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2, r
    assert r.stderr.splitlines()[0] == message, r.stderr
    assert "A subcommand is required" not in r.stderr
    assert not (tmp_path / "home" / "server.json").exists()  # nothing was started


def test_unknown_command_far_from_all_lists_them(ferry_bin, tmp_path):
    r = subprocess.run([str(ferry_bin), "--home", str(tmp_path), "foo"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    first = r.stderr.splitlines()[0]
    assert first.startswith("ferry: error: unknown command 'foo'; the commands are: run, sweep"), r.stderr
    assert "did you mean" not in first and "agent" not in first


@pytest.mark.parametrize("args,path", [([], "ferry"), (["run"], "ferry run"), (["compute", "attach"], "ferry compute attach")])
def test_missing_command_lists_the_commands(ferry_bin, tmp_path, args, path):
    r = subprocess.run([str(ferry_bin), "--home", str(tmp_path), *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    expected = ", ".join(help_commands(ferry_bin, *args))
    assert r.stderr.splitlines()[0] == f"ferry: error: '{path}' needs a command: {expected}", r.stderr


def test_other_usage_errors_keep_exit_code_2(ferry_bin, tmp_path):
    r = subprocess.run([str(ferry_bin), "--home", str(tmp_path), "run", "list", "--bogus"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and "--bogus" in r.stderr, r
