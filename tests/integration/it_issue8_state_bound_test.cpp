// Issue #8 case 4: "Three accepted Evaluations of ~1 MB of control characters each (within the
// payload limit) leave the decision session answering INVALID_ENVELOPE (InvalidModeState) to
// every further message, Commitment included."
//
// ERR-5 (InvalidModeState) must never come from a state the runtime itself accepted; what bounds
// a session's growth instead is MACP_MAX_SESSION_STATE_BYTES (ours, default 64 MiB, at least
// MACP_MAX_PAYLOAD_BYTES): a non-resolving message that would take the session's accepted payload
// bytes past it is refused with PAYLOAD_TOO_LARGE / "SessionStateTooLarge" (ERR-13's code) and
// leaves no trace (MSG-6); a resolving Commitment is never refused by it (MODE-DEC-9).
#include <catch2/catch.hpp>

#include <thread>

#include "issue8_support.hpp"

using namespace macp::test;
using namespace macp::test::issue8;

namespace {

constexpr size_t kReasonBytes = 1'000'000;  // ~1 MB, inside the default 1 MiB payload limit

std::map<std::string, std::string> env(std::map<std::string, std::string> extra = {}) {
    extra["MACP_ALLOW_INSECURE"] = "1";
    extra["MACP_MESSAGE_LIMIT_PER_MINUTE"] = "100000";
    return extra;
}

// SessionStart, a Proposal and `evaluations` ~1 MB control-character Evaluations.
void fill(BigClient& coord, BigClient& alice, BigClient& bob, const std::string& sid, int evaluations) {
    expect_ok(coord.send(envelope("SessionStart", sid, kDecision, "s", decision_start({"alice", "bob"}))),
              "SessionStart");
    expect_ok(alice.send(envelope("Proposal", sid, kDecision, "p1", proposal("p1"))), "Proposal");
    for (int i = 1; i <= evaluations; ++i) {
        BigClient& who = i % 2 == 1 ? bob : alice;
        auto e = envelope("Evaluation", sid, kDecision, "e" + std::to_string(i),
                          evaluation("p1", control_chars(kReasonBytes), i == 2 ? "REVIEW" : "APPROVE"));
        REQUIRE(e.payload().size() <= 1'048'576);
        expect_ok(who.send(e), "Evaluation " + std::to_string(i));
    }
}

}  // namespace

TEST_CASE("issue #8 case 4: three ~1 MB control-character Evaluations leave the session usable, also after a restart",
          "[integration][issue8]") {
    TempDir dir;
    const auto data = dir.path() / "data";
    const auto live = new_session_id();
    const auto restarted = new_session_id();
    {
        ServerProcess server(env(), data);  // default MACP_MAX_PAYLOAD_BYTES and state bound
        REQUIRE(server.start());
        BigClient coord(server.address(), "coord");
        BigClient alice(server.address(), "alice");
        BigClient bob(server.address(), "bob");
        fill(coord, alice, bob, live, 3);
        // The old runtime answered INVALID_ENVELOPE (InvalidModeState) to both of these.
        expect_ok(alice.send(envelope("Vote", live, kDecision, "v1", vote("p1"))), "Vote");
        auto c = coord.send(envelope("Commitment", live, kDecision, "c1", decision_commitment()));
        expect_ok(c, "Commitment");
        CHECK(c.session_state() == macp::v1::SESSION_STATE_RESOLVED);

        fill(coord, alice, bob, restarted, 3);
        server.kill9();
    }
    ServerProcess server(env(), data);
    REQUIRE(server.start());
    INFO(server.log());
    CHECK(server.log().find("recovered 2 sessions (0 skipped)") != std::string::npos);
    BigClient coord(server.address(), "coord");
    BigClient alice(server.address(), "alice");
    macp::v1::SessionMetadata md;
    REQUIRE(alice.get_session(live, &md).ok());
    CHECK(md.state() == macp::v1::SESSION_STATE_RESOLVED);
    CHECK(activity(md) == std::map<std::string, uint32_t>{{"alice", 3}, {"bob", 2}, {"coord", 1}});
    REQUIRE(alice.get_session(restarted, &md).ok());
    CHECK(md.state() == macp::v1::SESSION_STATE_OPEN);
    expect_ok(alice.send(envelope("Vote", restarted, kDecision, "v1", vote("p1"))), "Vote after restart");
    auto c = coord.send(envelope("Commitment", restarted, kDecision, "c1", decision_commitment()));
    expect_ok(c, "Commitment after restart");
    CHECK(c.session_state() == macp::v1::SESSION_STATE_RESOLVED);
}

