"""Datastore paths and datasets over them against the real server: uploads to the workspace's
store and to a directory datastore, path patterns, file and tabular datasets with Azure ML SDK
v1's names (to_pandas_dataframe, take/skip/random_split/keep/drop, partition_format,
partition_by), the CLI (upload/download/register --pattern/-f/download), files that change
under a version, and a run that reads inputs and writes an output dataset through the SDK."""
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from ferry import Workspace  # noqa: E402




def _files(root: Path, files: dict) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _ws(workspace) -> Workspace:
    return Workspace(url=workspace.url, token=workspace.token)


CSV = {"2024/01/de.csv": "a,b\n1,x\n2,y\n", "2024/02/fr.csv": "a,b\n3,z\n", "2024/02/notes.txt": "skip me"}


def test_datastore_uploads_list_and_download_and_refuse_other_content_at_a_path(workspace, tmp_path):
    ws = _ws(workspace)
    ds = ws.get_default_datastore()
    ref = ds.upload(str(_files(tmp_path / "src", CSV)), target_path="sales", show_progress=False)
    assert (ref.datastore.name, ref.path_on_datastore) == ("workspaceblobstore", "sales")
    listed = [f["path"] for f in ds._list("sales/2024/02")]
    assert listed == ["sales/2024/02/fr.csv", "sales/2024/02/notes.txt"]
    # The same files again: nothing changes; other content at a path: refused unless overwrite.
    ds.upload(str(tmp_path / "src"), target_path="sales", show_progress=False)
    (tmp_path / "src" / "2024/02/fr.csv").write_text("a,b\n4,w\n")
    from ferry.exceptions import ConflictError
    with pytest.raises(ConflictError, match="sales/2024/02/fr.csv"):
        ds.upload(str(tmp_path / "src"), target_path="sales", show_progress=False)
    ds.upload(str(tmp_path / "src"), target_path="sales", overwrite=True, show_progress=False)
    ds.upload_files([str(tmp_path / "src" / "2024/01/de.csv")], target_path="one", show_progress=False)
    assert [f["path"] for f in ds._list("one/")] == ["one/de.csv"]
    assert ds.download(str(tmp_path / "out"), prefix="sales/2024/02/fr", show_progress=False) == 1
    assert (tmp_path / "out" / "sales/2024/02/fr.csv").read_text() == "a,b\n4,w\n"
    # Paths that leave the datastore are refused, naming the field.
    status, body, _ = workspace.api("GET", "/datastores/workspaceblobstore/files?prefix=../x")
    assert status == 400 and "prefix" in body["error"]["message"], body
    status, body, _ = workspace.api("GET", "/datastores/workspaceblobstore/content?path=nope.csv")
    assert status == 404 and "no file 'nope.csv'" in body["error"]["message"], body


def test_file_datasets_from_patterns_are_content_addressed(workspace, tmp_path):
    from ferry import Dataset
    from ferry.exceptions import NotFoundError

    ws = _ws(workspace)
    ds = ws.get_default_datastore()
    ds.upload(str(_files(tmp_path / "src", CSV)), target_path="sales", show_progress=False)
    csvs = Dataset.File.from_files(path=(ds, "sales/**/*.csv"))
    assert csvs.name is None and sorted(csvs.to_path()) == ["/2024/01/de.csv", "/2024/02/fr.csv"]
    reg = csvs.register(ws, "sales-files")
    again = Dataset.File.from_files(path=[(ds, "sales/**/*.csv")]).register(ws, "sales-files")
    assert (again.version, again.id) == (1, reg.id)
    # One file keeps its name; a directory gives the files under it.
    assert Dataset.File.from_files((ds, "sales/2024/02/fr.csv")).to_path() == ["/fr.csv"]
    assert sorted(Dataset.File.from_files((ds, "sales/2024/02")).to_path()) == ["/fr.csv", "/notes.txt"]
    local = reg.download(str(tmp_path / "dl"))
    assert sorted(os.path.relpath(p, tmp_path / "dl") for p in local) == ["2024/01/de.csv", "2024/02/fr.csv"]
    assert [p for p in reg.take(1).to_path()] == ["/2024/01/de.csv"]
    assert reg.skip(1).to_path() == ["/2024/02/fr.csv"]
    with pytest.raises(NotFoundError, match="nothing in datastore 'workspaceblobstore' matches 'sales/\\*\\*/\\*.parquet'"):
        Dataset.File.from_files((ds, "sales/**/*.parquet"))


