// A full ext.multi_round.v1 session over gRPC, start to RESOLVED (MODE-MR-*, RPC-SEND-*, RPC-GET-*).
#include <catch2/catch.hpp>

#include "harness.hpp"
#include "macp/modes/multi_round/v1/multi_round.pb.h"

using namespace macp::test;

namespace {
std::map<std::string, std::string> dev_env() {
    return {{"MACP_ALLOW_INSECURE", "1"}};
}
}  // namespace

TEST_CASE("multi_round session runs from SessionStart to RESOLVED", "[integration][multi_round]") {
    TempDir dir;
    ServerProcess server(dev_env(), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coordinator");
    Client alice(server.address(), "alice");
    Client bob(server.address(), "bob");
    const auto sid = new_session_id();

    auto start = coord.send(envelope("SessionStart", sid, kMultiRound, "m0", session_start_payload({"alice", "bob"})));
    REQUIRE(start.ok());
    CHECK_FALSE(start.duplicate());
    CHECK(start.session_state() == macp::v1::SESSION_STATE_OPEN);
    CHECK(start.session_id() == sid);
    CHECK(start.message_id() == "m0");
    CHECK(start.accepted_at_unix_ms() > 0);

    REQUIRE(alice.send(envelope("Contribute", sid, kMultiRound, "m1", contribute_json("red"))).ok());
    REQUIRE(bob.send(envelope("Contribute", sid, kMultiRound, "m2", contribute_json("blue"))).ok());

    // Commitment before convergence is rejected (MODE-MR-7) and does not consume the id (MSG-6).
    auto early =
        coord.send(envelope("Commitment", sid, kMultiRound, "m3", commitment_payload("multi_round.converged", true)));
    CHECK_FALSE(early.ok());
    CHECK(early.error().code() == "INVALID_ENVELOPE");

    // A protobuf ContributePayload counts the same as JSON (MODE-MR-3, 0.6).
    macp::modes::multi_round::v1::ContributePayload pb;
    pb.set_value("red");
    REQUIRE(bob.send(envelope("Contribute", sid, kMultiRound, "m4", pb.SerializeAsString())).ok());

    // Converged: further Contributes are rejected (MODE-MR-6).
    auto late = alice.send(envelope("Contribute", sid, kMultiRound, "m5", contribute_json("green")));
    CHECK(late.error().code() == "INVALID_ENVELOPE");

    // Non-initiator commitment is FORBIDDEN (MODE-MR-4).
    auto forbidden =
        alice.send(envelope("Commitment", sid, kMultiRound, "m6", commitment_payload("multi_round.converged", true)));
    CHECK(forbidden.error().code() == "FORBIDDEN");

    auto commit =
        coord.send(envelope("Commitment", sid, kMultiRound, "m3", commitment_payload("multi_round.converged", true)));
    REQUIRE(commit.ok());
    CHECK(commit.session_state() == macp::v1::SESSION_STATE_RESOLVED);

    // Re-sending an accepted message after resolution is a duplicate, from anyone (DEDUP-2).
    auto dup = bob.send(envelope("Contribute", sid, kMultiRound, "m1", contribute_json("red")));
    CHECK(dup.ok());
    CHECK(dup.duplicate());
    CHECK(dup.session_state() == macp::v1::SESSION_STATE_RESOLVED);

    // Messages to a resolved session: SESSION_NOT_OPEN (LIFE-2).
    auto closed = bob.send(envelope("Contribute", sid, kMultiRound, "m9", contribute_json("red")));
    CHECK(closed.error().code() == "SESSION_NOT_OPEN");

    macp::v1::SessionMetadata md;
    REQUIRE(alice.get_session(sid, &md).ok());
    CHECK(md.state() == macp::v1::SESSION_STATE_RESOLVED);
    CHECK(md.mode() == kMultiRound);
    CHECK(md.initiator() == "coordinator");
    CHECK(md.mode_version() == "1.0.0");
    CHECK(md.configuration_version() == "cfg-1");
    CHECK(md.policy_version() == "policy.default");  // RPC-GET-6
    REQUIRE(md.participants_size() == 2);
    std::map<std::string, uint32_t> counts;
    for (const auto& a : md.participant_activity()) counts[a.participant_id()] = a.message_count();
    CHECK(counts["alice"] == 1);  // RPC-GET-7: only accepted messages count
    CHECK(counts["bob"] == 2);
    CHECK(counts["coordinator"] == 1);
    CHECK(md.expires_at_unix_ms() > md.started_at_unix_ms());
}

TEST_CASE("a duplicate SessionStart is ok+duplicate, a new message id is SESSION_ALREADY_EXISTS", "[integration]") {
    TempDir dir;
    ServerProcess server(dev_env(), dir.path() / "data");
    REQUIRE(server.start());
    Client coord(server.address(), "coordinator");
    const auto sid = new_session_id();
    auto payload = session_start_payload({"alice"});
    REQUIRE(coord.send(envelope("SessionStart", sid, kMultiRound, "s1", payload)).ok());
    auto again = coord.send(envelope("SessionStart", sid, kMultiRound, "s1", payload));
    CHECK(again.ok());
    CHECK(again.duplicate());  // SS-7
    auto other = coord.send(envelope("SessionStart", sid, kMultiRound, "s2", payload));
    CHECK_FALSE(other.ok());
    CHECK(other.error().code() == "SESSION_ALREADY_EXISTS");
}
