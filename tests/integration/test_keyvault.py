"""Azure ML's workspace Key Vault on Ferry's sealed secrets, against a real server: a notebook's
set/list/get/delete through ws.get_default_keyvault(), a submitted script reading them with
Run.get_context().get_secret(s), values sealed at rest and absent from every listing and log,
who may read and write them, and the errors for a bad name and a missing secret."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys
from pathlib import Path

import pytest

from test_runs import write

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from ferry import Run, Workspace  # noqa: E402
from ferry.exceptions import InvalidArgumentError, NotFoundError, PermissionDeniedError  # noqa: E402


def _value() -> str:
    """A value no log line or file could hold by chance."""
    return "pw-" + secrets.token_hex(16)


def _everything_the_server_wrote(ws) -> bytes:
    """The server's log (its access lines too) and every file of its home but the seal key."""
    out = []
    for p in sorted(ws.home.rglob("*")):
        if p.is_file() and p.name != "seal.key":
            out.append(p.read_bytes())
    return b"\n".join(out)


def test_a_notebook_sets_lists_reads_and_deletes_secrets(workspace):
    from ferry import Keyvault as FromTop
    from ferry.core import Keyvault
    from ferry.core.keyvault import Keyvault as FromModule

    ws = Workspace(home=str(workspace.home))
    kv = ws.get_default_keyvault()
    assert isinstance(kv, Keyvault) and FromModule is Keyvault is FromTop and kv.workspace is ws
    assert kv.list_secrets() == []

    first, second = _value(), _value()
    kv.set_secret(name="db-pass", value=first)
    assert kv.get_secret("db-pass") == first
    assert kv.list_secrets() == [{"name": "db-pass"}]
    assert kv.get_secret_content_type("db-pass") == "application/NotProvided"

    kv.set_secret(name="db-pass", value=second, content_type="application/vnd.ms-password")  # replaces
    assert kv.get_secret("db-pass") == second
    assert kv.get_secret_content_type("db-pass") == "application/vnd.ms-password"

    kv.set_secrets({"api-key": "k1", "PORT": 5432})  # numbers are sent as text, as Azure's SDK does
    assert kv.list_secrets() == [{"name": "PORT"}, {"name": "api-key"}, {"name": "db-pass"}]
    assert kv.get_secrets(["api-key", "PORT", "not-there"]) == {"api-key": "k1", "PORT": "5432", "not-there": None}
    assert kv.get_secrets([]) == {}

    kv.delete_secret("db-pass")
    kv.delete_secrets(["api-key", "PORT"])
    assert kv.list_secrets() == []


def test_bad_names_and_missing_secrets_are_named(workspace):
    kv = Workspace(home=str(workspace.home)).get_default_keyvault()
    with pytest.raises(InvalidArgumentError) as bad:
        kv.set_secret(name="db_pass", value="x")
    assert "'db_pass'" in str(bad.value) and "letter, digit or '-'" in str(bad.value)
    with pytest.raises(InvalidArgumentError) as long_name:
        kv.set_secret(name="a" * 128, value="x")
    assert "128 characters" in str(long_name.value)
    with pytest.raises(InvalidArgumentError, match="'db.pass'"):
        kv.get_secrets(["db.pass"])
    with pytest.raises(InvalidArgumentError, match="'bad name'"):
        kv.set_secrets({"good": "1", "bad name": "2"})
    assert kv.list_secrets() == []  # the batch stored nothing

    with pytest.raises(NotFoundError) as missing:
        kv.get_secret("nope")
    assert "secret 'nope' does not exist" in str(missing.value)
    with pytest.raises(NotFoundError, match="secret 'nope'"):
        kv.delete_secret("nope")
    with pytest.raises(InvalidArgumentError, match="must be a str"):
        kv.set_secret(name="x", value=None)  # type: ignore[arg-type]

    status, body, _ = workspace.api("PUT", "/secrets/pin", json={"value": 987654321})
    assert status == 400 and "987654321" not in str(body), body  # an error never shows the value
    status, body, _ = workspace.api("PUT", "/secrets/big", json={"value": "x" * (25 * 1024 + 1)})
    assert status == 400 and "at most 25600" in body["error"]["message"], body


def test_values_are_sealed_at_rest_and_never_listed_or_logged(workspace):
    kv = Workspace(home=str(workspace.home)).get_default_keyvault()
    value = _value()
    kv.set_secret(name="storage-key", value=value)
    kv.set_secrets({"other-key": value + "-2"})
    assert kv.get_secret("storage-key") == value
    assert kv.get_secrets(["other-key"]) == {"other-key": value + "-2"}
    status, raw, _ = workspace.api("GET", "/secrets")
    assert status == 200 and [s["name"] for s in raw["secrets"]] == ["other-key", "storage-key"]
    assert value not in str(raw) and set(raw["secrets"][0]) == {
        "name", "content_type", "updated_by", "created_at", "updated_at"}

    workspace.stop_server()  # every write is in ferry.db (or its WAL) and the log is complete
    written = _everything_the_server_wrote(workspace)
    assert b"storage-key" in written and b"GET /api/v1/secrets/storage-key 200" in written  # what was looked at
    assert b"sealed:v1:" in written
    assert value.encode() not in written
    log = (workspace.home / "test-server.log").read_text()
    assert "PUT /api/v1/secrets/storage-key 200" in log and value not in log

    workspace.start_server()  # opened again with the same key
    assert Workspace(home=str(workspace.home)).get_default_keyvault().get_secret("storage-key") == value


