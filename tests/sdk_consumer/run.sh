#!/usr/bin/env bash
# The third-party author's whole path, end to end (issue #9):
#   1. install this build into a staging prefix and check nothing landed outside it;
#   2. build an out-of-tree storage plugin with find_package(MacpPluginSDK) + macp_add_plugin,
#      and an out-of-tree auth plugin with the pkg-config route;
#   3. run the installed macp-plugin-contract-test on the storage plugin;
#   4. run the installed server with both plugins (sdk_consumer_test: a session, kill -9,
#      UNAUTHENTICATED for bad credentials).
# Usage: run.sh <build dir> <this source dir> <sdk_consumer_test binary>
set -euo pipefail
build=$1 src=$2 test_bin=$3

work=$(mktemp -d "${TMPDIR:-/tmp}/macp-sdk-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/prefix out=$work/plugins
mkdir -p "$out"

step() { printf '\n== %s\n' "$*"; }

step "install into $stage"
cmake --install "$build" --prefix "$stage" >"$work/install.log"
# Every file the install wrote is listed in the manifest: all of them must be under the prefix.
outside=$(grep -v "^$stage/" "$build/install_manifest.txt" || true)
if [ -n "$outside" ]; then
    echo "installed outside the prefix:"; echo "$outside"; exit 1
fi
echo "$(wc -l <"$build/install_manifest.txt") files, all under the prefix"

step "the installed server finds the installed plugins without MACP_PLUGIN_PATH"
listing=$(env -u MACP_PLUGIN_PATH "$stage/bin/macp-runtime" --list-plugins)
for plugin in storage-file auth-static \
    $( [ -n "$(find "$stage" -name storage-rocksdb.so -print -quit)" ] && echo storage-rocksdb) \
    $( [ -n "$(find "$stage" -name storage-redis.so -print -quit)" ] && echo storage-redis) \
    $( [ -n "$(find "$stage" -name auth-jwt.so -print -quit)" ] && echo auth-jwt); do
    if ! grep -q "file: $stage/.*/$plugin.so" <<<"$listing"; then
        echo "$plugin.so not found below $stage by the installed server:"; echo "$listing"; exit 1
    fi
    echo "$plugin.so: found below the prefix"
done
if [ -n "$(find "$stage" -name storage-rocksdb.so -print -quit)" ]; then
    # The packaged RocksDB backend, selected by name on the installed server: the configuration checks out
    # and nothing is created; then the server really opens it.
    env -u MACP_PLUGIN_PATH MACP_STORAGE_BACKEND=rocksdb MACP_DATA_DIR="$work/rocks" MACP_ALLOW_INSECURE=1 \
        "$stage/bin/macp-runtime" --check-config
    [ ! -e "$work/rocks" ] || { echo "--check-config created $work/rocks"; exit 1; }
fi
if [ -n "$(find "$stage" -name storage-redis.so -print -quit)" ]; then
    # The packaged Redis backend, selected by name: --check-config validates its URL without
    # connecting (nothing listens on port 1) and refuses rediss:// (no TLS in hiredis 0.14).
    env -u MACP_PLUGIN_PATH MACP_STORAGE_BACKEND=redis MACP_REDIS_URL=redis://127.0.0.1:1/0 MACP_ALLOW_INSECURE=1 \
        "$stage/bin/macp-runtime" --check-config
    if env -u MACP_PLUGIN_PATH MACP_STORAGE_BACKEND=redis MACP_REDIS_URL=rediss://127.0.0.1:1 MACP_ALLOW_INSECURE=1 \
        "$stage/bin/macp-runtime" --check-config >"$work/rediss.log" 2>&1; then
        echo "--check-config accepted rediss://"; exit 1
    fi
    grep -q "TLS" "$work/rediss.log" || { echo "rediss:// refused without saying why:"; cat "$work/rediss.log"; exit 1; }
fi

if [ -n "$(find "$stage" -name auth-jwt.so -print -quit)" ]; then
    # The packaged JWT resolver, enabled by MACP_AUTH_ISSUER: --check-config validates the JWKS URL
    # without fetching it (nothing listens on port 1) and refuses a configuration without keys.
    env -u MACP_PLUGIN_PATH MACP_AUTH_ISSUER=https://issuer.invalid MACP_AUTH_JWKS_URL=http://127.0.0.1:1/jwks.json \
        MACP_ALLOW_INSECURE=1 "$stage/bin/macp-runtime" --check-config
    if env -u MACP_PLUGIN_PATH MACP_AUTH_ISSUER=https://issuer.invalid MACP_ALLOW_INSECURE=1 \
        "$stage/bin/macp-runtime" --check-config >"$work/jwt.log" 2>&1; then
        echo "--check-config accepted MACP_AUTH_ISSUER without a JWKS"; exit 1
    fi
    grep -q "MACP_AUTH_JWKS_URL" "$work/jwt.log" || { echo "no JWKS refused without saying why:"; cat "$work/jwt.log"; exit 1; }
fi

step "CMake route: find_package(MacpPluginSDK) + macp_add_plugin(storage-sqlite)"
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$src/project" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$stage" "${launcher[@]}" >"$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build"
cp "$(find "$work/build" -name storage-sqlite.so -print -quit)" "$out/"

step "pkg-config route: auth-hmac"
PKG_CONFIG_PATH=$(dirname "$(find "$stage" -name macp-plugin.pc -print -quit)")
export PKG_CONFIG_PATH
# shellcheck disable=SC2046 # word splitting of the flag lists is intended
g++ $(pkg-config --variable=plugin_cxxflags macp-plugin) $(pkg-config --cflags macp-plugin) -Werror \
    -o "$out/auth-hmac.so" "$src/project/hmac_auth.cpp" \
    $(pkg-config --variable=plugin_ldflags macp-plugin) $(pkg-config --libs libcrypto)

step "each plugin exports exactly its entry point"
for so in "$out"/*.so; do
    exported=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBVW]$/ {print $3}')
    if [ "$exported" != "macp_plugin_entry_v1" ]; then
        echo "$so exports: $exported"; exit 1
    fi
done
echo ok

step "installed contract test on storage-sqlite.so"
"$stage/bin/macp-plugin-contract-test" "$out/storage-sqlite.so"

step "the installed server lists them"
MACP_PLUGIN_PATH=$out "$stage/bin/macp-runtime" --list-plugins | grep -E "storage-sqlite.so|auth-hmac.so|--sqlite-file|--hmac-secret"

step "the installed server runs them"
MACP_TEST_SERVER_BIN=$stage/bin/macp-runtime MACP_TEST_PLUGIN_DIR=$out "$test_bin"
