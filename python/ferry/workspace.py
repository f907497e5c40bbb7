"""The :class:`Workspace`: where runs, experiments and compute targets live (a Ferry server)."""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, List, Optional, Tuple

    from ._client import Client
    from .compute import ComputeTarget
    from .dataset import FileDataset
    from .datastore import Datastore
    from .environment import Environment
    from .keyvault import Keyvault
    from .model import Model
    from .run import Run


def _default_home() -> str:
    return os.environ.get("FERRY_HOME") or os.path.join(os.path.expanduser("~"), ".ferry")


class Workspace:
    """A connection to a Ferry workspace server.

    ``Workspace()`` is the local workspace (``$FERRY_HOME`` or ``~/.ferry``: its running
    server's URL from ``server.json`` and its token file; like the CLI, it starts the server in
    the background when none answers and the ``ferry`` binary is found: ``$FERRY_BIN``, else
    ``ferry`` on PATH); ``Workspace(url=..., token=...)`` any server; :meth:`from_config` the
    workspace a folder was attached to with ``ferry folder attach``, or the one an Azure
    ``config.json`` names.

    As Azure notebooks write it, ``Workspace(subscription_id, resource_group, workspace_name)``
    and :meth:`get` find the workspace mapped to that name in ``$FERRY_WORKSPACES`` or
    ``~/.ferry/workspaces.json`` (``{"NAME": {"home": DIR}}`` or ``{"NAME": {"url": URL,
    "token_file": FILE}}``); an unmapped name is the local workspace, with a one-line notice.
    """

    DEFAULT_CPU_CLUSTER_NAME = "cpu-cluster"
    DEFAULT_GPU_CLUSTER_NAME = "gpu-cluster"

    def __init__(self, subscription_id: "Optional[str]" = None, resource_group: "Optional[str]" = None,
                 workspace_name: "Optional[str]" = None, auth: "Any" = None, _location: "Any" = None,
                 _disable_service_check: bool = False, _workspace_id: "Any" = None, sku: str = "basic",
                 tags: "Optional[Dict[str, str]]" = None, _cloud: str = "AzureCloud", *,
                 url: "Optional[str]" = None, token: "Optional[str]" = None, home: "Optional[str]" = None,
                 start_server: bool = True) -> None:
        if isinstance(subscription_id, str) and subscription_id.startswith(("http://", "https://")) and url is None:
            # Workspace(URL, TOKEN): Ferry's first spelling, before Azure's positional names.
            url, token, subscription_id, resource_group = subscription_id, token or resource_group, None, None
        if token is None and auth is not None:  # ferry.core.authentication
            from .authentication import token_of

            token = token_of(auth)
        self.subscription_id = subscription_id or ""
        self.resource_group = resource_group or ""
        self._name = workspace_name or ""
        self._sku = sku or "basic"
        self._tags = dict(tags or {})
        if workspace_name and url is None and home is None:
            url, token, home = _resolve_name(workspace_name, token, home)
        self.home = None if url else os.path.abspath(home or _default_home())
        if url is None:
            url = _local_server(self.home, start_server)
        if token is None:
            token = os.environ.get("FERRY_TOKEN")
        if token is None and self.home is not None:
            try:
                with open(os.path.join(self.home, "token")) as f:
                    token = f.read().strip()
            except OSError:
                raise _error(f"cannot read the workspace token {os.path.join(self.home, 'token')}; "
                             "pass token= or set FERRY_TOKEN") from None
        if not token:
            raise _error("a token is needed for " + url + ": pass token= or set FERRY_TOKEN")
        self.url = url
        self._token = token
        self._client_obj: "Optional[Client]" = None
        self.experiment_name: "Optional[str]" = None  # from a folder's config

    @classmethod
    def from_config(cls, path: "Optional[str]" = None, auth: "Any" = None, _logger: "Any" = None,
                    _file_name: "Optional[str]" = None) -> "Workspace":
        """The workspace a config file names: ``path`` (a file, or a folder to search from),
        else the current directory. Searched upwards, in this order: Ferry's
        ``.ferry/config.json`` (``ferry folder attach``), then Azure's ``.azureml/config.json``,
        ``aml_config/config.json`` and ``config.json`` (``_file_name`` instead of config.json).
        An Azure file (``subscription_id``, ``resource_group``, ``workspace_name``) is resolved
        by its workspace name, as :class:`Workspace` resolves one."""
        cfg = _find_config(path, _file_name)
        with open(cfg) as f:
            try:
                data = json.load(f)
            except ValueError as e:
                raise _error(f"{cfg} is not valid JSON ({e}); attach the folder again with 'ferry folder attach' "
                             "or download the workspace's config.json again") from None
        if not isinstance(data, dict):
            raise _error(f"{cfg} is not a JSON object; attach the folder again with 'ferry folder attach'")
        azure = _azure_identity(data)
        if azure is not None:
            sub, rg, name = azure
            ws = cls._from_azure_config(sub, rg, name, data, cfg, auth)
        else:
            home = data.get("workspace_home")
            if not isinstance(home, str) or not home:
                raise _error(f"{cfg} has neither 'workspace_home' (Ferry's, from 'ferry folder attach') nor "
                             "'subscription_id', 'resource_group' and 'workspace_name' (Azure's); attach the "
                             "folder again with 'ferry folder attach'")
            ws = cls(home=home, auth=auth)
        ws.experiment_name = data.get("experiment") or None
        return ws

    @classmethod
    def _from_azure_config(cls, sub: str, rg: str, name: str, data: "Dict[str, Any]", cfg: str,
                           auth: "Any" = None) -> "Workspace":
        mapped = _mapping().get(name) or _mapping_ci(name)
        if mapped is None and isinstance(data.get("workspace_home"), str) and data["workspace_home"]:
            return cls(sub, rg, name, auth, home=data["workspace_home"])  # written by write_config
        if mapped is None and isinstance(data.get("url"), str) and data["url"]:
            return cls(sub, rg, name, auth, url=data["url"])
        return cls(sub, rg, name, auth)

    @staticmethod
    def get(name: str, auth: "Any" = None, subscription_id: "Optional[str]" = None,
            resource_group: "Optional[str]" = None, location: "Optional[str]" = None,
            cloud: str = "AzureCloud", id: "Optional[str]" = None) -> "Workspace":  # noqa: A002
        """The workspace mapped to ``name`` (see :class:`Workspace`); unmapped: the local one."""
        if id:
            _no_resource_id("Workspace.get(id=...)")
        return Workspace(subscription_id, resource_group, name, auth)

    @staticmethod
    def create(name: str, *args: "Any", exist_ok: bool = False, **kwargs: "Any") -> "Workspace":
        """Ferry workspaces are made by ``ferry server`` (its ``--home``), not by the SDK. With
        ``exist_ok=True`` a workspace already mapped to ``name`` is returned."""
        if exist_ok and (_mapping().get(name) or _mapping_ci(name)):
            return Workspace(kwargs.get("subscription_id"), kwargs.get("resource_group"), name)
        from .exceptions import WorkspaceException

        raise WorkspaceException(
            f"Workspace.create('{name}'): Ferry workspaces are not created from the SDK: start one with "
            f"'ferry server --home DIR' (or use the local workspace, Workspace()), then map the name to it in "
            f"{_mapping_source()}: {{\"{name}\": {{\"home\": \"DIR\"}}}} (docs/azure-workspace.md)", 0,
            "NotSupported")

    @staticmethod
    def list(subscription_id: "Optional[str]" = None, auth: "Any" = None,
             resource_group: "Optional[str]" = None) -> "Dict[str, List[Workspace]]":
        """The mapped workspaces (``$FERRY_WORKSPACES`` / ``~/.ferry/workspaces.json``) by name.
        Each is connected on this call (a home's server is started when none runs)."""
        return {name: [Workspace(subscription_id, resource_group, name)] for name in _mapping()}

    def delete(self, *args: "Any", **kwargs: "Any") -> None:
        from .exceptions import WorkspaceException

        raise WorkspaceException(f"Workspace.delete: a Ferry workspace is its server's home folder "
                                 f"({self.home or self.url}); stop the server and remove the folder yourself", 0,
                                 "NotSupported")

    def get_run(self, run_id: str) -> "Run":
        """The run of that id (:meth:`ferry.Run.get`)."""
        from .run import Run

        return Run.get(self, run_id)

    def get_mlflow_tracking_uri(self) -> str:
        """The server's URL: Ferry serves MLflow's tracking API itself (docs/mlflow.md); MLflow
        needs the token too (``MLFLOW_TRACKING_TOKEN``)."""
        return self.url

    def write_config(self, path: "Optional[str]" = None, file_name: "Optional[str]" = None) -> str:
        """Writes Azure's ``config.json`` for this workspace (``subscription_id``,
        ``resource_group``, ``workspace_name``, and where it lives: ``workspace_home`` or
        ``url``) to ``path``'s ``.azureml`` folder (``aml_config`` when that exists); returns
        the file's path. :meth:`from_config` reads it back."""
        base = os.path.abspath(path or ".")
        folder = os.path.join(base, "aml_config" if os.path.isdir(os.path.join(base, "aml_config")) else ".azureml")
        name = file_name or "config.json"
        if not name.endswith(".json"):
            name += ".json"
        data: "Dict[str, Any]" = {"subscription_id": self.subscription_id, "resource_group": self.resource_group,
                                  "workspace_name": self.name}
        if self.home:
            data["workspace_home"] = self.home
        else:
            data["url"] = self.url
        try:
            os.makedirs(folder, exist_ok=True)
            target = os.path.join(folder, name)
            with open(target, "w") as f:
                json.dump(data, f, indent=4)
                f.write("\n")
        except OSError as e:
            from .exceptions import UserErrorException

            raise UserErrorException(f"cannot write the workspace config to {folder}: {e}") from None
        return target

    @property
    def name(self) -> str:
        """The Azure workspace name it was found by; else the home folder's name (``local``
        for the default home) or the server's host."""
        if self._name:
            return self._name
        if self.home:
            return "local" if self.home == os.path.abspath(_default_home()) else os.path.basename(self.home)
        return self.location

    @property
    def location(self) -> str:
        """``local`` for a workspace on this machine (by its home); else the server URL's host."""
        if self.home:
            return "local"
        from urllib.parse import urlsplit

        return urlsplit(self.url).hostname or self.url

    @property
    def tags(self) -> "Dict[str, str]":
        return dict(self._tags)

    @property
    def sku(self) -> str:
        """Azure's pricing tier; Ferry has one (``basic``, or what the constructor was given)."""
        return self._sku

    @property
    def discovery_url(self) -> str:
        return self.url

    def get_details(self) -> "Dict[str, Any]":
        """Azure's keys where they mean something here (``name``, ``location``, ``tags``, ``sku``,
        ``friendlyName``, ``discoveryUrl``...) and Ferry's (``url``, ``home``)."""
        return {"id": self.url, "name": self.name, "location": self.location, "type": "ferry", "tags": self.tags,
                "sku": self.sku, "friendlyName": self.name, "description": "", "discoveryUrl": self.url,
                "subscriptionId": self.subscription_id, "resourceGroup": self.resource_group,
                "workspaceid": self.url, "url": self.url, "home": self.home or ""}

    @property
    def _client(self) -> "Client":
        if self._client_obj is None:
            from ._client import Client

            self._client_obj = Client(self.url, self._token)
        return self._client_obj

    @property
    def experiments(self) -> "_Experiments":
        """Every experiment by name (Azure's dict of :class:`Experiment`). Calling it,
        ``ws.experiments()``, is Ferry's earlier spelling: the names as a list."""
        from .experiment import Experiment

        names = [e["name"] for e in self._client.call("GET", "/experiments")["experiments"]]
        return _Experiments((n, Experiment(self, n)) for n in names)

    @property
    def compute_targets(self) -> "Dict[str, ComputeTarget]":
        """Every compute target by name, each as its kind's class (AmlCompute, RemoteCompute...)."""
        from .compute import ComputeTarget

        return {t.name: t for t in ComputeTarget.list(self)}

    @property
    def environments(self) -> "Dict[str, Environment]":
        """The latest version of every registered environment, by name."""
        from .environment import Environment

        return dict(Environment.list(self))

    @property
    def models(self) -> "Dict[str, Model]":
        """The latest version of every registered model, by name."""
        from .model import Model

        return {m.name: m for m in Model.list(self, latest=True)}

    @property
    def datastores(self) -> "Dict[str, Datastore]":
        """Every datastore of the workspace by name (``workspaceblobstore`` included)."""
        from .datastore import _datastores

        return _datastores(self)

    @property
    def datasets(self) -> "Dict[str, FileDataset]":
        """The latest version of every registered dataset that is not archived, by name."""
        from .dataset import Dataset

        return {d.name: d for d in Dataset.list(self)}

    def get_default_datastore(self) -> "Datastore":
        """The workspace's default datastore: its own store, ``workspaceblobstore``, unless an
        admin made another the default (:meth:`set_default_datastore`)."""
        from .datastore import Datastore

        return Datastore.get_default(self)

    def set_default_datastore(self, name: str) -> None:
        """Makes the datastore ``name`` the workspace's default (admins)."""
        from .datastore import Datastore

        Datastore.get(self, name).set_as_default()

    def get_default_keyvault(self) -> "Keyvault":
        """The workspace's secrets (Azure's workspace Key Vault; ferry.keyvault)."""
        from .keyvault import Keyvault

        return Keyvault(self)

    def __repr__(self) -> str:
        return f"<ferry.Workspace {self.name!r} {self.url}{' (' + self.home + ')' if self.home else ''}>"


