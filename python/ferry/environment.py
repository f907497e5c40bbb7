"""The :class:`Environment`: what a run's Python needs (a conda specification, pip
requirements, or the target's own interpreter), its container image and variables; registered
in a workspace under a name with immutable versions. docs/environments.md explains how each
setting is built on the target."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, List, Optional

    from .conda_dependencies import CondaDependencies
    from .workspace import Workspace

_TYPES = ("pip", "conda")

# Azure ML's image names, for code that sets them; Ferry pulls whatever image is named.
DEFAULT_CPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"
DEFAULT_GPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04"

# Azure ML's curated environments, as pinned pip requirements (docs/environments.md has the
# table). Environment.get registers one in the workspace the first time it is asked for.
_CURATED: "Dict[str, List[str]]" = {
    "AzureML-Minimal": [],
    "AzureML-Tutorial": ["numpy==1.26.4", "pandas==2.2.3", "scipy==1.13.1", "scikit-learn==1.5.2",
                         "matplotlib==3.9.2"],
    # numpy 1.23: the last with the aliases (np.str) Azure's example scripts for this image still use.
    "AzureML-sklearn-1.5": ["scikit-learn==1.5.2", "numpy==1.23.5", "pandas==2.2.3", "scipy==1.13.1",
                            "joblib==1.4.2"],
    "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu": ["scikit-learn==1.0.2", "numpy==1.23.5", "pandas==1.5.3",
                                                 "scipy==1.10.1", "joblib==1.2.0"],
    "AzureML-sklearn-0.24-ubuntu18.04-py37-cpu": ["scikit-learn==0.24.2", "numpy==1.21.6", "pandas==1.3.5",
                                                  "scipy==1.7.3", "joblib==1.1.1"],
    "AzureML-Scikit-learn0.24-Cuda11-OpenMpi4.1.0-py36": ["scikit-learn==0.24.2", "numpy==1.19.5",
                                                          "pandas==1.1.5", "scipy==1.5.4"],
    "AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu": ["lightgbm==3.2.1", "scikit-learn==0.24.2", "numpy==1.21.6",
                                                  "pandas==1.3.5"],
    "AzureML-PyTorch-1.4-GPU": ["torch==1.4.0", "torchvision==0.5.0"],
    "AzureML-PyTorch-1.6-CPU": ["torch==1.6.0", "torchvision==0.7.0"],
    "AzureML-PyTorch-1.6-GPU": ["torch==1.6.0", "torchvision==0.7.0"],
    "AzureML-pytorch-1.10-ubuntu18.04-py38-cuda11-gpu": ["torch==1.10.2", "torchvision==0.11.3"],
    "AzureML-pytorch-2.2-cuda11": ["torch==2.2.2", "torchvision==0.17.2"],
    "AzureML-TensorFlow-1.13-GPU": ["tensorflow==1.13.2"],
    "AzureML-TensorFlow-2.0-GPU": ["tensorflow==2.0.4"],
    "AzureML-TensorFlow-2.1-GPU": ["tensorflow==2.1.4"],
    "AzureML-TensorFlow-2.3-GPU": ["tensorflow==2.3.4"],
    "AzureML-tensorflow-2.6-ubuntu20.04-py38-cuda11-gpu": ["tensorflow==2.6.5"],
    "AzureML-tensorflow-2.7-ubuntu20.04-py38-cuda11-gpu": ["tensorflow==2.7.4"],
    "AzureML-tensorflow-2.16-cuda12": ["tensorflow==2.16.2"],
    "AzureML-Chainer-5.1.0-GPU": ["chainer==5.1.0"],
}


def curated_environments() -> "Dict[str, List[str]]":
    """The curated names Ferry knows and the pinned pip requirements each stands for."""
    return {k: list(v) for k, v in _CURATED.items()}


def _curated_content(name: str) -> str:
    lines = [f"# Ferry's stand-in for Azure ML's curated environment {name} (docs/environments.md)"]
    return "\n".join(lines + _CURATED[name]) + "\n"


class PythonSection:
    """``env.python``: how the run's Python is made.

    :ivar user_managed_dependencies: ``True``: run ``interpreter_path`` as it is, install
        nothing; ``False`` (default): Ferry builds (and caches per node) an environment from
        ``conda_dependencies`` (or ``conda_dependencies_file``, a path in the source directory).
    :ivar interpreter_path: the interpreter on the target (``None``: ``python3`` there); with
        a managed environment, the interpreter the virtual environment is made from.
    """

    def __init__(self, _owner: "Optional[Environment]" = None, **kwargs: "Any") -> None:
        self._owner = _owner
        self.user_managed_dependencies = False
        self.interpreter_path: "Optional[str]" = None
        self.conda_dependencies_file: "Optional[str]" = None
        self.base_conda_environment: "Optional[str]" = None
        self._conda: "Optional[CondaDependencies]" = None
        self._conda_origin: "Optional[str]" = None  # its text when derived, to see changes
        for k, v in kwargs.items():
            setattr(self, k, v)

    @property
    def conda_dependencies(self) -> "CondaDependencies":
        """The conda specification (created on first use from the environment's spec, or the
        default: the target's Python and nothing else). Changes to it are what the run builds."""
        if self._conda is None:
            from .conda_dependencies import CondaDependencies

            owner = self._owner
            if owner is not None and owner._conda_text is not None:
                cd = CondaDependencies._from_string(owner._conda_text, f"environment {owner.name!r}")
            elif owner is not None and owner._pip_text is not None:
                cd = CondaDependencies()
                cd.set_pip_requirements(line.strip() for line in owner._pip_text.splitlines()
                                        if line.strip() and not line.strip().startswith("#"))
            else:
                cd = CondaDependencies()
            self._conda = cd
            self._conda_origin = cd.serialize_to_string()
        return self._conda

    @conda_dependencies.setter
    def conda_dependencies(self, value: "Optional[CondaDependencies]") -> None:
        from .conda_dependencies import CondaDependencies

        if value is not None and not isinstance(value, CondaDependencies):
            raise TypeError(f"ferry: python.conda_dependencies must be a CondaDependencies, got {type(value).__name__}")
        self._conda = value
        self._conda_origin = None  # assigned: always what is built
        if self._owner is not None:
            self._owner._conda_text = self._owner._pip_text = None

    def _changed_conda(self) -> "Optional[CondaDependencies]":
        """The conda specification when it was assigned or changed since it was derived."""
        if self._conda is None:
            return None
        if self._conda_origin is None or self._conda.serialize_to_string() != self._conda_origin:
            return self._conda
        return None

    def __repr__(self) -> str:
        return (f"PythonSection(user_managed_dependencies={self.user_managed_dependencies!r}, "
                f"interpreter_path={self.interpreter_path!r}, conda_dependencies_file={self.conda_dependencies_file!r})")


class DockerSection:
    """``env.docker``: the container the run executes in. ``base_image`` set: the script runs
    in that image (podman or docker on the target; docs/environments.md), unless ``enabled``
    was set to ``False``. ``enabled = True`` without an image changes nothing (Azure ML's
    default image stands for the target itself here)."""

    def __init__(self, **kwargs: "Any") -> None:
        self.enabled: "Optional[bool]" = None
        self.base_image: "Optional[str]" = None
        self.base_dockerfile: "Optional[str]" = None
        self.build_context: "Any" = None
        self.shm_size: "Optional[str]" = None
        self.shared_volumes = True
        self.arguments: "List[str]" = []
        self.gpu_support = False
        for k, v in kwargs.items():
            setattr(self, k, v)

    def _fields(self) -> "Optional[Dict[str, Any]]":
        if self.base_dockerfile or self.build_context is not None:
            raise ValueError("ferry: docker.base_dockerfile and docker.build_context are not supported: Ferry runs "
                             "existing images; build the image (podman build / docker build) and set "
                             "docker.base_image to its name")
        if not self.base_image or self.enabled is False:
            return None
        d: "Dict[str, Any]" = {"enabled": True, "base_image": self.base_image}
        if self.shm_size:
            d["shm_size"] = self.shm_size
        if self.arguments:
            d["arguments"] = [str(a) for a in self.arguments]
        return d

    def __repr__(self) -> str:
        return f"DockerSection(enabled={self.enabled!r}, base_image={self.base_image!r})"


PythonEnvironment = PythonSection
DockerEnvironment = DockerSection


class Environment:
    """``Environment(name)``: an environment to run in. Its sections are Azure ML's:
    ``python`` (:class:`PythonSection`), ``docker`` (:class:`DockerSection`),
    ``environment_variables``. Or from a file: :meth:`from_pip_requirements`,
    :meth:`from_conda_specification`. :meth:`register` stores the Python specification as the
    workspace's next version of ``name`` (unless the latest has the same text); :meth:`get`
    reads one back, curated ``AzureML-*`` names included.

    Nothing set (``Environment("x")``): the run gets a virtual environment of the target's
    ``python3`` with no packages beyond the ``ferry`` package every run has.

    :ivar name: the environment's name.
    :ivar version: its version once registered or read (``None`` before).
    :ivar spec_type: what is built: ``"pip"`` (requirements) or ``"conda"`` (a conda file).
    :ivar content: the specification's text.
    """

    def __init__(self, name: str, spec_type: str = "conda", content: str = "", description: str = "",
                 **kwargs: "Any") -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("ferry: an environment needs a non-empty name")
        if spec_type not in _TYPES:
            raise ValueError(f"ferry: environment type must be 'pip' or 'conda', got {spec_type!r}")
        self.name = name
        self.description = description
        self.version: "Optional[int]" = None
        self.created_at: "Optional[float]" = None
        self._pip_text: "Optional[str]" = content if spec_type == "pip" else None
        self._conda_text: "Optional[str]" = content if spec_type == "conda" and content else None
        self.python = PythonSection(self)
        self.docker = DockerSection()
        self.environment_variables: "Dict[str, str]" = {}
        self.inferencing_stack_version = None
        for k, v in kwargs.items():
            if not hasattr(self, k):
                raise TypeError(f"ferry: Environment() got an unexpected setting {k!r}")
            setattr(self, k, v)

    # ---- the specification
    def _spec(self) -> "Optional[Dict[str, str]]":
        """What the run builds: ``{"type", "content"}`` or ``{"type", "file"}`` (a conda file in
        the source directory), or ``None`` for the target's interpreter as it is."""
        if self.python.user_managed_dependencies:
            return None
        if self.python.conda_dependencies_file:
            return {"type": "conda", "file": str(self.python.conda_dependencies_file).replace(os.sep, "/")}
        changed = self.python._changed_conda()
        if changed is not None:
            return {"type": "conda", "content": changed.serialize_to_string()}
        if self._conda_text is not None:
            return {"type": "conda", "content": self._conda_text}
        if self._pip_text is not None:
            return {"type": "pip", "content": self._pip_text or "# no requirements\n"}
        return {"type": "conda", "content": self.python.conda_dependencies.serialize_to_string()}

    @property
    def spec_type(self) -> str:
        spec = self._spec()
        return spec["type"] if spec else "pip"

    @property
    def content(self) -> str:
        spec = self._spec()
        if spec is None:
            return ""
        if "file" in spec:
            return _read(spec["file"], "conda file")
        return spec["content"]

    def _run_fields(self) -> "Dict[str, Any]":
        """The fields of POST /runs this environment sets (ScriptRunConfig adds its own)."""
        out: "Dict[str, Any]" = {}
        spec = self._spec()
        if spec is not None:
            if self.version is not None and self.python._changed_conda() is None \
                    and not self.python.conda_dependencies_file:
                out["environment"] = {"name": self.name, "version": self.version}
            else:  # the text itself; the name is a label on the run
                out["environment"] = {"name": self.name, **spec}
        if self.python.interpreter_path:
            out["python"] = self.python.interpreter_path
        docker = self.docker._fields()
        if docker:
            out["docker"] = docker
        if self.environment_variables:
            out["environment_variables"] = {str(k): str(v) for k, v in self.environment_variables.items()}
        return out

    # ---- constructors
    @classmethod
    def from_pip_requirements(cls, name: str, file_path: str, pip_version: "Optional[str]" = None) -> "Environment":
        """From a pip requirements file (read now). ``pip_version`` is not used: the target's
        pip (or uv) installs."""
        return cls(name, "pip", _read(file_path, "requirements file"))

    @classmethod
    def from_conda_specification(cls, name: str, file_path: str) -> "Environment":
        """From a conda environment file (read now)."""
        return cls(name, "conda", _read(file_path, "conda file"))

    @classmethod
    def from_docker_image(cls, name: str, image: str, container_registry: "Any" = None,
                          conda_specification: "Optional[str]" = None,
                          pip_requirements: "Optional[str]" = None) -> "Environment":
        """Runs in ``image``: its own Python as it is (``user_managed_dependencies``), unless a
        conda file or requirements file is given, which is then built inside the image."""
        if container_registry is not None:
            raise ValueError("ferry: container_registry is not supported: log in to the registry on the target "
                             "(podman login / docker login) and name the image with its registry")
        if conda_specification:
            env = cls.from_conda_specification(name, conda_specification)
        elif pip_requirements:
            env = cls.from_pip_requirements(name, pip_requirements)
        else:
            env = cls(name)
            env.python.user_managed_dependencies = True
        env.docker.base_image = image
        return env

    @classmethod
    def from_dockerfile(cls, name: str, dockerfile: str, conda_specification: "Optional[str]" = None,
                        pip_requirements: "Optional[str]" = None) -> "Environment":
        raise ValueError("ferry: Environment.from_dockerfile is not supported: Ferry runs existing images; build it "
                         "on the target (podman build -t NAME .) and use Environment.from_docker_image(name, NAME)")

    @classmethod
    def from_existing_conda_environment(cls, name: str, conda_environment_name: str) -> "Environment":
        """From a conda environment of this machine: its specification as conda, mamba or
        micromamba exports it (``env export -n NAME``)."""
        import shutil
        import subprocess

        tool = next((t for t in ("micromamba", "mamba", "conda") if shutil.which(t)), None)
        if tool is None:
            raise ValueError(f"ferry: cannot read the conda environment {conda_environment_name!r}: there is no conda, "
                             "mamba or micromamba on this machine's PATH; export it where it exists "
                             "(conda env export -n NAME > env.yml) and use Environment.from_conda_specification")
        try:
            p = subprocess.run([tool, "env", "export", "-n", conda_environment_name], capture_output=True,
                               text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ValueError(f"ferry: {tool} env export -n {conda_environment_name} failed: {e}") from None
        if p.returncode != 0 or not p.stdout.strip():
            raise ValueError(f"ferry: the conda environment {conda_environment_name!r} could not be exported with "
                             f"{tool} (exit code {p.returncode}): {(p.stderr or p.stdout).strip()[-500:]}")
        from .conda_dependencies import CondaDependencies

        exported = CondaDependencies._from_string(p.stdout, f"{tool} env export -n {conda_environment_name}")
        env = cls(name)
        env.python.conda_dependencies = CondaDependencies(_underlying_structure=exported.as_dict())
        return env

    # ---- the workspace
    def register(self, workspace: "Workspace") -> "Environment":
        """Stores the Python specification as the next version of ``name`` (no new version
        when the latest has the same text); returns the registered environment. The other
        sections (docker, variables, a user-managed interpreter) are kept on the returned
        object but not stored in the workspace."""
        spec = self._spec()
        if spec is None:
            raise ValueError(f"ferry: environment {self.name!r} uses the target's interpreter as it is "
                             "(python.user_managed_dependencies): there is no specification to register")
        body = workspace._client.call("POST", "/environments", {"name": self.name, "type": spec["type"],
                                                                 "content": self.content,
                                                                 "description": self.description})
        env = Environment._from_json(body, self.content)
        env.python.interpreter_path = self.python.interpreter_path
        env.docker = _copy_section(self.docker, DockerSection())
        env.environment_variables = dict(self.environment_variables)
        return env

    @staticmethod
    def get(workspace: "Workspace", name: str, version: "Optional[int]" = None,
            label: "Optional[str]" = None) -> "Environment":
        """A registered environment (the latest version unless ``version`` is given). A curated
        Azure ML name (``AzureML-Minimal``...; :func:`curated_environments`) the workspace
        lacks is registered first, from its pinned requirements.

        :raises ferry.FerryError: when there is no such environment or version.
        :raises ValueError: for an ``AzureML-*`` name Ferry has no stand-in for.
        """
        from .exceptions import FerryError

        if label is not None:
            raise ValueError("ferry: environment labels are not supported; name a version")
        v = "latest" if version is None else str(int(version))
        try:
            return Environment._from_json(workspace._client.call("GET", f"/environments/{name}/{v}"))
        except FerryError as e:
            if e.status != 404 or not name.lower().startswith("azureml-"):
                raise
            curated = {k.lower(): k for k in _CURATED}
            if name.lower() not in curated:
                raise ValueError(f"ferry: {name!r} is not a curated environment Ferry knows; known: "
                                 f"{', '.join(_CURATED)} (or register your own under that name)") from None
            if version not in (None, 1):
                raise
            key = curated[name.lower()]
            env = Environment(name, "pip", _curated_content(key),
                              description=f"Ferry's stand-in for Azure ML's curated environment {key}")
            return env.register(workspace)

    @staticmethod
    def list(workspace: "Workspace") -> "Dict[str, Environment]":
        """The latest version of every registered environment, by name (without their text)."""
        envs = workspace._client.call("GET", "/environments")["environments"]
        return {e["name"]: Environment._from_json(e) for e in envs}

    @staticmethod
    def versions(workspace: "Workspace", name: str) -> "List[int]":
        """The versions of one environment, oldest first."""
        return [e["version"] for e in workspace._client.call("GET", f"/environments/{name}")["versions"]]

    @staticmethod
    def _from_json(j: "Dict[str, Any]", content: "Optional[str]" = None) -> "Environment":
        env = Environment(j["name"], j["type"], j.get("content", content or ""), j.get("description", ""))
        if j["type"] == "conda" and env._conda_text is None:
            env._conda_text = ""  # listed without its text
        env.version = j.get("version")
        env.created_at = j.get("created_at")
        return env

    # ---- copies and files
    def clone(self, new_name: str) -> "Environment":
        """An unregistered copy under another name (its own sections)."""
        env = Environment(new_name, description=self.description)
        env._pip_text, env._conda_text = self._pip_text, self._conda_text
        env.python = _copy_section(self.python, PythonSection(env))
        env.python._owner = env
        if self.python._conda is not None:
            from .conda_dependencies import CondaDependencies

            env.python._conda = CondaDependencies(_underlying_structure=self.python._conda.as_dict())
            env.python._conda._text = self.python._conda._text
        env.docker = _copy_section(self.docker, DockerSection())
        env.environment_variables = dict(self.environment_variables)
        return env

    def save_to_directory(self, path: str, overwrite: bool = False) -> None:
        """Writes ``ferry_environment.json`` (the settings) and the specification
        (``conda_dependencies.yml`` or ``requirements.txt``) into the folder ``path``."""
        import json

        os.makedirs(path, exist_ok=True)
        settings = os.path.join(path, "ferry_environment.json")
        if os.path.exists(settings) and not overwrite:
            raise ValueError(f"ferry: {settings} exists; pass overwrite=True to replace it")
        spec = self._spec()
        spec_file = None
        if spec is not None and "content" in spec:
            spec_file = "conda_dependencies.yml" if spec["type"] == "conda" else "requirements.txt"
            with open(os.path.join(path, spec_file), "w", encoding="utf-8") as f:
                f.write(spec["content"])
        d = {"name": self.name, "version": self.version, "description": self.description,
             "spec_file": spec_file, "environment_variables": self.environment_variables,
             "python": {k: v for k, v in vars(self.python).items() if not k.startswith("_")},
             "docker": {k: v for k, v in vars(self.docker).items() if k != "build_context"}}
        with open(settings, "w", encoding="utf-8") as f:
            json.dump(d, f, indent=2)

    @staticmethod
    def load_from_directory(path: str) -> "Environment":
        """Reads what :meth:`save_to_directory` wrote."""
        import json

        settings = os.path.join(path, "ferry_environment.json")
        try:
            with open(settings, encoding="utf-8") as f:
                d = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError(f"ferry: cannot read {settings}: {e}") from None
        spec_file = d.get("spec_file")
        if spec_file:
            text = _read(os.path.join(path, spec_file), "environment file")
            env = Environment(d["name"], "conda" if spec_file.endswith(".yml") else "pip", text)
        else:
            env = Environment(d["name"])
        env.description = d.get("description", "")
        env.version = d.get("version")
        env.environment_variables = dict(d.get("environment_variables") or {})
        for k, v in (d.get("python") or {}).items():
            setattr(env.python, k, v)
        for k, v in (d.get("docker") or {}).items():
            setattr(env.docker, k, v)
        return env

    def __repr__(self) -> str:
        return f"<ferry.Environment {self.name!r} version={self.version} {self.spec_type}>"


def _copy_section(src: "Any", dst: "Any") -> "Any":
    for k, v in vars(src).items():
        if k in ("_owner", "_conda", "_conda_origin"):
            continue
        setattr(dst, k, list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
    return dst


def _read(path: str, what: str) -> str:
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise ValueError(f"ferry: cannot read the {what} {path}: {e.strerror}") from None
