# The README's two commands. Both install what is missing (scripts/setup) and build first.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
DATA_DIR ?= ./data

.PHONY: all setup configure build run test sanitize clean pg-up pg-down cluster cluster-down

all: build

setup:
	scripts/setup

configure: setup
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
		cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE); \
	fi

build: configure
	cmake --build $(BUILD_DIR)

run: build
	$(BUILD_DIR)/src/cli/qrpay serve --listen 127.0.0.1:8080 --admin-listen 127.0.0.1:8081 \
		--data-dir $(DATA_DIR) --quickstart

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600 -j2

# Every test again under AddressSanitizer + UndefinedBehaviorSanitizer, then ThreadSanitizer
# (CMakePresets.json: build-asan/, build-tsan/). CI runs it after `make test`.
sanitize: setup
	cmake --preset asan && cmake --build --preset asan && ctest --preset asan --timeout 600 -j2
	cmake --preset tsan && cmake --build --preset tsan && ctest --preset tsan --timeout 600 -j2

# A PostgreSQL 15 on 127.0.0.1:5433 for trying the PostgreSQL journal by hand (scripts/pg).
pg-up:
	scripts/pg up

pg-down:
	scripts/pg down

clean:
	rm -rf $(BUILD_DIR) build-asan build-tsan

# A local cluster on loopback for trying it by hand (scripts/cluster): 3 etcd members,
# PostgreSQL, the simulated agency, 3 nodes, HAProxy on 127.0.0.1:8080.
cluster: build
	scripts/cluster up

cluster-down:
	scripts/cluster down
