"""A pipeline's run and its steps' runs, as Azure ML SDK v1 spells them
(``azureml.pipeline.core.run``): :class:`PipelineRun` (``Experiment.submit(pipeline)`` returns
it) and :class:`StepRun` (one step's run, an ordinary run whose parent is the pipeline's run).

The pipeline run's state comes from ``GET /api/v1/pipeline-runs/{id}``: the run, the definition,
the parameter values, each step's status, run id and the run it reused, and the graph's edges.
"""

from __future__ import annotations

from .run import Run

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, List, Optional

__all__ = ["PipelineRun", "StepRun"]

STEP_TAG = "ferry.pipeline.step"
REUSED_TAG = "ferry.reused_from"


class PipelineRun(Run):
    """``PipelineRun(experiment, run_id)``: a pipeline's run. A :class:`ferry.Run` (status,
    details, tags, cancel) with the pipeline's views: its steps' runs (:meth:`get_steps`,
    :meth:`find_step_run`), the graph, waiting with a line per step, and :meth:`rerun`."""

    RUN_TYPE = "azureml.PipelineRun"

    def __init__(self, experiment: "Any", run_id: str, _service_endpoint: "Any" = None, **kwargs: "Any") -> None:
        super().__init__(experiment, run_id)

    snapshot_warnings: "List[str]" = []

    @staticmethod
    def get(workspace: "Any", run_id: str, _service_endpoint: "Any" = None) -> "PipelineRun":  # type: ignore[override]
        """The pipeline run ``run_id`` of ``workspace``."""
        run = PipelineRun._bound(workspace, run_id, None)
        run._pipeline_run()  # NotFoundError when it is no pipeline run
        return run

    @property
    def type(self) -> str:
        return self.RUN_TYPE

    def _pipeline_run(self) -> "Dict[str, Any]":
        """GET /pipeline-runs/{id}: {"run", "pipeline", "parameters", "steps", "edges"}."""
        data = self._client().call("GET", f"/pipeline-runs/{self.id}")
        if isinstance(data.get("run"), dict):
            self._remote = data["run"]
        return data

    def _step_runs(self, data: "Dict[str, Any]") -> "List[StepRun]":
        """The steps that have a run, newest first (by creation, then id)."""
        from . import _remote_run

        client = self._client()
        listed = {r["id"]: r for r in _remote_run.list_runs(client, parent=self.id)}
        runs = []
        for step in data.get("steps") or []:
            rid = step.get("run_id")
            if not rid:
                continue
            record = listed.get(rid) or _remote_run.run_json(client, rid)
            runs.append(StepRun._for_step(self._ws, record, step, self.id))
        runs.sort(key=lambda r: ((r._remote or {}).get("created_at", 0), r.id), reverse=True)
        return runs

    def get_steps(self) -> "List[StepRun]":
        """The runs of the steps that have started (reused ones too), newest first."""
        return self._step_runs(self._pipeline_run())

    def get_children(self, recursive: bool = False, tags: "Any" = None, properties: "Any" = None,
                     type: "Optional[str]" = None, status: "Optional[str]" = None,  # noqa: A002 (Azure's name)
                     _rehydrate_runs: bool = True) -> "List[StepRun]":  # type: ignore[override]
        """The steps' runs (as :meth:`get_steps`), filtered by ``tags`` (a dict) and ``status``."""
        out = []
        for r in self.get_steps():
            if status and r.status != status:
                continue
            if isinstance(tags, dict) and any(r.tags.get(k) != str(v) for k, v in tags.items()):
                continue
            out.append(r)
        return out

    def find_step_run(self, name: str) -> "List[StepRun]":
        """The runs of the step named ``name`` (a list: empty before the step's run exists)."""
        data = self._pipeline_run()
        mine = {"steps": [s for s in data.get("steps") or [] if s.get("name") == name]}
        return self._step_runs(mine)

    def get_graph(self) -> "Dict[str, Any]":
        """The graph as the server has it: ``{"steps": [...], "edges": [{"from", "to", "data"}]}``,
        each step with its status, run id, the run it reused, inputs and outputs."""
        data = self._pipeline_run()
        return {"steps": data.get("steps") or [], "edges": data.get("edges") or []}

    def get_pipeline(self) -> "Dict[str, Any]":
        """The pipeline's definition (its JSON) and the parameter values of this run."""
        data = self._pipeline_run()
        return {"pipeline": data.get("pipeline") or {}, "parameters": data.get("parameters") or {}}

    def rerun(self) -> "PipelineRun":
        """A new run of the same pipeline and parameters: the steps that failed or were canceled,
        and those after them, run again; the others are reused (POST /pipeline-runs/{id}/rerun)."""
        data = self._client().call("POST", f"/pipeline-runs/{self.id}/rerun")
        return PipelineRun._bound(self._ws, data["id"], data)

    def wait_for_completion(self, show_output: bool = True, timeout_seconds: "Optional[float]" = None,
                            raise_on_error: bool = True) -> str:  # type: ignore[override]
        """Waits until the pipeline run ends (or ``timeout_seconds`` pass) and returns its status.
        With ``show_output``, one line per step as its status changes, then a summary.

        :raises ferry.exceptions.ActivityFailedException: when it failed, naming the failed steps
            (unless ``raise_on_error=False``)."""
        import sys
        import time

        from ._backoff import Backoff
        from ._remote_run import TERMINAL, azure_status
        from .exceptions import ActivityFailedException

        out = sys.stdout
        if show_output:
            out.write(f"PipelineRunId: {self.id}\nLink to Ferry Studio: {self.get_portal_url()}\n")
            out.flush()
        start = time.monotonic()
        backoff = Backoff(0.2, 5.0, factor=1.5)
        seen: "Dict[str, str]" = {}
        while True:
            data = self._pipeline_run()
            status = azure_status(data["run"])
            if show_output:
                for step in data.get("steps") or []:
                    line = _step_line(step)
                    if seen.get(step.get("name", "")) != line:
                        seen[step.get("name", "")] = line
                        out.write(line + "\n")
                        out.flush()
            if status in TERMINAL:
                break
            if timeout_seconds is not None and time.monotonic() - start > timeout_seconds:
                if show_output:
                    out.write(f"Timed out after {timeout_seconds} s waiting for the pipeline run; status {status}\n")
                return status
            time.sleep(backoff.next())
        failed = [s.get("name", "") for s in data.get("steps") or [] if s.get("status") == "Failed"]
        if show_output:
            out.write(f"\nPipelineRun Execution Summary\n==============================\nPipelineRun Status: {status}\n")
            if failed:
                out.write(f"Failed steps: {', '.join(failed)}\n")
            out.flush()
        if raise_on_error and status == "Failed":
            error = (data["run"].get("error") or {})
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise ActivityFailedException(f"pipeline run '{self.id}' failed"
                                          + (f" in steps {', '.join(failed)}" if failed else "")
                                          + (f": {message}" if message else ""), 0, "RunFailed")
        return status

    def __repr__(self) -> str:
        return f"<ferry PipelineRun {self.id}>"


