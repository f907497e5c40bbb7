"""Compute targets: ``ComputeTarget(workspace=ws, name=...)``, ``ComputeTarget.list``,
``ComputeTarget.attach`` / ``create`` with the configurations of each kind Ferry has
(SSH machines, compute instances, Slurm clusters, managed clusters), as Azure ML spells them."""

from __future__ import annotations

import time

from ._client import FerryError
from .exceptions import ComputeTargetException  # noqa: F401  (also ferry.compute.ComputeTargetException)

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, List, Optional

    from .workspace import Workspace


# Ferry's target states as Azure ML's provisioning states.
_PROVISIONING = {"ready": "Succeeded", "starting": "Creating", "stopping": "Updating", "stopped": "Succeeded",
                 "unreachable": "Succeeded", "unavailable": "Failed", "failed": "Failed"}


class _Config(dict):
    """A target's attach or provisioning configuration: the fields of ``POST /computes``."""


class RemoteCompute:
    """An SSH machine (Ferry kind ``ssh``)."""

    @staticmethod
    def attach_configuration(address: str, ssh_port: int = 22, username: str = "", private_key_file: str = "",
                             password: str = "", private_key_passphrase: str = "", max_concurrent_runs: int = 1,
                             remote_dir: "Optional[str]" = None) -> _Config:
        c = _Config(kind="ssh", host=address, port=ssh_port, user=username, max_concurrent_runs=max_concurrent_runs)
        _secret_fields(c, private_key_file, password, private_key_passphrase)
        if remote_dir:
            c["remote_dir"] = remote_dir
        return c


class ComputeInstance:
    """A single-owner machine with a job queue (Ferry kind ``instance``)."""

    @staticmethod
    def attach_configuration(address: str, ssh_port: int = 22, username: str = "", private_key_file: str = "",
                             password: str = "", owner: str = "", stop_command: str = "",
                             start_command: str = "") -> _Config:
        c = _Config(kind="instance", host=address, port=ssh_port, user=username)
        _secret_fields(c, private_key_file, password, "")
        for k, v in (("owner", owner), ("stop_command", stop_command), ("start_command", start_command)):
            if v:
                c[k] = v
        return c


class SlurmCompute:
    """A Slurm cluster reached from this machine (``local=True``) or a login node (Ferry kind ``slurm``)."""

    @staticmethod
    def attach_configuration(shared_dir: str, partition: str = "", local: bool = True, login: str = "",
                             ssh_port: int = 22, private_key_file: str = "", password: str = "", account: str = "",
                             qos: str = "", low_priority_partition: str = "", low_priority_qos: str = "",
                             server_url: str = "") -> _Config:
        c = _Config(kind="slurm", shared_dir=shared_dir, local=local)
        for k, v in (("partition", partition), ("login", login), ("account", account), ("qos", qos),
                     ("low_priority_partition", low_priority_partition), ("low_priority_qos", low_priority_qos),
                     ("server_url", server_url)):
            if v:
                c[k] = v
        if not local:
            c["port"] = ssh_port
            _secret_fields(c, private_key_file, password, "")
        return c


class AmlCompute:
    """A managed cluster that scales between min and max nodes (Ferry kind ``cluster``)."""

    @staticmethod
    def provisioning_configuration(min_nodes: int = 0, max_nodes: int = 1, idle_seconds_before_scaledown: int = 300,
                                   cpus: int = 1, memory_mb: int = 1024, gpus: int = 0,
                                   vm_priority: str = "dedicated", provider: str = "",
                                   start_command: str = "", controller_address: str = "",
                                   server_url: str = "") -> _Config:
        c = _Config(kind="cluster", min_nodes=min_nodes, max_nodes=max_nodes,
                    idle_seconds_before_scaledown=idle_seconds_before_scaledown, cpus=cpus, memory_mb=memory_mb,
                    gpus=gpus, priority="low" if vm_priority.lower().startswith("low") else "dedicated")
        for k, v in (("provider", provider), ("start_command", start_command),
                     ("controller_address", controller_address), ("server_url", server_url)):
            if v:
                c[k] = v
        return c


def _secret_fields(c: _Config, key_file: str, password: str, passphrase: str) -> None:
    if key_file:
        c["key_file"] = key_file
    if password:
        c["password"] = password
    if passphrase:
        c["passphrase"] = passphrase


