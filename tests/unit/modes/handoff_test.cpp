// Handoff mode (BEHAVIOR.md §4.5 MODE-HOFF-*, §5 POL-SCH-6 / POL-HOFF-1, DELTA-0.6 MODE-HOFF-4/9,
// proto 0.1.6 HandoffAcceptPayload.implicit) and the conformance fixtures handoff_*.json.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "kernel/session.hpp"
#include "macp/modes/handoff/v1/handoff.pb.h"
#include "macp/v1/core.pb.h"
#include "modes/handoff.hpp"
#include "policy/handoff_evaluator.hpp"
#include "policy/policy_definition.hpp"
#include "util/json.hpp"

#include "mode_test_support.hpp"

using namespace macp;
using protocol::ErrorKind;
namespace hpb = macp::modes::handoff::v1;

namespace {

const char* kOwner = "agent://owner";
const char* kTarget = "agent://target";
const char* kOther = "agent://other";
const char* kOutsider = "agent://outsider";

const modes::HandoffMode& mode() {
    static const modes::HandoffMode m(mode_test::standard_descriptor("macp.mode.handoff.v1"));
    return m;
}

policy::PolicyDefinition make_policy(const std::string& rules, uint32_t schema_version = 1) {
    return policy::PolicyDefinition{"policy.test", "macp.mode.handoff.v1", "test", rules, schema_version};
}

kernel::Session make_session(std::vector<std::string> participants, std::optional<policy::PolicyDefinition> pol = {},
                             std::string initiator = kOwner) {
    auto s = mode_test::base_session("macp.mode.handoff.v1", std::move(participants), std::move(initiator));
    mode_test::bind_policy_or_default(s, std::move(pol));
    return s;
}

// Drives a session the way the kernel does, starting the acceptance clock at 1'000'000 ms.
struct Driver : mode_test::CodeDriver<modes::HandoffMode> {
    explicit Driver(kernel::Session session) : CodeDriver(mode(), std::move(session), 1'000'000) {}
};

std::string offer(const std::string& id = "h1", const std::string& target = kTarget) {
    hpb::HandoffOfferPayload p;
    p.set_handoff_id(id);
    p.set_target_participant(target);
    p.set_scope("support");
    p.set_reason("escalate");
    return p.SerializeAsString();
}

std::string context(const std::string& id = "h1", const std::string& bytes = "ctx") {
    hpb::HandoffContextPayload p;
    p.set_handoff_id(id);
    p.set_content_type("text/plain");
    p.set_context(bytes);
    return p.SerializeAsString();
}

std::string accept(const std::string& id = "h1", const std::string& by = "", bool implicit = false,
                   const std::string& reason = "ready") {
    hpb::HandoffAcceptPayload p;
    p.set_handoff_id(id);
    p.set_accepted_by(by);
    p.set_reason(reason);
    p.set_implicit(implicit);
    return p.SerializeAsString();
}

std::string decline(const std::string& id = "h1", const std::string& by = "", const std::string& reason = "busy") {
    hpb::HandoffDeclinePayload p;
    p.set_handoff_id(id);
    p.set_declined_by(by);
    p.set_reason(reason);
    return p.SerializeAsString();
}

std::string commitment(bool positive = true, const std::string& policy_version = "policy.default",
                       const std::string& action = "") {
    macp::v1::CommitmentPayload c;
    c.set_commitment_id("c1");
    c.set_action(action.empty() ? (positive ? "handoff.accepted" : "handoff.declined") : action);
    c.set_authority_scope("test");
    c.set_reason("done");
    c.set_mode_version("1.0.0");
    c.set_policy_version(policy_version);
    c.set_configuration_version("cfg-1");
    c.set_outcome_positive(positive);
    return c.SerializeAsString();
}

rapidjson::Document state_of(const kernel::Session& s) {
    return mode_test::state_json(s);
}

std::string disposition(const kernel::Session& s, const char* id) {
    auto st = state_of(s);
    return st["offers"][id]["disposition"].GetString();
}

const char* kTimeout100 = R"({"acceptance":{"implicit_accept_timeout_ms":100}})";

}  // namespace

// ---- SessionStart -------------------------------------------------------------------------------------

TEST_CASE("MODE-HOFF-1: SessionStart needs two participants including the initiator", "[handoff]") {
    auto ok = mode().on_session_start(make_session({kOwner, kTarget}).view());
    REQUIRE(ok.ok());
    CHECK(ok.value()->encode() == R"({"offers":{},"contexts":{}})");
    for (const auto& parts :
         {std::vector<std::string>{kOwner}, std::vector<std::string>{}, std::vector<std::string>{kTarget, kOther}}) {
        auto r = mode().on_session_start(make_session(parts).view());
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::InvalidPayload);
    }
    CHECK(mode().strict());
    CHECK(mode().standards_track());
    CHECK(mode().descriptor().mode == "macp.mode.handoff.v1");
}

