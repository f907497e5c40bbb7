"""Compute targets: ``ComputeTarget(workspace=ws, name=...)``, ``ComputeTarget.list``,
``ComputeTarget.attach`` / ``create`` with the configurations of each kind Ferry has
(SSH machines, compute instances, Slurm clusters, managed clusters), as Azure ML spells them.

``AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=4)`` takes the
size from the workspace's node-size catalog (``AmlCompute.supported_vmsizes(ws)``; an admin
keeps it with ``ferry compute sizes``) and its nodes from the workspace's default node provider."""

from __future__ import annotations

import time

from ._client import FerryError
from .exceptions import ComputeTargetException  # noqa: F401  (also ferry.compute.ComputeTargetException)

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, Iterator, List, Optional

    from .run import Run
    from .workspace import Workspace


# Ferry's target states as Azure ML's provisioning states.
_PROVISIONING = {"ready": "Succeeded", "starting": "Creating", "stopping": "Updating", "stopped": "Succeeded",
                 "unreachable": "Succeeded", "unavailable": "Failed", "failed": "Failed"}


def _no_resource_id(what: str) -> None:
    raise ComputeTargetException(f"{what}: Azure resource ids do not exist in Ferry; attach the machine by its "
                                 "address (RemoteCompute.attach_configuration(address=...)) or create the "
                                 "cluster here (AmlCompute.provisioning_configuration(vm_size=...))", 0, "NotSupported")


def _ignored(what: str, names: "List[str]", why: str) -> None:
    if names:
        import warnings

        warnings.warn(f"ferry: {what}: {', '.join(names)} accepted and ignored ({why})", UserWarning, stacklevel=3)


class _Config(dict):
    """A target's attach or provisioning configuration: the fields of ``POST /computes``."""


