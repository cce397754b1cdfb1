// Replay determinism (issue #3; BEHAVIOR.md §6.6 STO-REC-*, DEDUP-*): for every fixture of both
// conformance sets and every restart point k (after message k, 0 = right after the SessionStart),
// the session is driven through messages 1..k against a server with file storage, the server is
// killed with SIGKILL, a new server is started on the same data directory, and messages k+1..n are
// sent. Compared with an uninterrupted reference run of the same fixture (same session id, same
// envelopes):
//   - right after the restart, GetSession shows the state and activity counts the reference had
//     after message k, and a policy registered before the crash is still registered;
//   - re-sending message k answers ok+duplicate when it was accepted (dedup survived), or the same
//     rejection when it was not;
//   - every later message gets the same accept/reject, error code, duplicate flag and session
//     state as in the reference (and as the fixture expects);
//   - the final GetSession shows the expected state and the reference's activity;
//   - after a graceful stop, the latest snapshot (final_snapshot: terminal snapshot or last
//     checkpoint) equals the reference's:
//     resolution_b64 and mode_state_b64 byte for byte, every other field too.
// Clock readings differ between runs by nature; wherever a field holds the server's acceptance time
// of a message (a mode's offered_at_ms, started_at, an activity's last_message_at), it is compared as
// "the acceptance time of message i" (the ack of message i in that run carries it), never as a raw
// number, so a replay that re-reads the clock instead of the log is still caught.
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include "fixture.hpp"
#include "harness.hpp"

using namespace macp::test;
using namespace macp::conformance;
namespace fs = std::filesystem;

namespace {

struct Message {
    std::string sender;
    std::string type;
    std::string payload;  // encoded once
    bool accept = true;
    std::string code;  // expected_error_code, may be empty
};

struct Fixture {
    std::string name;
    std::string mode;
    std::string initiator;
    std::string start_payload;
    std::optional<macp::v1::RegisterPolicyRequest> policy;
    std::vector<Message> messages;  // messages[i - 1] is message i
    macp::v1::SessionState expected_state = macp::v1::SESSION_STATE_UNSPECIFIED;
};

Fixture load(const fs::path& file) {
    rapidjson::Document fx;
    fx.Parse(slurp(file).c_str());
    REQUIRE_FALSE(fx.HasParseError());
    Fixture f;
    f.name = fixture_name(file);
    f.mode = str(fx, "mode");
    f.initiator = str(fx, "initiator");
    f.start_payload = session_start(fx).SerializeAsString();
    if (fx.HasMember("policy")) f.policy = policy_request(fx);
    for (auto& m : fx["messages"].GetArray()) {
        Message msg;
        msg.sender = str(m, "sender");
        msg.type = str(m, "message_type");
        msg.payload = encode_payload(str(m, "payload_type"), m["payload"], fx.GetAllocator());
        msg.accept = str(m, "expect") == "accept";
        msg.code = str(m, "expected_error_code");
        f.messages.push_back(std::move(msg));
    }
    f.expected_state = state_from_name(str(fx, "expected_final_state"));
    return f;
}

// The i-th envelope of a fixture's session (0 = SessionStart). Identical in every run of the
// fixture: same session id, message id, payload and envelope timestamp.
macp::v1::Envelope envelope_of(const Fixture& f, const std::string& sid, int64_t base_ts, size_t i) {
    auto e = i == 0 ? envelope("SessionStart", sid, f.mode, "m0", f.start_payload)
                    : envelope(f.messages[i - 1].type, sid, f.mode, "m" + std::to_string(i), f.messages[i - 1].payload);
    e.set_timestamp_unix_ms(base_ts + static_cast<int64_t>(i));
    return e;
}

const std::string& sender_of(const Fixture& f, size_t i) {
    return i == 0 ? f.initiator : f.messages[i - 1].sender;
}

// Server acceptance times of a run's accepted messages -> "@<i>".
using Clock = std::map<int64_t, std::string>;

Clock clock_of(const std::vector<macp::v1::Ack>& acks) {
    Clock c;
    for (size_t i = 0; i < acks.size(); ++i) {
        if (acks[i].ok() && !acks[i].duplicate()) c.emplace(acks[i].accepted_at_unix_ms(), "@" + std::to_string(i));
    }
    return c;
}

// Replaces every maximal run of digits whose value is an acceptance time of `clock` by its token.
std::string normalize_times(const std::string& text, const Clock& clock) {
    std::string out;
    for (size_t i = 0; i < text.size();) {
        if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
            out.push_back(text[i++]);
            continue;
        }
        size_t j = i;
        while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
        const auto digits = text.substr(i, j - i);
        auto it = digits.size() <= 18 ? clock.find(std::stoll(digits)) : clock.end();
        out += it != clock.end() ? it->second : digits;
        i = j;
    }
    return out;
}

