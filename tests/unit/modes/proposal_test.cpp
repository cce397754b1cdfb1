// Proposal mode (BEHAVIOR.md §4.3 MODE-PROP-*, §5 POL-SCH-4, POL-SCH-8, POL-EVAL-1, POL-PROP-1 with
// the DELTA-0.6 changes) and the proposal conformance fixtures.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "macp/modes/proposal/v1/proposal.pb.h"
#include "macp/v1/core.pb.h"
#include "modes/proposal.hpp"
#include "policy/proposal_evaluator.hpp"
#include "util/json.hpp"

#include "mode_test_support.hpp"

using macp::kernel::Session;
using macp::kernel::SessionState;
using macp::modes::MessageContext;
using macp::modes::ProposalMode;
using macp::policy::PolicyDefinition;
using macp::protocol::ErrorKind;
namespace pb = macp::modes::proposal::v1;

namespace {

const std::string kBuyer = "agent://buyer";
const std::string kSeller = "agent://seller";
const std::string kOutsider = "agent://outsider";

const ProposalMode& mode() {
    static const ProposalMode m(mode_test::standard_descriptor("macp.mode.proposal.v1"));
    return m;
}

PolicyDefinition policy_with(const std::string& rules, uint32_t schema_version = 1) {
    return PolicyDefinition{"p.test", "macp.mode.proposal.v1", "test policy", rules, schema_version};
}

Session make_session(std::vector<std::string> participants = {kBuyer, kSeller},
                     std::optional<PolicyDefinition> policy = macp::policy::default_policy()) {
    auto s = mode_test::base_session("macp.mode.proposal.v1", std::move(participants), kBuyer);
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
    // nullopt = accepted
    std::optional<macp::protocol::Error> send(const std::string& sender, const std::string& type,
                                              const std::string& payload) {
        if (s.state != SessionState::Open) return macp::protocol::Error(ErrorKind::SessionNotOpen);
        auto o = mode_test::step(mode(), s, sender, type, payload, 1000);
        if (!o) return o.error();
        return std::nullopt;
    }
    rapidjson::Document state() const { return mode_test::state_json(s); }
    std::string phase() const { return state()["phase"].GetString(); }
};

std::string proposal(const std::string& id, const std::string& title = "t") {
    pb::ProposalPayload p;
    p.set_proposal_id(id);
    p.set_title(title);
    p.set_summary("sum");
    return p.SerializeAsString();
}
std::string counter(const std::string& id, const std::string& supersedes) {
    pb::CounterProposalPayload p;
    p.set_proposal_id(id);
    p.set_supersedes_proposal_id(supersedes);
    p.set_title("counter");
    return p.SerializeAsString();
}
std::string accept(const std::string& id) {
    pb::AcceptPayload p;
    p.set_proposal_id(id);
    p.set_reason("ok");
    return p.SerializeAsString();
}
std::string reject(const std::string& id, bool terminal, const std::string& reason = "no") {
    pb::RejectPayload p;
    p.set_proposal_id(id);
    p.set_terminal(terminal);
    p.set_reason(reason);
    return p.SerializeAsString();
}
std::string withdraw(const std::string& id) {
    pb::WithdrawPayload p;
    p.set_proposal_id(id);
    p.set_reason("changed my mind");
    return p.SerializeAsString();
}
std::string commitment(bool positive = true, const std::string& action = "") {
    macp::v1::CommitmentPayload c;
    c.set_commitment_id("c1");
    c.set_action(action.empty() ? (positive ? "proposal.accepted" : "proposal.rejected") : action);
    c.set_authority_scope("test");
    c.set_reason("done");
    c.set_mode_version("1.0.0");
    c.set_configuration_version("cfg-1");
    c.set_policy_version("policy.default");
    c.set_outcome_positive(positive);
    return c.SerializeAsString();
}
std::string commitment_for(const Session& s, bool positive) {
    macp::v1::CommitmentPayload c;
    REQUIRE(c.ParseFromString(commitment(positive)));
    c.set_policy_version(s.policy_version);
    return c.SerializeAsString();
}

ErrorKind kind(const std::optional<macp::protocol::Error>& e) {
    REQUIRE(e.has_value());
    return e->kind;
}

}  // namespace

TEST_CASE("MODE-PROP-1: SessionStart needs a participant; initial state", "[proposal]") {
    Session empty = make_session({});
    auto r = mode().on_session_start(empty.view());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::InvalidPayload);
    CHECK(r.error().code() == std::string("INVALID_ENVELOPE"));

    auto ok = mode().on_session_start(make_session().view());
    REQUIRE(ok.ok());
    CHECK(ok.value()->encode() ==
          R"({"proposals":{},"accepts":{},"terminal_rejections":[],"rejections":[],"phase":"Negotiating"})");
    CHECK(mode().strict());
    CHECK(mode().standards_track());
    CHECK(mode().descriptor().mode == "macp.mode.proposal.v1");
}

