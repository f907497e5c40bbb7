#!/usr/bin/env bash
# clang-tidy (Debian's, installed by scripts/setup.sh test) with the repo's .clang-tidy over the C++
# files that changed, using build/compile_commands.json (configure first: cmake --preset default).
# Every enabled check is an error (.clang-tidy: WarningsAsErrors). Run by `make test` (make lint).
#
# Which files ("changed"), in order:
#   1. explicit paths: scripts/check_tidy.sh src/common/fs.cc ...
#   2. FERRY_TIDY_BASE=<commit>: files that differ between its merge base with HEAD and the
#      working tree;
#   3. with an upstream branch (@{u}): files that differ between the merge base with it and the
#      working tree (your commits not pushed yet, plus uncommitted and untracked changes);
#   4. when that is empty - a fresh clone in CI sits exactly on its upstream - the files changed
#      by the last commit (HEAD^..HEAD; for a merge, what it brought into the first parent): CI
#      checks the commit that was pushed, which is what is new.
# A changed header is checked through its .cc of the same name (diagnostics in the header shown).
# `--all` checks every tracked .cc file (slow: a minute or more per file and core);
# `--list` only prints which files it would check, and why.
set -euo pipefail
cd "$(dirname "$0")/.."

CLANG_TIDY=${CLANG_TIDY:-clang-tidy}
BUILD_DIR=${BUILD_DIR:-build}
command -v "$CLANG_TIDY" >/dev/null || { echo "check_tidy: $CLANG_TIDY not found (scripts/setup.sh test installs it)"; exit 1; }
[ -f "$BUILD_DIR/compile_commands.json" ] || { echo "check_tidy: no $BUILD_DIR/compile_commands.json (cmake --preset default)"; exit 1; }

list_only=0
if [ "${1:-}" = "--list" ]; then
  list_only=1
  shift
fi
changed=()
if [ "${1:-}" = "--all" ]; then
  mapfile -t changed < <(git ls-files -- '*.cc')
  why="every tracked file"
elif [ $# -gt 0 ]; then
  changed=("$@")
  why="named on the command line"
else
  base=""
  if [ -n "${FERRY_TIDY_BASE:-}" ]; then
    base=$(git merge-base "$FERRY_TIDY_BASE" HEAD)
  elif git rev-parse -q --verify '@{u}' >/dev/null 2>&1; then
    base=$(git merge-base '@{u}' HEAD)
  fi
  if [ -n "$base" ]; then
    mapfile -t changed < <({ git diff --name-only "$base" -- '*.cc' '*.h'
                             git ls-files --others --exclude-standard -- '*.cc' '*.h'; } | sort -u)
    why="changed since $(git rev-parse --short "$base")"
  fi
  if [ ${#changed[@]} -eq 0 ] && [ -z "${FERRY_TIDY_BASE:-}" ] && git rev-parse -q --verify HEAD^ >/dev/null; then
    mapfile -t changed < <(git diff --name-only HEAD^ HEAD -- '*.cc' '*.h')
    why="changed by the last commit ($(git rev-parse --short HEAD))"
  fi
fi

# Headers -> their .cc; keep files that exist and are in the compilation database.
sources=()
headers=()
for f in "${changed[@]}"; do
  [ -f "$f" ] || continue
  case "$f" in
    *.h) headers+=("$f"); f="${f%.h}.cc"; [ -f "$f" ] || continue ;;
    *.cc) ;;
    *) continue ;;
  esac
  grep -qF "\"file\": \"$PWD/$f\"" "$BUILD_DIR/compile_commands.json" || continue
  sources+=("$f")
done
if [ ${#sources[@]} -eq 0 ]; then
  echo "check_tidy: no C++ files to check ($why: ${#changed[@]} files)"
  exit 0
fi
mapfile -t sources < <(printf '%s\n' "${sources[@]}" | sort -u)
filter='^$'
if [ ${#headers[@]} -gt 0 ]; then
  filter="$(printf '%s|' "${headers[@]}" | sed 's/[.]/[.]/g; s/|$//')"
fi

echo "check_tidy: ${#sources[@]} files, $why"
if [ $list_only = 1 ]; then
  printf '  %s\n' "${sources[@]}"
  [ ${#headers[@]} -eq 0 ] || echo "  (diagnostics also in: ${headers[*]})"
  exit 0
fi
jobs=${TIDY_JOBS:-$(nproc)}
# compile_commands.json holds gcc's flags; clang needs what the clang presets add (CMakeLists.txt,
# CMakePresets.json "tsan") to see Asio's coroutines with libstdc++.
clang_args=(--extra-arg=-DBOOST_ASIO_HAS_CO_AWAIT=1 --extra-arg=-includeutility)
# stderr without clang-tidy's "N warnings generated." (the system headers' count, not findings).
printf '%s\n' "${sources[@]}" |
  xargs -P "$jobs" -I{} "$CLANG_TIDY" --quiet -p "$BUILD_DIR" "${clang_args[@]}" --header-filter="$filter" {} \
    2> >(grep -v '^[0-9]* warnings\? generated\.$' >&2)
echo "check_tidy: clean"
