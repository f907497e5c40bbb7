"""File and tabular datasets (docs/data.md), with Azure ML SDK v1's names.

A dataset is a definition (path patterns over one datastore; for a tabular one its format and
options; transforms such as take/skip/keep_columns) resolved by the server into an immutable
manifest of files. ``register`` stores it as a version of a name; an unregistered dataset is
still a resolved set of files that runs can read.
"""
import copy
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union
from urllib.parse import quote

from . import _files

if TYPE_CHECKING:
    from ..workspace import Workspace
    from .dataset_consumption_config import DatasetConsumptionConfig

__all__ = ["AbstractDataset", "FileDataset", "TabularDataset", "paths_of"]


def _require(package: str, why: str) -> "Any":
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        raise ImportError(f"ferry: {why} needs the '{package}' package, which is not installed; "
                          f"pip install {package}") from None


def paths_of(path: "Any") -> "Tuple[Workspace, List[Dict[str, str]]]":
    """Azure's ways to name files: (datastore, 'pattern'), a DataPath, a DataReference, or a
    list of those (all on one datastore). Returns the workspace and the paths' JSON."""
    items = path if isinstance(path, list) else [path]
    if not items:
        raise ValueError("ferry: path= names no files; give (datastore, 'dir/**/*.csv')")
    ws = None
    out = []
    for item in items:
        if isinstance(item, tuple) and len(item) == 2:
            store, pattern = item
        elif hasattr(item, "datastore") and hasattr(item, "path_on_datastore"):  # DataPath, DataReference
            store, pattern = item.datastore, item.path_on_datastore
        elif isinstance(item, str):
            raise ValueError(f"ferry: path '{item}' is not on a datastore; give (datastore, '{item}') "
                             "(URLs and local paths are not read by Ferry's datasets)")
        else:
            raise TypeError(f"ferry: cannot read files from {item!r}; give (datastore, 'pattern') or a DataPath")
        if not hasattr(store, "workspace"):
            raise TypeError(f"ferry: {store!r} is not a Datastore")
        ws = store.workspace
        out.append({"datastore": store.name, "path": pattern or ""})
    return ws, out


