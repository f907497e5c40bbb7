"""A pipeline's steps, as Azure ML SDK v1 spells them (``azureml.pipeline.steps`` ->
``ferry.pipeline.steps``): :class:`PythonScriptStep` and :class:`CommandStep`, on the base
:class:`PipelineStep` (``ferry.pipeline.core``), which turns a step's arguments, inputs, outputs
and parameters into its part of the pipeline's JSON (src/pipeline/spec.h; the names are
explained in ``ferry.pipelines``)."""

from __future__ import annotations

import os
import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, List, Optional, Sequence, Tuple

__all__ = ["PipelineStep", "PythonScriptStep", "CommandStep"]


class _StepIO:
    """One step's arguments, inputs, outputs and parameters as the JSON names them."""

    def __init__(self, step: str) -> None:
        self.step = step
        self.args: "List[Any]" = []
        self.inputs: "Dict[str, Dict[str, Any]]" = {}
        self.input_ids: "Dict[int, str]" = {}  # id(output identity) read -> the input's name
        self.consumed: "List[Any]" = []  # output identities read (PipelineData, output configs)
        self.outputs: "Dict[str, Dict[str, Any]]" = {}
        self.output_ids: "Dict[int, str]" = {}  # id(output identity) -> the output's name
        self.produced: "List[Any]" = []
        self.data_references: "List[Dict[str, Any]]" = []
        self.parameters: "Dict[str, Dict[str, Any]]" = {}
        self.pipeline_parameters: "List[Any]" = []
        self.errors: "List[str]" = []

    def error(self, text: str) -> None:
        self.errors.append(f"step {self.step!r}: {text}")

    # ---- outputs ----------------------------------------------------------------------------

    def add_output(self, o: "Any") -> str:
        from .pipelines import PipelineData, _is_output_config, _output_identity

        if isinstance(o, PipelineData):
            store = getattr(o.datastore, "name", o.datastore) or ""
            j: "Dict[str, Any]" = {"name": o.name, "destination": o.name, "bind_mode": o._output_mode}
            if store:
                j["datastore"] = store
        elif _is_output_config(o):
            j = {"name": o.name, "destination": o.name, "bind_mode": o._mode}
            if o.destination is not None:
                j["datastore"] = getattr(o.destination[0], "name", o.destination[0])
                j["path"] = o.destination[1]
            if o._register:
                j["register_name"] = o._register["name"]
        else:
            raise TypeError(f"ferry: step {self.step!r}: outputs= takes PipelineData and OutputFileDatasetConfig "
                            f"objects, got {type(o).__name__}")
        ident = _output_identity(o)
        if id(ident) in self.output_ids:
            return self.output_ids[id(ident)]
        if o.name in self.outputs:
            self.error(f"two different outputs are named {o.name!r}; give each its own name")
            return o.name
        self.outputs[o.name] = j
        self.output_ids[id(ident)] = o.name
        self.produced.append(o)
        return o.name

    # ---- inputs -----------------------------------------------------------------------------

    def _input(self, name: str, source: str, bind_mode: str, ident: "Any" = None) -> str:
        if bind_mode not in ("mount", "download"):
            self.error(f"input {name!r}: mode must be mount or download, got {bind_mode!r}")
        j = {"name": name, "source": source, "bind_mode": bind_mode}
        have = self.inputs.get(name)
        if have is not None and have != j:
            self.error(f"two different inputs are named {name!r} ({have['source']} and {source}); name them apart "
                       "(as_input('other_name'), as_named_input('other_name'))")
            return name
        self.inputs[name] = j
        if ident is not None and id(ident) not in self.input_ids:
            self.input_ids[id(ident)] = name
            self.consumed.append(ident)
        return name

    def _reference(self, j: "Dict[str, Any]") -> str:
        self.data_references.append(j)
        return self._input(j["name"], j["name"], j.get("bind_mode", "mount"))

    def add_input(self, i: "Any") -> str:
        from .data.data_reference import DataReference
        from .data.datapath import DataPath, DataPathComputeBinding
        from .data.dataset_consumption_config import DatasetConsumptionConfig
        from .pipelines import PipelineData, PipelineParameter, _DataInput, _is_output_config, _output_identity

        if isinstance(i, PipelineData):
            return self._input(i.name, i.name, "mount", i)
        if isinstance(i, _DataInput):
            src = i.source
            return self._input(i.name, src.name, i.bind_mode, _output_identity(src))
        if _is_output_config(i):
            return self._input(i.name, i.name, "mount", _output_identity(i))
        if isinstance(i, tuple) and len(i) == 2 and isinstance(i[1], DataPathComputeBinding):
            what, binding = i
            if isinstance(what, PipelineParameter):
                return self._datapath_parameter(what, binding.mode)
            if isinstance(what, DataPath):
                return self.add_input(binding.create_data_reference(datapath=what))
            raise TypeError(f"ferry: step {self.step!r}: (X, DataPathComputeBinding) takes a DataPath or a datapath "
                            f"PipelineParameter as X, got {type(what).__name__}")
        if isinstance(i, PipelineParameter):
            return self._datapath_parameter(i, "mount")
        if isinstance(i, DataPath):
            return self.add_input(i.create_data_reference())
        if isinstance(i, DataReference):
            if i.path_on_compute:
                self.error(f"data reference {i.data_reference_name!r}: path_on_compute is not supported in a "
                           "pipeline step (the target chooses)")
            return self._reference({"name": i.data_reference_name, "datastore": i.datastore.name,
                                    "path": i.path_on_datastore, "bind_mode": i.mode})
        if hasattr(i, "as_named_input") and hasattr(i, "_info"):  # a dataset itself
            i = i.as_named_input(i.name or "input")
        if isinstance(i, DatasetConsumptionConfig):
            return self._dataset(i)
        raise TypeError(f"ferry: step {self.step!r}: cannot read {type(i).__name__} as an input; give a "
                        "PipelineData, an OutputFileDatasetConfig (out.as_input()), a dataset "
                        "(ds.as_named_input('x')), a DataReference or a DataPath")

    def _datapath_parameter(self, p: "Any", mode: str) -> str:
        if p._type() != "datapath":
            raise TypeError(f"ferry: step {self.step!r}: PipelineParameter {p.name!r} is read as data, but its default "
                            f"is a {p._type()}; give it a DataPath default (or use it as an argument)")
        self.pipeline_parameters.append(p)
        return self._input(p.name, p.name, mode)

    def _dataset(self, c: "Any") -> str:
        """A dataset input: a registered dataset by name and version, or an unregistered one of
        one datastore path (Dataset.File.from_files((store, 'path'))) by that path. A tabular
        dataset reaches the step as its files, as a file dataset would."""
        ds = c.dataset
        mode = "mount" if c.mode == "direct" else c.mode
        if c.path_on_compute:
            self.error(f"input {c.name!r}: path_on_compute is not supported in a pipeline step (the target chooses)")
        if ds.name:
            j = {"name": c.name, "dataset_name": ds.name, "dataset_version": int(ds.version or 0), "bind_mode": mode}
            return self._reference(j)
        definition = ds._definition
        paths = definition.get("paths") or []
        if len(paths) != 1 or definition.get("transforms"):
            raise ValueError(f"ferry: step {self.step!r}: input {c.name!r} is an unregistered dataset of "
                             f"{len(paths) or 'uploaded'} paths or with transforms; register it first "
                             "(ds.register(ws, name)) to use it in a pipeline")
        return self._reference({"name": c.name, "datastore": paths[0]["datastore"], "path": paths[0]["path"],
                                "bind_mode": mode})

    # ---- arguments and parameters -----------------------------------------------------------

    def argument(self, a: "Any") -> "Any":
        from .pipelines import PipelineData, PipelineParameter, _DataInput, _is_output_config, _output_identity

        if isinstance(a, str):
            return a
        if isinstance(a, (bool, int, float)):
            return str(a)
        if isinstance(a, PipelineParameter) and a._type() != "datapath":
            self.pipeline_parameters.append(a)
            self.parameter(a.name, a)
            return {"parameter": a.name}
        if isinstance(a, PipelineData) or _is_output_config(a):
            ident = _output_identity(a)
            if id(ident) in self.output_ids:
                return {"output": self.output_ids[id(ident)]}
            if id(ident) in self.input_ids:
                return {"input": self.input_ids[id(ident)]}
            if _is_output_config(a):  # bare in its producer's arguments, as Azure has it
                return {"output": self.add_output(a)}
            return {"input": self.add_input(a)}
        if isinstance(a, _DataInput) or not isinstance(a, (list, dict)):
            return {"input": self.add_input(a)}
        raise TypeError(f"ferry: step {self.step!r}: an argument is text, a number, a PipelineParameter or data, got "
                        f"{type(a).__name__}")

    def parameter(self, name: str, value: "Any") -> None:
        from .pipelines import _NAME_RULE, PipelineParameter, _valid_name, _value_json, _value_type

        if isinstance(value, PipelineParameter):
            if value._type() == "datapath":
                raise TypeError(f"ferry: step {self.step!r}: params[{name!r}] is datapath PipelineParameter "
                                f"{value.name!r}: read it as an input (inputs=[...]) instead")
            self.pipeline_parameters.append(value)
            j: "Dict[str, Any]" = {"name": name, "source": value.name}
        else:
            if value is None:
                raise TypeError(f"ferry: step {self.step!r}: params[{name!r}] is None; give a value")
            _value_type(value, f"step {self.step!r}: params[{name!r}]")
            j = {"name": name, "value": _value_json(value)}
        if not _valid_name(name):
            self.error(f"parameter name {name!r} is not valid: use {_NAME_RULE}")
        have = self.parameters.get(name)
        if have is not None and have != j:
            self.error(f"parameter {name!r} is given two values ({have} and {j})")
        self.parameters[name] = j