std::string time_token(int64_t t, const Clock& clock) {
    auto it = clock.find(t);
    return it != clock.end() ? it->second : std::to_string(t);
}

// participant -> (message_count, last message's acceptance as a token).
std::map<std::string, std::pair<uint32_t, std::string>> activity(const macp::v1::SessionMetadata& md,
                                                                 const Clock& clock) {
    std::map<std::string, std::pair<uint32_t, std::string>> out;
    for (const auto& a : md.participant_activity()) {
        out[a.participant_id()] = {a.message_count(), time_token(a.last_message_at_unix_ms(), clock)};
    }
    return out;
}

std::string describe(const std::map<std::string, std::pair<uint32_t, std::string>>& act) {
    std::string s;
    for (const auto& [p, a] : act) s += p + "=" + std::to_string(a.first) + "(last " + a.second + ") ";
    return s;
}

std::string describe(const macp::v1::Ack& a) {
    return std::string("ok=") + (a.ok() ? "1" : "0") + " duplicate=" + (a.duplicate() ? "1" : "0") +
           " code=" + a.error().code() + " state=" + std::to_string(a.session_state()) + " (" + a.error().message() +
           ")";
}

// The snapshot written at the graceful stop, field by field, as comparable text: times as tokens
// (ttl_expiry relative to the start), mode_state_b64 decoded, seen_message_ids sorted, and
// resolution_b64 / mode_state_b64 also kept verbatim.
struct Snapshot {
    std::map<std::string, std::string> fields;
    std::string resolution_b64;  // "null" when absent
    std::string mode_state;      // decoded bytes of mode_state_b64, times as tokens
    std::string mode_state_raw;  // mode_state_b64 verbatim
};

Snapshot read_snapshot(const std::string& text, const Clock& clock) {
    rapidjson::Document d;
    d.Parse(text.c_str());
    REQUIRE_FALSE(d.HasParseError());
    REQUIRE(d.IsObject());
    Snapshot s;
    for (const auto& m : d.GetObject()) {
        const std::string key = m.name.GetString();
        if (key == "seen_message_ids" && m.value.IsArray()) {
            std::set<std::string> ids;
            for (const auto& id : m.value.GetArray()) ids.insert(id.IsString() ? id.GetString() : to_json(id));
            std::string text;
            for (const auto& id : ids) text += id + ",";
            s.fields[key] = text;
        } else if (key == "ttl_expiry" && m.value.IsInt64() && d.HasMember("started_at_unix_ms") &&
                   d["started_at_unix_ms"].IsInt64()) {
            s.fields[key] = "start+" + std::to_string(m.value.GetInt64() - d["started_at_unix_ms"].GetInt64());
        } else if (key == "mode_state_b64" && m.value.IsString()) {
            s.mode_state_raw = m.value.GetString();
            s.mode_state = normalize_times(b64decode(s.mode_state_raw), clock);
            s.fields[key] = s.mode_state;
        } else {
            s.fields[key] = normalize_times(to_json(m.value), clock);
        }
    }
    s.resolution_b64 = d.HasMember("resolution_b64") ? to_json(d["resolution_b64"]) : "null";
    return s;
}

// What one run of a fixture records for the comparisons.
struct Run {
    std::vector<macp::v1::Ack> acks;               // acks[i]: first send of message i (0 = SessionStart)
    std::vector<macp::v1::SessionMetadata> after;  // reference only: GetSession after message i
    std::optional<macp::v1::SessionMetadata> after_restart;
    std::optional<macp::v1::Ack> resend;  // message k re-sent after the restart
    std::string policy_before;            // GetPolicy of the fixture's policy, before the crash
    std::string policy_after;             // and right after the restart
    macp::v1::SessionMetadata final_md;
    Snapshot snapshot;
    Clock clock;
};

// GetPolicy as comparable text: status, then the descriptor (registration time included).
std::string get_policy(Client& c, const std::string& policy_id) {
    macp::v1::GetPolicyRequest req;
    req.set_policy_id(policy_id);
    macp::v1::GetPolicyResponse resp;
    auto ctx = c.context();
    auto st = c.stub().GetPolicy(ctx.get(), req, &resp);
    if (!st.ok()) return "GetPolicy failed: status " + std::to_string(st.error_code()) + " " + st.error_message();
    return resp.policy_descriptor().ShortDebugString();
}

