"""Operating the server (docs/operating.md): the version in one place. A real server on port 0
each."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from conftest import REPO


# ---- the version


def test_the_version_is_written_once_and_everything_agrees(workspace):
    m = re.search(r'^__version__ = "(\d+\.\d+\.\d+)"$', (REPO / "python/ferry/_version.py").read_text(), re.M)
    assert m, "python/ferry/_version.py must hold the version"
    version = m.group(1)
    assert workspace.cli("--version").stdout.strip() == f"ferry {version}"
    status, body, _ = workspace.api("GET", "/health", auth=False)
    assert status == 200 and body["version"] == version, body
    py = subprocess.run([sys.executable, "-c", "import ferry; print(ferry.__version__)"], capture_output=True,
                        text=True, env={**os.environ, "PYTHONPATH": str(REPO / "python")}, check=True)
    assert py.stdout.strip() == version
    pyproject = (REPO / "python/pyproject.toml").read_text()
    assert re.search(r'^dynamic = \["version"\]', pyproject, re.M), "pyproject.toml must read the version"
    assert 'attr = "ferry._version.__version__"' in pyproject
    assert "_version.py" in (REPO / "CMakeLists.txt").read_text()
    assert "version" not in json.loads((REPO / "web/package.json").read_text())  # Studio asks /health
    import yaml

    assert str(yaml.safe_load((REPO / "docs/openapi.yaml").read_text())["info"]["version"]) == version
    # No other copy of the literal where one used to be.
    for rel in ("src/server/api.cc", "src/cli/verbs.cc", "web/package.json", "python/ferry/__init__.py",
                "python/pyproject.toml", "docs/cli.md"):
        assert f'"{version}"' not in (REPO / rel).read_text() and f"ferry {version}" not in (REPO / rel).read_text(), rel