class PipelineStep:
    """What every step has (Azure's ``azureml.pipeline.core.PipelineStep``): a name, the data it
    reads and writes, its arguments, and :meth:`run_after`."""

    _type = ""

    def __init__(self, name: str, inputs: "Optional[Sequence[Any]]", outputs: "Optional[Sequence[Any]]",
                 arguments: "Optional[Sequence[Any]]" = None, fix_port_name_collisions: bool = False,
                 resource_inputs: "Any" = None) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"ferry: a step needs a non-empty name, got {name!r}")
        if resource_inputs:
            raise ValueError("ferry: resource_inputs is not supported; give the files as inputs")
        self.name = name
        self._inputs = list(inputs or [])
        self._outputs = list(outputs or [])
        self._arguments = list(arguments or [])
        self._params: "Dict[str, Any]" = getattr(self, "_pending_params", {})
        self._run_after: "List[PipelineStep]" = []
        self._register_outputs()

    def _register_outputs(self) -> None:
        """Checks the arguments, inputs and outputs (unknown kinds are refused now), and marks
        each output as written by this step (the last step made with it, as Azure has it): a
        pipeline with resolve_closure finds the step from the data a listed step reads."""
        from .pipelines import _output_identity

        for o in self._io().produced:
            _output_identity(o)._producer_step = self

    @property
    def inputs(self) -> "List[Any]":
        return list(self._inputs)

    @property
    def outputs(self) -> "List[Any]":
        return list(self._outputs)

    @property
    def arguments(self) -> "List[Any]":
        return list(self._arguments)

    def run_after(self, step: "PipelineStep") -> None:
        """Run this step only after ``step`` has completed (with no data between them)."""
        if not isinstance(step, PipelineStep):
            raise TypeError(f"ferry: run_after takes a step, got {type(step).__name__}")
        if step is self:
            raise ValueError(f"ferry: step {self.name!r} cannot run after itself")
        if all(s is not step for s in self._run_after):
            self._run_after.append(step)

    def _io(self) -> "_StepIO":
        io = _StepIO(self.name)
        for o in self._outputs:
            io.add_output(o)
        for i in self._inputs:
            io.add_input(i)
        io.args = [io.argument(a) for a in self._arguments]
        for k, v in self._params.items():
            io.parameter(k, v)
        return io

    def _produced(self) -> "List[Any]":
        return self._io().produced

    def _consumed(self) -> "List[Any]":
        return self._io().consumed

    def _snapshot_directory(self, default: "Optional[str]") -> "Optional[str]":
        return None

    def _check_snapshot(self, snap: "Any", directory: str) -> None:
        pass

    def _fields(self) -> "Dict[str, Any]":
        """The step kind's own fields of its JSON."""
        return {}

    def _step_json(self, w: "Any", default_store: str) -> "Dict[str, Any]":
        """This step's JSON; its data references, parameters, outputs and faults go to ``w``."""
        from .pipelines import _output_identity

        io = self._io()
        for e in io.errors:
            w.error(e)
        for p in io.pipeline_parameters:
            have = w.parameters.get(p.name)
            if have is not None and have is not p and have._spec() != p._spec():
                w.error(f"two PipelineParameters are named {p.name!r} with different defaults "
                        f"({have.default_value!r} and {p.default_value!r}); use one object")
            w.parameters.setdefault(p.name, p)
        for r in io.data_references:
            have = w.data_references.get(r["name"])
            if have is not None and have != r:
                w.error(f"two different data references are named {r['name']!r} ({have} and {r}); name them apart")
            w.data_references.setdefault(r["name"], r)
        for o in io.produced:
            name = io.output_ids[id(_output_identity(o))]
            have = w.outputs.get(name)
            if have is not None and have[0] is not _output_identity(o):
                w.error(f"two different outputs are named {name!r} (steps {have[1]!r} and {self.name!r}); output "
                        "names are unique in a pipeline")
            elif have is not None and have[1] != self.name:
                w.error(f"output {name!r} is written by two steps, {have[1]!r} and {self.name!r}; give it one "
                        "producer (a step that reads it has it in inputs=[...], or out.as_input() in its arguments)")
            w.outputs.setdefault(name, (_output_identity(o), self.name))
        outputs = []
        for j in io.outputs.values():
            if default_store and "datastore" not in j:
                j = dict(j, datastore=default_store)
            outputs.append(j)
        step: "Dict[str, Any]" = {"name": self.name, "type": self._type}
        step.update(self._fields())
        step["arguments"] = io.args
        if io.inputs:
            step["inputs"] = list(io.inputs.values())
        if outputs:
            step["outputs"] = outputs
        if io.parameters:
            step["parameters"] = list(io.parameters.values())
        if self._run_after:
            step["run_after"] = [s.name for s in self._run_after]
        step["allow_reuse"] = bool(getattr(self, "allow_reuse", True))
        return step


