"""``Dataset.File`` and ``Dataset.Tabular``: the ways to make a dataset, and ``DataType`` for
tabular columns (Azure ML SDK v1's ``azureml.data.dataset_factory``)."""
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union

from ._dataset import FileDataset, TabularDataset, paths_of

if TYPE_CHECKING:
    from ..datastore import Datastore

__all__ = ["DataType", "FileDatasetFactory", "TabularDatasetFactory"]


class DataType:
    """A tabular column's type, for ``set_column_types={'col': DataType.to_long()}``."""

    def __init__(self, spec: "Dict[str, Any]") -> None:
        self._spec = spec

    @staticmethod
    def to_string() -> "DataType":
        return DataType({"type": "string"})

    @staticmethod
    def to_long() -> "DataType":
        return DataType({"type": "long"})

    @staticmethod
    def to_float(decimal_mark: str = ".") -> "DataType":
        return DataType({"type": "float"})

    @staticmethod
    def to_bool() -> "DataType":
        return DataType({"type": "bool"})

    @staticmethod
    def to_datetime(formats: "Union[str, List[str], None]" = None) -> "DataType":
        fmts = [formats] if isinstance(formats, str) else list(formats or [])
        return DataType({"type": "datetime", "formats": fmts})

    def __repr__(self) -> str:
        return f"DataType({self._spec['type']})"


def _column_types(set_column_types: "Optional[Dict[str, Any]]") -> "Dict[str, Any]":
    out = {}
    for col, t in (set_column_types or {}).items():
        if not isinstance(t, DataType):
            raise TypeError(f"ferry: set_column_types['{col}'] must be a DataType (DataType.to_long() ...), got {t!r}")
        out[col] = t._spec
    return out


class FileDatasetFactory:
    """``Dataset.File``."""

    @staticmethod
    def from_files(path: "Any", validate: bool = True, partition_format: "Optional[str]" = None,
                   is_file: bool = False) -> FileDataset:
        """The files that ``path`` names: ``(datastore, 'dir/**/*.csv')``, a DataPath, or a list
        of them on one datastore. A pattern that matches nothing is an error naming it."""
        ws, paths = paths_of(path)
        definition: "Dict[str, Any]" = {}
        if partition_format:
            definition["partition_format"] = partition_format
        return FileDataset._resolve(ws, {"kind": "file", "paths": paths, "definition": definition})  # type: ignore[return-value]

    @staticmethod
    def upload_directory(src_dir: str, target: "Union[Tuple[Datastore, str], Any]", pattern: "Optional[str]" = None,
                         overwrite: bool = False, show_progress: bool = True) -> FileDataset:
        """Uploads the files under ``src_dir`` to ``target`` ((datastore, path) or a DataPath)
        and returns them as a dataset."""
        ws, paths = paths_of(target)
        store = ws.datastores[paths[0]["datastore"]]
        if pattern is not None:
            raise ValueError("ferry: pattern= is not supported: upload a directory that holds only the files")
        store.upload(src_dir, target_path=paths[0]["path"], overwrite=overwrite, show_progress=show_progress)
        return FileDatasetFactory.from_files((store, paths[0]["path"]))


class TabularDatasetFactory:
    """``Dataset.Tabular``."""

    @staticmethod
    def _make(path: "Any", definition: "Dict[str, Any]", validate: bool) -> TabularDataset:
        ws, paths = paths_of(path)
        ds = TabularDataset._resolve(ws, {"kind": "tabular", "paths": paths, "definition": definition})
        if validate:
            ds._check_readable()  # type: ignore[attr-defined]
        return ds  # type: ignore[return-value]

    @staticmethod
    def from_delimited_files(path: "Any", validate: bool = True, include_path: bool = False,
                             infer_column_types: bool = True, set_column_types: "Optional[Dict[str, Any]]" = None,
                             separator: str = ",", header: "Any" = True, partition_format: "Optional[str]" = None,
                             support_multi_line: bool = False, empty_as_string: bool = False,
                             encoding: str = "utf8") -> TabularDataset:
        """Records of CSV-like files (``validate`` reads the first one now)."""
        return TabularDatasetFactory._make(path, {
            "format": "delimited", "separator": separator, "header": bool(header), "encoding": encoding,
            "include_path": include_path, "empty_as_string": empty_as_string,
            "column_types": _column_types(set_column_types), "partition_format": partition_format}, validate)

    @staticmethod
    def from_parquet_files(path: "Any", validate: bool = True, include_path: bool = False,
                           set_column_types: "Optional[Dict[str, Any]]" = None,
                           partition_format: "Optional[str]" = None) -> TabularDataset:
        """Records of Parquet files."""
        return TabularDatasetFactory._make(path, {
            "format": "parquet", "include_path": include_path, "column_types": _column_types(set_column_types),
            "partition_format": partition_format}, validate)

    @staticmethod
    def from_json_lines_files(path: "Any", validate: bool = True, include_path: bool = False,
                              set_column_types: "Optional[Dict[str, Any]]" = None,
                              partition_format: "Optional[str]" = None, invalid_lines: str = "error",
                              encoding: str = "utf8") -> TabularDataset:
        """Records of JSON-lines files (one object per line)."""
        if invalid_lines not in ("error", "drop"):
            raise ValueError(f"ferry: invalid_lines must be 'error' or 'drop', got {invalid_lines!r}")
        return TabularDatasetFactory._make(path, {
            "format": "json_lines", "include_path": include_path, "encoding": encoding,
            "column_types": _column_types(set_column_types), "partition_format": partition_format}, validate)

    @staticmethod
    def register_pandas_dataframe(dataframe: "Any", target: "Any", name: str, description: "Optional[str]" = None,
                                  tags: "Optional[Dict[str, str]]" = None, show_progress: bool = True) -> TabularDataset:
        """Writes ``dataframe`` as a Parquet file under ``target`` and registers it as ``name``."""
        import os
        import tempfile

        ws, paths = paths_of(target)
        store = ws.datastores[paths[0]["datastore"]]
        with tempfile.TemporaryDirectory(prefix="ferry-frame-") as tmp:
            dataframe.to_parquet(os.path.join(tmp, "part-0.parquet"), index=False)
            store.upload(tmp, target_path=paths[0]["path"], overwrite=True, show_progress=show_progress)
        base = paths[0]["path"].strip("/")
        ds = TabularDatasetFactory.from_parquet_files((store, (base + "/" if base else "") + "part-0.parquet"))
        return ds.register(ws, name, description=description, tags=tags, create_new_version=True)  # type: ignore[return-value]
