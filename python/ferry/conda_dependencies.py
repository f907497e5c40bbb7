"""``CondaDependencies``: a conda environment file (``name``, ``channels``, ``dependencies``
with a ``pip:`` section) built up in code, read from a file and written back.

The text it writes is what Ferry's server and agents read (docs/environments.md): ``python``
and a ``pip:`` section become a virtual environment; other conda packages need conda, mamba
or micromamba on the node, or are installed with pip under the same name.
"""

from __future__ import annotations

import os
import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, Iterable, List, Optional

CONDA_FILE_NAME = "conda_dependencies.yml"
DEFAULT_NAME = "project_environment"
DEFAULT_CHANNELS = ("conda-forge",)

_NAME_RE = re.compile(r"^(?:[^:\s]+::)?([A-Za-z0-9][A-Za-z0-9._-]*)")
_PIP_NAME_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def _conda_name(spec: str) -> str:
    """``conda-forge::numpy=1.26=py311`` -> ``numpy``."""
    m = _NAME_RE.match(spec.strip())
    return m.group(1).lower() if m else spec.strip().lower()


def _pip_name(spec: str) -> str:
    """``scikit-learn[alldeps]>=1.4`` -> ``scikit-learn`` (``_`` and ``.`` count as ``-``)."""
    m = _PIP_NAME_RE.match(spec.strip())
    return re.sub(r"[-_.]+", "-", (m.group(1) if m else spec.strip()).lower())


