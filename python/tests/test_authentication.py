"""ferry.core.authentication: Azure's authentication classes as sources of Ferry tokens."""

import json

import pytest

from ferry.core import Workspace
from ferry.core.authentication import (
    AzureCliAuthentication,
    InteractiveLoginAuthentication,
    ServicePrincipalAuthentication,
    TokenAuthentication,
)
from ferry.exceptions import AuthenticationException


def test_a_service_principals_password_is_the_token_its_calls_carry():
    sp = ServicePrincipalAuthentication(tenant_id="t", service_principal_id="ci-bot",
                                        service_principal_password="tok-123")
    assert sp.get_authentication_header() == {"Authorization": "Bearer tok-123"}
    assert sp.get_token().token == "tok-123"
    assert "tok-123" not in repr(sp) and "ci-bot" in repr(sp)
    ws = Workspace(url="http://127.0.0.1:9", auth=sp)  # no call is made until one is needed
    assert ws._token == "tok-123"


def test_an_empty_password_is_refused_naming_the_principal():
    with pytest.raises(AuthenticationException, match="ci-bot.*ferry user create"):
        ServicePrincipalAuthentication("t", "ci-bot", "")


def test_a_token_callable_is_asked_each_time():
    tokens = iter(["first", "second"])
    auth = TokenAuthentication(lambda audience: next(tokens))
    assert auth.get_authentication_header()["Authorization"] == "Bearer first"
    assert Workspace(url="http://127.0.0.1:9", auth=auth)._token == "second"


def test_interactive_and_cli_logins_are_this_users_own_token(tmp_path, monkeypatch):
    monkeypatch.delenv("FERRY_TOKEN", raising=False)
    monkeypatch.setenv("FERRY_HOME", str(tmp_path))
    with pytest.raises(AuthenticationException, match="FERRY_TOKEN"):
        InteractiveLoginAuthentication().get_authentication_header()
    (tmp_path / "token").write_text("home-token\n")
    assert InteractiveLoginAuthentication(force=True).get_authentication_header() == {
        "Authorization": "Bearer home-token"}
    monkeypatch.setenv("FERRY_TOKEN", "env-token")
    assert AzureCliAuthentication().get_token().token == "env-token"
    # A workspace given such an auth uses its own token, as with no auth at all.
    assert Workspace(url="http://127.0.0.1:9", auth=InteractiveLoginAuthentication())._token == "env-token"


def test_from_config_hands_the_auth_to_the_workspace(tmp_path, monkeypatch):
    monkeypatch.delenv("FERRY_TOKEN", raising=False)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"subscription_id": "s", "resource_group": "r", "workspace_name": "w",
                               "url": "http://127.0.0.1:9"}))
    monkeypatch.setenv("FERRY_WORKSPACES", json.dumps({}))
    sp = ServicePrincipalAuthentication("t", "bot", "sp-token")
    ws = Workspace.from_config(str(cfg), auth=sp)
    assert ws._token == "sp-token" and ws.name == "w"


def test_anything_else_as_auth_is_a_type_error():
    with pytest.raises(TypeError, match="ferry.core.authentication"):
        Workspace(url="http://127.0.0.1:9", auth="a-token")
