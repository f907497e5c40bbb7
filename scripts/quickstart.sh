#!/usr/bin/env bash
# Ferry's main job on the embedded default workspace: start it (on demand), submit the
# diabetes example to the local target, stream its logs, then show its metrics and outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
FERRY="$PWD/build/bin/ferry"
PY="$PWD/.venv/bin/python"

echo "== ferry compute list"
"$FERRY" compute list
echo
echo "== ferry run submit --wait examples/diabetes/train.py -- --alpha 0.1"
"$FERRY" run submit -e quickstart --source-dir examples/diabetes --python "$PY" --wait \
  examples/diabetes/train.py -- --alpha 0.1
run_id=$("$FERRY" run list -e quickstart --limit 1 -o json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["id"])')
echo
echo "== ferry run show $run_id"
"$FERRY" run show "$run_id"
echo
out=$(mktemp -d)
echo "== ferry run download $run_id --output-dir $out"
"$FERRY" run download "$run_id" --output-dir "$out"
echo
echo "== ferry studio   (the web UI: open the link to see the run, its logs and metrics)"
"$FERRY" studio
echo
echo "The workspace server keeps running in the background; stop it with: $FERRY server stop"
