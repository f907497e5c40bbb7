"""Azure ML's estimators (``ferry.train.estimator``, ``ferry.train.sklearn``,
``ferry.train.dnn``): deprecated there in favour of ScriptRunConfig, and here a thin layer
that builds one. An estimator's settings become a :class:`ferry.ScriptRunConfig` with an
:class:`ferry.Environment`; ``Experiment.submit(estimator)`` submits that. The framework
versions map to pinned pip packages (docs/environments.md, "Estimators")."""

from __future__ import annotations

import os
import warnings

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, List, Optional

    from .conda_dependencies import CondaDependencies
    from .environment import Environment
    from .script_run_config import ScriptRunConfig


class Mpi:
    """MPI (Horovod) launch with ``process_count_per_node`` ranks on each node."""

    def __init__(self, process_count_per_node: int = 1) -> None:
        self.process_count_per_node = _positive(process_count_per_node, "process_count_per_node")


class Gloo:
    """torch.distributed with the Gloo backend (CPUs)."""


class Nccl:
    """torch.distributed with the NCCL backend (GPUs)."""


class ParameterServer:
    """TensorFlow parameter servers and workers."""

    def __init__(self, worker_count: int = 1, parameter_server_count: int = 1) -> None:
        self.worker_count = _positive(worker_count, "worker_count")
        self.parameter_server_count = _positive(parameter_server_count, "parameter_server_count")


def _positive(v: "Any", field: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"ferry: {field} must be a positive integer, got {v!r}")
    return v


def script_params_to_arguments(script_params: "Optional[Dict[Any, Any]]") -> "List[Any]":
    """Azure's order: each key, then its value (a list's items one by one); ``None`` and ``""``
    values leave only the key (a flag)."""
    out: "List[Any]" = []
    for key, value in (script_params or {}).items():
        out.append(key)
        if isinstance(value, (list, tuple)):
            out.extend(value)
        else:
            out.append(value)
    return [a for a in out if a is not None and a != ""]


# Azure's settings that ask it to create or fetch something Ferry does not have.
_UNSUPPORTED = {
    "vm_size": "Azure creates a compute for it; create a Ferry compute target and pass it as compute_target",
    "vm_priority": "Azure creates a compute for it; create a Ferry compute target and pass it as compute_target",
    "image_registry_details": "log in to the registry on the target (podman login / docker login) and name the "
                              "image with its registry in custom_docker_image",
    "source_directory_data_store": "the source directory is snapshotted into the workspace",
    "resume_from": "pass the checkpoint as an input (docs/checkpoints.md)",
}