class _DefaultClusterConfig:
    """Azure's Workspace.DEFAULT_CPU/GPU_CLUSTER_CONFIGURATION, made on first use."""

    def __init__(self, vm_size: str) -> None:
        self.vm_size = vm_size

    def __get__(self, obj: "Any", owner: "Any") -> "Any":
        from .compute import AmlCompute

        return AmlCompute.provisioning_configuration(min_nodes=0, max_nodes=2, vm_size=self.vm_size,
                                                     vm_priority="dedicated")


Workspace.DEFAULT_CPU_CLUSTER_CONFIGURATION = _DefaultClusterConfig("STANDARD_DS2_V2")  # type: ignore[attr-defined]
Workspace.DEFAULT_GPU_CLUSTER_CONFIGURATION = _DefaultClusterConfig("STANDARD_NC6")  # type: ignore[attr-defined]


class _Experiments(dict):  # type: ignore[type-arg]
    """``ws.experiments``: Azure's dict name -> Experiment; called, Ferry's earlier list of names."""

    def __call__(self) -> "List[str]":
        return list(self)


def _azure_identity(data: "Dict[str, Any]") -> "Optional[Tuple[str, str, str]]":
    """(subscription_id, resource_group, workspace_name) of an Azure config.json, else None."""
    scope = data.get("Scope")
    if isinstance(scope, str) and scope:
        parts = scope.split("/")  # /subscriptions/S/resourceGroups/R/providers/P/workspaces/W
        if len(parts) >= 9:
            return parts[2], parts[4], parts[8]
    keys = ("subscription_id", "resource_group", "workspace_name")
    if "workspace_name" not in data:
        return None
    missing = [k for k in keys if not isinstance(data.get(k), str)]
    if missing:
        raise _error(f"the workspace config has 'workspace_name' but no {', '.join(repr(k) for k in missing)}: "
                     "Azure's config.json holds subscription_id, resource_group and workspace_name")
    return data["subscription_id"], data["resource_group"], data["workspace_name"]


