"""Registered models with Azure ML SDK v1's names (docs/models.md)::

    model = Model.register(ws, model_path="outputs/model.pkl", model_name="clf",
                           tags={"area": "vision"}, properties={"accuracy": "0.93"})
    Model(ws, "clf")                    # the latest version
    Model(ws, "clf", version=1)
    Model.list(ws, name="clf", latest=True)
    model.download(target_dir="here")
    Model.get_model_path("clf")         # inside a run: the files, cached per user

The versions are the ones MLflow's client sees (registered models and model versions).
"""
import json
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union
from urllib.parse import quote

from .exceptions import NotFoundError

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = ["Model"]


def _path(name: str, version: "Union[int, str, None]" = None) -> str:
    p = f"/models/{quote(name, safe='')}"
    return p if version is None else f"{p}/{quote(str(version), safe='')}"


def _cache_root() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ferry", "models")


def _fetch(client: Any, name: str, version: int, target: str, exist_ok: bool) -> "List[str]":
    """The version's files under target (each written to a temporary name first)."""
    files = client.call("GET", _path(name, version) + "/files")["files"]
    out = []
    for f in files:
        rel = f["path"]
        if rel.startswith("/") or ".." in rel.split("/"):
            raise ValueError(f"ferry: refusing model file path {rel!r}")
        dest = os.path.join(target, *rel.split("/"))
        if os.path.exists(dest) and not exist_ok:
            raise FileExistsError(f"ferry: {dest} exists; pass exist_ok=True to overwrite it")
        os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
        # Streamed to disk, checked against the file's hash before it is renamed onto dest.
        client.download(_path(name, version) + "/content", dest, params={"path": rel},
                        sha256=f.get("hash") or None, size=f.get("size"))
        out.append(dest)
    return out


