#!/usr/bin/env bash
# The plugin SDK as an out-of-tree author gets it (issue #9), checked end to end on a built tree:
#  1. `cmake --install <build> --prefix P` writes nothing outside P (install_manifest.txt, /etc);
#  2. the installed tree still works after being moved (relocatable CMake package and pc file);
#  3. CMake route: find_package(MacpPluginSDK <major>.<minor>) + macp_add_plugin(... INSTALL)
#     builds storage-file from its sources, and the package's contract test target runs on it;
#  4. pkg-config route: one g++ command line builds the same plugin;
#  5. both .so files are named <kind>-<name>.so, export only macp_plugin_entry_v1 and pass
#     macp-plugin-contract-test;
#  6. an incompatible version and a badly named plugin are refused at configure time.
# Usage: check_sdk.sh <build-dir>
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "check_sdk: $*" >&2; exit 1; }
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi

# ---- 1. a staged install stays below its prefix -------------------------------------------------
stage="$work/stage"
etc_before=$(ls -A /etc/default 2>/dev/null || true)
(unset DESTDIR; cmake --install "$build" --prefix "$stage" >"$work/install.log")
outside=$(grep -v -- "^$stage/" "$build/install_manifest.txt" || true)
[ -z "$outside" ] || fail "installed outside the prefix $stage: $outside"
[ "$etc_before" = "$(ls -A /etc/default 2>/dev/null || true)" ] || fail "the install changed /etc/default"
[ -f "$stage/etc/default/macp-runtime" ] || fail "no etc/default/macp-runtime below the prefix"
[ ! -e "$stage/usr" ] || fail "a /usr tree inside the prefix"
echo "staged install: $(wc -l <"$build/install_manifest.txt") files, all below the prefix"

# ---- 2. relocate ---------------------------------------------------------------------------------
sdk="$work/moved/sdk"
mkdir -p "$work/moved"
mv "$stage" "$sdk"
config=$(find "$sdk" -name MacpPluginSDKConfig.cmake)
pc=$(find "$sdk" -name macp-plugin.pc)
[ -n "$config" ] && [ -n "$pc" ] || fail "config or pc file missing"
for f in MacpPluginSDKConfigVersion.cmake MacpAddPlugin.cmake plugin_exports.map; do
  [ -f "$(dirname "$config")/$f" ] || fail "$f missing beside $config"
done
grep -q -- "$stage" "$config" "$pc" && fail "an absolute staging path in the config or pc file"
contract="$sdk/bin/macp-plugin-contract-test"
[ -x "$contract" ] || fail "no $contract"
version=$(sed -n 's/^set(MACP_PLUGIN_SDK_VERSION "\(.*\)")$/\1/p' "$config")
major=${version%%.*}
rest=${version#*.}
minor=${rest%%.*}
[ -n "$major" ] && [ -n "$minor" ] || fail "no version in $config"
plugin_src="$src/plugins/storage-file/src"

exports_only_entry() {  # <so>
  local syms
  syms=$(nm -D --defined-only "$1" | awk '{print $3}')
  [ "$syms" = "macp_plugin_entry_v1" ] || fail "$1 exports more than macp_plugin_entry_v1: $syms"
}

# ---- 3. CMake route ------------------------------------------------------------------------------
proj="$work/cmake-route"
mkdir -p "$proj"
cat >"$proj/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.17)
project(storage-file-out-of-tree LANGUAGES CXX)
find_package(Threads REQUIRED)
find_package(MacpPluginSDK $major.$minor REQUIRED)
file(GLOB sources "$plugin_src/*.cpp")
macp_add_plugin(storage-file SOURCES \${sources} LIBRARIES Threads::Threads INSTALL)
enable_testing()
add_test(NAME contract COMMAND Macp::plugin-contract-test --file-layout \$<TARGET_FILE:storage-file>)
EOF
cmake -S "$proj" -B "$proj/build" "${generator[@]}" "${launcher[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_PREFIX_PATH="$sdk" >"$work/cmake-route.log" 2>&1 || { cat "$work/cmake-route.log"; fail "configure failed"; }
cmake --build "$proj/build" >>"$work/cmake-route.log" 2>&1 || { cat "$work/cmake-route.log"; fail "build failed"; }
[ -f "$proj/build/storage-file.so" ] || fail "CMake route: no storage-file.so in $proj/build"
exports_only_entry "$proj/build/storage-file.so"
(cd "$proj/build" && ctest --output-on-failure >"$work/ctest.log" 2>&1) || { cat "$work/ctest.log"; fail "contract test (ctest) failed"; }
cmake --install "$proj/build" --prefix "$work/plugin-prefix" >/dev/null
installed=$(find "$work/plugin-prefix" -name storage-file.so)
plugindir=$(sed -n 's/^set(MACP_PLUGIN_SDK_INSTALL_PLUGIN_DIR "\(.*\)")$/\1/p' "$config")
[ "$installed" = "$work/plugin-prefix/$plugindir/storage-file.so" ] || fail "INSTALL put the plugin at '$installed'"
echo "CMake route: storage-file.so built, only the entry exported, contract test passed, installed to <prefix>/$plugindir"

# ---- 6. refusals ---------------------------------------------------------------------------------
expect_configure_failure() {  # <name> <pattern> <cmake code>
  local dir="$work/refuse-$1"
  mkdir -p "$dir"
  printf 'cmake_minimum_required(VERSION 3.17)\nproject(refuse LANGUAGES CXX)\n%s\n' "$3" >"$dir/CMakeLists.txt"
  if cmake -S "$dir" -B "$dir/build" -DCMAKE_PREFIX_PATH="$sdk" >"$dir/log" 2>&1; then
    fail "$1: configure succeeded"
  fi
  grep -q -- "$2" "$dir/log" || { cat "$dir/log"; fail "$1: no '$2' in the error"; }
}
expect_configure_failure next-major "MacpPluginSDK" "find_package(MacpPluginSDK $((major + 1)).0 REQUIRED)"
expect_configure_failure lib-prefix "is named <kind>-<name>" \
  "find_package(MacpPluginSDK REQUIRED)
macp_add_plugin(libstorage-x SOURCES x.cpp)"
expect_configure_failure bad-kind "is named <kind>-<name>" \
  "find_package(MacpPluginSDK REQUIRED)
macp_add_plugin(cache-x SOURCES x.cpp)"
echo "refused: find_package(MacpPluginSDK $((major + 1)).0), macp_add_plugin(libstorage-x), macp_add_plugin(cache-x)"

# ---- 4. pkg-config route -------------------------------------------------------------------------
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
[ "$(realpath "$(pkg-config --variable=prefix macp-plugin)")" = "$(realpath "$sdk")" ] || fail "pc prefix is not the moved tree"
[ "$(pkg-config --modversion macp-plugin)" = "$version" ] || fail "pc version is not $version"
mkdir -p "$work/pc-route"
# shellcheck disable=SC2046  # word splitting of the flags is intended
g++ $(pkg-config --variable=plugin_cxxflags macp-plugin) $(pkg-config --cflags macp-plugin) -O2 \
  -o "$work/pc-route/storage-file.so" "$plugin_src"/*.cpp $(pkg-config --variable=plugin_ldflags macp-plugin)
exports_only_entry "$work/pc-route/storage-file.so"
"$(pkg-config --variable=contracttest macp-plugin)" --file-layout "$work/pc-route/storage-file.so" >"$work/pc.log" 2>&1 \
  || { cat "$work/pc.log"; fail "contract test failed on the pkg-config build"; }
echo "pkg-config route: storage-file.so built, only the entry exported, contract test passed"
echo "SDK OK"