TEST_CASE("MODE-PROP-2: authorization", "[proposal]") {
    SECTION("non-Commitment types only from declared participants, before payload validation") {
        Harness h(make_session());
        CHECK(kind(h.send(kOutsider, "Proposal", proposal("p1"))) == ErrorKind::Forbidden);
        CHECK(kind(h.send(kOutsider, "Proposal", "\xff\xff")) == ErrorKind::Forbidden);  // MODE-GEN-3
        CHECK(kind(h.send(kOutsider, "Accept", accept("p1"))) == ErrorKind::Forbidden);
        CHECK(kind(h.send(kOutsider, "Bogus", "")) == ErrorKind::Forbidden);
    }
    SECTION("unknown types pass authorization for participants and are INVALID_ENVELOPE") {
        Harness h(make_session());
        auto e = h.send(kSeller, "Bogus", "");
        CHECK(kind(e) == ErrorKind::InvalidPayload);
        CHECK(e->code() == std::string("INVALID_ENVELOPE"));
    }
    SECTION("Commitment: initiator only under the default policy and with no policy (POL-AUTH-3)") {
        for (const auto& pol :
             {std::optional<PolicyDefinition>(macp::policy::default_policy()), std::optional<PolicyDefinition>()}) {
            Harness h(make_session({kBuyer, kSeller}, pol));
            REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
            REQUIRE_FALSE(h.send(kSeller, "Accept", accept("p1")));
            REQUIRE_FALSE(h.send(kBuyer, "Accept", accept("p1")));
            CHECK(kind(h.send(kSeller, "Commitment", commitment_for(h.s, true))) == ErrorKind::Forbidden);
            CHECK(kind(h.send(kSeller, "Commitment", "garbage")) == ErrorKind::Forbidden);
            CHECK_FALSE(h.send(kBuyer, "Commitment", commitment_for(h.s, true)));
        }
    }
    SECTION("Commitment: any_participant (POL-AUTH-1)") {
        Harness h(make_session({kBuyer, kSeller}, policy_with(R"({"commitment":{"authority":"any_participant"}})")));
        REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
        REQUIRE_FALSE(h.send(kSeller, "Accept", accept("p1")));
        REQUIRE_FALSE(h.send(kBuyer, "Accept", accept("p1")));
        CHECK(kind(h.send(kOutsider, "Commitment", commitment_for(h.s, true))) == ErrorKind::Forbidden);
        CHECK_FALSE(h.send(kSeller, "Commitment", commitment_for(h.s, true)));
    }
    SECTION("Commitment: designated_role lists sender ids; the initiator is not implied (POL-AUTH-2)") {
        Harness h(make_session(
            {kBuyer, kSeller},
            policy_with(R"({"commitment":{"authority":"designated_role","designated_roles":["agent://seller"]}})")));
        REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
        REQUIRE_FALSE(h.send(kSeller, "Accept", accept("p1")));
        REQUIRE_FALSE(h.send(kBuyer, "Accept", accept("p1")));
        CHECK(kind(h.send(kBuyer, "Commitment", commitment_for(h.s, true))) == ErrorKind::Forbidden);
        CHECK_FALSE(h.send(kSeller, "Commitment", commitment_for(h.s, true)));
    }
}

TEST_CASE("MODE-PROP-3: Proposal", "[proposal]") {
    Harness h(make_session());
    CHECK(kind(h.send(kSeller, "Proposal", "\xff\xff\xff")) == ErrorKind::InvalidPayload);  // MODE-GEN-4
    CHECK(kind(h.send(kSeller, "Proposal", proposal(""))) == ErrorKind::InvalidPayload);
    CHECK(kind(h.send(kSeller, "Proposal", proposal(" \t "))) == ErrorKind::InvalidPayload);
    pb::ProposalPayload p;
    p.set_proposal_id("p1");
    p.set_title("offer");
    p.set_summary("terms");
    p.set_details(std::string("\x01\xff", 2));
    p.add_tags("a");
    p.add_tags("b");
    REQUIRE_FALSE(h.send(kSeller, "Proposal", p.SerializeAsString()));
    CHECK(kind(h.send(kBuyer, "Proposal", proposal("p1"))) == ErrorKind::InvalidPayload);  // duplicate id
    CHECK(
        h.s.mode_state.encode() ==
        R"({"proposals":{"p1":{"proposal_id":"p1","title":"offer","summary":"terms","details":[1,255],"tags":["a","b"],)"
        R"("proposer":"agent://seller","supersedes_proposal_id":null,"disposition":"Live"}},"accepts":{},)"
        R"("terminal_rejections":[],"rejections":[],"phase":"Negotiating"})");
}

TEST_CASE("MODE-PROP-4: CounterProposal", "[proposal]") {
    Harness h(make_session());
    REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
    CHECK(kind(h.send(kBuyer, "CounterProposal", "\xff")) == ErrorKind::InvalidPayload);
    CHECK(kind(h.send(kBuyer, "CounterProposal", counter("", "p1"))) == ErrorKind::InvalidPayload);
    CHECK(kind(h.send(kBuyer, "CounterProposal", counter("p2", ""))) == ErrorKind::InvalidPayload);
    CHECK(kind(h.send(kBuyer, "CounterProposal", counter("p2", "  "))) == ErrorKind::InvalidPayload);
    CHECK(kind(h.send(kBuyer, "CounterProposal", counter("p2", "nope"))) == ErrorKind::InvalidPayload);
    CHECK(kind(h.send(kBuyer, "CounterProposal", counter("p1", "p1"))) == ErrorKind::InvalidPayload);  // id reused
    REQUIRE_FALSE(h.send(kBuyer, "CounterProposal", counter("p2", "p1")));
    auto st = h.state();
    CHECK(std::string(st["proposals"]["p2"]["supersedes_proposal_id"].GetString()) == "p1");
    CHECK(std::string(st["proposals"]["p2"]["proposer"].GetString()) == kBuyer);
    CHECK(st["proposals"]["p2"]["tags"].Size() == 0);
    CHECK(std::string(st["proposals"]["p1"]["disposition"].GetString()) == "Live");  // original stays live
    // A chain, and a counter-proposal naming a withdrawn proposal.
    REQUIRE_FALSE(h.send(kSeller, "CounterProposal", counter("p3", "p2")));
    REQUIRE_FALSE(h.send(kSeller, "Withdraw", withdraw("p1")));
    CHECK_FALSE(h.send(kBuyer, "CounterProposal", counter("p4", "p1")));
}

TEST_CASE("MODE-PROP-5: counter_proposal.max_rounds caps counter-proposals at submission", "[proposal]") {
    Harness h(make_session({kBuyer, kSeller}, policy_with(R"({"counter_proposal":{"max_rounds":2}})")));
    REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
    REQUIRE_FALSE(h.send(kBuyer, "CounterProposal", counter("p2", "p1")));
    REQUIRE_FALSE(h.send(kSeller, "CounterProposal", counter("p3", "p2")));
    CHECK(kind(h.send(kBuyer, "CounterProposal", counter("p4", "p3"))) == ErrorKind::InvalidPayload);
    CHECK_FALSE(h.send(kBuyer, "Proposal", proposal("p5")));  // plain proposals are not counted

    SECTION("0 means unlimited; unparsable rules fall back to the default (POL-SCH-8 mode-side)") {
        for (auto rules : {R"({"counter_proposal":{"max_rounds":0}})", R"({"counter_proposal":{"max_rounds":-1}})",
                           R"({"counter_proposal":{"max_rounds":1},"rejection":{"terminal_on_any_reject":"yes"}})"}) {
            Harness u(make_session({kBuyer, kSeller}, policy_with(rules)));
            REQUIRE_FALSE(u.send(kSeller, "Proposal", proposal("p1")));
            for (int i = 0; i < 4; ++i) {
                CHECK_FALSE(u.send(kBuyer, "CounterProposal", counter("c" + std::to_string(i), "p1")));
            }
        }
    }
}

TEST_CASE("MODE-PROP-6: Accept", "[proposal]") {
    Harness h(make_session());
    CHECK(kind(h.send(kBuyer, "Accept", accept("p1"))) == ErrorKind::InvalidPayload);  // no such proposal
    REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
    REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p2")));
    CHECK(kind(h.send(kBuyer, "Accept", "\xff")) == ErrorKind::InvalidPayload);
    REQUIRE_FALSE(h.send(kBuyer, "Accept", accept("p1")));
    REQUIRE_FALSE(h.send(kBuyer, "Accept", accept("p2")));  // replaces the previous accept
    CHECK(std::string(h.state()["accepts"][kBuyer.c_str()].GetString()) == "p2");
    REQUIRE_FALSE(h.send(kSeller, "Accept", accept("p2")));  // the proposer may accept its own proposal
    CHECK(h.phase() == "Converged");
    REQUIRE_FALSE(h.send(kSeller, "Withdraw", withdraw("p1")));
    CHECK(kind(h.send(kBuyer, "Accept", accept("p1"))) == ErrorKind::InvalidPayload);  // withdrawn
}

TEST_CASE("MODE-PROP-7: Reject", "[proposal]") {
    SECTION("live target; non-terminal rejects are only recorded; repeats allowed") {
        Harness h(make_session());
        CHECK(kind(h.send(kBuyer, "Reject", reject("p1", false))) == ErrorKind::InvalidPayload);
        REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
        CHECK(kind(h.send(kBuyer, "Reject", "\xff")) == ErrorKind::InvalidPayload);
        REQUIRE_FALSE(h.send(kBuyer, "Reject", reject("p1", false, "too high")));
        REQUIRE_FALSE(h.send(kBuyer, "Reject", reject("p1", false, "still too high")));
        auto st = h.state();
        CHECK(st["rejections"].Size() == 2);
        CHECK(st["terminal_rejections"].Size() == 0);
        CHECK(std::string(st["phase"].GetString()) == "Negotiating");
        CHECK(kind(h.send(kBuyer, "Commitment", commitment(false))) == ErrorKind::InvalidPayload);
        REQUIRE_FALSE(h.send(kBuyer, "Reject", reject("p1", true, "final")));
        CHECK(
            h.s.mode_state.encode() ==
            R"({"proposals":{"p1":{"proposal_id":"p1","title":"t","summary":"sum","details":[],"tags":[],)"
            R"("proposer":"agent://seller","supersedes_proposal_id":null,"disposition":"Live"}},"accepts":{},)"
            R"("terminal_rejections":[{"proposal_id":"p1","sender":"agent://buyer","reason":"final"}],)"
            R"("rejections":[{"proposal_id":"p1","sender":"agent://buyer","reason":"too high","terminal":false},)"
            R"({"proposal_id":"p1","sender":"agent://buyer","reason":"still too high","terminal":false},)"
            R"({"proposal_id":"p1","sender":"agent://buyer","reason":"final","terminal":true}],"phase":"TerminalRejected"})");
        REQUIRE_FALSE(h.send(kSeller, "Withdraw", withdraw("p1")));
        CHECK(kind(h.send(kBuyer, "Reject", reject("p1", true))) == ErrorKind::InvalidPayload);  // withdrawn
    }
    SECTION("rejection.terminal_on_any_reject makes every reject terminal") {
        Harness h(make_session({kBuyer, kSeller}, policy_with(R"({"rejection":{"terminal_on_any_reject":true}})")));
        REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
        REQUIRE_FALSE(h.send(kBuyer, "Reject", reject("p1", false)));
        CHECK(h.state()["rejections"][0]["terminal"].GetBool());
        CHECK(h.phase() == "TerminalRejected");
    }
}

TEST_CASE("MODE-PROP-8: Withdraw", "[proposal]") {
    Harness h(make_session({kBuyer, kSeller, "agent://third"}));
    REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
    REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p2")));
    REQUIRE_FALSE(h.send(kBuyer, "Accept", accept("p1")));
    REQUIRE_FALSE(h.send("agent://third", "Accept", accept("p2")));
    REQUIRE_FALSE(h.send(kBuyer, "Reject", reject("p1", true)));
    REQUIRE_FALSE(h.send(kBuyer, "Reject", reject("p2", true)));
    CHECK(kind(h.send(kSeller, "Withdraw", "\xff")) == ErrorKind::InvalidPayload);
    CHECK(kind(h.send(kSeller, "Withdraw", withdraw(" "))) == ErrorKind::InvalidPayload);
    CHECK(kind(h.send(kSeller, "Withdraw", withdraw("nope"))) == ErrorKind::InvalidPayload);
    CHECK(kind(h.send(kBuyer, "Withdraw", withdraw("p1"))) == ErrorKind::Forbidden);  // not the proposer
    REQUIRE_FALSE(h.send(kSeller, "Withdraw", withdraw("p1")));
    auto st = h.state();
    CHECK(std::string(st["proposals"]["p1"]["disposition"].GetString()) == "Withdrawn");
    CHECK_FALSE(st["accepts"].HasMember(kBuyer.c_str()));  // accepts of p1 removed
    CHECK(st["accepts"].HasMember("agent://third"));       // accepts of p2 kept
    REQUIRE(st["terminal_rejections"].Size() == 1);        // p2's terminal rejection survives
    CHECK(std::string(st["terminal_rejections"][0]["proposal_id"].GetString()) == "p2");
    CHECK(st["rejections"].Size() == 2);  // the audit trail is kept
    CHECK(std::string(st["phase"].GetString()) == "TerminalRejected");
    CHECK(kind(h.send(kSeller, "Withdraw", withdraw("p1"))) == ErrorKind::InvalidPayload);  // already withdrawn
    CHECK(kind(h.send(kBuyer, "Withdraw", withdraw("p1"))) == ErrorKind::Forbidden);        // proposer check first
    REQUIRE_FALSE(h.send(kSeller, "Withdraw", withdraw("p2")));
    CHECK(h.phase() == "Negotiating");  // withdraw clears terminal rejections
}

TEST_CASE("MODE-PROP-9/10: phase and acceptance criteria", "[proposal]") {
    SECTION("all_parties (default): every participant, the proposer included") {
        Harness h(make_session());
        REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
        REQUIRE_FALSE(h.send(kBuyer, "Accept", accept("p1")));
        CHECK(h.phase() == "Negotiating");
        REQUIRE_FALSE(h.send(kSeller, "Accept", accept("p1")));
        CHECK(h.phase() == "Converged");
        REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p2")));
        REQUIRE_FALSE(h.send(kSeller, "Accept", accept("p2")));  // moves the seller's accept away
        CHECK(h.phase() == "Negotiating");
        REQUIRE_FALSE(h.send(kBuyer, "Reject", reject("p2", true)));
        CHECK(h.phase() == "TerminalRejected");  // terminal rejection wins over convergence
    }
    SECTION("an initiator outside the participant list is not needed for all_parties") {
        Session s = make_session({kSeller, "agent://third"});
        Harness h(s);
        REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
        REQUIRE_FALSE(h.send(kSeller, "Accept", accept("p1")));
        REQUIRE_FALSE(h.send("agent://third", "Accept", accept("p1")));
        CHECK(h.phase() == "Converged");
    }
    SECTION("unknown criterion behaves as all_parties") {
        Harness h(make_session({kBuyer, kSeller}, policy_with(R"({"acceptance":{"criterion":"whatever"}})")));
        REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
        REQUIRE_FALSE(h.send(kBuyer, "Accept", accept("p1")));
        CHECK(h.phase() == "Negotiating");
        REQUIRE_FALSE(h.send(kSeller, "Accept", accept("p1")));
        CHECK(h.phase() == "Converged");
    }
    SECTION("counterparty: everyone but the proposer") {
        Harness h(make_session({kBuyer, kSeller}, policy_with(R"({"acceptance":{"criterion":"counterparty"}})")));
        REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
        CHECK(h.phase() == "Negotiating");
        REQUIRE_FALSE(h.send(kBuyer, "Accept", accept("p1")));
        CHECK(h.phase() == "Converged");
    }
    SECTION("counterparty with a single participant converges on the first proposal (Q-33)") {
        Harness h(make_session({kSeller}, policy_with(R"({"acceptance":{"criterion":"counterparty"}})")));
        REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
        CHECK(h.phase() == "Converged");
    }
    SECTION("initiator: the initiator's accept decides") {
        Harness h(make_session({kBuyer, kSeller, "agent://third"},
                               policy_with(R"({"acceptance":{"criterion":"initiator"}})")));
        REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
        REQUIRE_FALSE(h.send(kSeller, "Accept", accept("p1")));
        CHECK(h.phase() == "Negotiating");
        REQUIRE_FALSE(h.send(kBuyer, "Accept", accept("p1")));
        CHECK(h.phase() == "Converged");
    }
    SECTION("a criterion in rules that fail to parse falls back to all_parties (POL-SCH-8 mode-side)") {
        Harness h(
            make_session({kBuyer, kSeller},
                         policy_with(R"({"acceptance":{"criterion":"counterparty"},"commitment":{"authority":5}})")));
        REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
        REQUIRE_FALSE(h.send(kBuyer, "Accept", accept("p1")));
        CHECK(h.phase() == "Negotiating");
    }
}

TEST_CASE("MODE-PROP-11: Commitment", "[proposal]") {
    SECTION("shared validation runs before the phase check") {
        Harness h(make_session());
        CHECK(kind(h.send(kBuyer, "Commitment", "\xff")) == ErrorKind::InvalidPayload);  // MODE-CMT-1
        macp::v1::CommitmentPayload c;
        REQUIRE(c.ParseFromString(commitment(true)));
        c.set_mode_version("2.0.0");
        CHECK(kind(h.send(kBuyer, "Commitment", c.SerializeAsString())) == ErrorKind::InvalidPayload);  // MODE-CMT-3
        CHECK(kind(h.send(kBuyer, "Commitment", commitment(true))) == ErrorKind::InvalidPayload);       // Negotiating
        CHECK(h.phase() == "Negotiating");
        REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
        REQUIRE_FALSE(h.send(kSeller, "Accept", accept("p1")));
        REQUIRE_FALSE(h.send(kBuyer, "Accept", accept("p1")));
        CHECK(kind(h.send(kBuyer, "Commitment", commitment(false, "proposal.accepted"))) ==
              ErrorKind::InvalidPayload);  // MODE-CMT-6
        c.set_mode_version("1.0.0");
        c.set_policy_version("policy.other");
        CHECK(kind(h.send(kBuyer, "Commitment", c.SerializeAsString())) == ErrorKind::InvalidPayload);  // MODE-CMT-4
        c.set_policy_version("");  // 0.6: empty matches the bound policy
        REQUIRE_FALSE(h.send(kBuyer, "Commitment", c.SerializeAsString()));
        CHECK(h.s.state == SessionState::Resolved);
        CHECK(*h.s.resolution == c.SerializeAsString());  // LIFE-4
        CHECK(h.phase() == "Committed");
    }
    SECTION("terminal rejection allows a negative (and, MODE-CMT-8, even a positive) commitment") {
        for (bool positive : {false, true}) {
            Harness h(make_session());
            REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
            REQUIRE_FALSE(h.send(kBuyer, "Reject", reject("p1", true)));
            CHECK_FALSE(h.send(kBuyer, "Commitment", commitment(positive)));
            CHECK(h.phase() == "Committed");
        }
    }
    SECTION("a committed state is immutable") {
        Session s = make_session();
        s.mode_state = macp::modes::ModeStateBox(
            mode()
                .decode_state(
                    R"({"proposals":{},"accepts":{},"terminal_rejections":[],"rejections":[],"phase":"Committed"})")
                .value());
        const auto ctx_view = s.view();
        MessageContext ctx{ctx_view, kSeller, "Proposal", proposal("p9"), 1};
        auto r = mode().apply(ctx);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::SessionNotOpen);
    }
    SECTION("a session without proposal state is InvalidModeState") {
        Session s = make_session();
        const auto ctx_view = s.view();
        MessageContext ctx{ctx_view, kSeller, "Proposal", proposal("p9"), 1};
        auto r = mode().apply(ctx);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::InvalidModeState);
    }
}

TEST_CASE("MODE-PROP-12: decode_state", "[proposal]") {
    auto bad = [](const std::string& bytes) {
        auto r = mode().decode_state(bytes);
        REQUIRE_FALSE(r.ok());
        return r.error().kind;
    };
    CHECK(bad("{not json") == ErrorKind::InvalidModeState);
    CHECK(bad("[]") == ErrorKind::InvalidModeState);
    CHECK(bad(R"({"proposals":{},"accepts":{}})") == ErrorKind::InvalidModeState);
    CHECK(bad(R"({"proposals":{},"accepts":{},"terminal_rejections":[],"phase":"Done"})") ==
          ErrorKind::InvalidModeState);
    CHECK(bad(R"({"proposals":{"p1":{"proposal_id":"p1","title":"t","summary":"","details":[256],"tags":[],)"
              R"("proposer":"a","supersedes_proposal_id":null,"disposition":"Live"}},"accepts":{},)"
              R"("terminal_rejections":[]})") == ErrorKind::InvalidModeState);
    // apply() files every proposal under its own id; a record under another key is not ours.
    CHECK(bad(R"({"proposals":{"p2":{"proposal_id":"p1","title":"t","summary":"","details":[],"tags":[],)"
              R"("proposer":"a","supersedes_proposal_id":null,"disposition":"Live"}},"accepts":{},)"
              R"("terminal_rejections":[]})") == ErrorKind::InvalidModeState);

    // Empty bytes are the initial state; absent rejections and phase take the reference's defaults.
    const std::string initial =
        R"({"proposals":{},"accepts":{},"terminal_rejections":[],"rejections":[],"phase":"Negotiating"})";
    auto empty = mode().decode_state("");
    REQUIRE(empty.ok());
    CHECK(empty.value()->encode() == initial);
    auto old = mode().decode_state(R"({"proposals":{},"accepts":{},"terminal_rejections":[]})");
    REQUIRE(old.ok());
    CHECK(old.value()->encode() == initial);
}

TEST_CASE("A decoded state carries on like the one it was encoded from", "[proposal]") {
    // The tallies behind the phase and the round limit are not encoded; decode_state() rebuilds them.
    Harness h(make_session({kBuyer, kSeller}, policy_with(R"({"counter_proposal":{"max_rounds":2}})")));
    REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
    REQUIRE_FALSE(h.send(kBuyer, "CounterProposal", counter("p2", "p1")));
    REQUIRE_FALSE(h.send(kSeller, "Accept", accept("p2")));
    REQUIRE_FALSE(h.send(kBuyer, "Reject", reject("p1", true)));
    Harness back(h.s);
    back.s.mode_state = macp::modes::ModeStateBox(mode().decode_state(h.s.mode_state.encode()).value());
    for (auto* x : {&h, &back}) {
        REQUIRE_FALSE(x->send(kSeller, "CounterProposal", counter("p3", "p2")));
        CHECK(kind(x->send(kBuyer, "CounterProposal", counter("p4", "p3"))) == ErrorKind::InvalidPayload);
        CHECK(x->phase() == "TerminalRejected");
        REQUIRE_FALSE(x->send(kSeller, "Withdraw", withdraw("p1")));  // clears the terminal rejection
        CHECK(x->phase() == "Negotiating");
        REQUIRE_FALSE(x->send(kBuyer, "Accept", accept("p2")));
        CHECK(x->phase() == "Converged");
    }
    CHECK(back.s.mode_state.encode() == h.s.mode_state.encode());
}

TEST_CASE("apply() leaves the state alone; the commit step changes it", "[proposal]") {
    Harness h(make_session());
    const auto before = h.s.mode_state.encode();
    const auto ctx_view = h.s.view();
    MessageContext ctx{ctx_view, kSeller, "Proposal", proposal("p1"), 1};
    auto out = mode().apply(ctx);
    REQUIRE(out.ok());
    CHECK(h.s.mode_state.encode() == before);
    REQUIRE(out.value().commit);
    out.value().commit(*h.s.mode_state.get());
    CHECK(h.state()["proposals"].HasMember("p1"));
}

namespace {

// MODE-PROP-9/10 as the reference states them, over the encoded state: the phase apply() now
// derives without scanning the proposals must agree with it.
std::string phase_by_scan(const rapidjson::Document& st, const Session& s, const std::string& criterion) {
    if (st["terminal_rejections"].Size() != 0) return "TerminalRejected";
    auto accepts_is = [&](const std::string& x, const std::string& pid) {
        auto it = st["accepts"].FindMember(x.c_str());
        return it != st["accepts"].MemberEnd() && pid == it->value.GetString();
    };
    const auto& parts = s.participants;
    for (const auto& m : st["proposals"].GetObject()) {
        const auto& p = m.value;
        if (std::string(p["disposition"].GetString()) == "Withdrawn") continue;
        const std::string pid = p["proposal_id"].GetString();
        const std::string proposer = p["proposer"].GetString();
        bool meets;
        if (criterion == "counterparty") {
            meets = std::all_of(parts.begin(), parts.end(),
                                [&](const std::string& x) { return x == proposer || accepts_is(x, pid); });
        } else if (criterion == "initiator") {
            meets = accepts_is(s.initiator, pid);
        } else {
            meets = !parts.empty() &&
                    std::all_of(parts.begin(), parts.end(), [&](const std::string& x) { return accepts_is(x, pid); });
        }
        if (meets) return "Converged";
    }
    return "Negotiating";
}

}  // namespace

TEST_CASE("MODE-PROP-9/10: the phase matches a full recount over random histories", "[proposal]") {
    const std::vector<std::vector<std::string>> groups = {
        {kBuyer, kSeller}, {kSeller}, {kBuyer}, {kBuyer, kSeller, "agent://third"}, {kSeller, "agent://third"}};
    std::mt19937 rng(8);
    auto pick = [&](size_t n) { return static_cast<size_t>(std::uniform_int_distribution<size_t>(0, n - 1)(rng)); };
    int accepted = 0;
    std::map<std::string, int> seen;  // phase -> times
    for (const std::string criterion : {"all_parties", "counterparty", "initiator", "whatever"}) {
        for (const auto& parts : groups) {
            INFO("criterion " << criterion << ", " << parts.size() << " participants");
            Harness h(make_session(parts, policy_with(R"({"acceptance":{"criterion":")" + criterion + R"("}})")));
            std::vector<std::string> senders = parts;
            senders.push_back(kBuyer);  // the initiator, listed or not
            size_t ids = 0;             // proposals p0 .. p<ids-1> were offered; targets may also miss
            for (int i = 0; i < 400; ++i) {
                const std::string sender = senders[pick(senders.size())];
                const std::string fresh = "p" + std::to_string(ids);
                // Mostly recent proposals, so accepts gather on a few of them.
                const std::string target = "p" + std::to_string(ids - std::min(ids, pick(4)));
                std::pair<std::string, std::string> msg;  // type, payload
                switch (pick(10)) {
                    case 0: msg = {"Proposal", proposal(fresh)}; break;
                    case 1: msg = {"CounterProposal", counter(fresh, target)}; break;
                    case 2: msg = {"Reject", reject(target, pick(3) == 0)}; break;
                    case 3: msg = {"Withdraw", withdraw(target)}; break;
                    default: msg = {"Accept", accept(target)}; break;
                }
                const auto& [type, payload] = msg;
                INFO("step " << i << ": " << type << " from " << sender);
                if (!h.send(sender, type, payload)) {
                    ++accepted;
                    if (type == "Proposal" || type == "CounterProposal") ++ids;
                }
                CHECK(h.phase() == phase_by_scan(h.state(), h.s, criterion));
                ++seen[h.phase()];
            }
        }
    }
    CHECK(accepted > 2000);
    CHECK(seen["Negotiating"] > 500);
    CHECK(seen["Converged"] > 500);
    CHECK(seen["TerminalRejected"] > 500);
}

TEST_CASE("Issue #8 cases 1/4: a state past 16 MiB still encodes and decodes back", "[proposal]") {
    Harness h(make_session());
    const std::string big(1u << 20, '\x01');  // every byte JSON-escapes to \u0001, six bytes
    for (int i = 0; i < 3; ++i) REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p" + std::to_string(i), big)));
    const std::string bytes = h.s.mode_state.encode();
    CHECK(bytes.size() > macp::util::kMaxJsonBytes);
    auto back = mode().decode_state(bytes);
    REQUIRE(back.ok());
    CHECK(back.value()->encode() == bytes);
    REQUIRE_FALSE(h.send(kBuyer, "Accept", accept("p1")));
    REQUIRE_FALSE(h.send(kSeller, "Accept", accept("p1")));
    CHECK(h.phase() == "Converged");
}

TEST_CASE("POL-SCH-4: proposal rule parsing", "[proposal][policy]") {
    auto d = macp::policy::parse_proposal_rules("{}");
    REQUIRE(d.ok());
    CHECK(d.value().acceptance_criterion == "all_parties");
    CHECK(d.value().counter_proposal_max_rounds == 0);
    CHECK_FALSE(d.value().rejection_terminal_on_any_reject);

    auto full = macp::policy::parse_proposal_rules(
        R"({"acceptance":{"criterion":"initiator"},"counter_proposal":{"max_rounds":3},)"
        R"("rejection":{"terminal_on_any_reject":true},"commitment":{"authority":"any_participant"},"extra":1})");
    REQUIRE(full.ok());
    CHECK(full.value().acceptance_criterion == "initiator");
    CHECK(full.value().counter_proposal_max_rounds == 3);
    CHECK(full.value().rejection_terminal_on_any_reject);

    // The default policy's decision-shaped rules parse to the proposal defaults.
    CHECK(macp::policy::parse_proposal_rules(macp::policy::default_policy().rules).ok());

    // Type mismatches fail the whole object, with serde's wording.
    auto e = [](const char* rules) {
        auto r = macp::policy::parse_proposal_rules(rules);
        REQUIRE_FALSE(r.ok());
        return r.error();
    };
    CHECK(e(R"({"counter_proposal":{"max_rounds":"x"}})") == R"(invalid type: string "x", expected usize)");
    CHECK(e(R"({"counter_proposal":{"max_rounds":-1}})") == "invalid value: integer `-1`, expected usize");
    CHECK(e(R"({"counter_proposal":{"max_rounds":1.5}})") == "invalid type: floating point `1.5`, expected usize");
    CHECK(e(R"({"counter_proposal":5})") == "invalid type: integer `5`, expected struct CounterProposalRules");
    CHECK(e(R"({"acceptance":{"criterion":null}})") == "invalid type: null, expected a string");
    CHECK(e(R"({"rejection":{"terminal_on_any_reject":1}})") == "invalid type: integer `1`, expected a boolean");
    CHECK(e(R"({"commitment":{"designated_roles":[1]}})") == "invalid type: integer `1`, expected a string");
    CHECK(e(R"([])") == "invalid type: sequence, expected struct ProposalPolicyRules");
    CHECK(e("not json") == "rules are not valid JSON");
    // BTreeMap order: "acceptance" is checked before "rejection".
    CHECK(e(R"({"rejection":{"terminal_on_any_reject":1},"acceptance":{"criterion":2}})") ==
          "invalid type: integer `2`, expected a string");
    // A duplicated key keeps its last value (serde_json Map semantics).
    auto dup = macp::policy::parse_proposal_rules(R"({"counter_proposal":{"max_rounds":"x","max_rounds":4}})");
    REQUIRE(dup.ok());
    CHECK(dup.value().counter_proposal_max_rounds == 4);
}

TEST_CASE("POL-PROP-1 / POL-EVAL-1 / POL-SCH-8: proposal commitment evaluation", "[proposal][policy]") {
    using macp::policy::evaluate_proposal_commitment;
    auto limit2 = policy_with(R"({"counter_proposal":{"max_rounds":2}})");
    CHECK(evaluate_proposal_commitment(&limit2, 2, true).empty());
    CHECK(evaluate_proposal_commitment(&limit2, 5, true) ==
          std::vector<std::string>{"counter-proposal limit exceeded: 5 of 2 allowed"});
    CHECK(evaluate_proposal_commitment(&limit2, 5, false).empty());  // 0.6: declines are not gated
    auto zero = policy_with(R"({"counter_proposal":{"max_rounds":0}})");
    CHECK(evaluate_proposal_commitment(&zero, 100, true).empty());
    CHECK(evaluate_proposal_commitment(&macp::policy::default_policy(), 100, true).empty());
    CHECK(evaluate_proposal_commitment(nullptr, 100, true).empty());

    auto v2 = policy_with("{}", 2);
    CHECK(evaluate_proposal_commitment(&v2, 0, true).empty());
    auto v3 = policy_with(R"({"counter_proposal":"bad"})", 3);  // schema version is checked first
    CHECK(evaluate_proposal_commitment(&v3, 0, false) ==
          std::vector<std::string>{"unsupported policy schema version: 3 (supported: [1, 2])"});

    auto bad = policy_with(R"({"counter_proposal":{"max_rounds":"x"}})");
    CHECK(evaluate_proposal_commitment(&bad, 0, false) ==
          std::vector<std::string>{
              R"(policy 'p.test' rules failed to parse at evaluation time: invalid type: string "x", expected usize)"});
}

TEST_CASE("Policy denial through the mode leaves the session open", "[proposal][policy]") {
    SECTION("unsupported schema version") {
        Harness h(make_session({kBuyer, kSeller}, policy_with("{}", 3)));
        REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
        REQUIRE_FALSE(h.send(kSeller, "Accept", accept("p1")));
        REQUIRE_FALSE(h.send(kBuyer, "Accept", accept("p1")));
        auto before = h.s.mode_state.encode();
        auto e = h.send(kBuyer, "Commitment", commitment_for(h.s, true));
        REQUIRE(kind(e) == ErrorKind::PolicyDenied);
        CHECK(e->code() == std::string("POLICY_DENIED"));
        CHECK(e->reasons == std::vector<std::string>{"unsupported policy schema version: 3 (supported: [1, 2])"});
        CHECK(h.s.state == SessionState::Open);
        CHECK(h.s.mode_state.encode() == before);
    }
    SECTION("a '*' policy whose blocks do not fit the proposal schema denies at evaluation time (0.6)") {
        PolicyDefinition star{"p.star", "*", "", R"({"rejection":true})", 1};
        Harness h(make_session({kBuyer, kSeller}, star));
        REQUIRE_FALSE(h.send(kSeller, "Proposal", proposal("p1")));
        REQUIRE_FALSE(h.send(kSeller, "Accept", accept("p1")));
        REQUIRE_FALSE(h.send(kBuyer, "Accept", accept("p1")));
        auto e = h.send(kBuyer, "Commitment", commitment_for(h.s, false));
        REQUIRE(kind(e) == ErrorKind::PolicyDenied);
        CHECK(e->reasons == std::vector<std::string>{
                                "policy 'p.star' rules failed to parse at evaluation time: invalid type: boolean "
                                "`true`, expected struct RejectionRules"});
    }
}

TEST_CASE("Replay reproduces identical state bytes", "[proposal]") {
    std::vector<std::tuple<std::string, std::string, std::string>> msgs = {
        {kSeller, "Proposal", proposal("p1")}, {kBuyer, "CounterProposal", counter("p2", "p1")},
        {kBuyer, "Accept", accept("p2")},      {kSeller, "Reject", reject("p1", false)},
        {kSeller, "Accept", accept("p2")},     {kBuyer, "Commitment", commitment(true)}};
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
// Conformance fixtures (/work/shared/conformance/{spec,runtime-0.6.1}/proposal_*.json)
// ---------------------------------------------------------------------------------------------

namespace {

using mode_test::bytes_member;
using mode_test::str_member;

std::string encode_fixture_payload(const std::string& type, const rapidjson::Value& p) {
    if (type == "Commitment") return mode_test::fixture_commitment(p);  // CONF-7
    if (type == "Proposal") {
        pb::ProposalPayload x;
        x.set_proposal_id(str_member(p, "proposal_id"));
        x.set_title(str_member(p, "title"));
        x.set_summary(str_member(p, "summary"));
        x.set_details(bytes_member(p, "details"));
        if (p.HasMember("tags")) {
            for (const auto& t : p["tags"].GetArray()) x.add_tags(t.GetString());
        }
        return x.SerializeAsString();
    }
    if (type == "CounterProposal") {
        pb::CounterProposalPayload x;
        x.set_proposal_id(str_member(p, "proposal_id"));
        x.set_supersedes_proposal_id(str_member(p, "supersedes_proposal_id"));
        x.set_title(str_member(p, "title"));
        x.set_summary(str_member(p, "summary"));
        x.set_details(bytes_member(p, "details"));
        return x.SerializeAsString();
    }
    if (type == "Accept") {
        pb::AcceptPayload x;
        x.set_proposal_id(str_member(p, "proposal_id"));
        x.set_reason(str_member(p, "reason"));
        return x.SerializeAsString();
    }
    if (type == "Reject") {
        pb::RejectPayload x;
        x.set_proposal_id(str_member(p, "proposal_id"));
        x.set_reason(str_member(p, "reason"));
        x.set_terminal(p.HasMember("terminal") && p["terminal"].GetBool());
        return x.SerializeAsString();
    }
    if (type == "Withdraw") {
        pb::WithdrawPayload x;
        x.set_proposal_id(str_member(p, "proposal_id"));
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
    REQUIRE(std::string(f["mode"].GetString()) == "macp.mode.proposal.v1");

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
        // POL-BIND-1: an empty policy_version binds policy.default.
        std::string pv = str_member(f, "policy_version");
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
    std::string want_state = f["expected_final_state"].GetString();
    CHECK(macp::kernel::state_name(h.s.state) == want_state);
    if (f.HasMember("expect_resolution_present")) {
        CHECK(h.s.resolution.has_value() == f["expect_resolution_present"].GetBool());
    }
    mode_test::check_expected_resolution(f, h.s.resolution);  // CONF-14
    if (f.HasMember("expected_mode_state")) {
        auto actual = h.state();
        CHECK(mode_test::subset_match(f["expected_mode_state"], actual));
    }
    // CONF-16: replaying the accepted messages reproduces the same bytes.
    CHECK(replay.s.mode_state.encode() == h.s.mode_state.encode());
    CHECK(replay.s.resolution == h.s.resolution);
    CHECK(replay.s.state == h.s.state);
}

}  // namespace

TEST_CASE("Conformance fixtures: proposal", "[proposal][conformance]") {
    if (!std::filesystem::exists(mode_test::kConformanceRoot)) {
        WARN("conformance fixtures not found at " << mode_test::kConformanceRoot << "; skipping");
        return;
    }
    int count = 0;
    for (const auto& path : mode_test::conformance_fixtures("proposal_")) {
        run_fixture(path);
        ++count;
    }
    CHECK(count >= 5);  // spec: happy + reject paths; runtime-0.6.1: + negative outcome
}
