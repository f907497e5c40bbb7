"""``azureml.telemetry`` as ``ferry.telemetry``: Ferry collects no telemetry and sends nothing
anywhere. :func:`set_diagnostics_collection` records the choice (in the home's
``diagnostics.json``) so code and notebooks that call it keep working, and
:func:`get_diagnostics_collection_info` reads it back."""

from __future__ import annotations

import json
import os

from .exceptions import UserErrorException  # Azure exports it here too

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, Optional

SEND_DIAGNOSTICS_KEY = "send_diagnostics"
DIAGNOSTICS_VERBOSITY_KEY = "diagnostics_verbosity"
_VERBOSITIES = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET")


def _path() -> str:
    home = os.environ.get("FERRY_HOME") or os.path.join(os.path.expanduser("~"), ".ferry")
    return os.path.join(home, "diagnostics.json")


def set_diagnostics_collection(send_diagnostics: bool = True, verbosity: str = "INFO", reset: bool = False,
                               path: "Optional[str]" = None) -> None:
    """Record whether diagnostics may be collected. Ferry never collects or sends any: this
    only keeps the choice (printed once, as Azure did), for code that reads it back."""
    if verbosity not in _VERBOSITIES:
        raise UserErrorException(f"verbosity must be one of {', '.join(_VERBOSITIES)}, got {verbosity!r}")
    target = path or _path()
    info = {SEND_DIAGNOSTICS_KEY: bool(send_diagnostics) and not reset, DIAGNOSTICS_VERBOSITY_KEY: verbosity}
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    tmp = f"{target}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(info, f)
    os.replace(tmp, target)
    print("Turning diagnostics collection " + ("on" if info[SEND_DIAGNOSTICS_KEY] else "off")
          + ". (Ferry records the choice only: it sends no telemetry anywhere.)")


def get_diagnostics_collection_info(component_name: "Optional[str]" = None, path: "Optional[str]" = None) -> "Dict[str, Any]":
    """The recorded choice: ``{"send_diagnostics": bool, "diagnostics_verbosity": str}``
    (off and INFO when never set)."""
    try:
        with open(path or _path()) as f:
            info = json.load(f)
    except (OSError, ValueError):
        info = {}
    return {SEND_DIAGNOSTICS_KEY: bool(info.get(SEND_DIAGNOSTICS_KEY, False)),
            DIAGNOSTICS_VERBOSITY_KEY: info.get(DIAGNOSTICS_VERBOSITY_KEY, "INFO")}


# Azure's extra diagnostics properties, kept in this process only (nothing is sent anywhere).
global_diagnostics_properties: "Dict[str, Any]" = {}


def add_diagnostics_properties(properties: "Dict[str, Any]") -> None:
    """Add to the process's diagnostics properties (kept in ``global_diagnostics_properties``;
    Ferry sends nothing)."""
    if not isinstance(properties, dict):
        raise UserErrorException(f"properties must be a dict, got {type(properties).__name__}")
    global_diagnostics_properties.update(properties)


def set_diagnostics_properties(properties: "Dict[str, Any]") -> None:
    """Replace the process's diagnostics properties (Ferry sends nothing)."""
    if not isinstance(properties, dict):
        raise UserErrorException(f"properties must be a dict, got {type(properties).__name__}")
    global_diagnostics_properties.clear()
    global_diagnostics_properties.update(properties)


def is_diagnostics_collection_info_available() -> bool:
    """True: the choice can always be read (it defaults to off)."""
    return True