def _step_line(step: "Dict[str, Any]") -> str:
    line = f"Step {step.get('name')!r}: {step.get('status', 'NotStarted')}"
    if step.get("run_id"):
        line += f" (run {step['run_id']})"
    if step.get("reused_from"):
        line += f", reused from run {step['reused_from']}"
    return line


class StepRun(Run):
    """One step's run in a pipeline run: an ordinary :class:`ferry.Run` (its logs, metrics,
    files) that knows its step's name, its pipeline run and whether it reused an earlier run
    (:attr:`reused`, :attr:`reused_from`). Found with ``PipelineRun.get_steps()`` or
    ``find_step_run(name)``; ``StepRun(experiment, step_run_id, pipeline_run_id, node_id)``
    makes one by id."""

    RUN_TYPE = "azureml.StepRun"

    def __init__(self, experiment: "Any", step_run_id: str, pipeline_run_id: "Optional[str]" = None,
                 node_id: "Optional[str]" = None, _service_endpoint: "Any" = None, _is_reused: bool = False,
                 _current_node_id: "Any" = None, _reused_run_id: "Optional[str]" = None, _reused_node_id: "Any" = None,
                 _reused_pipeline_run_id: "Any" = None, **kwargs: "Any") -> None:
        super().__init__(experiment, step_run_id)
        self._pipeline_run_id = pipeline_run_id
        self._step: "Dict[str, Any]" = {"name": node_id} if node_id else {}
        if _is_reused or _reused_run_id:
            self._step["reused_from"] = _reused_run_id or ""

    _pipeline_run_id: "Optional[str]" = None
    _step: "Dict[str, Any]" = {}

    @classmethod
    def _for_step(cls, workspace: "Any", record: "Dict[str, Any]", step: "Dict[str, Any]",
                  pipeline_run_id: str) -> "StepRun":
        r = cls._bound(workspace, record["id"], record)
        r._pipeline_run_id = pipeline_run_id
        r._step = dict(step)
        return r

    @property
    def type(self) -> str:
        return self.RUN_TYPE

    @property
    def pipeline_run_id(self) -> str:
        """The id of the pipeline run this step's run belongs to."""
        return self._pipeline_run_id or self._data().get("parent_id") or ""

    @property
    def name(self) -> str:  # type: ignore[override]
        """The step's name."""
        return self._step.get("name") or self.tags.get(STEP_TAG) or self.display_name

    @property
    def reused_from(self) -> "Optional[str]":
        """The id of the earlier run whose results this step reused, or ``None`` when it ran."""
        return self._step.get("reused_from") or self.tags.get(REUSED_TAG) or None

    @property
    def reused(self) -> bool:
        """True when the step did not run but reused an earlier run's results."""
        return self.reused_from is not None

    def wait_for_completion(self, show_output: bool = True, timeout_seconds: "Optional[float]" = None,
                            raise_on_error: bool = True) -> str:  # type: ignore[override]
        """Waits until the step's run ends and returns its status. With ``show_output`` (and no
        ``timeout_seconds``) its log is streamed as it is written; with ``timeout_seconds`` the
        status then is returned.

        :raises ferry.exceptions.ActivityFailedException: when it failed (unless
            ``raise_on_error=False``)."""
        import time

        from . import _remote_run
        from ._backoff import Backoff

        if timeout_seconds is None:
            super().wait_for_completion(show_output, False, raise_on_error)
            return self.get_status()
        start = time.monotonic()
        backoff = Backoff(0.2, 5.0, factor=1.5)
        while self._refresh()["status"] not in _remote_run.TERMINAL:
            if time.monotonic() - start >= timeout_seconds:
                return _remote_run.azure_status(self._remote or {})
            time.sleep(backoff.next())
        status = _remote_run.azure_status(self._remote or {})
        if raise_on_error and status == "Failed":
            from .exceptions import ActivityFailedException

            error = (self._remote or {}).get("error") or {}
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise ActivityFailedException(f"step run '{self.id}' failed: {message or 'no error recorded'}", 0,
                                          "RunFailed")
        return status

    def __repr__(self) -> str:
        return f"<ferry StepRun {self.name!r} {self.id}" + (f" reused from {self.reused_from}>" if self.reused else ">")
