#!/usr/bin/env bash
# Builds the Debian packages with CPack into a scratch directory and checks that each holds what
# it promises (server + unit, one plugin each, the SDK), so packaging cannot silently rot.
set -euo pipefail
build="$1"
out="$(mktemp -d)"
trap 'rm -rf "$out" "$out.log"' EXIT
(cd "$build" && cpack -G DEB -B "$out" >"$out.log" 2>&1) || { cat "$out.log"; exit 1; }

check() {  # package-glob path-in-package
  local deb
  deb=$(ls "$out"/$1_*.deb)
  local contents
  contents=$(dpkg-deb --contents "$deb")  # not piped into grep -q: SIGPIPE would fail pipefail
  grep -q -- "$2" <<<"$contents" || { echo "missing $2 in $deb"; exit 1; }
}
check macp-runtime ./usr/bin/macp-runtime
check macp-runtime ./usr/lib/systemd/system/macp-runtime.service
check macp-runtime ./etc/default/macp-runtime
check macp-runtime-storage-file "macp-runtime/plugins/storage-file.so"
check macp-runtime-auth-static "macp-runtime/plugins/auth-static.so"
if ! grep -q '^MACP_BUILD_STORAGE_ROCKSDB:BOOL=OFF' "$build/CMakeCache.txt"; then
  check macp-runtime-storage-rocksdb "macp-runtime/plugins/storage-rocksdb.so"
  info=$(dpkg-deb --info "$(ls "$out"/macp-runtime-storage-rocksdb_*.deb)")
  grep -q "^ Depends:.*librocksdb7.8" <<<"$info" || { echo "storage-rocksdb does not depend on librocksdb7.8"; exit 1; }
fi
if ! grep -q '^MACP_BUILD_STORAGE_REDIS:BOOL=OFF' "$build/CMakeCache.txt"; then
  check macp-runtime-storage-redis "macp-runtime/plugins/storage-redis.so"
  info=$(dpkg-deb --info "$(ls "$out"/macp-runtime-storage-redis_*.deb)")
  grep -q "^ Depends:.*libhiredis0.14" <<<"$info" || { echo "storage-redis does not depend on libhiredis0.14"; exit 1; }
fi
if ! grep -q '^MACP_BUILD_AUTH_JWT:BOOL=OFF' "$build/CMakeCache.txt"; then
  check macp-runtime-auth-jwt "macp-runtime/plugins/auth-jwt.so"
  info=$(dpkg-deb --info "$(ls "$out"/macp-runtime-auth-jwt_*.deb)")
  grep -q "^ Depends:.*libcurl4" <<<"$info" && grep -q "^ Depends:.*libssl3" <<<"$info" ||
    { echo "auth-jwt does not depend on libssl3 and libcurl4"; exit 1; }
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
version=$(dpkg-deb --field "$(ls "$out"/macp-runtime_*.deb)" Version)
for deb in "$out"/*.deb; do
  pkg=$(dpkg-deb --field "$deb" Package)
  # Debian policy 12.5 and 12.7: every package has its copyright file and changelog.
  check "$pkg" "./usr/share/doc/$pkg/copyright"
  check "$pkg" "./usr/share/doc/$pkg/changelog.Debian.gz"
  case "$pkg" in
    macp-runtime-storage-* | macp-runtime-auth-*)
      # A plugin goes with exactly the server it was built with; dpkg-shlibdeps adds the libraries.
      deps=$(dpkg-deb --field "$deb" Depends)
      grep -q "macp-runtime (= $version)" <<<"$deps" || { echo "$pkg Depends: $deps (no macp-runtime (= $version))"; exit 1; }
      grep -q "libc6" <<<"$deps" || { echo "$pkg: no shlibdeps in Depends: $deps"; exit 1; }
      [ "$(dpkg-deb --field "$deb" Enhances)" = "macp-runtime" ] || { echo "$pkg does not enhance macp-runtime"; exit 1; }
      [ "$(dpkg-deb --field "$deb" Section)" = "net" ] || { echo "$pkg is not in section net"; exit 1; }
      ;;
  esac
  # Stripped, with the debug info in <package>-dbgsym.
  contents=$(dpkg-deb --contents "$deb")
  if grep -q -e '\.so$' -e '/bin/.' <<<"$contents"; then
    ls "$out/$pkg-dbgsym_"*.ddeb >/dev/null 2>&1 || { echo "no $pkg-dbgsym package"; exit 1; }
  fi
done
runtime_deps=$(dpkg-deb --field "$(ls "$out"/macp-runtime_*.deb)" Depends)
grep -q "libgrpc++1.51" <<<"$runtime_deps" || { echo "macp-runtime Depends lacks libgrpc++1.51: $runtime_deps"; exit 1; }
grep -q "adduser" <<<"$runtime_deps" || { echo "macp-runtime Depends lacks adduser: $runtime_deps"; exit 1; }
[ "$(dpkg-deb --field "$(ls "$out"/macp-runtime_*.deb)" Recommends)" = "macp-runtime-storage-file, macp-runtime-auth-static" ] ||
  { echo "macp-runtime Recommends is not the file storage and static tokens"; exit 1; }
echo "packages OK: $(ls "$out" | tr '\n' ' ')"