def _compute_name(compute_target: "Any", runconfig: "Any") -> str:
    """A step's target: ``compute_target`` (a name or a ComputeTarget), else the run
    configuration's unless it is ``local`` (the pipeline's default then)."""
    if compute_target is not None:
        if isinstance(compute_target, tuple):  # Azure's old (name, type)
            compute_target = compute_target[0]
        return getattr(compute_target, "name", compute_target) or ""
    target = getattr(runconfig, "target", "") or ""
    return "" if target == "local" else target


def _run_configuration(runconfig: "Any", step: str) -> "Any":
    from .run_configuration import RunConfiguration
    from .script_run_config import ScriptRunConfig

    if runconfig is None:
        return RunConfiguration()
    if isinstance(runconfig, ScriptRunConfig):
        return runconfig.run_config
    if not isinstance(runconfig, RunConfiguration):
        raise TypeError(f"ferry: step {step!r}: runconfig must be a ferry RunConfiguration, got "
                        f"{type(runconfig).__name__}")
    return runconfig


class _RunStep(PipelineStep):
    """A step that is one run of a run configuration on a compute target."""

    def __init__(self, name: str, compute_target: "Any", runconfig: "Any", runconfig_pipeline_params: "Any",
                 inputs: "Any", outputs: "Any", params: "Any", source_directory: "Optional[str]",
                 allow_reuse: bool, version: "Optional[str]", arguments: "Any") -> None:
        if runconfig_pipeline_params:
            raise ValueError(f"ferry: step {name!r}: runconfig_pipeline_params is not supported; set the run "
                             "configuration's values in the runconfig (a PipelineParameter can be an argument)")
        if params is not None and not isinstance(params, dict):
            raise TypeError(f"ferry: step {name!r}: params must be a dict of name -> value, got {type(params).__name__}")
        self.runconfig = _run_configuration(runconfig, name)
        self.compute_target = compute_target
        self.source_directory = source_directory
        self.allow_reuse = bool(allow_reuse)
        self.version = version  # Azure's step version tag; reuse follows the snapshot's content instead
        self._pending_params = dict(params or {})
        super().__init__(name, inputs, outputs, arguments)

    def _run_fields(self, compute: str) -> "Tuple[Dict[str, Any], Optional[str]]":
        """The step's run_options and interpreter, as ScriptRunConfig builds a run's."""
        from .script_run_config import _run_fields

        fields = _run_fields(self.runconfig, compute or "local")
        python = fields.pop("python", None)
        return fields, python

    def _common_fields(self) -> "Dict[str, Any]":
        compute = _compute_name(self.compute_target, self.runconfig)
        out: "Dict[str, Any]" = {}
        if compute:
            out["compute"] = compute
        options, python = self._run_fields(compute)
        if python:
            out["python"] = python
        if options:
            out["run_options"] = options
        return out


