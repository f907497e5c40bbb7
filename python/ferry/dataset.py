"""Datasets: immutable, content-addressed versions of files (docs/data.md).

With Azure ML SDK v1's names::

    ds = ws.get_default_datastore()
    files = Dataset.File.upload_directory("data/", target=(ds, "iris"))
    iris = files.register(ws, "iris", description="measurements", tags={"split": "train"})
    Dataset.get_by_name(ws, "iris")               # the latest version
    Dataset.get_by_name(ws, "iris", version=1)
    Dataset.get_by_id(ws, iris.id)

The same files registered again under a name are the same version; other files need
``create_new_version=True``.
"""
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union
from urllib.parse import quote

if TYPE_CHECKING:
    from .datastore import Datastore
    from .workspace import Workspace

__all__ = ["Dataset", "FileDataset"]


class FileDataset:
    """A set of files: registered (``name`` and ``version`` set) or just uploaded."""

    def __init__(self, workspace: "Workspace", snapshot: str, info: "Optional[Dict[str, Any]]" = None) -> None:
        self.workspace = workspace
        self._snapshot = snapshot
        self._info: "Dict[str, Any]" = dict(info or {})

    @classmethod
    def _from_json(cls, workspace: "Workspace", j: "Dict[str, Any]") -> "FileDataset":
        return cls(workspace, j["manifest"], j)

    name = property(lambda self: self._info.get("name"))
    version = property(lambda self: self._info.get("version"))
    id = property(lambda self: self._info.get("id"))
    description = property(lambda self: self._info.get("description", ""))
    tags = property(lambda self: dict(self._info.get("tags") or {}))
    is_archived = property(lambda self: bool(self._info.get("archived", False)))
    file_count = property(lambda self: self._info.get("file_count"))
    total_bytes = property(lambda self: self._info.get("total_bytes"))

    def register(self, workspace: "Workspace", name: str, description: "Optional[str]" = None,
                 tags: "Optional[Dict[str, str]]" = None, create_new_version: bool = False) -> "FileDataset":
        """Registers these files as a version of ``name`` and returns it (the existing version
        when one has the same files)."""
        j = workspace._client.call("POST", "/datasets", {
            "name": name, "snapshot": self._snapshot, "description": description or "",
            "tags": dict(tags or {}), "create_new_version": bool(create_new_version)})
        return FileDataset._from_json(workspace, j)

    def _require_registered(self) -> str:
        if not self.name:
            raise ValueError("this dataset is not registered; call register(workspace, name) first")
        return quote(self.name, safe="")

    def archive(self) -> None:
        """Hides this version from listings (it stays readable by name, version and id)."""
        self.workspace._client.call("POST", f"/datasets/{self._require_registered()}/archive",
                                    params={"version": self.version})
        self._info["archived"] = True

    def reactivate(self) -> None:
        """Shows an archived version in listings again."""
        self.workspace._client.call("POST", f"/datasets/{self._require_registered()}/reactivate",
                                    params={"version": self.version})
        self._info["archived"] = False

    def __repr__(self) -> str:
        if self.name:
            return f"<ferry.FileDataset {self.name} version {self.version}>"
        return f"<ferry.FileDataset (not registered) {self._snapshot[:12]}>"


class _FileFactory:
    """``Dataset.File``: ways to make a file dataset."""

    @staticmethod
    def upload_directory(src_dir: str, target: "Union[Tuple[Datastore, str], Datastore, None]" = None,
                         pattern: "Optional[str]" = None, overwrite: bool = False, show_progress: bool = True,
                         workspace: "Optional[Workspace]" = None) -> FileDataset:
        """Uploads the files under ``src_dir`` into the workspace's store and returns them as an
        unregistered dataset. ``target`` is ``(datastore, path)`` as in Azure ML; only the
        workspace's own store (workspaceblobstore) takes uploads today. ``pattern`` and
        ``overwrite`` are not supported yet (content addressing makes overwrite moot)."""
        from . import _snapshot

        datastore = target[0] if isinstance(target, tuple) else target
        ws = workspace or (datastore.workspace if datastore is not None else None)
        if ws is None:
            raise ValueError("upload_directory needs target=(datastore, path) or workspace=")
        if datastore is not None and datastore.name != "workspaceblobstore":
            raise ValueError(f"datastore '{datastore.name}' does not take uploads yet; use the workspace's "
                             "default datastore (ws.get_default_datastore())")
        if pattern is not None:
            raise ValueError("pattern= is not supported yet: upload a directory that holds only the files")
        snap = _snapshot.build(src_dir, use_ignore_files=False)  # data: .gitignore does not apply
        if not snap.files:
            raise ValueError(f"'{src_dir}' holds no files to upload")
        return FileDataset(ws, _snapshot.upload(ws._client, snap))


class Dataset:
    """Registered datasets of a workspace: get one by name or id, list them."""

    File = _FileFactory

    @staticmethod
    def get_by_name(workspace: "Workspace", name: str, version: "Union[int, str]" = "latest") -> FileDataset:
        """A version of a registered dataset (``"latest"`` by default); NotFoundError names it."""
        j = workspace._client.call("GET", f"/datasets/{quote(name, safe='')}/{quote(str(version), safe='')}")
        return FileDataset._from_json(workspace, j)

    @staticmethod
    def get_by_id(workspace: "Workspace", id: str) -> FileDataset:  # noqa: A002 (Azure's name)
        """The version with this content id."""
        return FileDataset._from_json(workspace, workspace._client.call("GET", f"/datasets/by-id/{quote(id, safe='')}"))

    @staticmethod
    def list(workspace: "Workspace") -> "List[FileDataset]":
        """The latest version of every dataset that is not archived."""
        return [FileDataset._from_json(workspace, j) for j in workspace._client.call("GET", "/datasets")["datasets"]]
