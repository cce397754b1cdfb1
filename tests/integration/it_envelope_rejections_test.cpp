// Every Send rejection of BEHAVIOR.md §2 (plus DELTA-0.6 changes) over the real gRPC surface:
// ack code, MACPError.message (the Display text), and the RPC-SEND-4 error-ack shape.
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <thread>

#include "harness.hpp"

using namespace macp::test;
using macp::v1::Ack;
using macp::v1::Envelope;

namespace {

std::map<std::string, std::string> dev_env(std::map<std::string, std::string> extra = {}) {
    extra["MACP_ALLOW_INSECURE"] = "1";
    return extra;
}

// Generous limits so that the many SessionStarts of one test never hit RATE-2.
std::map<std::string, std::string> roomy_env(std::map<std::string, std::string> extra = {}) {
    extra["MACP_SESSION_START_LIMIT_PER_MINUTE"] = "100000";
    extra["MACP_MESSAGE_LIMIT_PER_MINUTE"] = "100000";
    return dev_env(std::move(extra));
}

// RPC-SEND-2 / RPC-SEND-4: gRPC OK, ok=false, duplicate=false, ids echoed from the request
// envelope, state UNSPECIFIED, error {code, Display message, session_id, message_id, empty details}.
void check_rejected(const Ack& ack, const grpc::Status& st, const Envelope& env, const std::string& code,
                    const std::string& message) {
    INFO("envelope type='" << env.message_type() << "' id='" << env.message_id() << "' session='" << env.session_id()
                           << "' mode='" << env.mode() << "'");
    CHECK(st.ok());
    CHECK_FALSE(ack.ok());
    CHECK_FALSE(ack.duplicate());
    CHECK(ack.error().code() == code);
    CHECK(ack.error().message() == message);
    CHECK(ack.session_state() == macp::v1::SESSION_STATE_UNSPECIFIED);
    CHECK(ack.message_id() == env.message_id());
    CHECK(ack.session_id() == env.session_id());
    CHECK(ack.error().session_id() == env.session_id());
    CHECK(ack.error().message_id() == env.message_id());
    CHECK(ack.error().details().empty());
    CHECK(ack.accepted_at_unix_ms() > 0);
}

void expect_reject(Client& c, const Envelope& env, const std::string& code, const std::string& message) {
    grpc::Status st;
    auto ack = c.send(env, &st);
    check_rejected(ack, st, env, code, message);
}

Ack expect_ok(Client& c, const Envelope& env) {
    grpc::Status st;
    auto ack = c.send(env, &st);
    INFO("envelope type='" << env.message_type() << "' id='" << env.message_id() << "' session='" << env.session_id()
                           << "' -> code='" << ack.error().code() << "' message='" << ack.error().message() << "'");
    CHECK(st.ok());
    CHECK(ack.ok());
    CHECK_FALSE(ack.has_error());
    return ack;
}

Envelope start_env(const std::string& sid, const std::string& msg_id, std::string payload) {
    return envelope("SessionStart", sid, kMultiRound, msg_id, std::move(payload));
}

std::string start_payload_with(const std::vector<std::string>& participants,
                               const std::function<void(macp::v1::SessionStartPayload&)>& edit) {
    macp::v1::SessionStartPayload p;
    REQUIRE(p.ParseFromString(session_start_payload(participants)));
    edit(p);
    return p.SerializeAsString();
}

std::string signal_payload(const std::string& type) {
    macp::v1::SignalPayload p;
    p.set_signal_type(type);
    p.set_confidence(0.5);
    return p.SerializeAsString();
}

// Bytes that cannot decode as any protobuf message (a truncated varint tag).
const std::string kGarbage("\xff\xff\xff\xff", 4);

macp::v1::SessionState state_in_list(Client& c, const std::string& sid) {
    macp::v1::ListSessionsRequest req;
    macp::v1::ListSessionsResponse resp;
    auto st = c.list_sessions(req, &resp);
    REQUIRE(st.ok());
    for (const auto& m : resp.sessions()) {
        if (m.session_id() == sid) return m.state();
    }
    FAIL("session " << sid << " not listed");
    return macp::v1::SESSION_STATE_UNSPECIFIED;
}

}  // namespace