class Model:
    """A registered model version: ``Model(workspace, name, version=None)`` gets one (the
    latest when ``version`` is None; :class:`ferry.NotFoundError` names what is missing)."""

    def __init__(self, workspace: "Workspace", name: "Optional[str]" = None, id: "Optional[str]" = None,  # noqa: A002
                 version: "Optional[int]" = None, tags: "Optional[List[Any]]" = None,
                 _info: "Optional[Dict[str, Any]]" = None) -> None:
        self.workspace = workspace
        if _info is None:
            if id:
                name, _, v = id.rpartition(":")
                version = int(v) if v.isdigit() else version
            if not name:
                raise ValueError("ferry: Model(workspace, name=...) or Model(workspace, id='name:version')")
            if tags:
                found = Model.list(workspace, name=name, tags=tags, latest=version is None)
                if version is not None:
                    found = [m for m in found if m.version == int(version)]
                if not found:
                    raise NotFoundError(f"model '{name}' has no version with tags {tags!r}; see 'ferry model list'",
                                        404, "NotFound")
                _info = found[-1]._info
            else:
                _info = workspace._client.call("GET", _path(name, "latest" if version is None else version))
        self._info: "Dict[str, Any]" = dict(_info)

    name = property(lambda self: self._info["name"])
    version = property(lambda self: self._info["version"])
    id = property(lambda self: self._info["id"])
    description = property(lambda self: self._info.get("description", ""))
    tags = property(lambda self: dict(self._info.get("tags") or {}))
    properties = property(lambda self: dict(self._info.get("properties") or {}))
    run_id = property(lambda self: self._info.get("run_id") or None)
    created_time = property(lambda self: self._info.get("created_at"))
    stage = property(lambda self: self._info.get("stage"))

    def __repr__(self) -> str:
        return f"<ferry.Model {self.id}>"

    # ------------------------------------------------------------------ register, list
    @staticmethod
    def register(workspace: "Workspace", model_path: str, model_name: str, tags: "Optional[Dict[str, str]]" = None,
                 properties: "Optional[Dict[str, str]]" = None, description: "Optional[str]" = None) -> "Model":
        """Uploads ``model_path`` (a file or a directory) and registers it as the next version of
        ``model_name``."""
        from . import _snapshot

        if not os.path.exists(model_path):
            raise FileNotFoundError(f"ferry: model_path {model_path!r} does not exist")
        scratch = None
        folder = model_path
        if not os.path.isdir(model_path):  # one file: registered under its own name
            scratch = tempfile.mkdtemp(prefix="ferry-model-")
            shutil.copy2(model_path, os.path.join(scratch, os.path.basename(model_path)))
            folder = scratch
        try:
            snap = _snapshot.build(folder, use_ignore_files=False)
            if not snap.files:
                raise ValueError(f"ferry: {model_path!r} holds no files; a model needs at least one")
            snapshot = _snapshot.upload(workspace._client, snap)
        finally:
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)
        j = workspace._client.call("POST", "/models", {
            "name": model_name, "snapshot": snapshot, "description": description or "",
            "tags": dict(tags or {}), "properties": dict(properties or {})})
        return Model(workspace, _info=j)

    @staticmethod
    def list(workspace: "Workspace", name: "Optional[str]" = None, tags: "Optional[List[Any]]" = None,
             properties: "Optional[List[Any]]" = None, latest: bool = False) -> "List[Model]":
        """Versions (of ``name``, or of every model), filtered by tags and properties: each a key
        (present) or ``[key, value]``; ``latest`` keeps the newest version of each model."""
        def cond(items: "Optional[List[Any]]") -> "Optional[str]":
            if not items:
                return None
            out = []
            for it in items:
                if isinstance(it, (list, tuple)):
                    out.append(f"{it[0]}={it[1]}")
                else:
                    out.append(str(it))
            return ",".join(out)

        params = {"name": name, "tag": cond(tags), "property": cond(properties),
                  "latest": "true" if latest else None}
        j = workspace._client.call("GET", "/models", params={k: v for k, v in params.items() if v})
        return [Model(workspace, _info=m) for m in j["models"]]

    # ------------------------------------------------------------------ files
    def download(self, target_dir: str = ".", exist_ok: bool = False) -> str:
        """Writes the version's files under ``target_dir``; returns the path of the one file,
        or ``target_dir`` when there are several."""
        files = _fetch(self.workspace._client, self.name, self.version, target_dir, exist_ok)
        return files[0] if len(files) == 1 else target_dir

    @staticmethod
    def get_model_path(model_name: str, version: "Optional[int]" = None, _workspace: "Optional[Workspace]" = None) -> str:
        """The local path of a version's files (the latest when ``version`` is None): the one file,
        or the directory holding several. Downloaded once into ``~/.cache/ferry/models/<name>/
        <version>/`` (moved there whole, so a half-written copy is never used). Inside a Ferry run
        the run's own MLflow token reads them; elsewhere pass ``_workspace``."""
        given = json.loads(os.environ.get("FERRY_MODELS") or "{}").get(model_name, {})
        if given and (version is None or str(version) in given):
            # The run was given this model (Model.as_named_input): the node's copy, no download.
            final = given[str(version)] if version is not None else given[max(given, key=int)]
            entries = os.listdir(final)
            if len(entries) == 1 and os.path.isfile(os.path.join(final, entries[0])):
                return os.path.join(final, entries[0])
            return final
        client = _workspace._client if _workspace is not None else _run_client()
        info = client.call("GET", _path(model_name, "latest" if version is None else version))
        v = info["version"]
        final = os.path.join(_cache_root(), model_name, str(v))
        if not os.path.isdir(final):
            os.makedirs(os.path.dirname(final), exist_ok=True)
            tmp = tempfile.mkdtemp(prefix=f".{v}-", dir=os.path.dirname(final))
            try:
                _fetch(client, model_name, v, tmp, exist_ok=True)
                try:
                    os.rename(tmp, final)
                except OSError:  # another process got there first: theirs is whole too
                    if not os.path.isdir(final):
                        raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        entries = [e for e in os.listdir(final)]
        if len(entries) == 1 and os.path.isfile(os.path.join(final, entries[0])):
            return os.path.join(final, entries[0])
        return final

    def as_named_input(self, name: "Optional[str]" = None, mode: str = "mount") -> "ModelConsumptionConfig":
        """This version's files as an input of a run (``ScriptRunConfig(arguments=[...])``): in the
        arguments the local path of the files, and ``Model.get_model_path(name, version)`` in the
        script finds them there without downloading (mode ``mount`` or ``download``)."""
        return ModelConsumptionConfig(name or self.name.replace("-", "_").replace(".", "_"), self, mode)

    # ------------------------------------------------------------------ changes
    def _update(self, body: "Dict[str, Any]") -> None:
        self._info = self.workspace._client.call("PATCH", _path(self.name, self.version), body)

    def add_tags(self, tags: "Dict[str, str]") -> None:
        """Adds or changes tags."""
        self._update({"add_tags": dict(tags)})

    def remove_tags(self, tags: "List[str]") -> None:
        """Removes tags by key."""
        self._update({"remove_tags": list(tags)})

    def add_properties(self, properties: "Dict[str, str]") -> None:
        """Adds properties; a property that is set never changes (ConflictError)."""
        self._update({"add_properties": dict(properties)})

    def update_tags_properties(self, add_tags: "Optional[Dict[str, str]]" = None,
                               remove_tags: "Union[None, str, List[str]]" = None,
                               add_properties: "Optional[Dict[str, str]]" = None) -> None:
        """Adds or changes tags, removes tags by key (one key or a list) and adds properties, in
        one change on the server (a property that is set never changes: ConflictError, and
        nothing is changed)."""
        body: "Dict[str, Any]" = {}
        if add_tags:
            body["add_tags"] = dict(add_tags)
        if remove_tags:
            body["remove_tags"] = [remove_tags] if isinstance(remove_tags, str) else list(remove_tags)
        if add_properties:
            body["add_properties"] = dict(add_properties)
        if body:
            self._update(body)

    # ------------------------------------------------------------------ (de)serialize
    def serialize(self) -> "Dict[str, Any]":
        """The version as a JSON-ready dict with Azure's keys where Ferry has the value
        (``id``, ``name``, ``version``, ``description``, ``tags``, ``properties``, ``runId``,
        ``createdTime`` in ISO 8601 UTC, ``createdBy``, ``url``), plus ``ferry``: the server's
        record, so that :meth:`deserialize` gives the same version back without asking."""
        from datetime import datetime, timezone

        created = self._info.get("created_at")
        return {
            "createdTime": datetime.fromtimestamp(float(created), timezone.utc).isoformat() if created else None,
            "createdBy": self._info.get("created_by") or None,
            "description": self.description,
            "id": self.id,
            "name": self.name,
            "tags": self.tags,
            "properties": self.properties,
            "url": self._info.get("download_uri") or None,
            "version": self.version,
            "runId": self.run_id,
            "ferry": dict(self._info),
        }

    @staticmethod
    def deserialize(workspace: "Workspace", model_payload: "Dict[str, Any]") -> "Model":
        """A Model of ``workspace`` from :meth:`serialize`'s dict (or one with Azure's keys:
        ``name`` and ``version`` at least); the server is not asked."""
        if not isinstance(model_payload, dict):
            raise TypeError(f"ferry: Model.deserialize takes a dict from Model.serialize(), "
                            f"got {type(model_payload).__name__}")
        if isinstance(model_payload.get("ferry"), dict):
            return Model(workspace, _info=model_payload["ferry"])
        name, version = model_payload.get("name"), model_payload.get("version")
        if not isinstance(name, str) or not name or not str(version).isdigit():
            raise ValueError(f"ferry: Model.deserialize needs 'name' and a numeric 'version', got "
                             f"name={name!r}, version={version!r}")
        info: "Dict[str, Any]" = {"name": name, "version": int(version), "id": f"{name}:{int(version)}",
                                  "description": model_payload.get("description") or "",
                                  "tags": dict(model_payload.get("tags") or {}),
                                  "properties": dict(model_payload.get("properties") or {}),
                                  "run_id": model_payload.get("runId") or ""}
        created = model_payload.get("createdTime")
        if isinstance(created, str) and created:
            from datetime import datetime

            info["created_at"] = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
        return Model(workspace, _info=info)

    def update(self, description: "Optional[str]" = None) -> None:
        """Changes the description."""
        if description is not None:
            self._update({"description": description})

    def delete(self) -> None:
        """Deletes this version (its number is not reused)."""
        self.workspace._client.call("DELETE", _path(self.name, self.version))


def _run_client() -> Any:
    """The server as this run's script reaches it: MLflow's URI and the run's MLflow token,
    its run named in X-Ferry-Run."""
    url = os.environ.get("MLFLOW_TRACKING_URI")
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    run_id = os.environ.get("FERRY_RUN_ID") or os.environ.get("MLFLOW_RUN_ID")
    if not (url and token and run_id):
        raise RuntimeError("ferry: Model.get_model_path outside a Ferry run needs _workspace=Workspace(...)")
    from ._client import Client

    c = Client(url, token)
    c.extra_headers["X-Ferry-Run"] = run_id
    return c


class ModelConsumptionConfig:
    """A model version as a run input (Model.as_named_input)."""

    def __init__(self, name: str, model: "Model", mode: str = "mount") -> None:
        from .datastore import _check_input_name

        _check_input_name(name)
        if mode not in ("mount", "download"):
            raise ValueError(f"ferry: a model input's mode is mount or download, got {mode!r}")
        self.name, self.model, self.mode = name, model, mode

    def _spec(self) -> "Dict[str, Any]":
        return {"name": self.name, "mode": self.mode, "model": {"name": self.model.name, "version": self.model.version}}

    def __str__(self) -> str:
        return f"ModelConsumptionConfig:{self.name}"
