"""The :class:`Environment`: a Python environment spec (pip requirements or a conda file),
registered in a workspace under a name with immutable versions."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, List, Optional

    from .workspace import Workspace

_TYPES = ("pip", "conda")


class Environment:
    """``Environment.from_pip_requirements(name, file)`` or
    ``Environment.from_conda_specification(name, file)``; :meth:`register` stores it as the
    next version (unless the latest version has the same spec), :meth:`get` reads one back.

    :ivar name: the environment's name.
    :ivar version: its version once registered or read (``None`` before).
    :ivar spec_type: ``"pip"`` or ``"conda"``.
    :ivar content: the spec's text.
    """

    def __init__(self, name: str, spec_type: str = "pip", content: str = "", description: str = "") -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("ferry: an environment needs a non-empty name")
        if spec_type not in _TYPES:
            raise ValueError(f"ferry: environment type must be 'pip' or 'conda', got {spec_type!r}")
        self.name = name
        self.spec_type = spec_type
        self.content = content
        self.description = description
        self.version: "Optional[int]" = None
        self.created_at: "Optional[float]" = None

    @classmethod
    def from_pip_requirements(cls, name: str, file_path: str) -> "Environment":
        """From a pip requirements file (read now)."""
        return cls(name, "pip", _read(file_path, "requirements file"))

    @classmethod
    def from_conda_specification(cls, name: str, file_path: str) -> "Environment":
        """From a conda environment file (read now)."""
        return cls(name, "conda", _read(file_path, "conda file"))

    def register(self, workspace: "Workspace") -> "Environment":
        """Store as the next version; returns the registered environment (its version set)."""
        body = workspace._client.call("POST", "/environments", {"name": self.name, "type": self.spec_type,
                                                                 "content": self.content,
                                                                 "description": self.description})
        return Environment._from_json(body, self.content)

    @staticmethod
    def get(workspace: "Workspace", name: str, version: "Optional[int]" = None) -> "Environment":
        """A registered environment (the latest version unless ``version`` is given).

        :raises ferry.FerryError: when there is no such environment or version.
        """
        v = "latest" if version is None else str(int(version))
        return Environment._from_json(workspace._client.call("GET", f"/environments/{name}/{v}"))

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
        env.version = j.get("version")
        env.created_at = j.get("created_at")
        return env

    def __repr__(self) -> str:
        return f"<ferry.Environment {self.name!r} version={self.version} {self.spec_type}>"


def _read(path: str, what: str) -> str:
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise ValueError(f"ferry: cannot read the {what} {path}: {e.strerror}") from None
