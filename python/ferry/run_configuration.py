"""The :class:`RunConfiguration`: a run configuration file (Azure ML's ``.runconfig`` fields plus
Ferry's; docs/run-configuration.md) as an object: loaded (parsed by the server, with the CLI's
parser and its ``file:line:column`` errors), changed, saved, and given to a ScriptRunConfig -
whose ``run_config`` it always is: what the submission uses (docs/sdk.md, "Run
configurations"). Also the distributed job configurations (:class:`MpiConfiguration`,
:class:`PyTorchConfiguration`, :class:`TensorflowConfiguration`), :class:`DockerConfiguration`
and the default container images."""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, List, Optional

    from .workspace import Workspace

# The images a run uses when it asks for a container and names none (Azure's names for them).
# Public images with Python 3 on PATH; a target pulls them (or has them loaded, when it cannot
# reach a registry: `docker load`), see docs/run-configuration.md.
DEFAULT_CPU_IMAGE = "python:3.11-slim"
DEFAULT_GPU_IMAGE = "pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime"
MPI_CPU_IMAGE = DEFAULT_CPU_IMAGE
MPI_GPU_IMAGE = DEFAULT_GPU_IMAGE

LOCAL_RUNCONFIG_NAME = "local"
RUNCONFIGURATION_EXTENSION = ".runconfig"
COMPUTECONTEXT_EXTENSION = ".compute"
AML_CONFIG_DIR = "aml_config"
AZUREML_DIR = ".azureml"

_FRAMEWORKS = ("Python", "PyTorch", "TensorFlow", "PySpark")
_COMMUNICATORS = ("None", "Gloo", "Nccl", "OpenMpi", "IntelMpi", "ParameterServer")


def _one_of(field: str, value: "Any", allowed: "tuple") -> str:
    """``value`` in ``allowed``'s spelling, compared without case (Azure writes ``python``)."""
    for a in allowed:
        if isinstance(value, str) and value.lower() == a.lower():
            return a
    raise ValueError(f"ferry: {field} {value!r} is not allowed; use one of: {', '.join(allowed)}")


class _Section:
    """A group of settings with attribute access (``rc.history.output_collection``)."""

    def __init__(self, **fields: "Any") -> None:
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


class PythonSection(_Section):
    def __init__(self) -> None:
        super().__init__(user_managed_dependencies=False, interpreter_path="", conda_dependencies_file="",
                         base_conda_environment="", conda_dependencies=None)


class DockerSection(_Section):
    def __init__(self) -> None:
        super().__init__(enabled=False, base_image="", shared_volumes=True, shm_size="", arguments=[])


class EnvironmentSection(_Section):
    """The ``environment`` of a run configuration that names no :class:`ferry.Environment`:
    the file's fields (a requirements or conda file, a registered name, or the interpreter of a
    user-managed environment). Assign a :class:`ferry.Environment` to ``run_config.environment``
    to use that instead."""

    def __init__(self) -> None:
        super().__init__(name="", version="", environment_variables={}, python=PythonSection(), docker=DockerSection())


class HistoryConfiguration(_Section):
    """Azure's history settings (read and written; Ferry always keeps outputs/ and logs/)."""

    def __init__(self) -> None:
        super().__init__(output_collection=True, snapshot_project=True, directories_to_watch=["logs"])


class AmlComputeConfiguration(_Section):
    """Run-based compute: with ``target = "amlcompute"``, the server makes a managed cluster for
    the run - ``vm_size`` a node size of the workspace's catalog, ``vm_priority`` ``dedicated``
    or ``lowpriority``, at most ``_cluster_max_node_count`` nodes (default: the run's node
    count), named ``_name`` (default: the run's id) - and deletes it when the run has ended,
    unless ``_retain_cluster``. Ignored for any other target (docs/run-configuration.md)."""

    def __init__(self) -> None:
        super().__init__(vm_size=None, vm_priority=None, _retain_cluster=False, _name=None,
                         _cluster_max_node_count=None)

    def _spec(self) -> "Optional[Dict[str, Any]]":
        """The ``amlcompute`` field of POST /runs; None when nothing is set."""
        spec = {"vm_size": self.vm_size or "", "vm_priority": self.vm_priority or "", "name": self._name or "",
                "cluster_max_node_count": int(self._cluster_max_node_count or 0),
                "retain_cluster": bool(self._retain_cluster)}
        if spec["vm_priority"]:
            spec["vm_priority"] = _one_of("amlcompute.vm_priority", spec["vm_priority"], ("dedicated", "lowpriority"))
        return spec if any(spec.values()) else None


