"""The :class:`Workspace`: where runs, experiments and compute targets live (a Ferry server)."""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Dict, List, Optional

    from ._client import Client
    from .dataset import FileDataset
    from .datastore import Datastore


def _default_home() -> str:
    return os.environ.get("FERRY_HOME") or os.path.join(os.path.expanduser("~"), ".ferry")


class Workspace:
    """A connection to a Ferry workspace server.

    ``Workspace()`` is the local workspace (``$FERRY_HOME`` or ``~/.ferry``: its running
    server's URL from ``server.json`` and its token file; like the CLI, it starts the server in
    the background when none answers and the ``ferry`` binary is found: ``$FERRY_BIN``, else
    ``ferry`` on PATH); ``Workspace(url=..., token=...)`` any server; :meth:`from_config` the workspace a folder was attached to with
    ``ferry folder attach``.
    """

    def __init__(self, url: "Optional[str]" = None, token: "Optional[str]" = None,
                 home: "Optional[str]" = None, start_server: bool = True) -> None:
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
    def from_config(cls, path: "Optional[str]" = None) -> "Workspace":
        """The workspace of an attached folder: ``path`` (a ``.ferry/config.json`` or a folder),
        else the nearest ``.ferry/config.json`` from the current directory upwards."""
        cfg = _find_config(path)
        with open(cfg) as f:
            try:
                data = json.load(f)
            except ValueError as e:
                raise _error(f"{cfg} is not valid JSON ({e}); attach the folder again with 'ferry folder attach'") from None
        home = data.get("workspace_home")
        if not isinstance(home, str) or not home:
            raise _error(f"{cfg} has no 'workspace_home'; attach the folder again with 'ferry folder attach'")
        ws = cls(home=home)
        ws.experiment_name = data.get("experiment") or None
        return ws

    @property
    def _client(self) -> "Client":
        if self._client_obj is None:
            from ._client import Client

            self._client_obj = Client(self.url, self._token)
        return self._client_obj

    def experiments(self) -> "List[str]":
        """The names of the workspace's experiments."""
        return [e["name"] for e in self._client.call("GET", "/experiments")["experiments"]]

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
        """The workspace's own store, ``workspaceblobstore``."""
        from .datastore import Datastore

        return Datastore.get_default(self)

    def __repr__(self) -> str:
        return f"<ferry.Workspace {self.url}{' (' + self.home + ')' if self.home else ''}>"


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


def _find_config(path: "Optional[str]") -> str:
    if path:
        p = os.path.abspath(path)
        if os.path.isdir(p):
            p = os.path.join(p, ".ferry", "config.json")
        if not os.path.isfile(p):
            raise _error(f"no workspace config at {p}; run 'ferry folder attach' in the project folder")
        return p
    d = os.getcwd()
    while True:
        p = os.path.join(d, ".ferry", "config.json")
        if os.path.isfile(p):
            return p
        parent = os.path.dirname(d)
        if parent == d:
            raise _error(f"no .ferry/config.json in {os.getcwd()} or above; run 'ferry folder attach' in the "
                         "project folder, or use Workspace() / Workspace(url=..., token=...)")
        d = parent
