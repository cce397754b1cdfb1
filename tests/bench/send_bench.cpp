// Benchmark (not a test): acknowledged Sends per second against a real macp-runtime with a given
// storage backend (file by default), for a given number of concurrent clients. Each client owns
// one multi_round session and sends Contribute messages as fast as acks come back. Bounded in
// count and time.
//
//   macp_send_bench [clients=1] [seconds=5] [max_messages_per_client=200000] [backend=file]
//
// backend: MACP_STORAGE_BACKEND of the server (`file`, `rocksdb`, `redis`), its data under a temp
// dir; for `redis` the bench starts its own redis-server on loopback with appendonly yes and
// appendfsync always (every acknowledged write fsynced by Redis), stopped by PID at exit.
//
// Prints one line: backend, clients, acked messages, seconds, acks/s, p50/p99 latency.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_env.hpp"
#include "harness.hpp"

using namespace macp::test;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
    macp::bench::use_build_tree_defaults();
    const int clients = argc > 1 ? std::atoi(argv[1]) : 1;
    const int seconds = argc > 2 ? std::atoi(argv[2]) : 5;
    const int max_per_client = argc > 3 ? std::atoi(argv[3]) : 200000;
    const std::string backend = argc > 4 ? argv[4] : "file";
    // The harness gives the server what the backend needs (a redis-server of its own for redis).
    ::setenv("MACP_TEST_STORAGE_BACKEND", backend.c_str(), 1);
    TempDir dir;
    ServerProcess server({{"MACP_ALLOW_INSECURE", "1"},
                          {"MACP_MESSAGE_LIMIT_PER_MINUTE", "100000000"},
                          {"MACP_SESSION_START_LIMIT_PER_MINUTE", "100000"},
                          {"MACP_STORAGE_BACKEND", backend},
                          {"RUST_LOG", "warn"}},
                         dir.path() / "data");
    if (!server.start()) {
        std::fprintf(stderr, "server did not start:\n%s\n", server.log().c_str());
        return 1;
    }
    std::vector<std::string> sids;
    Client coord(server.address(), "coord");
    for (int i = 0; i < clients; ++i) {
        sids.push_back(new_session_id());
        auto ack = coord.send(envelope("SessionStart", sids.back(), kMultiRound, "s",
                                       session_start_payload({"w" + std::to_string(i), "peer"}, 3'600'000)));
        if (!ack.ok()) {
            std::fprintf(stderr, "start failed: %s\n", ack.error().code().c_str());
            return 1;
        }
    }
    std::atomic<long> acked{0};
    std::mutex mu;
    std::vector<double> latencies_us;
    const auto deadline = Clock::now() + std::chrono::seconds(seconds);
    const auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i) {
        threads.emplace_back([&, i] {
            Client c(server.address(), "w" + std::to_string(i));
            std::vector<double> mine;
            for (int n = 0; n < max_per_client && Clock::now() < deadline; ++n) {
                auto s = Clock::now();
                auto ack = c.send(envelope("Contribute", sids[i], kMultiRound, "m" + std::to_string(n),
                                           contribute_json(std::to_string(n))));
                if (!ack.ok()) break;
                mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
                ++acked;
            }
            std::lock_guard lock(mu);
            latencies_us.insert(latencies_us.end(), mine.begin(), mine.end());
        });
    }
    for (auto& t : threads) t.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    std::sort(latencies_us.begin(), latencies_us.end());
    auto pct = [&](double p) {
        return latencies_us.empty() ? 0.0
                                    : latencies_us[std::min(latencies_us.size() - 1, size_t(p * latencies_us.size()))];
    };
    std::printf("backend=%s clients=%d acked=%ld seconds=%.2f acks_per_sec=%.0f p50_us=%.0f p99_us=%.0f\n",
                backend.c_str(), clients, acked.load(), elapsed, acked.load() / elapsed, pct(0.50), pct(0.99));
    server.stop(15);
    return 0;
}
