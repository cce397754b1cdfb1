// Fuzz target (issue #15): arbitrary bytes as one session's stored log. Every record is decoded
// on its own, and whatever decodes is encoded again and must decode to the same entry (what the
// runtime accepts it must be able to read back); then the whole log goes through recovery in a
// real Kernel over the built-in memory backend. The session is either rebuilt or skipped with a
// reason; a crash, a hang, an exception or an unbounded allocation is a finding.
//
// Built two ways (tests/fuzz/CMakeLists.txt): with libFuzzer under clang (`make fuzz`), and as a
// plain program that replays the committed corpus (ctest fuzz.replay.log_replay).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include "auth/authenticator.hpp"
#include "auth/rate_limiter.hpp"
#include "kernel/events.hpp"
#include "kernel/kernel.hpp"
#include "kernel/records.hpp"
#include "modes/registry.hpp"
#include "plugin_host/plugin_host.hpp"
#include "policy/registry.hpp"

namespace {

namespace k = macp::kernel;

// A finding: printed, then abort() so that libFuzzer (and ctest) report it with the input.
[[noreturn]] void finding(const std::string& what) {
    std::fprintf(stderr, "log_replay_fuzz: %s\n", what.c_str());
    std::abort();
}

// Records are one per line (the core's record encoding never holds a newline).
std::vector<std::string> split_records(std::string_view bytes) {
    std::vector<std::string> out;
    constexpr size_t kMaxRecords = 4096;  // bounded work per input
    size_t start = 0;
    while (start <= bytes.size() && out.size() < kMaxRecords) {
        size_t end = bytes.find('\n', start);
        if (end == std::string_view::npos) end = bytes.size();
        if (end > start) out.emplace_back(bytes.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

void check_round_trip(const std::string& record) {
    auto first = k::decode_entry(record);
    if (!first) return;  // a clear corruption error: fine
    const std::string again = k::encode_entry(*first);
    auto second = k::decode_entry(again);
    if (!second) finding("an accepted record does not read back after encoding: " + second.error());
    if (k::encode_entry(*second) != again) finding("encode(decode(encode(x))) differs from encode(x)");
}

void replay(const std::vector<std::string>& records) {
    macp::plugin_host::PluginHost host({});
    auto storage = host.open_memory_storage();
    if (!storage) finding("cannot open the memory backend: " + storage.error());
    auto& store = **storage;
    const std::string sid = "fz";  // a valid session id: the log is what is fuzzed
    if (!store.create_session_storage(sid)) finding("create_session_storage failed");
    for (const auto& r : records) {
        if (!store.append_log_entry(sid, r)) finding("append_log_entry failed");
    }
    macp::modes::ModeRegistry modes(&store);
    macp::policy::PolicyRegistry policies(&store);
    std::vector<std::unique_ptr<macp::auth::Resolver>> none;
    macp::auth::Authenticator authn(std::move(none), true);
    constexpr int64_t kHuge = std::numeric_limits<int64_t>::max() / 4;
    macp::auth::RateLimiter limiter(kHuge, kHuge);
    k::LoggingEventSink sink;
    k::KernelOptions options;
    k::Kernel kernel(options, store, modes, policies, authn, limiter, sink);
    if (auto ml = modes.load(); !ml) finding("ModeRegistry::load failed: " + ml.error());
    if (auto pl = policies.load(); !pl) finding("PolicyRegistry::load failed: " + pl.error());
    auto report = kernel.recover();
    if (!report) return;  // refused as a whole (strict recovery or a store error): a clear error
    // One stored session: rebuilt, skipped with a reason, or (no record at all: nothing was ever
    // acknowledged) not there.
    if (report->recovered + report->skipped > 1 || (!records.empty() && report->recovered + report->skipped == 0)) {
        finding("one stored session with " + std::to_string(records.size()) + " records, but recovered " +
                std::to_string(report->recovered) + " and skipped " + std::to_string(report->skipped));
    }
    kernel.shutdown();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const bool quiet = [] {  // recovery logs a line per session: noise at thousands of runs/s
        spdlog::set_level(spdlog::level::off);
        return true;
    }();
    (void)quiet;
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    const auto records = split_records(bytes);
    for (const auto& r : records) check_round_trip(r);
    replay(records);
    return 0;
}