def test_tabular_datasets_read_transform_and_partition(workspace, tmp_path):
    from ferry import Dataset
    from ferry.data.dataset_factory import DataType
    from ferry.data.datapath import DataPath

    os.environ["FERRY_DATASET_CACHE"] = str(tmp_path / "cache")
    ws = _ws(workspace)
    ds = ws.get_default_datastore()
    ds.upload(str(_files(tmp_path / "src", CSV)), target_path="sales", show_progress=False)
    table = Dataset.Tabular.from_delimited_files(path=(ds, "sales/**/*.csv"), include_path=True,
                                                 partition_format="{Month:yyyy/MM}/{Country}.csv",
                                                 set_column_types={"a": DataType.to_float()})
    df = table.to_pandas_dataframe()
    assert list(df.columns) == ["Path", "a", "b", "Month", "Country"]
    assert df["a"].tolist() == [1.0, 2.0, 3.0] and df["Country"].tolist() == ["de", "de", "fr"]
    assert df["Path"].tolist()[2] == "/2024/02/fr.csv" and df["Month"].dt.month.tolist() == [1, 1, 2]
    assert table.take(2).to_pandas_dataframe()["a"].tolist() == [1.0, 2.0]
    assert table.skip(2).to_pandas_dataframe()["a"].tolist() == [3.0]
    assert list(table.keep_columns(["a"]).to_pandas_dataframe().columns) == ["a"]
    assert "b" not in table.drop_columns("b").to_pandas_dataframe().columns
    first, rest = table.random_split(0.5, seed=7)
    a, b = first.to_pandas_dataframe()["a"].tolist(), rest.to_pandas_dataframe()["a"].tolist()
    assert sorted(a + b) == [1.0, 2.0, 3.0] and not set(a) & set(b)
    assert first.to_pandas_dataframe()["a"].tolist() == a  # the same split every time
    # A registered tabular dataset comes back as one, with its options.
    reg = table.register(ws, "sales", description="monthly")
    got = Dataset.get_by_name(ws, "sales")
    assert type(got).__name__ == "TabularDataset" and got.to_pandas_dataframe().equals(df)
    # Parquet, JSON lines, and partition_by writing partitioned Parquet back to a datastore.
    parts = table.partition_by(["Country"], target=DataPath(ds, "by_country"), name="by-country")
    assert sorted(parts.to_pandas_dataframe()["Country"].tolist()) == ["de", "de", "fr"]
    assert sorted(f["path"] for f in ds._list("by_country/")) == [
        "by_country/de/part-0.parquet", "by_country/fr/part-0.parquet"]
    _files(tmp_path / "jl", {"x.jsonl": '{"k": 1}\n{"k": 2}\n'})
    ds.upload(str(tmp_path / "jl"), target_path="jl", show_progress=False)
    assert Dataset.Tabular.from_json_lines_files((ds, "jl/*.jsonl")).to_pandas_dataframe()["k"].tolist() == [1, 2]
    with pytest.raises(ValueError, match="cannot read 'x.jsonl' as parquet"):
        Dataset.Tabular.from_parquet_files((ds, "jl/x.jsonl"))
    with pytest.raises(ValueError, match="keep_columns: no column 'nope'"):
        table.keep_columns(["nope"], validate=True)
    assert reg.version == 1


def test_directory_datastores_check_files_at_use(workspace, tmp_path):
    from ferry import Dataset
    from ferry.datastore import Datastore
    from ferry.exceptions import FerryError

    shared = _files(tmp_path / "shared", {"raw/a.csv": "a\n1\n", "raw/b.csv": "a\n2\n"})
    ws = _ws(workspace)
    store = Datastore.register_directory(ws, "shared", str(shared))
    files = Dataset.File.from_files((store, "raw/*.csv")).register(ws, "raw")
    assert files.datastore_name == "shared" and files.file_count == 2
    assert Dataset.Tabular.from_delimited_files((store, "raw")).to_pandas_dataframe()["a"].tolist() == [1, 2]
    # The data changes under the version: reading it is an error naming the file.
    (shared / "raw/b.csv").write_text("a\n2\n3\n")
    with pytest.raises(FerryError, match="'raw/b.csv' changed"):
        files.download(str(tmp_path / "dl"))
    out = workspace.cli("dataset", "download", "raw", "-t", tmp_path / "dl2", check=False)
    assert out.returncode != 0 and "raw/b.csv" in out.stderr and "new version" in out.stderr, out.stderr
    # Registering again sees the change: a new version is needed.
    v2 = Dataset.File.from_files((store, "raw/*.csv")).register(ws, "raw", create_new_version=True)
    assert v2.version == 2