// One run of a fixture on a fresh data directory; restart_after = k kills the server with
// SIGKILL after message k and continues on a new server on the same directory.
Run drive(const Fixture& f, const std::string& sid, int64_t base_ts, std::optional<size_t> restart_after) {
    TempDir dir;
    const auto data = dir.path() / "data";
    auto server = std::make_unique<ServerProcess>(server_env(), data);
    REQUIRE(server->start());
    if (f.policy) {  // CONF-4: registered once, before the session; persisted across the crash
        Client admin(server->address(), f.initiator);
        macp::v1::RegisterPolicyResponse resp;
        auto ctx = admin.context();
        REQUIRE(admin.stub().RegisterPolicy(ctx.get(), *f.policy, &resp).ok());
        INFO("RegisterPolicy error: " << resp.error());
        REQUIRE(resp.ok());
    }
    Run run;
    if (f.policy) {
        Client admin(server->address(), f.initiator);
        run.policy_before = get_policy(admin, f.policy->policy_descriptor().policy_id());
    }
    const size_t n = f.messages.size();
    for (size_t i = 0; i <= n; ++i) {
        Client c(server->address(), sender_of(f, i));
        grpc::Status st;
        run.acks.push_back(c.send(envelope_of(f, sid, base_ts, i), &st));
        INFO("message " << i << ": " << st.error_message());
        REQUIRE(st.ok());
        // Distinct acceptance times, so a time in a mode state names exactly one message.
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        if (!restart_after) {  // GetSession as the initiator: a rejected sender may not be a participant
            Client init(server->address(), f.initiator);
            macp::v1::SessionMetadata md;
            REQUIRE(init.get_session(sid, &md).ok());
            run.after.push_back(md);
        }
        if (restart_after && *restart_after == i) {
            server->kill9();
            server = std::make_unique<ServerProcess>(server_env(), data);
            REQUIRE(server->start());
            Client init(server->address(), f.initiator);
            macp::v1::SessionMetadata md;
            REQUIRE(init.get_session(sid, &md).ok());
            run.after_restart = md;
            if (f.policy) run.policy_after = get_policy(init, f.policy->policy_descriptor().policy_id());
            Client again(server->address(), sender_of(f, i));
            run.resend = again.send(envelope_of(f, sid, base_ts, i), &st);
            REQUIRE(st.ok());
        }
    }
    {
        Client init(server->address(), f.initiator);
        REQUIRE(init.get_session(sid, &run.final_md).ok());
    }  // no client connection left open: the graceful stop need not wait out the drain period
    REQUIRE(server->stop(15) == 0);
    run.clock = clock_of(run.acks);
    run.snapshot = read_snapshot(final_snapshot(data, sid), run.clock);
    return run;
}

struct Reference {
    Fixture fixture;
    std::string sid;
    int64_t base_ts = 0;
    Run run;
};

// The uninterrupted run of each fixture, computed once (Catch re-enters the fixture's section for
// every restart point).
const Reference& reference(const fs::path& file) {
    static std::map<std::string, std::unique_ptr<Reference>> cache;
    auto& slot = cache[file.string()];
    if (slot) return *slot;
    auto ref = std::make_unique<Reference>();
    ref->fixture = load(file);
    ref->sid = new_session_id();
    ref->base_ts =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    ref->run = drive(ref->fixture, ref->sid, ref->base_ts, std::nullopt);
    // The reference itself must be the run the fixture describes.
    const auto& f = ref->fixture;
    REQUIRE(ref->run.acks[0].ok());
    for (size_t i = 1; i <= f.messages.size(); ++i) {
        const auto& a = ref->run.acks[i];
        INFO("reference run, message " << i << " " << f.messages[i - 1].type << ": " << describe(a));
        REQUIRE(a.ok() == f.messages[i - 1].accept);
        if (!a.ok() && !f.messages[i - 1].code.empty()) REQUIRE(a.error().code() == f.messages[i - 1].code);
    }
    REQUIRE(ref->run.final_md.state() == f.expected_state);
    slot = std::move(ref);
    return *slot;
}