class Estimator:
    """``Estimator(source_directory, compute_target=..., entry_script=..., script_params=...,
    pip_packages=..., conda_packages=...)``: a ScriptRunConfig and an Environment in Azure ML
    SDK v1's older shape. Deprecated: prefer :class:`ferry.ScriptRunConfig`.
    ``Experiment.submit(estimator)`` runs it.
    """

    FRAMEWORK_NAME: "Optional[str]" = None
    DEFAULT_VERSION: "Optional[str]" = None
    _VERSIONS: "Dict[str, List[str]]" = {}
    _GPU_EXTRA: "Dict[str, List[str]]" = {}  # version -> packages replacing/adding for use_gpu
    _BACKENDS: "tuple" = ("mpi",)

    def __init__(self, source_directory: str, *, compute_target: "Any" = None, vm_size: "Any" = None,
                 vm_priority: "Any" = None, entry_script: "Optional[str]" = None,
                 script_params: "Optional[Dict[str, Any]]" = None, node_count: int = 1,
                 process_count_per_node: int = 1, distributed_backend: "Optional[str]" = None,
                 distributed_training: "Any" = None, use_gpu: bool = False, use_docker: bool = True,
                 custom_docker_base_image: "Optional[str]" = None, custom_docker_image: "Optional[str]" = None,
                 image_registry_details: "Any" = None, user_managed: bool = False,
                 conda_packages: "Optional[List[str]]" = None, pip_packages: "Optional[List[str]]" = None,
                 conda_dependencies_file_path: "Optional[str]" = None,
                 pip_requirements_file_path: "Optional[str]" = None,
                 conda_dependencies_file: "Optional[str]" = None, pip_requirements_file: "Optional[str]" = None,
                 environment_variables: "Optional[Dict[str, str]]" = None,
                 environment_definition: "Optional[Environment]" = None, inputs: "Optional[List[Any]]" = None,
                 source_directory_data_store: "Any" = None, shm_size: "Optional[str]" = None,
                 resume_from: "Any" = None, max_run_duration_seconds: "Optional[int]" = None,
                 framework_version: "Optional[str]" = None, worker_count: int = 1,
                 parameter_server_count: int = 1, **_private: "Any") -> None:
        kind = type(self).__name__
        warnings.warn(f"ferry: '{kind}' {'estimator ' if kind != 'Estimator' else ''}is deprecated (as in Azure ML); "
                      "use ferry.ScriptRunConfig with an Environment or a curated environment",
                      DeprecationWarning, stacklevel=2)
        for field, value in (("vm_size", vm_size), ("vm_priority", vm_priority),
                             ("image_registry_details", image_registry_details),
                             ("source_directory_data_store", source_directory_data_store),
                             ("resume_from", resume_from)):
            if value is not None:
                raise ValueError(f"ferry: {kind}: {field} is not supported: {_UNSUPPORTED[field]}")
        unknown = [k for k in _private if not k.startswith("_")]
        if unknown:
            raise TypeError(f"ferry: {kind}() got unexpected arguments: {', '.join(sorted(unknown))}")
        if not entry_script:
            raise ValueError(f"ferry: {kind} needs entry_script (the script to run, a path inside source_directory)")
        if not os.path.isdir(source_directory):
            raise ValueError(f"ferry: {kind}: source_directory {source_directory!r} is not a directory")
        self._source_directory = source_directory
        self._framework_version = self._check_version(framework_version)
        self._script_params = dict(script_params or {})
        self._inputs = list(inputs or [])
        self._environment = self._make_environment(
            environment_definition, use_gpu=use_gpu, use_docker=use_docker,
            image=custom_docker_image or custom_docker_base_image, user_managed=user_managed,
            conda_packages=conda_packages, pip_packages=pip_packages,
            conda_file=conda_dependencies_file or conda_dependencies_file_path,
            pip_file=pip_requirements_file or pip_requirements_file_path,
            environment_variables=environment_variables, shm_size=shm_size)
        distributed = self._distributed(distributed_training, distributed_backend, node_count,
                                        process_count_per_node, worker_count, parameter_server_count)
        from .script_run_config import ScriptRunConfig

        self._config = ScriptRunConfig(
            source_directory=source_directory, script=entry_script,
            arguments=script_params_to_arguments(self._script_params), compute_target=compute_target,
            environment=self._environment, node_count=node_count, distributed_job_config=distributed,
            max_run_duration_seconds=max_run_duration_seconds,
            gpus=getattr(distributed, "process_count_per_node", process_count_per_node) if use_gpu else 0)
        for i in self._inputs:  # inputs the script gets without naming them in its arguments
            self._config._data_argument(i)

    # ---- what it becomes
    def _script_run_config(self) -> "ScriptRunConfig":
        """The ScriptRunConfig Experiment.submit sends."""
        return self._config

    @property
    def run_config(self) -> "ScriptRunConfig":
        """The ScriptRunConfig this estimator stands for (Azure: a RunConfiguration)."""
        return self._config

    @property
    def source_directory(self) -> str:
        return self._source_directory

    @property
    def conda_dependencies(self) -> "CondaDependencies":
        return self._environment.python.conda_dependencies

    @property
    def framework_version(self) -> "Optional[str]":
        return self._framework_version

    @classmethod
    def get_supported_versions(cls) -> "List[str]":
        return list(cls._VERSIONS)

    def __repr__(self) -> str:
        return (f"<ferry.{type(self).__name__} {self._config.script!r} in {self._source_directory!r}"
                f"{' version ' + self._framework_version if self._framework_version else ''}>")

    # ---- pieces
    @classmethod
    def _check_version(cls, version: "Optional[str]") -> "Optional[str]":
        if cls.FRAMEWORK_NAME is None:
            if version is not None:
                raise ValueError("ferry: Estimator has no framework_version; use SKLearn, PyTorch, TensorFlow or "
                                 "Chainer, or pip_packages")
            return None
        version = str(version) if version is not None else cls.DEFAULT_VERSION
        if version not in cls._VERSIONS:
            raise ValueError(f"ferry: {cls.__name__}: framework_version {version!r} is not supported; supported: "
                             f"{', '.join(cls._VERSIONS)}")
        return version

    def _framework_packages(self, use_gpu: bool) -> "List[str]":
        if self._framework_version is None:
            return []
        pkgs = list(self._VERSIONS[self._framework_version])
        if use_gpu:
            pkgs = self._GPU_EXTRA.get(self._framework_version, pkgs)
        return pkgs

    def _make_environment(self, definition: "Optional[Environment]", *, use_gpu: bool, use_docker: bool,
                          image: "Optional[str]", user_managed: bool, conda_packages: "Optional[List[str]]",
                          pip_packages: "Optional[List[str]]", conda_file: "Optional[str]",
                          pip_file: "Optional[str]", environment_variables: "Optional[Dict[str, str]]",
                          shm_size: "Optional[str]") -> "Environment":
        from .conda_dependencies import CondaDependencies
        from .environment import Environment

        kind = type(self).__name__
        if definition is not None:
            clashing = [f for f, v in (("conda_packages", conda_packages), ("pip_packages", pip_packages),
                                       ("conda_dependencies_file", conda_file),
                                       ("pip_requirements_file", pip_file), ("custom_docker_image", image),
                                       ("environment_variables", environment_variables),
                                       ("shm_size", shm_size)) if v]
            if user_managed:
                clashing.append("user_managed")
            if clashing:
                raise ValueError(f"ferry: {kind}: environment_definition already says how to build the environment; "
                                 f"set {', '.join(clashing)} on the Environment instead")
            if not hasattr(definition, "_run_fields"):
                raise TypeError(f"ferry: {kind}: environment_definition must be a ferry.Environment, "
                                f"got {type(definition).__name__}")
            return definition
        env = Environment(f"ferry-{(self.FRAMEWORK_NAME or 'estimator').lower()}"
                          f"{'-' + self._framework_version if self._framework_version else ''}")
        if user_managed:
            env.python.user_managed_dependencies = True
        if conda_file and pip_file:
            raise ValueError(f"ferry: {kind}: give conda_dependencies_file or pip_requirements_file, not both")
        if conda_file:
            cd = CondaDependencies(os.path.join(self._source_directory, conda_file))
        else:
            cd = CondaDependencies.create(pip_packages=self._framework_packages(use_gpu))
            if pip_file:
                path = os.path.join(self._source_directory, pip_file)
                try:
                    with open(path, encoding="utf-8") as f:
                        lines = [ln.strip() for ln in f if ln.strip() and not ln.strip().startswith("#")]
                except OSError as e:
                    raise ValueError(f"ferry: {kind}: cannot read pip_requirements_file {path}: {e.strerror}") from None
                for ln in lines:
                    cd.set_pip_option(ln) if ln.startswith("-") else cd.add_pip_package(ln)
        for p in conda_packages or ():
            cd.add_conda_package(p)
        for p in pip_packages or ():
            cd.add_pip_package(p)
        env.python.conda_dependencies = cd
        if use_docker and image:
            env.docker.base_image = image
            if shm_size:
                env.docker.shm_size = shm_size
        env.environment_variables = dict(environment_variables or {})
        return env

    def _distributed(self, training: "Any", backend: "Optional[str]", node_count: int, per_node: int,
                     worker_count: int, ps_count: int) -> "Any":
        from .script_run_config import MpiConfiguration, PyTorchConfiguration, TensorflowConfiguration

        kind = type(self).__name__
        _positive(node_count, "node_count")
        _positive(per_node, "process_count_per_node")
        if training is None and backend is not None:
            b = str(backend).lower()
            if b not in self._BACKENDS:
                raise ValueError(f"ferry: {kind}: distributed_backend {backend!r} is not supported; supported: "
                                 f"{', '.join(self._BACKENDS)}")
            training = {"mpi": lambda: Mpi(per_node), "gloo": Gloo, "nccl": Nccl,
                        "ps": lambda: ParameterServer(worker_count, ps_count)}[b]()
        if training is None:
            if node_count > 1 or per_node > 1:
                raise ValueError(f"ferry: {kind}: node_count {node_count} and process_count_per_node {per_node} "
                                 "need a distributed backend: distributed_training=Mpi(...)"
                                 + (", Gloo() or Nccl()" if "gloo" in self._BACKENDS else "")
                                 + (" or ParameterServer(...)" if "ps" in self._BACKENDS else ""))
            return None
        name = type(training).__name__
        allowed = {"mpi": "Mpi", "gloo": "Gloo", "nccl": "Nccl", "ps": "ParameterServer"}
        if name not in [allowed[b] for b in self._BACKENDS]:
            raise ValueError(f"ferry: {kind}: distributed_training {name} is not supported; supported: "
                             f"{', '.join(allowed[b] for b in self._BACKENDS)}")
        if isinstance(training, Mpi):
            count = training.process_count_per_node if per_node == 1 else per_node
            return MpiConfiguration(process_count_per_node=count, node_count=node_count)
        if isinstance(training, (Gloo, Nccl)):
            return PyTorchConfiguration(communication_backend=name, process_count=node_count * per_node,
                                        node_count=node_count)
        return TensorflowConfiguration(worker_count=training.worker_count,
                                       parameter_server_count=training.parameter_server_count)


