"""``OutputFileDatasetConfig``: files a run writes that become a dataset (Azure's
``azureml.data.OutputFileDatasetConfig``). In a run's arguments it is an empty directory the
script writes into; when the run completes, the files go to ``destination`` and, with
``register_on_complete``, become the next version of a dataset."""
from typing import Any, Dict, Optional, Tuple

__all__ = ["OutputFileDatasetConfig", "OutputDatasetConfig", "DIRECT_MODE", "MOUNT_MODE", "UPLOAD_MODE"]

# Azure's names of the output modes (azureml.data.output_dataset_config). A Ferry output is a
# directory the script writes into, stored when the run completes: as_mount and as_upload both
# give that.
DIRECT_MODE = "direct"
MOUNT_MODE = "mount"
UPLOAD_MODE = "upload"


class OutputFileDatasetConfig:
    def __init__(self, name: "Optional[str]" = None, destination: "Optional[Tuple[Any, str]]" = None,
                 source: "Optional[str]" = None, partition_format: "Optional[str]" = None) -> None:
        from ..datastore import _check_input_name

        self.name = name or "output"
        _check_input_name(self.name)
        if source is not None:
            raise ValueError("ferry: source= is not supported: write the files to the directory the run is given")
        if destination is not None and not (isinstance(destination, tuple) and len(destination) == 2):
            raise TypeError("ferry: destination must be (datastore, 'path'); the path may hold {run-id} and {output-name}")
        self.destination = destination
        self.partition_format = partition_format
        self._register: "Optional[Dict[str, Any]]" = None

    def register_on_complete(self, name: str, description: "Optional[str]" = None,
                             tags: "Optional[Dict[str, str]]" = None) -> "OutputFileDatasetConfig":
        """When the run completes, its files become the next version of dataset ``name``."""
        out = OutputFileDatasetConfig(self.name, self.destination, None, self.partition_format)
        out._register = {"name": name, "description": description or ""}
        return out

    def as_mount(self) -> "OutputFileDatasetConfig":
        return self

    def as_upload(self, overwrite: bool = False, source_globs: "Any" = None) -> "OutputFileDatasetConfig":
        return self

    def _spec(self) -> "Dict[str, Any]":
        spec: "Dict[str, Any]" = {"name": self.name}
        if self.destination is not None:
            spec["datastore"] = self.destination[0].name
            spec["path"] = self.destination[1]
        if self._register:
            spec["register_on_complete"] = self._register
        return spec

    def __str__(self) -> str:
        return f"OutputFileDatasetConfig:{self.name}"


OutputDatasetConfig = OutputFileDatasetConfig
