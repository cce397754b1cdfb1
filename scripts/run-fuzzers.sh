#!/usr/bin/env bash
# Runs the libFuzzer targets of a fuzz build (make fuzz) for a bounded time each.
#   scripts/run-fuzzers.sh BUILD_DIR SECONDS [TARGET...]
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
status=0
# Justified third-party suppressions only (see the file); every other report stays.
export UBSAN_OPTIONS="suppressions=$root/tests/sanitizers/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: $bin not built (make fuzz builds it)" >&2; exit 2; }
  corpus="$build/fuzz-corpus/$t"
  findings="$build/fuzz-findings/$t"
  mkdir -p "$corpus" "$findings"
  cp -n "$root/tests/fuzz/corpus/$t"/* "$corpus"/ 2>/dev/null || true
  dict=()
  [ -f "$root/tests/fuzz/dict/$t.dict" ] && dict=("-dict=$root/tests/fuzz/dict/$t.dict")
  echo "== fuzz $t for ${seconds}s"
  if ! "$bin" "$corpus" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$findings/" 2>"$build/fuzz-$t.log"; then
    status=1
    echo "fuzz $t: FINDING, see $build/fuzz-$t.log and $findings" >&2
  fi
  # The last progress line holds coverage (cov), features (ft) and executions per second.
  grep -E "^#[0-9]+.*(DONE|pulse|NEW|REDUCE)" "$build/fuzz-$t.log" | tail -1 || true
  grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb" "$build/fuzz-$t.log" || true
done
exit $status
