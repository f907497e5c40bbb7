"""``DatasetConsumptionConfig``: a dataset as a named input of a run (Azure's
``ds.as_named_input('train').as_mount()``). In a run's arguments it becomes the local path of
the files; inside the script ``Run.get_context().input_datasets['train']`` is that path too."""
from typing import TYPE_CHECKING, Any, Dict, Optional

if TYPE_CHECKING:
    from ._dataset import AbstractDataset

__all__ = ["DatasetConsumptionConfig"]

# Azure's names of the modes (azureml.data.dataset_consumption_config).
DIRECT_MODE = "direct"
MOUNT_MODE = "mount"
DOWNLOAD_MODE = "download"
_MODES = (DIRECT_MODE, MOUNT_MODE, DOWNLOAD_MODE)


class DatasetConsumptionConfig:
    def __init__(self, name: str, dataset: "AbstractDataset", mode: str = "direct",
                 path_on_compute: "Optional[str]" = None) -> None:
        from ..datastore import _check_input_name

        _check_input_name(name)
        if mode not in _MODES:
            raise ValueError(f"ferry: input mode must be one of {', '.join(_MODES)}, got {mode!r}")
        self.name = name
        self.dataset = dataset
        self.mode = mode
        self.path_on_compute = path_on_compute

    def as_mount(self, path_on_compute: "Optional[str]" = None) -> "DatasetConsumptionConfig":
        """The files, read-only, where the run is (no bytes move when the node has them)."""
        return DatasetConsumptionConfig(self.name, self.dataset, "mount", path_on_compute)

    def as_download(self, path_on_compute: "Optional[str]" = None) -> "DatasetConsumptionConfig":
        """A private, writable copy of the files in the run's directory."""
        return DatasetConsumptionConfig(self.name, self.dataset, "download", path_on_compute)

    def _spec(self) -> "Dict[str, Any]":
        ds = self.dataset
        spec: "Dict[str, Any]" = {"name": self.name, "mode": self.mode}
        if self.path_on_compute:
            spec["path_on_compute"] = self.path_on_compute
        if ds.name:
            spec["dataset"] = {"name": ds.name, "version": ds.version}
        else:
            spec["dataset"] = {"id": ds.id, "manifest": ds._info["manifest"], "datastore": ds.datastore_name,
                               "kind": ds._kind, "definition": ds._definition}
        return spec

    def _argument(self) -> str:
        return f"DatasetConsumptionConfig:{self.name}"

    def __str__(self) -> str:
        return self._argument()

    def __repr__(self) -> str:
        return f"<DatasetConsumptionConfig {self.name} ({self.mode}) of {self.dataset!r}>"
