// Quorum mode (BEHAVIOR.md §4.6 MODE-QUO-*, §5 POL-SCH-7, POL-SCH-8, POL-SCH-9, POL-EVAL-1,
// POL-QUO-1/2 with the DELTA-0.6 changes and the Q-47 rounding decision) and the quorum
// conformance fixtures.
#include <catch2/catch.hpp>

#include <filesystem>
#include <limits>

#include <rapidjson/document.h>

#include "macp/modes/quorum/v1/quorum.pb.h"
#include "macp/v1/core.pb.h"
#include "modes/quorum.hpp"
#include "policy/quorum_evaluator.hpp"
#include "util/json.hpp"

#include "mode_test_support.hpp"

using macp::kernel::Session;
using macp::kernel::SessionState;
using macp::modes::MessageContext;
using macp::modes::QuorumMode;
using macp::policy::PolicyDefinition;
using macp::protocol::ErrorKind;
namespace pb = macp::modes::quorum::v1;

namespace {

const std::string kCoord = "agent://coordinator";
const std::string kAlice = "agent://alice";
const std::string kBob = "agent://bob";
const std::string kCarol = "agent://carol";
const std::string kOutsider = "agent://outsider";

const QuorumMode& mode() {
    static const QuorumMode m(mode_test::standard_descriptor("macp.mode.quorum.v1"));
    return m;
}

PolicyDefinition policy_with(const std::string& rules, uint32_t schema_version = 1) {
    return PolicyDefinition{"q.test", "macp.mode.quorum.v1", "test policy", rules, schema_version};
}

Session make_session(std::vector<std::string> participants = {kAlice, kBob, kCarol},
                     std::optional<PolicyDefinition> policy = macp::policy::default_policy()) {
    auto s = mode_test::base_session("macp.mode.quorum.v1", std::move(participants), kCoord);
    s.policy_version = policy ? policy->policy_id : "";
    s.policy = policy;  // BoundPolicy shares a copy
    return s;
}

// Runs authorize + apply like the kernel (MODE-GEN-3) and commits accepted outcomes.
struct Harness {
    Session s;
    explicit Harness(Session session) : s(std::move(session)) {
        auto st = mode().on_session_start(s.view());
        REQUIRE(st.ok());
        s.mode_state = macp::modes::ModeStateBox(std::move(st.value()));
    }
    std::optional<macp::protocol::Error> send(const std::string& sender, const std::string& type,
                                              const std::string& payload) {
        if (s.state != SessionState::Open) return macp::protocol::Error(ErrorKind::SessionNotOpen);
        auto o = mode_test::step(mode(), s, sender, type, payload, 1000);
        if (!o) return o.error();
        return std::nullopt;
    }
    rapidjson::Document state() const {
        rapidjson::Document d;
        REQUIRE(macp::util::parse_json_stored(s.mode_state.encode(), d));
        return d;
    }
};

std::string request(uint32_t required, const std::string& id = "r1") {
    pb::ApprovalRequestPayload p;
    p.set_request_id(id);
    p.set_action("deploy");
    p.set_summary("Deploy v2");
    p.set_required_approvals(required);
    return p.SerializeAsString();
}
std::string approve(const std::string& id = "r1") {
    pb::ApprovePayload p;
    p.set_request_id(id);
    p.set_reason("lgtm");
    return p.SerializeAsString();
}
std::string reject(const std::string& id = "r1") {
    pb::RejectPayload p;
    p.set_request_id(id);
    p.set_reason("not ready");
    return p.SerializeAsString();
}
std::string abstain(const std::string& id = "r1") {
    pb::AbstainPayload p;
    p.set_request_id(id);
    p.set_reason("no opinion");
    return p.SerializeAsString();
}
std::string commitment(bool positive, const std::string& policy_version = "") {
    macp::v1::CommitmentPayload c;
    c.set_commitment_id("c1");
    c.set_action(positive ? "quorum.approved" : "quorum.rejected");
    c.set_authority_scope("test");
    c.set_reason("done");
    c.set_mode_version("1.0.0");
    c.set_configuration_version("cfg-1");
    c.set_policy_version(policy_version);
    c.set_outcome_positive(positive);
    return c.SerializeAsString();
}

ErrorKind kind(const std::optional<macp::protocol::Error>& e) {
    REQUIRE(e.has_value());
    return e->kind;
}

}  // namespace

TEST_CASE("MODE-QUO-1: SessionStart needs a participant; initial state", "[quorum]") {
    auto r = mode().on_session_start(make_session({}).view());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::InvalidPayload);
    auto ok = mode().on_session_start(make_session({kAlice}).view());  // the initiator need not be a participant
    REQUIRE(ok.ok());
    CHECK(ok.value()->encode() == R"({"request":null,"ballots":{}})");
    CHECK(mode().strict());
    CHECK(mode().standards_track());
    CHECK(mode().descriptor().mode == "macp.mode.quorum.v1");
}

