#!/usr/bin/env bash
# The operator's path through the Debian packages, in a fresh Debian bookworm root made with
# mmdebstrap: build the .debs with cpack, lintian (zero errors; every warning tag must be justified
# in packaging/README.md), then install, run the installed server with each plugin package,
# reinstall (the upgrade path of the maintainer scripts), remove and purge, checking the macp user,
# the data dir, the systemd enablement and the conffile /etc/default/macp-runtime.
#
# usage: check_install.sh <build-dir>     (root; mmdebstrap, lintian and dpkg-dev installed)
# Exit 77 (ctest SKIP_RETURN_CODE) only when mmdebstrap cannot reach the Debian archive to make
# the root the first time; every other problem fails.
set -euo pipefail
build="$(cd "$1" && pwd)"
src="$(cd "$(dirname "$0")/.." && pwd)"
work="$build/packaging-test"
skip=77

fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (chroot, mount); run it as root as CI does"
for tool in mmdebstrap lintian cpack dpkg-shlibdeps unshare chroot openssl; do
  command -v "$tool" >/dev/null || fail "$tool is missing: run scripts/install-deps.sh"
done
grep -q '^CMAKE_INSTALL_PREFIX:PATH=/usr$' "$build/CMakeCache.txt" ||
  fail "$build is not configured with -DCMAKE_INSTALL_PREFIX=/usr (the packages' prefix)"

mkdir -p "$work"
root="$work/root"
debs="$work/debs"
# A root left mounted by a killed run would make rm -rf walk into the host's /proc.
if [ -d "$root/proc" ] && mountpoint -q "$root/proc"; then umount -l "$root/proc"; fi
rm -rf "$root" "$debs"

# ---- build the packages ---------------------------------------------------------------------
echo "== cpack"
(cd "$build" && cpack -G DEB -B "$debs" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack"; }
rm -rf "$debs/_CPack_Packages"
ls "$debs"
core_deb=$(ls "$debs"/macp-runtime_*.deb)
plugin_debs=$(ls "$debs"/macp-runtime-storage-*.deb "$debs"/macp-runtime-auth-*.deb)

# ---- lintian --------------------------------------------------------------------------------
echo "== lintian"
lintian --tag-display-limit 0 --display-info "$debs"/*.deb "$debs"/*.ddeb >"$work/lintian.log" 2>&1 || true
cat "$work/lintian.log"
if grep -q '^E: ' "$work/lintian.log"; then fail "lintian reports errors (above)"; fi
grep -q -e '^[WIE]: ' -e '^$' "$work/lintian.log" || [ ! -s "$work/lintian.log" ] ||
  fail "lintian did not run: $(head -3 "$work/lintian.log")"
for tag in $(sed -n 's/^W: [^ ]*: \([a-z0-9-]*\).*/\1/p' "$work/lintian.log" | sort -u); do
  grep -q -- "\`$tag\`" "$src/packaging/README.md" ||
    fail "lintian warning $tag is not justified in packaging/README.md"
done

# ---- the bookworm root ----------------------------------------------------------------------
# Everything the packages depend on is in the root already, so the test itself needs no network
# and reruns reuse the tarball (keyed by the package list).
include="adduser,ca-certificates,init-system-helpers,libgrpc++1.51,libprotobuf32,libspdlog1.10,libboost-program-options1.74.0,librocksdb7.8,libhiredis0.14,libcurl4,libssl3"
tarball="$work/bookworm-$(echo "$include" | md5sum | cut -c1-12).tar"
# A tarball only: an earlier run cut off may have left a directory under the name.
if [ ! -f "$tarball" ] || [ ! -s "$tarball" ]; then
  rm -rf "$tarball" "$tarball.part"
  echo "== mmdebstrap (first run: downloads from the Debian archive)"
  if ! mmdebstrap --variant=apt --mode=root --format=tar --include="$include" bookworm "$tarball.part" \
      "deb http://deb.debian.org/debian bookworm main" \
      "deb http://deb.debian.org/debian bookworm-updates main" \
      "deb http://deb.debian.org/debian-security bookworm-security main" >"$work/mmdebstrap.log" 2>&1; then
    tail -20 "$work/mmdebstrap.log"
    rm -rf "$tarball.part"
    if grep -q -i -e 'Could not resolve' -e 'Failed to fetch' -e 'Temporary failure' -e 'Network is unreachable' \
        -e 'Connection failed' -e 'Unable to connect' "$work/mmdebstrap.log"; then
      echo "SKIP: mmdebstrap cannot reach the Debian archive, so no bookworm root to install into"
      exit $skip
    fi
    fail "mmdebstrap failed (not a network problem, log above)"
  fi
  mv "$tarball.part" "$tarball"
fi
mkdir -p "$root"
tar -C "$root" -xf "$tarball"
mkdir -p "$root/tmp/debs" "$root/tmp/tls"
cp "$debs"/*.deb "$root/tmp/debs/"
cp "$src/packaging/check_install_chroot.sh" "$root/tmp/"
# The same packages under the next version (Version and the exact-version Depends bumped): the
# chroot upgrades to them, so the maintainer scripts run a real "upgrade <old version>".
mkdir -p "$root/tmp/debs-next" "$work/repack"
for deb in "$debs"/*.deb; do
  rm -rf "$work/repack/pkg"
  dpkg-deb -R "$deb" "$work/repack/pkg"
  version=$(sed -n 's/^Version: //p' "$work/repack/pkg/DEBIAN/control")
  sed -i -e "s/^Version: .*/Version: ${version}+next1/" \
    -e "s/(= ${version})/(= ${version}+next1)/g" "$work/repack/pkg/DEBIAN/control"
  dpkg-deb -b "$work/repack/pkg" "$root/tmp/debs-next/" >/dev/null
done
rm -rf "$work/repack"
# A real TLS set-up for the installed server (the chroot has no openssl binary).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$root/tmp/tls/key.pem" -out "$root/tmp/tls/cert.pem" \
  2>/dev/null

echo "== install, run, reinstall, upgrade to the next version, remove, purge in the bookworm root"
# A private mount namespace: /proc for the chroot vanishes with it, whatever happens.
unshare --mount --propagation private -- sh -c '
  mount -t proc proc "$1/proc" &&
  exec chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 /bin/sh /tmp/check_install_chroot.sh
' sh "$root"
rm -rf "$root"
echo "packaging install test OK"
