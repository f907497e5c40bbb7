"""A dataset version's files: its manifest, and fetching the files into a local directory.

A version's manifest is a blob of the workspace's store. Files of ``workspaceblobstore`` make a
snapshot manifest (one ``mode size sha256 path`` line per file), fetched blob by blob and
verified; files of another datastore an external manifest (JSON: each file's path in the
dataset, its path in the datastore, size and modification time), read through the server,
which refuses a file that changed since the version was made.
"""
import json
import os
import re
import shutil
import tempfile
from typing import TYPE_CHECKING, Any, Dict, List, NamedTuple, Optional
from urllib.parse import quote

if TYPE_CHECKING:
    from .._client import Client

__all__ = ["DataFile", "read_manifest", "fetch", "cache_dir", "partition_values"]


class DataFile(NamedTuple):
    path: str  # in the dataset, relative
    size: int
    blob: str  # sha256 when the bytes are in the workspace's store, else ""
    source: str  # the path in an external datastore, else ""
    modified_at: float


def read_manifest(client: "Client", manifest: str, datastore: str) -> "List[DataFile]":
    raw, _ = client.raw("GET", f"/blobs/{manifest}")
    if raw.startswith(b"{"):
        j = json.loads(raw)
        return [DataFile(f["path"], int(f["size"]), "", f["source"], float(f["modified_at"])) for f in j["files"]]
    out = []
    for line in raw.decode("utf-8", "surrogateescape").splitlines():
        _mode, size, digest, path = line.split(" ", 3)
        out.append(DataFile(path, int(size), digest, "", 0.0))
    return out


def _fetch_one(client: "Client", f: DataFile, datastore: str, dest: str) -> None:
    """Streams the file to disk (never whole in memory), checked against its hash (a blob) or its
    recorded size before it is renamed onto dest."""
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    if f.blob:
        client.download(f"/blobs/{f.blob}", dest, sha256=f.blob, size=f.size)
    else:
        client.download(f"/datastores/{quote(datastore, safe='')}/content", dest, size=f.size,
                        params={"path": f.source, "size": f.size, "modified_at": repr(f.modified_at)})


def fetch(client: "Client", files: "List[DataFile]", datastore: str, target: str, overwrite: bool = False) -> "List[str]":
    """Writes each file under target (its dataset path); returns the local paths. An existing
    file is an error naming it unless overwrite."""
    out = []
    for f in files:
        dest = os.path.join(target, *f.path.split("/"))
        if os.path.exists(dest) and not overwrite:
            raise FileExistsError(f"ferry: {dest} exists; pass overwrite=True to replace it")
        _fetch_one(client, f, datastore, dest)
        out.append(dest)
    return out


def cache_dir(client: "Client", manifest: str, datastore: str, files: "List[DataFile]") -> str:
    """A read-only local copy of a version's files, kept per manifest under
    ``~/.cache/ferry/datasets`` (FERRY_DATASET_CACHE overrides): fetched once, whole or not at
    all (written beside it, then renamed)."""
    root = os.environ.get("FERRY_DATASET_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "ferry", "datasets")
    final = os.path.join(root, manifest)
    if os.path.isdir(final):
        return final
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{manifest[:16]}.", dir=root)
    try:
        fetch(client, files, datastore, tmp)
        try:
            os.rename(tmp, final)
        except OSError:  # another process made it meanwhile
            if not os.path.isdir(final):
                raise
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return final


# partition_format: '{Name}' a string column, '{Name:yyyy/MM/dd}' a datetime column; '*' any
# characters but '/', '**' any path. Matched against the end of a file's path.
_DATE_PARTS = {"yyyy": r"\d{4}", "MM": r"\d{2}", "dd": r"\d{2}", "HH": r"\d{2}", "mm": r"\d{2}", "ss": r"\d{2}"}
_PY_DATE = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


def _compile_partition_format(fmt: str) -> "Any":
    pattern, columns, pos = "", [], 0
    for m in re.finditer(r"\{([A-Za-z_][A-Za-z0-9_ ]*)(?::([^}]*))?\}|\*\*|\*", fmt):
        pattern += re.escape(fmt[pos:m.start()])
        pos = m.end()
        if m.group(0) == "**":
            pattern += ".*"
        elif m.group(0) == "*":
            pattern += "[^/]*"
        else:
            name, date_fmt = m.group(1), m.group(2)
            group = f"c{len(columns)}"
            if date_fmt is None:
                pattern += f"(?P<{group}>[^/]+)"
                columns.append((name, None))
            else:
                sub = re.sub("yyyy|MM|dd|HH|mm|ss", lambda d: _DATE_PARTS[d.group(0)], re.escape(date_fmt))
                pattern += f"(?P<{group}>{sub})"
                columns.append((name, re.sub("yyyy|MM|dd|HH|mm|ss", lambda d: _PY_DATE[d.group(0)], date_fmt)))
    pattern += re.escape(fmt[pos:])
    return re.compile("(?:^|/)" + pattern.lstrip("/") + "$"), columns


def partition_values(fmt: str, path: str) -> "Optional[Dict[str, Any]]":
    """The columns partition_format takes from path, or None when the path does not match."""
    import datetime

    rx, columns = _compile_partition_format(fmt)
    m = rx.search(path)
    if not m:
        return None
    out: "Dict[str, Any]" = {}
    for i, (name, date_fmt) in enumerate(columns):
        value = m.group(f"c{i}")
        out[name] = datetime.datetime.strptime(value, date_fmt) if date_fmt else value
    return out
