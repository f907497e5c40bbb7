"""What to run and where: :class:`ScriptRunConfig` and the distributed job configurations."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, Optional, Sequence


class MpiConfiguration:
    """MPI launch: ``process_count_per_node`` ranks on each node (Ferry communicator OpenMpi)."""

    communicator = "OpenMpi"

    def __init__(self, process_count_per_node: int = 1, node_count: "Optional[int]" = None) -> None:
        self.process_count_per_node = process_count_per_node
        self.node_count = node_count


class PyTorchConfiguration:
    """torch.distributed: ``communication_backend`` "Nccl" (GPUs) or "Gloo"; one process per node
    unless ``process_count`` says otherwise (spread over ``node_count`` nodes)."""

    def __init__(self, communication_backend: str = "Nccl", process_count: "Optional[int]" = None,
                 node_count: "Optional[int]" = None) -> None:
        if communication_backend not in ("Nccl", "Gloo"):
            raise ValueError(f"ferry: communication_backend must be 'Nccl' or 'Gloo', got {communication_backend!r}")
        self.communicator = communication_backend
        self.process_count = process_count
        self.node_count = node_count


class TensorflowConfiguration:
    """TensorFlow parameter servers and workers (Ferry communicator ParameterServer)."""

    communicator = "ParameterServer"

    def __init__(self, worker_count: int = 1, parameter_server_count: int = 1) -> None:
        self.worker_count = worker_count
        self.parameter_server_count = parameter_server_count


class ScriptRunConfig:
    """``ScriptRunConfig(source_directory, script, arguments, compute_target, environment,
    node_count, distributed_job_config)``: the script (a path inside ``source_directory``), its
    arguments, the target (a name or a :class:`ferry.ComputeTarget`; ``local`` by default) and,
    optionally, an :class:`ferry.Environment` (registered: by name and version; not registered:
    its text), a node count and a distributed configuration.

    Also: ``python`` (interpreter on the target; default ``python3`` there),
    ``environment_variables``, ``max_run_duration_seconds``, ``gpus``,
    ``requeue_on_node_loss``, ``docker_image``.
    """

    def __init__(self, source_directory: str = ".", script: "Optional[str]" = None,
                 arguments: "Optional[Sequence[Any]]" = None, compute_target: "Any" = None,
                 environment: "Any" = None, node_count: int = 1, distributed_job_config: "Any" = None,
                 python: "Optional[str]" = None, environment_variables: "Optional[Dict[str, str]]" = None,
                 max_run_duration_seconds: "Optional[int]" = None, gpus: int = 0,
                 requeue_on_node_loss: bool = False, docker_image: "Optional[str]" = None,
                 run_config: "Any" = None) -> None:
        if run_config is not None:
            from .run_configuration import RunConfiguration

            if not isinstance(run_config, RunConfiguration):
                raise TypeError("ferry: run_config must be a ferry.RunConfiguration")
        script = script or (run_config.script if run_config is not None else None)
        if not script:
            raise ValueError("ferry: ScriptRunConfig needs the script to run (a path inside source_directory), "
                             "here or as the run configuration's 'script'")
        self.run_config = run_config
        self.source_directory = source_directory
        self.script = script
        if arguments is None and run_config is not None:
            arguments = run_config.arguments
        self._inputs: "Dict[str, Any]" = {}
        self._outputs: "Dict[str, Any]" = {}
        self.arguments = [self._data_argument(a) for a in (arguments or [])]
        self.compute_target = compute_target
        if environment is None and run_config is not None and hasattr(run_config.environment, "_run_fields"):
            environment = run_config.environment  # Azure's run_config.environment = Environment(...)
        self.environment = environment
        self.node_count = node_count
        self.distributed_job_config = distributed_job_config
        self.python = python
        self.environment_variables = dict(environment_variables or {})
        self.max_run_duration_seconds = max_run_duration_seconds
        self.gpus = gpus
        self.requeue_on_node_loss = requeue_on_node_loss
        self.docker_image = docker_image

    def _data_argument(self, a: "Any") -> str:
        """An argument as text; a dataset input or output is also recorded, and becomes its
        local path on the target (docs/data.md)."""
        if isinstance(a, str):
            return a
        if hasattr(a, "_consumption"):  # DataReference: the files under its path
            a = a._consumption()
        elif hasattr(a, "as_named_input") and not hasattr(a, "_spec"):  # a dataset itself
            a = a.as_named_input(a.name or "input")
        kind = type(a).__name__
        if kind in ("DatasetConsumptionConfig", "ModelConsumptionConfig"):
            seen = self._inputs.get(a.name)
            if seen is not None and seen._spec() != a._spec():
                raise ValueError(f"ferry: two different inputs are named {a.name!r}; name them apart with as_named_input()")
            self._inputs[a.name] = a
        elif kind == "OutputFileDatasetConfig":
            seen = self._outputs.get(a.name)
            if seen is not None and seen is not a:
                raise ValueError(f"ferry: two outputs are named {a.name!r}; give each OutputFileDatasetConfig its own name")
            self._outputs[a.name] = a
        return str(a)

    def _target_name(self) -> str:
        t = self.compute_target
        if t is None:
            return (self.run_config.target if self.run_config is not None and self.run_config.target else "local")
        return t if isinstance(t, str) else t.name

    def _apply_run_config(self, body: "Dict[str, Any]") -> None:
        """The run configuration's settings under this object's own (which win): the CLI's
        rules for `ferry run submit -c` (src/cli/verb_run_submit.cc, ApplyRunConfig)."""
        rc = self.run_config
        where = rc.path or "the run configuration"
        if rc.framework != "Python":
            raise ValueError(f"ferry: {where}: framework {rc.framework!r} is not supported by this version; use Python")
        env, py, docker = rc.environment, rc.environment.python, rc.environment.docker
        if docker.enabled and "docker" not in body and env is not self.environment:
            if not docker.base_image:
                raise ValueError(f"ferry: {where}: environment.docker.baseImage is required when "
                                 "environment.docker.enabled is true")
            body["docker"] = {"enabled": True, "base_image": docker.base_image}
            if docker.shm_size:
                body["docker"]["shm_size"] = docker.shm_size
            if docker.arguments:
                body["docker"]["arguments"] = list(docker.arguments)
        if self.environment is None and not py.user_managed_dependencies:
            if rc.requirements_file:
                body["environment"] = {"type": "pip", "file": rc.requirements_file}
            elif py.conda_dependencies_file:
                body["environment"] = {"type": "conda", "file": py.conda_dependencies_file}
            elif env.name:
                body["environment"] = {"name": env.name}
                if env.version and str(env.version).isdigit():
                    body["environment"]["version"] = int(env.version)
            else:
                raise ValueError(
                    f"ferry: {where}: environment.python.userManagedDependencies is false: say how to build the "
                    "environment with requirementsFile (pip), environment.python.condaDependenciesFile (conda) or "
                    "environment.name (a registered environment), or set userManagedDependencies: true with "
                    "interpreterPath")
        if "python" not in body and py.interpreter_path:
            body["python"] = py.interpreter_path
        if env.environment_variables:
            body["environment_variables"] = {**env.environment_variables, **body.get("environment_variables", {})}
        if rc.max_run_duration_seconds and "max_run_duration_seconds" not in body:
            body["max_run_duration_seconds"] = int(rc.max_run_duration_seconds)
        if rc.gpus and "gpus" not in body:
            body["gpus"] = int(rc.gpus)
        if rc.requeue_on_node_loss:
            body["requeue_on_node_loss"] = True
        if rc.priority:
            body["priority"] = rc.priority
        if self.distributed_job_config is None:
            if rc.communicator and rc.communicator != "None":
                body["communicator"] = rc.communicator
            if rc.mpi.process_count_per_node != 1:
                body["process_count_per_node"] = rc.mpi.process_count_per_node
            if rc.tensorflow.worker_count != 1 or rc.tensorflow.parameter_server_count != 1:
                body["worker_count"] = rc.tensorflow.worker_count
                body["parameter_server_count"] = rc.tensorflow.parameter_server_count
        if "node_count" not in body and self.node_count == 1 and rc.node_count != 1:
            body["node_count"] = int(rc.node_count)

    def _script_path(self) -> str:
        """The script as a path in the snapshot ('/'-separated, no leading './')."""
        script = self.script.replace(os.sep, "/")
        while script.startswith("./"):
            script = script[2:]
        return script

    def _body(self, experiment: str, snapshot_id: str, tags: "Optional[Dict[str, str]]") -> "Dict[str, Any]":
        """The fields of POST /runs."""
        script = self._script_path()
        body: "Dict[str, Any]" = {"experiment": experiment, "target": self._target_name(), "script": script,
                                  "arguments": self.arguments, "snapshot_id": snapshot_id,
                                  "tags": {k: str(v) for k, v in (tags or {}).items()}}
        if self._inputs:
            body["inputs"] = [i._spec() for i in self._inputs.values()]
        if self._outputs:
            body["outputs"] = [o._spec() for o in self._outputs.values()]
        if self.python:
            body["python"] = self.python
        if self.environment_variables:
            body["environment_variables"] = self.environment_variables
        if self.max_run_duration_seconds:
            body["max_run_duration_seconds"] = int(self.max_run_duration_seconds)
        if self.gpus:
            body["gpus"] = int(self.gpus)
        if self.requeue_on_node_loss:
            body["requeue_on_node_loss"] = True
        if self.docker_image:
            body["docker"] = {"enabled": True, "base_image": self.docker_image}
        env = self.environment
        if env is not None:  # its spec, interpreter, image and variables; this object's own win
            for key, value in env._run_fields().items():
                if key == "environment_variables":
                    body[key] = {**value, **body.get(key, {})}
                else:
                    body.setdefault(key, value)
        d = self.distributed_job_config
        nodes = self.node_count
        if d is not None:
            body["communicator"] = d.communicator
            nodes = getattr(d, "node_count", None) or nodes
            if isinstance(d, MpiConfiguration):
                body["process_count_per_node"] = d.process_count_per_node
            elif isinstance(d, PyTorchConfiguration) and d.process_count:
                body["process_count_per_node"] = max(1, d.process_count // max(1, nodes))
            elif isinstance(d, TensorflowConfiguration):
                body["worker_count"] = d.worker_count
                body["parameter_server_count"] = d.parameter_server_count
        if nodes and nodes != 1:
            body["node_count"] = int(nodes)
        if self.run_config is not None:
            self._apply_run_config(body)
        return body