// ---- Authorization --------------------------------------------------------------------------------------

TEST_CASE("MODE-HOFF-2: authorization runs before payload validation", "[handoff]") {
    Driver d(make_session({kOwner, kTarget, kOther}));
    CHECK(d.send(kTarget, "HandoffOffer", offer("h1", kOther)) == "FORBIDDEN");
    CHECK(d.send(kTarget, "HandoffOffer", "\xff") == "FORBIDDEN");  // MODE-GEN-3
    CHECK(d.send(kOutsider, "HandoffOffer", offer()) == "FORBIDDEN");
    for (const char* t : {"HandoffContext", "HandoffAccept", "HandoffDecline"}) {
        CHECK(d.send(kOutsider, t, "\xff") == "FORBIDDEN");
    }
    CHECK(d.send(kTarget, "Commitment", commitment()) == "FORBIDDEN");  // POL-AUTH-3
    CHECK(d.send(kTarget, "Vote", "") == "INVALID_ENVELOPE");           // unknown type from a participant
    CHECK(d.send(kOutsider, "Vote", "") == "FORBIDDEN");
    CHECK(d.send(kOwner, "Commitment", commitment()) == "INVALID_ENVELOPE");  // nothing answered yet
    CHECK(d.send(kOwner, "HandoffOffer", "\xff") == "INVALID_ENVELOPE");      // MODE-GEN-4
}

