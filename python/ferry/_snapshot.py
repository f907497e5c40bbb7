"""Snapshots of a source directory for the SDK's submissions: the same rules, manifest and id as
the CLI's (src/snapshot): per directory the first of .ferryignore / .amlignore / .gitignore
(gitignore syntax, deeper files win, the last matching rule wins, an ignored directory is never
walked), ``.git`` always excluded; a symlink to a regular file inside the directory is its
target's content, one to a directory is not followed, one pointing outside is an error.

Manifest: one ``"<mode> <size> <sha256> <path>\\n"`` line per file (mode 755 when any execute
bit is set, else 644), sorted by path bytes; the snapshot id is the SHA-256 of that text.
"""

from __future__ import annotations

import hashlib
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Dict, Iterator, List, Optional, Tuple, Union

    from ._client import Client

IGNORE_FILES = (".ferryignore", ".amlignore", ".gitignore")

_MATCH, _NO_MATCH, _ABORT_ALL, _ABORT_TO_STAR_STAR = 0, 1, -1, -2

_CLASSES = {
    b"alnum": lambda c: chr(c).isalnum() and c < 128,
    b"alpha": lambda c: chr(c).isalpha() and c < 128,
    b"blank": lambda c: c in (0x20, 0x09),
    b"cntrl": lambda c: c < 0x20 or c == 0x7F,
    b"digit": lambda c: 0x30 <= c <= 0x39,
    b"graph": lambda c: 0x21 <= c <= 0x7E,
    b"lower": lambda c: 0x61 <= c <= 0x7A,
    b"print": lambda c: 0x20 <= c <= 0x7E,
    b"punct": lambda c: 0x21 <= c <= 0x7E and not chr(c).isalnum(),
    b"space": lambda c: c in (0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D),
    b"upper": lambda c: 0x41 <= c <= 0x5A,
    b"xdigit": lambda c: chr(c) in "0123456789abcdefABCDEF",
}


