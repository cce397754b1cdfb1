// Writes the seed corpus of log_replay_fuzz (issue #15) from the project's own code: real
// sessions driven through an in-process Kernel over the memory backend, each session's stored
// log written as one file (one record per line, as every backend stores it). Run by hand when the
// record format changes:
//
//   build/tests/fuzz/make_log_seeds tests/fuzz/corpus/log_replay
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "auth/authenticator.hpp"
#include "auth/rate_limiter.hpp"
#include "harness.hpp"
#include "kernel/events.hpp"
#include "kernel/kernel.hpp"
#include "modes/registry.hpp"
#include "plugin_host/plugin_host.hpp"
#include "policy/registry.hpp"

namespace k = macp::kernel;
using macp::test::commitment_payload;
using macp::test::contribute_json;
using macp::test::envelope;
using macp::test::kMultiRound;
using macp::test::session_start_payload;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
        return 2;
    }
    const std::filesystem::path out(argv[1]);
    std::filesystem::create_directories(out);
    macp::plugin_host::PluginHost host({});
    auto storage = host.open_memory_storage();
    if (!storage) return 1;
    auto& store = **storage;
    macp::modes::ModeRegistry modes(&store);
    macp::policy::PolicyRegistry policies(&store);
    std::vector<std::unique_ptr<macp::auth::Resolver>> none;
    macp::auth::Authenticator authn(std::move(none), true);
    constexpr int64_t kHuge = std::numeric_limits<int64_t>::max() / 4;
    macp::auth::RateLimiter limiter(kHuge, kHuge);
    k::LoggingEventSink sink;
    k::KernelOptions options;
    options.checkpoint_interval = 3;  // some logs carry a Checkpoint entry
    k::Kernel kernel(options, store, modes, policies, authn, limiter, sink);
    if (!modes.load() || !policies.load() || !kernel.recover()) return 1;

    macp::auth::Identity coord;
    coord.sender = "agent://coord";
    macp::auth::Identity alice;
    alice.sender = "agent://alice";
    int written = 0;
    auto dump = [&](const std::string& sid, const std::string& name) {
        auto log = store.load_log(sid);
        if (!log) return;
        std::ofstream f(out / name, std::ios::binary);
        for (const auto& r : *log) f << r << '\n';
        ++written;
    };
    auto start = [&](const std::string& sid) {
        return kernel.send_as(coord, envelope("SessionStart", sid, kMultiRound, "start-" + sid,
                                              session_start_payload({"agent://alice", "agent://coord"})));
    };
    {
        const auto sid = macp::test::new_session_id();
        start(sid);
        dump(sid, "started.log");
    }
    {
        const auto sid = macp::test::new_session_id();
        start(sid);
        for (int i = 0; i < 5; ++i) {
            kernel.send_as(alice, envelope("Contribute", sid, kMultiRound, "c" + std::to_string(i),
                                           contribute_json("v" + std::to_string(i))));
        }
        dump(sid, "contributions-checkpoint.log");
        kernel.send_as(coord, envelope("Commitment", sid, kMultiRound, "done", commitment_payload("accept", true)));
        dump(sid, "resolved.log");
    }
    {
        const auto sid = macp::test::new_session_id();
        start(sid);
        const bool ok = kernel.suspend(coord, sid, "pause").ok() && kernel.resume(coord, sid, "back").ok() &&
                        kernel.cancel(coord, sid, "stop").ok();
        if (!ok) std::fprintf(stderr, "suspend/resume/cancel failed\n");
        dump(sid, "suspend-resume-cancel.log");
    }
    kernel.shutdown();
    std::printf("%d seed logs written to %s\n", written, out.c_str());
    return written == 4 ? 0 : 1;
}