TEST_CASE("MODE-QUO-2: authorization", "[quorum]") {
    SECTION("ApprovalRequest only from the initiator, before payload validation") {
        Harness h(make_session({kCoord, kAlice}));
        CHECK(kind(h.send(kAlice, "ApprovalRequest", request(1))) == ErrorKind::Forbidden);
        CHECK(kind(h.send(kAlice, "ApprovalRequest", "\xff")) == ErrorKind::Forbidden);
        CHECK(kind(h.send(kOutsider, "ApprovalRequest", request(1))) == ErrorKind::Forbidden);
        CHECK_FALSE(h.send(kCoord, "ApprovalRequest", request(1)));
    }
    SECTION("ballots only from declared participants; an initiator outside the list cannot vote") {
        Harness h(make_session());
        REQUIRE_FALSE(h.send(kCoord, "ApprovalRequest", request(2)));
        CHECK(kind(h.send(kCoord, "Approve", approve())) == ErrorKind::Forbidden);
        CHECK(kind(h.send(kOutsider, "Reject", reject())) == ErrorKind::Forbidden);
        CHECK(kind(h.send(kOutsider, "Abstain", "\xff")) == ErrorKind::Forbidden);
        CHECK(kind(h.send(kOutsider, "Bogus", "")) == ErrorKind::Forbidden);
        CHECK(kind(h.send(kAlice, "Bogus", "")) == ErrorKind::InvalidPayload);  // unknown type from a participant
    }
    SECTION("Commitment per commitment authority") {
        Harness h(make_session());
        REQUIRE_FALSE(h.send(kCoord, "ApprovalRequest", request(1)));
        REQUIRE_FALSE(h.send(kAlice, "Approve", approve()));
        CHECK(kind(h.send(kAlice, "Commitment", commitment(true))) == ErrorKind::Forbidden);  // POL-AUTH-3
        CHECK(kind(h.send(kAlice, "Commitment", "garbage")) == ErrorKind::Forbidden);
        CHECK_FALSE(h.send(kCoord, "Commitment", commitment(true)));

        Harness any(make_session({kAlice, kBob}, policy_with(R"({"commitment":{"authority":"any_participant"}})")));
        REQUIRE_FALSE(any.send(kCoord, "ApprovalRequest", request(1)));
        REQUIRE_FALSE(any.send(kAlice, "Approve", approve()));
        CHECK(kind(any.send(kOutsider, "Commitment", commitment(true))) == ErrorKind::Forbidden);
        CHECK_FALSE(any.send(kBob, "Commitment", commitment(true)));  // POL-AUTH-1

        Harness role(make_session(
            {kAlice, kBob},
            policy_with(R"({"commitment":{"authority":"designated_role","designated_roles":["agent://bob"]}})")));
        REQUIRE_FALSE(role.send(kCoord, "ApprovalRequest", request(1)));
        REQUIRE_FALSE(role.send(kAlice, "Approve", approve()));
        CHECK(kind(role.send(kCoord, "Commitment", commitment(true))) == ErrorKind::Forbidden);  // POL-AUTH-2
        CHECK_FALSE(role.send(kBob, "Commitment", commitment(true)));

        Harness none(make_session({kAlice, kBob}, std::nullopt));
        REQUIRE_FALSE(none.send(kCoord, "ApprovalRequest", request(1)));
        REQUIRE_FALSE(none.send(kAlice, "Approve", approve()));
        CHECK(kind(none.send(kAlice, "Commitment", commitment(true))) == ErrorKind::Forbidden);
        CHECK_FALSE(none.send(kCoord, "Commitment", commitment(true)));
    }
}

TEST_CASE("MODE-QUO-3: ApprovalRequest", "[quorum]") {
    Harness h(make_session());
    CHECK(kind(h.send(kCoord, "ApprovalRequest", "\xff")) == ErrorKind::InvalidPayload);  // MODE-GEN-4
    CHECK(kind(h.send(kCoord, "ApprovalRequest", request(2, ""))) == ErrorKind::InvalidPayload);
    CHECK(kind(h.send(kCoord, "ApprovalRequest", request(0))) == ErrorKind::InvalidPayload);
    CHECK(kind(h.send(kCoord, "ApprovalRequest", request(4))) == ErrorKind::InvalidPayload);  // > participants
    pb::ApprovalRequestPayload p;
    p.set_request_id("r1");
    p.set_action("deploy");
    p.set_summary("Deploy v2");
    p.set_details(std::string("\x00\x7f", 2));
    p.set_required_approvals(3);  // = participant count
    REQUIRE_FALSE(h.send(kCoord, "ApprovalRequest", p.SerializeAsString()));
    CHECK(h.s.mode_state.encode() ==
          R"({"request":{"request_id":"r1","action":"deploy","summary":"Deploy v2","details":[0,127],)"
          R"("required_approvals":3,"requested_by":"agent://coordinator"},"ballots":{}})");
    CHECK(kind(h.send(kCoord, "ApprovalRequest", request(1, "r2"))) == ErrorKind::InvalidPayload);  // one per session
}

TEST_CASE("MODE-QUO-4: ballots", "[quorum]") {
    Harness h(make_session());
    CHECK(kind(h.send(kAlice, "Approve", approve())) == ErrorKind::InvalidPayload);  // no request yet
    CHECK(kind(h.send(kAlice, "Abstain", abstain())) == ErrorKind::InvalidPayload);
    REQUIRE_FALSE(h.send(kCoord, "ApprovalRequest", request(3)));
    CHECK(kind(h.send(kAlice, "Approve", "\xff")) == ErrorKind::InvalidPayload);
    CHECK(kind(h.send(kAlice, "Approve", approve("r2"))) == ErrorKind::InvalidPayload);  // wrong request_id
    CHECK(kind(h.send(kAlice, "Reject", reject(""))) == ErrorKind::InvalidPayload);
    REQUIRE_FALSE(h.send(kAlice, "Approve", approve()));
    REQUIRE_FALSE(h.send(kBob, "Reject", reject()));
    REQUIRE_FALSE(h.send(kCarol, "Abstain", abstain()));
    // One ballot per sender across the three kinds.
    for (auto* who : {&kAlice, &kBob, &kCarol}) {
        CHECK(kind(h.send(*who, "Approve", approve())) == ErrorKind::InvalidPayload);
        CHECK(kind(h.send(*who, "Reject", reject())) == ErrorKind::InvalidPayload);
        CHECK(kind(h.send(*who, "Abstain", abstain())) == ErrorKind::InvalidPayload);
    }
    CHECK(h.s.mode_state.encode() ==
          R"({"request":{"request_id":"r1","action":"deploy","summary":"Deploy v2","details":[],)"
          R"("required_approvals":3,"requested_by":"agent://coordinator"},"ballots":{)"
          R"("agent://alice":{"request_id":"r1","choice":"Approve","sender":"agent://alice","reason":"lgtm"},)"
          R"("agent://bob":{"request_id":"r1","choice":"Reject","sender":"agent://bob","reason":"not ready"},)"
          R"("agent://carol":{"request_id":"r1","choice":"Abstain","sender":"agent://carol","reason":"no opinion"}}})");
    CHECK(h.s.state == SessionState::Open);  // MODE-GEN-5: ballots never resolve
}

TEST_CASE("MODE-QUO-6/7: commitment eligibility and resolution", "[quorum]") {
    SECTION("no request: never eligible") {
        Harness h(make_session());
        CHECK(kind(h.send(kCoord, "Commitment", commitment(false))) == ErrorKind::InvalidPayload);
    }
    SECTION("threshold reached") {
        Harness h(make_session());
        REQUIRE_FALSE(h.send(kCoord, "ApprovalRequest", request(2)));
        REQUIRE_FALSE(h.send(kAlice, "Approve", approve()));
        CHECK(kind(h.send(kCoord, "Commitment", commitment(true))) == ErrorKind::InvalidPayload);
        REQUIRE_FALSE(h.send(kBob, "Approve", approve()));
        auto before = h.s.mode_state.encode();
        auto c = commitment(true, "policy.default");
        REQUIRE_FALSE(h.send(kCoord, "Commitment", c));
        CHECK(h.s.state == SessionState::Resolved);
        CHECK(*h.s.resolution == c);               // LIFE-4
        CHECK(h.s.mode_state.encode() == before);  // no phase field; state unchanged
    }
    SECTION("threshold unreachable: rejects and abstentions both remove a potential approver") {
        Harness h(make_session());
        REQUIRE_FALSE(h.send(kCoord, "ApprovalRequest", request(2)));
        REQUIRE_FALSE(h.send(kAlice, "Reject", reject()));
        CHECK(kind(h.send(kCoord, "Commitment", commitment(false))) == ErrorKind::InvalidPayload);
        REQUIRE_FALSE(h.send(kBob, "Abstain", abstain()));
        CHECK_FALSE(h.send(kCoord, "Commitment", commitment(false)));
    }
    SECTION("all abstain: eligible for a negative commitment") {
        Harness h(make_session());
        REQUIRE_FALSE(h.send(kCoord, "ApprovalRequest", request(1)));
        REQUIRE_FALSE(h.send(kAlice, "Abstain", abstain()));
        REQUIRE_FALSE(h.send(kBob, "Abstain", abstain()));
        CHECK(kind(h.send(kCoord, "Commitment", commitment(false))) == ErrorKind::InvalidPayload);
        REQUIRE_FALSE(h.send(kCarol, "Abstain", abstain()));
        CHECK_FALSE(h.send(kCoord, "Commitment", commitment(false)));
    }
    SECTION("shared validation runs before eligibility; the action is not checked against the state") {
        Harness h(make_session());
        REQUIRE_FALSE(h.send(kCoord, "ApprovalRequest", request(2)));
        CHECK(kind(h.send(kCoord, "Commitment", "\xff")) == ErrorKind::InvalidPayload);
        macp::v1::CommitmentPayload c;
        REQUIRE(c.ParseFromString(commitment(true)));
        c.set_configuration_version("cfg-2");
        CHECK(kind(h.send(kCoord, "Commitment", c.SerializeAsString())) == ErrorKind::InvalidPayload);
        c.set_configuration_version("cfg-1");
        c.set_outcome_positive(false);  // "quorum.approved" needs true (MODE-CMT-6)
        CHECK(kind(h.send(kCoord, "Commitment", c.SerializeAsString())) == ErrorKind::InvalidPayload);
        REQUIRE_FALSE(h.send(kAlice, "Reject", reject()));
        REQUIRE_FALSE(h.send(kBob, "Reject", reject()));
        // MODE-CMT-8 / Q-32: a positive commitment when approval became impossible, default policy.
        CHECK_FALSE(h.send(kCoord, "Commitment", commitment(true)));
    }
    SECTION("corrupt state is InvalidModeState; empty state reads as the initial state") {
        auto bad = mode().decode_state(R"({"request":7,"ballots":{}})");
        REQUIRE_FALSE(bad.ok());
        CHECK(bad.error().kind == ErrorKind::InvalidModeState);
        Session s = make_session();
        const auto ctx_view = s.view();
        MessageContext ctx{ctx_view, kCoord, "ApprovalRequest", request(1), 1};
        auto r = mode().apply(ctx);  // a session holding no quorum state
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::InvalidModeState);
        auto initial = mode().decode_state("");
        REQUIRE(initial.ok());
        CHECK(initial.value()->encode() == R"({"request":null,"ballots":{}})");
        s.mode_state = macp::modes::ModeStateBox(std::move(initial.value()));
        const auto ctx2_view = s.view();
        MessageContext ctx2{ctx2_view, kCoord, "ApprovalRequest", request(1), 1};
        CHECK(mode().apply(ctx2).ok());
    }
}

// Issue #8 cases 1 and 4: whatever was accepted must encode and read back, however large. Control
// characters escape to six bytes each, so a few 1 MiB payloads take the state past the 16 MiB cap
// on untrusted JSON, which the decoder used to apply ("does not decode").
TEST_CASE("A large accepted state encodes and decodes back identically", "[quorum]") {
    const std::string blob(std::size_t{1} << 20, '\x01');
    Harness h(make_session());
    pb::ApprovalRequestPayload p;
    p.set_request_id("r1");
    p.set_action(blob);
    p.set_summary(blob);
    p.set_details(blob);
    p.set_required_approvals(2);
    REQUIRE_FALSE(h.send(kCoord, "ApprovalRequest", p.SerializeAsString()));
    pb::ApprovePayload a;
    a.set_request_id("r1");
    a.set_reason(blob);
    REQUIRE_FALSE(h.send(kAlice, "Approve", a.SerializeAsString()));
    pb::RejectPayload r;
    r.set_request_id("r1");
    r.set_reason(blob);
    REQUIRE_FALSE(h.send(kBob, "Reject", r.SerializeAsString()));
    const std::string bytes = h.s.mode_state.encode();
    REQUIRE(bytes.size() > macp::util::kMaxJsonBytes);

    auto back = mode().decode_state(bytes);
    REQUIRE(back.ok());
    CHECK(back.value()->encode() == bytes);

    // The decoded state carries the session on.
    Session s = make_session();
    s.mode_state = macp::modes::ModeStateBox(std::move(back.value()));
    REQUIRE(mode_test::step(mode(), s, kCarol, "Approve", approve(), 1000).ok());
    CHECK(mode_test::step(mode(), s, kCoord, "Commitment", commitment(true), 1000).ok());
    CHECK(s.state == SessionState::Resolved);
    auto d = mode_test::state_json(s);
    CHECK(d["request"]["action"].GetStringLength() == blob.size());
    CHECK(d["request"]["details"].Size() == blob.size());
    CHECK(d["ballots"]["agent://bob"]["reason"].GetStringLength() == blob.size());
}

TEST_CASE("MODE-QUO-5: a policy threshold replaces required_approvals", "[quorum][policy]") {
    SECTION("n_of_m value 1 overrides required_approvals 3") {
        Harness h(make_session({kAlice, kBob, kCarol}, policy_with(R"({"threshold":{"type":"n_of_m","value":1}})")));
        REQUIRE_FALSE(h.send(kCoord, "ApprovalRequest", request(3)));
        REQUIRE_FALSE(h.send(kAlice, "Approve", approve()));
        CHECK_FALSE(h.send(kCoord, "Commitment", commitment(true)));
    }
    SECTION("percentage: ceil(value/100 x participants) on the 0-100 scale (POL-SCH-9)") {
        Harness h(make_session({kAlice, kBob, kCarol, "agent://d", "agent://e"},
                               policy_with(R"({"threshold":{"type":"percentage","value":60}})")));
        REQUIRE_FALSE(h.send(kCoord, "ApprovalRequest", request(1)));
        REQUIRE_FALSE(h.send(kAlice, "Approve", approve()));
        REQUIRE_FALSE(h.send(kBob, "Approve", approve()));
        CHECK(kind(h.send(kCoord, "Commitment", commitment(true))) == ErrorKind::InvalidPayload);  // 2 of 3
        REQUIRE_FALSE(h.send(kCarol, "Approve", approve()));
        CHECK_FALSE(h.send(kCoord, "Commitment", commitment(true)));
    }
    SECTION("Q-47 (deliberate difference): a fractional count is rounded up for readiness too") {
        Harness h(make_session({kAlice, kBob, kCarol, "agent://d"},
                               policy_with(R"({"threshold":{"type":"n_of_m","value":2.5}})")));
        REQUIRE_FALSE(h.send(kCoord, "ApprovalRequest", request(1)));
        REQUIRE_FALSE(h.send(kAlice, "Approve", approve()));
        REQUIRE_FALSE(h.send(kBob, "Approve", approve()));
        // The reference would be commit-ready here (truncation to 2) and then deny the positive
        // commitment (ceil 3); we require 3 in both layers.
        CHECK(kind(h.send(kCoord, "Commitment", commitment(true))) == ErrorKind::InvalidPayload);
        REQUIRE_FALSE(h.send(kCarol, "Approve", approve()));
        CHECK_FALSE(h.send(kCoord, "Commitment", commitment(true)));
    }
    SECTION("value 0 (default policy) keeps required_approvals") {
        Harness h(make_session({kAlice, kBob, kCarol}, policy_with(R"({"threshold":{"type":"n_of_m","value":0}})")));
        REQUIRE_FALSE(h.send(kCoord, "ApprovalRequest", request(2)));
        REQUIRE_FALSE(h.send(kAlice, "Approve", approve()));
        CHECK(kind(h.send(kCoord, "Commitment", commitment(true))) == ErrorKind::InvalidPayload);
        REQUIRE_FALSE(h.send(kBob, "Approve", approve()));
        CHECK_FALSE(h.send(kCoord, "Commitment", commitment(true)));
    }
    SECTION("rules that fail to parse fall back to required_approvals for readiness (POL-SCH-8 mode-side)") {
        PolicyDefinition star{"q.star", "*", "", R"({"threshold":3})", 1};
        Harness h(make_session({kAlice, kBob, kCarol}, star));
        REQUIRE_FALSE(h.send(kCoord, "ApprovalRequest", request(1)));
        REQUIRE_FALSE(h.send(kAlice, "Approve", approve()));
        // Ready under required_approvals=1, but the evaluator denies (0.6 POL-SCH-8).
        auto e = h.send(kCoord, "Commitment", commitment(false));
        REQUIRE(kind(e) == ErrorKind::PolicyDenied);
        CHECK(e->reasons ==
              std::vector<std::string>{"policy 'q.star' rules failed to parse at evaluation time: invalid type: "
                                       "integer `3`, expected struct QuorumThreshold"});
        CHECK(h.s.state == SessionState::Open);
    }
}

TEST_CASE("POL-QUO-1 (0.6): the threshold is an approval bar for positive commitments only", "[quorum][policy]") {
    SECTION("through the mode: unreachable threshold, positive denied, negative allowed") {
        Harness h(make_session({kAlice, kBob, kCarol}, policy_with(R"({"threshold":{"type":"n_of_m","value":3}})")));
        REQUIRE_FALSE(h.send(kCoord, "ApprovalRequest", request(1)));
        REQUIRE_FALSE(h.send(kAlice, "Approve", approve()));
        REQUIRE_FALSE(h.send(kBob, "Reject", reject()));  // 1 + 1 remaining < 3: ready
        auto before = h.s.mode_state.encode();
        auto e = h.send(kCoord, "Commitment", commitment(true));
        REQUIRE(kind(e) == ErrorKind::PolicyDenied);
        CHECK(e->code() == std::string("POLICY_DENIED"));
        CHECK(e->reasons ==
              std::vector<std::string>{"approval threshold not met: 1 of 3 required approvals (3 n_of_m)"});
        CHECK(h.s.state == SessionState::Open);  // POL-EVAL-2
        CHECK(h.s.mode_state.encode() == before);
        CHECK_FALSE(h.send(kCoord, "Commitment", commitment(false)));
        CHECK(h.s.state == SessionState::Resolved);
    }
    SECTION("a threshold above the participant count makes the session ready at once") {
        Harness h(make_session({kAlice, kBob}, policy_with(R"({"threshold":{"type":"count","value":5}})")));
        REQUIRE_FALSE(h.send(kCoord, "ApprovalRequest", request(1)));
        auto e = h.send(kCoord, "Commitment", commitment(true));
        REQUIRE(kind(e) == ErrorKind::PolicyDenied);
        CHECK(e->reasons ==
              std::vector<std::string>{"approval threshold not met: 0 of 5 required approvals (5 count)"});
        CHECK_FALSE(h.send(kCoord, "Commitment", commitment(false)));
    }
    SECTION("the evaluator directly") {
        using macp::policy::evaluate_quorum_commitment;
        using macp::policy::QuorumTally;
        std::vector<std::string> five = {"a", "b", "c", "d", "e"};
        auto n3 =
            policy_with(R"({"threshold":{"type":"n_of_m","value":3},"abstention":{"counts_toward_quorum":true}})");
        CHECK(evaluate_quorum_commitment(&n3, QuorumTally{2, 0, 1}, five, true) ==
              std::vector<std::string>{"approval threshold not met: 2 of 3 required approvals (3 n_of_m)"});
        CHECK(evaluate_quorum_commitment(&n3, QuorumTally{3, 1, 1}, five, true).empty());
        CHECK(evaluate_quorum_commitment(&n3, QuorumTally{0, 2, 3}, five, false).empty());  // decline never gated
        auto pct = policy_with(R"({"threshold":{"type":"percentage","value":60.0}})");
        CHECK(evaluate_quorum_commitment(&pct, QuorumTally{2, 0, 0}, five, true) ==
              std::vector<std::string>{"approval threshold not met: 2 of 3 required approvals (60 percentage)"});
        CHECK(evaluate_quorum_commitment(&pct, QuorumTally{3, 0, 0}, five, true).empty());
        CHECK(evaluate_quorum_commitment(&pct, QuorumTally{5, 0, 0}, {}, true) ==
              std::vector<std::string>{"approval threshold not met: 5 of 18446744073709551615 required approvals "
                                       "(60 percentage)"});  // 0 participants: unmet
        auto frac = policy_with(R"({"threshold":{"type":"n_of_m","value":2.5}})");
        CHECK(evaluate_quorum_commitment(&frac, QuorumTally{2, 0, 0}, five, true) ==
              std::vector<std::string>{"approval threshold not met: 2 of 3 required approvals (2.5 n_of_m)"});
        auto unknown = policy_with(R"({"threshold":{"type":"weighted","value":2}})");
        CHECK(evaluate_quorum_commitment(&unknown, QuorumTally{1, 0, 0}, five, true) ==
              std::vector<std::string>{"approval threshold not met: 1 of 2 required approvals (2 weighted)"});
        // The removed 0.4 participation quorum: abstentions never help a positive commitment, and the
        // "quorum not met" reason is gone.
        auto n2 =
            policy_with(R"({"threshold":{"type":"n_of_m","value":2},"abstention":{"counts_toward_quorum":true}})");
        CHECK(evaluate_quorum_commitment(&n2, QuorumTally{2, 1, 0}, five, true).empty());
        CHECK(evaluate_quorum_commitment(&n2, QuorumTally{1, 0, 4}, five, true) ==
              std::vector<std::string>{"approval threshold not met: 1 of 2 required approvals (2 n_of_m)"});
        // No threshold: nothing gates.
        CHECK(evaluate_quorum_commitment(&macp::policy::default_policy(), QuorumTally{0, 0, 0}, five, true).empty());
        CHECK(evaluate_quorum_commitment(nullptr, QuorumTally{0, 0, 0}, five, true).empty());
    }
}

TEST_CASE("POL-QUO-2: abstention.interpretation never gates", "[quorum][policy]") {
    using macp::policy::evaluate_quorum_commitment;
    using macp::policy::QuorumTally;
    std::vector<std::string> three = {"a", "b", "c"};
    for (auto interp : {"implicit_reject", "neutral", "ignored", "other"}) {
        auto p = policy_with(std::string(R"({"abstention":{"counts_toward_quorum":true,"interpretation":")") + interp +
                             R"("}})");
        CHECK(evaluate_quorum_commitment(&p, QuorumTally{2, 0, 1}, three, true).empty());
        CHECK(evaluate_quorum_commitment(&p, QuorumTally{0, 0, 3}, three, false).empty());
    }
    Harness h(
        make_session({kAlice, kBob, kCarol}, policy_with(R"({"abstention":{"interpretation":"implicit_reject"}})")));
    REQUIRE_FALSE(h.send(kCoord, "ApprovalRequest", request(1)));
    REQUIRE_FALSE(h.send(kAlice, "Abstain", abstain()));
    REQUIRE_FALSE(h.send(kBob, "Approve", approve()));
    CHECK_FALSE(h.send(kCoord, "Commitment", commitment(true)));
}

TEST_CASE("POL-EVAL-1 / POL-SCH-8: schema version and evaluation-time parse failures", "[quorum][policy]") {
    using macp::policy::evaluate_quorum_commitment;
    using macp::policy::QuorumTally;
    std::vector<std::string> three = {"a", "b", "c"};
    auto v2 = policy_with("{}", 2);
    CHECK(evaluate_quorum_commitment(&v2, QuorumTally{}, three, true).empty());
    auto v3 = policy_with(R"({"threshold":1})", 3);
    CHECK(evaluate_quorum_commitment(&v3, QuorumTally{}, three, false) ==
          std::vector<std::string>{"unsupported policy schema version: 3 (supported: [1, 2])"});
    auto bad = policy_with(R"({"threshold":{"value":"x"}})");
    CHECK(evaluate_quorum_commitment(&bad, QuorumTally{3, 0, 0}, three, false) ==
          std::vector<std::string>{
              R"(policy 'q.test' rules failed to parse at evaluation time: invalid type: string "x", expected f64)"});

    Harness h(make_session({kAlice}, policy_with("{}", 99)));
    REQUIRE_FALSE(h.send(kCoord, "ApprovalRequest", request(1)));
    REQUIRE_FALSE(h.send(kAlice, "Approve", approve()));
    auto e = h.send(kCoord, "Commitment", commitment(true));
    REQUIRE(kind(e) == ErrorKind::PolicyDenied);
    CHECK(e->reasons == std::vector<std::string>{"unsupported policy schema version: 99 (supported: [1, 2])"});
}

TEST_CASE("POL-SCH-7: quorum rule parsing", "[quorum][policy]") {
    using macp::policy::parse_quorum_rules;
    auto d = parse_quorum_rules("{}");
    REQUIRE(d.ok());
    CHECK(d.value().threshold_type == "n_of_m");
    CHECK(d.value().threshold_value == 0.0);
    CHECK_FALSE(d.value().abstention_counts_toward_quorum);
    CHECK(d.value().abstention_interpretation == "neutral");
    CHECK(parse_quorum_rules(macp::policy::default_policy().rules).ok());

    auto full = parse_quorum_rules(
        R"({"threshold":{"type":"percentage","value":66.5},"abstention":{"counts_toward_quorum":true,)"
        R"("interpretation":"implicit_reject"},"commitment":{"authority":"any_participant","designated_roles":[]}})");
    REQUIRE(full.ok());
    CHECK(full.value().threshold_type == "percentage");
    CHECK(full.value().threshold_value == 66.5);
    CHECK(full.value().abstention_counts_toward_quorum);
    CHECK(full.value().abstention_interpretation == "implicit_reject");

    // `threshold_type` is not the key (Q-18): it is ignored.
    auto alias = parse_quorum_rules(R"({"threshold":{"threshold_type":"percentage","value":2}})");
    REQUIRE(alias.ok());
    CHECK(alias.value().threshold_type == "n_of_m");

    auto e = [](const char* rules) {
        auto r = macp::policy::parse_quorum_rules(rules);
        REQUIRE_FALSE(r.ok());
        return r.error();
    };
    CHECK(e(R"({"threshold":{"value":"x"}})") == R"(invalid type: string "x", expected f64)");
    CHECK(e(R"({"threshold":{"type":3}})") == "invalid type: integer `3`, expected a string");
    CHECK(e(R"({"threshold":2.0})") == "invalid type: floating point `2.0`, expected struct QuorumThreshold");
    CHECK(e(R"({"abstention":{"counts_toward_quorum":"yes"}})") == R"(invalid type: string "yes", expected a boolean)");
    CHECK(e(R"({"commitment":{"authority":false}})") == "invalid type: boolean `false`, expected a string");
    CHECK(e(R"({"commitment":[]})") == "invalid type: sequence, expected struct CommitmentRules");
    CHECK(e("null") == "invalid type: null, expected struct QuorumPolicyRules");
    CHECK(e("{") == "rules are not valid JSON");

    using macp::policy::quorum_policy_required_approvals;
    macp::policy::QuorumPolicyRules r;
    CHECK_FALSE(quorum_policy_required_approvals(r, 3).has_value());
    r.threshold_value = 0.1;
    CHECK(quorum_policy_required_approvals(r, 3) == 1u);
    r.threshold_value = 2.0;
    CHECK(quorum_policy_required_approvals(r, 3) == 2u);
    r.threshold_type = "percentage";
    r.threshold_value = 50;
    CHECK(quorum_policy_required_approvals(r, 3) == 2u);
    CHECK(quorum_policy_required_approvals(r, 4) == 2u);
    CHECK(quorum_policy_required_approvals(r, 0) == std::numeric_limits<uint64_t>::max());
    r.threshold_value = 1e300;
    CHECK(quorum_policy_required_approvals(r, 3) == std::numeric_limits<uint64_t>::max());
}

TEST_CASE("Replay reproduces identical state bytes", "[quorum]") {
    std::vector<std::tuple<std::string, std::string, std::string>> msgs = {{kCoord, "ApprovalRequest", request(2)},
                                                                           {kAlice, "Approve", approve()},
                                                                           {kCarol, "Abstain", abstain()},
                                                                           {kBob, "Approve", approve()},
                                                                           {kCoord, "Commitment", commitment(true)}};
    std::vector<std::string> first;
    for (int run = 0; run < 2; ++run) {
        Harness h(make_session());
        std::vector<std::string> states;
        for (auto& [sender, type, payload] : msgs) {
            REQUIRE_FALSE(h.send(sender, type, payload));
            states.push_back(h.s.mode_state.encode());
        }
        if (run == 0) {
            first = states;
        } else {
            CHECK(states == first);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Conformance fixtures (/work/shared/conformance/{spec,runtime-0.6.1}/quorum_*.json)
// ---------------------------------------------------------------------------------------------

namespace {

using mode_test::bytes_member;
using mode_test::str_member;

std::string encode_fixture_payload(const std::string& type, const rapidjson::Value& p) {
    if (type == "Commitment") return mode_test::fixture_commitment(p);  // CONF-7
    if (type == "ApprovalRequest") {
        pb::ApprovalRequestPayload x;
        x.set_request_id(str_member(p, "request_id"));
        x.set_action(str_member(p, "action"));
        x.set_summary(str_member(p, "summary"));
        x.set_details(bytes_member(p, "details"));
        if (p.HasMember("required_approvals")) x.set_required_approvals(p["required_approvals"].GetUint());
        return x.SerializeAsString();
    }
    if (type == "Approve") {
        pb::ApprovePayload x;
        x.set_request_id(str_member(p, "request_id"));
        x.set_reason(str_member(p, "reason"));
        return x.SerializeAsString();
    }
    if (type == "Reject") {
        pb::RejectPayload x;
        x.set_request_id(str_member(p, "request_id"));
        x.set_reason(str_member(p, "reason"));
        return x.SerializeAsString();
    }
    if (type == "Abstain") {
        pb::AbstainPayload x;
        x.set_request_id(str_member(p, "request_id"));
        x.set_reason(str_member(p, "reason"));
        return x.SerializeAsString();
    }
    FAIL("unsupported fixture message type " << type);
    return {};
}

void run_fixture(const std::filesystem::path& path) {
    INFO("fixture " << path.string());
    rapidjson::Document f;
    mode_test::load_fixture(path, f);
    REQUIRE(std::string(f["mode"].GetString()) == "macp.mode.quorum.v1");

    Session s;
    s.session_id = "fixture";
    s.mode = f["mode"].GetString();
    for (const auto& p : f["participants"].GetArray()) s.participants.emplace_back(p.GetString());
    s.initiator = f["initiator"].GetString();
    s.mode_version = f["mode_version"].GetString();
    s.configuration_version = f["configuration_version"].GetString();
    if (f.HasMember("policy")) {  // CONF-4
        const auto& p = f["policy"];
        s.policy = mode_test::fixture_policy(p, 1);
        s.policy_version = s.policy->policy_id;
    } else {
        std::string pv = str_member(f, "policy_version");  // POL-BIND-1: empty binds policy.default
        REQUIRE((pv.empty() || pv == macp::policy::kDefaultPolicyId));
        s.policy = macp::policy::default_policy();
        s.policy_version = macp::policy::kDefaultPolicyId;
    }
    Harness h(s);
    Harness replay(s);
    int i = 0;
    for (const auto& m : f["messages"].GetArray()) {
        ++i;
        std::string type = m["message_type"].GetString();
        std::string sender = m["sender"].GetString();
        INFO("message " << i << " " << type << " from " << sender);
        auto payload = encode_fixture_payload(type, m["payload"]);
        auto err = h.send(sender, type, payload);
        if (std::string(m["expect"].GetString()) == "accept") {
            CHECK_FALSE(err.has_value());
            if (!err) REQUIRE_FALSE(replay.send(sender, type, payload));
        } else {
            REQUIRE(err.has_value());
            if (m.HasMember("expected_error_code"))
                CHECK(std::string(err->code()) == m["expected_error_code"].GetString());
        }
    }
    CHECK(macp::kernel::state_name(h.s.state) == std::string(f["expected_final_state"].GetString()));
    if (f.HasMember("expect_resolution_present")) {
        CHECK(h.s.resolution.has_value() == f["expect_resolution_present"].GetBool());
    }
    mode_test::check_expected_resolution(f, h.s.resolution);  // CONF-14
    REQUIRE_FALSE(f.HasMember("expected_mode_state"));        // quorum fixtures do not constrain it
    // CONF-16: replaying the accepted messages reproduces the same bytes.
    CHECK(replay.s.mode_state.encode() == h.s.mode_state.encode());
    CHECK(replay.s.resolution == h.s.resolution);
    CHECK(replay.s.state == h.s.state);
}

}  // namespace

TEST_CASE("Conformance fixtures: quorum", "[quorum][conformance]") {
    if (!std::filesystem::exists(mode_test::kConformanceRoot)) {
        WARN("conformance fixtures not found at " << mode_test::kConformanceRoot << "; skipping");
        return;
    }
    int count = 0;
    for (const auto& path : mode_test::conformance_fixtures("quorum_")) {
        run_fixture(path);
        ++count;
    }
    CHECK(count >= 5);  // spec: happy + reject paths; runtime-0.6.1: + negative outcome
}