def _mapping_source() -> str:
    return "$FERRY_WORKSPACES" if os.environ.get("FERRY_WORKSPACES") else "~/.ferry/workspaces.json"


def _mapping() -> "Dict[str, Dict[str, str]]":
    """Azure workspace name -> where that workspace is here: ``$FERRY_WORKSPACES`` (a file, or
    the JSON itself), else ``~/.ferry/workspaces.json``; {} when there is none."""
    env = os.environ.get("FERRY_WORKSPACES", "")
    if env.lstrip().startswith("{"):
        text, where = env, "$FERRY_WORKSPACES"
    else:
        where = os.path.abspath(os.path.expanduser(env or "~/.ferry/workspaces.json"))
        try:
            with open(where) as f:
                text = f.read()
        except FileNotFoundError:
            if env:
                raise _error(f"FERRY_WORKSPACES names {where}, which does not exist") from None
            return {}
        except OSError as e:
            raise _error(f"cannot read the workspace mapping {where}: {e}") from None
    try:
        data = json.loads(text)
    except ValueError as e:
        raise _error(f"the workspace mapping {where} is not valid JSON ({e})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise _error(f"the workspace mapping {where} must be an object: workspace name -> "
                     '{"home": DIR} or {"url": URL, "token_file": FILE}')
    return data


