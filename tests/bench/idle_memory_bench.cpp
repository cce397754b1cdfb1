// Benchmark (not a test; prints figures, asserts nothing): resident memory per idle open session
// (issue #13 target: at most 4 KiB). A memory-only macp-runtime (MACP_MEMORY_ONLY=1, where the
// sessions' logs and snapshots are in memory too) or one on file storage is started,
// a warm-up of sessions is opened so that lazily built state (gRPC buffers, arenas, first-use
// caches) is already paid for, then VmRSS (/proc/<pid>/status) is read before and after opening
// `sessions` more idle sessions: SessionStart of a `mode` session with 2 participants and a small
// payload, never touched again.
//
//   macp_idle_memory_bench [sessions=10000] [mode=multi_round|decision] [clients=8] [backend=memory|file]
//
// Prints RSS before/after and (after - before) / sessions. glibc keeps freed memory in its arenas,
// so the figure is what the process really retains per session, not what it once allocated.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "bench_env.hpp"
#include "harness.hpp"

using namespace macp::test;

namespace {

// VmRSS of `pid` in bytes, or -1.
long rss_bytes(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6) * 1024L;
    }
    return -1;
}

// Opens `count` sessions with `clients` concurrent clients; returns how many were acknowledged.
long open_sessions(const std::string& address, const std::string& mode, int count, int clients) {
    std::atomic<int> next{0};
    std::atomic<long> ok{0};
    std::vector<std::thread> pool;
    for (int c = 0; c < clients; ++c) {
        pool.emplace_back([&, c] {
            // One initiator per client: a fixed number of senders, so per-sender state (rate
            // limiter buckets) does not count as per-session memory.
            const std::string sender = "init" + std::to_string(c);
            Client client(address, sender);
            for (int i = next++; i < count; i = next++) {
                const std::string sid = new_session_id();
                auto ack = client.send(envelope("SessionStart", sid, mode, "m-" + sid,
                                                session_start_payload({sender, "peer"}, 3'600'000)));
                if (ack.ok()) {
                    ++ok;
                } else if (ok == 0 && i == 0) {
                    std::fprintf(stderr, "SessionStart refused: %s %s\n", ack.error().code().c_str(),
                                 ack.error().message().c_str());
                }
            }
        });
    }
    for (auto& t : pool) t.join();
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    macp::bench::use_build_tree_defaults();
    const int sessions = argc > 1 ? std::max(1, std::atoi(argv[1])) : 10000;
    const std::string which = argc > 2 ? argv[2] : "multi_round";
    const int clients = argc > 3 ? std::max(1, std::atoi(argv[3])) : 8;
    const std::string mode = which == "decision" ? "macp.mode.decision.v1" : kMultiRound;
    const std::string backend = argc > 4 ? argv[4] : "memory";

    std::map<std::string, std::string> env{{"MACP_ALLOW_INSECURE", "1"},
                                           {"MACP_MESSAGE_LIMIT_PER_MINUTE", "100000000"},
                                           {"MACP_SESSION_START_LIMIT_PER_MINUTE", "100000000"},
                                           {"RUST_LOG", "warn"}};
    if (backend == "memory") {
        env["MACP_MEMORY_ONLY"] = "1";
    } else {
        ::setenv("MACP_TEST_STORAGE_BACKEND", backend.c_str(), 1);  // the harness configures it
        env["MACP_STORAGE_BACKEND"] = backend;
    }
    TempDir dir;
    ServerProcess server(env, dir.path() / "data");
    if (!server.start()) {
        std::fprintf(stderr, "server did not start:\n%s\n", server.log().c_str());
        return 1;
    }
    const int warmup = std::min(1000, sessions);
    const long warm = open_sessions(server.address(), mode, warmup, clients);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const long before = rss_bytes(server.pid());
    const long opened = open_sessions(server.address(), mode, sessions, clients);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const long after = rss_bytes(server.pid());
    if (opened <= 0 || before < 0 || after < 0) {
        std::fprintf(stderr, "no figures: %ld sessions opened, rss %ld -> %ld\n", opened, before, after);
        return 1;
    }
    std::printf(
        "%s storage, mode %s: warm-up %ld sessions; RSS %.1f MiB -> %.1f MiB after %ld more idle sessions: %.0f bytes "
        "per idle open session\n",
        backend.c_str(), mode.c_str(), warm, static_cast<double>(before) / 1048576.0,
        static_cast<double>(after) / 1048576.0, opened,
        static_cast<double>(after - before) / static_cast<double>(opened));
    server.stop(SIGTERM);  // a clean exit, so that a heap profiler wrapping the server can report
    return 0;
}
