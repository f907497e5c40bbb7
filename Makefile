# Ferry's entry points. `make quickstart` and `make test` work on a fresh Debian 12
# machine as root: each installs what it needs first (scripts/setup.sh, idempotent).
.PHONY: all deps build test test-cpp test-python quickstart bench clean

BUILD_DIR ?= build
VENV_PY := .venv/bin/python

all: build

deps:
	@scripts/setup.sh

$(BUILD_DIR)/build.ninja: CMakeLists.txt CMakePresets.json
	cmake --preset default

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j2
	FERRY_BIN=$(abspath $(BUILD_DIR))/bin/ferry $(VENV_PY) -m pytest -q python/tests tests/integration

quickstart: build
	@scripts/quickstart.sh

bench: build
	@bench/run_all.sh

clean:
	rm -rf $(BUILD_DIR)
