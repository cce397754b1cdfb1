# The whole set-up on a fresh Debian bookworm machine:
#   make run    install missing packages, build, start the server (dev defaults, see README)
#   make test   install missing packages, build, run every test through ctest
#   make bench  install missing packages, build the benchmark programs, run them (docs/performance.md);
#               arguments via BENCH_ARGS, e.g. make bench BENCH_ARGS="--rounds=1 --only=throughput"
#   make bench-callgrind  instructions per Send under valgrind (installs valgrind if missing)
#   make fuzz   install clang, build the libFuzzer targets (ASan+UBSan) in build-fuzz, run each for
#               FUZZ_SECONDS (default 600); e.g. make fuzz FUZZ_SECONDS=60 FUZZ_TARGETS=log_replay
#   make lint   layer check (scripts/check-layers.sh), clang-format check of every C/C++ file, clang-tidy of the sources changed since
#               TIDY_BASE (default HEAD~10; TIDY_BASE= for the whole tree)
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

.PHONY: deps configure build run test bench bench-callgrind fuzz lint clean

deps:
	@./scripts/install-deps.sh

# -Werror is a developer's and CI's setting (MACP_WERROR, off for packagers). The prefix is /usr as
# in a Debian package, so the tree's .debs (make test runs the packaging tests) are right:
# `cmake --install build --prefix /usr/local` still installs anywhere else.
configure: deps
	@if [ ! -f $(BUILD_DIR)/CMakeCache.txt ] || ! grep -q '^MACP_WERROR:' $(BUILD_DIR)/CMakeCache.txt; then \
	  cmake -S . -B $(BUILD_DIR) $(if $(GENERATOR),-G Ninja,) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DMACP_WERROR=ON \
	    -DCMAKE_INSTALL_PREFIX=/usr; \
	fi

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	@echo "macp-runtime: embedded default — file storage in ./.macp-data, dev-mode auth (MACP_ALLOW_INSECURE=1), plaintext on 127.0.0.1:50051"
	MACP_ALLOW_INSECURE=$${MACP_ALLOW_INSECURE:-1} MACP_BIND_ADDR=$${MACP_BIND_ADDR:-127.0.0.1:50051} \
	MACP_DATA_DIR=$${MACP_DATA_DIR:-./.macp-data} MACP_STORAGE_BACKEND=$${MACP_STORAGE_BACKEND:-file} \
	  exec $(BUILD_DIR)/bin/macp-runtime

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

TIDY_BASE ?= HEAD~10

lint: configure
	@./scripts/check-layers.sh
	@./scripts/check-format.sh
	@./scripts/run-clang-tidy.sh $(BUILD_DIR) "$(TIDY_BASE)"

BENCH_ARGS ?=

bench: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target macp_bench_programs
	$(BUILD_DIR)/tests/bench/macp_bench $(BENCH_ARGS)

bench-callgrind: configure
	@command -v valgrind >/dev/null 2>&1 || { \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind; }
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target macp_bench_programs
	$(BUILD_DIR)/tests/bench/macp_bench --callgrind $(BENCH_ARGS)

FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?=
FUZZ_SAN := -fsanitize=fuzzer-no-link,address,undefined

fuzz:
	@./scripts/install-deps.sh clang-14 libclang-rt-14-dev
	@if [ ! -f $(FUZZ_DIR)/CMakeCache.txt ]; then \
	  CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_DIR) $(if $(GENERATOR),-G Ninja,) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DMACP_BUILD_FUZZERS=ON "-DCMAKE_C_FLAGS=$(FUZZ_SAN)" "-DCMAKE_CXX_FLAGS=$(FUZZ_SAN)" \
	    "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" "-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined"; \
	fi
	@cmake --build $(FUZZ_DIR) -j $(JOBS) --target macp_fuzzers
	./scripts/run-fuzzers.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf $(BUILD_DIR)
