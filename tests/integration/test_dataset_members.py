"""Azure's dataset members against a real server: get_by_name / get_by_id / get_all on
Dataset, FileDataset and TabularDataset, Dataset.get (deprecated), partition_keys and
get_partition_key_values, data_changed_time and unregister_all_versions."""
import datetime
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from ferry import Workspace  # noqa: E402
from ferry.core import Dataset  # noqa: E402
from ferry.data import FileDataset, TabularDataset  # noqa: E402
from ferry.exceptions import NotFoundError  # noqa: E402

FILES = {"sales/fr/2024-01-05/a.csv": "amount\n1\n2\n", "sales/fr/2024-02-01/a.csv": "amount\n3\n",
         "sales/de/2024-01-05/a.csv": "amount\n4\n"}


def _upload(workspace, tmp_path):
    ws = Workspace(url=workspace.url, token=workspace.token)
    root = tmp_path / "src"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    store = ws.get_default_datastore()
    store.upload(str(root), target_path="", show_progress=False)
    return ws, store


def test_lookups_on_every_dataset_class(workspace, tmp_path):
    ws, store = _upload(workspace, tmp_path)
    files = Dataset.File.from_files((store, "sales/**/*.csv")).register(ws, "sales-files")
    table = Dataset.Tabular.from_delimited_files((store, "sales/**/*.csv")).register(ws, "sales-table")

    for cls in (Dataset, FileDataset, TabularDataset):
        got = cls.get_by_name(ws, "sales-table")
        assert isinstance(got, TabularDataset) and got.id == table.id  # the version's kind decides
        assert isinstance(cls.get_by_id(ws, files.id), FileDataset)
        everything = cls.get_all(ws)
        assert sorted(everything) == ["sales-files", "sales-table"]
        assert everything["sales-files"].id == files.id

    assert Dataset.get(ws, name="sales-files").id == files.id
    assert Dataset.get(ws, id=table.id).name == "sales-table"
    assert Dataset.get(ws, name="sales-files", id=files.id).version == 1
    with pytest.raises(ValueError, match="is not id"):
        Dataset.get(ws, name="sales-files", id=table.id)
    with pytest.raises(ValueError, match="needs name= or id="):
        Dataset.get(ws)
    with pytest.raises(NotFoundError):
        TabularDataset.get_by_name(ws, "no-such-dataset")

    changed = files.data_changed_time
    assert changed.tzinfo is not None
    assert abs((datetime.datetime.now(datetime.timezone.utc) - changed).total_seconds()) < 600


def test_partition_keys_and_values(workspace, tmp_path):
    ws, store = _upload(workspace, tmp_path)
    fmt = "/{country}/{day:yyyy-MM-dd}/a.csv"
    files = Dataset.File.from_files((store, "sales/**/*.csv"), partition_format=fmt)
    assert files.partition_keys == ["country", "day"]
    assert files.get_partition_key_values(["country"]) == [{"country": "de"}, {"country": "fr"}]
    values = files.get_partition_key_values()
    assert len(values) == 3
    assert {"country": "fr", "day": datetime.datetime(2024, 2, 1)} in values

    table = Dataset.Tabular.from_delimited_files((store, "sales/**/*.csv"), partition_format=fmt)
    assert sorted(set(table.to_pandas_dataframe()["country"])) == ["de", "fr"]  # the same columns
    assert table.get_partition_key_values("day") == [{"day": datetime.datetime(2024, 1, 5)},
                                                     {"day": datetime.datetime(2024, 2, 1)}]
    with pytest.raises(ValueError, match="'region' is not a partition key.*country"):
        table.get_partition_key_values(["region"])
    plain = Dataset.File.from_files((store, "sales/**/*.csv"))
    assert plain.partition_keys == []
    with pytest.raises(ValueError, match="no partition keys"):
        plain.get_partition_key_values()


def test_unregister_all_versions_archives_every_version(workspace, tmp_path):
    ws, store = _upload(workspace, tmp_path)
    v1 = Dataset.File.from_files((store, "sales/fr")).register(ws, "fr")
    v2 = Dataset.File.from_files((store, "sales/**/*.csv")).register(ws, "fr", create_new_version=True)
    assert (v1.version, v2.version) == (1, 2)
    v1.unregister_all_versions()
    assert "fr" not in Dataset.get_all(ws)
    assert [d.is_archived for d in (Dataset.get_by_name(ws, "fr", 1), Dataset.get_by_name(ws, "fr", 2))] == [True,
                                                                                                          True]
    with pytest.raises(ValueError, match="not registered"):
        Dataset.File.from_files((store, "sales/fr")).unregister_all_versions()


