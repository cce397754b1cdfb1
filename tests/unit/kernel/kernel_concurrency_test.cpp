// The kernel under concurrent callers (issue #15: the TSan build runs this; issue #8: nothing
// acknowledged is lost). Several sender threads submit messages to shared sessions, re-send some ids
// (DEDUP-1), while a control thread suspends, resumes and cancels sessions (RPC-SUSPEND-*,
// RPC-CANCEL-*), a reader thread reads sessions, history and counts, and the sweeper runs (BG-1).
// Afterwards every session's durable history holds exactly the accepted messages, each once, in the
// order of their sequence numbers as published; with the file plugin the same holds after a restart
// over the same data directory.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

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

constexpr const char* kMode = "ext.concurrency.passthrough.v1";
const std::vector<std::string> kSenders = {"agent://a", "agent://b", "agent://c", "agent://d"};
constexpr int kSessions = 6;
constexpr int kPerSender = 250;

// Publishes are counted per session; a sequence number must never repeat or go backwards.
class CheckingSink : public k::EventSink {
public:
    void on_lifecycle(k::Lifecycle, const k::Session&, int64_t) override {}
    void on_envelope(const Envelope& e, uint64_t sequence) override {
        std::lock_guard lock(mu_);
        auto& last = last_seq_[e.session_id()];
        if (sequence <= last) out_of_order_ = true;
        last = sequence;
        published_[e.session_id()].push_back(e.message_id());
    }
    void on_signal(const Envelope&) override {}

    [[nodiscard]] bool out_of_order() const {
        std::lock_guard lock(mu_);
        return out_of_order_;
    }
    [[nodiscard]] std::vector<std::string> published(const std::string& session) const {
        std::lock_guard lock(mu_);
        auto it = published_.find(session);
        return it == published_.end() ? std::vector<std::string>{} : it->second;
    }

private:
    mutable std::mutex mu_;
    std::map<std::string, uint64_t> last_seq_;
    std::map<std::string, std::vector<std::string>> published_;
    bool out_of_order_ = false;
};

// One kernel over one store, built as main wires it.
class Rig {
public:
    Rig(const std::string& backend, const std::filesystem::path& dir) : host_({MACP_TEST_PLUGIN_DIR}) {
        spdlog::set_level(spdlog::level::warn);
        auto st = backend == "memory" ? host_.open_memory_storage()
                                      : host_.open_storage("storage-file", {{"MACP_DATA_DIR", dir.string()}});
        if (!st.ok()) FAIL("cannot open " << backend << ": " << st.error());
        storage_ = std::move(st.value());
        modes_ = std::make_unique<macp::modes::ModeRegistry>(storage_.get());
        policies_ = std::make_unique<macp::policy::PolicyRegistry>(storage_.get());
        std::vector<std::unique_ptr<macp::auth::Resolver>> none;
        authn_ = std::make_unique<macp::auth::Authenticator>(std::move(none), true);
        constexpr int64_t kHuge = std::numeric_limits<int64_t>::max() / 4;
        limiter_ = std::make_unique<macp::auth::RateLimiter>(kHuge, kHuge);
        k::KernelOptions options;
        options.checkpoint_interval = 7;  // checkpoints interleave with the messages (STO-CKPT-4)
        kernel_ = std::make_unique<k::Kernel>(options, *storage_, *modes_, *policies_, *authn_, *limiter_, sink_);
        REQUIRE(modes_->load().ok());
        REQUIRE(policies_->load().ok());
        auto rep = kernel_->recover();
        REQUIRE(rep.ok());
        REQUIRE(rep->skipped == 0);
    }
    ~Rig() {
        kernel_->shutdown();
        kernel_.reset();
    }
    Rig(const Rig&) = delete;
    Rig& operator=(const Rig&) = delete;

    k::Kernel& kernel() { return *kernel_; }
    macp::modes::ModeRegistry& modes() { return *modes_; }
    CheckingSink& sink() { return sink_; }

private:
    macp::plugin_host::PluginHost host_;
    std::unique_ptr<macp::storage::StorageBackend> storage_;
    std::unique_ptr<macp::modes::ModeRegistry> modes_;
    std::unique_ptr<macp::policy::PolicyRegistry> policies_;
    std::unique_ptr<macp::auth::Authenticator> authn_;
    std::unique_ptr<macp::auth::RateLimiter> limiter_;
    CheckingSink sink_;
    std::unique_ptr<k::Kernel> kernel_;
};

