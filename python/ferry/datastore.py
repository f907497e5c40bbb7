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
from typing import TYPE_CHECKING, Any, Dict, Optional
from urllib.parse import quote

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = ["Datastore"]


class Datastore:
    """A datastore of a workspace: get one with :meth:`get` or register one."""

    def __init__(self, workspace: "Workspace", name: str, kind: str = "blob",
                 path: "Optional[str]" = None, mounts: "Optional[Dict[str, str]]" = None) -> None:
        self.workspace = workspace
        self.name = name
        self.datastore_type = kind  # Azure's attribute name; "blob" or "directory"
        self.path_on_server = path
        self.mounts = dict(mounts or {})

    @classmethod
    def _from_json(cls, workspace: "Workspace", j: "Dict[str, Any]") -> "Datastore":
        return cls(workspace, j["name"], j["kind"], j.get("path"), j.get("mounts"))

    @property
    def is_default(self) -> bool:
        return self.name == "workspaceblobstore"

    @classmethod
    def get(cls, workspace: "Workspace", datastore_name: str) -> "Datastore":
        """The datastore of that name; NotFoundError names it when there is none."""
        return cls._from_json(workspace, workspace._client.call("GET", "/datastores/" + quote(datastore_name, safe="")))

    @classmethod
    def get_default(cls, workspace: "Workspace") -> "Datastore":
        """The workspace's own store, ``workspaceblobstore``."""
        return cls.get(workspace, "workspaceblobstore")

    @classmethod
    def register_directory(cls, workspace: "Workspace", datastore_name: str, path: str,
                           mounts: "Optional[Dict[str, str]]" = None) -> "Datastore":
        """Registers ``path`` (absolute, as the server's machine sees it) as a datastore;
        ``mounts`` maps a target's name to the path that target sees the directory at."""
        j = workspace._client.call("POST", "/datastores", {
            "name": datastore_name, "kind": "directory", "path": path, "mounts": dict(mounts or {})})
        return cls._from_json(workspace, j)

    def unregister(self) -> None:
        """Removes the registration (the files stay); refused while a dataset version uses it."""
        self.workspace._client.call("DELETE", "/datastores/" + quote(self.name, safe=""))

    def __repr__(self) -> str:
        where = "" if self.is_default else f" {self.path_on_server}"
        return f"<ferry.Datastore {self.name} ({self.datastore_type}){where}>"


def _datastores(workspace: "Workspace") -> "Dict[str, Datastore]":
    return {j["name"]: Datastore._from_json(workspace, j)
            for j in workspace._client.call("GET", "/datastores")["datastores"]}
