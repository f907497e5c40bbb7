"""The :class:`Experiment`: a named group of runs in a workspace.

Its id, tags and archived state are the server's MLflow experiment record
(``/api/2.0/mlflow/experiments/*``): ``mlflow.get_experiment_by_name`` sees the same tags, and
archiving is MLflow's delete (restore reactivates)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime
    from typing import Any, Dict, Iterable, Iterator, List, Optional, Union

    from .run import Run
    from .workspace import Workspace


_MLFLOW = "/api/2.0/mlflow/experiments"


class ViewType:
    """Which experiments :meth:`Experiment.list` answers (Azure's ``ViewType``)."""

    ActiveOnly = "ActiveOnly"
    All = "All"
    ArchivedOnly = "ArchivedOnly"


_VIEW_TYPES = {"activeonly": "ACTIVE_ONLY", "all": "ALL", "archivedonly": "DELETED_ONLY"}


class Experiment:
    """``Experiment(workspace, name)``: the experiment of that name (created on first use)."""

    def __init__(self, workspace: "Workspace", name: str, **kwargs: "Any") -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("ferry: an experiment needs a non-empty name")
        unknown = set(kwargs) - {"_skip_name_validation", "_id", "_archived_time", "_create_in_cloud",
                                 "_experiment_dto"}  # Azure's internal keywords
        if unknown:
            raise TypeError(f"ferry: Experiment() got unknown arguments {sorted(unknown)}")
        self.workspace = workspace
        self.name = name
        # The server's record (MLflow's experiment JSON), read on first need; list() passes it.
        self._record: "Optional[Dict[str, Any]]" = kwargs.get("_experiment_dto")

    # ---- the server's record: id, tags, archived state ---------------------------------------

    def _get_record(self) -> "Dict[str, Any]":
        """The experiment's record, created when the server has none (Azure creates the
        experiment when the object is made; Ferry on first need)."""
        if self._record is None:
            self.refresh()
        return self._record  # type: ignore[return-value]

    def refresh(self) -> None:
        """Re-read the experiment's id, tags and archived state from the server."""
        from .exceptions import NotFoundError

        c = self.workspace._client
        try:
            self._record = c.call("GET", f"{_MLFLOW}/get-by-name", params={"experiment_name": self.name})["experiment"]
        except NotFoundError:
            eid = c.call("POST", f"{_MLFLOW}/create", {"name": self.name})["experiment_id"]
            self._record = c.call("GET", f"{_MLFLOW}/get", params={"experiment_id": eid})["experiment"]

    @property
    def id(self) -> str:
        """The experiment's id (MLflow's experiment id: ``mlflow.get_experiment(id)`` finds it)."""
        return str(self._get_record()["experiment_id"])

    @property
    def tags(self) -> "Dict[str, str]":
        """The experiment's tags (as last read or set; :meth:`refresh` re-reads them)."""
        return {t["key"]: t.get("value", "") for t in self._get_record().get("tags") or []}

    def tag(self, key: str, value: "Optional[str]" = None) -> None:
        """Set one tag; a tag without a value is stored with the value ``""``."""
        self.set_tags({key: value})

    def set_tags(self, tags: "Dict[str, Any]") -> None:
        """Add or replace tags: ``{name: value}`` (values are stored as text; None as ``""``)."""
        if not isinstance(tags, dict):
            raise TypeError(f"ferry: set_tags takes a dict of tag name -> value, got {type(tags).__name__}")
        eid = self.id
        for key, value in tags.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"ferry: a tag name must be a non-empty string, got {key!r}")
            text = "" if value is None else str(value)
            self.workspace._client.call("POST", f"{_MLFLOW}/set-experiment-tag",
                                        {"experiment_id": eid, "key": key, "value": text})
            self._set_cached_tag(key, text)

    def remove_tags(self, tags: "Iterable[str]") -> None:
        """Remove the named tags (a list of names; a name the experiment lacks is skipped)."""
        from .exceptions import NotFoundError

        if isinstance(tags, str):
            tags = [tags]
        eid = self.id
        for key in tags:
            try:
                self.workspace._client.call("POST", f"{_MLFLOW}/delete-experiment-tag",
                                            {"experiment_id": eid, "key": key})
            except NotFoundError:
                pass
            self._set_cached_tag(key, None)

    def _set_cached_tag(self, key: str, value: "Optional[str]") -> None:
        record = self._get_record()
        kept = [t for t in record.get("tags") or [] if t.get("key") != key]
        if value is not None:
            kept.append({"key": key, "value": value})
        record["tags"] = kept

    @property
    def archived_time(self) -> "Optional[datetime]":
        """When the experiment was archived (UTC), or ``None`` while it is active. Ferry keeps
        the time of the record's last change, which for an archived experiment is its archiving
        unless its tags changed after."""
        from datetime import datetime, timezone

        record = self._get_record()
        if record.get("lifecycle_stage") != "deleted":
            return None
        return datetime.fromtimestamp(int(record.get("last_update_time", 0)) / 1000, timezone.utc)

    def archive(self) -> None:
        """Archive the experiment (MLflow's delete): :meth:`list` leaves it out by default; its
        runs are kept; :meth:`reactivate` brings it back."""
        self.workspace._client.call("POST", f"{_MLFLOW}/delete", {"experiment_id": self.id})
        self.refresh()

    def reactivate(self, new_name: "Optional[str]" = None) -> None:
        """Make an archived experiment active again (MLflow's restore). ``new_name`` is refused,
        as Azure refuses it: experiments cannot be renamed."""
        if new_name is not None:
            from .exceptions import UserErrorException

            raise UserErrorException(f"ferry: reactivate(new_name={new_name!r}): an experiment cannot be renamed; "
                                     "call reactivate() without new_name")
        self.workspace._client.call("POST", f"{_MLFLOW}/restore", {"experiment_id": self.id})
        self.refresh()

    @staticmethod
    def delete(workspace: "Workspace", experiment_id: str) -> None:
        """Archive the experiment with that id (Ferry does not erase experiments: its runs are
        kept, and ``reactivate()`` restores it)."""
        if not isinstance(experiment_id, str) or not experiment_id:
            raise ValueError(f"ferry: Experiment.delete needs an experiment id (Experiment(ws, name).id), "
                             f"got {experiment_id!r}")
        workspace._client.call("POST", f"{_MLFLOW}/delete", {"experiment_id": experiment_id})

    @staticmethod
    def list(workspace: "Workspace", experiment_name: "Optional[str]" = None,
             view_type: str = ViewType.ActiveOnly,
             tags: "Union[None, str, Dict[str, Any]]" = None) -> "List[Experiment]":
        """The workspace's experiments, by name: active ones by default (``view_type``:
        ``ViewType.ActiveOnly``, ``All`` or ``ArchivedOnly``); ``experiment_name`` keeps the one
        of that name; ``tags`` a tag name keeps those that have it, a dict those with every one
        of its values."""
        mode = _VIEW_TYPES.get(str(view_type).lower())
        if mode is None:
            raise ValueError(f"ferry: view_type must be ViewType.ActiveOnly, All or ArchivedOnly, got {view_type!r}")
        if tags is not None and not isinstance(tags, (str, dict)):
            raise TypeError(f"ferry: tags must be a tag name or a dict of name -> value, got {type(tags).__name__}")
        records: "List[Dict[str, Any]]" = []
        body: "Dict[str, Any]" = {"view_type": mode, "max_results": 1000}
        while True:
            page = workspace._client.call("POST", f"{_MLFLOW}/search", body)
            records.extend(page.get("experiments") or [])
            if not page.get("next_page_token"):
                break
            body = dict(body, page_token=page["next_page_token"])
        out = []
        for r in sorted(records, key=lambda r: r["name"]):
            have = {t["key"]: t.get("value", "") for t in r.get("tags") or []}
            if experiment_name is not None and r["name"] != experiment_name:
                continue
            if isinstance(tags, str) and tags not in have:
                continue
            if isinstance(tags, dict) and any(have.get(k) != ("" if v is None else str(v)) for k, v in tags.items()):
                continue
            out.append(Experiment(workspace, r["name"], _experiment_dto=r))
        return out

    @staticmethod
    def from_directory(path: str, auth: "Any" = None) -> "Experiment":
        """The experiment a project folder is attached to (``ferry folder attach -e NAME``, or
        Azure's ``az ml folder attach``): its workspace from the folder's config file and the
        experiment it names."""
        from .exceptions import UserErrorException
        from .workspace import Workspace

        ws = Workspace.from_config(path, auth=auth)
        if not ws.experiment_name:
            raise UserErrorException(f"ferry: the config file found from {path!r} names no experiment; attach the "
                                     "folder with 'ferry folder attach -e NAME' or use Experiment(ws, NAME)")
        return Experiment(ws, ws.experiment_name)

    @property
    def workspace_object(self) -> "Workspace":
        """Azure's deprecated name of :attr:`workspace`."""
        return self.workspace

    def get_portal_url(self) -> str:
        """The experiment's page in Ferry Studio."""
        import urllib.parse

        return f"{self.workspace.url}/#/experiments/{urllib.parse.quote(self.name, safe='')}"

    @property
    def portal_url(self) -> str:
        """The experiment's page in Ferry Studio (see :meth:`get_portal_url`)."""
        return self.get_portal_url()

    def submit(self, config: "Any", tags: "Optional[Dict[str, str]]" = None, **kwargs: "Any") -> "Run":
        """Submit a :class:`ferry.ScriptRunConfig` (or an estimator, which builds one): its source directory is snapshotted (the same
        ignore rules and content addressing as the CLI; only blobs the server lacks are sent)
        and the run is queued on its target. Returns the run, bound to the workspace.

        A ``HyperDriveConfig`` gives a ``HyperDriveRun``; a ``ferry.pipeline.core.Pipeline`` a
        ``PipelineRun``, with its keywords ``pipeline_parameters``, ``continue_on_step_failure``
        and ``regenerate_outputs`` (other configurations take no keywords).

        :raises ferry.FerryError: when the server refuses the run (the reason names the field).
        :raises ValueError: when the source directory cannot be snapshotted (the path is named).
        """
        own = getattr(config, "_submit", None)  # a config that submits itself (HyperDriveConfig: a HyperDriveRun)
        if callable(own):
            # Keywords only when given: a _submit(experiment, tags) without them keeps working.
            return own(self, tags, **kwargs) if kwargs else own(self, tags)
        if kwargs:
            raise TypeError(f"ferry: Experiment.submit got unknown arguments {sorted(kwargs)} for a "
                            f"{type(config).__name__} (only a Pipeline takes pipeline_parameters and the like)")
        from .run import Run
        from .script_run_config import ScriptRunConfig

        script_config = config
        if hasattr(config, "_script_run_config"):  # an estimator (ferry.train.estimator)
            script_config = config._script_run_config()
        if not isinstance(script_config, ScriptRunConfig):
            raise TypeError("ferry: Experiment.submit takes a ScriptRunConfig, an estimator or a HyperDriveConfig, "
                            f"got {type(config).__name__}")
        client = self.workspace._client
        body, snap = script_config._snapshot_and_body(client, self.name, tags)
        run = client.call("POST", "/runs", body)
        r = Run._bound(self.workspace, run["id"], run)
        r.snapshot_warnings = snap.warnings
        return r

    def start_logging(self, *args: "Any", outputs: "Optional[str]" = None, snapshot_directory: "Optional[str]" = None,
                      display_name: "Optional[str]" = None, name: "Optional[str]" = None, **kwargs: "Any") -> "Run":
        """Start a run logged from this process (a notebook): it is Running on the server at
        once, with no script and no target. What it logs (:meth:`ferry.Run.log` and the other
        loggers, tags, files) goes to the server in batches; :meth:`ferry.Run.complete`,
        :meth:`ferry.Run.fail` or :meth:`ferry.Run.cancel` end it (``with
        experiment.start_logging() as run:`` ends it Completed, or Failed on an exception).

        :param outputs: a folder uploaded as the run's ``outputs/`` when it completes.
        :param snapshot_directory: a folder to snapshot with the run (its id becomes the
            ``ContentSnapshotId`` property); ``None`` (the default) takes none.
        :param display_name: the run's display name (``name`` is Azure ML's older spelling).
        """
        from .run import Run

        if args:
            raise TypeError("ferry: start_logging takes keyword arguments only (outputs=, snapshot_directory=, "
                            "display_name=)")
        unknown = set(kwargs) - {"run_id"}
        if unknown:
            raise TypeError(f"ferry: start_logging got unknown arguments {sorted(unknown)}")
        if kwargs.get("run_id"):
            raise ValueError("ferry: start_logging(run_id=...) is not supported: the server names the run")
        return Run._start(self, outputs, snapshot_directory, display_name or name)

    def get_runs(self, tags: "Optional[Dict[str, str]]" = None, include_children: bool = False) -> "Iterator[Run]":
        """The experiment's runs, newest first (sweeps' trials only with include_children);
        with ``tags``, only runs carrying every one of them."""
        from . import _remote_run
        from .run import Run

        filters = {f"tag.{k}": v for k, v in (tags or {}).items()}  # filtered by the server
        for r in _remote_run.list_runs(self.workspace._client, experiment=self.name,
                                       include_children="true" if include_children else None, **filters):
            yield Run._bound(self.workspace, r["id"], r)

    def __repr__(self) -> str:
        return f"<ferry.Experiment {self.name!r} in {self.workspace.url}>"
