"""What to run and where: :class:`ScriptRunConfig` and the distributed job configurations."""

from __future__ import annotations

import os

from .run_configuration import (  # the distributed configurations are re-exported from here too
    DockerConfiguration,
    EnvironmentSection,
    MpiConfiguration,
    PyTorchConfiguration,
    RunConfiguration,
    TensorflowConfiguration,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, Optional, Sequence, Tuple

__all__ = ["ScriptRunConfig", "MpiConfiguration", "PyTorchConfiguration", "TensorflowConfiguration",
           "DockerConfiguration"]


class ScriptRunConfig:
    """``ScriptRunConfig(source_directory, script, arguments, run_config, compute_target,
    environment, distributed_job_config, max_run_duration_seconds, docker_runtime_config)``:
    the script (a path inside ``source_directory``) and its arguments, and a
    :class:`ferry.RunConfiguration` (``run_config``; a new one unless given) that the other
    arguments fill: the target (a name or a :class:`ferry.ComputeTarget`; ``local`` by
    default), the :class:`ferry.Environment`, the distributed configuration and node count,
    the time limit, the container. What is submitted is ``run_config`` as it is then:
    ``src.run_config.target = "gpu-box"`` after construction changes the target.

    With ``run_config`` given, the other arguments that are given are applied to it (Azure ML
    ignores them with a warning). Ferry's own: ``node_count``, ``python`` (interpreter on the
    target; default ``python3`` there), ``environment_variables``, ``gpus``,
    ``requeue_on_node_loss``, ``docker_image``.
    """

    MAX_DURATION_SECONDS_DEFAULT = 2592000  # Azure's default; Ferry sets no limit unless given

    def __init__(self, source_directory: str = ".", script: "Optional[str]" = None,
                 arguments: "Optional[Sequence[Any]]" = None, run_config: "Any" = None,
                 _telemetry_values: "Any" = None, compute_target: "Any" = None, environment: "Any" = None,
                 distributed_job_config: "Any" = None, resume_from: "Any" = None,
                 max_run_duration_seconds: "Optional[int]" = None, command: "Any" = None,
                 docker_runtime_config: "Any" = None, *, node_count: "Optional[int]" = None,
                 python: "Optional[str]" = None, environment_variables: "Optional[Dict[str, str]]" = None,
                 gpus: int = 0, requeue_on_node_loss: bool = False, docker_image: "Optional[str]" = None) -> None:
        if run_config is None:
            run_config = RunConfiguration()
        elif not isinstance(run_config, RunConfiguration):
            raise TypeError("ferry: run_config must be a ferry.RunConfiguration, got "
                            f"{type(run_config).__name__}")
        if command:
            raise ValueError("ferry: ScriptRunConfig(command=...) is not supported; give the script and its "
                             "arguments (script='train.py', arguments=[...])")
        if resume_from is not None:
            raise ValueError("ferry: ScriptRunConfig(resume_from=...) is not supported; pass the checkpoint's "
                             "dataset or path as an argument (docs/checkpoints.md)")
        script = script or run_config.script
        if not script:
            raise ValueError("ferry: ScriptRunConfig needs the script to run (a path inside source_directory), "
                             "here or as the run configuration's 'script'")
        self.run_config = run_config
        self.source_directory = source_directory
        self.script = script
        if arguments is None:
            arguments = run_config.arguments
        self._inputs: "Dict[str, Any]" = {}
        self._outputs: "Dict[str, Any]" = {}
        self.arguments = [self._data_argument(a) for a in (arguments or [])]
        rc = run_config
        if compute_target is not None:
            rc.target = compute_target
        if environment is not None:
            rc.environment = environment
            docker = getattr(environment, "docker", None)
            # (A ferry.Environment decides its container itself: _run_fields, _docker below.)
            if docker_runtime_config is None and getattr(docker, "enabled", False) \
                    and not callable(getattr(environment, "_run_fields", None)):
                rc.docker = DockerConfiguration(
                    use_docker=True, shared_volumes=getattr(docker, "shared_volumes", True),
                    arguments=getattr(docker, "arguments", None), shm_size=getattr(docker, "shm_size", None))
        if distributed_job_config is not None:
            rc._use_distributed(distributed_job_config)
        if node_count is not None:
            rc.node_count = int(node_count)
        if max_run_duration_seconds is not None:
            rc.max_run_duration_seconds = max_run_duration_seconds
        if docker_runtime_config is not None:
            if not isinstance(docker_runtime_config, DockerConfiguration):
                raise TypeError("ferry: docker_runtime_config must be a ferry.core.runconfig.DockerConfiguration, got "
                                f"{type(docker_runtime_config).__name__}")
            rc.docker = docker_runtime_config
        if environment_variables:
            rc.environment_variables.update(environment_variables)
        if gpus:
            rc.gpus = int(gpus)
        if requeue_on_node_loss:
            rc.requeue_on_node_loss = True
        self.python = python
        self.docker_image = docker_image

    # The settings live in run_config (one place, as in Azure ML); these read and write there.
    @property
    def compute_target(self) -> str:
        return self.run_config.target

    @compute_target.setter
    def compute_target(self, value: "Any") -> None:
        self.run_config.target = value

    @property
    def environment(self) -> "Any":
        """The run's :class:`ferry.Environment` (``None`` when the run configuration names none)."""
        env = self.run_config.environment
        return None if isinstance(env, EnvironmentSection) else env

    @environment.setter
    def environment(self, value: "Any") -> None:
        self.run_config.environment = value if value is not None else EnvironmentSection()

    @property
    def node_count(self) -> int:
        return self.run_config.node_count

    @node_count.setter
    def node_count(self, value: int) -> None:
        self.run_config.node_count = int(value)

    @property
    def distributed_job_config(self) -> "Any":
        return self.run_config.distributed_job_config

    @distributed_job_config.setter
    def distributed_job_config(self, value: "Any") -> None:
        if value is None:
            self.run_config.communicator = "None"
        else:
            self.run_config._use_distributed(value)

    @property
    def max_run_duration_seconds(self) -> "Optional[int]":
        return self.run_config.max_run_duration_seconds

    @max_run_duration_seconds.setter
    def max_run_duration_seconds(self, value: "Optional[int]") -> None:
        self.run_config.max_run_duration_seconds = value

    @property
    def environment_variables(self) -> "Dict[str, str]":
        return self.run_config.environment_variables

    @environment_variables.setter
    def environment_variables(self, value: "Dict[str, str]") -> None:
        self.run_config.environment_variables = dict(value or {})

    @property
    def gpus(self) -> int:
        return self.run_config.gpus

    @gpus.setter
    def gpus(self, value: int) -> None:
        self.run_config.gpus = int(value)

    @property
    def requeue_on_node_loss(self) -> bool:
        return self.run_config.requeue_on_node_loss

    @requeue_on_node_loss.setter
    def requeue_on_node_loss(self, value: bool) -> None:
        self.run_config.requeue_on_node_loss = bool(value)

    def _data_argument(self, a: "Any") -> str:
        """An argument as text; a dataset input or output is also recorded, and becomes its
        local path on the target (docs/data.md)."""
        if isinstance(a, str):
            return a
        if getattr(a, "_pipeline_only", False):
            raise ValueError(f"ferry: {a} reads another pipeline step's output: use it in a pipeline step "
                             "(ferry.pipeline.steps), not in a ScriptRunConfig")
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
        elif kind in ("OutputFileDatasetConfig", "OutputTabularDatasetConfig"):
            seen = self._outputs.get(a.name)
            if seen is not None and getattr(seen, "_origin", seen) is not getattr(a, "_origin", a):
                raise ValueError(f"ferry: two outputs are named {a.name!r}; give each OutputFileDatasetConfig its own name")
            self._outputs[a.name] = a
        return str(a)

    def _script_path(self) -> str:
        """The script as a path in the snapshot ('/'-separated, no leading './')."""
        return _snapshot_path(self.script)

    def _snapshot_and_body(self, client: "Any", experiment: str,
                           tags: "Optional[Dict[str, str]]") -> "Tuple[Dict[str, Any], Any]":
        """Snapshots the source directory (only blobs the server lacks are sent) and returns the
        run request's body and the snapshot (its warnings).

        :raises ValueError: when the script is not in the snapshot (the path is named)."""
        from . import _snapshot

        snap = _snapshot.build(self.source_directory)
        _require_script(snap, self.source_directory, self.script)
        return self._body(experiment, _snapshot.upload(client, snap), tags), snap

    def _body(self, experiment: str, snapshot_id: str, tags: "Optional[Dict[str, str]]") -> "Dict[str, Any]":
        """The fields of POST /runs, from the script, its arguments and ``run_config`` as it is now."""
        rc = self.run_config
        body: "Dict[str, Any]" = {"experiment": experiment, "target": rc.target or "local",
                                  "script": self._script_path(), "arguments": self.arguments,
                                  "snapshot_id": snapshot_id,
                                  "tags": {k: str(v) for k, v in (tags or {}).items()}}
        from ._remote_run import git_state

        git = git_state(self.source_directory)  # the run's azureml.git.* properties
        if git is not None:
            body["git"] = git
        if self._inputs:
            body["inputs"] = [i._spec() for i in self._inputs.values()]
        if self._outputs:
            body["outputs"] = [o._spec() for o in self._outputs.values()]
        body.update(_run_fields(rc, body["target"], self.python, self.docker_image))
        return body


def _snapshot_path(script: str) -> str:
    """A script as a path in a snapshot ('/'-separated, no leading './')."""
    script = script.replace(os.sep, "/")
    while script.startswith("./"):
        script = script[2:]
    return script


def _require_script(snap: "Any", source_directory: str, script: str) -> None:
    """ValueError naming the script and the folder when the snapshot lacks the script."""
    if _snapshot_path(script) not in snap.files:
        raise ValueError(f"ferry: the script {script!r} is not in the snapshot of "
                         f"{source_directory} (missing, or excluded by an ignore file)")


def _run_fields(rc: "RunConfiguration", target: str, python: "Optional[str]" = None,
                docker_image: "Optional[str]" = None) -> "Dict[str, Any]":
    """What a run configuration asks of the target beyond the script (the server's RunOptions:
    environment, container, variables, limits, distribution) as fields of POST /runs; a
    pipeline step sends the same fields as its run_options (ferry.pipelines)."""
    where = rc.path or "the run configuration"
    if rc.framework == "PySpark":
        raise ValueError(f"ferry: {where}: framework 'PySpark' is not supported by this version; use Python")
    body: "Dict[str, Any]" = {}
    env = rc.environment
    variables: "Dict[str, str]" = {}
    if isinstance(env, EnvironmentSection):
        _section_environment(rc, env, body, where)
        variables.update(env.environment_variables or {})
    else:
        _object_environment(env, body)
        variables.update(getattr(env, "environment_variables", None) or {})
    variables.update(rc.environment_variables or {})
    if variables:
        body["environment_variables"] = {str(k): str(v) for k, v in variables.items()}
    if python:
        body["python"] = python
    _docker(rc, env, body, where, docker_image)
    if rc.max_run_duration_seconds:
        body["max_run_duration_seconds"] = int(rc.max_run_duration_seconds)
    if rc.gpus:
        body["gpus"] = int(rc.gpus)
    if rc.requeue_on_node_loss:
        body["requeue_on_node_loss"] = True
    if rc.priority:
        body["priority"] = rc.priority
    if target == "amlcompute":
        cluster = rc.amlcompute._spec()
        if cluster:
            body["amlcompute"] = cluster
    nodes = int(rc.node_count or 1)
    c = rc.communicator
    if c != "None":
        body["communicator"] = c
        if c in ("Nccl", "Gloo") and rc.pytorch.process_count:
            body["process_count_per_node"] = max(1, int(rc.pytorch.process_count) // max(1, nodes))
        elif c == "ParameterServer":
            body["worker_count"] = rc.tensorflow.worker_count
            body["parameter_server_count"] = rc.tensorflow.parameter_server_count
        elif rc.mpi.process_count_per_node != 1:
            body["process_count_per_node"] = rc.mpi.process_count_per_node
    if nodes != 1:
        body["node_count"] = nodes
    return body


def _conda_text(deps: "Any") -> str:
    """A CondaDependencies object's file text (Azure's ``serialize_to_string``)."""
    for method in ("serialize_to_string", "_serialize_to_string"):
        f = getattr(deps, method, None)
        if callable(f):
            return f()
    raise TypeError(f"ferry: conda_dependencies must be a ferry CondaDependencies, got {type(deps).__name__}")


def _section_environment(rc: "RunConfiguration", env: "EnvironmentSection", body: "Dict[str, Any]", where: str) -> None:
    """The environment of a run configuration that names no Environment object: the CLI's rules
    for a file (src/cli/verb_run_submit.cc, ApplyRunConfig); an untouched one: the target's
    interpreter."""
    py = env.python
    if py.interpreter_path and "python" not in body:
        body["python"] = py.interpreter_path
    if py.user_managed_dependencies:
        return
    if rc.requirements_file:
        body["environment"] = {"type": "pip", "file": rc.requirements_file}
    elif py.conda_dependencies is not None:
        body["environment"] = {"type": "conda", "content": _conda_text(py.conda_dependencies)}
    elif py.conda_dependencies_file:
        body["environment"] = {"type": "conda", "file": py.conda_dependencies_file}
    elif env.name:
        body["environment"] = {"name": env.name}
        if env.version and str(env.version).isdigit():
            body["environment"]["version"] = int(env.version)
    elif rc.path:
        raise ValueError(
            f"ferry: {where}: environment.python.userManagedDependencies is false: say how to build the "
            "environment with requirementsFile (pip), environment.python.condaDependenciesFile (conda) or "
            "environment.name (a registered environment), or set userManagedDependencies: true with "
            "interpreterPath")


def _object_environment(env: "Any", body: "Dict[str, Any]") -> None:
    """A ferry.Environment: registered (by name and version), or its text; user-managed: only
    its interpreter. Read through getattr, so any Environment shape with these fields works.
    An environment that knows its own fields of POST /runs says so with ``_run_fields()``
    (a dict of ``environment``, ``python``...), which is then used as it is."""
    own = getattr(env, "_run_fields", None)
    if callable(own):
        body.update(own())
        return
    py = getattr(env, "python", None)
    if getattr(py, "user_managed_dependencies", False):
        interpreter = getattr(py, "interpreter_path", None)
        if interpreter:
            body["python"] = interpreter
        return
    if getattr(env, "version", None) is not None:
        body["environment"] = {"name": env.name, "version": env.version}
        return
    content = getattr(env, "content", "") or ""
    spec_type = getattr(env, "spec_type", "pip") or "pip"
    deps = getattr(py, "conda_dependencies", None)
    if not content and deps is not None:
        content, spec_type = _conda_text(deps), "conda"
    if content:
        body["environment"] = {"type": spec_type, "content": content}


def _docker(rc: "RunConfiguration", env: "Any", body: "Dict[str, Any]", where: str, image: "Optional[str]") -> None:
    """The container: run_config.docker (DockerConfiguration) or the environment's docker
    section enable it; the image is the environment's (DEFAULT_CPU_IMAGE when it names none)."""
    from .run_configuration import DEFAULT_CPU_IMAGE

    section = getattr(env, "docker", None)
    if callable(getattr(env, "_run_fields", None)):
        # A ferry.Environment said already (its _run_fields): a container only when it names
        # an image (docs/environments.md).
        chosen = body.get("docker") or {}
        enabled_by_env = bool(chosen)
        env_image = chosen.get("base_image", "")
    else:
        enabled_by_env = bool(getattr(section, "enabled", False))
        env_image = getattr(section, "base_image", "") or ""
    if not (image or rc.docker.use_docker or enabled_by_env):
        return
    base = image or env_image
    if not base:
        if enabled_by_env and isinstance(env, EnvironmentSection) and rc.path:
            raise ValueError(f"ferry: {where}: environment.docker.baseImage is required when "
                             "environment.docker.enabled is true")
        base = DEFAULT_CPU_IMAGE
    docker: "Dict[str, Any]" = {"enabled": True, "base_image": base}
    shm = rc.docker.shm_size or getattr(section, "shm_size", "")
    if shm:
        docker["shm_size"] = shm
    arguments = list(rc.docker.arguments or []) or list(getattr(section, "arguments", None) or [])
    if arguments:
        docker["arguments"] = arguments
    body["docker"] = docker


def get_run_config_from_script_run(script_run_config: "ScriptRunConfig") -> "RunConfiguration":
    """Azure's helper: a copy of the configuration's RunConfiguration with its script and
    arguments filled in (what a submission sends)."""
    import copy

    if not isinstance(script_run_config, ScriptRunConfig):
        raise TypeError("ferry: get_run_config_from_script_run takes a ScriptRunConfig, got "
                        f"{type(script_run_config).__name__}")
    rc = copy.deepcopy(script_run_config.run_config)
    rc.script = script_run_config.script
    rc.arguments = list(script_run_config.arguments)
    return rc


def submit(script_run_config: "ScriptRunConfig", workspace: "Any", experiment_name: str,
           run_id: "Optional[str]" = None, _parent_run_id: "Optional[str]" = None,
           credential_passthrough: bool = False) -> "Any":
    """Azure's module-level submit: ``Experiment(workspace, experiment_name).submit(config)``.
    ``run_id`` and ``_parent_run_id`` are refused (the server names runs; child runs are a
    sweep's trials)."""
    from .experiment import Experiment

    if run_id or _parent_run_id:
        raise ValueError("ferry: submit(run_id=..., _parent_run_id=...) is not supported: the server names runs, "
                         "and child runs are a sweep's trials")
    return Experiment(workspace, experiment_name).submit(script_run_config)
