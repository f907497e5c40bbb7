"""``OutputFileDatasetConfig``: files a run writes that become a dataset (Azure's
``azureml.data.OutputFileDatasetConfig``). In a run's arguments it is an empty directory the
script writes into; when the run completes, the files go to ``destination`` and, with
``register_on_complete``, become the next version of a dataset."""
from typing import Any, Dict, Optional, Tuple

__all__ = ["OutputFileDatasetConfig", "OutputTabularDatasetConfig", "OutputDatasetConfig", "DIRECT_MODE", "MOUNT_MODE", "UPLOAD_MODE"]

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
        self._mode = MOUNT_MODE
        # The output this one is a view of: copies (register_on_complete, as_mount, as_upload,
        # read_delimited_files...) share it, so a pipeline sees them as one output.
        self._origin: "OutputFileDatasetConfig" = self

    def _copy(self, cls: "Any" = None) -> "Any":
        out = (cls or type(self))(self.name, self.destination, None, self.partition_format)
        out._register, out._mode, out._origin = self._register, self._mode, self._origin
        return out

    def register_on_complete(self, name: str, description: "Optional[str]" = None,
                             tags: "Optional[Dict[str, str]]" = None) -> "OutputFileDatasetConfig":
        """When the run completes, its files become the next version of dataset ``name``."""
        out = self._copy()
        out._register = {"name": name, "description": description or ""}
        return out

    def as_mount(self) -> "OutputFileDatasetConfig":
        """The run writes into a directory (Ferry's only way; stored when the run completes)."""
        out = self._copy()
        out._mode = MOUNT_MODE
        return out

    def as_upload(self, overwrite: bool = False, source_globs: "Any" = None) -> "OutputFileDatasetConfig":
        """As :meth:`as_mount`: the directory's files are stored when the run completes."""
        out = self._copy()
        out._mode = UPLOAD_MODE
        return out

    # A later pipeline step reads the output with these (ferry.pipeline.steps).
    def as_input(self, name: "Optional[str]" = None) -> "Any":
        """This output as an input of a later pipeline step, named ``name`` (default: the
        output's name); ``.as_mount()`` (the default) or ``.as_download()`` on the result."""
        from ..pipelines import _DataInput

        return _DataInput(self, name or self.name, MOUNT_MODE)

    def read_delimited_files(self, include_path: bool = False, separator: str = ",", header: "Any" = True,
                             partition_format: "Optional[str]" = None, path_glob: "Optional[str]" = None,
                             set_column_types: "Any" = None) -> "OutputTabularDatasetConfig":
        """This output read as a tabular dataset by later steps. For now a pipeline step gets the
        output's files (a directory), as for a file output: the parsing options are kept and not
        applied. In the producer's arguments or ``outputs=`` it is still the output."""
        return self._tabular("delimited")

    def read_parquet_files(self, include_path: bool = False, partition_format: "Optional[str]" = None,
                           path_glob: "Optional[str]" = None, set_column_types: "Any" = None) -> "OutputTabularDatasetConfig":
        """As :meth:`read_delimited_files`, for Parquet files (the step gets the files)."""
        return self._tabular("parquet")

    def parse_delimited_files(self, *args: "Any", **kwargs: "Any") -> "OutputTabularDatasetConfig":
        """Azure's older name of :meth:`read_delimited_files`."""
        return self._tabular("delimited")

    def parse_parquet_files(self, *args: "Any", **kwargs: "Any") -> "OutputTabularDatasetConfig":
        """Azure's older name of :meth:`read_parquet_files`."""
        return self._tabular("parquet")

    def _tabular(self, fmt: str) -> "OutputTabularDatasetConfig":
        out = self._copy(OutputTabularDatasetConfig)
        out.format = fmt
        return out

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


class OutputTabularDatasetConfig(OutputFileDatasetConfig):
    """An output read as a tabular dataset (``read_delimited_files``, ``read_parquet_files``): the
    same output as the OutputFileDatasetConfig it came from. As an input of a pipeline step (in
    ``inputs=`` or via :meth:`as_input`) it is, for now, passed as a file input: the step gets
    the directory of files and parses them itself."""

    format = "delimited"

    def as_input(self, name: "Optional[str]" = None) -> "Any":
        from ..pipelines import _DataInput

        return _DataInput(self, name or self.name, MOUNT_MODE, kind="tabular")


OutputDatasetConfig = OutputFileDatasetConfig