macp::auth::Identity as(const std::string& sender) {
    macp::auth::Identity who;
    who.sender = sender;
    return who;
}

std::string session_id(int n) {
    return "concurrency-session-" + std::to_string(n) + "-0000000000000000";
}

void start_sessions(k::Kernel& kernel) {
    for (int n = 0; n < kSessions; ++n) {
        macp::v1::SessionStartPayload p;
        p.set_intent("concurrency");
        for (const auto& s : kSenders) p.add_participants(s);
        p.set_mode_version("1.0.0");
        p.set_configuration_version("cfg-1");
        p.set_ttl_ms(3'600'000);
        Envelope env;
        env.set_macp_version("1.0");
        env.set_mode(kMode);
        env.set_message_type("SessionStart");
        env.set_message_id("start-" + std::to_string(n));
        env.set_session_id(session_id(n));
        env.set_payload(p.SerializeAsString());
        const k::Ack ack = kernel.send_as(as(kSenders[0]), env);
        REQUIRE(ack.ok);
    }
}

Envelope note(int session, const std::string& message_id) {
    Envelope env;
    env.set_macp_version("1.0");
    env.set_mode(kMode);
    env.set_message_type("Note");
    env.set_message_id(message_id);
    env.set_session_id(session_id(session));
    env.set_payload("note " + message_id);
    return env;
}

// Every answer each message id got.
struct Outcomes {
    struct One {
        int session;
        bool ok;
        bool duplicate;
        std::string error;
    };
    std::mutex mu;
    std::map<std::string, std::vector<One>> by_id;
    std::atomic<int> pending{0};
    std::condition_variable drained;

    void record(const std::string& id, int session, const k::Ack& ack) {
        std::lock_guard lock(mu);
        by_id[id].push_back({session, ack.ok, ack.duplicate, ack.error ? ack.error->code() : ""});
        if (--pending == 0) drained.notify_all();
    }
};

// The ids of the in-session Notes in a session's durable history, in sequence order.
std::vector<std::string> history_ids(k::Kernel& kernel, int session) {
    auto h = kernel.history(session_id(session), 0, std::numeric_limits<uint32_t>::max());
    REQUIRE(h.ok());
    std::vector<std::string> ids;
    for (const auto& e : *h) {
        if (e.message_type() == "Note") ids.push_back(e.message_id());
    }
    return ids;
}

void hammer(Rig& rig, Outcomes& outcomes) {
    k::Kernel& kernel = rig.kernel();
    macp::modes::ModeDescriptor d;  // RPC-REGX-1: a structural-only extension
    d.mode = kMode;
    d.mode_version = "1.0.0";
    d.title = "Concurrency passthrough";
    d.determinism_class = "structural-only";
    d.participant_model = "peer";
    d.message_types = {"Note", "Commitment"};
    d.terminal_message_types = {"Commitment"};
    REQUIRE(rig.modes().register_extension(d).ok());
    start_sessions(kernel);
    kernel.start_sweeper(std::chrono::milliseconds(2));

    std::atomic<bool> senders_done{false};
    std::vector<std::thread> threads;
    for (size_t t = 0; t < kSenders.size(); ++t) {
        threads.emplace_back([&, t] {
            const auto who = as(kSenders[t]);
            for (int i = 0; i < kPerSender; ++i) {
                // Every eighth message re-sends this sender's id from three messages back (DEDUP-1),
                // to the same session, possibly while the original is still being written.
                const int n = (i % 8 == 7) ? i - 3 : i;
                const int target = static_cast<int>((t + static_cast<size_t>(n)) % kSessions);
                const std::string id = "m-" + std::to_string(t) + "-" + std::to_string(n);
                ++outcomes.pending;
                if (i % 2 == 0) {
                    kernel.submit_as(who, note(target, id),
                                     [&outcomes, id, target](k::Ack ack) { outcomes.record(id, target, ack); });
                } else {
                    outcomes.record(id, target, kernel.send_as(who, note(target, id)));
                }
            }
        });
    }
    // RPC-SUSPEND-*, RPC-RESUME-*: session 0 flips between SUSPENDED and OPEN under the senders;
    // RPC-CANCEL-*: the last session is cancelled half-way.
    std::atomic<bool> cancelled{false};
    threads.emplace_back([&] {
        const auto initiator = as(kSenders[0]);
        int flips = 0;
        bool cancel_tried = false;
        while (!senders_done.load() && flips < 400) {
            (void)kernel.suspend(initiator, session_id(0), "flip");
            std::this_thread::sleep_for(std::chrono::microseconds(200));
            (void)kernel.resume(initiator, session_id(0), "flip");
            // Catch2's assertions are not thread-safe: the result is checked on the main thread.
            if (++flips == 20) {
                cancelled = kernel.cancel(initiator, session_id(kSessions - 1), "half-way").ok();
                cancel_tried = true;
            }
        }
        if (!cancel_tried) cancelled = kernel.cancel(initiator, session_id(kSessions - 1), "at the end").ok();
    });
    // Readers: what GetSession, ListSessions, the metrics gauge and StreamSession's replay do.
    threads.emplace_back([&] {
        const auto reader = as(kSenders[1]);
        while (!senders_done.load()) {
            for (int n = 0; n < kSessions; ++n) (void)kernel.get_session(reader, session_id(n));
            (void)kernel.list_sessions();
            (void)kernel.sessions_by_state();
            (void)kernel.history(session_id(1), 0, 1'000'000);
            (void)kernel.snapshot_bytes(session_id(2));
        }
    });
    for (size_t t = 0; t < kSenders.size(); ++t) threads[t].join();
    {
        std::unique_lock lock(outcomes.mu);
        REQUIRE(outcomes.drained.wait_for(lock, std::chrono::seconds(120), [&] { return outcomes.pending == 0; }));
    }
    senders_done = true;
    for (size_t t = kSenders.size(); t < threads.size(); ++t) threads[t].join();
    CHECK(cancelled);
}