class MpiConfiguration:
    """MPI launch: ``process_count_per_node`` ranks on each of ``node_count`` nodes (Ferry's
    communicator OpenMpi)."""

    communicator = "OpenMpi"

    def __init__(self, process_count_per_node: int = 1, node_count: int = 1) -> None:
        self.process_count_per_node = process_count_per_node
        self.node_count = node_count

    def __repr__(self) -> str:
        return f"MpiConfiguration(process_count_per_node={self.process_count_per_node}, node_count={self.node_count})"


class PyTorchConfiguration:
    """torch.distributed: ``communication_backend`` "Nccl" (GPUs) or "Gloo" (any case); one
    process per node unless ``process_count`` (over all ``node_count`` nodes) says otherwise."""

    def __init__(self, communication_backend: str = "Nccl", process_count: "Optional[int]" = None,
                 node_count: int = 1) -> None:
        self.communicator = _one_of("communication_backend", communication_backend, ("Nccl", "Gloo"))
        self.process_count = process_count
        self.node_count = node_count

    @property
    def communication_backend(self) -> str:
        return self.communicator.lower()  # as Azure stores it

    def __repr__(self) -> str:
        return (f"PyTorchConfiguration(communication_backend={self.communicator!r}, "
                f"process_count={self.process_count}, node_count={self.node_count})")


class TensorflowConfiguration:
    """TensorFlow parameter servers and workers (Ferry's communicator ParameterServer); the
    workers are the nodes."""

    communicator = "ParameterServer"

    def __init__(self, worker_count: int = 1, parameter_server_count: int = 1) -> None:
        self.worker_count = worker_count
        self.parameter_server_count = parameter_server_count

    @property
    def node_count(self) -> int:
        return self.worker_count

    def __repr__(self) -> str:
        return (f"TensorflowConfiguration(worker_count={self.worker_count}, "
                f"parameter_server_count={self.parameter_server_count})")


class DockerConfiguration:
    """Whether the run goes into a container, and the container's settings. The image is the
    environment's ``docker.base_image`` (:data:`DEFAULT_CPU_IMAGE` when it names none)."""

    def __init__(self, use_docker: bool = False, shared_volumes: bool = True,
                 arguments: "Optional[List[str]]" = None, shm_size: "Optional[str]" = None) -> None:
        self.use_docker = use_docker
        self.shared_volumes = shared_volumes
        self.arguments = list(arguments or [])
        self.shm_size = shm_size

    def __repr__(self) -> str:
        return (f"DockerConfiguration(use_docker={self.use_docker}, shared_volumes={self.shared_volumes}, "
                f"arguments={self.arguments!r}, shm_size={self.shm_size!r})")


