"""The :class:`Experiment`: a named group of runs in a workspace."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, Iterator, Optional

    from .run import Run
    from .workspace import Workspace


class Experiment:
    """``Experiment(workspace, name)``: the experiment of that name (created on first use)."""

    def __init__(self, workspace: "Workspace", name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("ferry: an experiment needs a non-empty name")
        self.workspace = workspace
        self.name = name

    def submit(self, config: "Any", tags: "Optional[Dict[str, str]]" = None) -> "Run":
        """Submit a :class:`ferry.ScriptRunConfig` (or an estimator, which builds one): its source directory is snapshotted (the same
        ignore rules and content addressing as the CLI; only blobs the server lacks are sent)
        and the run is queued on its target. Returns the run, bound to the workspace.

        :raises ferry.FerryError: when the server refuses the run (the reason names the field).
        :raises ValueError: when the source directory cannot be snapshotted (the path is named).
        """
        own = getattr(config, "_submit", None)  # a config that submits itself (HyperDriveConfig: a HyperDriveRun)
        if callable(own):
            return own(self, tags)
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
