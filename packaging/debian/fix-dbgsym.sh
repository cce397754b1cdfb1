#!/bin/sh
# Completes the -dbgsym packages CPack 3.25 writes (CPACK_DEBIAN_DEBUGINFO_PACKAGE) the way
# debhelper's are: md5sums with paths relative to the root (CPack writes the staging dir's absolute
# paths: lintian md5sums-lists-nonexistent-file) and /usr/share/doc/<pkg>-dbgsym a symlink to the
# doc dir of the package it depends on (=version), which carries the copyright and changelog.
# usage: fix-dbgsym.sh <file.ddeb>...
set -eu
for ddeb in "$@"; do
  dir=$(mktemp -d)
  dpkg-deb -R "$ddeb" "$dir"
  pkg=$(sed -n 's/^Package: //p' "$dir/DEBIAN/control")
  base=${pkg%-dbgsym}
  (cd "$dir" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$dir/DEBIAN/md5sums"
  mkdir -p "$dir/usr/share/doc"
  ln -sfn "$base" "$dir/usr/share/doc/$pkg"
  dpkg-deb --root-owner-group -Zxz -b "$dir" "$ddeb" >/dev/null
  rm -rf "$dir"
done