def test_data_reference_datapath_and_binding_convert(workspace, tmp_path):
    from ferry.data.data_reference import DataReference
    from ferry.data.datapath import DataPath, DataPathComputeBinding
    from ferry.data.output_dataset_config import MOUNT_MODE, UPLOAD_MODE

    ws, store = _upload(workspace, tmp_path)
    path = DataPath(store, "sales/fr")
    binding = DataPathComputeBinding(mode="download", path_on_compute="/tmp/fr", overwrite=True)
    ref = DataReference.create("fr_sales", path, binding)
    assert (ref.datastore.name, ref.path_on_datastore, ref.data_reference_name) == (store.name, "sales/fr", "fr_sales")
    assert (ref.mode, ref.path_on_compute, ref.overwrite) == ("download", "/tmp/fr", True)
    same = binding.create_data_reference("fr_sales", path)
    assert (same.path_on_datastore, same.mode) == (ref.path_on_datastore, ref.mode)

    back = DataPath.create_from_data_reference(ref)
    assert (back.datastore_name, back.path_on_datastore) == (store.name, "sales/fr")
    b = DataPathComputeBinding.create_from_data_reference(ref)
    assert (b.mode, b.path_on_compute, b.overwrite) == ("download", "/tmp/fr", True)
    # The reference reads the files as a run's input would.
    assert sorted(ref._consumption().dataset.to_path()) == ["/2024-01-05/a.csv", "/2024-02-01/a.csv"]

    with pytest.raises(ValueError, match="needs datapath=DataPath"):
        DataReference.create("x", path, None)
    with pytest.raises(ValueError, match="expected a DataReference"):
        DataPath.create_from_data_reference(path)
    with pytest.raises(ValueError, match="datapath=DataPath"):
        binding.create_data_reference("x", ref)
    assert (MOUNT_MODE, UPLOAD_MODE) == ("mount", "upload")


def test_update_add_tags_and_remove_tags_change_a_version_in_place(workspace, tmp_path):
    from ferry.exceptions import UserErrorException

    ws, store = _upload(workspace, tmp_path)
    ds = Dataset.File.from_files((store, "sales/**/*.csv")).register(ws, "sales", description="v1",
                                                                      tags={"team": "fr"})
    same = ds.add_tags({"stage": "raw", "team": "fr"})  # the same value again is fine
    assert same is ds and ds.tags == {"team": "fr", "stage": "raw"}
    with pytest.raises(UserErrorException, match=r"already has other values for the tags \['team'\]"):
        ds.add_tags({"team": "de"})
    ds.remove_tags(["stage", "never-there"])
    assert Dataset.get_by_name(ws, "sales").tags == {"team": "fr"}
    ds.update(description="cleaned", tags={"owner": "ana"})  # tags replace, description too
    got = Dataset.get_by_name(ws, "sales", version=1)
    assert (got.description, got.tags, got.id) == ("cleaned", {"owner": "ana"}, ds.id)  # the files stay
    ds.update(description="")
    assert Dataset.get_by_name(ws, "sales").description == "" and Dataset.get_by_name(ws, "sales").tags == {
        "owner": "ana"}
    # The REST API refuses what it cannot apply, naming the field and the version.
    status, body, _ = workspace.api("PATCH", "/datasets/sales/1", {"remove_tags": "owner"})
    assert status == 400 and "field 'remove_tags' must be an array" in body["error"]["message"], body
    status, body, _ = workspace.api("PATCH", "/datasets/sales/9", {"description": "x"})
    assert status == 404 and "version 9" in body["error"]["message"], body
    # Readers cannot change datasets.
    status, reader, _ = workspace.api("POST", "/users", {"name": "rita", "role": "reader"})
    assert status == 201, reader
    status, body, _ = workspace.api("PATCH", "/datasets/sales/1", {"description": "mine"},
                                    headers={"Authorization": "Bearer " + reader["token"]}, auth=False)
    assert status == 403, body