def test_the_cli_uploads_registers_from_patterns_and_spec_files_and_downloads(workspace, tmp_path):
    src = _files(tmp_path / "src", CSV)
    out = workspace.cli("datastore", "upload", "workspaceblobstore", "-p", src, "-t", "cli").stdout
    assert "uploaded 3 files" in out and "workspaceblobstore:/cli" in out, out
    shown = workspace.cli("datastore", "show", "workspaceblobstore", "--files", "--prefix", "cli/2024/01").stdout
    assert "cli/2024/01/de.csv" in shown and "fr.csv" not in shown, shown
    out = workspace.cli("dataset", "register", "csvs", "--pattern", "cli/**/*.csv", "--tabular", "delimited").stdout
    assert "registered dataset csvs version 1 (2 files)" in out, out
    spec = tmp_path / "spec.yaml"
    spec.write_text("datasetType: File\nparameters:\n  path:\n    datastoreName: workspaceblobstore\n"
                    "    relativePath: cli/2024/02\nregistration:\n  name: feb\n  description: February\n"
                    "  tags: {month: '02'}\nschemaVersion: 1\n")
    assert "registered dataset feb version 1 (2 files)" in workspace.cli("dataset", "register", "-f", spec).stdout
    feb = workspace.cli_json("dataset", "show", "feb")
    assert feb["description"] == "February" and feb["tags"] == {"month": "02"}
    (tmp_path / "spec.json").write_text(json.dumps({"datasetType": "File", "parameters": {"path": "https://x/y.csv"},
                                                    "registration": {"name": "web"}}))
    bad = workspace.cli("dataset", "register", "-f", tmp_path / "spec.json", check=False)
    assert bad.returncode != 0 and "parameters.path" in bad.stderr and "URL" in bad.stderr, bad.stderr
    both = workspace.cli("dataset", "register", "x", "-p", src, "--pattern", "cli", check=False)
    assert both.returncode != 0 and "one of" in both.stderr, both.stderr
    out = workspace.cli("dataset", "download", "feb", "-t", tmp_path / "dl").stdout
    assert "2 files" in out and (tmp_path / "dl" / "fr.csv").read_text() == CSV["2024/02/fr.csv"], out
    again = workspace.cli("dataset", "download", "feb", "-t", tmp_path / "dl", check=False)
    assert again.returncode != 0 and "--overwrite" in again.stderr, again.stderr
    out = workspace.cli("datastore", "download", "workspaceblobstore", "-t", tmp_path / "all", "--prefix", "cli/").stdout
    assert "downloaded 3 files" in out and (tmp_path / "all/cli/2024/02/notes.txt").exists(), out


SCRIPT = """
import os, sys
from ferry import Run
run = Run.get_context()
table = run.input_datasets["table"]
print("rows", len(table.to_pandas_dataframe()), flush=True)
print("files", sorted(os.listdir(sys.argv[1])), sorted(os.listdir(run.input_datasets["raw"])))
out = run.output_datasets["summary"]
assert out == sys.argv[2], (out, sys.argv)
with open(os.path.join(out, "count.txt"), "w") as f:
    f.write(str(len(table.to_pandas_dataframe())))
"""


