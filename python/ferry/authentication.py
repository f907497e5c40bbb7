"""``azureml.core.authentication`` as ``ferry.core.authentication``: where a workspace's token
comes from.

Ferry authenticates every call with a bearer token: the workspace token of a local home (its
``token`` file), ``FERRY_TOKEN``, or a user's token made with ``ferry user create``
(docs/security.md). Azure's authentication classes map onto that:

- ``InteractiveLoginAuthentication``, ``AzureCliAuthentication``, ``MsiAuthentication``: the
  identity of this machine's user: ``FERRY_TOKEN``, else the workspace home's token file (what
  a Workspace uses with no ``auth`` at all). Nothing is opened in a browser.
- ``ServicePrincipalAuthentication(tenant_id, service_principal_id, service_principal_password)``:
  a non-interactive identity: the password is a Ferry user's token (the id and tenant are kept
  for display only).
- ``TokenAuthentication(get_token_for_audience)``: your callable returns the token.
- ``ArmTokenAuthentication`` / ``AzureMLTokenAuthentication``: the token given.

``Workspace(..., auth=...)`` and ``Workspace.from_config(auth=...)`` use it.
"""

from __future__ import annotations

import os
import time

from .exceptions import AuthenticationException

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Dict, Optional


class Audience:
    """Azure's token audiences; Ferry has one kind of token, so both mean the same."""

    ARM = "ferry"
    AZUREML = "ferry"


class AccessToken:
    """A token and when it expires (seconds since the epoch; Ferry tokens do not expire: 0)."""

    def __init__(self, token: str, expires_on: float = 0) -> None:
        self.token = token
        self.expires_on = expires_on

    def __repr__(self) -> str:
        return "AccessToken(<hidden>)"


class AbstractAuthentication:
    """The base of every authentication: :meth:`get_authentication_header` is what calls carry."""

    def __init__(self, cloud: "Optional[str]" = None) -> None:
        self.cloud = cloud

    def _ferry_token(self) -> "Optional[str]":
        """The token, or None: the workspace's own (its home's token file, FERRY_TOKEN)."""
        return None

    def get_token(self, *scopes: "Any", **kwargs: "Any") -> AccessToken:
        return AccessToken(self._required_token())

    def get_authentication_header(self) -> "Dict[str, str]":
        return {"Authorization": "Bearer " + self._required_token()}

    def signed_session(self, session: "Any" = None) -> "Any":
        """``session`` (a requests.Session, made when None) with the header set."""
        if session is None:
            import requests  # only when asked for: requests is not a dependency

            session = requests.Session()
        session.headers.update(self.get_authentication_header())
        return session

    def _required_token(self) -> str:
        token = self._ferry_token() or _local_token()
        if not token:
            raise AuthenticationException(
                f"{type(self).__name__}: no token: set FERRY_TOKEN, or run on the workspace's machine "
                "(its home's token file), or use ServicePrincipalAuthentication with a Ferry user's token "
                "as the password (ferry user create)", 0, "Unauthenticated")
        return token

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _local_token() -> "Optional[str]":
    token = os.environ.get("FERRY_TOKEN")
    if token:
        return token
    home = os.environ.get("FERRY_HOME") or os.path.join(os.path.expanduser("~"), ".ferry")
    try:
        with open(os.path.join(home, "token")) as f:
            return f.read().strip() or None
    except OSError:
        return None


class InteractiveLoginAuthentication(AbstractAuthentication):
    """This machine's user: FERRY_TOKEN or the workspace home's token (no browser login)."""

    def __init__(self, force: bool = False, tenant_id: "Optional[str]" = None, cloud: "Optional[str]" = None) -> None:
        super().__init__(cloud)
        self.force = force
        self.tenant_id = tenant_id


class AzureCliAuthentication(AbstractAuthentication):
    """This machine's user, as with the Azure CLI's login: FERRY_TOKEN or the home's token."""


class MsiAuthentication(AbstractAuthentication):
    """The machine's identity: FERRY_TOKEN or the home's token."""

    def __init__(self, cloud: "Optional[str]" = None, **kwargs: "Any") -> None:
        super().__init__(cloud)
        self.identity_config = kwargs


