#!/usr/bin/env bash
# Snapshot benchmark entry point; the work is done by bench/snapshot.py (see its docstring).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py="$here/../.venv/bin/python"
[ -x "$py" ] || py=python3
exec "$py" "$here/snapshot.py" "$@"