class CondaDependencies:
    """A conda environment specification.

    ``CondaDependencies()`` is the default: no Python version pinned (the target's interpreter
    is used), ``pip``, no packages. ``CondaDependencies(conda_dependencies_file_path=PATH)``
    reads a file; :meth:`create` builds one from package lists.
    """

    DEFAULT_NUMBER_OF_CONDA_PACKAGES = 0
    DEFAULT_NUMBER_OF_PIP_PACKAGES = 0

    def __init__(self, conda_dependencies_file_path: "Optional[str]" = None,
                 _underlying_structure: "Optional[Dict[str, Any]]" = None) -> None:
        self._name = DEFAULT_NAME
        self._channels: "List[str]" = list(DEFAULT_CHANNELS)
        self._conda: "List[str]" = ["pip"]
        self._pip: "List[str]" = []
        self._text: "Optional[str]" = None  # the file as read, while nothing has been changed
        if conda_dependencies_file_path is not None:
            path = os.path.expanduser(conda_dependencies_file_path)
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
            except OSError as e:
                raise ValueError(f"ferry: cannot read the conda file {conda_dependencies_file_path}: "
                                 f"{e.strerror}") from None
            self._load(_parse_yaml(text, conda_dependencies_file_path), conda_dependencies_file_path)
            self._text = text
        elif _underlying_structure is not None:
            self._load(_underlying_structure, "the conda specification")

    @staticmethod
    def _from_string(text: str, where: str = "the conda specification") -> "CondaDependencies":
        cd = CondaDependencies()
        cd._load(_parse_yaml(text, where), where)
        cd._text = text
        return cd

    def _load(self, d: "Any", where: str) -> None:
        if not isinstance(d, dict):
            raise ValueError(f"ferry: {where}: expected a mapping with 'dependencies'")
        self._name = str(d.get("name") or DEFAULT_NAME)
        channels = d.get("channels") or []
        deps = d.get("dependencies") or []
        if not isinstance(channels, list) or not isinstance(deps, list):
            raise ValueError(f"ferry: {where}: 'channels' and 'dependencies' must be lists")
        self._channels = [str(c) for c in channels]
        self._conda, self._pip = [], []
        for dep in deps:
            if isinstance(dep, dict):
                for key, value in dep.items():
                    if key != "pip":
                        raise ValueError(f"ferry: {where}: field 'dependencies': unknown section {key!r}; "
                                         "allowed: pip")
                    if value is None:
                        continue
                    if not isinstance(value, list):
                        raise ValueError(f"ferry: {where}: field 'dependencies.pip': expected a list")
                    self._pip.extend(str(p) for p in value)
            elif dep is not None:
                self._conda.append(str(dep))

    def _changed(self) -> None:
        self._text = None

    # ---- construction
    @staticmethod
    def create(pip_indexurl: "Optional[str]" = None, pip_packages: "Optional[Iterable[str]]" = None,
               conda_packages: "Optional[Iterable[str]]" = None, python_version: "Optional[str]" = None,
               pin_sdk_version: bool = True) -> "CondaDependencies":
        """A specification with these packages. ``python_version`` pins the interpreter
        (``"3.11"``); left out, the target's interpreter is used. ``pin_sdk_version`` is
        accepted and has no effect: runs get the ``ferry`` package from the agent."""
        cd = CondaDependencies()
        if python_version:
            cd.set_python_version(python_version)
        if pip_indexurl:
            cd.set_pip_index_url(pip_indexurl)
        for p in conda_packages or ():
            cd.add_conda_package(p)
        for p in pip_packages or ():
            cd.add_pip_package(p)
        return cd

    @staticmethod
    def merge_requirements(requirements: "Iterable[str]") -> "List[str]":
        """Requirements with duplicates (by package name) removed; the last one wins."""
        by_name: "Dict[str, str]" = {}
        for r in requirements:
            by_name[_pip_name(r)] = r
        return list(by_name.values())

    # ---- the file's parts
    @property
    def conda_channels(self) -> "List[str]":
        return list(self._channels)

    @property
    def conda_packages(self) -> "List[str]":
        """The conda dependencies, ``python=...`` included, ``pip`` itself not."""
        return [c for c in self._conda if _conda_name(c) != "pip"]

    @property
    def pip_packages(self) -> "List[str]":
        return [p for p in self._pip if not p.lstrip().startswith("-")]

    @property
    def pip_options(self) -> "List[str]":
        """Lines of the ``pip:`` section that are options (``--index-url URL``...)."""
        return [p for p in self._pip if p.lstrip().startswith("-")]

    @property
    def sdk_origin_url(self) -> str:
        return ""

    def get_python_version(self) -> "Optional[str]":
        """The pinned Python version (``"3.11"``), or ``None`` when the target's is used."""
        for c in self._conda:
            if _conda_name(c) == "python":
                rest = re.sub(r"^(?:[^:\s]+::)?python", "", c.strip(), flags=re.I).strip().lstrip("=").strip()
                return rest.split("=")[0] or None
        return None

    def set_python_version(self, version: str) -> None:
        version = str(version).strip()
        if not re.match(r"^\d+(\.\d+){0,2}(\.\*)?$", version):
            raise ValueError(f"ferry: python_version must look like '3.11' or '3.11.7', got {version!r}")
        spec = f"python={version}"
        for i, c in enumerate(self._conda):
            if _conda_name(c) == "python":
                self._conda[i] = spec
                break
        else:
            self._conda.insert(0, spec)
        self._changed()

    def add_channel(self, channel: str) -> None:
        if channel not in self._channels:
            self._channels.append(channel)
            self._changed()

    def remove_channel(self, channel: str) -> None:
        if channel not in self._channels:
            raise ValueError(f"ferry: channel {channel!r} is not in the specification "
                             f"(channels: {', '.join(self._channels) or 'none'})")
        self._channels.remove(channel)
        self._changed()

    def add_conda_package(self, conda_package: str) -> None:
        """Adds a conda package; one of the same name is replaced (``numpy`` by ``numpy=1.26``)."""
        name = _conda_name(_check_spec(conda_package, "conda_package"))
        self._conda = [c for c in self._conda if _conda_name(c) != name] + [conda_package.strip()]
        self._changed()

    def remove_conda_package(self, conda_package: str) -> None:
        """Removes the conda package of that name (any version)."""
        name = _conda_name(conda_package)
        kept = [c for c in self._conda if _conda_name(c) != name]
        if len(kept) == len(self._conda):
            raise ValueError(f"ferry: conda package {conda_package!r} is not in the specification "
                             f"(conda packages: {', '.join(self.conda_packages) or 'none'})")
        self._conda = kept
        self._changed()

    def add_pip_package(self, pip_package: str) -> None:
        """Adds a pip requirement; one of the same name is replaced."""
        name = _pip_name(_check_spec(pip_package, "pip_package"))
        self._pip = [p for p in self._pip if p.lstrip().startswith("-") or _pip_name(p) != name]
        self._pip.append(pip_package.strip())
        self._changed()

    def remove_pip_package(self, pip_package: str) -> None:
        """Removes the pip requirement of that name (any version)."""
        name = _pip_name(pip_package)
        kept = [p for p in self._pip if p.lstrip().startswith("-") or _pip_name(p) != name]
        if len(kept) == len(self._pip):
            raise ValueError(f"ferry: pip package {pip_package!r} is not in the specification "
                             f"(pip packages: {', '.join(self.pip_packages) or 'none'})")
        self._pip = kept
        self._changed()

    def set_pip_option(self, pip_option: str) -> None:
        """Adds a pip option line (``--extra-index-url URL``); one with the same flag is replaced."""
        flag = pip_option.split()[0] if pip_option.split() else ""
        if not flag.startswith("-"):
            raise ValueError(f"ferry: a pip option starts with '-', got {pip_option!r}")
        self._pip = [p for p in self._pip if not (p.lstrip().startswith("-") and p.split()[0] == flag)]
        self._pip.insert(len(self.pip_options), pip_option.strip())
        self._changed()

    def remove_pip_option(self, pip_option: str) -> None:
        kept = [p for p in self._pip if p.strip() != pip_option.strip()]
        if len(kept) == len(self._pip):
            raise ValueError(f"ferry: pip option {pip_option!r} is not in the specification")
        self._pip = kept
        self._changed()

    def set_pip_index_url(self, index_url: str) -> None:
        self.set_pip_option(f"--index-url {index_url}")

    def set_pip_requirements(self, pip_requirements: "Iterable[str]") -> None:
        """Replaces the pip section's packages (options stay)."""
        self._pip = self.pip_options + [str(p).strip() for p in pip_requirements]
        self._changed()

    def add_tensorflow_pip_package(self, core_type: str = "cpu", version: "Optional[str]" = None) -> None:
        self.add_pip_package("tensorflow" + (f"=={version}" if version else ""))

    def add_tensorflow_conda_package(self, core_type: str = "cpu", version: "Optional[str]" = None) -> None:
        self.add_conda_package("tensorflow" + (f"={version}" if version else ""))

    def add_cntk_package(self, core_type: str = "cpu") -> None:
        raise NotImplementedError("ferry: CNTK is not supported (it has no builds for current Python versions)")

    def get_default_number_of_packages(self) -> "tuple":
        return (self.DEFAULT_NUMBER_OF_CONDA_PACKAGES, self.DEFAULT_NUMBER_OF_PIP_PACKAGES)

    # ---- output
    def as_dict(self) -> "Dict[str, Any]":
        deps: "List[Any]" = list(self._conda)
        if self._pip:
            deps.append({"pip": list(self._pip)})
        return {"name": self._name, "dependencies": deps, "channels": list(self._channels)}

    def serialize_to_string(self) -> str:
        """The YAML text (the file as read when nothing was changed)."""
        if self._text is not None:
            return self._text
        out = [f"name: {_quote(self._name)}", "dependencies:"]
        out += [f"- {_quote(c)}" for c in self._conda]
        if self._pip:
            out.append("- pip:")
            out += [f"  - {_quote(p)}" for p in self._pip]
        out.append("channels:" if self._channels else "channels: []")
        out += [f"- {_quote(c)}" for c in self._channels]
        return "\n".join(out) + "\n"

    def save(self, path: "Optional[str]" = None) -> str:
        """Writes the file (default ``./conda_dependencies.yml``; a folder gets that name in
        it); returns the path written."""
        path = os.path.expanduser(path or CONDA_FILE_NAME)
        if os.path.isdir(path):
            path = os.path.join(path, CONDA_FILE_NAME)
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.serialize_to_string())
        return path

    def save_to_file(self, base_directory: str, conda_file_path: "Optional[str]" = None) -> str:
        return self.save(os.path.join(base_directory, conda_file_path or CONDA_FILE_NAME))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CondaDependencies) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return (f"<ferry.CondaDependencies python={self.get_python_version()} conda={self.conda_packages} "
                f"pip={self.pip_packages}>")


