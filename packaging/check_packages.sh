#!/usr/bin/env bash
# Builds the Debian packages with CPack into a scratch directory and checks that each holds what
# it promises (server + unit, one plugin each, the SDK), so packaging cannot silently rot.
set -euo pipefail
build="$1"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
(cd "$build" && cpack -G DEB -B "$out" >/dev/null)
check() {  # package-glob path-in-package
  local deb
  deb=$(ls "$out"/$1_*.deb)
  local contents
  contents=$(dpkg-deb --contents "$deb")  # not piped into grep -q: SIGPIPE would fail pipefail
  grep -q -- "$2" <<<"$contents" || { echo "missing $2 in $deb"; exit 1; }
}
check macp-runtime ./usr/bin/macp-runtime
check macp-runtime ./lib/systemd/system/macp-runtime.service
check macp-runtime ./etc/default/macp-runtime
check macp-runtime-storage-file "macp-runtime/plugins/storage-file.so"
check macp-runtime-auth-static "macp-runtime/plugins/auth-static.so"
check macp-runtime-dev ./usr/include/macp/plugin/abi.h
check macp-runtime-dev ./usr/include/macp/plugin/sdk/storage.hpp
check macp-runtime-dev "pkgconfig/macp-plugin.pc"
info=$(dpkg-deb --info "$(ls "$out"/macp-runtime-storage-file_*.deb)")
grep -q "Depends: macp-runtime" <<<"$info" || { echo "storage-file does not depend on macp-runtime"; exit 1; }
echo "packages OK: $(ls "$out" | tr '\n' ' ')"