# (attribute path, file field path) of every setting.
_FIELDS = [
    ("script", "script"), ("arguments", "arguments"), ("target", "target"), ("framework", "framework"),
    ("communicator", "communicator"), ("node_count", "nodeCount"),
    ("max_run_duration_seconds", "maxRunDurationSeconds"),
    ("environment.name", "environment.name"), ("environment.version", "environment.version"),
    ("environment.environment_variables", "environment.environmentVariables"),
    ("environment.python.user_managed_dependencies", "environment.python.userManagedDependencies"),
    ("environment.python.interpreter_path", "environment.python.interpreterPath"),
    ("environment.python.conda_dependencies_file", "environment.python.condaDependenciesFile"),
    ("environment.python.base_conda_environment", "environment.python.baseCondaEnvironment"),
    ("environment.docker.enabled", "environment.docker.enabled"),
    ("environment.docker.base_image", "environment.docker.baseImage"),
    ("environment.docker.shared_volumes", "environment.docker.sharedVolumes"),
    ("environment.docker.shm_size", "environment.docker.shmSize"),
    ("environment.docker.arguments", "environment.docker.arguments"),
    ("history.output_collection", "history.outputCollection"),
    ("history.snapshot_project", "history.snapshotProject"),
    ("history.directories_to_watch", "history.directoriesToWatch"),
    ("mpi.process_count_per_node", "mpi.processCountPerNode"),
    ("tensorflow.worker_count", "tensorflow.workerCount"),
    ("tensorflow.parameter_server_count", "tensorflow.parameterServerCount"),
    ("pytorch.process_count", "pytorch.processCount"),
    ("docker.use_docker", "docker.useDocker"), ("docker.shared_volumes", "docker.sharedVolumes"),
    ("docker.shm_size", "docker.shmSize"), ("docker.arguments", "docker.arguments"),
    ("environment_variables", "environmentVariables"),
    ("gpus", "resources.gpus"), ("requirements_file", "requirementsFile"), ("priority", "priority"),
    ("requeue_on_node_loss", "requeueOnNodeLoss"),
    ("amlcompute.vm_size", "amlcompute.vmSize"), ("amlcompute.vm_priority", "amlcompute.vmPriority"),
    ("amlcompute._name", "amlcompute.name"), ("amlcompute._cluster_max_node_count", "amlcompute.clusterMaxNodeCount"),
    ("amlcompute._retain_cluster", "amlcompute.retainCluster"),
]
# Read from a parsed file when the server's answer has them (an older server's may not).
_OPTIONAL = {"pytorch.processCount", "docker.useDocker", "docker.sharedVolumes", "docker.shmSize",
             "docker.arguments", "environmentVariables", "amlcompute.vmSize", "amlcompute.vmPriority",
             "amlcompute.name", "amlcompute.clusterMaxNodeCount", "amlcompute.retainCluster"}


def _get(obj: "Any", dotted: str) -> "Any":
    for part in dotted.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


def _set(obj: "Any", dotted: str, value: "Any") -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        obj = getattr(obj, part)
    setattr(obj, parts[-1], value)


