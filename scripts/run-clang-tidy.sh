#!/usr/bin/env bash
# clang-tidy (.clang-tidy at the root: checks that find bugs) over the C++ sources changed since
# BASE, or over every source when BASE is empty; fails on any finding. Uses BUILD_DIR's
# compile_commands.json (configure first). A translation unit takes 10-30 s here, so CI checks the
# sources its newest commits touched, where a new finding can come from:
#   scripts/run-clang-tidy.sh build HEAD~10      # what .ci/run does
#   scripts/run-clang-tidy.sh build ""           # the whole tree (about an hour on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
base="${2-HEAD~10}"
command -v clang-tidy >/dev/null || ./scripts/install-deps.sh clang-tidy
[ -f "$build/compile_commands.json" ] || { echo "run-clang-tidy: configure $build first" >&2; exit 2; }
if [ -n "$base" ] && ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
  base="$(git rev-list --max-parents=0 HEAD | tail -1)"  # a short history: everything since the root
fi
if [ -n "$base" ]; then
  mapfile -t files < <(git diff --name-only --diff-filter=AM "$base" -- '*.cpp' | grep -v '^tests/fuzz/corpus/' || true)
else
  mapfile -t files < <(git ls-files '*.cpp')
fi
# Only sources this build compiles (a plugin whose dependencies are missing is not in it).
targets=()
for f in "${files[@]}"; do
  grep -q "\"file\": \"$PWD/$f\"" "$build/compile_commands.json" && targets+=("$f")
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "run-clang-tidy: no compiled C++ source changed since ${base:-the root}"
  exit 0
fi
echo "run-clang-tidy: ${#targets[@]} source(s) since ${base:-the root}"
log="$build/clang-tidy.log"
: >"$log"
# GCC-only warning flags of the build are unknown to clang: not findings.
printf '%s\n' "${targets[@]}" | xargs -P "$(nproc)" -n 1 \
  clang-tidy -p "$build" --quiet --extra-arg=-Wno-unknown-warning-option >>"$log" 2>/dev/null || true
if grep -E "(warning|error): " "$log"; then
  echo "run-clang-tidy: findings above (full output: $log)" >&2
  exit 1
fi
echo "run-clang-tidy: clean"
