#!/usr/bin/env bash
# Format check: every tracked C++ file (*.cc, *.h) must be as clang-format (Debian's, installed by
# scripts/setup.sh) would write it with the repo's .clang-format. Exits non-zero and names the
# files otherwise. `scripts/check_format.sh --fix` rewrites them in place instead.
# Run by `make test` (make lint) before the long test runs.
set -euo pipefail
cd "$(dirname "$0")/.."

CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
command -v "$CLANG_FORMAT" >/dev/null || { echo "check_format: $CLANG_FORMAT not found (scripts/setup.sh test installs it)"; exit 1; }

# Paths not checked, each with the reason (none now).
PENDING=()

pending() {
  local f=$1 p
  for p in "${PENDING[@]}"; do
    [[ $f == "$p" || ( $p == */ && $f == "$p"* ) ]] && return 0
  done
  return 1
}

files=()
while IFS= read -r f; do
  pending "$f" || files+=("$f")
done < <(git ls-files -- '*.cc' '*.h')

if [ "${1:-}" = "--fix" ]; then
  "$CLANG_FORMAT" -i "${files[@]}"
  exit 0
fi

# One clang-format run over all files; its diagnostics start with the file's name.
mapfile -t bad < <("$CLANG_FORMAT" --dry-run -Werror "${files[@]}" 2>&1 |
  sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: .*/\1/p' | sort -u)
if [ ${#bad[@]} -gt 0 ]; then
  echo "check_format: not formatted (${#bad[@]} files; fix with scripts/check_format.sh --fix):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "check_format: ${#files[@]} files formatted"
