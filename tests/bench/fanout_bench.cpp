// macp_fanout_bench: StreamSession fan-out (benchmark, not a test). One session, N passive
// subscribers, one producer using unary Send; see fanout.hpp. Bounded in count and time.
//
//   macp_fanout_bench [--server=file|memory|rocksdb|redis|noop] [--subscribers=100] [--seconds=3]
//                     [--rate=0] [--channels=4] [--depth=16] [--window=64] [--max-messages=1000000]
//
// --server starts that server on a free 127.0.0.1 port (the runtime on that storage backend, or
// the no-op ceiling server) and stops it by PID at exit. --rate 0 measures the peak (the producer
// paced by delivery); --rate R sends R envelopes/s. Prints one line: envelopes sent, delivered
// in total, delivered/s, p50/p99 delivery latency (producer send -> subscriber receipt).
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench_util.hpp"
#include "fanout.hpp"

using namespace macp::bench;

int main(int argc, char** argv) {
    FanoutOptions o;
    std::string backend = "file";
    for (int i = 1; i < argc; ++i) {
        std::string v;
        const char* a = argv[i];
        if (flag_value(a, "--server", v)) {
            backend = v;
        } else if (flag_value(a, "--subscribers", v)) {
            o.subscribers = std::clamp(std::atoi(v.c_str()), 1, 5000);
        } else if (flag_value(a, "--seconds", v)) {
            o.seconds = std::clamp(std::atof(v.c_str()), 0.1, 3600.0);
        } else if (flag_value(a, "--rate", v)) {
            o.rate = std::max(0.0, std::atof(v.c_str()));
        } else if (flag_value(a, "--channels", v)) {
            o.channels = std::clamp(std::atoi(v.c_str()), 1, 1000);
        } else if (flag_value(a, "--depth", v)) {
            o.producer_depth = std::clamp(std::atoi(v.c_str()), 1, 1000);
        } else if (flag_value(a, "--window", v)) {
            o.window = std::clamp(std::atoi(v.c_str()), 1, 1000);
        } else if (flag_value(a, "--max-messages", v)) {
            o.max_messages = std::max<int64_t>(1, std::atoll(v.c_str()));
        } else {
            std::fprintf(stderr, "unknown argument '%s' (see the comment at the top of tests/bench/fanout_bench.cpp)\n",
                         a);
            return 2;
        }
    }
    ServerSpec spec;
    spec.backend = backend;
    Server server(spec);
    std::string error;
    if (!server.start(&error)) {
        std::fprintf(stderr, "macp_fanout_bench: %s: %s\n", backend.c_str(), error.c_str());
        return 1;
    }
    const auto r = run_fanout(server.address(), o);
    std::printf("server=%s subscribers=%d %s\n", backend.c_str(), o.subscribers, describe(r).c_str());
    server.stop(SIGKILL);
    return r.ok ? 0 : 1;
}
