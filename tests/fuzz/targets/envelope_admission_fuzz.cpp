// Fuzz target (issue #15): envelope admission, and each mode's payload decoding and step, through
// the kernel in-process on the built-in memory backend (what Send does after gRPC decoded it).
//
// Input: byte 0 routes, the rest is a serialized macp.v1.Envelope.
//   route % 8 == 0   the envelope as it is: every admission check (ENV-*, SID-*, SS-*) sees it;
//   route % 8 == 1-7 aimed at the live session of one mode (decision, proposal, task, handoff,
//                    quorum, multi_round, and a registered passthrough extension): its session id
//                    and mode are replaced, so the message type and payload reach that mode's
//                    decoder and step (MODE-*); with the top three bits of the route all set, it
//                    is a SessionStart of that mode instead, its payload the SessionStartPayload;
//   route & 8        sent as the session's second participant instead of its initiator;
//   route & 16       authenticated through metadata (a bearer token, dev mode) instead of as an
//                    identity, with a spoofed sender when the envelope names another.
// The live sessions persist across inputs (libFuzzer runs in one process), so sequences build
// up; a session that ends or has taken 256 messages is replaced by a fresh one.
// Properties: the ack echoes the request's identifiers (RPC-SEND-3/4); ok and error exclude each
// other; no input gets StorageFailed (the memory backend never fails), InvalidModeState (a
// mode's own state always decodes) or RateLimited (limits are out of reach); an accepted message
// leaves a session whose snapshot encodes; nothing crashes, hangs or grows without bound.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include "auth/authenticator.hpp"
#include "auth/rate_limiter.hpp"
#include "kernel/events.hpp"
#include "kernel/kernel.hpp"
#include "macp/v1/core.pb.h"
#include "macp/v1/envelope.pb.h"
#include "modes/registry.hpp"
#include "plugin_host/plugin_host.hpp"
#include "policy/registry.hpp"

namespace {

namespace k = macp::kernel;
using macp::v1::Envelope;

[[noreturn]] void finding(const std::string& what) {
    std::fprintf(stderr, "envelope_admission_fuzz: %s\n", what.c_str());
    std::abort();
}

constexpr const char* kModes[] = {"macp.mode.decision.v1",  "macp.mode.proposal.v1", "macp.mode.task.v1",
                                  "macp.mode.handoff.v1",   "macp.mode.quorum.v1",   "ext.multi_round.v1",
                                  "ext.fuzz.passthrough.v1"};
constexpr size_t kModeCount = sizeof kModes / sizeof kModes[0];
constexpr const char* kInitiator = "agent://fuzz-a";
constexpr const char* kOther = "agent://fuzz-b";
constexpr int kMaxMessagesPerSession = 256;

class NullSink : public k::EventSink {
public:
    void on_lifecycle(k::Lifecycle, const k::Session&, int64_t) override {}
    void on_envelope(const Envelope&, uint64_t) override {}
    void on_signal(const Envelope&) override {}
};

class Harness {
public:
    Harness() : host_({}) {
        spdlog::set_level(spdlog::level::off);
        auto st = host_.open_memory_storage();
        if (!st.ok()) finding("cannot open the memory backend: " + st.error());
        storage_ = std::move(st.value());
        modes_ = std::make_unique<macp::modes::ModeRegistry>(storage_.get());
        policies_ = std::make_unique<macp::policy::PolicyRegistry>(storage_.get());
        std::vector<std::unique_ptr<macp::auth::Resolver>> none;
        authn_ = std::make_unique<macp::auth::Authenticator>(std::move(none), true);  // dev mode
        constexpr int64_t kHuge = std::numeric_limits<int64_t>::max() / 4;
        limiter_ = std::make_unique<macp::auth::RateLimiter>(kHuge, kHuge);
        k::KernelOptions options;
        options.max_payload_bytes = 64 * 1024;
        options.max_session_state_bytes = 1024 * 1024;
        options.session_retention_ms = 0;  // a finished session leaves memory at the next sweep
        kernel_ = std::make_unique<k::Kernel>(options, *storage_, *modes_, *policies_, *authn_, *limiter_, sink_);
        if (auto r = modes_->load(); !r.ok()) finding("ModeRegistry::load: " + r.error());
        if (auto r = policies_->load(); !r.ok()) finding("PolicyRegistry::load: " + r.error());
        macp::modes::ModeDescriptor passthrough;  // RPC-REGX-1: a structural-only extension
        passthrough.mode = kModes[kModeCount - 1];
        passthrough.mode_version = "1.0.0";
        passthrough.title = "Fuzz passthrough";
        passthrough.determinism_class = "structural-only";
        passthrough.participant_model = "peer";
        passthrough.message_types = {"Note", "Data", "Commitment"};
        passthrough.terminal_message_types = {"Commitment"};
        if (auto r = modes_->register_extension(passthrough); !r.ok()) finding("register passthrough: " + r.error());
        for (size_t m = 0; m < kModeCount; ++m) live_[m] = start(m);
    }
    ~Harness() { kernel_.reset(); }
    Harness(const Harness&) = delete;
    Harness& operator=(const Harness&) = delete;

