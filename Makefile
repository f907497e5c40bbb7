# Ferry's entry points. `make quickstart` and `make test` work on a fresh Debian 12 machine as
# root: each installs what it needs first (scripts/setup.sh, idempotent): `make build` only what
# building needs, `make quickstart` adds the Python venv, `make test` the test lab and the tools.
#
# `make test`, in order (each step stops the run on failure):
#   lint-src        format check, ruff, docs/openapi.yaml, docs/azure-compat.md: seconds, before
#                   anything compiles
#   build           the tree with -Werror (WERROR=OFF to relax a local build)
#   lint-built      clang-tidy on the changed files (compile_commands.json), Biome (web/node_modules)
#   test-cpp        C++ unit tests and Studio's Vitest (ctest, build/)
#   test-asan       C++ unit tests under ASan+UBSan (gcc, build-debug/, `debug` preset)
#   test-tsan       C++ unit tests under TSan (Debian's clang, build-tsan/, `tsan` preset); the
#                   same tree compiles the libraries and the CLI with -Werror=thread-safety
#   test-python     SDK tests and the integration tests against the real server (pytest)
.PHONY: all deps deps-quickstart deps-test configure build test lint lint-src lint-built \
	test-cpp test-asan test-tsan test-sanitizers test-python quickstart bench clean

BUILD_DIR ?= build
VENV_PY := .venv/bin/python
WERROR ?= ON
CTEST_J ?= 2

# Sanitizer runtime settings: stop at the first report, with a non-zero exit.
ASAN_ENV := ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:check_initialization_order=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
TSAN_ENV := TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

all: build

deps:
	@scripts/setup.sh build
deps-quickstart:
	@scripts/setup.sh quickstart
deps-test:
	@scripts/setup.sh test

# Re-running the preset is cheap and keeps FERRY_WERROR as asked.
configure:
	cmake --preset default -DFERRY_WERROR=$(WERROR) >/dev/null

build: deps configure
	cmake --build $(BUILD_DIR)

test: deps-test
	$(MAKE) lint-src
	$(MAKE) build
	$(MAKE) lint-built
	$(MAKE) test-cpp
	$(MAKE) test-sanitizers
	$(MAKE) test-python

lint: lint-src lint-built

lint-src:
	scripts/check_format.sh
	$(VENV_PY) -m ruff check python tests scripts
	PY=$(VENV_PY) scripts/check_openapi.sh
	$(VENV_PY) scripts/azure_compat.py --check

lint-built:
	scripts/check_tidy.sh
	cd web && npm run --silent lint

test-cpp:
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(CTEST_J)

test-sanitizers: test-asan test-tsan

# Only the unit-test binaries (target unit_tests): no tools or Studio in these trees. The TSan
# tree also compiles ferry_cli, so the thread-safety analysis sees every library.
test-asan:
	cmake --preset debug -DFERRY_WERROR=$(WERROR) >/dev/null
	cmake --build build-debug --target unit_tests
	cd build-debug && $(ASAN_ENV) ctest --output-on-failure -j$(CTEST_J) -E '^web_unit_tests$$'

test-tsan:
	cmake --preset tsan -DFERRY_WERROR=$(WERROR) >/dev/null
	cmake --build build-tsan --target unit_tests ferry_cli
	cd build-tsan && $(TSAN_ENV) ctest --output-on-failure -j$(CTEST_J)

# Two workers, whole files each (--dist loadfile keeps a file's fixtures in one process): most
# integration tests wait on servers, agents and clusters, so two at once halve the wall time on
# two cores. Each worker's SSH lab and Slurm cluster get their own subnet (conftest.py).
PYTEST_WORKERS ?= 2
test-python:
	FERRY_BIN=$(abspath $(BUILD_DIR))/bin/ferry $(VENV_PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile \
		python/tests tests/integration

quickstart: deps-quickstart build
	@scripts/quickstart.sh

bench: build
	@bench/run_all.sh

clean:
	rm -rf $(BUILD_DIR) build-debug build-tsan build-clang
