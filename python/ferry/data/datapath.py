"""``DataPath``: a path on a datastore (Azure's ``azureml.data.datapath``)."""
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from ..datastore import Datastore
    from .data_reference import DataReference

__all__ = ["DataPath", "DataPathComputeBinding"]


class DataPath:
    def __init__(self, datastore: "Optional[Datastore]" = None, path_on_datastore: "Optional[str]" = None,
                 name: "Optional[str]" = None) -> None:
        if datastore is None:
            raise ValueError("ferry: a DataPath needs its datastore")
        self.datastore = datastore
        self.path_on_datastore = (path_on_datastore or "").lstrip("/")
        self.name = name or "datapath"

    @property
    def datastore_name(self) -> str:
        return self.datastore.name

    def create_data_reference(self, data_reference_name: "Optional[str]" = None,
                              datapath_compute_binding: "Optional[DataPathComputeBinding]" = None) -> "DataReference":
        from .data_reference import DataReference

        binding = datapath_compute_binding or DataPathComputeBinding()
        return DataReference(self.datastore, data_reference_name or self.name, self.path_on_datastore,
                             mode=binding.mode, path_on_compute=binding.path_on_compute, overwrite=binding.overwrite)

    def __repr__(self) -> str:
        return f"DataPath({self.datastore.name}:/{self.path_on_datastore})"


class DataPathComputeBinding:
    """How a DataPath reaches a run: ``mode`` 'mount' or 'download'."""

    def __init__(self, mode: str = "mount", path_on_compute: "Optional[str]" = None, overwrite: bool = False) -> None:
        self.mode, self.path_on_compute, self.overwrite = mode, path_on_compute, overwrite