def _wild(pat: bytes, p: int, text: bytes, t: int) -> int:
    """git's wildmatch with WM_PATHNAME (a port of src/snapshot/ignore.cc)."""
    pn, tn = len(pat), len(text)
    while p < pn:
        p_ch = pat[p]
        t_ch = text[t] if t < tn else 0
        if t >= tn and p_ch != 0x2A:  # '*'
            return _ABORT_ALL
        if p_ch == 0x5C:  # '\\'
            if p + 1 < pn:
                p += 1
                p_ch = pat[p]
            if t_ch != p_ch:
                return _NO_MATCH
        elif p_ch == 0x3F:  # '?'
            if t_ch == 0x2F:
                return _NO_MATCH
        elif p_ch == 0x2A:  # '*'
            first_star = p
            match_slash = False
            while p + 1 < pn and pat[p + 1] == 0x2A:
                p += 1
            if p != first_star:
                starts = first_star == 0 or pat[first_star - 1] == 0x2F
                ends = p + 1 >= pn or pat[p + 1] == 0x2F or (pat[p + 1] == 0x5C and p + 2 < pn and pat[p + 2] == 0x2F)
                if starts and ends:
                    if p + 1 < pn and pat[p + 1] == 0x2F and _wild(pat, p + 2, text, t) == _MATCH:
                        return _MATCH
                    match_slash = True
            rest = p + 1
            if rest >= pn:
                if not match_slash and t < tn and text.find(b"/", t) != -1:
                    return _ABORT_TO_STAR_STAR
                return _MATCH
            if not match_slash and pat[rest] == 0x2F:
                slash = text.find(b"/", t) if t < tn else -1
                if slash == -1:
                    return _ABORT_ALL
                t = slash
                p = rest
                p += 1
                t += 1
                continue
            while t < tn:
                m = _wild(pat, rest, text, t)
                if m != _NO_MATCH:
                    if not match_slash or m != _ABORT_TO_STAR_STAR:
                        return m
                elif not match_slash and text[t] == 0x2F:
                    return _ABORT_TO_STAR_STAR
                t += 1
            return _ABORT_ALL
        elif p_ch == 0x5B:  # '['
            p += 1
            p_ch = pat[p] if p < pn else 0
            if p_ch == 0x5E:  # '^'
                p_ch = 0x21
            negated = p_ch == 0x21
            if negated:
                p += 1
                p_ch = pat[p] if p < pn else 0
            prev_ch = 0
            matched = False
            while True:
                if p >= pn:
                    return _ABORT_ALL
                if p_ch == 0x5C:
                    if p + 1 >= pn:
                        return _ABORT_ALL
                    p += 1
                    p_ch = pat[p]
                    if t_ch == p_ch:
                        matched = True
                elif p_ch == 0x2D and prev_ch and p + 1 < pn and pat[p + 1] != 0x5D:
                    p += 1
                    p_ch = pat[p]
                    if p_ch == 0x5C:
                        if p + 1 >= pn:
                            return _ABORT_ALL
                        p += 1
                        p_ch = pat[p]
                    if prev_ch <= t_ch <= p_ch:
                        matched = True
                    p_ch = 0
                elif p_ch == 0x5B and p + 1 < pn and pat[p + 1] == 0x3A:
                    s = p + 2
                    e = s
                    while e < pn and pat[e] != 0x5D:
                        e += 1
                    if e >= pn:
                        return _ABORT_ALL
                    if e - s > 0 and pat[e - 1] == 0x3A:
                        fn = _CLASSES.get(pat[s:e - 1])
                        if fn is None:
                            return _ABORT_ALL
                        if t_ch and fn(t_ch):
                            matched = True
                        p = e
                        p_ch = 0
                    elif t_ch == 0x5B:
                        matched = True
                elif t_ch == p_ch:
                    matched = True
                prev_ch = p_ch
                p += 1
                p_ch = pat[p] if p < pn else 0
                if not (p < pn and p_ch != 0x5D):
                    break
            if p >= pn:
                return _ABORT_ALL
            if matched == negated or t_ch == 0x2F:
                return _NO_MATCH
        else:
            if t_ch != p_ch:
                return _NO_MATCH
        p += 1
        t += 1
    return _MATCH if t >= tn else _NO_MATCH


def wildmatch(pattern: bytes, text: bytes) -> bool:
    return _wild(pattern, 0, text, 0) == _MATCH


def _has_glob(s: bytes) -> bool:
    return any(c in s for c in b"*?[\\")


def _trim_trailing_spaces(s: bytes) -> bytes:
    last_space = -1
    i = 0
    while i < len(s):
        c = s[i]
        if c == 0x20:
            if last_space == -1:
                last_space = i
        elif c == 0x5C:
            i += 1
            if i >= len(s):
                return s
            last_space = -1
        else:
            last_space = -1
        i += 1
    return s[:last_space] if last_space != -1 else s


class IgnoreRules:
    """The rules of one ignore file, whose directory is ``base`` (relative, "" for the root)."""

    def __init__(self, text: bytes, base: bytes) -> None:
        self.base = base.rstrip(b"/")
        self.rules: "List[Tuple[bytes, str, bool, bool, bool]]" = []  # pattern, kind, negate, dir_only, anchored
        if text.startswith(b"\xef\xbb\xbf"):
            text = text[3:]
        for line in text.split(b"\n"):
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line or line.startswith(b"#"):
                continue
            line = _trim_trailing_spaces(line)
            if not line:
                continue
            negate = line.startswith(b"!")
            if negate:
                line = line[1:]
            dir_only = line.endswith(b"/")
            line = line.rstrip(b"/")
            if not line:
                continue
            anchored = b"/" in line
            if line.startswith(b"/"):
                line = line[1:]
            if not line:
                continue
            if not _has_glob(line):
                kind = "literal"
            elif not anchored and line[:1] == b"*" and len(line) > 1 and not _has_glob(line[1:]):
                kind, line = "suffix", line[1:]
            else:
                kind = "general"
            self.rules.append((line, kind, negate, dir_only, anchored))

    def check(self, rel: bytes, is_dir: bool) -> int:
        """1: ignore, -1: include (negated rule), 0: no rule matches."""
        if not self.rules:
            return 0
        sub = rel
        if self.base:
            if len(rel) <= len(self.base) + 1 or rel[len(self.base)] != 0x2F or not rel.startswith(self.base):
                return 0
            sub = rel[len(self.base) + 1:]
        base = sub.rsplit(b"/", 1)[-1]
        for pattern, kind, negate, dir_only, anchored in reversed(self.rules):
            if dir_only and not is_dir:
                continue
            text = sub if anchored else base
            if kind == "literal":
                hit = text == pattern
            elif kind == "suffix":
                hit = text.endswith(pattern)
            else:
                hit = wildmatch(pattern, text)
            if hit:
                return -1 if negate else 1
        return 0


