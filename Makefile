# The whole set-up on a fresh Debian bookworm machine:
#   make run    install missing packages, build, start the server (dev defaults, see README)
#   make test   install missing packages, build, run every test through ctest
#   make bench  install missing packages, build the benchmark programs, run them (docs/performance.md);
#               arguments via BENCH_ARGS, e.g. make bench BENCH_ARGS="--rounds=1 --only=throughput"
#   make bench-callgrind  instructions per Send under valgrind (installs valgrind if missing)
#   make test-asan  install clang, build everything with ASan+UBSan in build-asan, run the suite; fails
#               on any sanitizer report (packaging and lint tests excluded)
#   make test-tsan  the same with TSan in build-tsan, for the concurrency, stream and watch tests
#   make fuzz   build the libFuzzer targets in build-asan (the same tree), run each for
#               FUZZ_SECONDS (default 600); e.g. make fuzz FUZZ_SECONDS=60 FUZZ_TARGETS=log_replay
#   make lint   layer check (scripts/check-layers.sh), clang-format check of every C/C++ file, clang-tidy of the sources changed since
#               TIDY_BASE (default HEAD~10; TIDY_BASE= for the whole tree)
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

.PHONY: deps configure build run test bench bench-callgrind san-deps test-asan test-tsan fuzz lint clean

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

# Sanitizer builds (issue #15), clang-14 at -O1 -g1. One ASan+UBSan tree serves both the whole test
# suite (make test-asan) and the libFuzzer targets (make fuzz): its code is compiled with
# fuzzer-no-link, which only adds coverage hooks. A separate TSan tree builds what the concurrency
# tests need (make test-tsan). scripts/run-sanitized-tests.sh fails on any report from any process.
ASAN_DIR ?= build-asan
TSAN_DIR ?= build-tsan
FUZZ_DIR ?= $(ASAN_DIR)
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?=
SAN_CMAKE := $(if $(GENERATOR),-G Ninja,) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMACP_WERROR=ON -DMACP_TEST_TIMEOUT_SCALE=4 \
  -DMACP_UNITY_BUILD=ON -DMACP_BUILD_BENCH=OFF -DMACP_TEST_CODE_OPT=-O0 \
  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1" "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1"
ASAN_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
ASAN_LINK := -fsanitize=address,undefined
TSAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
# Many tests wait on servers, fsync and timers more than they compute: one more than the cores.
ASAN_TEST_JOBS ?= $(shell echo $$(( $(JOBS) + 1 )))
# The packaging tests build and install .debs (not what a sanitizer checks); lint.* reads sources;
# storage_file.crash_states replays every crash cut point and runs past 480 s under ASan (it runs in make test).
ASAN_EXCLUDE := ^(packaging|lint)\.|^storage_file\.crash_states$$
# The TSan run: the kernel's concurrency test, the in-process sequence fuzzer (kernel restarts over
# one store), the gRPC service's limits and deadlines, every
# stream and watch test, the session control RPCs under load, and the cluster (issue #16: several
# processes, forwarding, stream relays, events between processes).
TSAN_TESTS := ^(unit\.kernel_concurrency_test|fuzz\.sequence|unit\.(call_deadlines|connection_limits|stream_limits)_test|it_(stream_session_test\.file|watch_streams_test|stream_limits_test|session_control_test|request_limits_test|cluster_test)|storage_redis\.events)$$
TSAN_TARGETS := macp-runtime storage-file auth-static unit_kernel_concurrency_test sequence_fuzz unit_call_deadlines_test \
  unit_connection_limits_test unit_stream_limits_test it_stream_session_test it_watch_streams_test \
  it_stream_limits_test it_session_control_test it_request_limits_test storage-redis it_cluster_test storage_redis_test

san-deps:
	@./scripts/install-deps.sh clang-14 libclang-rt-14-dev

$(ASAN_DIR)/CMakeCache.txt:
	CC=clang-14 CXX=clang++-14 cmake -S . -B $(ASAN_DIR) $(SAN_CMAKE) -DMACP_BUILD_FUZZERS=ON \
	  "-DCMAKE_C_FLAGS=$(ASAN_FLAGS)" "-DCMAKE_CXX_FLAGS=$(ASAN_FLAGS)" \
	  "-DCMAKE_EXE_LINKER_FLAGS=$(ASAN_LINK)" "-DCMAKE_SHARED_LINKER_FLAGS=$(ASAN_LINK)"

$(TSAN_DIR)/CMakeCache.txt:
	CC=clang-14 CXX=clang++-14 cmake -S . -B $(TSAN_DIR) $(SAN_CMAKE) -DMACP_TEST_TIMEOUT_SCALE=8 \
	  "-DCMAKE_C_FLAGS=$(TSAN_FLAGS)" "-DCMAKE_CXX_FLAGS=$(TSAN_FLAGS)" \
	  "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread" "-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread"

test-asan: san-deps $(ASAN_DIR)/CMakeCache.txt
	@cmake --build $(ASAN_DIR) -j $(JOBS)
	./scripts/run-sanitized-tests.sh $(ASAN_DIR) asan -j $(ASAN_TEST_JOBS) --timeout 900 -E '$(ASAN_EXCLUDE)'

test-tsan: san-deps $(TSAN_DIR)/CMakeCache.txt
	@cmake --build $(TSAN_DIR) -j $(JOBS) --target $(TSAN_TARGETS)
	./scripts/run-sanitized-tests.sh $(TSAN_DIR) tsan -j $(JOBS) --timeout 900 -R '$(TSAN_TESTS)'

fuzz: san-deps $(FUZZ_DIR)/CMakeCache.txt
	@cmake --build $(FUZZ_DIR) -j $(JOBS) --target macp_fuzzers
	./scripts/run-fuzzers.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf $(BUILD_DIR)
