// Static bearer-token authentication and identity authorization over gRPC
// (BEHAVIOR.md §7.1, §7.2, §7.4, §7.5; RPC-GET-2/3, RPC-GEN-6, ENV-8..10, SS-8).
#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include "harness.hpp"

using namespace macp::test;
using macp::v1::Ack;
using macp::v1::Envelope;

namespace {

const char* kTokens = R"([
  {"token": "tok-coord", "sender": "agent://coord"},
  {"token": "tok-alice", "sender": "agent://alice"},
  {"token": "tok-bob", "sender": "agent://bob"},
  {"token": "tok-worker", "sender": "agent://worker", "can_start_sessions": false},
  {"token": "tok-decider", "sender": "agent://decider", "allowed_modes": ["macp.mode.decision.v1"]},
  {"token": "tok-limited", "sender": "agent://limited", "max_open_sessions": 1},
  {"token": "tok-observer", "sender": "agent://observer", "is_observer": true, "can_start_sessions": false},
  {"token": "tok-outsider", "sender": "agent://outsider", "comment": "unknown fields are ignored"}
])";

// MACP_ALLOW_INSECURE=1 only allows plaintext here: with tokens configured dev-mode stays off.
std::map<std::string, std::string> static_env() {
    return {{"MACP_ALLOW_INSECURE", "1"}, {"MACP_AUTH_TOKENS_JSON", kTokens}};
}

Envelope start_env(const std::string& sid, const std::string& msg_id, const std::vector<std::string>& participants) {
    return envelope("SessionStart", sid, kMultiRound, msg_id, session_start_payload(participants));
}

void expect_error(const Ack& ack, const std::string& code, const std::string& message) {
    CHECK_FALSE(ack.ok());
    CHECK(ack.error().code() == code);
    CHECK(ack.error().message() == message);
    CHECK(ack.session_state() == macp::v1::SESSION_STATE_UNSPECIFIED);
}

void expect_ok(const Ack& ack) {
    INFO("code='" << ack.error().code() << "' message='" << ack.error().message() << "'");
    CHECK(ack.ok());
    CHECK_FALSE(ack.has_error());
}

}  // namespace

