"""Rootful podman for Ferry's integration tests: real containers, offline, with all of podman's
state in one private directory.

    pm = Podman(tmp_path / "podman")           # writes storage.conf + containers.conf there
    image = ensure_python_image(pm)            # busybox + CPython 3.11 (venv, ensurepip), cached
    pm.run(*pm.run_argv(image, "python3", "-c", "print(1)", volumes={host: "/work"}))
    subprocess.run(["podman", ...], env=pm.environ())   # what Ferry's agent does: env is all it needs
    pm.cleanup()

Why the configuration looks like this (Debian 12, podman 4.3, root without CAP_SYS_RESOURCE,
hybrid cgroup v1 + v2, no systemd):
- runtime runc: podman's default crun refuses hybrid cgroup hosts. Our runc entry is a tiny
  wrapper that passes `--root <dir>/runc`, so runc's state is under the directory too (plain
  runc uses /run/runc).
- cgroup_manager cgroupfs (no systemd); containers land in /sys/fs/cgroup/*/libpod_parent/.
- default_ulimits clamped to this process's hard limits: podman's rootful defaults
  (nofile=1048576, nproc=4194304) fail every run with "setrlimit: Operation not permitted".
  Note that any `--ulimit` flag replaces these defaults.
- events to a file, tmp/volume/network dirs under the directory. No network plugins are
  installed: only --network=host or none work (host is made the default, see `default_network`).
Outside the directory podman 4.3 still writes /var/lib/containers/cache (blob info cache, on
import) and the SHM lock segment /dev/shm/libpod_lock (shared by all rootful podman instances);
`cleanup(purge_global=True)` removes those and empty libpod_parent cgroups.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import resource
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

PYTHON_IMAGE = "localhost/ferry-test-python:3.11"
CACHE_DIR = Path(os.environ.get("FERRY_TEST_CACHE", "/tmp/ferry-test-cache"))
_LABEL = "ferry.test.rootfs"
_IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _toml_str(s: str) -> str:
    return json.dumps(str(s))  # a JSON string is a valid TOML basic string


class PodmanError(RuntimeError):
    pass


class Podman:
    """Rootful podman with all its state under `root` (created if missing; reusable across runs)."""

    def __init__(self, root: str | os.PathLike, *, default_network: str | None = "host"):
        self.root = Path(root).resolve()
        self.default_network = default_network
        self.nofile, self.nproc = self._ulimits()  # the containers' default (clamped) limits
        for d in ("graphroot", "runroot", "tmp", "net", "vol", "runc", "bin"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        self._write_config()

    # ---- configuration -------------------------------------------------------------------
    @staticmethod
    def _ulimits() -> tuple[int, int]:
        def clamp(limit: int, cap: int) -> int:
            return cap if limit == resource.RLIM_INFINITY else min(limit, cap)
        nofile = clamp(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 1048576)
        # podman 4.3 lowers its own RLIMIT_NPROC to 32768, so containers cannot get more.
        nproc = clamp(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768)
        return nofile, nproc

    def _write_config(self) -> None:
        r = self.root
        runc = shutil.which("runc") or "/usr/bin/runc"
        wrapper = r / "bin/runc"
        _write_if_changed(wrapper, f'#!/bin/sh\nexec {runc} --root "{r}/runc" "$@"\n', 0o755)
        _write_if_changed(r / "storage.conf", (
            "[storage]\n"
            'driver = "overlay"\n'
            f"runroot = {_toml_str(r / 'runroot')}\n"
            f"graphroot = {_toml_str(r / 'graphroot')}\n"))
        nofile, nproc = self.nofile, self.nproc
        netns = f"netns = {_toml_str(self.default_network)}\n" if self.default_network else ""
        _write_if_changed(r / "containers.conf", (
            "[containers]\n"
            f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
            'log_driver = "k8s-file"\n'
            f"{netns}"
            "[engine]\n"
            'runtime = "runc"\n'
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f"events_logfile_path = {_toml_str(r / 'events.log')}\n"
            f"tmp_dir = {_toml_str(r / 'tmp')}\n"
            f"image_copy_tmp_dir = {_toml_str(r / 'tmp')}\n"
            f"volume_path = {_toml_str(r / 'vol')}\n"
            "[engine.runtimes]\n"
            f"runc = [{_toml_str(wrapper)}]\n"
            "[network]\n"
            f"network_config_dir = {_toml_str(r / 'net')}\n"))

    @property
    def env(self) -> dict[str, str]:
        """The environment variables (to add to os.environ) that point podman at this directory."""
        return {"CONTAINERS_STORAGE_CONF": str(self.root / "storage.conf"),
                "CONTAINERS_CONF": str(self.root / "containers.conf")}

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """os.environ + env (+ extra): the environment for any process that runs podman."""
        e = dict(os.environ)
        e.update(self.env)
        e.update(extra or {})
        return e

    # ---- availability --------------------------------------------------------------------
    @staticmethod
    def unavailable_reason() -> str | None:
        """Why rootful podman cannot run here (for pytest.skip), or None when it can."""
        if os.geteuid() != 0:
            return "rootful podman needs root"
        for tool in ("podman", "runc", "conmon"):
            if not (shutil.which(tool) or tool == "conmon" and (
                    os.path.exists("/usr/bin/conmon") or os.path.exists("/usr/libexec/podman/conmon"))):
                return f"{tool} is not installed (scripts/setup.sh installs podman, runc, busybox-static)"
        if not Path("/bin/busybox").exists():
            return "busybox-static is not installed"
        return None

    @classmethod
    def available(cls) -> bool:
        return cls.unavailable_reason() is None

    # ---- running podman ------------------------------------------------------------------
    def run(self, *args: str, check: bool = True, capture: bool = True, timeout: float | None = 300,
            input: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Runs `podman ARGS...` with this directory's configuration; text output captured."""
        argv = ["podman", *map(str, args)]
        p = subprocess.run(argv, env=self.environ(env), text=True, input=input, timeout=timeout,
                           stdout=subprocess.PIPE if capture else None,
                           stderr=subprocess.PIPE if capture else None)
        if check and p.returncode != 0:
            raise PodmanError(f"{' '.join(argv)} -> rc {p.returncode}\n{p.stderr or ''}{p.stdout or ''}")
        return p

    def popen(self, *args: str, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
        """Starts `podman ARGS...` in the background (kw go to subprocess.Popen)."""
        return subprocess.Popen(["podman", *map(str, args)], env=self.environ(env), **kw)

    def run_argv(self, image: str, *command: str, name: str | None = None,
                 volumes: dict[str, str] | None = None, env: dict[str, str] | None = None,
                 workdir: str | None = None, network: str | None = "host", init: bool = False,
                 rm: bool = True, extra: tuple[str, ...] | list[str] = ()) -> list[str]:
        """Arguments after `podman` for `podman run` (prefix with "podman" for a full argv).
        volumes: {host path: container path} (append ":ro" etc. to the container path)."""
        a = ["run", "--pull=never"]
        if rm:
            a.append("--rm")
        if network:
            a.append(f"--network={network}")
        if init:
            a.append("--init")
        if name:
            a += ["--name", name]
        for host, ctr in (volumes or {}).items():
            a += ["-v", f"{os.path.abspath(host)}:{ctr}"]
        for k, v in (env or {}).items():
            a += ["-e", f"{k}={v}"]
        if workdir:
            a += ["-w", workdir]
        a += list(extra)
        return [*a, image, *command]

    def ulimit_args(self, **limits: int) -> list[str]:
        """--ulimit flags for both nofile and nproc (any --ulimit flag drops *all* default_ulimits,
        and podman's built-in nproc=4194304 then fails: "error setting rlimit type 6")."""
        lim = {"nofile": self.nofile, "nproc": self.nproc, **limits}
        return [a for k, v in lim.items() for a in ("--ulimit", f"{k}={v}:{v}")]

    def image_exists(self, ref: str) -> bool:
        return self.run("image", "exists", ref, check=False).returncode == 0

    def image_label(self, ref: str, label: str) -> str | None:
        p = self.run("image", "inspect", "--format", "{{json .Labels}}", ref, check=False)
        if p.returncode != 0:
            return None
        return (json.loads(p.stdout.strip() or "null") or {}).get(label)

    def container_ids(self) -> list[str]:
        return self.run("ps", "-aq", "--no-trunc").stdout.split()

    # ---- cleanup -------------------------------------------------------------------------
    def remove_containers(self) -> None:
        """Kills and removes every container of this directory (images stay)."""
        ids = self.container_ids() if (self.root / "storage.conf").exists() else []
        if ids:
            self.run("rm", "-f", "-t", "0", *ids, check=False)
        _rmdir_cgroups(ids)

    def cleanup(self, *, keep_images: bool = False, purge_global: bool = False) -> None:
        """Removes what this instance made: containers, their cgroups and mounts, and (unless
        keep_images) all storage and the directory itself. purge_global also removes the few
        host-wide things podman/runc leave (only when no other podman is in use): empty
        libpod_parent cgroups, /var/lib/containers/cache, /dev/shm/libpod_lock, /run/runc."""
        if not self.root.exists():
            return
        try:
            self.remove_containers()
        except (PodmanError, OSError, subprocess.TimeoutExpired):
            pass
        if not keep_images:
            try:
                self.run("system", "reset", "-f", check=False, timeout=120)
            except (OSError, subprocess.TimeoutExpired):
                pass
            for m in _mounts_under(self.root):
                if subprocess.run(["umount", m], capture_output=True).returncode != 0:
                    subprocess.run(["umount", "-l", m], capture_output=True)
            shutil.rmtree(self.root, ignore_errors=True)
        if purge_global:
            for top in Path("/sys/fs/cgroup").glob("*/libpod_parent"):
                for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                    _try_rmdir(d)
                _try_rmdir(top)
            shutil.rmtree("/var/lib/containers/cache", ignore_errors=True)
            _try_rmdir(Path("/var/lib/containers"))
            for d in ("/run/runc", "/run/crun"):
                _try_rmdir(Path(d))
            try:
                os.unlink("/dev/shm/libpod_lock")
            except OSError:
                pass

    def __enter__(self) -> "Podman":
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()


def _write_if_changed(path: Path, text: str, mode: int | None = None) -> None:
    if not (path.exists() and path.read_text() == text):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        if mode is not None:
            tmp.chmod(mode)
        tmp.replace(path)


def _try_rmdir(p: Path) -> None:
    try:
        p.rmdir()
    except OSError:
        pass


def _rmdir_cgroups(ids: list[str]) -> None:
    """runc removes a container's cgroups; this catches what a killed runtime may leave."""
    for cid in ids:
        for d in Path("/sys/fs/cgroup").glob(f"*/libpod_parent/libpod-{cid}*"):
            for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                _try_rmdir(sub)
            _try_rmdir(d)


def _mounts_under(root: Path) -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")  # \040 etc.
            if mp == str(root) or mp.startswith(str(root) + "/"):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


# ==== the Python image ===================================================================

# Stdlib parts that a container never needs (relative to lib/python3.11).
_PRUNE_DIRS = {"test", "idlelib", "tkinter", "turtledemo", "site-packages", "lib2to3/tests",
               "unittest/test", "ctypes/test", "distutils/tests", "sqlite3/test", "tkinter/test"}
_PRUNE_MODULES = {"turtle"}  # top-level .py (and its __pycache__ entry)
_PRUNE_EXT = {"_tkinter", "_curses", "_curses_panel", "_ctypes_test", "_xxtestfuzz", "xxsubtype",
              "nis", "ossaudiodev", "spwd"}
_PRUNE_EXT_PREFIXES = ("_test", "xxlimited")


def find_python311() -> Path:
    """A CPython 3.11 prefix with bin/python3.11 and ensurepip's bundled wheels:
    $FERRY_TEST_PYTHON_PREFIX, this interpreter's base prefix, or a pyenv 3.11.x."""
    import sys
    cands = [os.environ.get("FERRY_TEST_PYTHON_PREFIX", ""), sys.base_prefix]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    cands += sorted((str(p) for p in pyenv.glob("3.11.*")), reverse=True)
    for c in cands:
        if not c:
            continue
        p = Path(c)
        if (p / "bin/python3.11").is_file() and list((p / "lib/python3.11/ensurepip/_bundled").glob("pip-*.whl")):
            return p
    raise PodmanError("no CPython 3.11 with ensurepip found (set FERRY_TEST_PYTHON_PREFIX)")


def _ldd(paths: list[str]) -> set[str]:
    """Host shared libraries (absolute paths, as the loader names them) that paths need."""
    libs: set[str] = set()
    out = subprocess.run(["ldd", *paths], capture_output=True, text=True).stdout
    for line in out.splitlines():
        line = line.strip()
        if "not found" in line:
            raise PodmanError(f"ldd: {line}")
        if line.endswith(":") and "(" not in line:  # "path:" header when ldd gets several files
            continue
        target = (line.split("=>", 1)[1] if "=>" in line else line).split("(")[0].strip()
        if target.startswith("/"):
            libs.add(target)
    return libs


def _python_plan(prefix: Path) -> list[tuple]:
    """The image's contents: (arcname, kind, source, mode) with kind dir|file|elf|data|symlink
    (elf: a file that is stripped of debug info when `strip` is installed; pyenv builds keep it)."""
    plan: list[tuple] = []
    for d, mode in (("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("home", 0o755), ("lib64", 0o755),
                    ("mnt", 0o755), ("proc", 0o555), ("root", 0o700), ("run", 0o755), ("sys", 0o555),
                    ("tmp", 0o1777), ("usr", 0o755), ("usr/bin", 0o755), ("usr/lib", 0o755),
                    ("usr/local", 0o755), ("usr/local/bin", 0o755), ("usr/local/lib", 0o755),
                    ("usr/sbin", 0o755), ("var", 0o755), ("var/tmp", 0o1777), ("work", 0o755)):
        plan.append((d, "dir", None, mode))
    plan.append(("lib", "symlink", "usr/lib", 0o777))
    plan.append(("sbin", "symlink", "bin", 0o777))
    # busybox: sh + coreutils etc. as applet symlinks in /bin
    plan.append(("bin/busybox", "file", "/bin/busybox", 0o755))
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
    plan += [(f"bin/{a}", "symlink", "busybox", 0o777) for a in sorted(set(applets)) if a != "busybox"]
    plan.append(("usr/bin/env", "symlink", "/bin/busybox", 0o777))
    # CPython
    py = prefix / "bin/python3.11"
    plan.append(("usr/local/bin/python3.11", "elf", str(py), 0o755))
    for alias in ("python3", "python"):
        plan.append((f"usr/local/bin/{alias}", "symlink", "python3.11", 0o777))
    plan.append(("usr/bin/python3", "symlink", "/usr/local/bin/python3.11", 0o777))
    elves = [str(py)]
    libpy = prefix / "lib/libpython3.11.so.1.0"
    if libpy.exists():
        plan.append(("usr/local/lib/libpython3.11.so.1.0", "elf", str(libpy), 0o755))
        plan.append(("usr/local/lib/libpython3.11.so", "symlink", "libpython3.11.so.1.0", 0o777))
        elves.append(str(libpy))
    stdlib = prefix / "lib/python3.11"
    base = "usr/local/lib/python3.11"
    for dirpath, dirnames, filenames in os.walk(stdlib):
        rel = os.path.relpath(dirpath, stdlib)
        rel = "" if rel == "." else rel
        plan.append((os.path.join(base, rel).rstrip("/"), "dir", None, 0o755))
        dirnames[:] = [d for d in sorted(dirnames)
                       if os.path.join(rel, d) not in _PRUNE_DIRS and not d.startswith("config-3.11")]
        for f in sorted(filenames):
            stem = f.split(".")[0]
            if ".opt-1." in f or ".opt-2." in f or (rel in ("", "__pycache__") and stem in _PRUNE_MODULES):
                continue
            src = os.path.join(dirpath, f)
            if rel == "lib-dynload":
                if stem.startswith(_PRUNE_EXT_PREFIXES) or stem in _PRUNE_EXT:
                    continue
                elves.append(src)
            plan.append((os.path.join(base, rel, f), "elf" if rel == "lib-dynload" else "file",
                         os.path.realpath(src), None))
    plan.append((f"{base}/site-packages", "dir", None, 0o755))
    # host shared libraries, at their loader paths (/lib -> usr/lib in the image)
    for lib in sorted(_ldd(elves)):
        if lib.startswith(str(prefix)):
            continue
        arc = lib.lstrip("/")
        if arc.startswith("lib/"):
            arc = "usr/" + arc
        plan.append((str(Path(arc).parent), "dir", None, 0o755))
        plan.append((arc, "file", os.path.realpath(lib), 0o755))
    libc_dir = next((str(Path(e[0]).parent) for e in plan if e[0].endswith("/libc.so.6")), "usr/lib")
    if libpy.exists():  # python3.11's RUNPATH is the host prefix: put it on the loader's default path
        plan.append((f"{libc_dir}/libpython3.11.so.1.0", "symlink", "/usr/local/lib/libpython3.11.so.1.0", 0o777))
    etc = {
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        "etc/group": "root:x:0:\nnogroup:x:65534:\n",
        "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        "etc/resolv.conf": "",
        "etc/hostname": "ferry-test\n",
        "etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
        "etc/os-release": 'NAME="ferry-test-python"\nID=ferry-test\nVERSION_ID="3.11"\n',
    }
    plan += [(k, "data", v, 0o644) for k, v in etc.items()]
    # dedupe (directories may repeat), keep the first
    seen, out = set(), []
    for e in plan:
        if e[0] not in seen:
            seen.add(e[0])
            out.append(e)
    return out


def _plan_key(plan: list[tuple]) -> str:
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(f"strip={shutil.which('strip')}\n".encode())
    for arc, kind, src, mode in plan:
        h.update(f"{arc}\0{kind}\0{mode}\0".encode())
        if kind in ("file", "elf"):
            st = os.stat(src)
            h.update(f"{src}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        elif src is not None:
            h.update(str(src).encode())
        h.update(b"\n")
    return h.hexdigest()


def _write_tar(plan: list[tuple], out: Path) -> None:
    strip = shutil.which("strip")
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch, \
            tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as t:
        now = int(time.time())
        for i, (arc, kind, src, mode) in enumerate(plan):
            if kind == "elf":
                if strip:
                    tmp = os.path.join(scratch, str(i))
                    shutil.copy2(src, tmp)
                    if subprocess.run([strip, "--strip-unneeded", tmp], capture_output=True).returncode == 0:
                        src = tmp
                kind = "file"
            if kind == "file":
                ti = t.gettarinfo(src, arcname=arc)
                if mode is not None:
                    ti.mode = mode
            else:
                ti = tarfile.TarInfo(arc)
                ti.mtime = now
                ti.mode = mode
                if kind == "dir":
                    ti.type = tarfile.DIRTYPE
                elif kind == "symlink":
                    ti.type, ti.linkname = tarfile.SYMTYPE, src
                else:
                    ti.size = len(src.encode())
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            if kind == "file" and ti.isreg():
                with open(src, "rb") as f:
                    t.addfile(ti, f)
            elif kind == "data":
                t.addfile(ti, io.BytesIO(src.encode()))
            else:
                t.addfile(ti)


_built: dict[tuple[str, str], tuple[Path, str]] = {}


def python_rootfs_tarball(cache_dir: str | os.PathLike | None = None,
                          python_prefix: str | os.PathLike | None = None) -> tuple[Path, str]:
    """(tarball, key): the rootfs tarball of the Python image, built once per content hash of
    its inputs (this file, busybox, the interpreter and stdlib, the host libraries) under
    cache_dir (default $FERRY_TEST_CACHE or /tmp/ferry-test-cache)."""
    cache = Path(cache_dir) if cache_dir else CACHE_DIR
    memo_key = (str(cache), str(python_prefix))
    if memo_key in _built and _built[memo_key][0].exists():
        return _built[memo_key]  # once per process: planning costs ~0.3 s (ldd, stat of ~1800 files)
    cache.mkdir(parents=True, exist_ok=True)
    plan = _python_plan(Path(python_prefix) if python_prefix else find_python311())
    key = _plan_key(plan)
    out = cache / f"python311-rootfs-{key[:16]}.tar"
    _built[memo_key] = (out, key)
    if out.exists():
        return out, key
    with open(cache / "python311-rootfs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not out.exists():
            fd, tmp = tempfile.mkstemp(dir=cache, prefix=".rootfs-", suffix=".tar")
            os.close(fd)
            try:
                _write_tar(plan, Path(tmp))
                os.chmod(tmp, 0o644)
                os.replace(tmp, out)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            for old in cache.glob("python311-rootfs-*.tar"):
                if old != out:
                    old.unlink(missing_ok=True)
    return out, key


def ensure_python_image(podman: Podman, tag: str = PYTHON_IMAGE, *,
                        cache_dir: str | os.PathLike | None = None,
                        python_prefix: str | os.PathLike | None = None) -> str:
    """Makes `tag` (busybox + CPython 3.11 with venv/ensurepip, python3 and python on PATH)
    present in podman's storage, importing the cached rootfs tarball when the image is missing
    or was built from other inputs. Returns tag."""
    tarball, key = python_rootfs_tarball(cache_dir, python_prefix)
    if podman.image_label(tag, _LABEL) == key:
        return tag
    old = podman.run("image", "inspect", "--format", "{{.Id}}", tag, check=False).stdout.strip()
    podman.run("import", "-q",
               "--change", f"ENV PATH={_IMAGE_PATH}",
               "--change", "ENV LANG=C.UTF-8",
               "--change", "ENV PIP_DISABLE_PIP_VERSION_CHECK=1",
               "--change", "ENV PIP_NO_INPUT=1",
               "--change", f"LABEL {_LABEL}={key}",
               "--change", 'CMD ["/bin/sh"]',
               str(tarball), tag)
    if old:
        podman.run("rmi", "-f", old, check=False)
    return tag