def _check_spec(spec: "Any", field: str) -> str:
    if not isinstance(spec, str) or not spec.strip() or "\n" in spec:
        raise ValueError(f"ferry: {field} must be a package spec like 'numpy==1.26', got {spec!r}")
    return spec


def _quote(s: str) -> str:
    """A YAML scalar: plain when safe, else double-quoted (JSON's quoting is YAML's)."""
    if re.match(r"^[A-Za-z0-9_.\-=<>!~*,/@+\[\]]([A-Za-z0-9_.\-=<>!~*,/@+\[\] :]*[A-Za-z0-9_.\-=<>!~*/@+\]])?$", s) \
            and ": " not in s and " #" not in s and not s.startswith(("-", "[", "*")):
        return s
    import json

    return json.dumps(s)


# ---- a reader for the YAML of conda environment files (block and flow lists, one level of
# mappings inside lists, comments): PyYAML is not a dependency of the SDK.

def _parse_yaml(text: str, where: str) -> "Any":
    try:
        return _MiniYaml(text, where).document()
    except _Unsupported:
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise ValueError(f"ferry: {where}: this YAML is beyond the subset the SDK reads without PyYAML; "
                             "install pyyaml, or write the file as plain lists") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ValueError(f"ferry: {where}: not valid YAML: {e}") from None