class AbstractDataset:
    """What file and tabular datasets share: identity, registration, files, transforms."""

    _kind = "file"

    def __init__(self, workspace: "Workspace", info: "Dict[str, Any]") -> None:
        self.workspace = workspace
        self._info: "Dict[str, Any]" = dict(info)
        self._file_list: "Optional[List[_files.DataFile]]" = None

    @classmethod
    def _from_json(cls, workspace: "Workspace", j: "Dict[str, Any]") -> "AbstractDataset":
        kind = TabularDataset if j.get("kind") == "tabular" else FileDataset
        return kind(workspace, j)

    @classmethod
    def _resolve(cls, workspace: "Workspace", body: "Dict[str, Any]") -> "AbstractDataset":
        return cls._from_json(workspace, workspace._client.call("POST", "/datasets/resolve", body))

    name = property(lambda self: self._info.get("name") or None)
    version = property(lambda self: self._info.get("version"))
    id = property(lambda self: self._info.get("id"))
    description = property(lambda self: self._info.get("description", ""))
    tags = property(lambda self: dict(self._info.get("tags") or {}))
    is_archived = property(lambda self: bool(self._info.get("archived", False)))
    file_count = property(lambda self: self._info.get("file_count"))
    total_bytes = property(lambda self: self._info.get("total_bytes"))
    datastore_name = property(lambda self: self._info.get("datastore"))

    @property
    def _definition(self) -> "Dict[str, Any]":
        return copy.deepcopy(self._info.get("definition") or {})

    def _source_body(self) -> "Dict[str, Any]":
        """What to send to describe this dataset's files again: its path patterns, or the
        snapshot its files were uploaded as."""
        definition = self._definition
        paths = definition.pop("paths", None)
        body: "Dict[str, Any]" = {"kind": self._kind, "definition": definition}
        if paths:
            body["paths"] = paths
        else:
            body["snapshot"] = self._info["manifest"]
        return body

    @property
    def data_changed_time(self) -> "Optional[Any]":
        """When the version's files were fixed (its creation, UTC): a version never changes, so
        its data changed last then. ``None`` for a dataset the server has not stored."""
        import datetime

        created = self._info.get("created_at")
        return datetime.datetime.fromtimestamp(float(created), datetime.timezone.utc) if created else None

    # Registered versions by name and id (Azure's static methods, on every dataset class).
    @staticmethod
    def get_by_name(workspace: "Workspace", name: str, version: "Union[int, str]" = "latest") -> "AbstractDataset":
        """A version of a registered dataset (``"latest"`` by default); NotFoundError names it.
        Its class is the version's kind (FileDataset or TabularDataset), whichever class asks."""
        j = workspace._client.call("GET", f"/datasets/{quote(name, safe='')}/{quote(str(version), safe='')}")
        return AbstractDataset._from_json(workspace, j)

    @staticmethod
    def get_by_id(workspace: "Workspace", id: str) -> "AbstractDataset":  # noqa: A002 (Azure's name)
        """The version with this content id."""
        return AbstractDataset._from_json(workspace,
                                          workspace._client.call("GET", f"/datasets/by-id/{quote(id, safe='')}"))

    @staticmethod
    def get_all(workspace: "Workspace") -> "Dict[str, AbstractDataset]":
        """The latest version of every registered dataset that is not archived, by name."""
        return {j["name"]: AbstractDataset._from_json(workspace, j)
                for j in workspace._client.call("GET", "/datasets")["datasets"]}

    # Partitions (from_files / from_*_files with partition_format).
    @property
    def partition_keys(self) -> "List[str]":
        """The columns ``partition_format`` takes from the files' paths ([] without one)."""
        fmt = self._definition.get("partition_format")
        return [name for name, _ in _files._compile_partition_format(fmt)[1]] if fmt else []

    def get_partition_key_values(self, partition_keys: "Optional[Sequence[str]]" = None) -> "List[Dict[str, Any]]":
        """Every distinct combination of the partition columns' values (all of them, or those
        named) over the dataset's files, in file order: ``[{"country": "fr", "date":
        datetime(...)}, ...]``. A name that is not a partition key is an error naming the keys."""
        keys = list(self.partition_keys if partition_keys is None else
                    ([partition_keys] if isinstance(partition_keys, str) else partition_keys))
        unknown = [k for k in keys if k not in self.partition_keys]
        if unknown or not keys:
            raise ValueError(f"ferry: {unknown[0]!r} is not a partition key of this dataset; its keys are "
                             f"{self.partition_keys} (partition_format={self._definition.get('partition_format')!r})"
                             if unknown else "ferry: this dataset has no partition keys (no partition_format)")
        fmt = self._definition["partition_format"]
        files = self._files() if isinstance(self, FileDataset) else self._all_files()
        seen: "List[Dict[str, Any]]" = []
        for f in files:
            values = _files.partition_values(fmt, f.path)
            if values is None:
                continue
            combo = {k: values[k] for k in keys}
            if combo not in seen:
                seen.append(combo)
        return seen

    # Registration.
    def register(self, workspace: "Workspace", name: str, description: "Optional[str]" = None,
                 tags: "Optional[Dict[str, str]]" = None, create_new_version: bool = False) -> "AbstractDataset":
        """Registers this dataset as a version of ``name`` and returns it (the existing version
        when one has the same definition and files)."""
        body = self._source_body()
        body.update({"name": name, "description": description or "", "tags": dict(tags or {}),
                     "create_new_version": bool(create_new_version)})
        return self._from_json(workspace, workspace._client.call("POST", "/datasets", body))

    def _require_registered(self) -> str:
        if not self.name:
            raise ValueError("ferry: this dataset is not registered; call register(workspace, name) first")
        return quote(self.name, safe="")

    def archive(self) -> None:
        """Hides this version from listings (it stays readable by name, version and id)."""
        self.workspace._client.call("POST", f"/datasets/{self._require_registered()}/archive",
                                    params={"version": self.version})
        self._info["archived"] = True

    def unregister_all_versions(self) -> None:
        """Archives every version of this dataset's name (Ferry keeps versions: they stay
        readable by name, version and id, and ``Dataset.list`` no longer shows the name)."""
        self.workspace._client.call("POST", f"/datasets/{self._require_registered()}/archive")
        self._info["archived"] = True

    def _patch(self, body: "Dict[str, Any]") -> "AbstractDataset":
        j = self.workspace._client.call("PATCH", f"/datasets/{self._require_registered()}/{self.version}", body)
        self._info.update({"description": j.get("description", ""), "tags": j.get("tags", {})})
        return self

    def update(self, description: "Optional[str]" = None, tags: "Optional[Dict[str, str]]" = None) -> "AbstractDataset":
        """Replaces this registered version's description and/or tags (None: keep them; ``""`` /
        ``{}`` clears them) and returns it. Its files and definition never change."""
        body: "Dict[str, Any]" = {}
        if description is not None:
            body["description"] = str(description)
        if tags is not None:
            current = self.get_by_name(self.workspace, self.name, self.version).tags
            body["add_tags"] = {str(k): str(v) for k, v in tags.items()}
            body["remove_tags"] = [k for k in current if k not in tags]
        return self._patch(body)

    def add_tags(self, tags: "Optional[Dict[str, str]]" = None) -> "AbstractDataset":
        """Adds tags to this registered version; a key it has already with another value is
        refused, as Azure ML does (use :meth:`update` to replace)."""
        tags = {str(k): str(v) for k, v in (tags or {}).items()}
        current = self.get_by_name(self.workspace, self.name, self.version).tags
        clash = sorted(k for k in tags if k in current and current[k] != tags[k])
        if clash:
            from ..exceptions import UserErrorException

            raise UserErrorException(f"ferry: dataset '{self.name}' version {self.version} already has other values "
                                     f"for the tags {clash}; use update(tags=...) to replace them")
        return self._patch({"add_tags": tags})

    def remove_tags(self, tags: "Optional[Sequence[str]]" = None) -> "AbstractDataset":
        """Removes these tag keys from this registered version (keys it lacks are ignored)."""
        return self._patch({"remove_tags": [str(k) for k in (tags or [])]})

    def reactivate(self) -> None:
        """Shows an archived version in listings again."""
        self.workspace._client.call("POST", f"/datasets/{self._require_registered()}/reactivate",
                                    params={"version": self.version})
        self._info["archived"] = False

    # Transforms: each returns a new, unregistered dataset over the same files.
    def _transformed(self, op: "Dict[str, Any]") -> "AbstractDataset":
        body = self._source_body()
        body["definition"].setdefault("transforms", []).append(op)
        out = self._resolve(self.workspace, body)
        return out

    def take(self, count: int) -> "AbstractDataset":
        """The first ``count`` records (files of a file dataset, rows of a tabular one)."""
        return self._transformed({"op": "take", "count": int(count)})

    def skip(self, count: int) -> "AbstractDataset":
        """All but the first ``count`` records."""
        return self._transformed({"op": "skip", "count": int(count)})

    def take_sample(self, probability: float, seed: "Optional[int]" = None) -> "AbstractDataset":
        """Each record kept with ``probability`` (the same records for the same seed)."""
        if not 0 <= probability <= 1:
            raise ValueError(f"ferry: probability must be between 0 and 1, got {probability}")
        return self._transformed({"op": "sample", "probability": float(probability), "seed": int(seed or 0)})

    def random_split(self, percentage: float, seed: "Optional[int]" = None) -> "Tuple[AbstractDataset, AbstractDataset]":
        """Two datasets: about ``percentage`` of the records, and the rest (disjoint, the same
        split for the same seed)."""
        if not 0 < percentage < 1:
            raise ValueError(f"ferry: percentage must be between 0 and 1 (exclusive), got {percentage}")
        op = {"op": "random_split", "percentage": float(percentage), "seed": int(seed or 0)}
        return self._transformed({**op, "part": 0}), self._transformed({**op, "part": 1})

    # Files.
    def _local_root(self, files: "List[_files.DataFile]") -> str:
        """A local directory holding the files (the node's cache)."""
        return _files.cache_dir(self.workspace._client, self._info["manifest"], self.datastore_name, files)

    def _all_files(self) -> "List[_files.DataFile]":
        if self._file_list is None:
            self._file_list = _files.read_manifest(self.workspace._client, self._info["manifest"], self.datastore_name)
        return self._file_list

    def _record_mask(self, n: int) -> "List[bool]":
        """Which of n records the transforms keep (take/skip/sample/random_split), in order."""
        import random

        keep = [True] * n
        for op in self._definition.get("transforms", []):
            live = [i for i in range(n) if keep[i]]
            kind = op.get("op")
            if kind == "take":
                for i in live[op["count"]:]:
                    keep[i] = False
            elif kind == "skip":
                for i in live[:op["count"]]:
                    keep[i] = False
            elif kind in ("sample", "random_split"):
                rng = random.Random(op.get("seed", 0))
                draws = [rng.random() for _ in live]
                p = op["probability"] if kind == "sample" else op["percentage"]
                for i, d in zip(live, draws):
                    inside = d < p
                    if kind == "sample" and not inside:
                        keep[i] = False
                    if kind == "random_split" and inside != (op["part"] == 0):
                        keep[i] = False
        return keep

    def __repr__(self) -> str:
        what = type(self).__name__
        if self.name:
            return f"<ferry.{what} {self.name} version {self.version}>"
        return f"<ferry.{what} (not registered) {self.file_count} files>"

    # Use in runs.
    def as_named_input(self, name: str) -> "DatasetConsumptionConfig":
        """This dataset as an input of a run, named ``name`` (``run.input_datasets[name]``)."""
        from .dataset_consumption_config import DatasetConsumptionConfig

        return DatasetConsumptionConfig(name, self)

    def as_mount(self, path_on_compute: "Optional[str]" = None) -> "DatasetConsumptionConfig":
        return self.as_named_input(self.name or "input").as_mount(path_on_compute)

    def as_download(self, path_on_compute: "Optional[str]" = None) -> "DatasetConsumptionConfig":
        return self.as_named_input(self.name or "input").as_download(path_on_compute)