class PythonScriptStep(_RunStep):
    """``PythonScriptStep(script_name, name=None, arguments=None, compute_target=None,
    runconfig=None, inputs=None, outputs=None, params=None, source_directory=None,
    allow_reuse=True)``: a Python script (a path in ``source_directory``) run with its arguments.

    ``name`` defaults to the script's name. ``arguments``: text and numbers, PipelineData and
    other data (their paths on the target), PipelineParameters (their values). ``inputs`` /
    ``outputs``: data the step reads / writes that the arguments need not name (the script finds
    an input as ``Run.get_context().input_datasets[name]``). ``params``: named values, literal or
    PipelineParameter. ``runconfig``: a RunConfiguration (environment, container, node count,
    environment variables...); ``compute_target``: a name or a ComputeTarget. With
    ``allow_reuse`` the step's earlier result is reused when its code, settings and input data
    have not changed. ``hash_paths`` and ``version`` are accepted and not used: the whole
    snapshot's content decides reuse. ``runconfig_pipeline_params`` is refused."""

    _type = "PythonScriptStep"

    def __init__(self, script_name: str, name: "Optional[str]" = None, arguments: "Optional[Sequence[Any]]" = None,
                 compute_target: "Any" = None, runconfig: "Any" = None, runconfig_pipeline_params: "Any" = None,
                 inputs: "Optional[Sequence[Any]]" = None, outputs: "Optional[Sequence[Any]]" = None,
                 params: "Optional[Dict[str, Any]]" = None, source_directory: "Optional[str]" = None,
                 allow_reuse: bool = True, version: "Optional[str]" = None, hash_paths: "Any" = None) -> None:
        if not isinstance(script_name, str) or not script_name:
            raise ValueError("ferry: PythonScriptStep needs script_name, a path inside source_directory")
        self.script_name = script_name
        self.hash_paths = hash_paths
        if name is None:  # Azure names the step after its script; '/' is not in a step name
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", script_name.replace(os.sep, "/").lstrip("./") or script_name)
        super().__init__(name, compute_target, runconfig, runconfig_pipeline_params, inputs,
                         outputs, params, source_directory, allow_reuse, version, arguments)

    def _snapshot_directory(self, default: "Optional[str]") -> "Optional[str]":
        return self.source_directory or default or "."

    def _check_snapshot(self, snap: "Any", directory: str) -> None:
        from .script_run_config import _require_script

        _require_script(snap, directory, self.script_name)

    def _fields(self) -> "Dict[str, Any]":
        from .script_run_config import _snapshot_path

        return {**self._common_fields(), "script_name": _snapshot_path(self.script_name)}