class SKLearn(Estimator):
    """scikit-learn on one node; ``framework_version`` picks the pinned scikit-learn."""

    FRAMEWORK_NAME = "scikit-learn"
    DEFAULT_VERSION = "1.5"
    _VERSIONS = {"0.20.3": ["scikit-learn==0.20.3"], "0.24": ["scikit-learn==0.24.2"],
                 "1.0": ["scikit-learn==1.0.2"], "1.5": ["scikit-learn==1.5.2"]}
    _BACKENDS = ()

    def __init__(self, source_directory: str, **kwargs: "Any") -> None:
        for field in ("node_count", "process_count_per_node", "distributed_backend", "distributed_training",
                      "use_gpu"):
            if kwargs.get(field) not in (None, 1, False):
                raise ValueError(f"ferry: SKLearn runs on one node with one process; {field} is not supported")
        super().__init__(source_directory, **kwargs)


class PyTorch(Estimator):
    """PyTorch; distributed with ``Mpi``, ``Gloo`` or ``Nccl``."""

    FRAMEWORK_NAME = "PyTorch"
    DEFAULT_VERSION = "2.5"
    _VERSIONS = {"1.4": ["torch==1.4.0", "torchvision==0.5.0"], "1.5": ["torch==1.5.1", "torchvision==0.6.1"],
                 "1.6": ["torch==1.6.0", "torchvision==0.7.0"], "1.13": ["torch==1.13.1", "torchvision==0.14.1"],
                 "2.2": ["torch==2.2.2", "torchvision==0.17.2"], "2.5": ["torch==2.5.1", "torchvision==0.20.1"]}
    _BACKENDS = ("mpi", "gloo", "nccl")


