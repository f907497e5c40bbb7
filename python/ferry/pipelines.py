"""Pipelines as Azure ML SDK v1 spells them (``azureml.pipeline.core`` -> ``ferry.pipeline.core``):
:class:`Pipeline`, :class:`PipelineData`, :class:`PipelineParameter`, :class:`StepSequence`.

A pipeline is a set of steps (``ferry.pipeline.steps``), each a run on its own compute target,
joined by the data one step writes and another reads and by ``step.run_after(other)``. The SDK
turns the Python objects into the pipeline's JSON definition (src/pipeline/spec.h,
``PipelineToJson``) and sends it with ``POST /api/v1/pipeline-runs``; the server checks it
again, runs the steps in order and reuses a step whose code, settings and input data have not
changed. Client side, only what can be known without the server is checked
(:meth:`Pipeline.validate`): names, producers, cycles.

How the objects become the JSON's names:

- a :class:`PipelineData` (or an ``OutputFileDatasetConfig``) is an output of the step that lists
  it in ``outputs=`` (or, for an ``OutputFileDatasetConfig``, that has it bare in its
  arguments): output ``name`` and pipeline-wide ``destination`` are its name, unique in the
  pipeline. A step that has it in ``inputs=`` or its arguments (or ``pd.as_input('x')``,
  ``out.as_input()``) reads it: an input of that name whose ``source`` is the destination;
- a ``DatasetConsumptionConfig`` (``ds.as_named_input('x').as_mount()``), a ``DataReference`` or a
  ``(DataPath, DataPathComputeBinding)`` is a pipeline ``data_references`` entry and an input
  of the step, named as the consumption config / data reference is named;
- a :class:`PipelineParameter` in the arguments is ``{"parameter": NAME}``, a step parameter of
  the same name taking the pipeline parameter's value; one whose default is a ``DataPath`` is a
  datapath parameter, and used as data (bare, or ``(param, DataPathComputeBinding())``) it is
  an input whose source is the parameter.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, Iterable, List, Optional, Tuple

__all__ = ["Pipeline", "PipelineData", "PipelineParameter", "StepSequence"]

_BIND_MODES = ("mount", "download")


def _check_name(name: "Any", what: str) -> str:
    from .datastore import _check_input_name

    try:
        _check_input_name(name)
    except ValueError:
        raise ValueError(f"ferry: {what} name {name!r} is not valid: use 1 to 128 letters, digits and '_', not "
                         "starting with a digit (it names an input, an output and an environment variable)") from None
    return name


# The server's rule for the names of steps and pipeline parameters (src/pipeline/spec.cc).
_NAME_RULE = "1-128 letters, digits, '_', '.' or '-' (not '.' or '..')"


def _valid_name(name: str) -> bool:
    import re

    return isinstance(name, str) and name not in (".", "..") and re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", name) is not None


class PipelineParameter:
    """``PipelineParameter(name, default_value)``: a value given when the pipeline is submitted
    (``pipeline_parameters={name: value}``), ``default_value`` otherwise. Its type is the
    default's: str, int, float, bool, or a ``DataPath`` (a datapath parameter: data a step
    reads). ``default_value=None`` makes a string parameter that must be given at submit."""

    def __init__(self, name: str, default_value: "Any") -> None:
        if not _valid_name(name):
            raise ValueError(f"ferry: PipelineParameter name {name!r} is not valid: use {_NAME_RULE}")
        self.name = name
        self.default_value = default_value
        self._type()  # refuses a default of an unknown type now

    def _type(self) -> str:
        return _value_type(self.default_value, f"PipelineParameter {self.name!r}")

    def _spec(self) -> "Dict[str, Any]":
        return {"name": self.name, "type": self._type(), "default": _value_json(self.default_value)}

    def __repr__(self) -> str:
        return f"PipelineParameter(name={self.name!r}, default_value={self.default_value!r})"


def _value_type(value: "Any", what: str) -> str:
    from .data.datapath import DataPath

    if value is None or isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, DataPath):
        return "datapath"
    raise TypeError(f"ferry: {what}: a value must be a str, int, float, bool or DataPath, got {type(value).__name__}")


def _value_json(value: "Any") -> "Any":
    """A parameter value as the JSON sends it (a DataPath as {"datastore", "path"})."""
    from .data.datapath import DataPath

    if isinstance(value, DataPath):
        return {"datastore": value.datastore_name, "path": value.path_on_datastore}
    return value


class PipelineData:
    """``PipelineData(name, datastore=None, output_mode='mount', ...)``: a directory one step
    writes (list it in that step's ``outputs=``) and later steps read (in their ``arguments`` or
    ``inputs=``). In the arguments it becomes the directory's path on the step's target. The
    name is the output's name in the pipeline: two PipelineData of one pipeline cannot share it.

    ``datastore``: where the files are kept (the pipeline's ``default_datastore``, else the
    workspace's default). ``output_mode``: ``mount`` or ``upload`` (both give the script an
    empty directory whose files are stored when it ends). ``is_directory`` and ``data_type`` are
    kept for Azure's sake (a Ferry output is always a directory). ``output_path_on_compute``,
    ``pipeline_output_name`` and ``training_output`` are refused."""

    def __init__(self, name: str, datastore: "Any" = None, output_name: "Optional[str]" = None,
                 output_mode: str = "mount", output_path_on_compute: "Optional[str]" = None,
                 output_overwrite: "Optional[bool]" = None, data_type: "Optional[str]" = None,
                 is_directory: "Optional[bool]" = None, pipeline_output_name: "Optional[str]" = None,
                 training_output: "Any" = None) -> None:
        _check_name(name, "PipelineData")
        if output_mode not in ("mount", "upload"):
            raise ValueError(f"ferry: PipelineData {name!r}: output_mode must be 'mount' or 'upload', got {output_mode!r}")
        for arg, value in (("output_path_on_compute", output_path_on_compute),
                           ("pipeline_output_name", pipeline_output_name), ("training_output", training_output)):
            if value is not None:
                raise ValueError(f"ferry: PipelineData({arg}=...) is not supported: the step's target chooses the "
                                 "directory, and a step's outputs are found with its run")
        self._name = name
        self._datastore = datastore
        self._output_name = output_name or name
        self._output_mode = output_mode
        self._data_type = data_type or "AnyFile"
        self.is_directory = is_directory
        self.output_overwrite = output_overwrite

    name = property(lambda self: self._name, doc="The name: the output's name in the pipeline.")
    datastore = property(lambda self: self._datastore, doc="The datastore the files are kept on (None: default).")
    data_type = property(lambda self: self._data_type, doc="Azure's data type name ('AnyFile').")

    def as_input(self, input_name: str) -> "_DataInput":
        """This data as an input of another name in the consuming step."""
        return _DataInput(self, input_name, "mount")

    def as_mount(self, input_name: "Optional[str]" = None) -> "_DataInput":
        """This data as a read-only input (the default)."""
        return _DataInput(self, input_name or self._name, "mount")

    def as_download(self, input_name: "Optional[str]" = None, path_on_compute: "Optional[str]" = None,
                    overwrite: "Optional[bool]" = None) -> "_DataInput":
        """This data copied into the consuming step's working directory (``path_on_compute`` is
        refused: the target chooses)."""
        if path_on_compute is not None:
            raise ValueError("ferry: as_download(path_on_compute=...) is not supported: the step's target chooses")
        return _DataInput(self, input_name or self._name, "download")

    def create_input_binding(self, input_name: "Optional[str]" = None, mode: "Optional[str]" = None,
                             path_on_compute: "Optional[str]" = None, overwrite: "Optional[bool]" = None) -> "_DataInput":
        """This data as an input: ``mode`` ``mount`` (default) or ``download``."""
        if mode == "download":
            return self.as_download(input_name, path_on_compute)
        if mode not in (None, "mount"):
            raise ValueError(f"ferry: an input's mode must be 'mount' or 'download', got {mode!r}")
        return self.as_mount(input_name)

    def __str__(self) -> str:
        return f"PipelineData:{self._name}"

    def __repr__(self) -> str:
        return f"<ferry PipelineData {self._name!r}>"


class _DataInput:
    """A step's input read from data another step writes (a PipelineData or an
    OutputFileDatasetConfig): ``pd.as_input('x')``, ``out.as_input()``,
    ``out.read_delimited_files()``. Used only in pipeline steps."""

    _pipeline_only = True

    def __init__(self, source: "Any", name: str, bind_mode: str = "mount", kind: str = "file") -> None:
        self.source = source
        self.name = _check_name(name, "input")
        self.bind_mode = bind_mode
        self.kind = kind  # "tabular" is read as its files for now (the step gets the directory)

    @property
    def input_name(self) -> str:
        return self.name

    def as_input(self, name: "Optional[str]" = None) -> "_DataInput":
        return _DataInput(self.source, name or self.name, self.bind_mode, self.kind)

    def as_mount(self, path_on_compute: "Optional[str]" = None) -> "_DataInput":
        return _DataInput(self.source, self.name, "mount", self.kind)

    def as_download(self, path_on_compute: "Optional[str]" = None) -> "_DataInput":
        if path_on_compute is not None:
            raise ValueError("ferry: as_download(path_on_compute=...) is not supported in a pipeline step")
        return _DataInput(self.source, self.name, "download", self.kind)

    def __str__(self) -> str:
        return f"PipelineInput:{self.name}"


class StepSequence:
    """``StepSequence(steps=[a, b, c])``: steps that run one after the other (b after a, c after
    b), as if each had ``run_after`` its predecessor. A Pipeline takes it as its ``steps``."""

    def __init__(self, steps: "Optional[Iterable[Any]]" = None) -> None:
        self._steps = list(steps or [])
        for earlier, later in zip(self._steps, self._steps[1:]):
            for step in (later if isinstance(later, (list, tuple)) else [later]):
                for before in (earlier if isinstance(earlier, (list, tuple)) else [earlier]):
                    step.run_after(before)

    def _flat(self) -> "List[Any]":
        out: "List[Any]" = []
        for s in self._steps:
            out.extend(s if isinstance(s, (list, tuple)) else [s])
        return out


class _Wiring:
    """One pipeline's definition as JSON, without snapshot ids, and the faults found making it."""

    def __init__(self) -> None:
        self.errors: "List[str]" = []
        self.steps: "List[Tuple[Any, Dict[str, Any]]]" = []  # (step object, its JSON)
        self.parameters: "Dict[str, PipelineParameter]" = {}
        self.data_references: "Dict[str, Dict[str, Any]]" = {}
        self.outputs: "Dict[str, Tuple[Any, str]]" = {}  # destination -> (identity, producing step)

    def error(self, text: str) -> None:
        if text not in self.errors:
            self.errors.append(text)


