// Benchmark (not a test): acknowledged appends per second through RedisStorage directly, on a
// throw-away redis-server (tests/support RedisServer) with appendonly yes and the given
// appendfsync. Plugin-level figures: no gRPC, no core; see the README for the server benchmark.
//
//   storage_redis_bench [appendfsync=always] [seconds=3]
//
// Prints one line per scenario: sequential appends of 1 session, and group-commit batches of 64
// sessions (one item each, one MULTI/EXEC per batch); each unfenced (plain RPUSH) and fenced (the
// session's part through the fenced-write Lua script under a lease's token, plugin ABI 1.2), and
// lease renewals (what a cluster process pays per session and renewal interval).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "redis_server.hpp"
#include "redis_storage.hpp"

namespace {

using Clock = std::chrono::steady_clock;

void run(const std::string& label, int seconds, const std::function<long()>& step) {
    long records = 0;
    long calls = 0;
    const auto t0 = Clock::now();
    const auto deadline = t0 + std::chrono::seconds(seconds);
    while (Clock::now() < deadline) {
        records += step();
        ++calls;
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("%-34s records=%ld calls=%ld seconds=%.2f records_per_sec=%.0f calls_per_sec=%.0f\n", label.c_str(),
                records, calls, s, records / s, calls / s);
}

}  // namespace

int main(int argc, char** argv) {
    const std::string fsync = argc > 1 ? argv[1] : "always";
    const int seconds = argc > 2 ? std::atoi(argv[2]) : 3;
    if (!macp::test::redis_server_available()) {
        std::fprintf(stderr, "redis-server is not installed\n");
        return 77;
    }
    macp::test::RedisServer::Options o;
    o.appendfsync = fsync;
    macp::test::RedisServer redis(o);
    macp::storage_redis::RedisStorage s(
        macp::sdk::Config(std::map<std::string, std::string>{{"MACP_REDIS_URL", redis.url()}}));
    const macp::sdk::CallContext none(nullptr);
    std::printf("redis-server %s, appendonly yes, appendfsync %s: %s\n", redis.url().c_str(), fsync.c_str(),
                s.durability().c_str());

    const std::string record(200, 'x');
    run("1 session, append_log_entry", seconds, [&] {
        s.append_log_entry("bench-session-000000000001", record, none);
        return 1L;
    });
    std::vector<std::string> ids;
    for (int i = 0; i < 64; ++i) ids.push_back("bench-session-1000000000" + std::to_string(10 + i));
    std::vector<macp::sdk::LogAppend> batch;
    for (const auto& id : ids) batch.push_back({id, record});
    run("64 sessions, append_log_batch(64)", seconds, [&] {
        std::vector<macp_status> status(batch.size(), MACP_STATUS_INTERNAL);
        s.append_log_batch(batch, status, none);
        return static_cast<long>(batch.size());
    });

    // The same under leases: every session leased by this "process", every write fenced.
    const std::string one = "bench-session-000000000002";
    const uint64_t one_token = s.acquire_lease(one, "bench/1", 600000, 0, none).token;
    macp_call_context raw{sizeof(macp_call_context), nullptr, 0, one_token, nullptr};
    const macp::sdk::CallContext fenced(&raw);
    run("1 session, append_log_entry, fenced", seconds, [&] {
        s.append_log_entry(one, record, fenced);
        return 1L;
    });
    std::vector<std::string> fenced_ids;
    for (int i = 0; i < 64; ++i) fenced_ids.push_back("bench-session-2000000000" + std::to_string(10 + i));
    std::vector<macp::sdk::LogAppend> fenced_batch;
    for (const auto& id : fenced_ids) {
        fenced_batch.push_back({id, record, s.acquire_lease(id, "bench/1", 600000, 0, none).token});
    }
    run("64 sessions, append_log_batch(64), fenced", seconds, [&] {
        std::vector<macp_status> status(fenced_batch.size(), MACP_STATUS_INTERNAL);
        s.append_log_batch(fenced_batch, status, none);
        for (const macp_status st : status) {
            if (st != MACP_STATUS_OK) {
                std::fprintf(stderr, "a fenced append failed (status %d)\n", static_cast<int>(st));
                std::exit(1);
            }
        }
        return static_cast<long>(fenced_batch.size());
    });
    run("lease renewal (1 session)", seconds, [&] {
        s.acquire_lease(one, "bench/1", 600000, one_token, none);
        return 1L;
    });
    std::vector<std::string> leased;
    std::vector<macp::sdk::LeaseRef> refs;
    leased.reserve(1000);
    for (int i = 0; i < 1000; ++i) leased.push_back("bench-session-3000000000" + std::to_string(1000 + i));
    for (const auto& id : leased) refs.push_back({id, s.acquire_lease(id, "bench/1", 600000, 0, none).token});
    run("renew_leases(1000)", seconds, [&] {
        std::vector<macp_status> status(refs.size(), MACP_STATUS_INTERNAL);
        s.renew_leases("bench/1", 600000, refs, status, none);
        return static_cast<long>(refs.size());
    });
    return 0;
}
