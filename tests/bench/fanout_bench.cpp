// Benchmark (not a test): StreamSession fan-out. One session, N passive subscribers; a producer
// sends envelopes with unary Send; every subscriber measures delivery latency (send time stamped
// in the payload -> arrival). Bounded in count and time.
//
//   macp_fanout_bench [subscribers=10] [messages=2000] [seconds=20]
//
// Prints: subscribers, envelopes sent, envelopes delivered in total, delivered/s, p50/p99 latency.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "bench_env.hpp"
#include "harness.hpp"

using namespace macp::test;
using Clock = std::chrono::steady_clock;

namespace {
int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count();
}
}  // namespace

int main(int argc, char** argv) {
    macp::bench::use_build_tree_defaults();
    const int subscribers = argc > 1 ? std::atoi(argv[1]) : 10;
    const int messages = argc > 2 ? std::atoi(argv[2]) : 2000;
    const int seconds = argc > 3 ? std::atoi(argv[3]) : 20;
    TempDir dir;
    ServerProcess server({{"MACP_ALLOW_INSECURE", "1"},
                          {"MACP_MESSAGE_LIMIT_PER_MINUTE", "100000000"},
                          {"MACP_MAX_CONCURRENT_STREAMS", "1000"},
                          {"RUST_LOG", "warn"}},
                         dir.path() / "data");
    if (!server.start()) {
        std::fprintf(stderr, "server did not start:\n%s\n", server.log().c_str());
        return 1;
    }
    const auto sid = new_session_id();
    Client producer(server.address(), "producer");
    if (!producer
             .send(envelope("SessionStart", sid, kMultiRound, "start",
                            session_start_payload({"producer", "peer"}, 3'600'000)))
             .ok()) {
        std::fprintf(stderr, "SessionStart failed\n");
        return 1;
    }
    std::mutex mu;
    std::vector<double> latencies_us;
    std::atomic<long> delivered{0};
    std::atomic<int> ready{0};
    const auto deadline = Clock::now() + std::chrono::seconds(seconds);
    std::vector<std::thread> readers;
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < subscribers; ++i) clients.push_back(std::make_unique<Client>(server.address(), "producer"));
    for (int i = 0; i < subscribers; ++i) {
        readers.emplace_back([&, i] {
            auto ctx = clients[i]->context();
            ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds + 10));
            auto stream = clients[i]->stub().StreamSession(ctx.get());
            macp::v1::StreamSessionRequest sub;
            sub.set_subscribe_session_id(sid);
            sub.set_after_sequence(1);  // skip the SessionStart
            stream->Write(sub);
            ++ready;
            std::vector<double> mine;
            macp::v1::StreamSessionResponse r;
            int got = 0;
            while (got < messages && Clock::now() < deadline && stream->Read(&r)) {
                if (!r.has_envelope()) continue;
                // The payload is {"value":"<send time in µs>"}.
                const auto& p = r.envelope().payload();
                auto q = p.find(":\"");
                if (q != std::string::npos) mine.push_back(double(now_us() - std::atoll(p.c_str() + q + 2)));
                ++got;
            }
            delivered += got;
            ctx->TryCancel();
            std::lock_guard lock(mu);
            latencies_us.insert(latencies_us.end(), mine.begin(), mine.end());
        });
    }
    while (ready < subscribers) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // subscriptions registered
    const auto t0 = Clock::now();
    int sent = 0;
    for (int n = 0; n < messages && Clock::now() < deadline; ++n) {
        auto ack = producer.send(envelope("Contribute", sid, kMultiRound, "m" + std::to_string(n),
                                          contribute_json(std::to_string(now_us()))));
        if (!ack.ok()) break;
        ++sent;
    }
    for (auto& t : readers) t.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    std::sort(latencies_us.begin(), latencies_us.end());
    auto pct = [&](double p) {
        return latencies_us.empty() ? 0.0
                                    : latencies_us[std::min(latencies_us.size() - 1, size_t(p * latencies_us.size()))];
    };
    std::printf("subscribers=%d sent=%d delivered=%ld seconds=%.2f delivered_per_sec=%.0f p50_us=%.0f p99_us=%.0f\n",
                subscribers, sent, delivered.load(), elapsed, delivered.load() / elapsed, pct(0.50), pct(0.99));
    server.stop(15);
    return 0;
}
