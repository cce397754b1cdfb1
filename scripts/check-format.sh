#!/usr/bin/env bash
# Fails when a tracked C or C++ file differs from what clang-format (.clang-format at the root)
# makes of it, naming each file and line. Fix with:
#   git ls-files '*.cpp' '*.hpp' '*.h' '*.c' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || ./scripts/install-deps.sh clang-format
if ! git ls-files '*.cpp' '*.hpp' '*.h' '*.c' | xargs clang-format --dry-run --Werror; then
  echo "check-format: the files above are not clang-format clean" >&2
  exit 1
fi
echo "check-format: $(git ls-files '*.cpp' '*.hpp' '*.h' '*.c' | wc -l) files clean"