def _output_identity(obj: "Any") -> "Any":
    """What makes two output objects the same output: the PipelineData itself, or an
    OutputFileDatasetConfig's origin (its copies by register_on_complete, read_delimited_files,
    as_mount... share it)."""
    return getattr(obj, "_origin", obj)


def _is_output_config(obj: "Any") -> bool:
    return type(obj).__name__ in ("OutputFileDatasetConfig", "OutputTabularDatasetConfig")


class Pipeline:
    """``Pipeline(workspace, steps, description=None, default_datastore=None,
    default_source_directory=None, resolve_closure=True)``: the steps to run, in a workspace.

    ``steps``: a list of steps (or of lists), or a :class:`StepSequence`. With
    ``resolve_closure`` (the default) a step that writes data a listed step reads, or that a
    listed step runs after, is part of the pipeline without being listed.
    ``default_source_directory``: the folder of steps that name none (else the current one);
    each distinct folder is snapshotted and uploaded once per submit. ``default_datastore``:
    where outputs that name no datastore are kept. Ferry's own keywords: ``name`` (the
    pipeline's name), ``default_compute_target`` (the target of steps that name none; else
    ``local``).

    Submit with ``Experiment(ws, name).submit(pipeline, pipeline_parameters={...})`` or
    :meth:`submit`; both return a :class:`ferry.pipeline.core.PipelineRun`."""

    def __init__(self, workspace: "Any", steps: "Any", description: "Optional[str]" = None,
                 default_datastore: "Any" = None, default_source_directory: "Optional[str]" = None,
                 resolve_closure: bool = True, _workflow_provider: "Any" = None, _service_endpoint: "Any" = None,
                 **kwargs: "Any") -> None:
        unknown = set(kwargs) - {"name", "default_compute_target"}
        if unknown:
            raise TypeError(f"ferry: Pipeline() got unknown arguments {sorted(unknown)}")
        self._workspace = workspace
        if isinstance(steps, StepSequence):
            listed = steps._flat()
        elif isinstance(steps, (list, tuple)):
            listed = []
            for s in steps:
                listed.extend(s._flat() if isinstance(s, StepSequence) else s if isinstance(s, (list, tuple)) else [s])
        else:
            listed = [steps]
        from .pipeline_steps import PipelineStep

        for s in listed:
            if not isinstance(s, PipelineStep):
                raise TypeError(f"ferry: a pipeline's steps are PythonScriptStep, CommandStep... objects, got "
                                f"{type(s).__name__}")
        self._steps = listed
        self.description = description or ""
        self.default_datastore = default_datastore
        self.default_source_directory = default_source_directory
        self.resolve_closure = resolve_closure
        self.name = kwargs.get("name") or ""
        target = kwargs.get("default_compute_target")
        self.default_compute_target = getattr(target, "name", target) or ""

    @property
    def steps(self) -> "List[Any]":
        """The steps as given (without those resolve_closure adds)."""
        return list(self._steps)

    # ---- the definition ---------------------------------------------------------------------

    def _all_steps(self) -> "List[Any]":
        """The listed steps, then (resolve_closure) the producers and run_after steps they need."""
        steps = list(self._steps)
        if not self.resolve_closure:
            return steps
        seen = {id(s) for s in steps}
        written = {id(_output_identity(o)) for s in steps for o in s._produced()}
        i = 0
        while i < len(steps):
            needs = list(steps[i]._run_after)
            for src in steps[i]._consumed():
                # Data no step here writes: the step last made with it as an output (as Azure).
                producer = getattr(src, "_producer_step", None)
                if id(src) not in written and producer is not None:
                    needs.append(producer)
            for needed in needs:
                if id(needed) not in seen:
                    seen.add(id(needed))
                    steps.append(needed)
                    written.update(id(_output_identity(o)) for o in needed._produced())
            i += 1
        return steps

    def _wiring(self) -> "_Wiring":
        w = _Wiring()
        steps = self._all_steps()
        if not steps:
            w.error("the pipeline has no steps")
        names: "Dict[str, Any]" = {}
        for s in steps:
            if not _valid_name(s.name):
                w.error(f"step name {s.name!r} is not valid: use {_NAME_RULE} (give the step a name=)")
            if s.name in names and names[s.name] is not s:
                w.error(f"two steps are named {s.name!r}; give each step its own name= (step names are unique "
                        "in a pipeline)")
            names.setdefault(s.name, s)
        default_store = getattr(self.default_datastore, "name", self.default_datastore) or ""
        for s in steps:
            w.steps.append((s, s._step_json(w, default_store)))
        in_pipeline = {id(s) for s in steps}
        for s, _ in w.steps:
            for other in s._run_after:
                if id(other) not in in_pipeline:
                    w.error(f"step {s.name!r} runs after step {other.name!r}, which is not in the pipeline; add it "
                            "to the steps")
        # Every input's source: a data reference, a datapath parameter or an output of a step.
        datapaths = {n for n, p in w.parameters.items() if p._type() == "datapath"}
        for name in sorted(set(w.outputs) & (set(w.data_references) | datapaths)):
            w.error(f"{name!r} names both a step's output and a data reference or datapath parameter; rename one")
        for name in sorted(set(w.data_references) & datapaths):
            w.error(f"{name!r} names both a data reference and a datapath parameter; rename one")
        for s, j in w.steps:
            for inp in j.get("inputs", []):
                src = inp["source"]
                if src in w.outputs:
                    if w.outputs[src][1] == s.name:
                        w.error(f"step {s.name!r} reads its own output {src!r}")
                elif src not in w.data_references and src not in datapaths:
                    w.error(f"step {s.name!r}: input {inp['name']!r} reads {src!r}, which no step of the pipeline "
                            "writes; add the step that lists it in outputs= to the pipeline")
        cycle = _find_cycle(w)
        if cycle:
            w.error("the steps depend on each other in a cycle: " + " -> ".join(repr(n) for n in cycle))
        return w

    def validate(self) -> "List[str]":
        """What is wrong with the pipeline, as far as the SDK can tell without the server: step
        names used twice, data no step of the pipeline writes, two outputs of one name, a step
        reading its own output, cycles. An empty list when none; :meth:`submit` raises with
        them."""
        return list(self._wiring().errors)

    def _definition(self, client: "Any" = None, regenerate_outputs: bool = False) -> "Tuple[Dict[str, Any], List[str]]":
        """The pipeline's JSON (the body's ``pipeline``) and the snapshots' warnings. With
        ``client``, each distinct source directory is snapshotted and uploaded once.

        :raises ferry.exceptions.InvalidArgumentError: listing what :meth:`validate` finds."""
        from .exceptions import InvalidArgumentError

        w = self._wiring()
        if w.errors:
            raise InvalidArgumentError("ferry: the pipeline is not valid:\n  " + "\n  ".join(w.errors))
        snapshots: "Dict[str, Tuple[Any, str]]" = {}
        warnings: "List[str]" = []
        out_steps = []
        for s, j in w.steps:
            j = dict(j)
            directory = s._snapshot_directory(self.default_source_directory)
            if directory is not None and client is not None:
                key = os.path.realpath(directory)
                if key not in snapshots:
                    from . import _snapshot

                    snap = _snapshot.build(directory)
                    snapshots[key] = (snap, _snapshot.upload(client, snap))
                    warnings.extend(snap.warnings)
                snap, snapshot_id = snapshots[key]
                s._check_snapshot(snap, directory)
                j["snapshot_id"] = snapshot_id
            if regenerate_outputs:
                j["allow_reuse"] = False
            out_steps.append(j)
        spec: "Dict[str, Any]" = {}
        if self.name:
            spec["name"] = self.name
        if self.description:
            spec["description"] = self.description
        if self.default_compute_target:
            spec["default_compute"] = self.default_compute_target
        if w.parameters:
            spec["parameters"] = [p._spec() for p in w.parameters.values()]
        if w.data_references:
            spec["data_references"] = list(w.data_references.values())
        spec["steps"] = out_steps
        return spec, warnings

    # ---- publishing -------------------------------------------------------------------------

    def publish(self, name: "Optional[str]" = None, description: "Optional[str]" = None,
                version: "Optional[str]" = None, continue_on_step_failure: "Optional[bool]" = None) -> "Any":
        """Publishes the pipeline (its folders uploaded, its definition checked as a submit
        checks it, nothing run) and returns the
        :class:`~ferry.pipeline.core.PublishedPipeline`, whose ``endpoint`` runs it
        (``POST`` with a bearer token and ``{"ExperimentName": ..., "ParameterAssignments":
        {...}}``)."""
        from .pipeline._published import _publish

        spec, _ = self._definition(self._workspace._client)
        return _publish(self._workspace, spec, name or self.name or "", description or self.description,
                        version, continue_on_step_failure)

    # ---- submitting -------------------------------------------------------------------------

    def submit(self, experiment_name: str, pipeline_parameters: "Optional[Dict[str, Any]]" = None,
               continue_on_step_failure: bool = False, regenerate_outputs: bool = False,
               parent_run_id: "Optional[str]" = None, credential_passthrough: "Any" = None,
               **kwargs: "Any") -> "Any":
        """Submits a run of the pipeline to the experiment of that name (what
        ``Experiment(ws, experiment_name).submit(pipeline, ...)`` does) and returns its
        :class:`~ferry.pipeline.core.PipelineRun`."""
        from .experiment import Experiment

        return self._submit(Experiment(self._workspace, experiment_name), kwargs.pop("tags", None),
                            pipeline_parameters=pipeline_parameters, continue_on_step_failure=continue_on_step_failure,
                            regenerate_outputs=regenerate_outputs, parent_run_id=parent_run_id,
                            credential_passthrough=credential_passthrough, **kwargs)

    def _submit(self, experiment: "Any", tags: "Optional[Dict[str, str]]" = None,
                pipeline_parameters: "Optional[Dict[str, Any]]" = None,
                continue_on_step_failure: "Optional[bool]" = None, regenerate_outputs: bool = False,
                parent_run_id: "Optional[str]" = None, credential_passthrough: "Any" = None,
                **kwargs: "Any") -> "Any":
        """``Experiment.submit(pipeline, tags=..., pipeline_parameters=...,
        continue_on_step_failure=..., regenerate_outputs=...)``: snapshots the steps' folders,
        sends the definition (``POST /api/v1/pipeline-runs``) and returns the PipelineRun.
        ``regenerate_outputs`` runs every step again (no step is reused)."""
        from .exceptions import InvalidArgumentError
        from .pipeline_run import PipelineRun

        if kwargs:
            raise TypeError(f"ferry: submitting a pipeline got unknown arguments {sorted(kwargs)}")
        if parent_run_id:
            raise ValueError("ferry: submit(parent_run_id=...) is not supported: a pipeline run has no parent")
        if credential_passthrough:
            raise ValueError("ferry: credential_passthrough is not supported: steps run with their run's own token")
        client = experiment.workspace._client
        params = dict(pipeline_parameters or {})
        w = self._wiring()
        unknown = sorted(set(params) - set(w.parameters))
        if unknown and not w.errors:
            known = ", ".join(sorted(w.parameters)) or "none"
            raise InvalidArgumentError(f"ferry: pipeline_parameters names {unknown}, which the pipeline has no "
                                       f"PipelineParameter of (its parameters: {known})")
        spec, warnings = self._definition(client, regenerate_outputs)
        body: "Dict[str, Any]" = {"experiment": experiment.name, "pipeline": spec,
                                  "parameters": {k: _value_json(v) for k, v in params.items()},
                                  "tags": {str(k): str(v) for k, v in (tags or {}).items()}}
        if continue_on_step_failure is not None:
            body["continue_on_step_failure"] = bool(continue_on_step_failure)
        data = client.call("POST", "/pipeline-runs", body)
        run = PipelineRun._bound(experiment.workspace, data["id"], data)
        run.snapshot_warnings = warnings
        return run

    def __repr__(self) -> str:
        return f"<ferry Pipeline of {len(self._steps)} steps: {', '.join(s.name for s in self._steps)}>"


def _find_cycle(w: "_Wiring") -> "List[str]":
    """A cycle of step names (the first step repeated at the end), or []."""
    deps: "Dict[str, List[str]]" = {}
    for s, j in w.steps:
        d = list(j.get("run_after", []))
        d += [w.outputs[i["source"]][1] for i in j.get("inputs", []) if i["source"] in w.outputs]
        deps.setdefault(s.name, []).extend(n for n in d if n != s.name)
    state: "Dict[str, int]" = {}
    path: "List[str]" = []

    def visit(n: str) -> "List[str]":
        state[n] = 1
        path.append(n)
        for m in deps.get(n, []):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        path.pop()
        state[n] = 2
        return []

    for name in deps:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return []