    void run(uint8_t route, Envelope env) {
        const size_t target = route % 8;
        const bool as_other = (route & 8) != 0;
        const bool via_metadata = (route & 16) != 0;
        const bool starts = (route & 0xE0) == 0xE0;
        const size_t mode = target == 0 ? 0 : target - 1;
        if (target != 0 && starts) {
            env.set_message_type("SessionStart");
            env.set_mode(kModes[mode]);
            env.set_session_id(fresh_id());
        } else if (target != 0) {
            env.set_session_id(live_[mode].id);
            env.set_mode(kModes[mode]);
        }
        const k::Ack ack = send(env, as_other ? kOther : kInitiator, via_metadata);
        if (target != 0 && !starts) {
            Live& s = live_[mode];
            const bool ended = ack.ok && ack.session_state != static_cast<int>(k::SessionState::Open);
            if (ended || ++s.messages >= kMaxMessagesPerSession) {
                retire(s.id);
                s = start(mode);
            }
        }
    }

private:
    struct Live {
        std::string id;
        int messages = 0;
    };

    k::Ack send(const Envelope& env, const std::string& sender, bool via_metadata) {
        k::Ack ack;
        if (via_metadata) {
            macp::auth::Metadata md{{"authorization", "Bearer " + sender}};
            ack = kernel_->send(md, env);
        } else {
            macp::auth::Identity who;
            who.sender = sender;
            ack = kernel_->send_as(who, env);
        }
        if (ack.message_id != env.message_id() || ack.session_id != env.session_id()) {
            finding("the ack does not echo the request's identifiers (RPC-SEND-3/4)");
        }
        if (ack.ok == ack.error.has_value()) finding("an ack is both ok and an error, or neither");
        if (ack.error) {
            const k::ErrorKind kind = ack.error->kind;
            if (kind == k::ErrorKind::StorageFailed || kind == k::ErrorKind::InvalidModeState ||
                kind == k::ErrorKind::RateLimited) {
                finding(std::string("answered ") + ack.error->code() + " (" + ack.error->display() +
                        "): " + ack.error->detail);
            }
        } else if (!ack.duplicate && env.message_type() != "Signal" && env.message_type() != "Progress" &&
                   !kernel_->snapshot_bytes(env.session_id())) {
            finding("an accepted message left session " + env.session_id() + " without a snapshot");
        }
        return ack;
    }

    // Ends the session (if it is still open) and sweeps: memory stays bounded over millions of
    // inputs. A refusal (already ended) is fine.
    void retire(const std::string& id) {
        macp::auth::Identity who;
        who.sender = kInitiator;
        (void)kernel_->cancel(who, id, "fuzz: replaced");
        if (++retired_ % 16 == 0) kernel_->sweep();
    }

    std::string fresh_id() { return "fuzz-session-" + std::to_string(++serial_) + "-0000000000000000"; }

    Live start(size_t mode) {
        macp::v1::SessionStartPayload p;
        p.set_intent("fuzz");
        p.add_participants(kInitiator);
        p.add_participants(kOther);
        p.set_mode_version("1.0.0");
        p.set_configuration_version("cfg-1");
        p.set_ttl_ms(3'600'000);
        Envelope env;
        env.set_macp_version("1.0");
        env.set_mode(kModes[mode]);
        env.set_message_type("SessionStart");
        env.set_message_id("start-" + std::to_string(++serial_));
        env.set_session_id(fresh_id());
        env.set_payload(p.SerializeAsString());
        macp::auth::Identity who;
        who.sender = kInitiator;
        const k::Ack ack = kernel_->send_as(who, env);
        if (!ack.ok) finding(std::string("a valid SessionStart of ") + kModes[mode] + " was refused");
        return Live{env.session_id(), 0};
    }

    macp::plugin_host::PluginHost host_;
    std::unique_ptr<macp::storage::StorageBackend> storage_;
    std::unique_ptr<macp::modes::ModeRegistry> modes_;
    std::unique_ptr<macp::policy::PolicyRegistry> policies_;
    std::unique_ptr<macp::auth::Authenticator> authn_;
    std::unique_ptr<macp::auth::RateLimiter> limiter_;
    NullSink sink_;
    std::unique_ptr<k::Kernel> kernel_;
    std::map<size_t, Live> live_;
    uint64_t serial_ = 0;
    uint64_t retired_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Harness* const harness = [] {
        google::protobuf::SetLogHandler(nullptr);  // protobuf's parse warnings are not findings
        return new Harness();                      // NOLINT: lives for the fuzzing process
    }();
    if (size < 1) return 0;
    Envelope env;
    if (!env.ParseFromArray(data + 1, static_cast<int>(size - 1))) return 0;
    harness->run(data[0], std::move(env));
    return 0;
}