class CommandStep(_RunStep):
    """``CommandStep(command, name=None, compute_target=None, runconfig=None, inputs=None,
    outputs=None, params=None, source_directory=None, allow_reuse=True)``: a command line run in
    the step's working copy of ``source_directory`` (default: the pipeline's, else the current
    folder; snapshotted as a PythonScriptStep's). ``command``
    is a string (a shell command line) or a list whose first element is the program and whose
    others are its arguments (text, data and PipelineParameters, as PythonScriptStep's
    arguments). A ScriptRunConfig may be given as ``runconfig`` (its run configuration is used)."""

    _type = "CommandStep"

    def __init__(self, command: "Any" = None, name: "Optional[str]" = None, compute_target: "Any" = None,
                 runconfig: "Any" = None, runconfig_pipeline_params: "Any" = None,
                 inputs: "Optional[Sequence[Any]]" = None, outputs: "Optional[Sequence[Any]]" = None,
                 params: "Optional[Dict[str, Any]]" = None, source_directory: "Optional[str]" = None,
                 allow_reuse: bool = True, version: "Optional[str]" = None) -> None:
        if isinstance(command, (list, tuple)):
            if not command or not isinstance(command[0], str):
                raise ValueError("ferry: CommandStep(command=[...]) starts with the program to run (text)")
            self.command, arguments = command[0], list(command[1:])
        elif isinstance(command, str) and command.strip():
            self.command, arguments = command, []
        else:
            raise ValueError("ferry: CommandStep needs command=, a command line or a list [program, arguments...]")
        super().__init__(name or self.command.split()[0], compute_target, runconfig, runconfig_pipeline_params,
                         inputs, outputs, params, source_directory, allow_reuse, version, arguments)

    def _snapshot_directory(self, default: "Optional[str]") -> "Optional[str]":
        return self.source_directory or default or "."

    def _fields(self) -> "Dict[str, Any]":
        return {**self._common_fields(), "command": self.command}