def _ignored(levels: "List[IgnoreRules]", rel: bytes, is_dir: bool) -> bool:
    if rel.rsplit(b"/", 1)[-1] == b".git":
        return True
    for rules in reversed(levels):
        m = rules.check(rel, is_dir)
        if m:
            return m > 0
    return False


def _read_ignore(dir_abs: bytes, names: "set") -> "Optional[bytes]":
    for n in IGNORE_FILES:
        if n.encode() not in names:
            continue
        path = os.path.join(dir_abs, n.encode())
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue  # a symlinked or special ignore file is not read (as git)
        with open(path, "rb") as f:
            return f.read()
    return None


class Snapshot:
    """files: {path: (abs path, mode, size, sha256)}; warnings: what was skipped and why."""

    def __init__(self) -> None:
        self.files: "Dict[str, Tuple[bytes, int, int, str]]" = {}
        self.warnings: "List[str]" = []

    def manifest(self) -> bytes:
        lines = []
        for path in sorted(self.files, key=lambda p: p.encode("utf-8", "surrogateescape")):
            _, mode, size, digest = self.files[path]
            lines.append(f"{mode:o} {size} {digest} {path}\n".encode("utf-8", "surrogateescape"))
        return b"".join(lines)

    @property
    def id(self) -> str:
        return hashlib.sha256(self.manifest()).hexdigest()


def _hash_file(path: bytes) -> "Tuple[int, str]":
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def build(source_dir: str, use_ignore_files: bool = True) -> Snapshot:
    """Walks source_dir; raises ValueError naming the path for what cannot be sent.
    use_ignore_files=False takes every file whatever .ferryignore, .amlignore or .gitignore
    say (a dataset's files); .git stays out either way."""
    root = os.path.realpath(source_dir)
    if not os.path.isdir(root):
        raise ValueError(f"ferry: the source directory {source_dir} does not exist or is not a directory")
    root_b = os.fsencode(root)
    root_prefix = root_b + b"/"
    snap = Snapshot()

    def walk(dir_abs: bytes, rel: bytes, levels: "List[IgnoreRules]") -> None:
        try:
            entries = sorted(os.scandir(dir_abs), key=lambda e: e.name)
        except PermissionError as e:
            raise ValueError(f"ferry: cannot open directory {os.fsdecode(dir_abs)}: {e.strerror}; fix its "
                             "permissions or list it in .ferryignore") from None
        names = {e.name for e in entries}
        text = _read_ignore(dir_abs, names) if use_ignore_files else None
        levels = levels + [IgnoreRules(text or b"", rel)]
        for e in entries:
            path = rel + b"/" + e.name if rel else e.name
            try:
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            if _ignored(levels, path, is_dir):
                continue
            shown = os.fsdecode(path)
            if len(path) > 4096 or b"\n" in path:
                raise ValueError(f"ferry: cannot snapshot {os.fsdecode(e.path)}: the path is longer than 4096 bytes "
                                 "or has a newline; rename it or list it in .ferryignore")
            if is_dir:
                walk(e.path, path, levels)
            elif stat.S_ISREG(st.st_mode):
                size, digest = _hash_file(e.path)
                snap.files[shown] = (e.path, 0o755 if st.st_mode & 0o111 else 0o644, size, digest)
            elif stat.S_ISLNK(st.st_mode):
                target = os.path.realpath(e.path)
                try:
                    tst = os.stat(target)
                except OSError:
                    snap.warnings.append(f"skipped dangling symlink '{shown}'")
                    continue
                if stat.S_ISDIR(tst.st_mode):
                    snap.warnings.append(f"did not follow directory symlink '{shown}' -> {os.fsdecode(target)}")
                    continue
                if not target.startswith(root_prefix):
                    raise ValueError(f"ferry: symlink '{shown}' points outside the source directory "
                                     f"({os.fsdecode(target)}); remove it or list it in .ferryignore")
                if not stat.S_ISREG(tst.st_mode):
                    snap.warnings.append(f"skipped symlink '{shown}': its target is not a regular file")
                    continue
                size, digest = _hash_file(target)
                snap.files[shown] = (target, 0o755 if tst.st_mode & 0o111 else 0o644, size, digest)
            else:
                snap.warnings.append(f"skipped '{shown}': not a regular file, directory or symlink "
                                     "(socket, fifo or device)")

    walk(root_b, b"", [])
    return snap


