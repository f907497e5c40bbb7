"""Batch scoring as Azure ML SDK v1 spells it (``azureml.pipeline.steps.ParallelRunConfig`` and
``ParallelRunStep`` -> ``ferry.pipeline.steps``): an entry script's ``init()`` and
``run(mini_batch)`` over every file (or row) of a dataset, in ``process_count_per_node`` processes
on each of ``node_count`` nodes, with failures counted against thresholds (docs/pipelines.md,
ParallelRunStep). The server keeps the queue of mini-batches; ``ferry._parallel_run`` works it."""

from __future__ import annotations

from .pipeline_steps import _RunStep

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, List, Optional, Sequence

__all__ = ["ParallelRunConfig", "ParallelRunStep"]


class ParallelRunConfig:
    """``ParallelRunConfig(environment, entry_script, error_threshold, output_action,
    compute_target, node_count, process_count_per_node=None, mini_batch_size=None,
    source_directory=None, description=None, logging_level='INFO', run_invocation_timeout=60,
    run_max_try=3, append_row_file_name=None, allowed_failed_count=None,
    allowed_failed_percent=None, partition_keys=None, environment_variables=None)``.

    ``mini_batch_size``: files per mini-batch for a file dataset (default 10), a size such as
    ``"1MB"`` for a tabular one (the default). ``error_threshold``: failed files or rows tolerated
    (-1: any number). ``process_count_per_node`` None: one per CPU of the node."""

    def __init__(self, environment: "Any" = None, entry_script: "Optional[str]" = None,
                 error_threshold: int = -1, output_action: str = "append_row", compute_target: "Any" = None,
                 node_count: int = 1, process_count_per_node: "Optional[int]" = None,
                 mini_batch_size: "Any" = None, source_directory: "Optional[str]" = None,
                 description: "Optional[str]" = None, logging_level: str = "INFO",
                 run_invocation_timeout: int = 60, run_max_try: int = 3,
                 append_row_file_name: "Optional[str]" = None, allowed_failed_count: "Optional[int]" = None,
                 allowed_failed_percent: "Optional[float]" = None,
                 partition_keys: "Optional[List[str]]" = None,
                 environment_variables: "Optional[Dict[str, str]]" = None) -> None:
        if not entry_script:
            raise ValueError("ferry: ParallelRunConfig needs entry_script, a script with init() and run(mini_batch)")
        if output_action not in ("append_row", "summary_only"):
            raise ValueError(f"ferry: ParallelRunConfig output_action must be append_row or summary_only, "
                             f"got {output_action!r}")
        for name, value, low in (("node_count", node_count, 1), ("run_invocation_timeout", run_invocation_timeout, 1),
                                 ("run_max_try", run_max_try, 1), ("error_threshold", error_threshold, -1)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"ferry: ParallelRunConfig {name} must be a whole number of at least {low}, "
                                 f"got {value!r}")
        self.environment = environment
        self.entry_script = entry_script
        self.error_threshold = error_threshold
        self.output_action = output_action
        self.compute_target = compute_target
        self.node_count = node_count
        self.process_count_per_node = process_count_per_node
        self.mini_batch_size = mini_batch_size
        self.source_directory = source_directory
        self.description = description
        self.logging_level = logging_level
        self.run_invocation_timeout = run_invocation_timeout
        self.run_max_try = run_max_try
        self.append_row_file_name = append_row_file_name
        self.allowed_failed_count = allowed_failed_count
        self.allowed_failed_percent = allowed_failed_percent
        self.partition_keys = list(partition_keys or [])
        self.environment_variables = dict(environment_variables or {})

    def _json(self) -> "Dict[str, Any]":
        j: "Dict[str, Any]" = {
            "entry_script": self.entry_script.replace("\\", "/"),
            "error_threshold": self.error_threshold,
            "output_action": self.output_action,
            "node_count": self.node_count,
            "process_count_per_node": self.process_count_per_node or 0,
            "run_invocation_timeout": self.run_invocation_timeout,
            "run_max_try": self.run_max_try,
            "logging_level": self.logging_level,
        }
        if self.mini_batch_size is not None:
            j["mini_batch_size"] = str(self.mini_batch_size)
        if self.append_row_file_name:
            j["append_row_file_name"] = self.append_row_file_name
        if self.allowed_failed_count is not None:
            j["allowed_failed_count"] = self.allowed_failed_count
        if self.allowed_failed_percent is not None:
            j["allowed_failed_percent"] = self.allowed_failed_percent
        if self.partition_keys:
            j["partition_keys"] = self.partition_keys
        return j


class ParallelRunStep(_RunStep):
    """``ParallelRunStep(name, parallel_run_config, inputs, output=None, side_inputs=None,
    arguments=None, allow_reuse=True)``: ``inputs`` holds the dataset to split (one); ``output``
    the PipelineData or OutputFileDatasetConfig where ``append_row`` writes its file;
    ``side_inputs`` data every worker reads whole (a model); ``arguments`` reach the entry
    script's ``sys.argv``. The entry script's logger is
    ``ferry_user.parallel_run.EntryScript().logger``."""

    _type = "ParallelRunStep"

    def __init__(self, name: str, parallel_run_config: ParallelRunConfig, inputs: "Sequence[Any]",
                 output: "Any" = None, side_inputs: "Optional[Sequence[Any]]" = None,
                 arguments: "Optional[Sequence[Any]]" = None, allow_reuse: bool = True,
                 tags: "Any" = None, properties: "Any" = None, add_parallel_run_step_dependencies: bool = True) -> None:
        from .run_configuration import RunConfiguration

        if not isinstance(parallel_run_config, ParallelRunConfig):
            raise TypeError(f"ferry: step {name!r}: parallel_run_config must be a ParallelRunConfig, got "
                            f"{type(parallel_run_config).__name__}")
        main = list(inputs or [])
        if len(main) != 1:
            raise ValueError(f"ferry: step {name!r}: a ParallelRunStep splits one input into mini-batches; "
                             f"give inputs=[dataset] (got {len(main)}); data every worker needs goes in side_inputs")
        self.parallel_run_config = parallel_run_config
        self._side = list(side_inputs or [])
        runconfig = RunConfiguration()
        if parallel_run_config.environment is not None:
            runconfig.environment = parallel_run_config.environment
        runconfig.environment_variables.update(parallel_run_config.environment_variables)
        super().__init__(name, parallel_run_config.compute_target, runconfig, None, main + self._side,
                         [output] if output is not None else [], None, parallel_run_config.source_directory,
                         allow_reuse, None, arguments)

    def _snapshot_directory(self, default: "Optional[str]") -> "Optional[str]":
        return self.source_directory or default or "."

    def _check_snapshot(self, snap: "Any", directory: str) -> None:
        from .script_run_config import _require_script

        _require_script(snap, directory, self.parallel_run_config.entry_script)

    def _fields(self) -> "Dict[str, Any]":
        from .script_run_config import _snapshot_path

        return {**self._common_fields(), "script_name": _snapshot_path(self.parallel_run_config.entry_script),
                "parallel_run_config": self.parallel_run_config._json()}

    def _step_json(self, w: "Any", default_store: str) -> "Dict[str, Any]":
        from .pipeline_steps import _StepIO

        step = super()._step_json(w, default_store)
        probe = _StepIO(self.name)
        side = {probe.add_input(i) for i in self._side}
        inputs = step.get("inputs", [])
        for j in inputs:
            if j["name"] in side:
                j["side"] = True
        # The input to split first: the server takes the first that is not a side input.
        step["inputs"] = [j for j in inputs if not j.get("side")] + [j for j in inputs if j.get("side")]
        return step
