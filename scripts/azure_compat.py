#!/usr/bin/env python3
"""Write docs/azure-compat.md: every public name of Azure ML SDK v1 with Ferry's status.

Inputs:
  docs/azure-api-1.61.json   Azure's public API (names and signatures; scripts/azure_api_dump.py)
  docs/azure-compat-notes.txt  what Ferry does differently, or why a name does not apply
  the ferry package (python/)  what exists: ``azureml.X`` is looked up as ``ferry.X``

A name's status:
  works          ferry.X has it (a class's members are checked one by one too)
  differs        ferry.X has it and a note says how it behaves differently
  not applicable ferry.X lacks it on purpose; the note says why
  missing        ferry.X lacks it and no note explains it (work still to do)

``--check`` (run by ``make test``) regenerates the file in memory and fails when the committed
one differs, when a note's key matches no name of the dump, or when a name noted "n/a" exists
after all: the document stays true as the SDK moves.

Notes file: one note per line, ``KEY | STATUS | TEXT``; KEY is ``module.Name`` or
``module.Name.member`` and may use ``*`` (fnmatch); STATUS is ``differs`` or ``n/a``; blank lines
and lines starting with ``#`` are skipped. The first matching line wins.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import importlib
import inspect
import json
import os
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API = os.path.join(ROOT, "docs", "azure-api-1.61.json")
NOTES = os.path.join(ROOT, "docs", "azure-compat-notes.txt")
OUT = os.path.join(ROOT, "docs", "azure-compat.md")


def load_notes(path: str) -> "list[tuple[str, str, str, int]]":
    notes = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split("|", 2)]
            if len(parts) != 3 or parts[1] not in ("differs", "n/a") or not parts[2]:
                sys.exit(f"{path}:{lineno}: expected 'KEY | differs|n/a | TEXT', got {line!r}")
            notes.append((parts[0], parts[1], parts[2], lineno))
    return notes


def instance_attributes(cls: type) -> "set[str]":
    """Names a class (or a ferry base) assigns as ``self.NAME = ...`` in its methods."""
    names: "set[str]" = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("ferry"):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            for t in targets:
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                    names.add(t.attr)
    return names


class Compat:
    def __init__(self, api: dict, notes: "list[tuple[str, str, str, int]]") -> None:
        self.api = api
        self.notes = notes
        self.used: "set[int]" = set()
        self.errors: "list[str]" = []

    def note(self, key: str) -> "tuple[str, str] | None":
        for pattern, status, text, lineno in self.notes:
            if fnmatch.fnmatchcase(key, pattern):
                self.used.add(lineno)
                return status, text
        return None

    def status(self, key: str, present: bool) -> "tuple[str, str]":
        n = self.note(key)
        if n is None:
            return ("works", "") if present else ("missing", "")
        status, text = n
        if status == "n/a" and present:
            self.errors.append(f"{key}: noted n/a but ferry has it; change its note in {NOTES}")
        if status == "differs" and not present:
            return "missing", text
        return ("differs" if status == "differs" else "not applicable"), text

    def render(self) -> str:
        counts = {"works": 0, "differs": 0, "not applicable": 0, "missing": 0}
        sections = []
        for module in sorted(self.api):
            ferry_module = "ferry" + module[len("azureml"):]
            try:
                mod = importlib.import_module(ferry_module)
            except ImportError:
                mod = None
            rows = []
            for name in sorted(self.api[module]):
                entry = self.api[module][name]
                value = getattr(mod, name, None) if mod is not None else None
                key = f"{module}.{name}"
                st, text = self.status(key, value is not None)
                counts[st] += 1
                detail = text
                home = entry.get("module", "")
                if entry["kind"] == "class" and home != module and name in self.api.get(home, {}):
                    # Re-exported: its members are listed (and counted) once, where it is defined.
                    detail = "; ".join(filter(None, [text, f"members: see `{home}`"]))
                elif entry["kind"] == "class" and entry.get("members"):
                    detail = self.members(key, entry["members"], value, counts, text,
                                          inherited_na=st == "not applicable" and value is None)
                rows.append(f"| `{name}` | {entry['kind']} | {st} | {detail} |")
            sections.append(f"## `{module}` -> `{ferry_module}`\n\n| Name | Kind | Status | Notes |\n"
                            "|---|---|---|---|\n" + "\n".join(rows) + "\n")
        for pattern, _, _, lineno in self.notes:
            if lineno not in self.used:
                self.errors.append(f"{NOTES}:{lineno}: '{pattern}' matches no name of {API}")
        total = sum(counts.values())
        summary = ", ".join(f"{v} {k}" for k, v in counts.items())
        return (HEADER + f"\n{total} names and class members: {summary}.\n\n" + "\n".join(sections))

    def members(self, key: str, members: dict, cls: object, counts: dict, text: str,
                inherited_na: bool = False) -> str:
        """The class's members by status. Those of a class that is not applicable (and that
        Ferry does not have) are not applicable with it, unless a note of their own says more."""
        have = set(dir(cls)) | instance_attributes(cls) if isinstance(cls, type) else set()
        groups: "dict[str, list[str]]" = {"works": [], "differs": [], "not applicable": [], "missing": []}
        for member in sorted(members):
            st, why = self.status(f"{key}.{member}", member in have)
            if st == "missing" and inherited_na and not why:
                st = "not applicable"
            counts[st] += 1
            label = "`" + member + "`" + (f" ({why})" if why else "")
            groups[st].append(label)
        parts = [text] if text else []
        for st, labels in groups.items():
            if labels:
                parts.append(f"**{st}**: " + ", ".join(labels))
        return "<br>".join(parts)


HEADER = """# Azure ML SDK v1 compatibility

Generated by `scripts/azure_compat.py` from the public API of azureml-core 1.61 and its companion
packages (`docs/azure-api-1.61.json`: names and signatures, listed with
`scripts/azure_api_dump.py`) and Ferry's notes (`docs/azure-compat-notes.txt`). Do not edit by
hand: `make test` fails when this file is out of date.

Rename `azureml` to `ferry` in every import: `from azureml.core import Workspace` becomes
`from ferry.core import Workspace`. Statuses:

- **works**: Ferry has the name (for a class: the member) with Azure's meaning.
- **differs**: Ferry has it; the note says how it behaves differently.
- **not applicable**: an Azure service Ferry does not reimplement; the note says why and what to
  use instead.
- **missing**: not built yet.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail when docs/azure-compat.md is out of date")
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(ROOT, "python"))
    with open(API, encoding="utf-8") as f:
        api = json.load(f)
    compat = Compat(api, load_notes(NOTES))
    text = compat.render()
    if compat.errors:
        sys.exit("azure_compat: " + "\n  ".join(compat.errors))
    if args.check:
        try:
            with open(OUT, encoding="utf-8") as f:
                current = f.read()
        except OSError:
            current = ""
        if current != text:
            sys.exit(f"{OUT} is out of date with the ferry package or its notes: run scripts/azure_compat.py "
                     "and commit the result")
        return
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
