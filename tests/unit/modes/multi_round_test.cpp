// Multi-round mode (BEHAVIOR.md §4.7 MODE-MR-*) driven the way the kernel drives it: authorize,
// apply, then the commit step; every step also checks that the state reads back byte for byte.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "kernel/session.hpp"
#include "macp/modes/multi_round/v1/multi_round.pb.h"
#include "macp/v1/core.pb.h"
#include "modes/multi_round.hpp"
#include "util/json.hpp"
#include "util/json_write.hpp"

#include "mode_test_support.hpp"

using namespace macp;
using protocol::ErrorKind;

namespace {

const char* kCoord = "agent://coordinator";
const char* kAlice = "agent://alice";
const char* kBob = "agent://bob";
const char* kOutsider = "agent://outsider";

const modes::MultiRoundMode& mode() {
    static const modes::MultiRoundMode m;
    return m;
}

kernel::Session make_session(std::vector<std::string> participants = {kAlice, kBob}) {
    auto s = mode_test::base_session("ext.multi_round.v1", std::move(participants), kCoord);
    mode_test::bind_policy_or_default(s, {});
    return s;
}

struct Driver : mode_test::CodeDriver<modes::MultiRoundMode> {
    explicit Driver(kernel::Session session = make_session()) : CodeDriver(mode(), std::move(session), 1'000'000) {}
};

// MODE-MR-3: the JSON form, {"value": "<string>"}.
std::string contribute(const std::string& value) {
    rapidjson::StringBuffer buf;
    util::json::Writer w(buf);
    w.StartObject();
    util::json::put(w, "value", value);
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}

std::string contribute_pb(const std::string& value) {
    modes::multi_round::v1::ContributePayload p;
    p.set_value(value);
    return p.SerializeAsString();
}

std::string commitment() {
    macp::v1::CommitmentPayload c;
    c.set_commitment_id("c1");
    c.set_action("multi_round.converged");
    c.set_authority_scope("test");
    c.set_reason("done");
    c.set_mode_version("1.0.0");
    c.set_policy_version("policy.default");
    c.set_configuration_version("cfg-1");
    c.set_outcome_positive(true);
    return c.SerializeAsString();
}

}  // namespace

TEST_CASE("MODE-MR-1/2: SessionStart needs participants; the initial state lists them", "[multi_round]") {
    auto ok = mode().on_session_start(make_session().view());
    REQUIRE(ok.ok());
    CHECK(ok.value()->encode() == R"({"round":0,"participants":["agent://alice","agent://bob"],"contributions":{},)"
                                  R"("convergence_type":"all_equal","converged":false})");
    auto none = mode().on_session_start(make_session({}).view());
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().kind == ErrorKind::InvalidPayload);
    CHECK(mode().strict());
    CHECK_FALSE(mode().standards_track());
    CHECK(mode().descriptor().mode == "ext.multi_round.v1");
}

TEST_CASE("MODE-MR-4: who may send what", "[multi_round]") {
    Driver d;
    CHECK(d.send(kOutsider, "Contribute", contribute("x")) == "FORBIDDEN");
    CHECK(d.send(kAlice, "Commitment", commitment()) == "FORBIDDEN");
    CHECK(d.send(kAlice, "Vote", contribute("x")) == "INVALID_ENVELOPE");
    CHECK(d.send(kCoord, "Commitment", commitment()) == "INVALID_ENVELOPE");  // MODE-MR-7: not converged
}