class FileBody:
    """A file sent as a request body piece by piece (never held whole), after an optional
    ``head``; iterable again for a resend. A file that shrinks meanwhile fails naming it, with
    ``again`` saying what to do."""

    def __init__(self, path: "Union[str, bytes]", size: "Optional[int]" = None, head: bytes = b"",
                 again: str = "send it again") -> None:
        self.path, self.head, self.again = path, head, again
        self.size = os.path.getsize(path) if size is None else size

    def __len__(self) -> int:
        return len(self.head) + self.size

    def __iter__(self) -> "Iterator[bytes]":
        if self.head:
            yield self.head
        left = self.size
        with open(self.path, "rb") as f:
            while left > 0:
                piece = f.read(min(1 << 20, left))
                if not piece:
                    raise ValueError(f"ferry: {os.fsdecode(self.path)} changed while it was being sent; {self.again}")
                left -= len(piece)
                yield piece


def _file_record(path: bytes, digest: str, size: int) -> FileBody:
    """One file as a blob record (``<hash> <length>\n`` + its bytes), read as it is sent; the
    server checks the bytes against the hash."""
    return FileBody(path, size, f"{digest} {size}\n".encode(), "submit again")


def upload(client: "Client", snap: Snapshot, batch_bytes: int = 16 << 20) -> str:
    """Uploads the blobs the server lacks, then the manifest; returns the snapshot id. Small files
    go in batches; a file of batch_bytes or more goes alone, streamed from disk."""
    by_hash: "Dict[str, bytes]" = {}
    sizes: "Dict[str, int]" = {}
    for abs_path, _mode, file_size, digest in snap.files.values():
        by_hash.setdefault(digest, abs_path)
        sizes[digest] = file_size
    hashes = list(by_hash)
    missing: "List[str]" = []
    for i in range(0, len(hashes), 5000):
        missing += client.call("POST", "/blobs/missing", {"hashes": hashes[i:i + 5000]})["missing"]
    batch: "List[bytes]" = []
    size = 0

    def flush() -> None:
        nonlocal batch, size
        if batch:
            client.call_bytes("POST", "/blobs", b"".join(batch))
        batch, size = [], 0

    for digest in missing:
        if sizes[digest] >= batch_bytes:
            client.call_bytes("POST", "/blobs", _file_record(by_hash[digest], digest, sizes[digest]))  # type: ignore[arg-type]
            continue
        with open(by_hash[digest], "rb") as f:
            content = f.read()
        if hashlib.sha256(content).hexdigest() != digest:
            raise ValueError(f"ferry: {os.fsdecode(by_hash[digest])} changed while it was being sent; submit again")
        batch.append(f"{digest} {len(content)}\n".encode() + content)
        size += len(content)
        if size >= batch_bytes:
            flush()
    flush()
    answer = client.call_bytes("POST", "/snapshots", snap.manifest(), "text/plain")
    return answer["id"]