TEST_CASE("issue #8 case 4: MACP_MAX_SESSION_STATE_BYTES refuses the message that would pass it, never a Commitment",
          "[integration][issue8]") {
    TempDir dir;
    const auto data = dir.path() / "data";
    const auto sid = new_session_id();
    ServerProcess server(env({{"MACP_MAX_SESSION_STATE_BYTES", "3000000"}, {"MACP_MAX_PAYLOAD_BYTES", "1048576"}}),
                         data);
    REQUIRE(server.start());
    BigClient coord(server.address(), "coord");
    BigClient alice(server.address(), "alice");
    BigClient bob(server.address(), "bob");
    fill(coord, alice, bob, sid, 2);  // ~2,000,000 accepted payload bytes

    // The third ~1 MB Evaluation would take the session past 3,000,000 bytes.
    auto third = envelope("Evaluation", sid, kDecision, "e3", evaluation("p1", control_chars(kReasonBytes)));
    auto refused = bob.send(third);
    INFO(describe(refused));
    CHECK_FALSE(refused.ok());
    CHECK(refused.error().code() == "PAYLOAD_TOO_LARGE");
    CHECK(refused.error().message() == "SessionStateTooLarge");             // ERR-22: the display name
    CHECK(refused.session_state() == macp::v1::SESSION_STATE_UNSPECIFIED);  // RPC-SEND-4
    // Refused again on a retry: the bound is about the session, not a transient condition.
    CHECK(bob.send(third).error().code() == "PAYLOAD_TOO_LARGE");
    // A small message still fits under the bound.
    expect_ok(alice.send(envelope("Objection", sid, kDecision, "o1",
                                  [] {
                                      macp::modes::decision::v1::ObjectionPayload o;
                                      o.set_proposal_id("p1");
                                      o.set_reason("small");
                                      o.set_severity("low");
                                      return o.SerializeAsString();
                                  }())),
              "a small Objection under the bound");

    // The Commitment resolves the session and is never refused by the bound.
    auto c = coord.send(envelope("Commitment", sid, kDecision, "c1", decision_commitment()));
    expect_ok(c, "Commitment");
    CHECK(c.session_state() == macp::v1::SESSION_STATE_RESOLVED);

    // Nothing of the refused message is in the history (MSG-6) or the activity counters.
    std::vector<std::string> ids;
    {
        Subscription sub(alice, sid, 0);
        REQUIRE(sub.subscribed);
        macp::v1::Envelope e;
        std::string error;
        for (int i = 0; i < 10; ++i) {  // bounded; the Commitment is the last envelope
            INFO("history so far: " << ids.size() << " envelopes");
            const bool got_one = sub.next(&e, &error);
            INFO(error);
            REQUIRE(got_one);
            ids.push_back(e.message_id());
            if (e.message_id() == "c1") break;
        }
    }
    CHECK(ids == std::vector<std::string>{"s", "p1", "e1", "e2", "o1", "c1"});
    macp::v1::SessionMetadata md;
    REQUIRE(alice.get_session(sid, &md).ok());
    CHECK(activity(md) == std::map<std::string, uint32_t>{{"alice", 3}, {"bob", 1}, {"coord", 1}});
    // The refused id was never consumed; after the resolution it is simply too late.
    CHECK(bob.send(third).error().code() == "SESSION_NOT_OPEN");
}

TEST_CASE("issue #8 case 4: MACP_MAX_SESSION_STATE_BYTES below MACP_MAX_PAYLOAD_BYTES refuses to start",
          "[integration][issue8][startup]") {
    TempDir dir;
    std::string out;
    const int rc = ServerProcess::run_to_exit(env({{"MACP_MAX_PAYLOAD_BYTES", "1048576"},
                                                   {"MACP_MAX_SESSION_STATE_BYTES", "1048575"},
                                                   {"MACP_BIND_ADDR", "127.0.0.1:" + std::to_string(free_port())},
                                                   {"MACP_DATA_DIR", (dir.path() / "data").string()}}),
                                              {}, out, std::chrono::seconds(10));
    INFO("exit " << rc << ", output:\n" << out);
    CHECK(rc != -1000);  // it exited rather than serving (-1000: still running after 10 s)
    CHECK(rc != 0);
    CHECK(out.find("MACP_MAX_SESSION_STATE_BYTES") != std::string::npos);
    // The same value is fine when the payload limit allows it.
    std::string ok_out;
    const int ok_rc = ServerProcess::run_to_exit(env({{"MACP_MAX_PAYLOAD_BYTES", "1048575"},
                                                      {"MACP_MAX_SESSION_STATE_BYTES", "1048575"},
                                                      {"MACP_DATA_DIR", (dir.path() / "data").string()}}),
                                                 {"--check-config"}, ok_out, std::chrono::seconds(10));
    INFO("--check-config: exit " << ok_rc << ", output:\n" << ok_out);
    CHECK(ok_rc == 0);
}