class TensorFlow(Estimator):
    """TensorFlow; distributed with ``Mpi`` (Horovod) or ``ParameterServer``."""

    FRAMEWORK_NAME = "TensorFlow"
    DEFAULT_VERSION = "2.16"
    _VERSIONS = {"1.13": ["tensorflow==1.13.2"], "2.0": ["tensorflow==2.0.4"], "2.1": ["tensorflow==2.1.4"],
                 "2.2": ["tensorflow==2.2.3"], "2.3": ["tensorflow==2.3.4"], "2.16": ["tensorflow==2.16.2"]}
    _GPU_EXTRA = {"1.13": ["tensorflow-gpu==1.13.2"], "2.0": ["tensorflow-gpu==2.0.4"]}
    _BACKENDS = ("mpi", "ps")


class Chainer(Estimator):
    """Chainer; distributed with ``Mpi`` (ChainerMN)."""

    FRAMEWORK_NAME = "Chainer"
    DEFAULT_VERSION = "5.1.0"
    _VERSIONS = {"5.1.0": ["chainer==5.1.0"], "7.0.0": ["chainer==7.0.0"]}
    _GPU_EXTRA = {"5.1.0": ["chainer==5.1.0", "cupy==5.1.0"], "7.0.0": ["chainer==7.0.0", "cupy==7.0.0"]}
    _BACKENDS = ("mpi",)
