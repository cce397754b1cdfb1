// macp_load: load generator for macp-runtime and the no-op ceiling server (issue #13). Benchmark,
// not a test: prints figures, asserts nothing. See load.hpp for what it does.
//
//   macp_load [--server=memory|file|rocksdb|redis|noop | --address=127.0.0.1:PORT [--pid=PID]]
//             [--sessions=64] [--depth=1] [--channels=4] [--seconds=3] [--warmup=0.5]
//             [--max-sends=10000000] [--sends-per-session=0] [--rate=0] [--max-outstanding=20000]
//             [--mix=multi_round] [--payload-bytes=0] [--rounds=1] [--send-channel-offset=0]
//
// --server starts that server itself on a free 127.0.0.1 port (the runtime with MACP_MEMORY_ONLY=1
// or MACP_STORAGE_BACKEND=<backend>, its data in a temporary directory; redis with a redis-server
// of its own, appendonly yes + appendfsync always) and stops it by PID at the end; its CPU per
// Send is measured from /proc/<pid>/stat. --address drives a server already running (give --pid
// to measure its CPU); it may list several processes of one cluster, "a,b,c" (channels spread over
// them; --send-channel-offset=1 then sends each measured message to a process that does not own
// its session). --rate R: open loop at R Sends/s in total (latency from the intended send
// time). --mix: e.g. multi_round:70,decision:10,proposal:10,task:10.
//
// Prints one line per round: server, settings and the figures (acks/s, p50/p90/p99 latency,
// server CPU µs per Send).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench_util.hpp"
#include "load.hpp"

using namespace macp::bench;

int main(int argc, char** argv) {
    LoadOptions o;
    std::string server_kind = "memory";
    std::string address;
    pid_t pid = 0;
    int rounds = 1;
    for (int i = 1; i < argc; ++i) {
        std::string v;
        const char* a = argv[i];
        if (flag_value(a, "--server", v)) {
            server_kind = v;
        } else if (flag_value(a, "--address", v)) {
            address = v;
        } else if (flag_value(a, "--pid", v)) {
            // "p1,p2,...": the processes of one cluster; their CPU is summed.
            for (size_t at = 0; at < v.size();) {
                const size_t comma = std::min(v.find(',', at), v.size());
                const auto p = static_cast<pid_t>(std::atoi(v.substr(at, comma - at).c_str()));
                if (pid == 0) {
                    pid = p;
                } else {
                    o.more_pids.push_back(p);
                }
                at = comma + 1;
            }
        } else if (flag_value(a, "--sessions", v)) {
            o.sessions = std::max(1, std::atoi(v.c_str()));
        } else if (flag_value(a, "--depth", v)) {
            o.depth = std::max(1, std::atoi(v.c_str()));
        } else if (flag_value(a, "--channels", v)) {
            o.channels = std::max(1, std::atoi(v.c_str()));
        } else if (flag_value(a, "--seconds", v)) {
            o.seconds = std::clamp(std::atof(v.c_str()), 0.1, 3600.0);
        } else if (flag_value(a, "--warmup", v)) {
            o.warmup_seconds = std::clamp(std::atof(v.c_str()), 0.0, 600.0);
        } else if (flag_value(a, "--max-sends", v)) {
            o.max_sends = std::max<int64_t>(1, std::atoll(v.c_str()));
        } else if (flag_value(a, "--sends-per-session", v)) {
            o.sends_per_session = std::max<int64_t>(0, std::atoll(v.c_str()));
        } else if (flag_value(a, "--send-channel-offset", v)) {
            o.send_channel_offset = std::max(0, std::atoi(v.c_str()));
        } else if (flag_value(a, "--rate", v)) {
            o.rate = std::max(0.0, std::atof(v.c_str()));
        } else if (flag_value(a, "--max-outstanding", v)) {
            o.max_outstanding = std::max<int64_t>(1, std::atoll(v.c_str()));
        } else if (flag_value(a, "--mix", v)) {
            o.mix = v;
        } else if (flag_value(a, "--payload-bytes", v)) {
            o.payload_bytes = std::clamp(std::atoi(v.c_str()), 0, 1 << 20);
        } else if (flag_value(a, "--rounds", v)) {
            rounds = std::clamp(std::atoi(v.c_str()), 1, 100);
        } else {
            std::fprintf(stderr, "unknown argument '%s' (see the comment at the top of tests/bench/load_gen.cpp)\n", a);
            return 2;
        }
    }
    int failures = 0;
    for (int round = 1; round <= rounds; ++round) {
        std::unique_ptr<Server> server;
        std::string target = address;
        pid_t target_pid = pid;
        if (address.empty()) {
            ServerSpec spec;
            spec.backend = server_kind;
            server = std::make_unique<Server>(spec);
            std::string error;
            if (!server->start(&error)) {
                std::fprintf(stderr, "macp_load: %s: %s\n", server_kind.c_str(), error.c_str());
                return 1;
            }
            target = server->address();
            target_pid = server->pid();
        }
        const auto r = run_load(target, target_pid, o);
        std::printf("server=%s sessions=%d depth=%d channels=%d mix=%s %s\n",
                    address.empty() ? server_kind.c_str() : address.c_str(), o.sessions, o.depth, o.channels,
                    o.mix.c_str(), describe(r).c_str());
        std::fflush(stdout);
        if (!r.ok) ++failures;
        if (server) server->stop();
    }
    return failures == 0 ? 0 : 1;
}