TEST_CASE("AUTH-HDR-1..4, AUTH-STATIC-1..4, AUTH-CHAIN-2, ENV-8/9: static tokens from MACP_AUTH_TOKENS_JSON",
          "[integration][auth]") {
    TempDir dir;
    ServerProcess server(static_env(), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "tok-coord");
    const auto sid = new_session_id();
    auto start = start_env(sid, "s0", {"agent://alice", "agent://worker"});
    expect_ok(coord.send(start));

    {
        INFO("AUTH-STATIC-3: the identity is the configured sender, not the token");
        macp::v1::SessionMetadata md;
        REQUIRE(coord.get_session(sid, &md).ok());
        CHECK(md.initiator() == "agent://coord");
        // ENV-9 with static identities: the sender must match the identity's sender, not the token.
        auto spoof = start_env(new_session_id(), "s1", {"agent://alice"});
        spoof.set_sender("tok-coord");
        expect_error(coord.send(spoof), "UNAUTHENTICATED", "Unauthenticated");
        auto named = start_env(new_session_id(), "s2", {"agent://alice"});
        named.set_sender("agent://coord");
        expect_ok(coord.send(named));
    }
    {
        INFO("AUTH-HDR-2: x-macp-token works without an authorization header");
        Client alice(server.address());
        alice.set_header("x-macp-token", "tok-alice");
        expect_ok(alice.send(envelope("Contribute", sid, kMultiRound, "a1", contribute_json("x"))));
        macp::v1::SessionMetadata md;
        REQUIRE(alice.get_session(sid, &md).ok());
        REQUIRE(md.participant_activity_size() == 1);
        CHECK(md.participant_activity(0).participant_id() == "agent://alice");
        // A non-Bearer authorization scheme is not a bearer token, so x-macp-token is used.
        Client basic(server.address());
        basic.set_header("authorization", "Basic dG9rLWJvYg==");
        basic.set_header("x-macp-token", "tok-alice");
        REQUIRE(basic.get_session(sid, &md).ok());
    }
    {
        INFO("AUTH-HDR-3: authorization wins over x-macp-token");
        Client both(server.address(), "tok-bob");
        both.set_header("x-macp-token", "tok-alice");
        const auto sid2 = new_session_id();
        expect_ok(both.send(start_env(sid2, "b0", {"agent://alice"})));
        macp::v1::SessionMetadata md;
        // coord is neither initiator nor participant of sid2.
        CHECK(coord.get_session(sid2, &md).error_code() == grpc::StatusCode::PERMISSION_DENIED);
        Client bob(server.address(), "tok-bob");
        REQUIRE(bob.get_session(sid2, &md).ok());
        CHECK(md.initiator() == "agent://bob");
        // An unknown bearer is not rescued by a valid x-macp-token.
        Client bad_bearer(server.address(), "tok-nobody");
        bad_bearer.set_header("x-macp-token", "tok-alice");
        expect_error(bad_bearer.send(envelope("Contribute", sid, kMultiRound, "a2", contribute_json("x"))),
                     "UNAUTHENTICATED", "Unauthenticated");
    }
    {
        INFO("AUTH-STATIC-4 / RPC-GEN-6: unknown token → UNAUTHENTICATED ack and status");
        Client unknown(server.address(), "tok-nobody");
        expect_error(unknown.send(envelope("Contribute", sid, kMultiRound, "u1", contribute_json("x"))),
                     "UNAUTHENTICATED", "Unauthenticated");
        macp::v1::SessionMetadata md;
        auto st = unknown.get_session(sid, &md);
        CHECK(st.error_code() == grpc::StatusCode::UNAUTHENTICATED);
        CHECK(st.error_message() == "Unauthenticated");
        macp::v1::Ack ack;
        st = unknown.cancel(sid, "x", &ack);
        CHECK(st.error_code() == grpc::StatusCode::UNAUTHENTICATED);
        CHECK(st.error_message() == "Unauthenticated");
    }
    {
        INFO("ENV-8: no token → UNAUTHENTICATED");
        Client anon(server.address());
        expect_error(anon.send(envelope("Contribute", sid, kMultiRound, "n1", contribute_json("x"))), "UNAUTHENTICATED",
                     "Unauthenticated");
        macp::v1::SessionMetadata md;
        auto st = anon.get_session(sid, &md);
        CHECK(st.error_code() == grpc::StatusCode::UNAUTHENTICATED);
        CHECK(st.error_message() == "Unauthenticated");
    }
    {
        INFO("AUTH-HDR-4: x-macp-agent-id alone → UNAUTHENTICATED");
        Client agent(server.address());
        agent.set_header("x-macp-agent-id", "agent://alice");
        expect_error(agent.send(envelope("Contribute", sid, kMultiRound, "h1", contribute_json("x"))),
                     "UNAUTHENTICATED", "Unauthenticated");
        macp::v1::SessionMetadata md;
        CHECK(agent.get_session(sid, &md).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    }
    {
        INFO("AUTH-HDR-1: the prefix must be exactly 'Bearer '");
        Client lower(server.address());
        lower.set_header("authorization", "bearer tok-alice");
        expect_error(lower.send(envelope("Contribute", sid, kMultiRound, "l1", contribute_json("x"))),
                     "UNAUTHENTICATED", "Unauthenticated");
    }
    {
        INFO("AUTH-CHAIN-2: a JWT-shaped token in a static-only deployment → UNAUTHENTICATED");
        Client jwtish(server.address(), "aaa.bbb.ccc");
        expect_error(jwtish.send(envelope("Contribute", sid, kMultiRound, "j1", contribute_json("x"))),
                     "UNAUTHENTICATED", "Unauthenticated");
    }
    {
        INFO("AUTH-DEV-1 (0.6) / AUTH-DEV-5: tokens configured → no dev-mode, even with MACP_ALLOW_INSECURE=1");
        Client dev(server.address(), "agent://alice");  // a dev-mode bearer would become this sender
        expect_error(dev.send(envelope("Contribute", sid, kMultiRound, "d1", contribute_json("x"))), "UNAUTHENTICATED",
                     "Unauthenticated");
        Client dev2(server.address(), "anything-at-all");
        expect_error(dev2.send(start_env(new_session_id(), "d2", {"agent://alice"})), "UNAUTHENTICATED",
                     "Unauthenticated");
        CHECK(server.log().find("dev-mode") == std::string::npos);
    }
}

TEST_CASE("AUTH-Z-1..3, AUTH-Z-5, ENV-10, SS-8, RPC-GET-2/3: identity authorization flags", "[integration][auth]") {
    TempDir dir;
    ServerProcess server(static_env(), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "tok-coord");
    Client worker(server.address(), "tok-worker");
    Client decider(server.address(), "tok-decider");
    Client limited(server.address(), "tok-limited");
    Client observer(server.address(), "tok-observer");
    Client outsider(server.address(), "tok-outsider");
    const auto sid = new_session_id();
    expect_ok(coord.send(start_env(sid, "s0", {"agent://worker", "agent://alice"})));

    {
        INFO("AUTH-Z-1: can_start_sessions=false forbids SessionStart but not messages");
        expect_error(worker.send(start_env(new_session_id(), "w0", {"agent://worker"})), "FORBIDDEN", "Forbidden");
        expect_ok(worker.send(envelope("Contribute", sid, kMultiRound, "w1", contribute_json("x"))));
        expect_ok(worker.send(envelope("Signal", "", "", "w2")));
    }
    {
        INFO("AUTH-Z-2 / ENV-10 / Q-9: allowed_modes without multi_round → FORBIDDEN, Signals too");
        expect_error(decider.send(start_env(new_session_id(), "x0", {"agent://decider"})), "FORBIDDEN", "Forbidden");
        expect_error(decider.send(envelope("Contribute", sid, kMultiRound, "x1", contribute_json("x"))), "FORBIDDEN",
                     "Forbidden");
        expect_error(decider.send(envelope("Signal", "", "", "x2")), "FORBIDDEN", "Forbidden");
    }
    {
        INFO("AUTH-Z-3 / SS-8: max_open_sessions=1");
        const auto first = new_session_id();
        expect_ok(limited.send(start_env(first, "l0", {"agent://alice"})));
        const auto second = new_session_id();
        expect_error(limited.send(start_env(second, "l1", {"agent://alice"})), "RATE_LIMITED", "RateLimited");
        macp::v1::Ack ack;
        REQUIRE(limited.cancel(first, "make room", &ack).ok());
        CHECK(ack.ok());
        CHECK(ack.session_state() == macp::v1::SESSION_STATE_CANCELLED);
        expect_ok(limited.send(start_env(second, "l1", {"agent://alice"})));
        // SS-8: SUSPENDED sessions do not count as open.
        REQUIRE(limited.suspend(second, "pause", &ack).ok());
        CHECK(ack.session_state() == macp::v1::SESSION_STATE_SUSPENDED);
        const auto third = new_session_id();
        expect_ok(limited.send(start_env(third, "l2", {"agent://alice"})));
        expect_error(limited.send(start_env(new_session_id(), "l3", {"agent://alice"})), "RATE_LIMITED", "RateLimited");
        // Issue #15: resuming takes a slot too, so suspend, start, resume cannot open two.
        REQUIRE(limited.resume(second, "back", &ack).ok());
        CHECK_FALSE(ack.ok());
        CHECK(ack.error().code() == "RATE_LIMITED");
        REQUIRE(limited.cancel(third, "make room", &ack).ok());
        REQUIRE(limited.resume(second, "back", &ack).ok());
        CHECK(ack.ok());
        CHECK(ack.session_state() == macp::v1::SESSION_STATE_OPEN);
        // Other senders are not affected by this identity's limit.
        expect_ok(coord.send(start_env(new_session_id(), "c9", {"agent://alice"})));
    }
    {
        INFO("AUTH-Z-5 / RPC-GET-3: observers may read any session; other outsiders may not");
        macp::v1::SessionMetadata md;
        auto st = observer.get_session(sid, &md);
        REQUIRE(st.ok());
        CHECK(md.session_id() == sid);
        CHECK(md.initiator() == "agent://coord");
        st = outsider.get_session(sid, &md);
        CHECK(st.error_code() == grpc::StatusCode::PERMISSION_DENIED);
        CHECK(st.error_message() == "FORBIDDEN: session access denied");
        // Participants and the initiator may read.
        Client alice(server.address(), "tok-alice");
        CHECK(alice.get_session(sid, &md).ok());
        CHECK(worker.get_session(sid, &md).ok());
        // RPC-GET-2: existence is checked before permission.
        const auto unknown = new_session_id();
        st = outsider.get_session(unknown, &md);
        CHECK(st.error_code() == grpc::StatusCode::NOT_FOUND);
        CHECK(st.error_message() == "Session '" + unknown + "' not found");
        // The observer flag grants nothing else: no Send into a foreign session, no cancel.
        expect_error(observer.send(envelope("Contribute", sid, kMultiRound, "o1", contribute_json("x"))), "FORBIDDEN",
                     "Forbidden");
        macp::v1::Ack ack;
        st = observer.cancel(sid, "no", &ack);
        CHECK(st.error_code() == grpc::StatusCode::PERMISSION_DENIED);
        CHECK(st.error_message() == "FORBIDDEN: only the session initiator or policy-delegated roles can cancel");
    }
}

TEST_CASE("AUTH-STATIC-1/2: MACP_AUTH_TOKENS_FILE with the {\"tokens\":[...]} shape", "[integration][auth]") {
    TempDir dir;
    const auto file = dir.path() / "tokens.json";
    {
        std::ofstream out(file);
        out << R"({"tokens": [
            {"token": "file-coord", "sender": "agent://file-coord"},
            {"token": "file-alice", "sender": "agent://file-alice"}
        ], "other": 1})";
    }
    ServerProcess server({{"MACP_ALLOW_INSECURE", "1"}, {"MACP_AUTH_TOKENS_FILE", file.string()}}, dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "file-coord");
    Client alice(server.address(), "file-alice");
    const auto sid = new_session_id();
    expect_ok(coord.send(start_env(sid, "s0", {"agent://file-alice"})));
    expect_ok(alice.send(envelope("Contribute", sid, kMultiRound, "a1", contribute_json("x"))));
    macp::v1::SessionMetadata md;
    REQUIRE(alice.get_session(sid, &md).ok());
    CHECK(md.initiator() == "agent://file-coord");
    Client unknown(server.address(), "tok-coord");
    expect_error(unknown.send(envelope("Contribute", sid, kMultiRound, "u1", contribute_json("x"))), "UNAUTHENTICATED",
                 "Unauthenticated");
    CHECK(unknown.get_session(sid, &md).error_code() == grpc::StatusCode::UNAUTHENTICATED);
}

TEST_CASE("AUTH-STATIC-1: MACP_AUTH_TOKENS_JSON takes precedence over MACP_AUTH_TOKENS_FILE", "[integration][auth]") {
    TempDir dir;
    const auto file = dir.path() / "tokens.json";
    {
        std::ofstream out(file);
        out << R"({"tokens": [{"token": "file-only", "sender": "agent://file"}]})";
    }
    ServerProcess server({{"MACP_ALLOW_INSECURE", "1"},
                          {"MACP_AUTH_TOKENS_FILE", file.string()},
                          {"MACP_AUTH_TOKENS_JSON", R"([{"token": "json-only", "sender": "agent://json"}])"}},
                         dir.path() / "data");
    REQUIRE(server.start());
    Client json(server.address(), "json-only");
    Client from_file(server.address(), "file-only");
    expect_ok(json.send(start_env(new_session_id(), "s0", {"agent://json"})));
    expect_error(from_file.send(start_env(new_session_id(), "s1", {"agent://file"})), "UNAUTHENTICATED",
                 "Unauthenticated");
}
