#!/usr/bin/env bash
# Builds Studio (web/) into OUT_DIR: installs the locked npm packages when package-lock.json
# changed (npm ci), then type-checks and bundles with Vite, and gzips the text files. Called by the build (CMake target
# `web`); the server serves OUT_DIR (build/web, next to build/bin).
set -euo pipefail
out=${1:?usage: build_web.sh OUT_DIR}
cd "$(dirname "$0")/../web"
stamp="node_modules/.ferry-lock-$(sha256sum package-lock.json | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "web: installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
FERRY_WEB_OUT_DIR="$out" npm run --silent build
# Pre-compressed copies: the server sends file.gz to browsers that accept gzip.
find "$out" -type f \( -name '*.js' -o -name '*.css' -o -name '*.html' -o -name '*.svg' \) \
  -exec gzip -9 -k -f -n {} +
