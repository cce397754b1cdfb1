#!/usr/bin/env bash
# Runs the libFuzzer targets of a fuzz build (make fuzz) for a bounded time each.
#   [FUZZ_JOBS=N] scripts/run-fuzzers.sh BUILD_DIR SECONDS [TARGET...]
# Each target starts from its committed seed corpus (tests/fuzz/corpus/<target>) in a working
# corpus under BUILD_DIR/fuzz-corpus/<target>, so new inputs stay out of the source tree; a
# finding leaves crash-* files in BUILD_DIR/fuzz-findings/<target> and makes the script fail.
# Reproduce one with the plain replay program of a normal build:
#   build/tests/fuzz/fuzz_<target>_replay BUILD_DIR/fuzz-findings/<target>/crash-...
# and commit it under tests/fuzz/regressions/<target>/ with the fix.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$1"
seconds="$2"
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$root"/tests/fuzz/targets/*_fuzz.cpp; do
    name="$(basename "$f" _fuzz.cpp)"
    targets+=("$name")
  done
fi
# FUZZ_JOBS targets run at once (default 1; CI uses the two cores with 2), each for SECONDS.
jobs="${FUZZ_JOBS:-1}"
# Justified third-party suppressions only (see the file); every other report stays.
export UBSAN_OPTIONS="suppressions=$root/tests/sanitizers/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

run_one() {
  local t="$1"
  local bin="$build/tests/fuzz/fuzz_$t"
  local corpus="$build/fuzz-corpus/$t"
  local findings="$build/fuzz-findings/$t"
  mkdir -p "$corpus" "$findings"
  cp -n "$root/tests/fuzz/corpus/$t"/* "$corpus"/ 2>/dev/null || true
  local dict=()
  [ -f "$root/tests/fuzz/dict/$t.dict" ] && dict=("-dict=$root/tests/fuzz/dict/$t.dict")
  "$bin" "$corpus" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$findings/" 2>"$build/fuzz-$t.log"
}

report() {
  local t="$1" rc="$2"
  echo "== fuzz $t for ${seconds}s: $([ "$rc" -eq 0 ] && echo "no finding" || echo "FINDING, see $build/fuzz-$t.log and $build/fuzz-findings/$t")"
  # The last progress line holds coverage (cov), features (ft) and executions per second.
  grep -E "^#[0-9]+.*(DONE|pulse|NEW|REDUCE)" "$build/fuzz-$t.log" | tail -1 || true
  grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb" "$build/fuzz-$t.log" || true
  [ "$rc" -eq 0 ] || tail -n 40 "$build/fuzz-$t.log" >&2
}

for t in "${targets[@]}"; do
  [ -x "$build/tests/fuzz/fuzz_$t" ] || { echo "fuzz: $build/tests/fuzz/fuzz_$t not built (make fuzz builds it)" >&2; exit 2; }
done
status=0
declare -A running=()  # pid -> target
for t in "${targets[@]}"; do
  while [ ${#running[@]} -ge "$jobs" ]; do
    wait -n || true
    for pid in "${!running[@]}"; do
      if ! kill -0 "$pid" 2>/dev/null; then
        rc=0; wait "$pid" || rc=$?
        report "${running[$pid]}" "$rc"; [ "$rc" -eq 0 ] || status=1
        unset "running[$pid]"
      fi
    done
  done
  run_one "$t" &
  running[$!]="$t"
done
for pid in "${!running[@]}"; do
  rc=0; wait "$pid" || rc=$?
  report "${running[$pid]}" "$rc"; [ "$rc" -eq 0 ] || status=1
done
exit $status