class FileDataset(AbstractDataset):
    """A set of files (``Dataset.File``)."""

    _kind = "file"

    def _files(self) -> "List[_files.DataFile]":
        files = self._all_files()
        mask = self._record_mask(len(files))
        return [f for f, k in zip(files, mask) if k]

    def to_path(self) -> "List[str]":
        """The files' paths in the dataset, each starting with '/'."""
        return ["/" + f.path for f in self._files()]

    def download(self, target_path: "Optional[str]" = None, overwrite: bool = False) -> "List[str]":
        """Writes the files under ``target_path`` (a new temporary directory when None) and
        returns their local paths."""
        import tempfile

        target = target_path or tempfile.mkdtemp(prefix="ferry-dataset-")
        return _files.fetch(self.workspace._client, self._files(), self.datastore_name, target, overwrite)

    def mount(self, mount_point: "Optional[str]" = None) -> "_MountContext":
        """A read-only local copy of the files (no FUSE): ``with ds.mount() as m: m.mount_point``."""
        return _MountContext(self, mount_point)


class _MountContext:
    def __init__(self, ds: FileDataset, mount_point: "Optional[str]") -> None:
        self._ds, self.mount_point = ds, mount_point

    def start(self) -> None:
        if self.mount_point is None:
            self.mount_point = self._ds._local_root(self._ds._all_files())
        else:
            self._ds.download(self.mount_point)

    def stop(self) -> None:
        pass

    def __enter__(self) -> "_MountContext":
        self.start()
        return self

    def __exit__(self, *exc: "Any") -> None:
        self.stop()