def test_an_sdk_run_reads_inputs_and_registers_its_output(workspace, tmp_path, src):
    from ferry import Dataset, Experiment, ScriptRunConfig
    from ferry.data import OutputFileDatasetConfig

    ws = _ws(workspace)
    ds = ws.get_default_datastore()
    ds.upload(str(_files(tmp_path / "data", CSV)), target_path="sales", show_progress=False)
    table = Dataset.Tabular.from_delimited_files((ds, "sales/**/*.csv")).register(ws, "sales")
    files = Dataset.File.from_files((ds, "sales/2024/02"))  # not registered
    (src / "job.py").write_text(SCRIPT)
    out = OutputFileDatasetConfig(name="summary", destination=(ds, "summaries/{run-id}")).register_on_complete("counts")
    config = ScriptRunConfig(source_directory=str(src), script="job.py", python=sys.executable,
                             arguments=[files.as_named_input("raw").as_download(), out,
                                        table.as_named_input("table")])
    run = Experiment(ws, "data").submit(config)
    run.wait_for_completion()
    details = run.get_details()
    assert details["status"] == "Completed", (details, workspace.log(run.id))
    log = workspace.log(run.id)
    assert "rows 3" in log and "files ['fr.csv', 'notes.txt'] ['fr.csv', 'notes.txt']" in log, log
    counts = Dataset.get_by_name(ws, "counts")
    assert counts.to_path() == ["/count.txt"]
    assert counts.download(str(tmp_path / "c")) and (tmp_path / "c" / "count.txt").read_text() == "3"
    status, got, _ = workspace.api("GET", "/datasets/sales/1")
    assert got["runs"] == [{"run_id": run.id, "direction": "input", "as_name": "table"}], got
    shown = workspace.cli("dataset", "show", "counts").stdout
    assert f"Written by:  {run.id} as summary" in shown, shown
    # An input that names no dataset is refused at submit, naming the field.
    status, body, _ = workspace.api("POST", "/runs", {"script": "job.py", "snapshot_id": "0" * 64,
                                                      "inputs": [{"name": "9bad", "dataset": {"name": "sales"}}]})
    assert status == 400 and "inputs[0].name" in body["error"]["message"], body


SINGLE_FILE_SCRIPT = """
import os, sys
one, folder, copied = sys.argv[1:4]
print("one", os.path.isfile(one), repr(open(one).read()), flush=True)
print("folder", os.path.isdir(folder), sorted(os.listdir(folder)), flush=True)
print("copied", os.path.isdir(copied), sorted(os.listdir(copied)), flush=True)
"""


def test_a_mounted_dataset_of_one_file_is_given_as_that_file(workspace, tmp_path, src):
    # As in Azure ML: a file dataset defined by one file's path, mounted, reaches the script as
    # the file itself (Azure's notebooks open() the argument); a folder stays a folder, and a
    # download is always the folder.
    from ferry import Dataset, Experiment, ScriptRunConfig

    ws = _ws(workspace)
    ds = ws.get_default_datastore()
    ds.upload(str(_files(tmp_path / "data", CSV)), target_path="sales", show_progress=False)
    one = Dataset.File.from_files((ds, "sales/2024/02/fr.csv"))
    folder = Dataset.File.from_files((ds, "sales/2024/02"))
    (src / "single.py").write_text(SINGLE_FILE_SCRIPT)
    config = ScriptRunConfig(source_directory=str(src), script="single.py", python=sys.executable,
                             arguments=[one.as_named_input("one").as_mount(),
                                        folder.as_named_input("folder").as_mount(),
                                        one.as_named_input("copied").as_download()])
    run = Experiment(ws, "single").submit(config)
    run.wait_for_completion()
    log = workspace.log(run.id)
    assert run.get_status() == "Completed", log
    assert "one True 'a,b\\n3,z\\n'" in log, log
    assert "folder True ['fr.csv', 'notes.txt']" in log and "copied True ['fr.csv']" in log, log


MODEL_SCRIPT = """
import sys
from ferry import Model
path = Model.get_model_path("weights")
print("model", path == sys.argv[1] + "/w.txt", open(path).read(), flush=True)
"""


def test_a_run_given_a_model_finds_it_with_get_model_path(workspace, tmp_path, src):
    from ferry import Experiment, Model, ScriptRunConfig

    ws = _ws(workspace)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "w.txt").write_text("w=1")
    model = Model.register(ws, str(tmp_path / "m"), "weights")
    (src / "use.py").write_text(MODEL_SCRIPT)
    config = ScriptRunConfig(source_directory=str(src), script="use.py", python=sys.executable,
                             arguments=[model.as_named_input()])
    run = Experiment(ws, "models").submit(config)
    run.wait_for_completion()
    assert run.get_status() == "Completed", workspace.log(run.id)
    assert "model True w=1" in workspace.log(run.id), workspace.log(run.id)
    status, v, _ = workspace.api("GET", "/models/weights/1")
    assert {"run_id": run.id, "direction": "input", "as_name": "weights"}.items() <= v["runs"][0].items(), v
    # A version whose files Ferry does not hold cannot be an input: the submit says so.
    status, body, _ = workspace.api("POST", "/runs", {"script": "use.py", "snapshot_id": workspace.run(run.id)["snapshot_id"],
                                                      "inputs": [{"name": "m", "model": {"name": "nope"}}]})
    assert status == 404 and "nope" in body["error"]["message"], body
