#!/usr/bin/env bash
# Installs what Ferry needs on Debian 12, idempotently (only missing Debian packages; the venv's
# packages only when requirements-dev.txt changed). Usage: scripts/setup.sh [build|quickstart|test]
#   build       what building needs: compiler, CMake/Ninja/ccache, the C++ libraries, GoogleTest
#               (unit tests build with the tree), Node.js/npm for Studio. `make build` runs this.
#   quickstart  build + the project-local Python venv (.venv) the example runs in. `make quickstart`.
#   test        (the default) quickstart + the test lab and the tools `make test` runs, below.
# The test lab:
# podman/runc/catatonit/busybox-static: rootful, offline containers for the integration tests
# (tests/support/podman.py). runc is listed explicitly: podman's default crun fails on hybrid
# cgroup hosts, and without it --no-install-recommends would pull crun instead.
# openssh-server/-client, rsync, iproute2, util-linux (unshare, nsenter), openssl, iptables, procps:
# real sshd "remote hosts" in network namespaces for the SSH target's tests (tests/support/sshd.py).
# slurm-wlm/munge: a real Slurm 22.05 cluster (slurmctld + slurmd per netns) for the Slurm target's
# tests (tests/support/slurm.py); no slurmdbd/mariadb (no accounting: squeue/scontrol instead).
# chromium + fonts-liberation: the browser the Studio end-to-end tests drive (playwright-core
# with the system browser, no browser download).
# libpmix-dev: only for its unversioned libpmix.so, which Slurm's mpi/pmix plugin dlopens (without it
# `srun --mpi=pmix` fails: "can not load PMIx library"). openmpi-bin + python3-mpi4py: MPI jobs with
# no compiler step (libopenmpi-dev would add gfortran, ~70 MB). python3-torch: gloo all_reduce jobs
# (Debian's interpreter /usr/bin/python3 sees it; a pyenv python3 does not). ~850 MB in all.
# clang + libclang-rt-14-dev (its sanitizer runtimes, only a Recommends): the TSan tree; clang-format,
# clang-tidy: the format check and clang-tidy.
# openjdk-17-jre-headless + the s3proxy jar (below; curl and ca-certificates fetch it): a real S3
# server for the S3 client's tests and benchmark (tests/support/s3proxy.py, src/data).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-test}
case "$mode" in build | quickstart | test) ;; *)
  echo "usage: scripts/setup.sh [build|quickstart|test]" >&2
  exit 2
  ;;
esac

DEB_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost-dev nlohmann-json3-dev libsqlite3-dev sqlite3 libssl-dev libzstd-dev zstd
  libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev libsimdjson-dev libsodium-dev
  libgtest-dev googletest tzdata
)
# Studio (web/) builds with Node.js 18+ and npm; Debian's are used unless a newer node is
# installed already (e.g. from NodeSource, which bundles npm).
if ! command -v npm >/dev/null 2>&1; then
  DEB_PACKAGES+=(nodejs npm)
fi
if [ "$mode" != build ]; then
  DEB_PACKAGES+=(python3 python3-venv)
fi
if [ "$mode" = test ]; then
  DEB_PACKAGES+=(
    podman runc catatonit busybox-static
    openssh-server openssh-client rsync iproute2 util-linux openssl iptables procps
    slurm-wlm munge libpmix-dev openmpi-bin python3-mpi4py python3-torch
    chromium fonts-liberation
    clang libclang-rt-14-dev clang-format clang-tidy
    openjdk-17-jre-headless curl ca-certificates
  )
fi

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ "$mode" = build ] && exit 0

# Python packages for the examples and tests, in a project-local venv. Re-installed only
# when requirements-dev.txt changes.
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=".venv/.requirements-$(sha256sum requirements-dev.txt | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python packages from requirements-dev.txt"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  rm -f .venv/.requirements-*
  touch "$stamp"
fi

[ "$mode" = test ] || exit 0

# s3proxy (Maven Central, org.gaul:s3proxy, the jar-with-dependencies build; Java 17), cached in
# .cache/s3proxy/ (gitignored) and checked against the SHA-1 Maven publishes beside it and the
# one pinned here. tests/support/s3proxy.py reads the same version.
S3PROXY_VERSION=4.1.0
S3PROXY_SHA1=0a0b89e982bc1b1b5757d45b61109e05a840dd87
s3proxy_jar=".cache/s3proxy/s3proxy-$S3PROXY_VERSION-jar-with-dependencies.jar"
if [ ! -f "$s3proxy_jar" ]; then
  url="https://repo1.maven.org/maven2/org/gaul/s3proxy/$S3PROXY_VERSION/s3proxy-$S3PROXY_VERSION-jar-with-dependencies.jar"
  echo "setup: downloading $url"
  mkdir -p .cache/s3proxy
  curl -fsSL --retry 3 -o "$s3proxy_jar.part" "$url"
  published=$(curl -fsSL --retry 3 "$url.sha1" | cut -c1-40)
  actual=$(sha1sum "$s3proxy_jar.part" | cut -c1-40)
  if [ "$actual" != "$published" ] || [ "$actual" != "$S3PROXY_SHA1" ]; then
    rm -f "$s3proxy_jar.part"
    echo "setup: $url has SHA-1 $actual; Maven publishes $published and setup.sh pins $S3PROXY_SHA1" >&2
    exit 1
  fi
  mv "$s3proxy_jar.part" "$s3proxy_jar"
fi
