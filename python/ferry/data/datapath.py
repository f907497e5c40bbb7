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

    @staticmethod
    def create_from_data_reference(data_reference: "DataReference") -> "DataPath":
        """The datastore path a :class:`~ferry.data.data_reference.DataReference` points at."""
        return DataPath(_reference(data_reference).datastore, data_reference.path_on_datastore)

    def __repr__(self) -> str:
        return f"DataPath({self.datastore.name}:/{self.path_on_datastore})"


def _reference(data_reference: "object") -> "DataReference":
    from .data_reference import DataReference

    if not isinstance(data_reference, DataReference):
        raise ValueError(f"ferry: expected a DataReference (datastore.path(...)), got {type(data_reference).__name__}")
    return data_reference


class DataPathComputeBinding:
    """How a DataPath reaches a run: ``mode`` 'mount' or 'download'."""

    def __init__(self, mode: str = "mount", path_on_compute: "Optional[str]" = None, overwrite: bool = False) -> None:
        self.mode, self.path_on_compute, self.overwrite = mode, path_on_compute, overwrite

    def create_data_reference(self, data_reference_name: "Optional[str]" = None,
                              datapath: "Optional[DataPath]" = None) -> "DataReference":
        """The reference ``datapath`` makes with this binding."""
        if not isinstance(datapath, DataPath):
            raise ValueError(f"ferry: create_data_reference needs datapath=DataPath(...), got {type(datapath).__name__}")
        return datapath.create_data_reference(data_reference_name, self)

    @staticmethod
    def create_from_data_reference(data_reference: "DataReference") -> "DataPathComputeBinding":
        """The binding (mode, path on compute, overwrite) of a DataReference."""
        r = _reference(data_reference)
        return DataPathComputeBinding(r.mode, r.path_on_compute, r.overwrite)