class RunConfiguration:
    """A run configuration: what a run executes and where. ``RunConfiguration()`` has the file
    format's defaults; :meth:`load` reads a file; :meth:`save` writes one the CLI and the server
    read back. A :class:`ferry.ScriptRunConfig`'s ``run_config`` is one: changing its fields
    (``src.run_config.target = "gpu-box"``) changes what is submitted.

    ``framework`` and ``communicator`` are compared without case (``"python"`` is
    ``"Python"``); PyTorch and TensorFlow run a Python script too. ``environment`` is the file's
    :class:`EnvironmentSection` or a :class:`ferry.Environment`; ``docker`` a
    :class:`DockerConfiguration`; ``mpi``, ``pytorch``, ``tensorflow`` the distributed settings
    that go with ``communicator``; ``environment_variables`` the run's own (over the
    environment's).
    """

    def __init__(self, script: "Optional[str]" = None, arguments: "Optional[List[str]]" = None,
                 framework: "Optional[str]" = None, communicator: "Optional[str]" = None,
                 conda_dependencies: "Any" = None, _history_enabled: "Optional[bool]" = None,
                 _path: "Optional[str]" = None, _name: "Optional[str]" = None, command: "Any" = None,
                 *, target: "Any" = "local") -> None:
        self.script = script or ""
        self.arguments = list(arguments or [])
        self.command = command or ""
        self.target = target
        self.framework = framework or "Python"
        self.communicator = communicator or "None"
        self.node_count = 1
        self.max_run_duration_seconds: "Optional[int]" = None
        self.environment: "Any" = EnvironmentSection()
        self.history = HistoryConfiguration()
        if _history_enabled is not None:
            self.history.output_collection = bool(_history_enabled)
        self.docker = DockerConfiguration()
        self.mpi = MpiConfiguration()
        self.pytorch = PyTorchConfiguration()
        self.tensorflow = TensorflowConfiguration()
        self.amlcompute = AmlComputeConfiguration()
        self.environment_variables: "Dict[str, str]" = {}
        self.data: "Dict[str, Any]" = {}
        self.gpus = 0
        self.requirements_file = ""
        self.priority = ""
        self.requeue_on_node_loss = False
        self.path: "Optional[str]" = _path
        self.unused_fields: "List[str]" = []  # set in the file, not used by Ferry
        if conda_dependencies is not None:
            self.environment.python.conda_dependencies = conda_dependencies

    # Azure's RunConfiguration keeps the target's name; a compute target object gives its name.
    @property
    def target(self) -> str:
        return self._target

    @target.setter
    def target(self, value: "Any") -> None:
        if value is not None and not isinstance(value, str):
            name = getattr(value, "name", None)
            if not isinstance(name, str):
                raise TypeError(f"ferry: a run's target is a name or a compute target, got {type(value).__name__}")
            value = name
        self._target = value or "local"

    @property
    def framework(self) -> str:
        return self._framework

    @framework.setter
    def framework(self, value: str) -> None:
        self._framework = _one_of("framework", value, _FRAMEWORKS)

    @property
    def communicator(self) -> str:
        return self._communicator

    @communicator.setter
    def communicator(self, value: str) -> None:
        self._communicator = _one_of("communicator", value, _COMMUNICATORS)

    @property
    def distributed_job_config(self) -> "Any":
        """The section that goes with ``communicator`` (``None`` for a one-process run)."""
        c = self.communicator
        if c in ("OpenMpi", "IntelMpi"):
            return self.mpi
        if c in ("Nccl", "Gloo"):
            return self.pytorch
        if c == "ParameterServer":
            return self.tensorflow
        return None

    def _use_distributed(self, d: "Any") -> None:
        """Takes a Mpi/PyTorch/Tensorflow configuration: its section, communicator, framework
        and node count (what ScriptRunConfig(distributed_job_config=...) does)."""
        if isinstance(d, TensorflowConfiguration):
            self.tensorflow, self.framework = d, "TensorFlow"
        elif isinstance(d, MpiConfiguration):
            self.mpi, self.framework = d, "Python"
        elif isinstance(d, PyTorchConfiguration):
            self.pytorch, self.framework = d, "PyTorch"
        else:
            raise TypeError("ferry: distributed_job_config must be a MpiConfiguration, PyTorchConfiguration or "
                            f"TensorflowConfiguration, got {type(d).__name__}")
        self.communicator = d.communicator
        self.node_count = int(d.node_count or 1)

    @classmethod
    def load(cls, path: str, name: "Optional[str]" = None, workspace: "Optional[Workspace]" = None) -> "RunConfiguration":
        """A file (``path``), or the configuration ``name`` of a project folder (``path``:
        ``.ferry/``, ``.azureml/`` or ``aml_config/`` ``<name>.runconfig``). Parsed by the
        workspace's server (the local one by default), with the CLI's checks and errors.

        :raises ferry.FerryError: an invalid file (``file:line:column: field '...'``).
        """
        file = _find(path, name)
        with open(file, encoding="utf-8") as f:
            text = f.read()
        if workspace is None:
            from .workspace import Workspace

            workspace = Workspace()
        answer = workspace._client.call("POST", "/runconfigs/parse", {"text": text, "name": file})
        rc = cls()
        for attr, field in _FIELDS:
            try:
                value = _get(answer["config"], field)
            except (KeyError, TypeError):
                if field in _OPTIONAL:
                    continue
                raise
            if field == "pytorch.processCount":
                rc.pytorch.process_count = value
                continue
            _set(rc, attr, value)
        backend = _get(answer["config"], "pytorch").get("communicationBackend") if "pytorch" in answer["config"] else None
        if backend:
            rc.pytorch.communicator = _one_of("communication_backend", backend, ("Nccl", "Gloo"))
        rc.path = file
        rc.unused_fields = answer.get("unused_fields", [])
        return rc

    def to_dict(self) -> "Dict[str, Any]":
        """The file's structure (its camelCase field names)."""
        out: "Dict[str, Any]" = {}
        env = self.environment
        for attr, field in _FIELDS:
            if attr.startswith("environment.") and not isinstance(env, EnvironmentSection):
                continue  # a ferry.Environment is not written into the file (register it, name it)
            value = _get(self, attr)
            if value is None or value == "" or (field in _OPTIONAL and not value):
                continue
            node = out
            parts = field.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
        if not isinstance(env, EnvironmentSection) and getattr(env, "name", None):
            out["environment"] = {"name": env.name}
            if getattr(env, "version", None) is not None:
                out["environment"]["version"] = str(env.version)
        if self.communicator in ("Nccl", "Gloo"):
            out.setdefault("pytorch", {})["communicationBackend"] = self.communicator  # the one used
        return out

    def save(self, path: "Optional[str]" = None, name: "Optional[str]" = None,
             separate_environment_yaml: bool = False) -> str:
        """Writes the file: to ``path`` (a file), or as ``<path>/.azureml/<name>.runconfig``;
        default: where it was loaded from. Written to a temporary name and renamed.
        (``separate_environment_yaml`` is accepted; the environment's fields are in the file.)"""
        if name:
            file = os.path.join(path or ".", ".azureml", name if name.endswith(".runconfig") else name + ".runconfig")
        else:
            file = path or self.path
            if not file:
                raise ValueError("ferry: save() needs a path (or a folder and a name)")
        os.makedirs(os.path.dirname(os.path.abspath(file)), exist_ok=True)
        text = "# Run configuration (docs/run-configuration.md), written by ferry.RunConfiguration.save\n"
        text += _yaml(self.to_dict(), 0)
        tmp = file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, file)
        self.path = file
        return file

    @staticmethod
    def delete(path: str, name: str) -> None:
        """Deletes the configuration ``name`` of the project folder ``path`` (where :meth:`load`
        finds it).

        :raises FileNotFoundError: when there is none.
        """
        os.remove(_find(path, name))

    @property
    def auto_prepare_environment(self) -> bool:
        """Azure's deprecated setting: environments are always prepared."""
        return True

    @auto_prepare_environment.setter
    def auto_prepare_environment(self, _: bool) -> None:
        pass

    def __repr__(self) -> str:
        return f"<ferry.RunConfiguration script={self.script!r} target={self.target!r} path={self.path!r}>"


