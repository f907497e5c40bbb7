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
from typing import TYPE_CHECKING, List, Optional

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

    get_by_name = staticmethod(AbstractDataset.get_by_name)
    get_by_id = staticmethod(AbstractDataset.get_by_id)
    get_all = staticmethod(AbstractDataset.get_all)

    @staticmethod
    def get(workspace: "Workspace", name: "Optional[str]" = None, id: "Optional[str]" = None) -> AbstractDataset:  # noqa: A002
        """Azure's deprecated lookup: by ``name`` (the latest version) or by ``id``; both given
        must name the same version."""
        if not name and not id:
            raise ValueError("ferry: Dataset.get needs name= or id= (or use Dataset.get_by_name / get_by_id)")
        by_name = AbstractDataset.get_by_name(workspace, name) if name else None
        by_id = AbstractDataset.get_by_id(workspace, id) if id else None
        if by_name is not None and by_id is not None and by_name.id != by_id.id:
            raise ValueError(f"ferry: Dataset.get: dataset {name!r} (latest: id {by_name.id}) is not id {id!r}")
        return by_name or by_id  # type: ignore[return-value]

    @staticmethod
    def list(workspace: "Workspace") -> "List[AbstractDataset]":
        """The latest version of every dataset that is not archived."""
        return [AbstractDataset._from_json(workspace, j) for j in workspace._client.call("GET", "/datasets")["datasets"]]