class ServicePrincipalAuthentication(AbstractAuthentication):
    """A non-interactive identity: ``service_principal_password`` is a Ferry user's token
    (``ferry user create``); the id and tenant are kept for display."""

    def __init__(self, tenant_id: str, service_principal_id: str, service_principal_password: str,
                 cloud: str = "AzureCloud", _enable_caching: bool = True) -> None:
        super().__init__(cloud)
        if not service_principal_password:
            raise AuthenticationException(
                f"ServicePrincipalAuthentication for {service_principal_id!r}: service_principal_password is empty; "
                "give a Ferry user's token (ferry user create)", 0, "Unauthenticated")
        self.tenant_id = tenant_id
        self.service_principal_id = service_principal_id
        self._password = service_principal_password

    def _ferry_token(self) -> "Optional[str]":
        return self._password

    def __repr__(self) -> str:
        return f"ServicePrincipalAuthentication({self.service_principal_id!r})"


class TokenAuthentication(AbstractAuthentication):
    """``get_token_for_audience(audience)`` returns the token (called for each use, so it may
    refresh it)."""

    def __init__(self, get_token_for_audience: "Callable[[Any], str]", cloud: "Optional[str]" = None) -> None:
        super().__init__(cloud)
        if not callable(get_token_for_audience):
            raise TypeError("ferry: TokenAuthentication needs a callable get_token_for_audience(audience) -> token")
        self._get = get_token_for_audience

    def _ferry_token(self) -> "Optional[str]":
        token = self._get(Audience.AZUREML)
        return getattr(token, "token", token)


class ArmTokenAuthentication(AbstractAuthentication):
    """The token given (Azure's ARM access token): a Ferry token here."""

    def __init__(self, arm_access_token: str, cloud: "Optional[str]" = None) -> None:
        super().__init__(cloud)
        self._token = arm_access_token

    def update_arm_access_token(self, new_arm_access_token: str) -> None:
        self._token = new_arm_access_token

    def _ferry_token(self) -> "Optional[str]":
        return self._token


class AzureMLTokenAuthentication(ArmTokenAuthentication):
    """The token given; the workspace and run fields are kept for display."""

    def __init__(self, azureml_access_token: str, expiry_time: "Any" = None, host: "Optional[str]" = None,
                 subscription_id: "Optional[str]" = None, resource_group_name: "Optional[str]" = None,
                 workspace_name: "Optional[str]" = None, experiment_name: "Optional[str]" = None,
                 run_id: "Optional[str]" = None, user_email: "Optional[str]" = None,
                 experiment_id: "Optional[str]" = None, cloud: str = "AzureCloud") -> None:
        super().__init__(azureml_access_token, cloud)
        self.expiry_time = expiry_time
        self.host, self.workspace_name, self.run_id = host, workspace_name, run_id

    @classmethod
    def create(cls, azureml_access_token: str, expiry_time: "Any", host: "Optional[str]",
               subscription_id: "Optional[str]", resource_group_name: "Optional[str]",
               workspace_name: "Optional[str]", experiment_name: "Optional[str]", run_id: "Optional[str]",
               user_email: "Optional[str]" = None, experiment_id: "Optional[str]" = None) -> "AzureMLTokenAuthentication":
        """Azure's factory: the same as the constructor (a new object each call)."""
        return cls(azureml_access_token, expiry_time, host, subscription_id, resource_group_name, workspace_name,
                   experiment_name, run_id, user_email, experiment_id)

    @property
    def token(self) -> str:
        return self._token

    def set_token(self, token: str, expiry_time: "Any" = None) -> None:
        self._token, self.expiry_time = token, expiry_time or time.time()


def token_of(auth: "Any") -> "Optional[str]":
    """The token an ``auth=`` argument gives (None: the workspace's own)."""
    if auth is None:
        return None
    get = getattr(auth, "_ferry_token", None)
    if not callable(get):
        raise TypeError("ferry: auth must be one of ferry.core.authentication's classes, got " + type(auth).__name__)
    return get()
