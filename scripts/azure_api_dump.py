#!/usr/bin/env python3
"""Dump the public API of Azure ML SDK v1 (names and signatures only) as JSON.

Run it in a scratch venv with the SDK installed (it is never a dependency of Ferry):

    python3 -m venv /tmp/azvenv
    /tmp/azvenv/bin/pip install azureml-core==1.61.* azureml-train-core azureml-pipeline-core \
        azureml-pipeline-steps azureml-dataset-runtime azureml-telemetry
    /tmp/azvenv/bin/python scripts/azure_api_dump.py > docs/azure-api-1.61.json

For every module below: each public name it defines or re-exports (no leading underscore; module
loggers and imported stdlib modules left out), its kind, and for classes and functions the call
signature; for a class, its public methods and properties with their signatures. Nothing of the
SDK's code or docstrings is kept. scripts/azure_compat.py compares the dump with the ferry package
and writes docs/azure-compat.md.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import types

MODULES = [
    "azureml.core",
    "azureml.core.workspace",
    "azureml.core.experiment",
    "azureml.core.run",
    "azureml.core.compute",
    "azureml.core.compute_target",
    "azureml.core.runconfig",
    "azureml.core.conda_dependencies",
    "azureml.core.environment",
    "azureml.core.script_run_config",
    "azureml.core.datastore",
    "azureml.core.dataset",
    "azureml.core.model",
    "azureml.core.authentication",
    "azureml.train.hyperdrive",
    "azureml.train.hyperdrive.runconfig",
    "azureml.train.hyperdrive.sampling",
    "azureml.train.hyperdrive.policy",
    "azureml.train.hyperdrive.parameter_expressions",
    "azureml.train.hyperdrive.run",
    "azureml.train.estimator",
    "azureml.train.sklearn",
    "azureml.train.dnn",
    "azureml.exceptions",
    "azureml.telemetry",
    "azureml.data",
    "azureml.data.data_reference",
    "azureml.data.datapath",
    "azureml.data.file_dataset",
    "azureml.data.tabular_dataset",
    "azureml.data.output_dataset_config",
    "azureml.data.dataset_consumption_config",
    "azureml.pipeline.core",
    "azureml.pipeline.steps",
]


def signature(obj: object) -> str:
    try:
        return str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""


def describe_class(cls: type) -> dict:
    members = {}
    # Inherited members count when the base is the SDK's own (not object, dict, Enum...).
    own = {}
    for base in reversed(cls.__mro__):
        if base is cls or base.__module__.startswith("azureml"):
            own.update(vars(base))
    for name, value in sorted(own.items()):
        if name.startswith("_") and name != "__init__":
            continue
        if isinstance(value, property):
            members[name] = "property"
        elif isinstance(value, (staticmethod, classmethod)):
            members[name] = signature(value.__func__)
        elif inspect.isfunction(value):
            members[name] = signature(value)
        elif not callable(value) and not isinstance(value, type):
            members[name] = "attribute"
    return {"kind": "class", "module": cls.__module__, "signature": signature(cls), "members": members}


def describe(value: object) -> "dict | None":
    if isinstance(value, types.ModuleType):
        return None
    if inspect.isclass(value):
        return describe_class(value)
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        return {"kind": "function", "module": getattr(value, "__module__", ""), "signature": signature(value)}
    if isinstance(value, (str, int, float, bool)):
        return {"kind": "constant"}
    return None


def main() -> None:
    out = {}
    for path in MODULES:
        try:
            mod = importlib.import_module(path)
        except Exception as e:  # noqa: BLE001 - an optional package missing
            print(f"skipping {path}: {e}", file=sys.stderr)
            continue
        exported = getattr(mod, "__all__", None)
        names = exported or [n for n in vars(mod) if not n.startswith("_")]
        entries = {}
        for name in sorted(set(names)):
            if name.startswith("_") or name in ("logging", "module_logger", "logger"):
                continue
            value = getattr(mod, name, None)
            d = describe(value)
            if d is None:
                continue
            # A name imported from outside the SDK (typing, os...) is not part of its API.
            origin = d.get("module") or path
            if d["kind"] != "constant" and not origin.startswith("azureml"):
                continue
            # Without __all__, a module's API is what it defines (not what it imports) and its
            # upper-case constants.
            if not exported and (origin != path if d["kind"] != "constant" else not name.isupper()):
                continue
            entries[name] = d
        out[path] = entries
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
