"""What to run and where: :class:`ScriptRunConfig` and the distributed job configurations."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, List, Optional, Sequence, Union


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
                 requeue_on_node_loss: bool = False, docker_image: "Optional[str]" = None) -> None:
        if not script:
            raise ValueError("ferry: ScriptRunConfig needs the script to run (a path inside source_directory)")
        self.source_directory = source_directory
        self.script = script
        self.arguments = [a if isinstance(a, str) else str(a) for a in (arguments or [])]
        self.compute_target = compute_target
        self.environment = environment
        self.node_count = node_count
        self.distributed_job_config = distributed_job_config
        self.python = python
        self.environment_variables = dict(environment_variables or {})
        self.max_run_duration_seconds = max_run_duration_seconds
        self.gpus = gpus
        self.requeue_on_node_loss = requeue_on_node_loss
        self.docker_image = docker_image

    def _target_name(self) -> str:
        t = self.compute_target
        if t is None:
            return "local"
        return t if isinstance(t, str) else t.name

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
        if env is not None:
            if env.version is not None:
                body["environment"] = {"name": env.name, "version": env.version}
            else:
                body["environment"] = {"type": env.spec_type, "content": env.content}
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
        return body
