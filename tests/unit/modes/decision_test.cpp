// Decision mode (BEHAVIOR.md §4.2 MODE-DEC-*) and its policy evaluation (§5.5 POL-DEC-*,
// POL-SCH-1/2/3, POL-EVAL-1/2), plus the decision conformance fixtures when they are present.
#include "modes/decision.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <rapidjson/document.h>
#include <catch2/catch.hpp>

#include "macp/modes/decision/v1/decision.pb.h"
#include "macp/v1/core.pb.h"
#include "policy/decision_evaluator.hpp"
#include "util/json.hpp"

#include "mode_test_support.hpp"

namespace {

using macp::kernel::Session;
using macp::kernel::SessionState;
using macp::modes::DecisionMode;
using macp::modes::ModeResult;
using macp::modes::Outcome;
using macp::policy::DecisionPhase;
using macp::policy::DecisionRules;
using macp::policy::DecisionState;
using macp::policy::PolicyDefinition;
using macp::protocol::ErrorKind;
namespace pb = macp::modes::decision::v1;

constexpr const char* kMode = "macp.mode.decision.v1";
const std::string kInit = "agent://orchestrator";
const std::string kA = "agent://a";
const std::string kB = "agent://b";
const std::string kOutsider = "agent://outsider";

const DecisionMode& mode() {
    static const DecisionMode m(mode_test::standard_descriptor(kMode));
    return m;
}

PolicyDefinition make_policy(const std::string& rules, uint32_t schema_version = 1,
                             const std::string& id = "policy.test") {
    return PolicyDefinition{id, kMode, "test policy", rules, schema_version};
}

Session make_session(std::vector<std::string> participants = {kInit, kA, kB},
                     std::optional<PolicyDefinition> policy = macp::policy::default_policy()) {
    auto s = mode_test::base_session(kMode, std::move(participants), kInit);
    s.policy_version = policy ? policy->policy_id : "";
    s.policy = policy;  // BoundPolicy shares a copy
    return s;
}

Session started(std::vector<std::string> participants = {kInit, kA, kB},
                std::optional<PolicyDefinition> policy = macp::policy::default_policy()) {
    Session s = make_session(std::move(participants), std::move(policy));
    auto init = mode().on_session_start(s.view());
    REQUIRE(init.ok());
    s.mode_state = macp::modes::ModeStateBox(std::move(init.value()));
    return s;
}

// authorize() then apply() as the kernel does (MODE-GEN-3); an accepted message is committed.
ModeResult<Outcome> send(Session& s, const std::string& sender, const std::string& type, const std::string& payload,
                         int64_t now = 1000) {
    return mode_test::step(mode(), s, sender, type, payload, now);
}

std::string proposal(const std::string& id, const std::string& option = "deploy", const std::string& supporting = "") {
    pb::ProposalPayload p;
    p.set_proposal_id(id);
    p.set_option(option);
    p.set_rationale("because");
    p.set_supporting_data(supporting);
    return p.SerializeAsString();
}

std::string evaluation(const std::string& pid, const std::string& rec = "APPROVE", double confidence = 0.9) {
    pb::EvaluationPayload p;
    p.set_proposal_id(pid);
    p.set_recommendation(rec);
    p.set_confidence(confidence);
    p.set_reason("looked");
    return p.SerializeAsString();
}

std::string objection(const std::string& pid, const std::string& severity = "high") {
    pb::ObjectionPayload p;
    p.set_proposal_id(pid);
    p.set_reason("risky");
    p.set_severity(severity);
    return p.SerializeAsString();
}

std::string vote(const std::string& pid, const std::string& value) {
    pb::VotePayload p;
    p.set_proposal_id(pid);
    p.set_vote(value);
    p.set_reason("r");
    return p.SerializeAsString();
}

std::string commitment(bool positive = true, const std::string& policy_version = "",
                       std::optional<std::string> action = std::nullopt) {
    macp::v1::CommitmentPayload c;
    c.set_commitment_id("c1");
    c.set_action(action ? *action : (positive ? "decision.selected" : "decision.rejected"));
    c.set_authority_scope("test");
    c.set_reason("done");
    c.set_mode_version("1.0.0");
    c.set_policy_version(policy_version);
    c.set_configuration_version("cfg-1");
    c.set_outcome_positive(positive);
    return c.SerializeAsString();
}

DecisionState state_of(const Session& s) {
    const auto* st = s.mode_state.as<macp::modes::DecisionModeState>();
    REQUIRE(st != nullptr);
    return st->value;
}

ErrorKind kind_of(const ModeResult<Outcome>& r) {
    REQUIRE_FALSE(r.ok());
    return r.error().kind;
}

// --- Direct evaluator helpers ---

DecisionState votes_state(const std::vector<std::tuple<std::string, std::string, std::string>>& entries) {
    DecisionState st;
    st.phase = DecisionPhase::Voting;
    for (const auto& [pid, sender, v] : entries) {
        st.proposals[pid] = {pid, "opt", "", kInit};
        st.votes[pid][sender] = {pid, v, "", sender};
    }
    return st;
}

std::vector<std::string> eval(const std::string& rules, const DecisionState& st, bool positive = true,
                              std::vector<std::string> participants = {kInit, kA, kB}) {
    auto p = make_policy(rules);
    return macp::policy::evaluate_decision_commitment(&p, st, participants, positive);
}

}  // namespace

// =============================================================================================
// MODE-DEC-1, MODE-DEC-11: session start and the state shape

TEST_CASE("MODE-DEC-1: SessionStart needs a participant and yields the initial state", "[decision]") {
    Session empty = make_session({});
    auto r = mode().on_session_start(empty.view());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::InvalidPayload);
    CHECK(std::string(r.error().code()) == "INVALID_ENVELOPE");

    Session s = make_session({kA});  // the initiator need not be a participant
    auto init = mode().on_session_start(s.view());
    REQUIRE(init.ok());
    CHECK(init.value()->encode() ==
          R"({"proposals":{},"evaluations":[],"objections":[],"votes":{},"phase":"Proposal"})");
}

TEST_CASE("Mode flags and descriptor", "[decision]") {
    CHECK(mode().strict());
    CHECK(mode().standards_track());
    CHECK(mode().descriptor().mode == kMode);
    CHECK(mode().descriptor().mode_version == "1.0.0");
}

TEST_CASE("MODE-DEC-11: state JSON shape, field order and sorted maps", "[decision]") {
    Session s = started();
    REQUIRE(send(s, kInit, "Proposal", proposal("p2", "b", "blob")).ok());
    REQUIRE(send(s, kA, "Proposal", proposal("p1", "a")).ok());
    REQUIRE(send(s, kB, "Evaluation", evaluation("p1", "approve", 0.75)).ok());
    REQUIRE(send(s, kA, "Objection", objection("p2", "")).ok());
    REQUIRE(send(s, kB, "Vote", vote("p1", "approve")).ok());
    REQUIRE(send(s, kA, "Vote", vote("p1", "Reject")).ok());
    CHECK(s.mode_state.encode() ==
          R"({"proposals":{"p1":{"proposal_id":"p1","option":"a","rationale":"because","sender":"agent://a"},)"
          R"("p2":{"proposal_id":"p2","option":"b","rationale":"because","sender":"agent://orchestrator"}},)"
          R"("evaluations":[{"proposal_id":"p1","recommendation":"APPROVE","confidence":0.75,"reason":"looked",)"
          R"("sender":"agent://b"}],)"
          R"("objections":[{"proposal_id":"p2","reason":"risky","severity":"medium","sender":"agent://a"}],)"
          R"("votes":{"p1":{"agent://a":{"proposal_id":"p1","vote":"REJECT","reason":"r","sender":"agent://a"},)"
          R"("agent://b":{"proposal_id":"p1","vote":"APPROVE","reason":"r","sender":"agent://b"}}},)"
          R"("phase":"Voting"})");
}

