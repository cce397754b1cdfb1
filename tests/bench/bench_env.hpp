// Benchmarks run straight from the build tree: the server binary and the plugin directory the
// build made are the defaults (tests/bench/CMakeLists.txt compiles them in); the environment
// variables the integration harness reads still override them.
#pragma once

#include <cstdlib>

namespace macp::bench {

inline void use_build_tree_defaults() {
    ::setenv("MACP_TEST_SERVER_BIN", MACP_BENCH_SERVER_BIN, 0);
    ::setenv("MACP_TEST_PLUGIN_DIR", MACP_BENCH_PLUGIN_DIR, 0);
}

}  // namespace macp::bench
