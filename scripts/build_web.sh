#!/usr/bin/env bash
# Builds Studio (web/) into OUT_DIR: installs the locked npm packages when package-lock.json
# changed (npm ci), then type-checks and bundles with Vite. Called by the build (CMake target
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