void check_restart(const Reference& ref, size_t k) {
    const Fixture& f = ref.fixture;
    const Run& exp = ref.run;
    Run run = drive(f, ref.sid, ref.base_ts, k);
    const Clock clock_before = clock_of({run.acks.begin(), run.acks.begin() + static_cast<std::ptrdiff_t>(k + 1)});

    // The state the crash interrupted, rebuilt from the log.
    REQUIRE(run.after_restart);
    {
        INFO("GetSession right after the restart (reference: after message " << k << ")");
        CHECK(run.after_restart->state() == exp.after[k].state());
        const auto got = activity(*run.after_restart, clock_before);
        const auto want = activity(exp.after[k], exp.clock);
        INFO("activity after restart: " << describe(got) << "| reference: " << describe(want));
        CHECK(got == want);
        CHECK(time_token(run.after_restart->started_at_unix_ms(), clock_before) == "@0");
        CHECK(run.after_restart->expires_at_unix_ms() - run.after_restart->started_at_unix_ms() ==
              exp.after[k].expires_at_unix_ms() - exp.after[k].started_at_unix_ms());
    }
    if (f.policy) {  // persisted, not re-registered: the very descriptor that was registered before the crash
        INFO("policy before the crash: " << run.policy_before << "\n  after the restart: " << run.policy_after);
        CHECK(run.policy_after == run.policy_before);
    }

    // Dedup survived: message k again.
    REQUIRE(run.resend);
    {
        const auto& first = run.acks[k];
        INFO("message " << k << " re-sent after the restart: " << describe(*run.resend)
                        << " | first send: " << describe(first));
        if (first.ok()) {
            CHECK(run.resend->ok());
            CHECK(run.resend->duplicate());
        } else {
            CHECK_FALSE(run.resend->ok());
            CHECK(run.resend->error().code() == first.error().code());
        }
    }

    // Every message answers as in the uninterrupted run (and as the fixture expects).
    for (size_t i = 0; i <= f.messages.size(); ++i) {
        const auto& got = run.acks[i];
        const auto& want = exp.acks[i];
        INFO("message " << i << (i == 0 ? " SessionStart" : " " + f.messages[i - 1].type)
                        << (i > k ? " (after restart)" : "") << ": " << describe(got)
                        << " | reference: " << describe(want));
        CHECK(got.ok() == want.ok());
        CHECK(got.duplicate() == want.duplicate());
        CHECK(got.error().code() == want.error().code());
        CHECK(got.session_state() == want.session_state());
        if (i > 0) {
            CHECK(got.ok() == f.messages[i - 1].accept);
            if (!f.messages[i - 1].accept && !f.messages[i - 1].code.empty())
                CHECK(got.error().code() == f.messages[i - 1].code);
        }
    }

    // Final state and activity.
    {
        CHECK(run.final_md.state() == f.expected_state);
        CHECK(run.final_md.state() == exp.final_md.state());
        const auto got = activity(run.final_md, run.clock);
        const auto want = activity(exp.final_md, exp.clock);
        INFO("final activity: " << describe(got) << "| reference: " << describe(want));
        CHECK(got == want);
    }

    // The snapshot: resolution and mode state bytes, then every other field.
    {
        INFO("resolution_b64: " << run.snapshot.resolution_b64 << " | reference: " << exp.snapshot.resolution_b64);
        CHECK(run.snapshot.resolution_b64 == exp.snapshot.resolution_b64);
    }
    {
        INFO("mode state: " << run.snapshot.mode_state << "\n  reference: " << exp.snapshot.mode_state);
        CHECK(run.snapshot.mode_state == exp.snapshot.mode_state);
        // Verbatim whenever the mode state holds no acceptance time.
        if (normalize_times(b64decode(exp.snapshot.mode_state_raw), {}) == exp.snapshot.mode_state) {
            CHECK(run.snapshot.mode_state_raw == exp.snapshot.mode_state_raw);
        }
    }
    std::set<std::string> keys;
    for (const auto& [key, v] : run.snapshot.fields) keys.insert(key);
    for (const auto& [key, v] : exp.snapshot.fields) keys.insert(key);
    for (const auto& key : keys) {
        auto g = run.snapshot.fields.find(key);
        auto w = exp.snapshot.fields.find(key);
        const std::string got = g == run.snapshot.fields.end() ? "<absent>" : g->second;
        const std::string want = w == exp.snapshot.fields.end() ? "<absent>" : w->second;
        INFO("snapshot field " << key << ": " << got << " | reference: " << want);
        CHECK(got == want);
    }
}

// Restart points of a fixture with n messages: every k in 0..n-1, or only {0, n/2, n-1} when
// MACP_REPLAY_QUICK is set.
std::vector<size_t> restart_points(size_t n) {
    std::set<size_t> ks;
    if (std::getenv("MACP_REPLAY_QUICK") != nullptr) {
        ks = {0, n / 2, n == 0 ? 0 : n - 1};
    } else {
        for (size_t k = 0; k < std::max<size_t>(n, 1); ++k) ks.insert(k);
    }
    return {ks.begin(), ks.end()};
}

}  // namespace

TEST_CASE("a session killed and restarted at every message replays to the same answers and state",
          "[conformance][replay]") {
    link_descriptors();
    auto files = fixtures();
    if (files.empty()) {
        WARN("conformance fixtures not found (MACP_CONFORMANCE_DIR="
             << (std::getenv("MACP_CONFORMANCE_DIR") ? std::getenv("MACP_CONFORMANCE_DIR") : "") << "): SKIPPED");
        return;
    }
    const char* only = std::getenv("MACP_CONFORMANCE_ONLY");  // substring filter for debugging
    for (const auto& file : files) {
        const auto name = fixture_name(file);
        if (only != nullptr && name.find(only) == std::string::npos) continue;
        SECTION(name) {
            const Reference& ref = reference(file);
            for (size_t k : restart_points(ref.fixture.messages.size())) {
                DYNAMIC_SECTION("SIGKILL after message " << k) {
                    check_restart(ref, k);
                }
            }
        }
    }
}
