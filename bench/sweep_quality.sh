#!/usr/bin/env bash
# sweep_quality, all three contenders in one run: Ferry's random and Bayesian samplers
# (bench/sweep_quality.cc) and Optuna's TPE (bench/sweep_quality_tpe.py), on the same problems,
# seeds and budgets, one after the other; each prints its table and RESULT lines.
#
#   bench/sweep_quality.sh [--seeds 20] [--budget 200] [--problem branin|hartmann6] [--first-seed 0]
#                          [--per-seed]   (passed to both)
#
# SWEEP_QUALITY_BIN: the C++ benchmark (default $BUILD_DIR/bench/sweep_quality, BUILD_DIR
# defaulting to build/). Optuna comes from bench/requirements-bench.txt, installed into .venv
# here when `import optuna` fails there (it is not in requirements-dev.txt: tests do not need
# it). Exits non-zero when either part fails; the other still runs.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
build="${BUILD_DIR:-$repo/build}"
[[ "$build" = /* ]] || build="$repo/$build"
bin="${SWEEP_QUALITY_BIN:-$build/bench/sweep_quality}"
py="$repo/.venv/bin/python"

status=0
if [ -x "$bin" ]; then
  "$bin" "$@" || status=1
else
  echo "sweep_quality: $bin is missing; build first (make build)" >&2
  status=1
fi

if [ ! -x "$py" ]; then
  echo "sweep_quality: $py is missing (scripts/setup.sh makes .venv); Optuna TPE not run" >&2
  exit 1
fi
if ! "$py" -c 'import optuna' 2>/dev/null; then
  echo "sweep_quality: installing bench/requirements-bench.txt (optuna) into .venv" >&2
  "$py" -m pip install -q -r "$here/requirements-bench.txt" >&2 || {
    echo "sweep_quality: cannot install optuna; Optuna TPE not run" >&2
    exit 1
  }
fi
"$py" "$here/sweep_quality_tpe.py" "$@" || status=1
exit $status