// Checks the answers against each other and returns the accepted ids per session.
std::map<int, std::set<std::string>> accepted_by_session(Outcomes& outcomes) {
    std::map<int, std::set<std::string>> accepted;
    std::lock_guard lock(outcomes.mu);
    for (const auto& [id, answers] : outcomes.by_id) {
        int accepts = 0;
        bool duplicate = false;
        for (const auto& a : answers) {
            INFO("message " << id << ": " << (a.ok ? "ok" : a.error));
            if (a.ok && !a.duplicate) {
                ++accepts;
                accepted[a.session].insert(id);
            }
            duplicate = duplicate || a.duplicate;
            // The only refusals possible here: the session is suspended or cancelled (SESSION_NOT_OPEN).
            if (!a.ok) CHECK(a.error == "SESSION_NOT_OPEN");
        }
        INFO("message " << id);
        CHECK(accepts <= 1);  // DEDUP-1: never accepted twice
        if (duplicate) CHECK(accepts == 1);
    }
    return accepted;
}

void check_history(k::Kernel& kernel, const std::map<int, std::set<std::string>>& accepted) {
    size_t total = 0;
    for (int n = 0; n < kSessions; ++n) {
        const auto ids = history_ids(kernel, n);
        const std::set<std::string> unique(ids.begin(), ids.end());
        INFO("session " << n);
        CHECK(unique.size() == ids.size());  // each accepted message once
        const auto it = accepted.find(n);
        CHECK(unique == (it == accepted.end() ? std::set<std::string>{} : it->second));
        total += ids.size();
    }
    // Most messages are accepted: the test must exercise the write path, not only refusals.
    CHECK(total > kSenders.size() * kPerSender / 2);
}

}  // namespace

TEST_CASE("kernel: concurrent senders, control calls, readers and the sweeper lose and double nothing") {
    const std::string backend = GENERATE(std::string("memory"), std::string("file"));
    INFO("backend " << backend);
    const auto dir = std::filesystem::temp_directory_path() /
                     ("macp-kernel-concurrency-" + std::to_string(::getpid()) + "-" + backend);
    std::filesystem::remove_all(dir);
    Outcomes outcomes;
    std::map<int, std::set<std::string>> accepted;
    {
        Rig rig(backend, dir);
        hammer(rig, outcomes);
        accepted = accepted_by_session(outcomes);
        check_history(rig.kernel(), accepted);
        CHECK_FALSE(rig.sink().out_of_order());
        // What was published live is what the history holds, in the same order (STR-SUB-5).
        for (int n = 0; n < kSessions; ++n) {
            std::vector<std::string> live;
            for (const auto& id : rig.sink().published(session_id(n))) {
                if (id.rfind("m-", 0) == 0) live.push_back(id);
            }
            CHECK(live == history_ids(rig.kernel(), n));
        }
    }
    if (backend == "file") {
        // STO-REC-*: a restart over the same directory rebuilds the same histories.
        Rig again(backend, dir);
        check_history(again.kernel(), accepted);
    }
    std::filesystem::remove_all(dir);
}
