"""S3 datastores against a real S3 server (s3proxy, tests/support/s3proxy.py): registration
checks the credentials and seals the secret, uploads and listings go through the server,
datasets over the bucket (file and tabular), a run mounts one through presigned URLs (no
credentials on the node), and an object changed under a version is refused naming it."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from ferry import Workspace  # noqa: E402
from s3proxy import s3proxy_factory  # noqa: E402, F401 (a fixture)

SCRIPT = """
import os, sys
print("files", sorted(os.listdir(sys.argv[1])), open(os.path.join(sys.argv[1], "a.csv")).read().strip())
"""


def test_s3_datastores_hold_datasets_that_runs_read(workspace, s3proxy_factory, tmp_path, src):
    from ferry import Dataset, Experiment, ScriptRunConfig
    from ferry.datastore import Datastore
    from ferry.exceptions import FerryError

    s3 = s3proxy_factory(tls=False)
    ws = Workspace(url=workspace.url, token=workspace.token)
    # Wrong credentials: the store's own error, without the secret.
    with pytest.raises(FerryError) as bad:
        Datastore.register_s3(ws, "s3bad", s3.endpoint, s3.bucket, s3.access_key, "wrong-secret-123")
    assert "SignatureDoesNotMatch" in str(bad.value) and "wrong-secret-123" not in str(bad.value), bad.value
    store = Datastore.register_s3(ws, "s3data", s3.endpoint, s3.bucket, s3.access_key, s3.secret_key,
                                  prefix="team")
    assert (store.datastore_type, store.bucket_name, store.prefix) == ("s3", s3.bucket, "team")
    status, shown, _ = workspace.api("GET", "/datastores/s3data")
    assert s3.secret_key not in str(shown) and shown["access_key"] == s3.access_key
    assert s3.secret_key.encode() not in (Path(workspace.home) / "ferry.db").read_bytes()

    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("x,y\n1,2\n")
    (data / "sub" / "b.csv").write_text("x,y\n3,4\n")
    store.upload(str(data), target_path="iris", show_progress=False)
    assert (s3.data_dir / s3.bucket / "team" / "iris" / "sub" / "b.csv").read_text() == "x,y\n3,4\n"
    assert [f["path"] for f in store._list("iris/")] == ["iris/a.csv", "iris/sub/b.csv"]
    table = Dataset.Tabular.from_delimited_files((store, "iris/**/*.csv"))
    assert table.to_pandas_dataframe()["x"].tolist() == [1, 3]
    files = Dataset.File.from_files((store, "iris")).register(ws, "iris-s3")
    assert files.datastore_name == "s3data" and files.file_count == 2

    (src / "read.py").write_text(SCRIPT)
    config = ScriptRunConfig(source_directory=str(src), script="read.py", python=sys.executable,
                             arguments=[files.as_named_input("iris").as_mount()])
    run = Experiment(ws, "s3").submit(config)
    run.wait_for_completion()
    assert run.get_status() == "Completed", workspace.log(run.id)
    log = workspace.log(run.id)
    assert "files ['a.csv', 'sub'] x,y\n1,2" in log, log
    assert "its files fetched into the node's copy" in workspace.agent_info(run.id)

    # The object changes under the version: reading it and a new run's node copy are refused.
    (s3.data_dir / s3.bucket / "team" / "iris" / "a.csv").write_text("x,y\n9,9,9\n")
    with pytest.raises(FerryError, match="'iris/a.csv' changed"):
        files.download(str(tmp_path / "dl"))
    status, body, _ = workspace.api("GET", "/datastores/s3data/content?path=nope")
    assert status == 404 and "no file 'nope'" in body["error"]["message"], body


def test_the_cli_registers_an_s3_datastore_with_the_secret_on_stdin(workspace, s3proxy_factory):
    s3 = s3proxy_factory(tls=False)
    out = workspace.cli("datastore", "register", "s3cli", "--kind", "s3", "--endpoint", s3.endpoint,
                        "--bucket", s3.bucket, "--access-key", s3.access_key, input=s3.secret_key + "\n")
    assert "registered datastore s3cli (s3 bucket" in out.stdout, out.stdout
    shown = workspace.cli("datastore", "show", "s3cli").stdout
    assert f"Bucket:   {s3.bucket}" in shown and s3.secret_key not in shown, shown
    missing = workspace.cli("datastore", "register", "s3x", "--kind", "s3", "--endpoint", s3.endpoint,
                            input="", check=False)
    assert missing.returncode != 0 and "--bucket" in missing.stderr, missing.stderr


def test_a_large_file_goes_to_and_comes_from_an_s3_datastore_in_pieces(workspace, s3proxy_factory, tmp_path):
    """Over the 64 MiB from which the server puts a file as a multipart upload (through a
    temporary file, not memory) and reads it back in ranges; the same file again is seen as
    already there by its multipart ETag."""
    import hashlib
    import os

    from ferry import _snapshot
    from ferry.datastore import Datastore

    s3 = s3proxy_factory(tls=False)
    ws = Workspace(url=workspace.url, token=workspace.token)
    store = Datastore.register_s3(ws, "s3big", s3.endpoint, s3.bucket, s3.access_key, s3.secret_key)
    data = tmp_path / "data"
    data.mkdir()
    block = bytearray(os.urandom(1 << 20))
    digest = hashlib.sha256()
    with open(data / "big.bin", "wb") as f:
        for i in range(70):
            block[:4] = i.to_bytes(4, "little")
            f.write(block)
            digest.update(block)
    snap = _snapshot.build(str(data), use_ignore_files=False)
    done = store._put_snapshot(snap, "big", False)
    assert (done["files"], done["written"]) == (1, 1), done
    assert (s3.data_dir / s3.bucket / "big" / "big.bin").stat().st_size == 70 << 20
    again = store._put_snapshot(snap, "big", False)
    assert again["written"] == 0, again  # already there: no AlreadyExists, nothing sent
    assert store.download(str(tmp_path / "dl"), prefix="big/", show_progress=False) == 1
    got = hashlib.sha256((tmp_path / "dl" / "big" / "big.bin").read_bytes()).hexdigest()
    assert got == digest.hexdigest()
