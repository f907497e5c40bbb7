"""The :class:`RunConfiguration`: a run configuration file (Azure ML's ``.runconfig`` fields plus
Ferry's; docs/run-configuration.md) as an object: loaded (parsed by the server, with the CLI's
parser and its ``file:line:column`` errors), changed, saved, and given to a ScriptRunConfig."""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, List, Optional

    from .workspace import Workspace


class _Section:
    """A group of settings with attribute access (``rc.mpi.process_count_per_node``)."""

    def __init__(self, **fields: "Any") -> None:
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


class PythonSection(_Section):
    def __init__(self) -> None:
        super().__init__(user_managed_dependencies=False, interpreter_path="", conda_dependencies_file="",
                         base_conda_environment="")


class DockerSection(_Section):
    def __init__(self) -> None:
        super().__init__(enabled=False, base_image="", shared_volumes=True, shm_size="", arguments=[])


class EnvironmentSection(_Section):
    def __init__(self) -> None:
        super().__init__(name="", version="", environment_variables={}, python=PythonSection(), docker=DockerSection())


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
    ("gpus", "resources.gpus"), ("requirements_file", "requirementsFile"), ("priority", "priority"),
    ("requeue_on_node_loss", "requeueOnNodeLoss"),
]


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
    """A run configuration. ``RunConfiguration()`` has the file format's defaults;
    :meth:`load` reads a file; :meth:`save` writes one the CLI and the server read back."""

    def __init__(self, script: "Optional[str]" = None, arguments: "Optional[List[str]]" = None,
                 target: str = "local") -> None:
        self.script = script or ""
        self.arguments = list(arguments or [])
        self.target = target
        self.framework = "Python"
        self.communicator = "None"
        self.node_count = 1
        self.max_run_duration_seconds: "Optional[int]" = None
        self.environment = EnvironmentSection()
        self.history = _Section(output_collection=True, snapshot_project=True, directories_to_watch=[])
        self.mpi = _Section(process_count_per_node=1)
        self.tensorflow = _Section(worker_count=1, parameter_server_count=1)
        self.gpus = 0
        self.requirements_file = ""
        self.priority = ""
        self.requeue_on_node_loss = False
        self.path: "Optional[str]" = None
        self.unused_fields: "List[str]" = []  # set in the file, not used by Ferry

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
            _set(rc, attr, _get(answer["config"], field))
        rc.path = file
        rc.unused_fields = answer.get("unused_fields", [])
        return rc

    def to_dict(self) -> "Dict[str, Any]":
        """The file's structure (its camelCase field names)."""
        out: "Dict[str, Any]" = {}
        for attr, field in _FIELDS:
            value = _get(self, attr)
            if value is None or value == "":
                continue
            node = out
            parts = field.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
        return out

    def save(self, path: "Optional[str]" = None, name: "Optional[str]" = None) -> str:
        """Writes the file: to ``path`` (a file), or as ``<path>/.azureml/<name>.runconfig``;
        default: where it was loaded from. Written to a temporary name and renamed."""
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
