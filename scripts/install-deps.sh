#!/usr/bin/env bash
# Installs the Debian bookworm packages the build and the tests need, only those missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libboost-dev libboost-program-options-dev rapidjson-dev libssl-dev libspdlog-dev
  catch2 openssl
  libsqlite3-dev binutils  # tests/sdk_consumer: the sample third-party plugin, nm
  librocksdb-dev  # plugins/storage-rocksdb (Debian bookworm: RocksDB 7.8)
  libhiredis-dev  # plugins/storage-redis (Debian bookworm: hiredis 0.14, no TLS)
  libcurl4-openssl-dev  # plugins/auth-jwt: JWKS over http(s)
  redis-server  # the redis tests start their own (tests/support/redis_server.hpp); the service is not used
  dpkg-dev file lintian  # packaging tests: cpack with dpkg-shlibdeps and debug packages, lintian
  mmdebstrap  # packaging/check_install.sh: a fresh bookworm root to install the .debs into
)

packages+=("$@")  # extra packages one make target needs, e.g. make fuzz: clang-14 libclang-rt-14-dev

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing missing packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