def _slurm_attach_configuration(shared_dir: str, partition: str = "", local: bool = True, login: str = "",
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


def _secret_fields(c: _Config, key_file: str, password: str, passphrase: str) -> None:
    if key_file:
        c["key_file"] = key_file
    if password:
        c["password"] = password
    if passphrase:
        c["passphrase"] = passphrase


class ComputeTarget:
    """A compute target of a workspace. ``ComputeTarget(workspace=ws, name="gpu-box")`` (or
    ``AmlCompute(ws, name)``, ``RemoteCompute(ws, name)``...) is the target as its kind's class;
    :class:`ComputeTargetException` when the workspace has no such target."""

    _compute_type = ""  # Azure's computeType of the class's targets

    def __new__(cls, workspace: "Optional[Workspace]" = None, name: "Optional[str]" = None,
                _data: "Optional[Dict[str, Any]]" = None, **kwargs: "Any") -> "ComputeTarget":
        if kwargs.get("resource_id"):
            _no_resource_id(f"{cls.__name__}(resource_id=...)")
        if kwargs:
            raise TypeError(f"ferry: {cls.__name__}() got unexpected arguments {sorted(kwargs)}")
        if workspace is None or not name:
            raise ComputeTargetException(f"{cls.__name__}(workspace, name): give the workspace and the target's name "
                                         "(ComputeTarget.list(ws) lists them)", 0, "InvalidArgument")
        data = _data if _data is not None else _fetch(workspace, name)
        target = object.__new__(_class_for(data))
        target.workspace = workspace
        target.name = name
        target._data = data
        return target

    def __init__(self, workspace: "Optional[Workspace]" = None, name: "Optional[str]" = None,
                 _data: "Optional[Dict[str, Any]]" = None, **kwargs: "Any") -> None:
        pass  # made by __new__

    def _fetch(self) -> "Dict[str, Any]":
        return _fetch(self.workspace, self.name)

    @staticmethod
    def list(workspace: "Workspace") -> "List[ComputeTarget]":
        return [ComputeTarget(workspace, c["name"], c) for c in workspace._client.call("GET", "/computes")["computes"]]

    @staticmethod
    def attach(workspace: "Workspace", name: str, attach_configuration: _Config) -> "ComputeTarget":
        """Attach an existing machine or cluster (RemoteCompute, ComputeInstance, SlurmCompute)."""
        return ComputeTarget._post(workspace, name, attach_configuration)

    @staticmethod
    def create(workspace: "Workspace", name: str, provisioning_configuration: _Config) -> "ComputeTarget":
        """Create a managed cluster (AmlCompute.provisioning_configuration) or a compute instance
        (ComputeInstance.provisioning_configuration)."""
        return ComputeTarget._post(workspace, name, provisioning_configuration)

    @staticmethod
    def _post(workspace: "Workspace", name: str, config: _Config) -> "ComputeTarget":
        if not isinstance(config, _Config):
            raise TypeError("ferry: pass a configuration from RemoteCompute/ComputeInstance/SlurmCompute."
                            "attach_configuration or AmlCompute/ComputeInstance.provisioning_configuration")
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
        """Azure's compute type (``AmlCompute``, ``ComputeInstance``, ``VirtualMachine``...);
        ``local`` for this machine, ``Slurm`` for an attached Slurm cluster."""
        return self._compute_type or self.kind

    @property
    def kind(self) -> str:
        """Ferry's kind: local, ssh, instance, slurm, cluster."""
        return self._data.get("kind", "")

    @property
    def cluster_location(self) -> str:
        return self.workspace.location

    @property
    def location(self) -> str:
        return self.workspace.location

    @property
    def provisioning_state(self) -> str:
        """Azure ML's names: Succeeded, Creating, Updating, Failed."""
        return _PROVISIONING.get(self._data.get("state", ""), "Unknown")

    @property
    def provisioning_errors(self) -> "Optional[List[Dict[str, str]]]":
        if self._data.get("state") in ("failed", "unavailable", "unreachable") and self._data.get("state_reason"):
            return [{"code": self._data["state"], "message": self._data["state_reason"]}]
        return None

    def refresh_state(self) -> None:
        self._data = self._fetch()

    def get_status(self) -> "Any":
        """The target as the server describes it now: a dict (state, runs, capabilities,
        details); a managed cluster's is :class:`AmlComputeStatus` (``serialize()``)."""
        self._data = self._fetch()
        return dict(self._data)

    def wait_for_completion(self, show_output: bool = False, timeout_in_minutes: float = 20,
                            is_delete_operation: bool = False) -> None:
        """Wait while the target is starting (a compute instance or a cluster coming up)."""
        deadline = time.monotonic() + timeout_in_minutes * 60
        while True:
            state = self._fetch_state()
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

    def _fetch_state(self) -> str:
        self._data = self._fetch()
        return self._data.get("state", "")

    def detach(self, force: bool = False) -> None:
        """Detach the target (refused while it runs something, unless force cancels those runs)."""
        try:
            self.workspace._client.call("DELETE", f"/computes/{self.name}", params={"force": "true" if force else None})
        except FerryError as e:
            msg = str(e) if f"'{self.name}'" in str(e) else f"compute target '{self.name}': {e}"
            raise ComputeTargetException(msg.strip(), e.status, e.code) from None

    def delete(self, force: bool = False) -> None:
        """Delete a managed cluster or compute instance: its nodes stop (runs on it: refused
        unless ``force``). An attached machine is detached instead (Ferry did not make it)."""
        self.detach(force)

    def get(self) -> "Dict[str, Any]":
        """The target as the server describes it now (``GET /api/v1/computes/NAME``)."""
        self._data = self._fetch()
        return dict(self._data)

    @staticmethod
    def deserialize(workspace: "Workspace", object_dict: "Dict[str, Any]") -> "ComputeTarget":
        """The target that :meth:`serialize` described (looked up again by name)."""
        return ComputeTarget(workspace, object_dict["name"])

    def get_active_runs(self, type: "Optional[str]" = None, tags: "Any" = None,  # noqa: A002
                        properties: "Any" = None, status: "Optional[str]" = None) -> "Iterator[Run]":
        """The runs queued or running on this target (``status``: ``Running`` or ``Queued``)."""
        from .run import Run

        for r in self.workspace._client.call("GET", f"/computes/{self.name}").get("runs", []):
            if status is None or (status == "Queued") == (r.get("status") == "Queued"):
                yield Run.get(self.workspace, r["id"])

    def serialize(self) -> "Dict[str, Any]":
        return {"name": self.name, "location": self.location, "tags": {},
                "properties": {"computeType": self.type, "provisioningState": self.provisioning_state,
                               "provisioningErrors": self.provisioning_errors, "kind": self.kind,
                               "details": self._data.get("details")}}

    def __repr__(self) -> str:
        return f"<ferry.{type(self).__name__} {self.name!r} {self.type} {self.provisioning_state}>"


def _fetch(workspace: "Workspace", name: str) -> "Dict[str, Any]":
    for c in workspace._client.call("GET", "/computes")["computes"]:
        if c["name"] == name:
            return c
    raise ComputeTargetException(f"compute target '{name}' does not exist in {workspace.url}; "
                                 "see ComputeTarget.list(ws) or attach it first", 404, "NotFound")


def _class_for(data: "Dict[str, Any]") -> "type":
    kind = data.get("kind", "")
    details = data.get("details") if isinstance(data.get("details"), dict) else {}
    if kind == "cluster":
        return ComputeInstance if "owner" in details else AmlCompute
    return {"ssh": RemoteCompute, "instance": ComputeInstance, "slurm": SlurmCompute}.get(kind, ComputeTarget)


class RemoteCompute(ComputeTarget):
    """An SSH machine (Ferry kind ``ssh``)."""

    _compute_type = "VirtualMachine"

    @staticmethod
    def attach_configuration(username: str = "", subscription_id: "Optional[str]" = None,
                             resource_group: "Optional[str]" = None, vm_name: "Optional[str]" = None,
                             resource_id: "Optional[str]" = None, address: "Optional[str]" = None, ssh_port: int = 22,
                             password: str = "", private_key_file: str = "", private_key_passphrase: str = "", *,
                             max_concurrent_runs: int = 1, remote_dir: "Optional[str]" = None) -> _Config:
        """Azure's signature: give ``address=`` (host name or IP; an Azure VM's
        ``resource_id``/``vm_name`` do not exist here). ``private_key_file`` is read by the
        server; a relative path is taken from the working directory. ``password`` and
        ``private_key_passphrase`` are sealed at rest."""
        import os

        if resource_id or subscription_id or resource_group or vm_name:
            _no_resource_id("RemoteCompute.attach_configuration(resource_id/subscription_id/resource_group/vm_name)")
        if password and private_key_file:
            raise ComputeTargetException("RemoteCompute.attach_configuration: give password or private_key_file, "
                                         "not both", 0, "InvalidArgument")
        c = _Config(kind="ssh", port=ssh_port, user=username, max_concurrent_runs=max_concurrent_runs)
        if address:
            c["host"] = address
        _secret_fields(c, os.path.abspath(private_key_file) if private_key_file else "", password,
                       private_key_passphrase)
        if remote_dir:
            c["remote_dir"] = remote_dir
        return c


class ComputeInstance(ComputeTarget):
    """A single-owner machine: an attached one with a job queue (Ferry kind ``instance``), or
    one made from a node size by the workspace's node provider (``provisioning_configuration``)."""

    _compute_type = "ComputeInstance"

    @staticmethod
    def attach_configuration(address: str, ssh_port: int = 22, username: str = "", private_key_file: str = "",
                             password: str = "", owner: str = "", stop_command: str = "",
                             start_command: str = "") -> _Config:
        import os

        c = _Config(kind="instance", host=address, port=ssh_port, user=username)
        _secret_fields(c, os.path.abspath(private_key_file) if private_key_file else "", password, "")
        for k, v in (("owner", owner), ("stop_command", stop_command), ("start_command", start_command)):
            if v:
                c[k] = v
        return c

    @staticmethod
    def provisioning_configuration(vm_size: str = "", ssh_public_access: bool = False,
                                   admin_user_ssh_public_key: "Optional[str]" = None,
                                   vnet_resourcegroup_name: "Optional[str]" = None, vnet_name: "Optional[str]" = None,
                                   subnet_name: "Optional[str]" = None, tags: "Optional[Dict[str, str]]" = None,
                                   description: "Optional[str]" = None, assigned_user_object_id: "Optional[str]" = None,
                                   assigned_user_tenant_id: "Optional[str]" = None, owner: str = "") -> _Config:
        """One machine of ``vm_size`` (the workspace's node sizes) from the workspace's node
        provider, kept up while it exists; only its owner (``owner``, default: whoever creates
        it) may submit to it."""
        if not vm_size:
            raise ComputeTargetException("ComputeInstance.provisioning_configuration: give vm_size= (a size of "
                                         "AmlCompute.supported_vmsizes(ws), e.g. 'STANDARD_DS3_V2')", 0,
                                         "InvalidArgument")
        _ignored("ComputeInstance.provisioning_configuration",
                 [n for n, v in (("ssh_public_access", ssh_public_access),
                                 ("admin_user_ssh_public_key", admin_user_ssh_public_key),
                                 ("vnet_resourcegroup_name", vnet_resourcegroup_name), ("vnet_name", vnet_name),
                                 ("subnet_name", subnet_name), ("assigned_user_object_id", assigned_user_object_id),
                                 ("assigned_user_tenant_id", assigned_user_tenant_id)) if v],
                 "Ferry's nodes are reached through the server, not by SSH or a virtual network; owner= names "
                 "the owner")
        c = _Config(kind="cluster", vm_size=vm_size, min_nodes=1, max_nodes=1, single_owner=True,
                    priority="dedicated")
        if owner:
            c["owner"] = owner
        return c


    supported_vmsizes = staticmethod(lambda workspace, location=None: AmlCompute.supported_vmsizes(workspace))

    def _power(self, verb: str, wait_for_completion: bool, show_output: bool) -> None:
        if self.kind != "instance":
            raise ComputeTargetException(f"compute instance '{self.name}' was made from a node size and is up while "
                                         f"it exists: delete it to stop its node, create it again to start one", 0,
                                         "NotSupported")
        try:
            self.workspace._client.call("POST", f"/computes/{self.name}/{verb}", {})
        except FerryError as e:
            raise ComputeTargetException(f"compute instance '{self.name}': {e}".strip(), e.status, e.code) from None
        if wait_for_completion:
            self.wait_for_completion(show_output=show_output)

    def start(self, wait_for_completion: bool = True, show_output: bool = True) -> None:
        """An attached instance: run its start command, then accept runs."""
        self._power("start", wait_for_completion, show_output)

    def stop(self, wait_for_completion: bool = True, show_output: bool = True) -> None:
        """An attached instance: refuse new runs, let active ones finish, run its stop command."""
        self._power("stop", wait_for_completion, show_output)

    def restart(self, wait_for_completion: bool = True, show_output: bool = True) -> None:
        self.stop(True, show_output)
        self.start(wait_for_completion, show_output)


class SlurmCompute(ComputeTarget):
    """A Slurm cluster reached from this machine (``local=True``) or a login node (Ferry kind ``slurm``)."""

    _compute_type = "Slurm"

    attach_configuration = staticmethod(_slurm_attach_configuration)


class AmlCompute(ComputeTarget):
    """A managed cluster that scales between min and max nodes (Ferry kind ``cluster``)."""

    _compute_type = "AmlCompute"

    @staticmethod
    def provisioning_configuration(vm_size: str = "", vm_priority: str = "dedicated", min_nodes: int = 0,
                                   max_nodes: "Optional[int]" = None, idle_seconds_before_scaledown: int = 1800,
                                   admin_username: "Optional[str]" = None, admin_user_password: "Optional[str]" = None,
                                   admin_user_ssh_key: "Optional[str]" = None,
                                   vnet_resourcegroup_name: "Optional[str]" = None, vnet_name: "Optional[str]" = None,
                                   subnet_name: "Optional[str]" = None, tags: "Optional[Dict[str, str]]" = None,
                                   description: "Optional[str]" = None,
                                   remote_login_port_public_access: str = "NotSpecified",
                                   identity_type: "Optional[str]" = None, identity_id: "Optional[List[str]]" = None,
                                   location: "Optional[str]" = None, enable_node_public_ip: bool = True, *,
                                   cpus: "Optional[int]" = None, memory_mb: "Optional[int]" = None,
                                   gpus: "Optional[int]" = None, provider: str = "", start_command: str = "",
                                   stop_command: str = "", controller_address: str = "",
                                   server_url: str = "") -> _Config:
        """A managed cluster of ``vm_size`` nodes (a name of :meth:`supported_vmsizes`; its CPUs,
        memory, GPUs and node provider), or of ``cpus``/``memory_mb``/``gpus`` (default 1 CPU,
        1024 MB). The provider is the size's, else the workspace's default (``provider=``
        overrides). ``vm_priority='lowpriority'``: runs are requeued when a node is reclaimed
        (refused when the provider has no low-priority nodes). Azure's admin user, virtual
        network, identity and public-IP settings are accepted and ignored (with a warning)."""
        prio = (vm_priority or "dedicated").lower()
        if prio not in ("dedicated", "lowpriority", "low"):
            raise ComputeTargetException(f"vm_priority '{vm_priority}' is not one of: dedicated, lowpriority", 0,
                                         "InvalidArgument")
        _ignored("AmlCompute.provisioning_configuration",
                 [n for n, v in (("admin_username", admin_username), ("admin_user_password", admin_user_password),
                                 ("admin_user_ssh_key", admin_user_ssh_key),
                                 ("vnet_resourcegroup_name", vnet_resourcegroup_name), ("vnet_name", vnet_name),
                                 ("subnet_name", subnet_name), ("identity_type", identity_type),
                                 ("identity_id", identity_id), ("location", location),
                                 ("remote_login_port_public_access",
                                  remote_login_port_public_access not in ("NotSpecified", None)),
                                 ("enable_node_public_ip", enable_node_public_ip is False)) if v],
                 "Ferry's nodes have no admin login, virtual network, identity or public IP of their own")
        c = _Config(kind="cluster", min_nodes=min_nodes, max_nodes=4 if max_nodes is None else max_nodes,
                    idle_seconds_before_scaledown=idle_seconds_before_scaledown,
                    priority="low" if prio.startswith("low") else "dedicated")
        if vm_size:
            c["vm_size"] = vm_size
        for k, n in (("cpus", cpus), ("memory_mb", memory_mb), ("gpus", gpus)):
            if n is not None:
                c[k] = n
        for k, v in (("provider", provider), ("start_command", start_command), ("stop_command", stop_command),
                     ("controller_address", controller_address), ("server_url", server_url)):
            if v:
                c[k] = v
        return c

    @staticmethod
    def supported_vmsizes(workspace: "Workspace", location: "Optional[str]" = None) -> "List[Dict[str, Any]]":
        """The workspace's node sizes, as Azure lists VM sizes: ``name``, ``vCPUs``, ``gpus``,
        ``memoryGB``, ``maxResourceVolumeMB`` (0: Ferry does not size node disks), and Ferry's
        ``provider`` (``""``: the workspace's default)."""
        sizes = workspace._client.call("GET", "/node-sizes")["sizes"]
        return [{"name": s["name"], "vCPUs": s.get("cpus", 0), "gpus": s.get("gpus", 0),
                 "memoryGB": round(s.get("memory_mb", 0) / 1024, 2), "maxResourceVolumeMB": 0,
                 "provider": s.get("provider", "")} for s in sizes]

    def _details(self) -> "Dict[str, Any]":
        d = self._data.get("details")
        return d if isinstance(d, dict) else {}

    @property
    def vm_size(self) -> str:
        return self._details().get("vm_size", "")

    @property
    def vm_priority(self) -> str:
        return "lowpriority" if self._details().get("priority") == "low" else "dedicated"

    @property
    def scale_settings(self) -> "ScaleSettings":
        d = self._details()
        return ScaleSettings(d.get("min_nodes", 0), d.get("max_nodes", 0), d.get("idle_seconds_before_scaledown", 0))

    def get_status(self) -> "AmlComputeStatus":  # type: ignore[override]
        """The cluster now: ``current_node_count``, ``node_state_counts``, ``scale_settings``...
        (``serialize()``: Azure's dict)."""
        self._data = self._fetch()
        return AmlComputeStatus(self)

    @property
    def status(self) -> "AmlComputeStatus":
        return AmlComputeStatus(self)

    def update(self, min_nodes: "Optional[int]" = None, max_nodes: "Optional[int]" = None,
               idle_seconds_before_scaledown: "Optional[int]" = None) -> None:
        """Change the cluster's scale settings; running jobs are kept."""
        body = {k: v for k, v in (("min_nodes", min_nodes), ("max_nodes", max_nodes),
                                  ("idle_seconds_before_scaledown", idle_seconds_before_scaledown)) if v is not None}
        if not body:
            raise ComputeTargetException("AmlCompute.update: give min_nodes, max_nodes or "
                                         "idle_seconds_before_scaledown", 0, "InvalidArgument")
        try:
            self.workspace._client.call("PATCH", f"/computes/{self.name}", body, timeout=300)
        except FerryError as e:
            raise ComputeTargetException(f"compute target '{self.name}': {e}".strip(), e.status, e.code) from None
        self._data = self._fetch()

    def list_nodes(self) -> "List[Dict[str, Any]]":
        """The nodes up or coming up: ``nodeId``, ``nodeState`` (idle, running, preparing,
        leaving, unusable), ``privateIpAddress``; ``port`` and ``publicIpAddress`` are None
        (nodes are reached through the server)."""
        self._data = self._fetch()
        out = []
        for n in self._details().get("nodes", []):
            state = _node_state(n)
            if state is None:
                continue
            out.append({"nodeId": n.get("node", ""), "nodeState": state, "privateIpAddress": n.get("address"),
                        "publicIpAddress": None, "port": None, "runId": None})
        return out

    def wait_for_completion(self, show_output: bool = False, min_node_count: "Optional[int]" = None,
                            timeout_in_minutes: float = 25, is_delete_operation: bool = False) -> None:
        """Wait until the cluster is up with ``min_node_count`` nodes (default: its min_nodes)."""
        deadline = time.monotonic() + timeout_in_minutes * 60
        last = ""
        while True:
            state = self._fetch_state()
            if state in ("failed", "unavailable"):
                raise ComputeTargetException(f"compute target '{self.name}' is {state}: "
                                             f"{self._data.get('state_reason', '')}", 0, state)
            d = self._details()
            counts = d.get("counts", {})
            want = d.get("min_nodes", 0) if min_node_count is None else min_node_count
            up = counts.get("idle", 0) + counts.get("busy", 0)
            line = (f"{self.name}: {self.provisioning_state}, {up} node(s) up, {counts.get('starting', 0)} starting, "
                    f"{counts.get('failed', 0)} failed")
            if show_output and line != last:
                print(line, flush=True)
                last = line
            if state not in ("starting", "stopping") and up >= want:
                return
            if want > 0 and counts.get("failed", 0) > 0 and up < want:
                errors = "; ".join(n.get("error", "") for n in d.get("nodes", []) if n.get("error"))
                raise ComputeTargetException(f"a node of cluster '{self.name}' failed to start: {errors}", 0,
                                             "NodeFailed")
            if time.monotonic() >= deadline:
                raise ComputeTargetException(f"cluster '{self.name}' has {up} of {want} node(s) up after "
                                             f"{timeout_in_minutes} minutes", 0, "Timeout")
            time.sleep(1)


def _node_state(n: "Dict[str, Any]") -> "Optional[str]":
    provider, slurm = n.get("provider_state", ""), str(n.get("slurm_state", "")).lower()
    if provider == "starting" or (provider == "started" and not slurm.startswith(("idle", "alloc", "mix", "compl"))):
        return "preparing"
    if provider == "started":
        return "idle" if slurm.startswith("idle") else "running"
    if provider == "stopping":
        return "leaving"
    if provider == "failed":
        return "unusable"
    return None


class ScaleSettings:
    """A managed cluster's scale settings (Azure's ``ScaleSettings``)."""

    def __init__(self, minimum_node_count: int, maximum_node_count: int, idle_seconds_before_scaledown: int) -> None:
        self.minimum_node_count = minimum_node_count
        self.maximum_node_count = maximum_node_count
        self.idle_seconds_before_scaledown = idle_seconds_before_scaledown

    def serialize(self) -> "Dict[str, Any]":
        return {"minNodeCount": self.minimum_node_count, "maxNodeCount": self.maximum_node_count,
                "nodeIdleTimeBeforeScaleDown": f"PT{self.idle_seconds_before_scaledown}S"}


class AmlComputeStatus:
    """A managed cluster's status now (Azure's ``AmlComputeStatus``)."""

    def __init__(self, target: "AmlCompute") -> None:
        d = target._details()
        counts = d.get("counts", {})
        states = [_node_state(n) for n in d.get("nodes", [])]
        self.current_node_count = counts.get("current", 0)
        self.target_node_count = counts.get("current", 0) + counts.get("starting", 0)
        self.node_state_counts = {"preparingNodeCount": states.count("preparing"),
                                  "runningNodeCount": states.count("running"),
                                  "idleNodeCount": states.count("idle"),
                                  "unusableNodeCount": states.count("unusable"),
                                  "leavingNodeCount": states.count("leaving"), "preemptedNodeCount": 0}
        self.allocation_state = "Resizing" if counts.get("starting", 0) or "leaving" in states else "Steady"
        self.provisioning_state = target.provisioning_state
        self.errors = target.provisioning_errors or (
            [{"code": "NodeFailed", "message": n["error"]} for n in d.get("nodes", []) if n.get("error")] or None)
        self.scale_settings = target.scale_settings
        self.vm_priority = target.vm_priority
        self.vm_size = target.vm_size
        self.creation_time = target._data.get("created_at")

    def serialize(self) -> "Dict[str, Any]":
        return {"currentNodeCount": self.current_node_count, "targetNodeCount": self.target_node_count,
                "nodeStateCounts": dict(self.node_state_counts), "allocationState": self.allocation_state,
                "allocationStateTransitionTime": None, "errors": self.errors, "creationTime": self.creation_time,
                "modifiedTime": None, "provisioningState": self.provisioning_state,
                "provisioningStateTransitionTime": None, "scaleSettings": self.scale_settings.serialize(),
                "vmPriority": self.vm_priority, "vmSize": self.vm_size}
