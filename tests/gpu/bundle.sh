#!/usr/bin/env bash
# Packs a built ferry binary (stripped) and the shared libraries it needs beyond glibc into
# tests/gpu/bundle/, small enough to carry to a bare GPU machine (the device tool carries at
# most 64 MiB): tests/gpu/bundle.sh [FERRY_BIN]. run.sh uses the bundle when it exists.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ferry="${1:-$here/../../build/bin/ferry}"
out="$here/bundle"
rm -rf "$out"
mkdir -p "$out/lib"
strip -o "$out/ferry" "$ferry"
# glibc's own libraries must be the machine's; everything else comes along.
ldd "$ferry" | awk '/=> \// {print $3}' | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libresolv.so*) ;;
    *) cp -L "$lib" "$out/lib/" ;;
  esac
done
du -sh "$out"