TEST_CASE("MODE-GEN-2: state codec round-trips byte-identically (replay determinism)", "[decision]") {
    auto run = [] {
        Session s = started();
        REQUIRE(send(s, kInit, "Proposal", proposal("p1")).ok());
        REQUIRE(send(s, kA, "Evaluation", evaluation("p1", "APPROVE", 1.0 / 3.0)).ok());
        REQUIRE(send(s, kB, "Evaluation", evaluation("p1", "BLOCK", 0.1 + 0.2)).ok());
        REQUIRE(send(s, kB, "Evaluation", evaluation("p1", "REVIEW", 5e-324)).ok());
        REQUIRE(send(s, kA, "Objection", objection("p1", "Critical")).ok());
        REQUIRE(send(s, kA, "Vote", vote("p1", "ABSTAIN")).ok());
        return s.mode_state.encode();
    };
    auto first = run();
    CHECK(first == run());
    auto decoded = macp::modes::decode_decision_state(first);
    REQUIRE(decoded.ok());
    CHECK(macp::modes::encode_decision_state(decoded.value()) == first);
    REQUIRE(decoded->evaluations.size() == 3);
    CHECK(decoded->evaluations[0].confidence == 1.0 / 3.0);  // exact, not within a few ULP
    CHECK(decoded->evaluations[1].confidence == 0.1 + 0.2);
    CHECK(decoded->evaluations[2].confidence == 5e-324);
}

TEST_CASE("Mode state decoding: empty is initial, garbage is InvalidModeState", "[decision]") {
    auto empty = macp::modes::decode_decision_state("");
    REQUIRE(empty.ok());
    CHECK(empty->phase == DecisionPhase::Proposal);
    CHECK(empty->proposals.empty());

    for (const char* bad :
         {"not json", "[]", R"({"proposals":{}})",
          R"({"proposals":{},"evaluations":[],"objections":[],"votes":{},"phase":"Nope"})",
          R"({"proposals":{},"evaluations":[{"proposal_id":"p"}],"objections":[],"votes":{},"phase":"Evaluation"})"}) {
        INFO(bad);
        auto r = macp::modes::decode_decision_state(bad);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::InvalidModeState);
    }
    auto garbage = mode().decode_state("{");
    REQUIRE_FALSE(garbage.ok());
    CHECK(garbage.error().kind == ErrorKind::InvalidModeState);
    auto initial = mode().decode_state("");  // reference: an empty state decodes as the initial state
    REQUIRE(initial.ok());
    CHECK(initial.value()->encode() ==
          R"({"proposals":{},"evaluations":[],"objections":[],"votes":{},"phase":"Proposal"})");
    Session s = make_session();
    s.mode_state = macp::modes::ModeStateBox(std::move(initial.value()));
    CHECK(send(s, kInit, "Proposal", proposal("p1")).ok());
}

// Issue #8 cases 1 and 4: whatever was accepted must encode and read back, however large. Control
// characters escape to six bytes each, so three 1 MiB payloads take the state past the 16 MiB cap
// on untrusted JSON, which the decoder used to apply ("not JSON").
TEST_CASE("A large accepted state encodes and decodes back identically", "[decision]") {
    const std::string blob(std::size_t{1} << 20, '\x01');
    Session s = started();
    REQUIRE(send(s, kInit, "Proposal", proposal("p1", "deploy" + blob)).ok());
    REQUIRE(send(s, kA, "Evaluation", evaluation("p1", "APPROVE", 0.5)).ok());
    REQUIRE(send(s, kB, "Proposal", proposal("p2", blob)).ok());
    pb::ObjectionPayload o;
    o.set_proposal_id("p1");
    o.set_reason(blob);
    REQUIRE(send(s, kA, "Objection", o.SerializeAsString()).ok());
    const std::string bytes = s.mode_state.encode();
    REQUIRE(bytes.size() > macp::util::kMaxJsonBytes);

    auto back = mode().decode_state(bytes);
    REQUIRE(back.ok());
    CHECK(back.value()->encode() == bytes);
    const auto* st = dynamic_cast<const macp::modes::DecisionModeState*>(back.value().get());
    REQUIRE(st != nullptr);
    CHECK(st->value.proposals.at("p1").option == "deploy" + blob);
    CHECK(st->value.proposals.at("p2").option == blob);
    REQUIRE(st->value.objections.size() == 1);
    CHECK(st->value.objections[0].reason == blob);

    // The decoded state carries the session on.
    Session t = make_session();
    t.mode_state = macp::modes::ModeStateBox(std::move(back.value()));
    REQUIRE(send(t, kB, "Vote", vote("p2", "APPROVE")).ok());
    CHECK(send(t, kInit, "Commitment", commitment()).ok());
    CHECK(state_of(t).phase == DecisionPhase::Committed);
}

// =============================================================================================
// MODE-DEC-2: authorization

TEST_CASE("MODE-DEC-2: deliberation messages only from declared participants", "[decision]") {
    Session s = started();
    REQUIRE(send(s, kInit, "Proposal", proposal("p1")).ok());
    for (const auto* type : {"Proposal", "Evaluation", "Objection", "Vote"}) {
        INFO(type);
        // MODE-GEN-3: FORBIDDEN regardless of payload validity.
        CHECK(kind_of(send(s, kOutsider, type, "\xff\xff garbage")) == ErrorKind::Forbidden);
    }
    // An initiator outside the participant list cannot deliberate ...
    Session t = started({kA, kB});
    CHECK(kind_of(send(t, kInit, "Proposal", proposal("p1"))) == ErrorKind::Forbidden);
    REQUIRE(send(t, kA, "Proposal", proposal("p1")).ok());
    // ... but can commit (POL-AUTH-3).
    CHECK(send(t, kInit, "Commitment", commitment()).ok());
}

TEST_CASE("MODE-DEC-2 / Q-12: any other message type is FORBIDDEN, even from a participant", "[decision]") {
    Session s = started();
    for (const auto* type : {"Contribute", "Approve", "SessionStart", "proposal", ""}) {
        INFO(type);
        CHECK(kind_of(send(s, kA, type, "")) == ErrorKind::Forbidden);
        CHECK(kind_of(send(s, kInit, type, "")) == ErrorKind::Forbidden);
    }
}

TEST_CASE("MODE-DEC-2 / POL-AUTH-3: default commitment authority is the initiator only", "[decision]") {
    Session s = started();
    REQUIRE(send(s, kInit, "Proposal", proposal("p1")).ok());
    CHECK(kind_of(send(s, kA, "Commitment", commitment())) == ErrorKind::Forbidden);
    CHECK(kind_of(send(s, kOutsider, "Commitment", "garbage")) == ErrorKind::Forbidden);
    // No bound policy at all: also initiator only.
    Session n = started({kInit, kA}, std::nullopt);
    REQUIRE(send(n, kInit, "Proposal", proposal("p1")).ok());
    CHECK(kind_of(send(n, kA, "Commitment", commitment())) == ErrorKind::Forbidden);
    CHECK(send(n, kInit, "Commitment", commitment()).ok());
    // An unknown authority string also means initiator only.
    Session u = started({kInit, kA}, make_policy(R"({"commitment":{"authority":"everyone"}})"));
    REQUIRE(send(u, kInit, "Proposal", proposal("p1")).ok());
    CHECK(kind_of(send(u, kA, "Commitment", commitment(true, "policy.test"))) == ErrorKind::Forbidden);
}

TEST_CASE("MODE-DEC-2 / POL-AUTH-1: any_participant", "[decision]") {
    Session s = started({kA, kB}, make_policy(R"({"commitment":{"authority":"any_participant"}})"));
    REQUIRE(send(s, kA, "Proposal", proposal("p1")).ok());
    CHECK(kind_of(send(s, kOutsider, "Commitment", commitment())) == ErrorKind::Forbidden);
    Session copy = s;
    CHECK(send(copy, kInit, "Commitment", commitment()).ok());  // initiator too
    CHECK(send(s, kB, "Commitment", commitment()).ok());
}

