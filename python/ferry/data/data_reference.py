"""``DataReference``: a datastore path as it reaches a run (Azure's
``azureml.data.data_reference``): ``ds.path('iris').as_mount()`` in a run's arguments is the
local path of the files under it."""
from typing import TYPE_CHECKING, Any, Dict, Optional

if TYPE_CHECKING:
    from ..datastore import Datastore

__all__ = ["DataReference"]


class DataReference:
    def __init__(self, datastore: "Datastore", data_reference_name: "Optional[str]" = None,
                 path_on_datastore: "Optional[str]" = None, mode: str = "mount",
                 path_on_compute: "Optional[str]" = None, overwrite: bool = False) -> None:
        from ..datastore import _check_input_name

        if mode not in ("mount", "download", "upload"):
            raise ValueError(f"ferry: DataReference mode must be mount, download or upload, got {mode!r}")
        self.datastore = datastore
        self.data_reference_name = data_reference_name or datastore.name
        _check_input_name(self.data_reference_name)
        self.path_on_datastore = (path_on_datastore or "").strip("/")
        self.mode = mode
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite

    @staticmethod
    def create(data_reference_name: "Optional[str]" = None, datapath: "Any" = None,
               datapath_compute_binding: "Any" = None) -> "DataReference":
        """The reference a :class:`~ferry.data.datapath.DataPath` and a
        :class:`~ferry.data.datapath.DataPathComputeBinding` (mode, path on compute) make."""
        from .datapath import DataPath, DataPathComputeBinding

        if not isinstance(datapath, DataPath) or not isinstance(datapath_compute_binding, DataPathComputeBinding):
            raise ValueError("ferry: DataReference.create needs datapath=DataPath(...) and "
                             "datapath_compute_binding=DataPathComputeBinding(...), got "
                             f"{type(datapath).__name__} and {type(datapath_compute_binding).__name__}")
        return datapath.create_data_reference(data_reference_name, datapath_compute_binding)

    def _with(self, **changes: "Any") -> "DataReference":
        args: "Dict[str, Any]" = dict(data_reference_name=self.data_reference_name, path_on_datastore=self.path_on_datastore,
                                      mode=self.mode, path_on_compute=self.path_on_compute, overwrite=self.overwrite)
        args.update(changes)
        return DataReference(self.datastore, **args)

    def path(self, path: "Optional[str]" = None, data_reference_name: "Optional[str]" = None) -> "DataReference":
        """The path under this one."""
        sub = "/".join(p for p in (self.path_on_datastore, (path or "").strip("/")) if p)
        return self._with(path_on_datastore=sub, data_reference_name=data_reference_name or self.data_reference_name)

    def as_mount(self) -> "DataReference":
        return self._with(mode="mount")

    def as_download(self, path_on_compute: "Optional[str]" = None, overwrite: bool = False) -> "DataReference":
        return self._with(mode="download", path_on_compute=path_on_compute, overwrite=overwrite)

    def as_upload(self, path_on_compute: "Optional[str]" = None, overwrite: bool = False) -> "DataReference":
        raise NotImplementedError("ferry: a DataReference cannot be a run's output; use "
                                  "OutputFileDatasetConfig(destination=(datastore, path))")

    def _consumption(self) -> "Any":
        """The files under this path as a dataset input of a run."""
        from .dataset_factory import FileDatasetFactory

        ds = FileDatasetFactory.from_files((self.datastore, self.path_on_datastore))
        from .dataset_consumption_config import DatasetConsumptionConfig

        return DatasetConsumptionConfig(self.data_reference_name, ds, self.mode, self.path_on_compute)

    def __str__(self) -> str:
        return f"DatasetConsumptionConfig:{self.data_reference_name}"

    def __repr__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self.data_reference_name}"
