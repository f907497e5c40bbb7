"""Datastores: where a workspace's data lives (docs/data.md).

``workspaceblobstore`` is the workspace's own content-addressed store and always exists (it is
the default); a directory datastore names a directory that the server's machine and the
targets share (an NFS mount, a Slurm shared directory), with the path each target sees it at
where that differs. As in Azure ML's SDK v1::

    ds = ws.get_default_datastore()
    shared = Datastore.register_directory(ws, "shared", "/srv/data", mounts={"hpc": "/shared/data"})
    Datastore.get(ws, "shared")
    ws.datastores["shared"]
"""
import os
import re
from typing import TYPE_CHECKING, Any, Dict, List, Optional
from urllib.parse import quote

if TYPE_CHECKING:
    from .data.data_reference import DataReference
    from .workspace import Workspace

__all__ = ["Datastore"]


class Datastore:
    """A datastore of a workspace: get one with :meth:`get` or register one."""

    def __init__(self, workspace: "Workspace", name: str, kind: str = "blob",
                 path: "Optional[str]" = None, mounts: "Optional[Dict[str, str]]" = None) -> None:
        self.workspace = workspace
        self.name = name
        self.datastore_type = kind  # Azure's attribute name; "blob", "directory" or "s3"
        self.path_on_server = path
        self.mounts = dict(mounts or {})
        # s3: where the bucket is (the secret key never comes back from the server)
        self.endpoint: "Optional[str]" = None
        self.bucket_name: "Optional[str]" = None
        self.region: "Optional[str]" = None
        self.prefix: "Optional[str]" = None

    @classmethod
    def _from_json(cls, workspace: "Workspace", j: "Dict[str, Any]") -> "Datastore":
        out = cls(workspace, j["name"], j["kind"], j.get("path"), j.get("mounts"))
        out.endpoint, out.bucket_name = j.get("endpoint"), j.get("bucket")
        out.region, out.prefix = j.get("region"), j.get("prefix")
        out._default = bool(j.get("default", j["name"] == "workspaceblobstore"))
        return out

    @property
    def is_default(self) -> bool:
        """Whether it was the workspace's default datastore when it was read."""
        return getattr(self, "_default", self.name == "workspaceblobstore")

    @property
    def account_name(self) -> str:
        """Azure's storage account: an S3 store's endpoint host; the workspace's name for the
        workspace's own store and directory datastores."""
        if self.endpoint:
            from urllib.parse import urlsplit

            return urlsplit(self.endpoint).hostname or self.endpoint
        return getattr(self.workspace, "name", "") or ""

    @property
    def container_name(self) -> str:
        """Azure's blob container: an S3 store's bucket, a directory datastore's path on the
        server's machine, the datastore's name for the workspace's own store."""
        return self.bucket_name or self.path_on_server or self.name

    def set_as_default(self) -> None:
        """Makes this datastore the workspace's default (admins): what
        ``Workspace.get_default_datastore()`` returns, where a run's outputs go and where a
        dataset's paths are looked up when they name no datastore."""
        self.workspace._client.call("PUT", "/datastores/" + quote(self.name, safe="") + "/default")
        self._default = True

    @classmethod
    def get(cls, workspace: "Workspace", datastore_name: str) -> "Datastore":
        """The datastore of that name; NotFoundError names it when there is none."""
        return cls._from_json(workspace, workspace._client.call("GET", "/datastores/" + quote(datastore_name, safe="")))

    @classmethod
    def get_default(cls, workspace: "Workspace") -> "Datastore":
        """The workspace's default datastore: ``workspaceblobstore`` (its own store) unless an
        admin made another the default (:meth:`set_as_default`)."""
        for d in _datastores(workspace).values():
            if d.is_default:
                return d
        return cls.get(workspace, "workspaceblobstore")

    @classmethod
    def register_directory(cls, workspace: "Workspace", datastore_name: str, path: str,
                           mounts: "Optional[Dict[str, str]]" = None) -> "Datastore":
        """Registers ``path`` (absolute, as the server's machine sees it) as a datastore;
        ``mounts`` maps a target's name to the path that target sees the directory at."""
        j = workspace._client.call("POST", "/datastores", {
            "name": datastore_name, "kind": "directory", "path": path, "mounts": dict(mounts or {})})
        return cls._from_json(workspace, j)

    # Files.
    def _put_snapshot(self, snap: "Any", target_path: "Optional[str]", overwrite: bool) -> "Dict[str, Any]":
        from . import _snapshot

        if not snap.files:
            raise ValueError("ferry: there are no files to upload")
        snapshot_id = _snapshot.upload(self.workspace._client, snap)
        return self.workspace._client.call("POST", f"/datastores/{quote(self.name, safe='')}/files", {
            "snapshot": snapshot_id, "target_path": target_path or "", "overwrite": bool(overwrite)})

    def upload(self, src_dir: str, target_path: "Optional[str]" = None, overwrite: bool = False,
               show_progress: bool = True) -> "DataReference":
        """Uploads every file under ``src_dir`` to ``target_path`` of this datastore (all or none;
        a file there with other content is an error unless ``overwrite``). Returns a
        DataReference to ``target_path``."""
        from . import _snapshot

        snap = _snapshot.build(src_dir, use_ignore_files=False)  # data: .gitignore does not apply
        if not snap.files:
            raise ValueError(f"ferry: '{src_dir}' holds no files to upload")
        done = self._put_snapshot(snap, target_path, overwrite)
        if show_progress:
            print(f"Uploaded {done['files']} files ({done['bytes']} bytes) to {self.name}:/{done['target_path']}")
        return self.path(target_path)

    def upload_files(self, files: "List[str]", relative_root: "Optional[str]" = None,
                     target_path: "Optional[str]" = None, overwrite: bool = False,
                     show_progress: bool = True) -> "DataReference":
        """Uploads these files to ``target_path``, each at its path relative to
        ``relative_root`` (default: their common directory)."""
        from . import _snapshot

        if not files:
            raise ValueError("ferry: upload_files needs at least one file")
        absolute = [os.path.abspath(f) for f in files]
        root = os.path.abspath(relative_root) if relative_root else os.path.commonpath([os.path.dirname(f) for f in absolute])
        snap = _snapshot.Snapshot()
        for f in absolute:
            if not os.path.isfile(f):
                raise ValueError(f"ferry: {f} is not a file")
            rel = os.path.relpath(f, root)
            if rel.startswith(".."):
                raise ValueError(f"ferry: {f} is not under relative_root {root}")
            size, digest = _snapshot._hash_file(os.fsencode(f))
            snap.files[rel.replace(os.sep, "/")] = (os.fsencode(f), 0o644, size, digest)
        done = self._put_snapshot(snap, target_path, overwrite)
        if show_progress:
            print(f"Uploaded {done['files']} files ({done['bytes']} bytes) to {self.name}:/{done['target_path']}")
        return self.path(target_path)

    def _list(self, prefix: "Optional[str]" = None) -> "List[Dict[str, Any]]":
        return self.workspace._client.call("GET", f"/datastores/{quote(self.name, safe='')}/files",
                                           params={"prefix": prefix or ""})["files"]

    def download(self, target_path: str, prefix: "Optional[str]" = None, overwrite: bool = False,
                 show_progress: bool = True) -> int:
        """Writes the files whose path starts with ``prefix`` under ``target_path`` (at their
        datastore paths); returns how many. An existing local file is an error unless
        ``overwrite``."""
        from .data import _files

        files = [_files.DataFile(f["path"], int(f["size"]), f.get("blob", ""), "" if f.get("blob") else f["path"],
                                 float(f["modified_at"])) for f in self._list(prefix)]
        _files.fetch(self.workspace._client, files, self.name, target_path, overwrite)
        if show_progress:
            print(f"Downloaded {len(files)} files from {self.name} to {target_path}")
        return len(files)

    def path(self, path: "Optional[str]" = None, data_reference_name: "Optional[str]" = None) -> "DataReference":
        """A DataReference to ``path`` of this datastore (its root when None)."""
        from .data.data_reference import DataReference

        return DataReference(self, data_reference_name, path)

    def as_mount(self) -> "DataReference":
        return self.path().as_mount()

    def as_download(self, path_on_compute: "Optional[str]" = None) -> "DataReference":
        return self.path().as_download(path_on_compute)

    @classmethod
    def register_s3(cls, workspace: "Workspace", datastore_name: str, endpoint: str, bucket: str,
                    access_key: str, secret_key: str, region: str = "us-east-1", path_style: bool = True,
                    prefix: "Optional[str]" = None, ca_file: "Optional[str]" = None) -> "Datastore":
        """Registers a bucket of an S3-compatible store (``endpoint`` like
        ``https://s3.example.com`` or ``http://minio:9000``). The server seals the secret key and
        checks the credentials now: refused ones fail with the store's own error."""
        j = workspace._client.call("POST", "/datastores", {
            "name": datastore_name, "kind": "s3", "endpoint": endpoint, "bucket": bucket, "region": region,
            "path_style": bool(path_style), "prefix": prefix or "", "access_key": access_key,
            "secret_key": secret_key, "ca_file": ca_file or ""})
        return cls._from_json(workspace, j)

    def unregister(self) -> None:
        """Removes the registration (the files stay); refused while a dataset version uses it."""
        self.workspace._client.call("DELETE", "/datastores/" + quote(self.name, safe=""))

    def __repr__(self) -> str:
        where = "" if self.is_default else f" {self.path_on_server or f'{self.endpoint}/{self.bucket_name}'}"
        return f"<ferry.Datastore {self.name} ({self.datastore_type}){where}>"


_IO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _check_input_name(name: str) -> None:
    if not isinstance(name, str) or not _IO_NAME.fullmatch(name):
        raise ValueError(f"ferry: {name!r} is not a valid input or output name: use 1 to 128 letters, digits "
                         "and '_', not starting with a digit")


def _datastores(workspace: "Workspace") -> "Dict[str, Datastore]":
    return {j["name"]: Datastore._from_json(workspace, j)
            for j in workspace._client.call("GET", "/datastores")["datastores"]}