TEST_CASE("MODE-HOFF-2 / POL-AUTH-1,2: commitment authority from the bound policy", "[handoff]") {
    SECTION("any_participant") {
        Driver d(make_session({kOwner, kTarget}, make_policy(R"({"commitment":{"authority":"any_participant"}})")));
        REQUIRE(d.send(kOwner, "HandoffOffer", offer()).empty());
        REQUIRE(d.send(kTarget, "HandoffAccept", accept()).empty());
        CHECK(d.send(kOutsider, "Commitment", commitment(true, "policy.test")) == "FORBIDDEN");
        CHECK(d.send(kTarget, "Commitment", commitment(true, "policy.test")).empty());
    }
    SECTION("designated_role excludes the initiator") {
        Driver d(make_session(
            {kOwner, kTarget, kOther},
            make_policy(R"({"commitment":{"authority":"designated_role","designated_roles":["agent://other"]}})")));
        REQUIRE(d.send(kOwner, "HandoffOffer", offer()).empty());
        REQUIRE(d.send(kTarget, "HandoffDecline", decline()).empty());
        CHECK(d.send(kOwner, "Commitment", commitment(false, "policy.test")) == "FORBIDDEN");
        CHECK(d.send(kOther, "Commitment", commitment(false, "policy.test")).empty());
    }
}

// ---- HandoffOffer ---------------------------------------------------------------------------------------

TEST_CASE("MODE-HOFF-3: HandoffOffer validation", "[handoff]") {
    Driver d(make_session({kOwner, kTarget, kOther}));
    CHECK(d.send(kOwner, "HandoffOffer", offer("")) == "INVALID_ENVELOPE");
    CHECK(d.send(kOwner, "HandoffOffer", offer("h1", "")) == "INVALID_ENVELOPE");
    CHECK(d.send(kOwner, "HandoffOffer", offer("h1", kOutsider)) == "INVALID_ENVELOPE");
    CHECK(d.send(kOwner, "HandoffOffer", offer("h1", kOwner)) == "INVALID_ENVELOPE");
    REQUIRE(d.send(kOwner, "HandoffOffer", offer("h1", kTarget)).empty());
    CHECK(d.send(kOwner, "HandoffOffer", offer("h2", kOther)) == "INVALID_ENVELOPE");  // h1 still Offered
    CHECK(d.send(kOwner, "HandoffOffer", offer("h1", kOther)) == "INVALID_ENVELOPE");  // id reused
    REQUIRE(d.send(kTarget, "HandoffDecline", decline()).empty());
    CHECK(d.send(kOwner, "HandoffOffer", offer("h1", kOther)) == "INVALID_ENVELOPE");  // id reused after decline
    REQUIRE(d.send(kOwner, "HandoffOffer", offer("h2", kOther)).empty());              // new id after decline
    REQUIRE(d.send(kOther, "HandoffAccept", accept("h2")).empty());
    CHECK(d.send(kOwner, "HandoffOffer", offer("h3", kTarget)) == "INVALID_ENVELOPE");  // after an accept
}

TEST_CASE("MODE-HOFF-4 / MODE-HOFF-9: the stored offer uses the acceptance clock", "[handoff]") {
    Driver d(make_session({kOwner, kTarget}));
    REQUIRE(d.send(kOwner, "HandoffOffer", offer(), nullptr, 123'456).empty());
    auto st = state_of(d.s);
    CHECK(util::to_json(st["offers"]["h1"]) ==
          R"({"handoff_id":"h1","target_participant":"agent://target","scope":"support","reason":"escalate",)"
          R"("offered_by":"agent://owner","disposition":"Offered","accepted_by":null,"declined_by":null,)"
          R"("outcome_reason":null,"offered_at_ms":123456,"implicit":false})");
}

// ---- HandoffContext ---------------------------------------------------------------------------------------

TEST_CASE("MODE-HOFF-5: HandoffContext", "[handoff]") {
    Driver d(make_session({kOwner, kTarget, kOther}));
    CHECK(d.send(kOwner, "HandoffContext", context()) == "INVALID_ENVELOPE");  // no offer
    REQUIRE(d.send(kOwner, "HandoffOffer", offer()).empty());
    CHECK(d.send(kTarget, "HandoffContext", context()) == "FORBIDDEN");  // not the offerer
    CHECK(d.send(kOther, "HandoffContext", context()) == "FORBIDDEN");
    CHECK(d.send(kOwner, "HandoffContext", context("h9")) == "INVALID_ENVELOPE");
    REQUIRE(d.send(kOwner, "HandoffContext", context("h1", std::string("\x00\xff", 2))).empty());
    REQUIRE(d.send(kTarget, "HandoffAccept", accept()).empty());
    REQUIRE(d.send(kOwner, "HandoffContext", context("h1", "late")).empty());  // any disposition
    auto st = state_of(d.s);
    CHECK(util::to_json(st["contexts"]) ==
          R"({"h1":[{"content_type":"text/plain","context":"AP8=","sender":"agent://owner"},)"
          R"({"content_type":"text/plain","context":"bGF0ZQ==","sender":"agent://owner"}]})");
}

// ---- HandoffAccept / HandoffDecline -------------------------------------------------------------------------

TEST_CASE("MODE-HOFF-6: HandoffAccept and HandoffDecline", "[handoff]") {
    Driver d(make_session({kOwner, kTarget, kOther}));
    CHECK(d.send(kTarget, "HandoffAccept", accept()) == "INVALID_ENVELOPE");  // no offer
    CHECK(d.send(kTarget, "HandoffDecline", decline()) == "INVALID_ENVELOPE");
    REQUIRE(d.send(kOwner, "HandoffOffer", offer()).empty());
    CHECK(d.send(kOther, "HandoffAccept", accept()) == "FORBIDDEN");  // not the target
    CHECK(d.send(kOwner, "HandoffDecline", decline()) == "FORBIDDEN");
    CHECK(d.send(kOther, "HandoffAccept", accept("h1", kTarget)) == "FORBIDDEN");  // target checked first
    CHECK(d.send(kTarget, "HandoffAccept", accept("h1", kOther)) == "INVALID_ENVELOPE");
    CHECK(d.send(kTarget, "HandoffDecline", decline("h1", kOther)) == "INVALID_ENVELOPE");
    CHECK(d.send(kTarget, "HandoffAccept", "\xff") == "INVALID_ENVELOPE");
    SECTION("accept") {
        REQUIRE(d.send(kTarget, "HandoffAccept", accept("h1", kTarget, false, "on it")).empty());
        auto st = state_of(d.s);
        const auto& o = st["offers"]["h1"];
        CHECK(std::string(o["disposition"].GetString()) == "Accepted");
        CHECK(std::string(o["accepted_by"].GetString()) == kTarget);
        CHECK(o["declined_by"].IsNull());
        CHECK(std::string(o["outcome_reason"].GetString()) == "on it");
        CHECK_FALSE(o["implicit"].GetBool());
        CHECK(d.send(kTarget, "HandoffAccept", accept()) == "INVALID_ENVELOPE");  // competing accept
        CHECK(d.send(kTarget, "HandoffDecline", decline()) == "INVALID_ENVELOPE");
    }
    SECTION("decline") {
        REQUIRE(d.send(kTarget, "HandoffDecline", decline("h1", "", "no capacity")).empty());
        auto st = state_of(d.s);
        const auto& o = st["offers"]["h1"];
        CHECK(std::string(o["disposition"].GetString()) == "Declined");
        CHECK(o["accepted_by"].IsNull());
        CHECK(std::string(o["declined_by"].GetString()) == kTarget);
        CHECK(std::string(o["outcome_reason"].GetString()) == "no capacity");
        CHECK(d.send(kTarget, "HandoffAccept", accept()) == "INVALID_ENVELOPE");
    }
}

TEST_CASE("proto 0.1.6: a client HandoffAccept with implicit=true is refused", "[handoff]") {
    Driver d(make_session({kOwner, kTarget}));
    REQUIRE(d.send(kOwner, "HandoffOffer", offer()).empty());
    CHECK(d.send(kTarget, "HandoffAccept", accept("h1", kTarget, true)) == "INVALID_ENVELOPE");
    CHECK(disposition(d.s, "h1") == "Offered");
    CHECK(d.send(kTarget, "HandoffAccept", accept("h1", kTarget, false)).empty());
}

// ---- Commitment ----------------------------------------------------------------------------------------------

TEST_CASE("MODE-HOFF-7: Commitment needs an accepted or declined offer", "[handoff]") {
    Driver d(make_session({kOwner, kTarget}));
    CHECK(d.send(kOwner, "Commitment", commitment()) == "INVALID_ENVELOPE");
    REQUIRE(d.send(kOwner, "HandoffOffer", offer()).empty());
    CHECK(d.send(kOwner, "Commitment", commitment()) == "INVALID_ENVELOPE");  // still Offered
    SECTION("shared validation") {
        REQUIRE(d.send(kTarget, "HandoffAccept", accept()).empty());
        CHECK(d.send(kOwner, "Commitment", "\xff") == "INVALID_ENVELOPE");
        CHECK(d.send(kOwner, "Commitment", commitment(true, "other")) == "INVALID_ENVELOPE");
        CHECK(d.send(kOwner, "Commitment", commitment(false, "policy.default", "handoff.accepted")) ==
              "INVALID_ENVELOPE");
    }
    SECTION("accepted: resolution is the raw commitment; empty policy_version matches") {
        REQUIRE(d.send(kTarget, "HandoffAccept", accept()).empty());
        auto c = commitment(true, "");
        REQUIRE(d.send(kOwner, "Commitment", c).empty());
        CHECK(d.s.state == kernel::SessionState::Resolved);
        CHECK(d.s.resolution == c);
    }
    SECTION("declined: a negative commitment (POL-HOFF-1 allows both outcomes)") {
        REQUIRE(d.send(kTarget, "HandoffDecline", decline()).empty());
        CHECK(d.send(kOwner, "Commitment", commitment(false)).empty());
    }
    SECTION("MODE-CMT-8: the action is not checked against the state") {
        REQUIRE(d.send(kTarget, "HandoffDecline", decline()).empty());
        CHECK(d.send(kOwner, "Commitment", commitment(true)).empty());
    }
}

TEST_CASE("MODE-HOFF-7 / MODE-HOFF-9: lazy implicit accept on the acceptance clock", "[handoff]") {
    SECTION("before the timeout the offer stays Offered and the commitment is refused") {
        Driver d(make_session({kOwner, kTarget}, make_policy(kTimeout100)));
        REQUIRE(d.send(kOwner, "HandoffOffer", offer(), nullptr, 5'000).empty());
        CHECK(d.send(kOwner, "Commitment", commitment(true, "policy.test"), nullptr, 5'099) == "INVALID_ENVELOPE");
        CHECK(disposition(d.s, "h1") == "Offered");
        CHECK(d.s.state == kernel::SessionState::Open);
    }
    SECTION("at the timeout the offer becomes Accepted by its target, marked implicit, and persisted") {
        Driver d(make_session({kOwner, kTarget}, make_policy(kTimeout100)));
        REQUIRE(d.send(kOwner, "HandoffOffer", offer(), nullptr, 5'000).empty());
        REQUIRE(d.send(kOwner, "Commitment", commitment(true, "policy.test"), nullptr, 5'100).empty());
        CHECK(d.s.state == kernel::SessionState::Resolved);
        auto st = state_of(d.s);
        const auto& o = st["offers"]["h1"];
        CHECK(std::string(o["disposition"].GetString()) == "Accepted");
        CHECK(std::string(o["accepted_by"].GetString()) == kTarget);
        CHECK(std::string(o["outcome_reason"].GetString()) == "implicit accept (timeout)");
        CHECK(o["implicit"].GetBool());
    }
    SECTION("rev 0 sessions use the acceptance clock too (the mode sees no envelope timestamp)") {
        auto s = make_session({kOwner, kTarget}, make_policy(kTimeout100));
        s.semantics_rev = 0;
        Driver d(std::move(s));
        REQUIRE(d.send(kOwner, "HandoffOffer", offer(), nullptr, 5'000).empty());
        CHECK(d.send(kOwner, "Commitment", commitment(true, "policy.test"), nullptr, 5'050) == "INVALID_ENVELOPE");
        CHECK(d.send(kOwner, "Commitment", commitment(true, "policy.test"), nullptr, 6'000).empty());
    }
    SECTION("answered offers are left alone; declined stays declined") {
        Driver d(make_session({kOwner, kTarget, kOther}, make_policy(kTimeout100)));
        REQUIRE(d.send(kOwner, "HandoffOffer", offer("h1", kTarget), nullptr, 5'000).empty());
        REQUIRE(d.send(kTarget, "HandoffDecline", decline(), nullptr, 5'010).empty());
        REQUIRE(d.send(kOwner, "HandoffOffer", offer("h2", kOther), nullptr, 5'020).empty());
        REQUIRE(d.send(kOwner, "Commitment", commitment(false, "policy.test"), nullptr, 9'000).empty());
        CHECK(disposition(d.s, "h1") == "Declined");
        CHECK(disposition(d.s, "h2") == "Accepted");
    }
    SECTION("a denied commitment leaves the state untouched") {
        Driver d(
            make_session({kOwner, kTarget}, make_policy(R"({"acceptance":{"implicit_accept_timeout_ms":100}})", 3)));
        REQUIRE(d.send(kOwner, "HandoffOffer", offer(), nullptr, 5'000).empty());
        std::vector<std::string> reasons;
        CHECK(d.send(kOwner, "Commitment", commitment(true, "policy.test"), &reasons, 9'000) == "POLICY_DENIED");
        CHECK(reasons == std::vector<std::string>{"unsupported policy schema version: 3 (supported: [1, 2])"});
        CHECK(disposition(d.s, "h1") == "Offered");
    }
    SECTION("no timeout (default, 0, or malformed rules -> defaults on the mode side)") {
        for (const char* rules : {"{}", R"({"acceptance":{"implicit_accept_timeout_ms":0}})",
                                  R"({"acceptance":{"implicit_accept_timeout_ms":-5}})",
                                  R"({"acceptance":{"implicit_accept_timeout_ms":100},"commitment":[]})"}) {
            Driver d(make_session({kOwner, kTarget}, make_policy(rules)));
            REQUIRE(d.send(kOwner, "HandoffOffer", offer(), nullptr, 5'000).empty());
            CHECK(d.send(kOwner, "Commitment", commitment(true, "policy.test"), nullptr, 1'000'000) ==
                  "INVALID_ENVELOPE");
        }
    }
    SECTION("an offer whose stored offered_at_ms is 0 (legacy) never times out") {
        Driver d(make_session({kOwner, kTarget}, make_policy(kTimeout100)));
        REQUIRE(d.send(kOwner, "HandoffOffer", offer(), nullptr, 5'000).empty());
        auto bytes = d.s.mode_state.encode();
        auto pos = bytes.find("\"offered_at_ms\":5000");
        REQUIRE(pos != std::string::npos);
        bytes.replace(pos, std::string("\"offered_at_ms\":5000").size(), "\"offered_at_ms\":0");
        d.s.mode_state = modes::ModeStateBox(mode().decode_state(bytes).value());
        CHECK(d.send(kOwner, "Commitment", commitment(true, "policy.test"), nullptr, 9'000) == "INVALID_ENVELOPE");
    }
    SECTION("a timeout larger than any clock difference never fires") {
        Driver d(make_session({kOwner, kTarget},
                              make_policy(R"({"acceptance":{"implicit_accept_timeout_ms":18446744073709551615}})")));
        REQUIRE(d.send(kOwner, "HandoffOffer", offer(), nullptr, 5'000).empty());
        CHECK(d.send(kOwner, "Commitment", commitment(true, "policy.test"), nullptr, 9'000'000'000) ==
              "INVALID_ENVELOPE");
    }
}

TEST_CASE("MODE-HOFF-8: state JSON after a full session; replay reproduces the bytes", "[handoff]") {
    auto run = [] {
        Driver d(make_session({kOwner, kTarget, kOther}));
        REQUIRE(d.send(kOwner, "HandoffOffer", offer("h2", kTarget)).empty());
        REQUIRE(d.send(kOwner, "HandoffContext", context("h2", "a")).empty());
        REQUIRE(d.send(kTarget, "HandoffDecline", decline("h2")).empty());
        REQUIRE(d.send(kOwner, "HandoffOffer", offer("h1", kOther)).empty());
        REQUIRE(d.send(kOther, "HandoffAccept", accept("h1")).empty());
        REQUIRE(d.send(kOwner, "Commitment", commitment()).empty());
        return d.s.mode_state.encode();
    };
    auto a = run();
    CHECK(a == run());
    CHECK(a ==
          R"({"offers":{"h1":{"handoff_id":"h1","target_participant":"agent://other","scope":"support",)"
          R"("reason":"escalate","offered_by":"agent://owner","disposition":"Accepted","accepted_by":"agent://other",)"
          R"("declined_by":null,"outcome_reason":"ready","offered_at_ms":1000040,"implicit":false},)"
          R"("h2":{"handoff_id":"h2","target_participant":"agent://target","scope":"support","reason":"escalate",)"
          R"("offered_by":"agent://owner","disposition":"Declined","accepted_by":null,"declined_by":"agent://target",)"
          R"("outcome_reason":"busy","offered_at_ms":1000010,"implicit":false}},)"
          R"("contexts":{"h2":[{"content_type":"text/plain","context":"YQ==","sender":"agent://owner"}]}})");
}

TEST_CASE("Handoff mode state that does not decode is InvalidModeState", "[handoff]") {
    for (const char* bad : {R"({"offers":{"h1":{"disposition":"Maybe"}},"contexts":{}})", "[]", "{", "x",
                            R"({"offers":[]})", R"({"offers":{"h1":{"offered_at_ms":"5"}}})",
                            R"({"offers":{"h1":{"implicit":1}}})", R"({"contexts":{"h1":[{"context":"!"}]}})"}) {
        INFO(bad);
        auto r = mode().decode_state(bad);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::InvalidModeState);
        CHECK(std::string(r.error().code()) == "INVALID_ENVELOPE");
    }
    // no bytes yet: the initial state
    auto empty = mode().decode_state("");
    REQUIRE(empty.ok());
    CHECK(empty.value()->encode() == R"({"offers":{},"contexts":{}})");
    // a legacy state without offered_at_ms / implicit still decodes, and a new offer is judged against it
    Driver d(make_session({kOwner, kTarget}));
    auto legacy = mode().decode_state(
        R"({"offers":{"h1":{"handoff_id":"h1","target_participant":"agent://target","scope":"","reason":"",)"
        R"("offered_by":"agent://owner","disposition":"Declined","accepted_by":null,"declined_by":"agent://target",)"
        R"("outcome_reason":""}},"contexts":{}})");
    REQUIRE(legacy.ok());
    d.s.mode_state = modes::ModeStateBox(std::move(legacy.value()));
    CHECK(d.send(kOwner, "HandoffOffer", offer("h1")) == "INVALID_ENVELOPE");  // id reused
    CHECK(d.send(kOwner, "HandoffOffer", offer("h2")).empty());
    CHECK(d.send(kOwner, "HandoffOffer", offer("h3")) == "INVALID_ENVELOPE");  // h2 outstanding
}

TEST_CASE("Handoff apply() validates without changing the state; the commit step changes it", "[handoff]") {
    Driver d(make_session({kOwner, kTarget}, make_policy(kTimeout100)));
    REQUIRE(d.send(kOwner, "HandoffOffer", offer(), nullptr, 5'000).empty());
    const auto before = d.s.mode_state.encode();
    const std::string sender = kOwner, type = "Commitment", payload = commitment(true, "policy.test");
    const auto ctx_view = d.s.view();
    modes::MessageContext ctx{ctx_view, sender, type, payload, 5'100};
    auto out = mode().apply(ctx);
    REQUIRE(out.ok());
    CHECK(out->resolution == payload);
    CHECK(d.s.mode_state.encode() == before);  // apply() alone touches nothing
    // The implicit accept is decided at the Commitment's own acceptance clock, whenever the commit
    // runs (replay passes the recorded clock again).
    REQUIRE(out->commit);
    out->commit(*d.s.mode_state.get());
    CHECK(disposition(d.s, "h1") == "Accepted");
    CHECK(state_of(d.s)["offers"]["h1"]["implicit"].GetBool());
    mode_test::require_round_trip(mode(), d.s);

    SECTION("a session holding no handoff state is InvalidModeState") {
        kernel::Session empty = make_session({kOwner, kTarget});
        const auto c2_view = empty.view();
        modes::MessageContext c2{c2_view, sender, type, payload, 5'100};
        auto r = mode().apply(c2);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::InvalidModeState);
    }
}

// Issue #8 cases 1/4: a state the runtime accepted must read back whatever its size. Control
// characters escape to six bytes each, so a few payloads of about 1 MiB encode past the 16 MiB cap
// of untrusted JSON parsing, which used to fail the read-back as "not JSON".
TEST_CASE("Handoff state larger than 16 MiB encodes and decodes back identically", "[handoff]") {
    const std::string big(1u << 20, '\x01');
    Driver d(make_session({kOwner, kTarget}));
    auto big_offer = [&](const char* id) {
        hpb::HandoffOfferPayload p;
        p.set_handoff_id(id);
        p.set_target_participant(kTarget);
        p.set_scope(big);
        p.set_reason(big);
        return p.SerializeAsString();
    };
    REQUIRE(d.send(kOwner, "HandoffOffer", big_offer("h1")).empty());
    REQUIRE(d.send(kTarget, "HandoffDecline", decline("h1", "", big)).empty());
    REQUIRE(d.send(kOwner, "HandoffOffer", big_offer("h2")).empty());
    REQUIRE(d.send(kTarget, "HandoffDecline", decline("h2")).empty());
    const auto bytes = d.s.mode_state.encode();
    CHECK(bytes.size() > util::kMaxJsonBytes);
    rapidjson::Document probe;
    CHECK_FALSE(util::parse_json_untrusted(bytes, probe));  // what the old decoder used
    auto back = mode().decode_state(bytes);
    REQUIRE(back.ok());
    CHECK(back.value()->encode() == bytes);
    // The decoded state behaves like the original: every offer is answered, so a new one is accepted.
    d.s.mode_state = modes::ModeStateBox(std::move(back.value()));
    CHECK(d.send(kOwner, "HandoffOffer", offer("h3")).empty());
    CHECK(d.send(kTarget, "HandoffAccept", accept("h3")).empty());
    CHECK(d.send(kOwner, "Commitment", commitment()).empty());
}

// ---- Policy --------------------------------------------------------------------------------------------------

TEST_CASE("POL-SCH-6: handoff rule parsing", "[handoff][policy]") {
    auto def = policy::parse_handoff_rules(make_policy("{}"));
    REQUIRE(def.ok());
    CHECK(def->implicit_accept_timeout_ms == 0);
    auto set = policy::parse_handoff_rules(make_policy(R"({"acceptance":{"implicit_accept_timeout_ms":5000},"y":[]})"));
    REQUIRE(set.ok());
    CHECK(set->implicit_accept_timeout_ms == 5000);
    CHECK(policy::parse_handoff_rules(policy::default_policy()).ok());
    for (const char* bad :
         {R"("x")", R"({"acceptance":[]})", R"({"acceptance":{"implicit_accept_timeout_ms":-1}})",
          R"({"acceptance":{"implicit_accept_timeout_ms":1.5}})",
          R"({"acceptance":{"implicit_accept_timeout_ms":"100"}})", R"({"commitment":{"authority":null}})",
          R"({"commitment":{"allow_decline_over_approval":"no"}})", "{"}) {
        CHECK_FALSE(policy::parse_handoff_rules(make_policy(bad)).ok());
    }
    CHECK(policy::handoff_rules_or_default(nullptr).implicit_accept_timeout_ms == 0);
}

TEST_CASE("POL-SCH-8: handoff rule errors use serde's wording", "[handoff][policy]") {
    auto err = [](const char* rules) {
        auto r = policy::parse_handoff_rules(make_policy(rules));
        REQUIRE_FALSE(r.ok());
        return r.error();
    };
    CHECK(err(R"({"acceptance":{"implicit_accept_timeout_ms":-1}})") == "invalid value: integer `-1`, expected u64");
    CHECK(err(R"({"acceptance":{"implicit_accept_timeout_ms":1.5}})") ==
          "invalid type: floating point `1.5`, expected u64");
    CHECK(err(R"({"acceptance":{"implicit_accept_timeout_ms":100.0}})") ==
          "invalid type: floating point `100.0`, expected u64");
    CHECK(err(R"({"acceptance":{"implicit_accept_timeout_ms":"10\"0"}})") ==
          R"(invalid type: string "10\"0", expected u64)");
    CHECK(err(R"({"acceptance":true})") == "invalid type: boolean `true`, expected struct HandoffAcceptanceRules");
    CHECK(err("7") == "invalid type: integer `7`, expected struct HandoffPolicyRules");
    CHECK(err(R"({"commitment":{"require_vote_quorum":{}}})") == "invalid type: map, expected a boolean");
    // key order: "acceptance" sorts before "commitment"
    CHECK(err(R"({"commitment":{"authority":1},"acceptance":{"implicit_accept_timeout_ms":-2}})") ==
          "invalid value: integer `-2`, expected u64");
}

TEST_CASE("POL-HOFF-1 / POL-EVAL-1 / POL-SCH-8: handoff evaluation", "[handoff][policy]") {
    CHECK(policy::evaluate_handoff_commitment(nullptr, true).empty());
    CHECK(policy::evaluate_handoff_commitment(&policy::default_policy(), true).empty());
    CHECK(policy::evaluate_handoff_commitment(&policy::default_policy(), false).empty());
    auto v2 = make_policy(kTimeout100, 2);
    CHECK(policy::evaluate_handoff_commitment(&v2, false).empty());
    auto v0 = make_policy("{}", 0);
    CHECK(policy::evaluate_handoff_commitment(&v0, false) ==
          std::vector<std::string>{"unsupported policy schema version: 0 (supported: [1, 2])"});
    auto broken = make_policy(R"({"acceptance":{"implicit_accept_timeout_ms":"soon"}})");
    auto reasons = policy::evaluate_handoff_commitment(&broken, true);
    REQUIRE(reasons.size() == 1);
    CHECK(reasons[0].rfind("policy 'policy.test' rules failed to parse at evaluation time: ", 0) == 0);

    SECTION("through the mode: a parse failure denies after the readiness check") {
        Driver d(make_session({kOwner, kTarget}, broken));
        REQUIRE(d.send(kOwner, "HandoffOffer", offer()).empty());
        CHECK(d.send(kOwner, "Commitment", commitment(true, "policy.test")) == "INVALID_ENVELOPE");
        REQUIRE(d.send(kTarget, "HandoffAccept", accept()).empty());
        std::vector<std::string> got;
        CHECK(d.send(kOwner, "Commitment", commitment(true, "policy.test"), &got) == "POLICY_DENIED");
        CHECK(got == reasons);
        CHECK(d.s.state == kernel::SessionState::Open);
    }
}

// ---- Conformance fixtures ----------------------------------------------------------------------------------

namespace {

using mode_test::str_member;

std::string fixture_payload(const std::string& type, const rapidjson::Value& p) {
    if (type == "Commitment") return mode_test::fixture_commitment(p);
    if (type == "HandoffOffer") {
        hpb::HandoffOfferPayload r;
        r.set_handoff_id(str_member(p, "handoff_id"));
        r.set_target_participant(str_member(p, "target_participant"));
        r.set_scope(str_member(p, "scope"));
        r.set_reason(str_member(p, "reason"));
        return r.SerializeAsString();
    }
    if (type == "HandoffAccept") {
        hpb::HandoffAcceptPayload r;
        r.set_handoff_id(str_member(p, "handoff_id"));
        r.set_accepted_by(str_member(p, "accepted_by"));
        r.set_reason(str_member(p, "reason"));
        auto im = p.FindMember("implicit");
        r.set_implicit(im != p.MemberEnd() && im->value.IsBool() && im->value.GetBool());
        return r.SerializeAsString();
    }
    if (type == "HandoffDecline")
        return decline(str_member(p, "handoff_id"), str_member(p, "declined_by"), str_member(p, "reason"));
    if (type == "HandoffContext") {
        hpb::HandoffContextPayload r;  // CONF-11: context = the UTF-8 bytes of the JSON string
        r.set_handoff_id(str_member(p, "handoff_id"));
        r.set_content_type(str_member(p, "content_type"));
        r.set_context(str_member(p, "context"));
        return r.SerializeAsString();
    }
    FAIL("unsupported fixture message type " << type);
    return {};
}

void run_fixture(const std::filesystem::path& path) {
    INFO("fixture " << path.string());
    rapidjson::Document fx;
    mode_test::load_fixture(path, fx);
    REQUIRE(str_member(fx, "mode") == "macp.mode.handoff.v1");
    std::vector<std::string> participants;
    for (const auto& p : fx["participants"].GetArray()) participants.emplace_back(p.GetString());
    kernel::Session s = make_session(participants, {}, str_member(fx, "initiator"));
    s.mode_version = str_member(fx, "mode_version");
    s.configuration_version = str_member(fx, "configuration_version");
    if (fx.HasMember("policy")) {  // CONF-4
        const auto& p = fx["policy"];
        s.policy = mode_test::fixture_policy(p, 0);
        s.policy_version = s.policy->policy_id;
    }  // else POL-BIND-1: an empty policy_version binds policy.default (make_session's default)

    auto replay_session = s;
    Driver d(std::move(s));
    struct Msg {
        std::string sender, type, payload;
        int64_t at;
    };
    std::vector<Msg> accepted;
    int i = 0;
    for (const auto& m : fx["messages"].GetArray()) {
        ++i;
        auto sender = str_member(m, "sender");
        auto type = str_member(m, "message_type");
        auto payload = fixture_payload(type, m["payload"]);
        INFO("message " << i << " " << type << " from " << sender);
        auto code = d.send(sender, type, payload);
        if (str_member(m, "expect") == "accept") {
            CHECK(code.empty());
            if (code.empty()) accepted.push_back({sender, type, payload, d.now});
        } else {
            CHECK_FALSE(code.empty());
            auto want = str_member(m, "expected_error_code");
            if (!want.empty()) CHECK(code == want);
        }
    }
    CHECK(kernel::state_name(d.s.state) == str_member(fx, "expected_final_state"));
    if (fx.HasMember("expect_resolution_present")) {
        CHECK(d.s.resolution.has_value() == fx["expect_resolution_present"].GetBool());
    }
    mode_test::check_expected_resolution(fx, d.s.resolution);  // CONF-14
    if (fx.HasMember("expected_mode_state")) {
        CHECK(mode_test::subset_match(fx["expected_mode_state"], state_of(d.s)));
    }
    // CONF-16: replaying the accepted messages at their recorded clock reproduces the state bytes.
    Driver r(std::move(replay_session));
    for (const auto& m : accepted) CHECK(r.send(m.sender, m.type, m.payload, nullptr, m.at).empty());
    CHECK(r.s.mode_state.encode() == d.s.mode_state.encode());
    CHECK(r.s.resolution == d.s.resolution);
}

}  // namespace

TEST_CASE("Conformance fixtures handoff_*.json", "[handoff][conformance]") {
    if (!std::filesystem::exists(mode_test::kConformanceRoot)) {
        WARN("conformance fixtures not found at " << mode_test::kConformanceRoot << "; skipping");
        return;
    }
    int count = 0;
    for (const auto& f : mode_test::conformance_fixtures("handoff_")) {
        run_fixture(f);
        ++count;
    }
    CHECK(count > 0);
}
