"""Minimal pure-Python wheels written directly (no build tools, no index), for tests and
benchmarks of managed environments on machines without a package index."""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile


def make_wheel(wheels: str | os.PathLike, name: str, version: str) -> str:
    """Writes <wheels>/<name>-<version>-py3-none-any.whl (module `name` with VERSION) and
    returns its path."""
    os.makedirs(wheels, exist_ok=True)
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{name}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: ferry-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    files[f"{name}-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    out = os.path.join(wheels, f"{name}-{version}-py3-none-any.whl")
    with zipfile.ZipFile(out, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return out