def _mapping_ci(name: str) -> "Optional[Dict[str, str]]":
    """Azure's workspace names are case-insensitive."""
    for k, v in _mapping().items():
        if k.lower() == name.lower():
            return v
    return None


_NOTICED: "set[str]" = set()


def _resolve_name(name: str, token: "Optional[str]", home: "Optional[str]"
                  ) -> "Tuple[Optional[str], Optional[str], Optional[str]]":
    """(url, token, home) of the workspace mapped to ``name``; the local workspace (with a
    one-line notice on stderr, once per name) when none is."""
    entry = _mapping().get(name) or _mapping_ci(name)
    if entry is None:
        if name not in _NOTICED:
            _NOTICED.add(name)
            import sys

            print(f"ferry: workspace '{name}' is not mapped to a Ferry workspace: using the local one "
                  f"({_default_home()}); map it in {_mapping_source()} as "
                  f'{{"{name}": {{"home": DIR}}}} (docs/azure-workspace.md)', file=sys.stderr)
        return None, token, home
    where = f"the mapping of workspace '{name}' in {_mapping_source()}"
    if entry.get("home"):
        return None, token, os.path.expanduser(str(entry["home"]))
    if entry.get("url"):
        if token is None and entry.get("token_file"):
            path = os.path.expanduser(str(entry["token_file"]))
            try:
                with open(path) as f:
                    token = f.read().strip()
            except OSError as e:
                raise _error(f"{where}: cannot read its token_file {path}: {e}") from None
        return str(entry["url"]), token, None
    raise _error(f'{where} has neither "home" nor "url": give {{"home": DIR}} or {{"url": URL, "token_file": FILE}}')