class TabularDataset(AbstractDataset):
    """Records read from delimited, Parquet or JSON-lines files (``Dataset.Tabular``)."""

    _kind = "tabular"

    def keep_columns(self, columns: "Union[str, Sequence[str]]", validate: bool = False) -> "TabularDataset":
        """Only these columns."""
        cols = [columns] if isinstance(columns, str) else list(columns)
        out = self._transformed({"op": "keep_columns", "columns": cols})
        if validate:
            out._check_readable()  # type: ignore[attr-defined]
        return out  # type: ignore[return-value]

    def _check_readable(self) -> None:
        """Reads the first file (only it is fetched) as the dataset would, so that a wrong
        format, separator or column name is an error now rather than in a run."""
        import tempfile

        pd = _require("pandas", "validate=True (reading the first file)")
        files = self._all_files()
        d = self._definition
        with tempfile.TemporaryDirectory(prefix="ferry-validate-") as tmp:
            local = _files.fetch(self.workspace._client, files[:1], self.datastore_name, tmp)[0]
            try:
                df = self._read_file(pd, local, d)
            except Exception as e:  # pandas' and pyarrow's parse errors have no common base
                raise ValueError(f"ferry: cannot read '{files[0].path}' as {d.get('format')}: {e}; "
                                 "check the format and its options, or pass validate=False") from None
        _require_columns(d.get("column_types") or {}, df.columns, "set_column_types")
        for op in d.get("transforms", []):
            if op.get("op") == "keep_columns":
                _require_columns(op["columns"], df.columns, "keep_columns")

    def drop_columns(self, columns: "Union[str, Sequence[str]]") -> "TabularDataset":
        """All columns but these."""
        cols = [columns] if isinstance(columns, str) else list(columns)
        return self._transformed({"op": "drop_columns", "columns": cols})  # type: ignore[return-value]

    def _read_file(self, pd: "Any", path: str, d: "Dict[str, Any]") -> "Any":
        fmt = d.get("format")
        if fmt == "delimited":
            header = d.get("header", True)
            return pd.read_csv(path, sep=d.get("separator", ","), header=0 if header else None,
                               encoding=d.get("encoding", "utf8"), keep_default_na=not d.get("empty_as_string", False))
        if fmt == "parquet":
            _require("pyarrow", "reading Parquet files")
            return pd.read_parquet(path)
        if fmt == "json_lines":
            return pd.read_json(path, lines=True, encoding=d.get("encoding", "utf8"))
        raise ValueError(f"ferry: unknown tabular format {fmt!r}")

    def to_pandas_dataframe(self, on_error: str = "null", out_of_range_datetime: str = "null") -> "Any":
        """The records as a pandas DataFrame (needs pandas; Parquet also pyarrow)."""
        pd = _require("pandas", "to_pandas_dataframe()")
        d = self._definition
        files = self._all_files()
        root = self._local_root(files)
        frames = []
        for f in files:
            df = self._read_file(pd, os.path.join(root, *f.path.split("/")), d)
            if d.get("partition_format"):
                values = _files.partition_values(d["partition_format"], f.path)
                if values is None:
                    raise ValueError(f"ferry: file '{f.path}' does not match partition_format "
                                     f"'{d['partition_format']}'")
                for k, v in values.items():
                    df[k] = v
            if d.get("include_path"):
                df.insert(0, "Path", "/" + f.path)
            frames.append(df)
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        _require_columns(d.get("column_types") or {}, df.columns, "set_column_types")
        for col, kind in (d.get("column_types") or {}).items():
            df[col] = _convert(pd, df[col], kind)
        for op in d.get("transforms", []):
            kind = op.get("op")
            if kind == "keep_columns":
                _require_columns(op["columns"], df.columns, "keep_columns")
                df = df[op["columns"]]
            elif kind == "drop_columns":
                df = df.drop(columns=[c for c in op["columns"] if c in df.columns])
        mask = self._record_mask(len(df))
        return df[mask].reset_index(drop=True)

    def partition_by(self, partition_keys: "Sequence[str]", target: "Any", name: "Optional[str]" = None,
                     show_progress: bool = True, partition_as_file_dataset: bool = False) -> "AbstractDataset":
        """Writes the records as Parquet files partitioned by ``partition_keys`` (one directory
        level per key) under ``target`` (a DataPath or (datastore, path)) and returns the
        dataset of them (registered as ``name`` when given)."""
        import tempfile

        _require("pyarrow", "partition_by()")
        keys = list(partition_keys)
        if not keys:
            raise ValueError("ferry: partition_by needs at least one partition key")
        df = self.to_pandas_dataframe()
        missing = [k for k in keys if k not in df.columns]
        if missing:
            raise ValueError(f"ferry: partition_by: no column {missing[0]!r}; the columns are {list(df.columns)}")
        ws, paths = paths_of(target)
        datastore = ws.datastores[paths[0]["datastore"]]
        base = paths[0]["path"].strip("/")
        with tempfile.TemporaryDirectory(prefix="ferry-partition-") as tmp:
            for values, part in df.groupby(keys, sort=True):
                values = values if isinstance(values, tuple) else (values,)
                sub = os.path.join(tmp, *[str(v) for v in values])
                os.makedirs(sub, exist_ok=True)
                part.drop(columns=keys).to_parquet(os.path.join(sub, "part-0.parquet"), index=False)
            datastore.upload(tmp, target_path=base, overwrite=True, show_progress=show_progress)
        fmt = "/".join("{" + k + "}" for k in keys) + "/*.parquet"
        pattern = (base + "/" if base else "") + "**/*.parquet"
        from .dataset_factory import FileDatasetFactory, TabularDatasetFactory

        if partition_as_file_dataset:
            out: "AbstractDataset" = FileDatasetFactory.from_files((datastore, pattern), partition_format=fmt)
        else:
            out = TabularDatasetFactory.from_parquet_files((datastore, pattern), partition_format=fmt)
        return out.register(ws, name) if name else out


