#!/usr/bin/env bash
# Runs ctest in a sanitizer build (make test-asan, make test-tsan) and fails on any sanitizer report
# from any process: the tests, and every macp-runtime child they start, inherit the
# options below, and each report goes to its own file under BUILD_DIR/sanitizer-logs (log_path), so
# a report from a server a test stopped cleanly still fails the run even if the test passed.
#   scripts/run-sanitized-tests.sh BUILD_DIR asan|tsan [ctest arguments...]
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "$1" && pwd)"  # absolute: log_path is relative to each process's own directory
kind="$2"
shift 2
logs="$build/sanitizer-logs"
supp="$root/tests/sanitizers"
rm -rf "$logs"
mkdir -p "$logs"
case "$kind" in
  asan)
    # detect_leaks: LeakSanitizer at every clean exit; suppressions only for third-party leaks.
    export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:strict_init_order=1:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
    export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:suppressions=$supp/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
    ;;
  tsan)
    export TSAN_OPTIONS="log_path=$logs/tsan:second_deadlock_stack=1:suppressions=$supp/tsan.supp:print_suppressions=0${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
    ;;
  *)
    echo "usage: $0 BUILD_DIR asan|tsan [ctest arguments...]" >&2
    exit 2
    ;;
esac
status=0
ctest --test-dir "$build" --output-on-failure "$@" || status=1
shopt -s nullglob
reports=("$logs"/*)
if [ ${#reports[@]} -gt 0 ]; then
  status=1
  echo "sanitizer ($kind): ${#reports[@]} report file(s) in $logs:" >&2
  for r in "${reports[@]}"; do
    echo "---- $r" >&2
    head -n 80 "$r" >&2
  done
else
  echo "sanitizer ($kind): no reports"
fi
exit $status