TEST_CASE("MODE-DEC-2 / POL-AUTH-2: designated_role lists sender ids; the initiator is not implied", "[decision]") {
    Session s =
        started({kInit, kA, kB},
                make_policy(R"({"commitment":{"authority":"designated_role","designated_roles":["agent://b"]}})"));
    REQUIRE(send(s, kA, "Proposal", proposal("p1")).ok());
    CHECK(kind_of(send(s, kInit, "Commitment", commitment())) == ErrorKind::Forbidden);
    CHECK(kind_of(send(s, kA, "Commitment", commitment())) == ErrorKind::Forbidden);
    CHECK(send(s, kB, "Commitment", commitment()).ok());
}

// =============================================================================================
// MODE-DEC-3..8: the deliberation messages

TEST_CASE("MODE-DEC-3: phases Proposal -> Evaluation -> Voting -> Committed", "[decision]") {
    Session s = started();
    CHECK(state_of(s).phase == DecisionPhase::Proposal);
    REQUIRE(send(s, kInit, "Proposal", proposal("p1")).ok());
    CHECK(state_of(s).phase == DecisionPhase::Evaluation);
    REQUIRE(send(s, kA, "Evaluation", evaluation("p1")).ok());
    REQUIRE(send(s, kA, "Objection", objection("p1")).ok());
    CHECK(state_of(s).phase == DecisionPhase::Evaluation);
    REQUIRE(send(s, kA, "Vote", vote("p1", "APPROVE")).ok());
    CHECK(state_of(s).phase == DecisionPhase::Voting);
    auto out = send(s, kInit, "Commitment", commitment());
    REQUIRE(out.ok());
    CHECK(state_of(s).phase == DecisionPhase::Committed);
    // Nothing is taken after the commitment.
    CHECK(kind_of(send(s, kB, "Vote", vote("p1", "APPROVE"))) == ErrorKind::SessionNotOpen);
    CHECK(kind_of(send(s, kInit, "Commitment", commitment())) == ErrorKind::SessionNotOpen);
}

TEST_CASE("MODE-DEC-4: Proposal", "[decision]") {
    Session s = started();
    SECTION("blank proposal_id or option is rejected (Unicode whitespace counts as blank)") {
        for (const auto& [id, option] : std::vector<std::pair<std::string, std::string>>{
                 {"", "x"}, {"  ", "x"}, {"p1", ""}, {"p1", " \t\n"}, {"\u00a0\u3000", "x"}, {"p1", "\u2028"}}) {
            INFO(id << "/" << option);
            CHECK(kind_of(send(s, kInit, "Proposal", proposal(id, option))) == ErrorKind::InvalidPayload);
        }
        CHECK(state_of(s).phase == DecisionPhase::Proposal);
    }
    SECTION("undecodable payload is INVALID_ENVELOPE (MODE-GEN-4)") {
        auto r = send(s, kInit, "Proposal", "\xff\xff\xff");
        CHECK(kind_of(r) == ErrorKind::InvalidPayload);
        CHECK(std::string(r.error().code()) == "INVALID_ENVELOPE");
    }
    SECTION("duplicate proposal_id is rejected; several proposals are fine before voting") {
        REQUIRE(send(s, kInit, "Proposal", proposal("p1")).ok());
        CHECK(kind_of(send(s, kA, "Proposal", proposal("p1", "other"))) == ErrorKind::InvalidPayload);
        REQUIRE(send(s, kA, "Proposal", proposal("p2")).ok());
        auto st = state_of(s);
        REQUIRE(st.proposals.size() == 2);
        CHECK(st.proposals.at("p1").sender == kInit);
        CHECK(st.proposals.at("p2").sender == kA);
        CHECK(st.proposals.at("p1").rationale == "because");
        // supporting_data is not stored
        CHECK(s.mode_state.encode().find("supporting") == std::string::npos);
    }
    SECTION("allowed in phase Evaluation, not in Voting (checked before decoding)") {
        REQUIRE(send(s, kInit, "Proposal", proposal("p1")).ok());
        REQUIRE(send(s, kInit, "Proposal", proposal("p2")).ok());
        REQUIRE(send(s, kA, "Vote", vote("p1", "APPROVE")).ok());
        CHECK(kind_of(send(s, kInit, "Proposal", proposal("p3"))) == ErrorKind::InvalidPayload);
        auto r = send(s, kInit, "Proposal", "\xff\xff");
        CHECK(kind_of(r) == ErrorKind::InvalidPayload);
        CHECK(r.error().detail.find("voting") != std::string::npos);
    }
}

TEST_CASE("MODE-DEC-5: Evaluation", "[decision]") {
    Session s = started();
    SECTION("value checks run before the phase check") {
        auto r = send(s, kA, "Evaluation", evaluation("p1", "MAYBE"));  // phase Proposal, unknown proposal
        CHECK(kind_of(r) == ErrorKind::InvalidPayload);
        CHECK(r.error().detail.find("recommendation") != std::string::npos);
        r = send(s, kA, "Evaluation", evaluation("p1", "APPROVE", 1.5));
        CHECK(r.error().detail.find("confidence") != std::string::npos);
        r = send(s, kA, "Evaluation", evaluation("p1", "APPROVE", 0.5));
        CHECK(kind_of(r) == ErrorKind::InvalidPayload);
        CHECK(r.error().detail.find("phase") != std::string::npos);
    }
    REQUIRE(send(s, kInit, "Proposal", proposal("p1")).ok());
    SECTION("recommendations are case-insensitive and stored upper-case (Q-10)") {
        for (const auto* rec : {"approve", "Review", "BLOCK", "reject"}) {
            INFO(rec);
            CHECK(send(s, kA, "Evaluation", evaluation("p1", rec)).ok());
        }
        auto st = state_of(s);
        REQUIRE(st.evaluations.size() == 4);  // one sender may evaluate many times
        CHECK(st.evaluations[0].recommendation == "APPROVE");
        CHECK(st.evaluations[1].recommendation == "REVIEW");
        CHECK(st.evaluations[3].recommendation == "REJECT");
        CHECK(st.evaluations[3].sender == kA);
        CHECK(st.phase == DecisionPhase::Evaluation);  // unchanged
        for (const auto* rec : {"", "OK", "APPROVED", " approve"}) {
            INFO(rec);
            CHECK(kind_of(send(s, kA, "Evaluation", evaluation("p1", rec))) == ErrorKind::InvalidPayload);
        }
    }
    SECTION("Unicode upper-casing as in Rust: dotless i maps to I") {
        CHECK(send(s, kA, "Evaluation", evaluation("p1", "rev\u0131ew")).ok());
        CHECK(state_of(s).evaluations.back().recommendation == "REVIEW");
        CHECK(kind_of(send(s, kA, "Evaluation", evaluation("p1", "r\u00e9view"))) == ErrorKind::InvalidPayload);
    }
    SECTION("confidence bounds are inclusive; NaN is rejected (Q-11, deliberate difference)") {
        CHECK(send(s, kA, "Evaluation", evaluation("p1", "APPROVE", 0.0)).ok());
        CHECK(send(s, kA, "Evaluation", evaluation("p1", "APPROVE", 1.0)).ok());
        CHECK(send(s, kA, "Evaluation", evaluation("p1", "APPROVE", -0.0)).ok());
        for (double c : {-0.0001, 1.0001, std::numeric_limits<double>::infinity(),
                         -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
            INFO(c);
            auto r = send(s, kA, "Evaluation", evaluation("p1", "APPROVE", c));
            CHECK(kind_of(r) == ErrorKind::InvalidPayload);
            CHECK(std::string(r.error().code()) == "INVALID_ENVELOPE");
        }
        // the session stays usable
        CHECK(send(s, kB, "Vote", vote("p1", "APPROVE")).ok());
    }
    SECTION("proposal must exist") {
        CHECK(kind_of(send(s, kA, "Evaluation", evaluation("nope"))) == ErrorKind::InvalidPayload);
    }
    SECTION("not after the first vote (MODE-DEC-8)") {
        REQUIRE(send(s, kA, "Vote", vote("p1", "APPROVE")).ok());
        CHECK(kind_of(send(s, kB, "Evaluation", evaluation("p1"))) == ErrorKind::InvalidPayload);
    }
    SECTION("undecodable payload") {
        CHECK(kind_of(send(s, kA, "Evaluation", "\xff\xff")) == ErrorKind::InvalidPayload);
    }
}

TEST_CASE("MODE-DEC-6: Objection", "[decision]") {
    Session s = started();
    CHECK(kind_of(send(s, kA, "Objection", objection("p1"))) == ErrorKind::InvalidPayload);  // phase Proposal
    REQUIRE(send(s, kInit, "Proposal", proposal("p1")).ok());
    REQUIRE(send(s, kA, "Objection", objection("p1", "")).ok());
    REQUIRE(send(s, kA, "Objection", objection("p1", "CRITICAL")).ok());
    REQUIRE(send(s, kB, "Objection", objection("p1", "Low")).ok());
    REQUIRE(send(s, kB, "Objection", objection("p1", "high")).ok());
    auto st = state_of(s);
    REQUIRE(st.objections.size() == 4);
    CHECK(st.objections[0].severity == "medium");
    CHECK(st.objections[1].severity == "critical");
    CHECK(st.objections[2].severity == "low");
    CHECK(st.objections[3].severity == "high");
    CHECK(st.objections[3].sender == kB);
    for (const auto* sev : {"severe", " ", "blocker", "medium "}) {
        INFO(sev);
        CHECK(kind_of(send(s, kA, "Objection", objection("p1", sev))) == ErrorKind::InvalidPayload);
    }
    CHECK(kind_of(send(s, kA, "Objection", objection("p9"))) == ErrorKind::InvalidPayload);
    CHECK(kind_of(send(s, kA, "Objection", "\xff\xff")) == ErrorKind::InvalidPayload);
    REQUIRE(send(s, kA, "Vote", vote("p1", "REJECT")).ok());
    CHECK(kind_of(send(s, kB, "Objection", objection("p1"))) == ErrorKind::InvalidPayload);  // MODE-DEC-8
}

TEST_CASE("MODE-DEC-7: Vote", "[decision]") {
    Session s = started();
    CHECK(kind_of(send(s, kA, "Vote", vote("p1", "APPROVE"))) == ErrorKind::InvalidPayload);  // phase Proposal
    REQUIRE(send(s, kInit, "Proposal", proposal("p1")).ok());
    REQUIRE(send(s, kInit, "Proposal", proposal("p2")).ok());
    for (const auto* v : {"yes", "", "APPROVED", "abstained"}) {
        INFO(v);
        CHECK(kind_of(send(s, kA, "Vote", vote("p1", v))) == ErrorKind::InvalidPayload);
    }
    CHECK(kind_of(send(s, kA, "Vote", vote("p9", "APPROVE"))) == ErrorKind::InvalidPayload);
    REQUIRE(send(s, kA, "Vote", vote("p1", "approve")).ok());
    CHECK(state_of(s).phase == DecisionPhase::Voting);
    CHECK(kind_of(send(s, kA, "Vote", vote("p1", "REJECT"))) == ErrorKind::InvalidPayload);  // once per proposal
    // but on several proposals
    REQUIRE(send(s, kA, "Vote", vote("p2", "Reject")).ok());
    // the long s upper-cases to S in Rust
    REQUIRE(send(s, kB, "Vote", vote("p1", "ab\u017Ftain")).ok());
    REQUIRE(send(s, kInit, "Vote", vote("p2", "abstain")).ok());
    auto st = state_of(s);
    CHECK(st.votes.at("p1").at(kA).vote == "APPROVE");
    CHECK(st.votes.at("p2").at(kA).vote == "REJECT");
    CHECK(st.votes.at("p1").at(kB).vote == "ABSTAIN");
    CHECK(st.votes.at("p2").at(kInit).vote == "ABSTAIN");
    CHECK(st.votes.at("p1").at(kA).sender == kA);
    CHECK(st.votes.at("p1").at(kA).proposal_id == "p1");
    CHECK(kind_of(send(s, kB, "Vote", "\xff\xff")) == ErrorKind::InvalidPayload);
}

TEST_CASE("MODE-DEC-8: after the first vote only votes and the commitment remain", "[decision]") {
    Session s = started();
    REQUIRE(send(s, kInit, "Proposal", proposal("p1")).ok());
    REQUIRE(send(s, kA, "Vote", vote("p1", "APPROVE")).ok());
    CHECK(kind_of(send(s, kB, "Proposal", proposal("p2"))) == ErrorKind::InvalidPayload);
    CHECK(kind_of(send(s, kB, "Evaluation", evaluation("p1"))) == ErrorKind::InvalidPayload);
    CHECK(kind_of(send(s, kB, "Objection", objection("p1"))) == ErrorKind::InvalidPayload);
    CHECK(send(s, kB, "Vote", vote("p1", "REJECT")).ok());
    CHECK(send(s, kInit, "Commitment", commitment()).ok());
}

// =============================================================================================
// MODE-DEC-9/10: Commitment

TEST_CASE("MODE-DEC-9: commitment validation order and resolution", "[decision]") {
    Session s = started();
    SECTION("shared validation runs before the proposal check") {
        auto r = send(s, kInit, "Commitment", "\xff\xff");
        CHECK(kind_of(r) == ErrorKind::InvalidPayload);
        CHECK(r.error().detail.find("commitment") != std::string::npos);
        // a contradictory outcome (MODE-CMT-6)
        r = send(s, kInit, "Commitment", commitment(false, "", std::string("decision.selected")));
        CHECK(r.error().detail.find("outcome_positive") != std::string::npos);
        // then: nothing proposed yet
        r = send(s, kInit, "Commitment", commitment());
        CHECK(kind_of(r) == ErrorKind::InvalidPayload);
        CHECK(r.error().detail.find("proposed") != std::string::npos);
    }
    SECTION("policy_version: empty or the bound id, nothing else (MODE-CMT-4, 0.6)") {
        REQUIRE(send(s, kInit, "Proposal", proposal("p1")).ok());
        CHECK(kind_of(send(s, kInit, "Commitment", commitment(true, "policy.other"))) == ErrorKind::InvalidPayload);
        CHECK(send(s, kInit, "Commitment", commitment(true, "policy.default")).ok());
    }
    SECTION("accepted: phase Committed, resolution is the raw commitment payload") {
        REQUIRE(send(s, kInit, "Proposal", proposal("p1")).ok());
        auto payload = commitment();
        auto out = send(s, kInit, "Commitment", payload);
        REQUIRE(out.ok());
        REQUIRE(out->resolution.has_value());
        CHECK(*out->resolution == payload);
        CHECK(state_of(s).phase == DecisionPhase::Committed);
        CHECK(s.state == SessionState::Resolved);
    }
    SECTION("commitment allowed straight from phase Evaluation (no votes needed under the default policy)") {
        REQUIRE(send(s, kInit, "Proposal", proposal("p1")).ok());
        CHECK(send(s, kInit, "Commitment", commitment()).ok());
    }
}

TEST_CASE("MODE-DEC-9 / POL-EVAL-2: a policy denial is POLICY_DENIED with reasons and leaves the state", "[decision]") {
    Session s = started({kInit, kA, kB}, make_policy(R"({"voting":{"algorithm":"majority"}})"));
    REQUIRE(send(s, kInit, "Proposal", proposal("p1")).ok());
    REQUIRE(send(s, kA, "Vote", vote("p1", "REJECT")).ok());
    auto before = s.mode_state.encode();
    auto r = send(s, kInit, "Commitment", commitment(true));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::PolicyDenied);
    CHECK(std::string(r.error().code()) == "POLICY_DENIED");
    CHECK(r.error().reasons == std::vector<std::string>{"majority vote failed: 0.0% approve, need >= 50.0%"});
    CHECK(s.mode_state.encode() == before);
    CHECK(s.state == SessionState::Open);
    // the negative commitment is backed by the explicit reject
    CHECK(send(s, kInit, "Commitment", commitment(false)).ok());
}

TEST_CASE("MODE-DEC-10: both positive and negative commitments; the action is free", "[decision]") {
    for (bool positive : {true, false}) {
        Session s = started();
        REQUIRE(send(s, kInit, "Proposal", proposal("p1")).ok());
        CHECK(send(s, kInit, "Commitment", commitment(positive, "", std::string("anything.goes"))).ok());
    }
}

// =============================================================================================
// POL-SCH-1/2/3: rule parsing

TEST_CASE("POL-SCH-1/3: defaults for missing keys", "[decision][policy]") {
    DecisionRules r;
    std::string err;
    REQUIRE(macp::policy::parse_decision_rules("{}", r, err));
    CHECK(r.voting.algorithm == "none");
    CHECK(r.voting.threshold == 0.5);
    CHECK(r.voting.quorum_type == "count");
    CHECK(r.voting.quorum_value == 0.0);
    CHECK(r.voting.weights.empty());
    CHECK_FALSE(r.objection_handling.critical_severity_vetoes);
    CHECK(r.objection_handling.veto_threshold == 1);
    CHECK(r.objection_handling.critical_objection_action == macp::policy::CriticalObjectionAction::Deny);
    CHECK_FALSE(r.evaluation.required_before_voting);
    CHECK(r.evaluation.minimum_confidence == 0.0);
    CHECK(r.commitment.authority == "initiator_only");
    CHECK(r.commitment.designated_roles.empty());
    CHECK_FALSE(r.commitment.require_vote_quorum);
    CHECK_FALSE(r.commitment.allow_decline_over_approval);

    REQUIRE(macp::policy::parse_decision_rules(macp::policy::default_policy().rules, r, err));
    CHECK(r.voting.algorithm == "none");

    REQUIRE(macp::policy::parse_decision_rules(
        R"({"voting":{"algorithm":"weighted","threshold":0.6,"quorum":{"type":"percentage","value":50},)"
        R"("weights":{"agent://a":2,"agent://b":0.5}},"objection_handling":{"critical_severity_vetoes":true,)"
        R"("veto_threshold":2,"critical_objection_action":"finalize_decline"},"evaluation":)"
        R"({"required_before_voting":true,"minimum_confidence":0.7},"commitment":{"authority":"designated_role",)"
        R"("designated_roles":["x"],"require_vote_quorum":true,"allow_decline_over_approval":true},"extra":1})",
        r, err));
    CHECK(r.voting.algorithm == "weighted");
    CHECK(r.voting.threshold == 0.6);
    CHECK(r.voting.quorum_type == "percentage");
    CHECK(r.voting.quorum_value == 50.0);
    CHECK(r.voting.weights.at("agent://a") == 2.0);
    CHECK(r.voting.weights.at("agent://b") == 0.5);
    CHECK(r.objection_handling.critical_severity_vetoes);
    CHECK(r.objection_handling.veto_threshold == 2);
    CHECK(r.objection_handling.critical_objection_action == macp::policy::CriticalObjectionAction::FinalizeDecline);
    CHECK(r.evaluation.required_before_voting);
    CHECK(r.evaluation.minimum_confidence == 0.7);
    CHECK(r.commitment.authority == "designated_role");
    CHECK(r.commitment.designated_roles == std::vector<std::string>{"x"});
    CHECK(r.commitment.require_vote_quorum);
    CHECK(r.commitment.allow_decline_over_approval);
}

TEST_CASE("POL-SCH-2: critical_objection_action values", "[decision][policy]") {
    DecisionRules r;
    std::string err;
    REQUIRE(
        macp::policy::parse_decision_rules(R"({"objection_handling":{"critical_objection_action":"hold"}})", r, err));
    CHECK(r.objection_handling.critical_objection_action == macp::policy::CriticalObjectionAction::Hold);
    REQUIRE(
        macp::policy::parse_decision_rules(R"({"objection_handling":{"critical_objection_action":"deny"}})", r, err));
    CHECK(r.objection_handling.critical_objection_action == macp::policy::CriticalObjectionAction::Deny);
    // serde's externally tagged form of a unit variant
    REQUIRE(macp::policy::parse_decision_rules(R"({"objection_handling":{"critical_objection_action":{"hold":null}}})",
                                               r, err));
    CHECK(r.objection_handling.critical_objection_action == macp::policy::CriticalObjectionAction::Hold);
    for (const char* bad : {R"({"objection_handling":{"critical_objection_action":"Deny"}})",
                            R"({"objection_handling":{"critical_objection_action":"finalizeDecline"}})",
                            R"({"objection_handling":{"critical_objection_action":1}})"}) {
        INFO(bad);
        CHECK_FALSE(macp::policy::parse_decision_rules(bad, r, err));
    }
    macp::policy::parse_decision_rules(R"({"objection_handling":{"critical_objection_action":"escalate"}})", r, err);
    CHECK(err == "unknown variant `escalate`, expected one of `deny`, `finalize_decline`, `hold`");
}

TEST_CASE("POL-SCH-*: type mismatches fail, like serde", "[decision][policy]") {
    DecisionRules r;
    std::string err;
    struct Case {
        const char* rules;
        const char* error;
    };
    for (const auto& c : std::vector<Case>{
             {R"({"voting":{"threshold":"x"}})", "invalid type: string \"x\", expected f64"},
             {R"({"voting":{"algorithm":5}})", "invalid type: integer `5`, expected a string"},
             {R"({"voting":"majority"})", "invalid type: string \"majority\", expected struct VotingRules"},
             {R"({"voting":{"quorum":{"value":null}}})", "invalid type: null, expected f64"},
             {R"({"voting":{"weights":[1]}})", "invalid type: sequence, expected a map"},
             {R"({"voting":{"weights":{"a":true}}})", "invalid type: boolean `true`, expected f64"},
             {R"({"objection_handling":{"veto_threshold":-1}})", "invalid value: integer `-1`, expected u32"},
             {R"({"objection_handling":{"veto_threshold":1.5}})", "invalid type: floating point `1.5`, expected u32"},
             {R"({"objection_handling":{"veto_threshold":4294967296}})",
              "invalid value: integer `4294967296`, expected u32"},
             {R"({"evaluation":{"required_before_voting":"yes"}})", "invalid type: string \"yes\", expected a boolean"},
             {R"({"commitment":{"designated_roles":"a"}})", "invalid type: string \"a\", expected a sequence"},
             {R"({"commitment":{"require_vote_quorum":1}})", "invalid type: integer `1`, expected a boolean"},
             {"[1,2,3,4,5]", nullptr},
             {"null", "invalid type: null, expected struct DecisionPolicyRules"},
             {"not json", nullptr},
             {"", nullptr},
         }) {
        INFO(c.rules);
        CHECK_FALSE(macp::policy::parse_decision_rules(c.rules, r, err));
        if (c.error != nullptr) CHECK(err == c.error);
    }
    // Accepted quirks: unknown keys, integers for floats, a later duplicate key wins, and
    // serde's positional (array) form of a struct.
    REQUIRE(macp::policy::parse_decision_rules(R"({"voting":{"threshold":1},"audit":{"level":"info"}})", r, err));
    CHECK(r.voting.threshold == 1.0);
    REQUIRE(macp::policy::parse_decision_rules(R"({"voting":{"algorithm":"x"},"voting":{"algorithm":"majority"}})", r,
                                               err));
    CHECK(r.voting.algorithm == "majority");
    REQUIRE(macp::policy::parse_decision_rules(R"({"voting":["plurality",0.7,["n_of_m",2]]})", r, err));
    CHECK(r.voting.algorithm == "plurality");
    CHECK(r.voting.threshold == 0.7);
    CHECK(r.voting.quorum_type == "n_of_m");
    CHECK(r.voting.quorum_value == 2.0);
    CHECK_FALSE(macp::policy::parse_decision_rules(R"({"voting":["plurality",0.7,["n_of_m",2],{},9]})", r, err));
    CHECK(err == "invalid length 5, expected fewer elements in array");
}

TEST_CASE("POL-SCH-8 (0.6): rules that fail to parse deny at evaluation time", "[decision][policy]") {
    auto reasons = eval(R"({"voting":{"threshold":"high"}})", votes_state({}));
    REQUIRE(reasons.size() == 1);
    CHECK(reasons[0] ==
          "policy 'policy.test' rules failed to parse at evaluation time: invalid type: string \"high\", expected f64");
    // the same through the mode
    Session s = started({kInit, kA}, make_policy(R"({"objection_handling":{"critical_objection_action":"nope"}})"));
    REQUIRE(send(s, kInit, "Proposal", proposal("p1")).ok());
    auto r = send(s, kInit, "Commitment", commitment());
    CHECK(kind_of(r) == ErrorKind::PolicyDenied);
    REQUIRE(r.error().reasons.size() == 1);
    CHECK(r.error().reasons[0].rfind("policy 'policy.test' rules failed to parse at evaluation time: ", 0) == 0);
}

// =============================================================================================
// POL-EVAL-1, POL-DEC-*

TEST_CASE("POL-EVAL-1: unsupported schema version denies first", "[decision][policy]") {
    for (uint32_t v : {1u, 2u}) {
        auto p = make_policy("{}", v);
        CHECK(macp::policy::evaluate_decision_commitment(&p, votes_state({}), {kA}, true).empty());
    }
    for (uint32_t v : {0u, 3u, 99u}) {
        auto p = make_policy(R"({"voting":{"threshold":"bad"}})", v);
        auto reasons = macp::policy::evaluate_decision_commitment(&p, votes_state({}), {kA}, true);
        CHECK(reasons == std::vector<std::string>{"unsupported policy schema version: " + std::to_string(v) +
                                                  " (supported: [1, 2])"});
    }
}

TEST_CASE("No bound policy and the default policy allow everything", "[decision][policy]") {
    auto st = votes_state({{"p1", kA, "REJECT"}});
    CHECK(macp::policy::evaluate_decision_commitment(nullptr, st, {kA}, true).empty());
    CHECK(macp::policy::evaluate_decision_commitment(&macp::policy::default_policy(), st, {kA}, true).empty());
    CHECK(macp::policy::evaluate_decision_commitment(&macp::policy::default_policy(), DecisionState{}, {}, false)
              .empty());
}

TEST_CASE("POL-DEC-1: evaluations before voting", "[decision][policy]") {
    auto st = votes_state({});
    st.proposals["p1"] = {"p1", "o", "", kInit};
    const std::string with_min = R"({"evaluation":{"required_before_voting":true,"minimum_confidence":0.8}})";
    const std::string no_min = R"({"evaluation":{"required_before_voting":true}})";
    const std::string min_only = R"({"evaluation":{"minimum_confidence":0.8}})";

    CHECK(eval(with_min, st) ==
          std::vector<std::string>{"no qualifying evaluation meets minimum confidence threshold: 0.80"});
    CHECK(eval(no_min, st) ==
          std::vector<std::string>{"evaluations required before voting but none provided (REVIEW evaluations are "
                                   "informational only)"});
    CHECK(eval(min_only, st).empty());  // Q-15: minimum_confidence alone has no effect

    st.evaluations.push_back({"p1", "REVIEW", 0.99, "", kA});  // REVIEW never counts
    CHECK(eval(with_min, st).size() == 1);
    CHECK(eval(no_min, st).size() == 1);
    st.evaluations.push_back({"p1", "BLOCK", 0.7, "", kB});
    CHECK(eval(with_min, st).size() == 1);                     // below the minimum
    CHECK(eval(no_min, st).empty());                           // any non-REVIEW evaluation
    st.evaluations.push_back({"p1", "APPROVE", 0.8, "", kB});  // exactly at the minimum
    CHECK(eval(with_min, st).empty());
    CHECK(eval(with_min, st, false).empty());  // outcome-agnostic
    // rounding of the reason: two decimals
    CHECK(eval(R"({"evaluation":{"required_before_voting":true,"minimum_confidence":0.125}})", votes_state({})) ==
          std::vector<std::string>{"no qualifying evaluation meets minimum confidence threshold: 0.12"});
}

TEST_CASE("POL-DEC-2: critical-objection veto", "[decision][policy]") {
    auto st = votes_state({});
    st.objections.push_back({"p1", "x", "critical", kA});
    st.objections.push_back({"p1", "x", "high", kB});
    st.objections.push_back({"p1", "x", "critical", kB});

    CHECK(eval(R"({"objection_handling":{"critical_severity_vetoes":false}})", st).empty());
    CHECK(eval(R"({"objection_handling":{"critical_severity_vetoes":true,"veto_threshold":3}})", st).empty());
    const std::string detail = "2 blocking objection(s) (veto threshold: 2), from: agent://a, agent://b";
    CHECK(eval(R"({"objection_handling":{"critical_severity_vetoes":true,"veto_threshold":2}})", st) ==
          std::vector<std::string>{"blocked by " + detail});
    CHECK(eval(R"({"objection_handling":{"critical_severity_vetoes":true,"veto_threshold":2}})", st, false) ==
          std::vector<std::string>{"blocked by " + detail});
    CHECK(eval(R"({"objection_handling":{"critical_severity_vetoes":true,"veto_threshold":2,)"
               R"("critical_objection_action":"hold"}})",
               st, false) ==
          std::vector<std::string>{"held for escalation by " + detail + " (critical_objection_action=hold)"});
    const std::string fd = R"({"objection_handling":{"critical_severity_vetoes":true,"veto_threshold":2,)"
                           R"("critical_objection_action":"finalize_decline"}})";
    CHECK(eval(fd, st, true) == std::vector<std::string>{"veto blocks a positive commitment: " + detail +
                                                         " (critical_objection_action=finalize_decline)"});
    CHECK(eval(fd, st, false).empty());
    // finalize_decline: the other checks still apply to the decline
    const std::string fd_majority =
        R"({"voting":{"algorithm":"majority"},"objection_handling":)"
        R"({"critical_severity_vetoes":true,"critical_objection_action":"finalize_decline"}})";
    CHECK(eval(fd_majority, st, false) ==
          std::vector<std::string>{"no votes cast; a decline requires at least one explicit reject vote"});
    // veto_threshold 0 makes any enabled veto fire (Q-15)
    CHECK(eval(R"({"objection_handling":{"critical_severity_vetoes":true,"veto_threshold":0}})", votes_state({})) ==
          std::vector<std::string>{"blocked by 0 blocking objection(s) (veto threshold: 0), from: "});
}

TEST_CASE("POL-DEC-3: vote quorum (only with require_vote_quorum)", "[decision][policy]") {
    // a voter on two proposals counts once
    auto st = votes_state({{"p1", kA, "APPROVE"}, {"p2", kA, "ABSTAIN"}});
    CHECK(eval(R"({"voting":{"quorum":{"type":"count","value":2}}})", st).empty());
    CHECK(eval(R"({"voting":{"quorum":{"type":"count","value":2}},"commitment":{"require_vote_quorum":true}})", st) ==
          std::vector<std::string>{"vote quorum not met: 1 voters of 3 participants (quorum: 2 count)"});
    CHECK(eval(R"({"voting":{"quorum":{"type":"n_of_m","value":1}},"commitment":{"require_vote_quorum":true}})", st)
              .empty());
    CHECK(eval(R"({"voting":{"quorum":{"type":"weird","value":1.5}},"commitment":{"require_vote_quorum":true}})", st,
               false) ==
          std::vector<std::string>{"vote quorum not met: 1 voters of 3 participants (quorum: 1.5 weird)"});
    // percentage on a 0-100 scale (POL-SCH-9)
    const std::string pct =
        R"({"voting":{"quorum":{"type":"percentage","value":34}},"commitment":{"require_vote_quorum":true}})";
    CHECK(eval(pct, st) ==
          std::vector<std::string>{"vote quorum not met: 1 voters of 3 participants (quorum: 34 percentage)"});
    CHECK(
        eval(R"({"voting":{"quorum":{"type":"percentage","value":33}},"commitment":{"require_vote_quorum":true}})", st)
            .empty());
    // 0 participants: met iff value <= 0
    CHECK(eval(R"({"voting":{"quorum":{"type":"percentage","value":0}},"commitment":{"require_vote_quorum":true}})", st,
               true, {})
              .empty());
    CHECK(eval(pct, st, true, {}).size() == 1);
}

TEST_CASE("POL-DEC-4/5: majority over all stored votes; exactly the threshold passes", "[decision][policy]") {
    const std::string maj = R"({"voting":{"algorithm":"majority"}})";
    auto tie = votes_state({{"p1", kA, "APPROVE"}, {"p1", kB, "REJECT"}, {"p1", kInit, "ABSTAIN"}});
    CHECK(eval(maj, tie).empty());
    // 2 approve (one voter on two proposals counts twice) vs 1 reject
    auto twice = votes_state({{"p1", kA, "APPROVE"}, {"p2", kA, "APPROVE"}, {"p1", kB, "REJECT"}});
    CHECK(eval(R"({"voting":{"algorithm":"majority","threshold":0.66}})", twice).empty());
    CHECK(eval(R"({"voting":{"algorithm":"majority","threshold":0.67}})", twice) ==
          std::vector<std::string>{"majority vote failed: 66.7% approve, need >= 67.0%"});
}

TEST_CASE("POL-DEC-6: supermajority", "[decision][policy]") {
    auto two_thirds = votes_state({{"p1", kA, "APPROVE"}, {"p1", kInit, "APPROVE"}, {"p1", kB, "REJECT"}});
    CHECK(eval(R"({"voting":{"algorithm":"supermajority"}})", two_thirds).empty());  // 2/3 effective
    CHECK(eval(R"({"voting":{"algorithm":"supermajority","threshold":0.5}})", two_thirds).empty());
    CHECK(eval(R"({"voting":{"algorithm":"supermajority","threshold":0.75}})", two_thirds) ==
          std::vector<std::string>{"supermajority vote failed: 66.7% approve, need >= 75.0%"});
    auto half = votes_state({{"p1", kA, "APPROVE"}, {"p1", kB, "REJECT"}});
    CHECK(eval(R"({"voting":{"algorithm":"supermajority"}})", half) ==
          std::vector<std::string>{"supermajority vote failed: 50.0% approve, need >= 66.7%"});
}

TEST_CASE("POL-DEC-7: unanimous needs every declared participant to approve", "[decision][policy]") {
    const std::string u = R"({"voting":{"algorithm":"unanimous"}})";
    auto two = votes_state({{"p1", kA, "APPROVE"}, {"p2", kB, "APPROVE"}});
    CHECK(eval(u, two, true, {kA, kB}).empty());
    CHECK(eval(u, two, true, {kA, kB, kInit}) ==
          std::vector<std::string>{"unanimous vote failed: 2 approve, 0 reject out of 3 participants"});
    auto with_reject = votes_state({{"p1", kA, "APPROVE"}, {"p1", kB, "APPROVE"}, {"p2", kB, "REJECT"}});
    CHECK(eval(u, with_reject, true, {kA, kB}) ==
          std::vector<std::string>{"unanimous vote failed: 2 approve, 1 reject out of 2 participants"});
    // incomplete participation cannot back a decline; an explicit reject can
    CHECK(eval(u, two, false, {kA, kB, kInit}) ==
          std::vector<std::string>{"approval threshold not met but no explicit reject to justify a decline "
                                   "(incomplete participation is not a rejection): unanimous vote failed: 2 "
                                   "approve, 0 reject out of 3 participants"});
    CHECK(eval(u, with_reject, false, {kA, kB}).empty());
}

TEST_CASE("POL-DEC-8: weighted", "[decision][policy]") {
    auto st = votes_state({{"p1", kA, "APPROVE"}, {"p1", kB, "REJECT"}, {"p1", kInit, "ABSTAIN"}});
    CHECK(eval(R"({"voting":{"algorithm":"weighted","weights":{"agent://a":3}}})", st).empty());  // 3/4
    CHECK(eval(R"({"voting":{"algorithm":"weighted","threshold":0.8,"weights":{"agent://a":3}}})", st) ==
          std::vector<std::string>{"weighted vote failed: 75.0% weighted approve, need >= 80.0%"});
    CHECK(eval(R"({"voting":{"algorithm":"weighted","weights":{"agent://b":3}}})", st) ==
          std::vector<std::string>{"weighted vote failed: 25.0% weighted approve, need >= 50.0%"});
    // abstainers carry no weight; total 0 => NoVotes
    const std::string zero = R"({"voting":{"algorithm":"weighted","weights":{"agent://a":0,"agent://b":0}}})";
    CHECK(eval(zero, st, true).empty());
    CHECK(eval(zero, st, false) ==
          std::vector<std::string>{"no votes cast; a decline requires at least one explicit reject vote"});
}

TEST_CASE("POL-DEC-9: plurality compares total approve with total reject", "[decision][policy]") {
    const std::string p = R"({"voting":{"algorithm":"plurality"}})";
    CHECK(eval(p, votes_state({{"p1", kA, "APPROVE"}, {"p2", kA, "APPROVE"}, {"p1", kB, "REJECT"}})).empty());
    CHECK(eval(p, votes_state({{"p1", kA, "APPROVE"}, {"p1", kB, "REJECT"}})) ==
          std::vector<std::string>{"plurality vote tied: 1 approve vs 1 reject"});
    CHECK(eval(p, votes_state({{"p1", kA, "REJECT"}, {"p1", kB, "REJECT"}, {"p1", kInit, "APPROVE"}})) ==
          std::vector<std::string>{"plurality vote failed: 1 approve vs 2 reject"});
}

TEST_CASE("POL-DEC-10: unknown algorithm never passes", "[decision][policy]") {
    auto st = votes_state({{"p1", kA, "APPROVE"}});
    CHECK(eval(R"({"voting":{"algorithm":"Majority"}})", st) ==
          std::vector<std::string>{"unknown voting algorithm 'Majority'; supported: majority, supermajority, "
                                   "unanimous, weighted, plurality, none"});
    // ... but with no APPROVE/REJECT vote it is NoVotes first
    CHECK(eval(R"({"voting":{"algorithm":"Majority"}})", votes_state({})).empty());
}

TEST_CASE("POL-DEC-11: outcome mapping", "[decision][policy]") {
    const std::string maj = R"({"voting":{"algorithm":"majority"}})";
    const std::string maj_override =
        R"({"voting":{"algorithm":"majority"},"commitment":{"allow_decline_over_approval":true}})";
    const std::string maj_quorum = R"({"voting":{"algorithm":"majority"},"commitment":{"require_vote_quorum":true}})";
    auto passed = votes_state({{"p1", kA, "APPROVE"}});
    auto failed_reject = votes_state({{"p1", kA, "REJECT"}});
    auto none = votes_state({{"p1", kA, "ABSTAIN"}});

    // Passed
    CHECK(eval(maj, passed, true).empty());
    CHECK(eval(maj, passed, false) ==
          std::vector<std::string>{"vote passed the approval threshold but a decline was requested; set "
                                   "commitment.allow_decline_over_approval to permit an executive override "
                                   "(majority vote passed: 100.0% approve (threshold: 50.0%))"});
    CHECK(eval(maj_override, passed, false).empty());
    // Failed
    CHECK(eval(maj, failed_reject, true) ==
          std::vector<std::string>{"majority vote failed: 0.0% approve, need >= 50.0%"});
    CHECK(eval(maj, failed_reject, false).empty());
    // (Failed without any REJECT: see POL-DEC-7)
    // NoVotes
    CHECK(eval(maj, none, true).empty());
    CHECK(eval(maj_quorum, none, true) == std::vector<std::string>{"no votes cast"});
    CHECK(eval(maj, none, false) ==
          std::vector<std::string>{"no votes cast; a decline requires at least one explicit reject vote"});
}

TEST_CASE("POL-DEC-12: algorithm none takes the outcome at face value", "[decision][policy]") {
    CHECK(eval(R"({"voting":{"algorithm":"none"}})", votes_state({}), false).empty());
    CHECK(eval(R"({"voting":{"algorithm":"none"}})", votes_state({{"p1", kA, "APPROVE"}}), false).empty());
    CHECK(eval(R"({"voting":{"algorithm":"none"}})", votes_state({{"p1", kA, "REJECT"}}), true).empty());
}

TEST_CASE("POL-EVAL-2: all failing checks contribute reasons, in check order", "[decision][policy]") {
    auto st = votes_state({{"p1", kA, "REJECT"}});
    st.objections.push_back({"p1", "x", "critical", kB});
    auto reasons = eval(R"({"voting":{"algorithm":"majority","quorum":{"value":3}},)"
                        R"("objection_handling":{"critical_severity_vetoes":true},)"
                        R"("evaluation":{"required_before_voting":true,"minimum_confidence":0.5},)"
                        R"("commitment":{"require_vote_quorum":true}})",
                        st);
    CHECK(reasons == std::vector<std::string>{
                         "no qualifying evaluation meets minimum confidence threshold: 0.50",
                         "blocked by 1 blocking objection(s) (veto threshold: 1), from: agent://b",
                         "vote quorum not met: 1 voters of 3 participants (quorum: 3 count)",
                         "majority vote failed: 0.0% approve, need >= 50.0%",
                     });
}

// =============================================================================================
// Conformance fixtures (read in place; never copied into the repository)

namespace {

using mode_test::kConformanceRoot;

std::string str(const rapidjson::Value& obj, const char* key) {
    return mode_test::str_member(obj, key);
}

std::string encode_payload(const std::string& message_type, const rapidjson::Value& p) {
    if (message_type == "Proposal") {
        pb::ProposalPayload m;
        m.set_proposal_id(str(p, "proposal_id"));
        m.set_option(str(p, "option"));
        m.set_rationale(str(p, "rationale"));
        m.set_supporting_data(mode_test::bytes_member(p, "supporting_data"));
        return m.SerializeAsString();
    }
    if (message_type == "Evaluation") {
        pb::EvaluationPayload m;
        m.set_proposal_id(str(p, "proposal_id"));
        m.set_recommendation(str(p, "recommendation"));
        if (p.HasMember("confidence") && p["confidence"].IsNumber()) m.set_confidence(p["confidence"].GetDouble());
        m.set_reason(str(p, "reason"));
        return m.SerializeAsString();
    }
    if (message_type == "Objection") {
        pb::ObjectionPayload m;
        m.set_proposal_id(str(p, "proposal_id"));
        m.set_reason(str(p, "reason"));
        m.set_severity(str(p, "severity"));
        return m.SerializeAsString();
    }
    if (message_type == "Vote") {
        pb::VotePayload m;
        m.set_proposal_id(str(p, "proposal_id"));
        m.set_vote(str(p, "vote"));
        m.set_reason(str(p, "reason"));
        return m.SerializeAsString();
    }
    return mode_test::fixture_commitment(p, /*default_positive=*/false);
}

void run_fixture(const std::filesystem::path& path) {
    INFO("fixture " << path.string());
    rapidjson::Document f;
    mode_test::load_fixture(path, f);
    REQUIRE(str(f, "mode") == kMode);

    Session s;
    s.session_id = "fixture";
    s.mode = kMode;
    s.initiator = str(f, "initiator");
    for (const auto& p : f["participants"].GetArray()) s.participants.emplace_back(p.GetString());
    s.mode_version = str(f, "mode_version");
    s.configuration_version = str(f, "configuration_version");
    // POL-BIND-1: "" binds policy.default; a fixture's inline policy is registered first.
    s.policy_version = str(f, "policy_version");
    if (f.HasMember("policy")) {
        const auto& p = f["policy"];
        s.policy = mode_test::fixture_policy(p, 1);
        REQUIRE(s.policy->policy_id == s.policy_version);
    } else {
        REQUIRE(s.policy_version.empty());
        s.policy_version = macp::policy::kDefaultPolicyId;
        s.policy = macp::policy::default_policy();
    }
    auto init = mode().on_session_start(s.view());
    REQUIRE(init.ok());
    s.mode_state = macp::modes::ModeStateBox(std::move(init.value()));

    int index = 0;
    for (const auto& m : f["messages"].GetArray()) {
        const auto type = str(m, "message_type");
        INFO("message " << index++ << " " << type << " from " << str(m, "sender"));
        auto payload = encode_payload(type, m["payload"]);
        auto r = send(s, str(m, "sender"), type, payload);
        if (str(m, "expect") == "accept") {
            if (!r.ok()) INFO("error " << r.error().code() << " " << r.error().detail);
            CHECK(r.ok());
        } else {
            REQUIRE_FALSE(r.ok());
            CHECK(std::string(r.error().code()) == str(m, "expected_error_code"));
        }
    }

    CHECK(std::string(macp::kernel::state_name(s.state)) == str(f, "expected_final_state"));
    CHECK(s.resolution.has_value() == macp::util::get_bool(f, "expect_resolution_present"));
    if (s.resolution && f.HasMember("expected_resolution")) {
        macp::v1::CommitmentPayload c;
        REQUIRE(c.ParseFromString(*s.resolution));
        const auto& e = f["expected_resolution"];
        CHECK(c.action() == str(e, "action"));
        CHECK(c.mode_version() == str(e, "mode_version"));
        CHECK(c.configuration_version() == str(e, "configuration_version"));
        CHECK(c.outcome_positive() == macp::util::get_bool(e, "outcome_positive"));
    }
    if (f.HasMember("expected_mode_state")) {
        rapidjson::Document actual;
        const std::string state = s.mode_state.encode();
        REQUIRE(macp::util::parse_json_stored(state, actual));
        INFO("mode state " << state);
        CHECK(mode_test::subset_match(f["expected_mode_state"], actual, mode_test::ArrayMatch::Exact));
    }
}

}  // namespace

TEST_CASE("Conformance fixtures: decision_*.json (spec and runtime-0.6.1)", "[decision][conformance]") {
    namespace fs = std::filesystem;
    if (!fs::is_directory(kConformanceRoot)) {
        WARN("conformance fixtures not found at " << kConformanceRoot << "; skipped");
        return;
    }
    int count = 0;
    for (const auto& p : mode_test::conformance_fixtures("decision_")) {
        SECTION(p.parent_path().filename().string() + "/" + p.filename().string()) {
            run_fixture(p);
        }
        ++count;
    }
    if (count == 0) WARN("no decision conformance fixtures found; skipped");
    CHECK(count >= 0);
}
