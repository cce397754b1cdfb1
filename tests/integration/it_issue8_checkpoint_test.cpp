// Issue #8 case 2: "With MACP_CHECKPOINT_INTERVAL set, a session whose state grew large was
// skipped after restart ('record 8 is corrupt')."
//
// Interval checkpoints (STO-CKPT-4, STO-LOG-5) carry the whole session, mode state included; a
// checkpoint written for a state the runtime accepted must read back on recovery (STO-REC-3)
// however large that state has grown. Control characters make the JSON encoding of the decision
// state six times the payload bytes, so three 1.5 MB Evaluations give a state of ~27 MB.
#include <catch2/catch.hpp>

#include "issue8_support.hpp"

using namespace macp::test;
using namespace macp::test::issue8;

namespace {

constexpr int64_t kPayloadLimit = 4 * 1024 * 1024;
constexpr size_t kReasonBytes = 1'500'000;
constexpr int kEvaluations = 3;

std::map<std::string, std::string> env() {
    return {{"MACP_ALLOW_INSECURE", "1"},
            {"MACP_CHECKPOINT_INTERVAL", "2"},
            {"MACP_MAX_PAYLOAD_BYTES", std::to_string(kPayloadLimit)},
            {"MACP_MESSAGE_LIMIT_PER_MINUTE", "100000"}};
}

}  // namespace

TEST_CASE("issue #8 case 2: a session with checkpoints of a state past 16 MiB is recovered after a restart",
          "[integration][issue8]") {
    TempDir dir;
    const auto data = dir.path() / "data";
    const auto sid = new_session_id();
    {
        ServerProcess server(env(), data);
        REQUIRE(server.start());
        BigClient coord(server.address(), "coord");
        BigClient alice(server.address(), "alice");
        BigClient bob(server.address(), "bob");
        auto ack = coord.send(envelope("SessionStart", sid, kDecision, "s", decision_start({"alice", "bob"})));
        INFO(describe(ack));
        REQUIRE(ack.ok());
        ack = alice.send(envelope("Proposal", sid, kDecision, "p1", proposal("p1")));
        INFO(describe(ack));
        REQUIRE(ack.ok());
        for (int i = 1; i <= kEvaluations; ++i) {
            BigClient& who = i % 2 == 1 ? bob : alice;
            ack = who.send(envelope("Evaluation", sid, kDecision, "e" + std::to_string(i),
                                    evaluation("p1", control_chars(kReasonBytes))));
            INFO("Evaluation " << i << ": " << describe(ack));
            REQUIRE(ack.ok());  // the old runtime refused the next message once the state passed 16 MiB
        }
        server.kill9();
    }
    // Checkpoints were written (one every second log entry); the last one holds the large state.
    ServerProcess server(env(), data);
    // Recovery reads and decodes a log of several hundred MiB of checkpoints (about 4 s on an
    // idle 2-core machine): allow for a loaded one.
    const bool started = server.start(std::chrono::seconds(90));
    INFO(server.log());
    REQUIRE(started);
    CHECK(server.log().find("recovered 1 sessions (0 skipped)") != std::string::npos);
    BigClient coord(server.address(), "coord");
    BigClient alice(server.address(), "alice");
    BigClient bob(server.address(), "bob");

    macp::v1::SessionMetadata md;
    auto st = alice.get_session(sid, &md);
    INFO("GetSession after restart: " << st.error_code() << " " << st.error_message());
    REQUIRE(st.ok());
    CHECK(md.state() == macp::v1::SESSION_STATE_OPEN);
    CHECK(activity(md) == std::map<std::string, uint32_t>{{"alice", 2}, {"bob", 2}});

    // Further messages are accepted against the recovered state: one more (small) Evaluation,
    // which is followed by another checkpoint, then a Vote and the Commitment.
    auto e = bob.send(envelope("Evaluation", sid, kDecision, "e-after", evaluation("p1", "small")));
    INFO("Evaluation after restart: " << describe(e));
    CHECK(e.ok());
    auto v = alice.send(envelope("Vote", sid, kDecision, "v1", vote("p1")));
    INFO("Vote after restart: " << describe(v));
    REQUIRE(v.ok());
    auto c = coord.send(envelope("Commitment", sid, kDecision, "c1", decision_commitment()));
    INFO("Commitment after restart: " << describe(c));
    REQUIRE(c.ok());
    CHECK(c.session_state() == macp::v1::SESSION_STATE_RESOLVED);

    // And once more across a restart, now from the resolved session's records.
    server.kill9();
    ServerProcess again(env(), data);
    REQUIRE(again.start());
    BigClient alice2(again.address(), "alice");
    REQUIRE(alice2.get_session(sid, &md).ok());
    CHECK(md.state() == macp::v1::SESSION_STATE_RESOLVED);
    CHECK(activity(md) == std::map<std::string, uint32_t>{{"alice", 3}, {"bob", 3}, {"coord", 1}});
}