TEST_CASE("ENV-1..5, ENV-7, RPC-SEND-1, RPC-SEND-4: envelope shape rejections", "[integration][envelope]") {
    TempDir dir;
    ServerProcess server(roomy_env(), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coordinator");
    const auto sid = new_session_id();
    REQUIRE(coord.send(start_env(sid, "s0", session_start_payload({"alice", "bob"}))).ok());

    {
        INFO("ENV-1: macp_version must be exactly \"1.0\"");
        auto e = envelope("Contribute", sid, kMultiRound, "v1", contribute_json("x"));
        e.set_macp_version("1.1");
        expect_reject(coord, e, "UNSUPPORTED_PROTOCOL_VERSION", "InvalidMacpVersion");
        e.set_macp_version("1.0 ");  // no trimming
        expect_reject(coord, e, "UNSUPPORTED_PROTOCOL_VERSION", "InvalidMacpVersion");
        e.set_macp_version("");
        expect_reject(coord, e, "UNSUPPORTED_PROTOCOL_VERSION", "InvalidMacpVersion");
        // The version check comes first: a wrong version plus an empty message id is still a version error.
        e.set_macp_version("2.0");
        e.set_message_id("");
        expect_reject(coord, e, "UNSUPPORTED_PROTOCOL_VERSION", "InvalidMacpVersion");
    }

    {
        INFO("ENV-2: empty message_type or message_id; whitespace-only values pass the shape check");
        expect_reject(coord, envelope("", sid, kMultiRound, "t1", contribute_json("x")), "INVALID_ENVELOPE",
                      "InvalidEnvelope");
        expect_reject(coord, envelope("Contribute", sid, kMultiRound, "", contribute_json("x")), "INVALID_ENVELOPE",
                      "InvalidEnvelope");
        // " " as message_type passes the shape check and reaches the mode, which rejects the type.
        expect_reject(coord, envelope(" ", sid, kMultiRound, "t2", contribute_json("x")), "INVALID_ENVELOPE",
                      "InvalidPayload");
        // " " as message_id is a valid id.
        auto ack = expect_ok(coord, start_env(new_session_id(), " ", session_start_payload({"alice"})));
        CHECK(ack.message_id() == " ");
    }

    {
        INFO("ENV-3: Signal must have no session_id and a blank mode");
        expect_reject(coord, envelope("Signal", sid, "", "g1", signal_payload("hb")), "INVALID_ENVELOPE",
                      "InvalidEnvelope");
        expect_reject(coord, envelope("Signal", "", kMultiRound, "g2", signal_payload("hb")), "INVALID_ENVELOPE",
                      "InvalidEnvelope");
        auto ack = expect_ok(coord, envelope("Signal", "", "   ", "g3", signal_payload("hb")));  // blank mode passes
        CHECK(ack.session_state() == macp::v1::SESSION_STATE_OPEN);
    }

    {
        INFO("ENV-4: ambient Progress must have a blank mode");
        expect_reject(coord, envelope("Progress", "", kMultiRound, "p1"), "INVALID_ENVELOPE", "InvalidEnvelope");
        expect_ok(coord, envelope("Progress", "", " ", "p2"));
    }

    {
        INFO("ENV-5: other types need a session_id and a non-blank mode");
        expect_reject(coord, envelope("Contribute", "", kMultiRound, "c1", contribute_json("x")), "INVALID_ENVELOPE",
                      "InvalidEnvelope");
        expect_reject(coord, envelope("Contribute", sid, "", "c2", contribute_json("x")), "INVALID_ENVELOPE",
                      "InvalidEnvelope");
        expect_reject(coord, envelope("Contribute", sid, " \t ", "c3", contribute_json("x")), "INVALID_ENVELOPE",
                      "InvalidEnvelope");
        expect_reject(coord, envelope("SessionStart", new_session_id(), "  ", "c4", session_start_payload({"alice"})),
                      "INVALID_ENVELOPE", "InvalidEnvelope");
    }

    {
        INFO("ENV-7: timestamp_unix_ms is not validated");
        auto e = start_env(new_session_id(), "ts", session_start_payload({"alice"}));
        e.set_timestamp_unix_ms(0);
        expect_ok(coord, e);
        auto e2 = start_env(new_session_id(), "ts2", session_start_payload({"alice"}));
        e2.set_timestamp_unix_ms(-5);
        expect_ok(coord, e2);
    }

    {
        INFO("RPC-SEND-1: a SendRequest without an envelope is gRPC INVALID_ARGUMENT");
        macp::v1::SendRequest req;
        macp::v1::SendResponse resp;
        auto ctx = coord.context();
        auto st = coord.stub().Send(ctx.get(), req, &resp);
        CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
        CHECK(st.error_message() == "SendRequest must contain an envelope");
    }

    {
        INFO("RPC-SEND-4: error ack echoes the request ids (before the sender override)");
        Client alice(server.address(), "alice");
        auto e = envelope("Contribute", sid, "macp.mode.decision.v1", "echo-1", contribute_json("x"));
        e.set_sender("alice");
        grpc::Status st;
        auto ack = alice.send(e, &st);
        check_rejected(ack, st, e, "INVALID_ENVELOPE", "InvalidEnvelope");
        CHECK(ack.session_state() == 0);
    }
}

TEST_CASE("ENV-6: payload size limit, inclusive, checked before authentication", "[integration][envelope]") {
    TempDir dir;
    ServerProcess server(roomy_env({{"MACP_MAX_PAYLOAD_BYTES", "1024"}}), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coordinator");
    Client alice(server.address(), "alice");
    Client anon(server.address());
    const auto sid = new_session_id();
    REQUIRE(coord.send(start_env(sid, "s0", session_start_payload({"alice", "bob"}))).ok());

    // {"value":"<pad>"} is 12 bytes of framing.
    const std::string exact = contribute_json(std::string(1024 - 12, 'a'));
    const std::string over = contribute_json(std::string(1025 - 12, 'a'));
    REQUIRE(exact.size() == 1024);
    REQUIRE(over.size() == 1025);

    auto ok = expect_ok(alice, envelope("Contribute", sid, kMultiRound, "m1", exact));
    CHECK(ok.session_state() == macp::v1::SESSION_STATE_OPEN);
    expect_reject(alice, envelope("Contribute", sid, kMultiRound, "m2", over), "PAYLOAD_TOO_LARGE", "PayloadTooLarge");
    // Before authentication: no bearer + oversized payload → PAYLOAD_TOO_LARGE, ...
    expect_reject(anon, envelope("Contribute", sid, kMultiRound, "m3", over), "PAYLOAD_TOO_LARGE", "PayloadTooLarge");
    // ... while no bearer + an in-limit payload is UNAUTHENTICATED.
    expect_reject(anon, envelope("Contribute", sid, kMultiRound, "m4", exact), "UNAUTHENTICATED", "Unauthenticated");
    // Signals are size-checked too.
    macp::v1::SignalPayload big;
    big.set_signal_type("hb");
    big.set_data(std::string(1100, 'x'));
    expect_reject(alice, envelope("Signal", "", "", "g1", big.SerializeAsString()), "PAYLOAD_TOO_LARGE",
                  "PayloadTooLarge");
}

TEST_CASE("ENV-8, ENV-9: authentication and sender binding", "[integration][envelope][auth]") {
    TempDir dir;
    ServerProcess server(roomy_env(), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coordinator");
    Client alice(server.address(), "alice");
    const auto sid = new_session_id();
    REQUIRE(coord.send(start_env(sid, "s0", session_start_payload({"alice", "bob"}))).ok());

    {
        INFO("ENV-8: no credentials → UNAUTHENTICATED");
        Client anon(server.address());
        expect_reject(anon, envelope("Contribute", sid, kMultiRound, "a1", contribute_json("x")), "UNAUTHENTICATED",
                      "Unauthenticated");
        expect_reject(anon, start_env(new_session_id(), "a2", session_start_payload({"alice"})), "UNAUTHENTICATED",
                      "Unauthenticated");
        expect_reject(anon, envelope("Signal", "", "", "a3"), "UNAUTHENTICATED", "Unauthenticated");
        // AUTH-HDR-4: x-macp-agent-id is never an identity source.
        Client agent_hdr(server.address());
        agent_hdr.set_header("x-macp-agent-id", "alice");
        expect_reject(agent_hdr, envelope("Contribute", sid, kMultiRound, "a4", contribute_json("x")),
                      "UNAUTHENTICATED", "Unauthenticated");
    }

    {
        INFO("ENV-9: a spoofed sender is UNAUTHENTICATED; a matching sender is fine");
        auto spoof = envelope("Contribute", sid, kMultiRound, "b1", contribute_json("x"));
        spoof.set_sender("bob");
        expect_reject(alice, spoof, "UNAUTHENTICATED", "Unauthenticated");
        auto spoof_start = start_env(new_session_id(), "b2", session_start_payload({"alice"}));
        spoof_start.set_sender("coordinator");
        expect_reject(alice, spoof_start, "UNAUTHENTICATED", "Unauthenticated");

        auto same = envelope("Contribute", sid, kMultiRound, "b1", contribute_json("x"));
        same.set_sender("alice");
        auto ack = expect_ok(alice, same);
        CHECK_FALSE(ack.duplicate());  // the rejected attempt did not consume b1 (MSG-6)
        macp::v1::SessionMetadata md;
        REQUIRE(coord.get_session(sid, &md).ok());
        REQUIRE(md.participant_activity_size() == 1);
        CHECK(md.participant_activity(0).participant_id() == "alice");
    }

    {
        INFO("ENV-9: an empty sender is overwritten with the authenticated identity");
        const auto sid2 = new_session_id();
        auto e = start_env(sid2, "c1", session_start_payload({"alice"}));
        REQUIRE(e.sender().empty());
        expect_ok(alice, e);
        macp::v1::SessionMetadata md;
        REQUIRE(alice.get_session(sid2, &md).ok());
        CHECK(md.initiator() == "alice");
    }
}

TEST_CASE("SID-1..5: session id format at SessionStart (0.6 SID-2)", "[integration][envelope][sid]") {
    TempDir dir;
    ServerProcess server(roomy_env(), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coordinator");
    const auto payload = session_start_payload({"alice"});
    int n = 0;
    auto reject = [&](const std::string& sid, const std::string& code, const std::string& msg) {
        INFO("session id '" << sid << "'");
        expect_reject(coord, start_env(sid, "sid-" + std::to_string(++n), payload), code, msg);
    };
    auto accept = [&](const std::string& sid) {
        INFO("session id '" << sid << "'");
        auto ack = expect_ok(coord, start_env(sid, "sid-" + std::to_string(++n), payload));
        CHECK(ack.session_id() == sid);
        CHECK(ack.session_state() == macp::v1::SESSION_STATE_OPEN);
    };

    // SID-1: an empty id never reaches the id check: the shape check (ENV-5) rejects it first.
    reject("", "INVALID_ENVELOPE", "InvalidEnvelope");

    // SID-2/3: UUID-shaped ids must be canonical lower-case v4/v7.
    std::string upper = new_session_id();
    for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    reject(upper, "INVALID_SESSION_ID", "InvalidSessionId");
    reject("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "INVALID_SESSION_ID", "InvalidSessionId");  // v1
    reject("00000000-0000-0000-0000-000000000000", "INVALID_SESSION_ID", "InvalidSessionId");  // nil
    reject("6ba7b810-9dad-31d1-80b4-00c04fd430c8", "INVALID_SESSION_ID", "InvalidSessionId");  // v3
    reject("6ba7b810-9dad-51d1-80b4-00c04fd430c8", "INVALID_SESSION_ID", "InvalidSessionId");  // v5
    accept(new_session_id());                                                                  // v4
    accept("017f22e2-79b0-7cc3-98c4-dc0c0c07398f");                                            // v7
    accept("6ba7b810-9dad-41d1-00b4-00c04fd430c8");  // SID-3: variant bits are not checked

    // SID-4: base64url tokens of at least 22 characters.
    reject(std::string(21, 'a'), "INVALID_SESSION_ID", "InvalidSessionId");
    accept(std::string(22, 'b'));
    accept("Ab0_-cdefghijklmnopqrstu");
    accept("0123456789abcdef0123456789abcdef");  // 32 hex digits, a UUID without dashes
    // 0.6 SID-2: a 36-char token containing '-' that does not parse as a UUID uses the token rule.
    const std::string token36 = "Zx-abcdefghijklmnopqrstuvwxyz_012345";
    REQUIRE(token36.size() == 36);
    accept(token36);
    reject("abcdefghijklmnopqrstuv.w", "INVALID_SESSION_ID", "InvalidSessionId");
    reject("abcdefghijklmnopqrstuv w", "INVALID_SESSION_ID", "InvalidSessionId");
    reject("abcdefghijklmnopqrstuv/w", "INVALID_SESSION_ID", "InvalidSessionId");
    reject("abcdefghijklmnopqrstuvé", "INVALID_SESSION_ID", "InvalidSessionId");

    // SID-5: non-SessionStart messages are not format-checked: SESSION_NOT_FOUND.
    expect_reject(coord, envelope("Contribute", "bad id!", kMultiRound, "x1", contribute_json("x")),
                  "SESSION_NOT_FOUND", "UnknownSession");
}

TEST_CASE("SS-1..3, SS-5, SS-6, SS-9: SessionStart payload rejections", "[integration][envelope][session_start]") {
    TempDir dir;
    ServerProcess server(roomy_env(), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coordinator");
    int n = 0;
    auto reject = [&](const std::string& what, const std::string& payload, const std::string& code,
                      const std::string& msg) {
        INFO(what);
        expect_reject(coord, start_env(new_session_id(), "ss-" + std::to_string(++n), payload), code, msg);
    };
    auto accept = [&](const std::string& what, const std::string& payload) {
        INFO(what);
        auto ack = expect_ok(coord, start_env(new_session_id(), "ss-" + std::to_string(++n), payload));
        CHECK(ack.session_state() == macp::v1::SESSION_STATE_OPEN);
    };
    using P = macp::v1::SessionStartPayload;

    // SS-2
    reject("empty payload", "", "INVALID_ENVELOPE", "InvalidPayload");
    reject("garbage payload", kGarbage, "INVALID_ENVELOPE", "InvalidPayload");
    // SS-3 / SS-6 / TTL-6
    reject("ttl 0", session_start_payload({"alice"}, 0), "INVALID_ENVELOPE", "InvalidTtl");
    reject("ttl -1", session_start_payload({"alice"}, -1), "INVALID_ENVELOPE", "InvalidTtl");
    reject("ttl 86400001", session_start_payload({"alice"}, 86'400'001), "INVALID_ENVELOPE", "InvalidTtl");
    accept("ttl 86400000", session_start_payload({"alice"}, 86'400'000));
    accept("ttl 1", session_start_payload({"alice"}, 1));
    reject("blank mode_version", session_start_payload({"alice"}, 60'000, "  "), "INVALID_ENVELOPE", "InvalidPayload");
    reject("empty mode_version", session_start_payload({"alice"}, 60'000, ""), "INVALID_ENVELOPE", "InvalidPayload");
    reject("blank configuration_version", session_start_payload({"alice"}, 60'000, "1.0.0", " "), "INVALID_ENVELOPE",
           "InvalidPayload");
    reject("no participants", session_start_payload({}), "INVALID_ENVELOPE", "InvalidPayload");
    reject("blank participant", session_start_payload({"alice", "  "}), "INVALID_ENVELOPE", "InvalidPayload");
    reject("duplicate participants after trim", session_start_payload({"alice", " alice\t"}), "INVALID_ENVELOPE",
           "InvalidPayload");
    reject("exact duplicate participants", session_start_payload({"bob", "bob"}), "INVALID_ENVELOPE", "InvalidPayload");
    std::vector<std::string> many;
    for (int i = 0; i < 1001; ++i) many.push_back("p" + std::to_string(i));
    reject("1001 participants", session_start_payload(many), "INVALID_ENVELOPE", "InvalidPayload");
    many.pop_back();
    accept("1000 participants", session_start_payload(many));
    reject("negative max_suspend_ms", start_payload_with({"alice"}, [](P& p) { p.set_max_suspend_ms(-1); }),
           "INVALID_ENVELOPE", "InvalidPayload");
    accept("max_suspend_ms 0", start_payload_with({"alice"}, [](P& p) { p.set_max_suspend_ms(0); }));
    // SS-5: the payload mode_version must equal the descriptor's (1.0.0 for built-ins).
    reject("mode_version 2.0.0", session_start_payload({"alice"}, 60'000, "2.0.0"), "INVALID_ENVELOPE",
           "InvalidEnvelope");
    // SS-1: unknown mode; SS-9: unknown policy.
    expect_reject(
        coord,
        envelope("SessionStart", new_session_id(), "ext.nonexistent.v1", "ss-mode", session_start_payload({"alice"})),
        "MODE_NOT_SUPPORTED", "UnknownMode");
    reject("unknown policy", session_start_payload({"alice"}, 60'000, "1.0.0", "cfg-1", "policy.nope"),
           "UNKNOWN_POLICY_VERSION", "UnknownPolicyVersion");
    accept("explicit policy.default", session_start_payload({"alice"}, 60'000, "1.0.0", "cfg-1", "policy.default"));

    // SS-1 order: the id format is checked before the payload.
    expect_reject(coord, start_env("short", "ss-order", ""), "INVALID_SESSION_ID", "InvalidSessionId");
    // ... and the mode before the payload.
    expect_reject(coord, envelope("SessionStart", new_session_id(), "ext.nonexistent.v1", "ss-order2", ""),
                  "MODE_NOT_SUPPORTED", "UnknownMode");
}

TEST_CASE("MSG-1, MSG-2, MSG-3, MSG-6, DEDUP-1: in-session message rejections", "[integration][envelope][message]") {
    TempDir dir;
    ServerProcess server(roomy_env(), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coordinator");
    Client alice(server.address(), "alice");
    Client mallory(server.address(), "mallory");
    const auto sid = new_session_id();
    REQUIRE(coord.send(start_env(sid, "s0", session_start_payload({"alice", "bob"}))).ok());

    // MSG-1 (and SID-5: unknown ids of any shape)
    expect_reject(alice, envelope("Contribute", new_session_id(), kMultiRound, "u1", contribute_json("x")),
                  "SESSION_NOT_FOUND", "UnknownSession");
    // MSG-2: the envelope mode must equal the session's.
    expect_reject(alice, envelope("Contribute", sid, "macp.mode.decision.v1", "m1", contribute_json("x")),
                  "INVALID_ENVELOPE", "InvalidEnvelope");
    expect_reject(alice, envelope("Contribute", sid, "ext.multi_round.v2", "m1", contribute_json("x")),
                  "INVALID_ENVELOPE", "InvalidEnvelope");
    // MSG-3: unknown message type (MODE-MR-1) and a non-participant Contribute (MODE-MR-4).
    expect_reject(alice, envelope("Vote", sid, kMultiRound, "m2", contribute_json("x")), "INVALID_ENVELOPE",
                  "InvalidPayload");
    expect_reject(mallory, envelope("Contribute", sid, kMultiRound, "m3", contribute_json("x")), "FORBIDDEN",
                  "Forbidden");
    // ENV-13: runtime-internal type names are just unknown types to the mode.
    expect_reject(alice, envelope("SessionCancel", sid, kMultiRound, "m4"), "INVALID_ENVELOPE", "InvalidPayload");

    // MSG-6: every rejected id above can still be accepted.
    for (const char* id : {"m1", "m2", "m3", "m4"}) {
        INFO("message id " << id);
        auto ack = expect_ok(alice, envelope("Contribute", sid, kMultiRound, id, contribute_json(id)));
        CHECK_FALSE(ack.duplicate());
        CHECK(ack.session_state() == macp::v1::SESSION_STATE_OPEN);
        CHECK(ack.session_id() == sid);
        CHECK(ack.message_id() == id);
    }
    // Once accepted, the same id is a duplicate (DEDUP-2), even from a sender who would be FORBIDDEN.
    auto dup = mallory.send(envelope("Contribute", sid, kMultiRound, "m3", contribute_json("x")));
    CHECK(dup.ok());
    CHECK(dup.duplicate());

    // DEDUP-1: the same message id in two sessions is accepted in both.
    const auto sid2 = new_session_id();
    auto a = expect_ok(coord, start_env(sid2, "s0", session_start_payload({"alice"})));
    CHECK_FALSE(a.duplicate());
    auto b = expect_ok(alice, envelope("Contribute", sid2, kMultiRound, "m1", contribute_json("y")));
    CHECK_FALSE(b.duplicate());

    macp::v1::SessionMetadata md;
    REQUIRE(alice.get_session(sid, &md).ok());
    REQUIRE(md.participant_activity_size() == 1);
    CHECK(md.participant_activity(0).message_count() == 4);  // only accepted messages counted
}

TEST_CASE("SIG-1..3, RPC-SEND-6: Signal and Progress", "[integration][envelope][signal]") {
    TempDir dir;
    ServerProcess server(roomy_env(), dir.path() / "data");
    REQUIRE(server.start());
    Client alice(server.address(), "alice");

    // SIG-1: empty payload accepted; RPC-SEND-6: state OPEN, empty session id.
    auto ack = expect_ok(alice, envelope("Signal", "", "", "g1"));
    CHECK(ack.session_state() == macp::v1::SESSION_STATE_OPEN);
    CHECK(ack.session_id().empty());
    CHECK(ack.message_id() == "g1");
    CHECK_FALSE(ack.duplicate());
    // SIG-1: a decodable payload with a signal_type.
    expect_ok(alice, envelope("Signal", "", "", "g2", signal_payload("heartbeat")));
    // DEDUP-5: signals are never deduplicated.
    auto again = expect_ok(alice, envelope("Signal", "", "", "g2", signal_payload("heartbeat")));
    CHECK_FALSE(again.duplicate());
    // SIG-1: undecodable payload, blank signal_type → INVALID_ENVELOPE (Display InvalidPayload).
    expect_reject(alice, envelope("Signal", "", "", "g3", kGarbage), "INVALID_ENVELOPE", "InvalidPayload");
    expect_reject(alice, envelope("Signal", "", "", "g4", signal_payload("   ")), "INVALID_ENVELOPE", "InvalidPayload");
    expect_reject(alice, envelope("Signal", "", "", "g5", signal_payload("")), "INVALID_ENVELOPE", "InvalidPayload");

    // SIG-2: Progress payloads must decode; empty is fine.
    macp::v1::ProgressPayload pp;
    pp.set_progress_token("t");
    pp.set_progress(1);
    pp.set_total(2);
    expect_ok(alice, envelope("Progress", "", "", "p1", pp.SerializeAsString()));
    expect_ok(alice, envelope("Progress", "", "", "p2"));
    expect_reject(alice, envelope("Progress", "", "", "p3", kGarbage), "INVALID_ENVELOPE", "InvalidPayload");

    // SIG-3: Progress with a session_id (even of an unknown session, with or without mode) is accepted
    // without looking the session up; the ack echoes the envelope's session id.
    const auto unknown = new_session_id();
    auto p4 = expect_ok(alice, envelope("Progress", unknown, kMultiRound, "p4", pp.SerializeAsString()));
    CHECK(p4.session_state() == macp::v1::SESSION_STATE_OPEN);
    CHECK(p4.session_id() == unknown);
    auto p5 = expect_ok(alice, envelope("Progress", unknown, "", "p5"));
    CHECK(p5.session_id() == unknown);
}

TEST_CASE("RATE-1, RATE-2: per-sender session-start and message limits", "[integration][envelope][rate]") {
    TempDir dir;
    ServerProcess server(
        dev_env({{"MACP_SESSION_START_LIMIT_PER_MINUTE", "2"}, {"MACP_MESSAGE_LIMIT_PER_MINUTE", "3"}}),
        dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coordinator");
    Client coord2(server.address(), "coordinator2");
    Client alice(server.address(), "alice");
    Client bob(server.address(), "bob");

    const auto sid = new_session_id();
    expect_ok(coord, start_env(sid, "s1", session_start_payload({"alice", "bob"})));
    expect_ok(coord, start_env(new_session_id(), "s2", session_start_payload({"alice", "bob"})));
    expect_reject(coord, start_env(new_session_id(), "s3", session_start_payload({"alice", "bob"})), "RATE_LIMITED",
                  "RateLimited");
    // Per-sender isolation: another sender still has its own start budget.
    expect_ok(coord2, start_env(new_session_id(), "s4", session_start_payload({"alice"})));
    // Independent buckets: the start-limited sender may still send messages (a Signal).
    expect_ok(coord, envelope("Signal", "", "", "g1"));

    expect_ok(alice, envelope("Contribute", sid, kMultiRound, "a1", contribute_json("x")));
    expect_ok(alice, envelope("Contribute", sid, kMultiRound, "a2", contribute_json("y")));
    expect_ok(alice, envelope("Signal", "", "", "a3"));  // Signals share the message bucket
    expect_reject(alice, envelope("Contribute", sid, kMultiRound, "a4", contribute_json("z")), "RATE_LIMITED",
                  "RateLimited");
    // ENV-11 / Q-41: the limit applies before dedup, so even a re-send of an accepted id is limited.
    expect_reject(alice, envelope("Contribute", sid, kMultiRound, "a1", contribute_json("x")), "RATE_LIMITED",
                  "RateLimited");
    expect_ok(bob, envelope("Contribute", sid, kMultiRound, "b1", contribute_json("q")));
}

TEST_CASE("TTL-1, TTL-3, TTL-7, MSG-2: lazy expiry on Send", "[integration][envelope][ttl]") {
    TempDir dir;
    ServerProcess server(roomy_env(), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coordinator");
    Client alice(server.address(), "alice");
    const auto sid = new_session_id();
    // The deadline is server-clock based (our difference to SS-10): a client timestamp far in the
    // future must not extend it.
    auto start = start_env(sid, "s0", session_start_payload({"alice", "bob"}, 300));
    start.set_timestamp_unix_ms(start.timestamp_unix_ms() + 3'600'000);
    REQUIRE(coord.send(start).ok());
    macp::v1::SessionMetadata md;
    REQUIRE(coord.get_session(sid, &md).ok());
    CHECK(md.expires_at_unix_ms() - md.started_at_unix_ms() == 300);

    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    expect_reject(alice, envelope("Contribute", sid, kMultiRound, "m1", contribute_json("x")), "SESSION_NOT_OPEN",
                  "TtlExpired");
    expect_reject(alice, envelope("Contribute", sid, kMultiRound, "m2", contribute_json("x")), "SESSION_NOT_OPEN",
                  "SessionNotOpen");
    expect_reject(alice, envelope("Contribute", sid, kMultiRound, "m1", contribute_json("x")), "SESSION_NOT_OPEN",
                  "SessionNotOpen");
    REQUIRE(coord.get_session(sid, &md).ok());
    CHECK(md.state() == macp::v1::SESSION_STATE_EXPIRED);
    // DEDUP-2: the accepted SessionStart id is still a duplicate after expiry.
    auto dup = alice.send(envelope("Contribute", sid, kMultiRound, "s0", contribute_json("x")));
    CHECK(dup.ok());
    CHECK(dup.duplicate());
    CHECK(dup.session_state() == macp::v1::SESSION_STATE_EXPIRED);
}

TEST_CASE("TTL-5, BG-1: the background sweeper expires overdue sessions without any Send",
          "[integration][envelope][ttl]") {
    TempDir dir;
    ServerProcess server(roomy_env({{"MACP_CLEANUP_INTERVAL_SECS", "1"}}), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coordinator");
    const auto sid = new_session_id();
    const auto long_lived = new_session_id();
    REQUIRE(coord.send(start_env(sid, "s0", session_start_payload({"alice"}, 300))).ok());
    REQUIRE(coord.send(start_env(long_lived, "s0", session_start_payload({"alice"}, 60'000))).ok());
    CHECK(state_in_list(coord, sid) == macp::v1::SESSION_STATE_OPEN);
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    // ListSessions applies no lazy expiry (RPC-LS-1), so EXPIRED here was set by the sweeper.
    CHECK(state_in_list(coord, sid) == macp::v1::SESSION_STATE_EXPIRED);
    CHECK(state_in_list(coord, long_lived) == macp::v1::SESSION_STATE_OPEN);
    macp::v1::SessionMetadata md;
    REQUIRE(coord.get_session(sid, &md).ok());
    CHECK(md.state() == macp::v1::SESSION_STATE_EXPIRED);
}
