#!/usr/bin/env bash
# Ferry's GPU checks on a real GPU machine, as one command (tests/gpu/README.md):
#   tests/gpu/run.sh [FERRY_BIN] [PYTHON] [-- gpu_check.py options]
# FERRY_BIN defaults to build/bin/ferry (or tests/gpu/bundle/ferry when bundle.sh made one),
# PYTHON to python3. Exits 0 with "SKIP: no GPU" where there is no GPU; never collected by
# `make test` (its pytest paths are python/tests and tests/integration).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
ferry="${1:-}"
python="${2:-python3}"
shift $(( $# < 2 ? $# : 2 ))
[[ "${1:-}" == "--" ]] && shift
if [[ -z "$ferry" ]]; then
  ferry="$repo/build/bin/ferry"
  [[ -x "$here/bundle/ferry" ]] && ferry="$here/bundle/ferry"
fi
# A bundle (bundle.sh) carries the binary's shared libraries beside it.
if [[ -d "$(dirname "$ferry")/lib" ]]; then
  export LD_LIBRARY_PATH="$(cd "$(dirname "$ferry")/lib" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
if ! command -v "$python" >/dev/null 2>&1; then
  echo "ERROR: cannot run the GPU checks: no Python interpreter '$python'" >&2
  exit 2
fi
exec "$python" "$here/gpu_check.py" --ferry "$ferry" --python "$(command -v "$python")" "$@"
