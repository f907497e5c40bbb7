"""Lazy re-exports for the Azure-shaped module tree (``ferry.core.runconfig`` and the rest).

Each module of the tree names what it exports and where it lives; the class is imported on
first use (PEP 562), so ``import ferry.core`` costs a dictionary, not the SDK. The
implementation modules stay flat (``ferry.run_configuration``...); the tree only maps Azure's
module paths onto them::

    from .._lazy import exports

    __getattr__, __dir__, __all__ = exports(__name__, {
        "RunConfiguration": "ferry.run_configuration",          # the same name there
        "ScriptRun": "ferry.run:Run",                           # another name there
    })
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Dict, List, Tuple


def exports(module: str, names: "Dict[str, str]") -> "Tuple[Callable[[str], Any], Callable[[], List[str]], List[str]]":
    """``module``'s ``__getattr__``, ``__dir__`` and ``__all__`` for ``names``: public name ->
    ``"package.module"`` (the same name there) or ``"package.module:Other"``."""
    import sys

    def __getattr__(name: str) -> "Any":
        target = names.get(name)
        if target is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        import importlib

        path, _, attr = target.partition(":")
        value = getattr(importlib.import_module(path), attr or name)
        setattr(sys.modules[module], name, value)  # the next lookup is a plain attribute
        return value

    def __dir__() -> "List[str]":
        return sorted(set(names) | set(vars(sys.modules[module])))

    return __getattr__, __dir__, sorted(names)
