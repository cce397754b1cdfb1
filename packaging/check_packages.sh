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
if ! grep -q '^MACP_BUILD_STORAGE_ROCKSDB:BOOL=OFF' "$build/CMakeCache.txt"; then
  check macp-runtime-storage-rocksdb "macp-runtime/plugins/storage-rocksdb.so"
  info=$(dpkg-deb --info "$(ls "$out"/macp-runtime-storage-rocksdb_*.deb)")
  grep -q "Depends: macp-runtime (>= .*librocksdb7.8" <<<"$info" ||
    { echo "storage-rocksdb does not depend on macp-runtime and librocksdb7.8"; exit 1; }
fi
if ! grep -q '^MACP_BUILD_STORAGE_REDIS:BOOL=OFF' "$build/CMakeCache.txt"; then
  check macp-runtime-storage-redis "macp-runtime/plugins/storage-redis.so"
  info=$(dpkg-deb --info "$(ls "$out"/macp-runtime-storage-redis_*.deb)")
  grep -q "Depends: macp-runtime (>= .*libhiredis0.14" <<<"$info" ||
    { echo "storage-redis does not depend on macp-runtime and libhiredis0.14"; exit 1; }
fi
if ! grep -q '^MACP_BUILD_AUTH_JWT:BOOL=OFF' "$build/CMakeCache.txt"; then
  check macp-runtime-auth-jwt "macp-runtime/plugins/auth-jwt.so"
  info=$(dpkg-deb --info "$(ls "$out"/macp-runtime-auth-jwt_*.deb)")
  grep -q "Depends: macp-runtime (>= .*libssl3.*libcurl4" <<<"$info" ||
    { echo "auth-jwt does not depend on macp-runtime, libssl3 and libcurl4"; exit 1; }
fi
check macp-runtime-dev ./usr/include/macp/plugin/abi.h
check macp-runtime-dev ./usr/include/macp/plugin/sdk/storage.hpp
check macp-runtime-dev "pkgconfig/macp-plugin.pc"
check macp-runtime-dev "cmake/MacpPluginSDK/MacpPluginSDKConfig.cmake"
check macp-runtime-dev "cmake/MacpPluginSDK/MacpPluginSDKConfigVersion.cmake"
check macp-runtime-dev "cmake/MacpPluginSDK/MacpAddPlugin.cmake"
check macp-runtime-dev "cmake/MacpPluginSDK/plugin_exports.map"
if ! grep -q '^MACP_BUILD_CONTRACT_TEST:BOOL=OFF' "$build/CMakeCache.txt"; then
  check macp-runtime-dev ./usr/bin/macp-plugin-contract-test
fi
# /etc/default/macp-runtime is a conffile: dpkg keeps the administrator's edits on upgrade.
conffiles=$(dpkg-deb --info "$(ls "$out"/macp-runtime_*.deb)" conffiles)
grep -qx /etc/default/macp-runtime <<<"$conffiles" || { echo "/etc/default/macp-runtime is not a conffile"; exit 1; }
# Nothing of the prefix /usr may end up elsewhere but /etc, nor /etc under /usr.
for deb in "$out"/*.deb; do
  stray=$(dpkg-deb --contents "$deb" | awk '{print $6}' | grep -v -e '^\./$' -e '^\./usr/' -e '^\./etc/' || true)
  [ -z "$stray" ] || { echo "$deb: files outside /usr and /etc:"; echo "$stray"; exit 1; }
  usr_etc=$(dpkg-deb --contents "$deb" | awk '{print $6}' | grep '^\./usr/etc' || true)
  [ -z "$usr_etc" ] || { echo "$deb: /usr/etc in the package: $usr_etc"; exit 1; }
done
info=$(dpkg-deb --info "$(ls "$out"/macp-runtime-storage-file_*.deb)")
grep -q "Depends: macp-runtime" <<<"$info" || { echo "storage-file does not depend on macp-runtime"; exit 1; }
echo "packages OK: $(ls "$out" | tr '\n' ' ')"
