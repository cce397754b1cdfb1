#!/usr/bin/env bash
# Checks that the core's layers depend one way (DESIGN.md layout, issue #13): each layer under
# core/src may include only the layers listed for it below. Prints every violating include and exits
# 1 if there is one. Run by ctest (lint.layers) and `make lint`.
#   usage: scripts/check-layers.sh [core/src directory]
set -euo pipefail
src="${1:-$(dirname "$0")/../core/src}"

# layer -> the project layers it may include besides itself ("macp" is the generated proto, "grpc"
# the generated services). Layers not listed here are not checked.
declare -A allowed=(
  [util]=""
  [protocol]="util"
  [policy]="util protocol storage"
  [modes]="util protocol policy storage macp"
  [kernel]="util protocol policy modes storage auth metrics macp"
  [cluster]="util protocol policy modes storage auth metrics macp kernel"
)

status=0
for layer in "${!allowed[@]}"; do
  [ -d "$src/$layer" ] || { echo "check-layers: $src/$layer is missing" >&2; exit 2; }
  while IFS= read -r hit; do
    file="${hit%%:*}"
    rest="${hit#*:}"; line="${rest%%:*}"
    target=$(sed -n "${line}p" "$file" | sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"/]*\)\/.*/\1/p')
    [ -n "$target" ] || continue
    [ "$target" = "$layer" ] && continue
    case " ${allowed[$layer]} " in
      *" $target "*) ;;
      *) echo "${file#"$src"/}:$line: layer '$layer' includes '$target/' (allowed: ${allowed[$layer]:-none})"; status=1 ;;
    esac
  done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"/]+/' "$src/$layer" || true)
done
[ $status -eq 0 ] && echo "check-layers: every layer includes only what it may"
exit $status