def _require_columns(wanted: "Any", columns: "Any", what: str) -> None:
    """ValueError naming the first of `wanted` that the data does not have, and its columns."""
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise ValueError(f"ferry: {what}: no column {missing[0]!r}; the columns are {list(columns)}")


def _convert(pd: "Any", series: "Any", kind: "Dict[str, Any]") -> "Any":
    t = kind.get("type")
    if t == "string":
        return series.astype("string")
    if t == "long":
        return pd.to_numeric(series, errors="coerce").astype("Int64")
    if t == "float":
        return pd.to_numeric(series, errors="coerce").astype("float64")
    if t == "bool":
        return series.map(lambda v: str(v).strip().lower() in ("true", "1", "yes", "y", "t"))
    if t == "datetime":
        formats = kind.get("formats") or []
        if formats:
            import datetime

            fmts = [_to_strptime(f) for f in formats]

            def parse(v: "Any") -> "Any":
                for f in fmts:
                    try:
                        return datetime.datetime.strptime(str(v), f)
                    except ValueError:
                        continue
                return pd.NaT

            return series.map(parse)
        return pd.to_datetime(series, errors="coerce")
    raise ValueError(f"ferry: unknown column type {t!r}")


def _to_strptime(fmt: str) -> str:
    """Azure's date formats ('%Y-%m-%d' already, or 'yyyy-MM-dd') as strptime's."""
    import re

    if "%" in fmt:
        return fmt
    return re.sub("yyyy|MM|dd|HH|mm|ss", lambda m: _files._PY_DATE[m.group(0)], fmt)