TEST_CASE("MODE-MR-3/5/6: contributions, rounds and convergence", "[multi_round]") {
    Driver d;
    CHECK(d.send(kAlice, "Contribute", "") == "INVALID_ENVELOPE");
    CHECK(d.send(kAlice, "Contribute", R"({"value":1})") == "INVALID_ENVELOPE");
    CHECK(d.send(kAlice, "Contribute", R"({"other":"x"})") == "INVALID_ENVELOPE");
    // MODE-MR-3 (issue #15): not UTF-8 (a lone continuation byte, an overlong "/", a surrogate).
    CHECK(d.send(kAlice, "Contribute", "{\"value\":\"\x80\"}") == "INVALID_ENVELOPE");
    CHECK(d.send(kAlice, "Contribute", "{\"value\":\"\xC0\xAF\"}") == "INVALID_ENVELOPE");
    CHECK(d.send(kAlice, "Contribute", "{\"value\":\"\xED\xA0\x80\"}") == "INVALID_ENVELOPE");
    REQUIRE(d.send(kAlice, "Contribute", contribute("red")).empty());
    REQUIRE(d.send(kAlice, "Contribute", contribute("red")).empty());  // unchanged: no new round
    REQUIRE(d.send(kBob, "Contribute", contribute_pb("blue")).empty());
    auto st = mode_test::state_json(d.s);
    CHECK(st["round"].GetInt64() == 2);
    CHECK_FALSE(st["converged"].GetBool());
    REQUIRE(d.send(kBob, "Contribute", contribute_pb("red")).empty());  // the initiator need not contribute
    CHECK(d.s.mode_state.encode() ==
          R"({"round":3,"participants":["agent://alice","agent://bob"],"contributions":)"
          R"({"agent://alice":"red","agent://bob":"red"},"convergence_type":"all_equal","converged":true})");
    CHECK(d.send(kAlice, "Contribute", contribute("green")) == "INVALID_ENVELOPE");  // already converged
}

TEST_CASE("MODE-MR-6: a listed initiator's value must agree when given", "[multi_round]") {
    Driver d(make_session({kCoord, kAlice, kBob}));
    REQUIRE(d.send(kCoord, "Contribute", contribute("a")).empty());
    REQUIRE(d.send(kAlice, "Contribute", contribute("b")).empty());
    REQUIRE(d.send(kBob, "Contribute", contribute("b")).empty());
    CHECK_FALSE(mode_test::state_json(d.s)["converged"].GetBool());
    REQUIRE(d.send(kCoord, "Contribute", contribute("b")).empty());  // the sender's own revision counts
    CHECK(mode_test::state_json(d.s)["converged"].GetBool());

    SECTION("a sole initiator participant must contribute") {
        Driver solo(make_session({kCoord}));
        CHECK(solo.send(kCoord, "Commitment", commitment()) == "INVALID_ENVELOPE");
        REQUIRE(solo.send(kCoord, "Contribute", contribute("x")).empty());
        CHECK(mode_test::state_json(solo.s)["converged"].GetBool());
    }
}

TEST_CASE("MODE-MR-7/8: Commitment resolves with the converged summary", "[multi_round]") {
    Driver d;
    REQUIRE(d.send(kAlice, "Contribute", contribute("red")).empty());
    REQUIRE(d.send(kBob, "Contribute", contribute("red")).empty());
    const auto state = d.s.mode_state.encode();
    CHECK(d.send(kCoord, "Commitment", "\xff") == "INVALID_ENVELOPE");
    REQUIRE(d.send(kCoord, "Commitment", commitment()).empty());
    CHECK(d.s.state == kernel::SessionState::Resolved);
    CHECK(d.s.resolution ==
          std::string(R"({"converged_value":"red","round":2,"final":{"agent://alice":"red","agent://bob":"red"}})"));
    CHECK(d.s.mode_state.encode() == state);  // the commitment leaves the state as it was
}

TEST_CASE("Multi-round apply() validates without changing the state; the commit step changes it", "[multi_round]") {
    Driver d;
    REQUIRE(d.send(kAlice, "Contribute", contribute("red")).empty());
    const auto before = d.s.mode_state.encode();
    const std::string sender = kBob, type = "Contribute", payload = contribute("red");
    const auto ctx_view = d.s.view();
    modes::MessageContext ctx{ctx_view, sender, type, payload, 2'000'000};
    auto out = mode().apply(ctx);
    REQUIRE(out.ok());
    CHECK_FALSE(out->resolution.has_value());
    CHECK(d.s.mode_state.encode() == before);
    REQUIRE(out->commit);
    out->commit(*d.s.mode_state.get());
    auto st = mode_test::state_json(d.s);
    CHECK(st["round"].GetInt64() == 2);
    CHECK(st["converged"].GetBool());
    mode_test::require_round_trip(mode(), d.s);

    SECTION("a session holding no multi_round state is InvalidModeState") {
        kernel::Session empty = make_session();
        const auto c2_view = empty.view();
        modes::MessageContext c2{c2_view, sender, type, payload, 2'000'000};
        auto r = mode().apply(c2);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::InvalidModeState);
    }
}

TEST_CASE("Multi-round state that does not decode is InvalidModeState", "[multi_round]") {
    for (const char* bad : {"", "[]", "{", "x", R"({"contributions":{"agent://alice":1}})"}) {
        INFO(bad);
        auto r = mode().decode_state(bad);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::InvalidModeState);
    }
    // Lenient where it always was: missing or mistyped scalars read as defaults.
    auto lenient = mode().decode_state(R"({"round":"x","participants":[1,"agent://alice"]})");
    REQUIRE(lenient.ok());
    CHECK(lenient.value()->encode() ==
          R"({"round":0,"participants":["agent://alice"],"contributions":{},"convergence_type":"all_equal",)"
          R"("converged":false})");
}

// Issue #8 cases 1/4: a state the runtime accepted must read back whatever its size. Control
// characters escape to six bytes each, so a few contributions of about 1 MiB encode past the 16 MiB
// cap of untrusted JSON parsing, which used to fail the read-back as "not JSON".
TEST_CASE("Multi-round state larger than 16 MiB encodes and decodes back identically", "[multi_round]") {
    const std::vector<std::string> people{"agent://p1", "agent://p2", "agent://p3", "agent://p4"};
    Driver d(make_session(people));
    for (size_t i = 0; i < people.size(); ++i) {
        // Differing values, so the session does not converge and every contribution stays.
        REQUIRE(d.send(people[i], "Contribute", contribute_pb(std::string((1u << 20) + i, '\x01'))).empty());
    }
    const auto bytes = d.s.mode_state.encode();
    CHECK(bytes.size() > util::kMaxJsonBytes);
    rapidjson::Document probe;
    CHECK_FALSE(util::parse_json_untrusted(bytes, probe));  // what the old decoder used
    auto back = mode().decode_state(bytes);
    REQUIRE(back.ok());
    CHECK(back.value()->encode() == bytes);
    d.s.mode_state = modes::ModeStateBox(std::move(back.value()));
    CHECK(d.send(people[0], "Contribute", contribute_pb(std::string((1u << 20) + 3, '\x01'))).empty());
    CHECK_FALSE(mode_test::state_json(d.s)["converged"].GetBool());
}
