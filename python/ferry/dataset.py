"""Datasets: immutable, content-addressed versions of files (docs/data.md).

With Azure ML SDK v1's names::

    ds = ws.get_default_datastore()
    ds.upload("data/", target_path="iris")
    files = Dataset.File.from_files(path=(ds, "iris/**/*.csv"))
    table = Dataset.Tabular.from_delimited_files(path=(ds, "iris/*.csv"))
    iris = table.register(ws, "iris", description="measurements", tags={"split": "train"})
    Dataset.get_by_name(ws, "iris")               # the latest version
    Dataset.get_by_name(ws, "iris", version=1)
    Dataset.get_by_id(ws, iris.id)

The same definition over the same files registered again under a name is the same version;
anything else needs ``create_new_version=True``.
"""
from typing import TYPE_CHECKING, List, Union
from urllib.parse import quote

from .data._dataset import AbstractDataset, FileDataset, TabularDataset
from .data.dataset_factory import FileDatasetFactory, TabularDatasetFactory

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = ["Dataset", "FileDataset", "TabularDataset"]


class Dataset:
    """Registered datasets of a workspace, and the factories ``Dataset.File`` and
    ``Dataset.Tabular``."""

    File = FileDatasetFactory
    Tabular = TabularDatasetFactory

    @staticmethod
    def get_by_name(workspace: "Workspace", name: str, version: "Union[int, str]" = "latest") -> AbstractDataset:
        """A version of a registered dataset (``"latest"`` by default); NotFoundError names it."""
        j = workspace._client.call("GET", f"/datasets/{quote(name, safe='')}/{quote(str(version), safe='')}")
        return AbstractDataset._from_json(workspace, j)

    @staticmethod
    def get_by_id(workspace: "Workspace", id: str) -> AbstractDataset:  # noqa: A002 (Azure's name)
        """The version with this content id."""
        return AbstractDataset._from_json(workspace, workspace._client.call("GET", f"/datasets/by-id/{quote(id, safe='')}"))

    @staticmethod
    def list(workspace: "Workspace") -> "List[AbstractDataset]":
        """The latest version of every dataset that is not archived."""
        return [AbstractDataset._from_json(workspace, j) for j in workspace._client.call("GET", "/datasets")["datasets"]]