def _walk(root: str) -> "List[_files.DataFile]":
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            out.append(_files.DataFile(rel, os.path.getsize(full), "", "", 0.0))
    return out


class _LocalMixin:
    """A run's input, read from where the agent put it (no server needed)."""

    def _init_local(self, path: str) -> None:
        self._path = path
        self._file_list = _walk(path)

    def _local_root(self, files: "List[_files.DataFile]") -> str:
        return self._path

    def _transformed(self, op: "Dict[str, Any]") -> "AbstractDataset":
        out = copy.copy(self)
        out._info = copy.deepcopy(self._info)  # type: ignore[attr-defined]
        out._info.setdefault("definition", {}).setdefault("transforms", []).append(op)  # type: ignore[attr-defined]
        return out  # type: ignore[return-value]

    def download(self, target_path: "Optional[str]" = None, overwrite: bool = False) -> "List[str]":
        import shutil
        import tempfile

        target = target_path or tempfile.mkdtemp(prefix="ferry-dataset-")
        out = []
        for f in self._files():  # type: ignore[attr-defined]
            dest = os.path.join(target, *f.path.split("/"))
            if os.path.exists(dest) and not overwrite:
                raise FileExistsError(f"ferry: {dest} exists; pass overwrite=True to replace it")
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copyfile(os.path.join(self._path, *f.path.split("/")), dest)
            out.append(dest)
        return out


class LocalFileDataset(_LocalMixin, FileDataset):
    pass


class LocalTabularDataset(_LocalMixin, TabularDataset):
    def _files(self) -> "List[_files.DataFile]":
        return self._all_files()


def local_input(spec: "Dict[str, Any]") -> "AbstractDataset":
    """The dataset object a script gets for a 'direct' input (FERRY_INPUTS)."""
    ds = spec.get("dataset") or {}
    info = {"name": ds.get("name") or None, "version": ds.get("version") or None, "id": ds.get("id"),
            "kind": spec.get("kind", "file"), "definition": spec.get("definition") or {}}
    cls = LocalTabularDataset if spec.get("kind") == "tabular" else LocalFileDataset
    out = cls(None, info)  # type: ignore[arg-type]
    out._init_local(spec["path"])
    return out