def test_contributors_write_and_read_values_readers_see_names_only(workspace):
    tokens = {}
    for name, role in (("carl", "contributor"), ("rita", "reader")):
        status, body, _ = workspace.api("POST", "/users", json={"name": name, "role": role})
        assert status == 201, body
        tokens[name] = body["token"]
    carl = Workspace(url=workspace.url, token=tokens["carl"]).get_default_keyvault()
    rita = Workspace(url=workspace.url, token=tokens["rita"]).get_default_keyvault()

    carl.set_secret(name="team-token", value="t0k3n")
    assert carl.get_secret("team-token") == "t0k3n"
    status, body, _ = workspace.api("GET", "/secrets")
    assert body["secrets"][0]["updated_by"] == "carl"

    assert rita.list_secrets() == [{"name": "team-token"}]
    with pytest.raises(PermissionDeniedError) as denied:
        rita.get_secret("team-token")
    assert "contributor role" in str(denied.value) and "rita" in str(denied.value)
    for attempt in (lambda: rita.get_secrets(["team-token"]), lambda: rita.set_secret("team-token", "mine"),
                    lambda: rita.set_secrets({"x": "y"}), lambda: rita.delete_secret("team-token")):
        with pytest.raises(PermissionDeniedError):
            attempt()
    assert carl.get_secret("team-token") == "t0k3n"
    carl.delete_secret("team-token")
    assert carl.list_secrets() == []


SCRIPT = """
    import hashlib
    from ferry.core import Run

    run = Run.get_context()
    value = run.get_secret("db-pass")
    found = run.get_secrets(["db-pass", "api-key", "not-there"])
    run.log("value_sha", hashlib.sha256(value.encode()).hexdigest())
    run.log("batch_same", str(found["db-pass"] == value))
    run.log("api_key", found["api-key"])
    run.log("missing_is_none", str(found["not-there"] is None))
    try:
        run.get_secret("not-there")
    except Exception as e:
        run.log("missing_error", type(e).__name__ + ": " + str(e))
    print("read the secrets", flush=True)
"""


def test_a_submitted_script_reads_secrets_with_run_get_secret(workspace, src):
    kv = Workspace(home=str(workspace.home)).get_default_keyvault()
    value = _value()
    kv.set_secrets({"db-pass": value, "api-key": "not-secret-here"})
    write(src / "train.py", SCRIPT)
    run_id, _ = workspace.submit(src, "train.py")
    ws = Workspace(home=str(workspace.home))
    run = Run.get(ws, run_id)
    assert run.wait_for_completion(show_output=False)["status"] == "Completed", workspace.log(run_id)
    m = run.get_metrics()
    assert m["value_sha"] == hashlib.sha256(value.encode()).hexdigest(), m
    assert m["batch_same"] == "True" and m["api_key"] == "not-secret-here" and m["missing_is_none"] == "True"
    assert m["missing_error"].startswith("NotFoundError: ") and "secret 'not-there'" in m["missing_error"], m
    assert value not in workspace.log(run_id)
    # From outside, the same Run reads through the workspace.
    assert run.get_secret("db-pass") == value

    # The script's token reads nothing once its run has ended, and never another run's way.
    secret = (workspace.home / "secret").read_text().strip()
    script_token = hmac.new(secret.encode(), f"mlflow:{run_id}".encode(), hashlib.sha256).hexdigest()
    status, body, _ = workspace.api("GET", "/secrets/db-pass", auth=False, headers={
        "Authorization": f"Bearer {script_token}", "X-Ferry-Run": run_id})
    assert status == 403 and "has ended" in body["error"]["message"], body
    status, body, _ = workspace.api("GET", "/secrets/db-pass", auth=False, headers={
        "Authorization": f"Bearer {script_token}", "X-Ferry-Run": "another-run"})
    assert status == 403, body


def test_an_offline_script_is_told_how_to_read_secrets(monkeypatch):
    from ferry.exceptions import UserErrorException

    for var in ("FERRY_METRICS_FILE", "FERRY_RUN_ID", "MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    run = Run(None)  # what Run.get_context() is outside a submitted run
    with pytest.raises(UserErrorException, match="get_default_keyvault"):
        run.get_secret("db-pass")


def test_the_cli_sets_lists_and_deletes_secrets_without_showing_values(workspace, tmp_path):
    value = _value()
    r = workspace.cli("secret", "set", "db-pass", input=value + "\n")
    assert "set secret db-pass" in r.stdout and value not in r.stdout + r.stderr
    pem = tmp_path / "key.pem"
    pem.write_text("-----BEGIN KEY-----\nabc\n-----END KEY-----\n")
    workspace.cli("secret", "set", "tls-key", "--file", pem)
    kv = Workspace(home=str(workspace.home)).get_default_keyvault()
    assert kv.get_secret("db-pass") == value  # the newline echo adds is dropped
    assert kv.get_secret("tls-key") == pem.read_text()  # a file is kept as it is

    listed = workspace.cli("secret", "list").stdout
    assert "db-pass" in listed and "tls-key" in listed and value not in listed and "abc" not in listed
    assert [s["name"] for s in workspace.cli_json("secret", "list")["secrets"]] == ["db-pass", "tls-key"]

    bad = workspace.cli("secret", "set", "db_pass", input="x", check=False)
    assert bad.returncode != 0 and "'db_pass'" in bad.stderr and "letter, digit or '-'" in bad.stderr
    workspace.cli("secret", "delete", "db-pass")
    gone = workspace.cli("secret", "delete", "db-pass", check=False)
    assert gone.returncode != 0 and "secret 'db-pass' does not exist" in gone.stderr