def _no_resource_id(what: str) -> None:
    from .exceptions import UserErrorException

    raise UserErrorException(f"{what}: Azure resource ids do not exist in Ferry; name the workspace or target "
                             "instead", 0, "NotSupported")


def _healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url.rstrip("/") + "/api/v1/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _read_url(home: str) -> "Optional[str]":
    try:
        with open(os.path.join(home, "server.json")) as f:
            return json.load(f)["url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _local_server(home: str, start: bool) -> str:
    """The URL of the home's server, started in the background when none answers (as the CLI does)."""
    import shutil

    url = _read_url(home)
    if url and _healthy(url):
        return url
    ferry_bin = os.environ.get("FERRY_BIN") or shutil.which("ferry")
    if not start or not ferry_bin:
        from .exceptions import ServerUnavailableError

        raise ServerUnavailableError(
            f"no Ferry server is running for the workspace {home}; start one with 'ferry server' "
            + ("" if start else "(start_server=False) ") + "or pass url= and token="
            + ("" if ferry_bin or not start else " (no 'ferry' binary on PATH or in $FERRY_BIN to start it)"),
            0, "Unavailable")
    import subprocess
    import time

    os.makedirs(home, exist_ok=True)
    log_path = os.path.join(home, "server.log")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([ferry_bin, "--home", home, "server", "--port", "0"], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True)
    from ._backoff import Backoff

    deadline = time.monotonic() + 30
    backoff = Backoff(0.01, 0.2)
    while time.monotonic() < deadline:
        url = _read_url(home)
        if url and _healthy(url):
            return url
        if proc.poll() is not None:
            # Another process's server may have won the race for this home: wait for it.
            with open(log_path, "rb") as f:
                if b"already running" not in f.read()[-4000:]:
                    break
        time.sleep(backoff.next())
    with open(log_path, "rb") as f:
        tail = f.read()[-2000:].decode("utf-8", "replace")
    raise _error(f"the workspace server for {home} did not start; see {log_path}:\n{tail}")


def _error(message: str) -> Exception:
    from .exceptions import FerryError

    return FerryError(message)


def _find_config(path: "Optional[str]", file_name: "Optional[str]" = None) -> str:
    """Ferry's .ferry/config.json, then Azure's places (.azureml/, aml_config/, the folder
    itself), each searched from the start folder upwards, as Azure's SDK searches."""
    start = os.path.abspath(path) if path else os.getcwd()
    if path and os.path.isfile(start):
        return start
    if path and not os.path.isdir(start):
        raise _error(f"no workspace config at {start}; run 'ferry folder attach' in the project folder "
                     "(or give the folder or file of an Azure config.json)")
    places = [(".ferry", "config.json")] + [(d, file_name or "config.json") for d in (".azureml", "aml_config", "")]
    for folder, name in places:
        d = start
        while True:
            p = os.path.join(d, folder, name)
            if os.path.isfile(p):
                return p
            parent = os.path.dirname(d)
            if parent == d:
                break
            d = parent
    raise _error(f"no .ferry/config.json, .azureml/config.json, aml_config/config.json or config.json in {start} "
                 "or above; run 'ferry folder attach' in the project folder, or use Workspace() / "
                 "Workspace(url=..., token=...)")
