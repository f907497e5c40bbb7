"""The workspace's secrets: Azure ML SDK v1's :class:`Keyvault` on Ferry's sealed secrets.

Azure keeps a workspace's secrets in an Azure Key Vault; Ferry keeps them in the workspace's
server, each value sealed at rest under the workspace's key (``<home>/seal.key``), never listed,
never logged (docs/azure-workspace.md, "Key Vault")::

    kv = ws.get_default_keyvault()
    kv.set_secret(name="db-pass", value=password)
    kv.list_secrets()             # [{"name": "db-pass"}]
    kv.get_secret("db-pass")      # the value
    kv.get_secrets(["db-pass", "nope"])   # {"db-pass": "...", "nope": None}
    kv.delete_secret("db-pass")

Inside a submitted run's script, ``Run.get_context().get_secret("db-pass")`` reads the same
secrets with the run's own token. Names follow Azure Key Vault's rule: 1 to 127 ASCII letters,
digits and dashes (the server refuses others, naming the name and the rule). Writing and
deleting need the contributor role, and so does reading a value; readers see the names.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, Iterable, List, Optional

    from .workspace import Workspace

__all__ = ["Keyvault"]

#: What a secret's content type is when none is given (Azure's KeyVaultContentType.not_provided).
NOT_PROVIDED = "application/NotProvided"


def _name(name: "Any") -> str:
    """The name as a str; the server checks Azure's rule and names what is wrong."""
    if not isinstance(name, str) or not name:
        from .exceptions import InvalidArgumentError

        raise InvalidArgumentError(
            f"ferry: a secret name is a non-empty str of ASCII letters, digits and dashes, got {name!r}",
            0, "InvalidArgument")
    return name


def _value(name: str, value: "Any") -> str:
    """A secret's value: a str (numbers are written as Azure's SDK sends them, with str())."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    from .exceptions import InvalidArgumentError

    raise InvalidArgumentError(
        f"ferry: secret {name!r}: the value must be a str, got {type(value).__name__}", 0, "InvalidArgument")


def _path(name: str) -> str:
    from urllib.parse import quote

    return "/secrets/" + quote(_name(name), safe="")


def _fetch(client: "Any", names: "Iterable[str]") -> "Dict[str, Optional[str]]":
    """Azure's get_secrets answer: each name to its value, or None when there is no such secret."""
    wanted = [_name(n) for n in names]
    if not wanted:
        return {}
    got = client.call("POST", "/secrets/fetch", {"names": wanted})
    out: "Dict[str, Optional[str]]" = dict(got.get("secrets") or {})
    for missing in got.get("not_found") or []:
        out[missing] = None
    return out


class Keyvault:
    """The secrets of a workspace (``ws.get_default_keyvault()``)."""

    def __init__(self, workspace: "Workspace") -> None:
        self.workspace = workspace

    def _client(self) -> "Any":
        return self.workspace._client

    def set_secret(self, name: str, value: str, content_type: "Any" = NOT_PROVIDED) -> None:
        """Creates the secret ``name`` or replaces its value. ``content_type`` (a str, or Azure's
        KeyVaultContentType) is kept beside it and is not secret."""
        ct = getattr(content_type, "value", content_type)
        body: "Dict[str, Any]" = {"value": _value(name, value)}
        if ct:
            body["content_type"] = str(ct)
        self._client().call("PUT", _path(name), body)

    def set_secrets(self, secrets_batch: "Dict[str, str]") -> None:
        """Creates or replaces every secret of the dict (name to value), all of them or none."""
        if not isinstance(secrets_batch, dict):
            from .exceptions import InvalidArgumentError

            raise InvalidArgumentError(
                f"ferry: set_secrets takes a dict of names to values, got {type(secrets_batch).__name__}",
                0, "InvalidArgument")
        batch = {_name(k): _value(k, v) for k, v in secrets_batch.items()}
        if batch:
            self._client().call("POST", "/secrets", {"secrets": batch})

    def get_secret(self, name: str) -> str:
        """The value of secret ``name``; :class:`ferry.exceptions.NotFoundError` names a missing one."""
        return self._client().call("GET", _path(name))["value"]

    def get_secrets(self, secrets: "List[str]") -> "Dict[str, Optional[str]]":
        """The values of the named secrets as a dict; a name with no secret maps to None."""
        return _fetch(self._client(), secrets)

    def get_secret_content_type(self, name: str) -> str:
        """The content type given with the secret (``application/NotProvided`` when none was)."""
        return self._client().call("GET", _path(name))["content_type"]

    def delete_secret(self, name: str) -> None:
        """Deletes secret ``name``; :class:`ferry.exceptions.NotFoundError` names a missing one."""
        self._client().call("DELETE", _path(name))

    def delete_secrets(self, secrets: "List[str]") -> None:
        """Deletes each named secret in turn (as Azure does: one missing stops the rest)."""
        for name in secrets:
            self.delete_secret(name)

    def list_secrets(self) -> "List[Dict[str, str]]":
        """Every secret's name, as Azure gives them: ``[{"name": "db-pass"}, ...]``; never a value."""
        return [{"name": s["name"]} for s in self._client().call("GET", "/secrets")["secrets"]]

    def __repr__(self) -> str:
        return f"Keyvault(workspace={self.workspace!r})"