class ComputeTarget:
    """A compute target of a workspace. ``ComputeTarget(workspace=ws, name="gpu-box")`` raises
    :class:`ComputeTargetException` when the workspace has no such target."""

    def __init__(self, workspace: "Workspace", name: str, _data: "Optional[Dict[str, Any]]" = None) -> None:
        self.workspace = workspace
        self.name = name
        self._data = _data if _data is not None else self._fetch()

    def _fetch(self) -> "Dict[str, Any]":
        for c in self.workspace._client.call("GET", "/computes")["computes"]:
            if c["name"] == self.name:
                return c
        raise ComputeTargetException(f"compute target '{self.name}' does not exist in {self.workspace.url}; "
                                     "see ComputeTarget.list(ws) or attach it first", 404, "NotFound")

    @staticmethod
    def list(workspace: "Workspace") -> "List[ComputeTarget]":
        return [ComputeTarget(workspace, c["name"], c) for c in workspace._client.call("GET", "/computes")["computes"]]

    @staticmethod
    def attach(workspace: "Workspace", name: str, attach_configuration: _Config) -> "ComputeTarget":
        """Attach an existing machine or cluster (RemoteCompute, ComputeInstance, SlurmCompute)."""
        return ComputeTarget._post(workspace, name, attach_configuration)

    @staticmethod
    def create(workspace: "Workspace", name: str, provisioning_configuration: _Config) -> "ComputeTarget":
        """Create a managed cluster (AmlCompute.provisioning_configuration)."""
        return ComputeTarget._post(workspace, name, provisioning_configuration)

    @staticmethod
    def _post(workspace: "Workspace", name: str, config: _Config) -> "ComputeTarget":
        if not isinstance(config, _Config):
            raise TypeError("ferry: pass a configuration from RemoteCompute/ComputeInstance/SlurmCompute."
                            "attach_configuration or AmlCompute.provisioning_configuration")
        try:
            answer = workspace._client.call("POST", "/computes", {"name": name, **config}, timeout=600)
        except FerryError as e:
            msg = str(e) if f"'{name}'" in str(e) else f"compute target '{name}': {e}"
            raise ComputeTargetException(msg.strip(), e.status, e.code) from None
        target = ComputeTarget(workspace, name)
        target.warnings = answer.get("warnings", [])
        return target

    @property
    def type(self) -> str:
        return self._data.get("kind", "")

    @property
    def provisioning_state(self) -> str:
        """Azure ML's names: Succeeded, Creating, Updating, Failed."""
        return _PROVISIONING.get(self._data.get("state", ""), "Unknown")

    @property
    def provisioning_errors(self) -> "Optional[List[Dict[str, str]]]":
        if self._data.get("state") in ("failed", "unavailable", "unreachable") and self._data.get("state_reason"):
            return [{"code": self._data["state"], "message": self._data["state_reason"]}]
        return None

    def get_status(self) -> "Dict[str, Any]":
        """The target as the server describes it now (state, runs, capabilities, details)."""
        self._data = self._fetch()
        return dict(self._data)

    def wait_for_completion(self, show_output: bool = False, timeout_in_minutes: float = 20) -> None:
        """Wait while the target is starting (a compute instance or a cluster coming up)."""
        deadline = time.monotonic() + timeout_in_minutes * 60
        while True:
            state = self.get_status().get("state")
            if show_output:
                print(f"{self.name}: {self.provisioning_state} ({state})", flush=True)
            if state not in ("starting", "stopping"):
                if state in ("failed", "unavailable"):
                    raise ComputeTargetException(f"compute target '{self.name}' is {state}: "
                                                 f"{self._data.get('state_reason', '')}", 0, state)
                return
            if time.monotonic() >= deadline:
                raise ComputeTargetException(f"compute target '{self.name}' still {state} after "
                                             f"{timeout_in_minutes} minutes", 0, "Timeout")
            time.sleep(2)

    def detach(self, force: bool = False) -> None:
        """Detach the target (refused while it runs something, unless force cancels those runs)."""
        try:
            self.workspace._client.call("DELETE", f"/computes/{self.name}", params={"force": "true" if force else None})
        except FerryError as e:
            msg = str(e) if f"'{self.name}'" in str(e) else f"compute target '{self.name}': {e}"
            raise ComputeTargetException(msg.strip(), e.status, e.code) from None

    delete = detach  # a managed cluster is torn down by detaching it

    def __repr__(self) -> str:
        return f"<ferry.ComputeTarget {self.name!r} {self.type} {self.provisioning_state}>"