def _scalar(v: "Any") -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))  # a JSON string is a YAML double-quoted scalar


def _yaml(d: "Dict[str, Any]", indent: int) -> str:
    lines = []
    pad = " " * indent
    for k, v in d.items():
        if isinstance(v, dict):
            if not v:
                lines.append(f"{pad}{k}: {{}}\n")
            elif all(not isinstance(x, (dict, list)) for x in v.values()) and k == "environmentVariables":
                lines.append(f"{pad}{k}:\n" + "".join(f"{pad}  {json.dumps(str(a))}: {_scalar(b)}\n" for a, b in v.items()))
            else:
                lines.append(f"{pad}{k}:\n" + _yaml(v, indent + 2))
        elif isinstance(v, list):
            lines.append(f"{pad}{k}: [{', '.join(_scalar(x) for x in v)}]\n")
        else:
            lines.append(f"{pad}{k}: {_scalar(v)}\n")
    return "".join(lines)


def _find(path: str, name: "Optional[str]") -> str:
    if not name:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"ferry: no run configuration file {path}")
        return path
    tried = []
    for folder in (".ferry", ".azureml", "aml_config"):
        for suffix in (".runconfig", ""):
            p = os.path.join(path, folder, name + suffix)
            tried.append(p)
            if os.path.isfile(p):
                return p
    raise FileNotFoundError(f"ferry: run configuration '{name}' not found; tried {', '.join(tried)}")