class _Unsupported(Exception):
    pass


class _MiniYaml:
    def __init__(self, text: str, where: str) -> None:
        self.where = where
        self.lines: "List[tuple]" = []  # (line number, indent, content)
        for n, raw in enumerate(text.splitlines(), 1):
            if "\t" in raw[:len(raw) - len(raw.lstrip())]:
                raise _Unsupported()
            content = _strip_comment(raw).rstrip()
            if content.strip() in ("", "---"):
                continue
            self.lines.append((n, len(content) - len(content.lstrip()), content.strip()))
        self.i = 0

    def error(self, n: int, what: str) -> ValueError:
        return ValueError(f"ferry: {self.where}:{n}: {what}")

    def document(self) -> "Any":
        if not self.lines:
            return None
        value = self.block(self.lines[0][1])
        if self.i < len(self.lines):
            raise self.error(self.lines[self.i][0], "unexpected indentation")
        return value

    def block(self, indent: int) -> "Any":
        n, ind, content = self.lines[self.i]
        if content.startswith("- ") or content == "-":
            return self.seq(ind)
        return self.mapping(ind)

    def mapping(self, indent: int) -> "Dict[str, Any]":
        out: "Dict[str, Any]" = {}
        while self.i < len(self.lines):
            n, ind, content = self.lines[self.i]
            if ind < indent:
                break
            if ind > indent:
                raise self.error(n, "unexpected indentation")
            key, sep, rest = content.partition(":")
            if not sep or (rest and not rest.startswith(" ")):
                raise _Unsupported()
            key = _scalar(key.strip())
            self.i += 1
            rest = rest.strip()
            if rest:
                out[key] = _scalar(rest)
            elif self.i < len(self.lines) and (self.lines[self.i][1] > indent or (
                    self.lines[self.i][1] == indent and self.lines[self.i][2].startswith("-"))):
                out[key] = self.block(self.lines[self.i][1])
            else:
                out[key] = None
        return out

    def seq(self, indent: int) -> "List[Any]":
        out: "List[Any]" = []
        while self.i < len(self.lines):
            n, ind, content = self.lines[self.i]
            if ind < indent or not (content.startswith("- ") or content == "-"):
                break
            if ind > indent:
                raise self.error(n, "unexpected indentation")
            item = content[1:].strip()
            self.i += 1
            if not item:
                out.append(self.block(self.lines[self.i][1]) if self.i < len(self.lines)
                           and self.lines[self.i][1] > indent else None)
            elif re.match(r"^[A-Za-z0-9_.-]+:(\s|$)", item) and not item.startswith(("'", '"')):
                key, _, rest = item.partition(":")
                rest = rest.strip()
                if rest:
                    out.append({key: _scalar(rest)})
                elif self.i < len(self.lines) and self.lines[self.i][1] > indent:
                    out.append({key: self.block(self.lines[self.i][1])})
                else:
                    out.append({key: None})
            else:
                out.append(_scalar(item))
        return out


def _strip_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"" and (i == 0 or line[i - 1] in " -[,:"):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _scalar(s: str) -> "Any":
    s = s.strip()
    if s.startswith("[") and s.endswith("]"):
        inner = s[1:-1].strip()
        return [_scalar(x) for x in inner.split(",")] if inner else []
    if s.startswith("{") or s.startswith(("&", "*", "!", "|", ">")):
        raise _Unsupported()
    if len(s) >= 2 and s[0] == s[-1] == '"':
        import json

        try:
            return json.loads(s)
        except ValueError:
            raise _Unsupported() from None
    if len(s) >= 2 and s[0] == s[-1] == "'":
        return s[1:-1].replace("''", "'")
    if s in ("null", "~"):
        return None
    return s
