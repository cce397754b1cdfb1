// Task mode (BEHAVIOR.md §4.4 MODE-TASK-*, §5 POL-SCH-5 / POL-TASK-1, DELTA-0.6 MODE-TASK-1 and
// POL-TASK-1) and the conformance fixtures task_*.json.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "kernel/session.hpp"
#include "macp/modes/task/v1/task.pb.h"
#include "macp/v1/core.pb.h"
#include "modes/task.hpp"
#include "policy/policy_definition.hpp"
#include "policy/task_evaluator.hpp"
#include "util/json.hpp"

#include "mode_test_support.hpp"

using namespace macp;
using protocol::ErrorKind;
namespace tpb = macp::modes::task::v1;

namespace {

const char* kPlanner = "agent://planner";
const char* kWorker = "agent://worker";
const char* kOther = "agent://other";
const char* kOutsider = "agent://outsider";

const modes::TaskMode& mode() {
    static const modes::TaskMode m(mode_test::standard_descriptor("macp.mode.task.v1"));
    return m;
}

policy::PolicyDefinition make_policy(const std::string& rules, uint32_t schema_version = 1) {
    return policy::PolicyDefinition{"policy.test", "macp.mode.task.v1", "test", rules, schema_version};
}

kernel::Session make_session(std::vector<std::string> participants, std::optional<policy::PolicyDefinition> pol = {},
                             std::string initiator = kPlanner) {
    auto s = mode_test::base_session("macp.mode.task.v1", std::move(participants), std::move(initiator));
    mode_test::bind_policy_or_default(s, std::move(pol));
    return s;
}

// Drives a session the way the kernel does, starting the acceptance clock at 1'000 ms.
struct Driver : mode_test::CodeDriver<modes::TaskMode> {
    explicit Driver(kernel::Session session) : CodeDriver(mode(), std::move(session), 1'000) {}
};

std::string request(const std::string& task_id = "t1", const std::string& assignee = kWorker,
                    const std::string& input = "") {
    tpb::TaskRequestPayload p;
    p.set_task_id(task_id);
    p.set_title("Build");
    p.set_instructions("Do it");
    p.set_requested_assignee(assignee);
    p.set_input(input);
    p.set_deadline_unix_ms(42);
    return p.SerializeAsString();
}

template <class P>
std::string answer(const std::string& task_id, const std::string& assignee, const std::string& reason = "r") {
    P p;
    p.set_task_id(task_id);
    p.set_assignee(assignee);
    p.set_reason(reason);
    return p.SerializeAsString();
}
std::string accept(const std::string& assignee = "", const std::string& task_id = "t1") {
    return answer<tpb::TaskAcceptPayload>(task_id, assignee);
}
std::string reject(const std::string& assignee = "", const std::string& task_id = "t1") {
    return answer<tpb::TaskRejectPayload>(task_id, assignee);
}

std::string update(double progress = 0.5, const std::string& task_id = "t1") {
    tpb::TaskUpdatePayload p;
    p.set_task_id(task_id);
    p.set_status("running");
    p.set_progress(progress);
    p.set_message("half");
    p.set_partial_output("pa");
    return p.SerializeAsString();
}

std::string complete(const std::string& output = "", const std::string& assignee = "",
                     const std::string& task_id = "t1") {
    tpb::TaskCompletePayload p;
    p.set_task_id(task_id);
    p.set_assignee(assignee);
    p.set_output(output);
    p.set_summary("done");
    return p.SerializeAsString();
}

std::string failure(const std::string& assignee = "", const std::string& task_id = "t1") {
    tpb::TaskFailPayload p;
    p.set_task_id(task_id);
    p.set_assignee(assignee);
    p.set_error_code("E1");
    p.set_reason("broke");
    p.set_retryable(true);
    return p.SerializeAsString();
}

std::string commitment(bool positive = true, const std::string& action = "",
                       const std::string& policy_version = "policy.default",
                       const std::string& mode_version = "1.0.0") {
    macp::v1::CommitmentPayload c;
    c.set_commitment_id("c1");
    c.set_action(action.empty() ? (positive ? "task.completed" : "task.failed") : action);
    c.set_authority_scope("test");
    c.set_reason("done");
    c.set_mode_version(mode_version);
    c.set_policy_version(policy_version);
    c.set_configuration_version("cfg-1");
    c.set_outcome_positive(positive);
    return c.SerializeAsString();
}

rapidjson::Document state_of(const kernel::Session& s) {
    return mode_test::state_json(s);
}

const char* kInitialState =
    R"({"task":null,"active_assignee":null,"rejections":[],"updates":[],"terminal_report":null})";
const char* kAllowReassign = R"({"assignment":{"allow_reassignment_on_reject":true}})";
const char* kRequireOutput = R"({"completion":{"require_output":true}})";

}  // namespace

// ---- SessionStart ---------------------------------------------------------------------------------

TEST_CASE("MODE-TASK-1: SessionStart needs a participant other than the initiator (0.6)", "[task]") {
    SECTION("initiator and worker") {
        auto r = mode().on_session_start(make_session({kPlanner, kWorker}).view());
        REQUIRE(r.ok());
        CHECK(r.value()->encode() == kInitialState);
    }
    SECTION("the initiator need not be listed; one other participant is enough") {
        auto r = mode().on_session_start(make_session({kWorker}).view());
        REQUIRE(r.ok());
        CHECK(r.value()->encode() == kInitialState);
    }
    SECTION("only the initiator or nobody") {
        for (const auto& parts : {std::vector<std::string>{kPlanner}, std::vector<std::string>{},
                                  std::vector<std::string>{kPlanner, kPlanner}}) {
            auto r = mode().on_session_start(make_session(parts).view());
            REQUIRE_FALSE(r.ok());
            CHECK(r.error().kind == ErrorKind::InvalidPayload);
            CHECK(std::string(r.error().code()) == "INVALID_ENVELOPE");
        }
    }
}

TEST_CASE("TaskMode descriptor flags", "[task]") {
    CHECK(mode().strict());
    CHECK(mode().standards_track());
    CHECK(mode().descriptor().mode == "macp.mode.task.v1");
}

// ---- Authorization ----------------------------------------------------------------------------------

TEST_CASE("MODE-TASK-2: authorization runs before payload validation", "[task]") {
    Driver d(make_session({kPlanner, kWorker, kOther}));
    SECTION("TaskRequest only from the initiator, FORBIDDEN even with garbage payload (MODE-GEN-3)") {
        CHECK(d.send(kWorker, "TaskRequest", request()) == "FORBIDDEN");
        CHECK(d.send(kWorker, "TaskRequest", "\xff\xff") == "FORBIDDEN");
        CHECK(d.send(kOutsider, "TaskRequest", request()) == "FORBIDDEN");
        CHECK(d.send(kPlanner, "TaskRequest", request()).empty());
    }
    SECTION("other task messages only from declared participants") {
        REQUIRE(d.send(kPlanner, "TaskRequest", request("t1", "")).empty());
        for (const char* t : {"TaskAccept", "TaskReject", "TaskUpdate", "TaskComplete", "TaskFail"}) {
            CHECK(d.send(kOutsider, t, "\xff") == "FORBIDDEN");
        }
    }
    SECTION("an unknown type from a participant passes authorization and is INVALID_ENVELOPE") {
        CHECK(d.send(kWorker, "Vote", "") == "INVALID_ENVELOPE");
        CHECK(d.send(kOutsider, "Vote", "") == "FORBIDDEN");
    }
    SECTION("Commitment per commitment authority: initiator only by default (POL-AUTH-3)") {
        CHECK(d.send(kWorker, "Commitment", commitment()) == "FORBIDDEN");
        CHECK(d.send(kPlanner, "Commitment", commitment()) == "INVALID_ENVELOPE");  // no terminal report yet
    }
}

TEST_CASE("MODE-TASK-2 / POL-AUTH-1,2: commitment authority from the bound policy", "[task]") {
    SECTION("any_participant") {
        Driver d(make_session({kPlanner, kWorker}, make_policy(R"({"commitment":{"authority":"any_participant"}})")));
        REQUIRE(d.send(kPlanner, "TaskRequest", request()).empty());
        REQUIRE(d.send(kWorker, "TaskAccept", accept()).empty());
        REQUIRE(d.send(kWorker, "TaskComplete", complete()).empty());
        CHECK(d.send(kOutsider, "Commitment", commitment(true, "", "policy.test")) == "FORBIDDEN");
        CHECK(d.send(kWorker, "Commitment", commitment(true, "", "policy.test")).empty());
    }
    SECTION("designated_role excludes the initiator") {
        Driver d(make_session(
            {kPlanner, kWorker, kOther},
            make_policy(R"({"commitment":{"authority":"designated_role","designated_roles":["agent://other"]}})")));
        REQUIRE(d.send(kPlanner, "TaskRequest", request()).empty());
        REQUIRE(d.send(kWorker, "TaskAccept", accept()).empty());
        REQUIRE(d.send(kWorker, "TaskFail", failure()).empty());
        CHECK(d.send(kPlanner, "Commitment", commitment(false, "", "policy.test")) == "FORBIDDEN");
        CHECK(d.send(kOther, "Commitment", commitment(false, "", "policy.test")).empty());
    }
}

TEST_CASE("MODE-TASK-1/2 (0.6): an unlisted initiator requests and commits but cannot act as a participant", "[task]") {
    Driver d(make_session({kWorker, kOther}));
    CHECK(d.send(kPlanner, "TaskAccept", accept()) == "FORBIDDEN");
    REQUIRE(d.send(kPlanner, "TaskRequest", request("t1", "")).empty());
    CHECK(d.send(kPlanner, "TaskAccept", accept()) == "FORBIDDEN");
    REQUIRE(d.send(kOther, "TaskAccept", accept()).empty());
    REQUIRE(d.send(kOther, "TaskComplete", complete()).empty());
    CHECK(d.send(kPlanner, "Commitment", commitment()).empty());
    CHECK(d.s.state == kernel::SessionState::Resolved);
}

// ---- TaskRequest --------------------------------------------------------------------------------------

TEST_CASE("MODE-TASK-3: TaskRequest", "[task]") {
    Driver d(make_session({kPlanner, kWorker}));
    SECTION("undecodable payload (MODE-GEN-4)") {
        CHECK(d.send(kPlanner, "TaskRequest", "\xff\xff") == "INVALID_ENVELOPE");
    }
    SECTION("empty task_id") {
        CHECK(d.send(kPlanner, "TaskRequest", request("")) == "INVALID_ENVELOPE");
    }
    SECTION("requested assignee must be declared") {
        CHECK(d.send(kPlanner, "TaskRequest", request("t1", kOutsider)) == "INVALID_ENVELOPE");
    }
    SECTION("requested assignee may be the (listed) initiator") {
        CHECK(d.send(kPlanner, "TaskRequest", request("t1", kPlanner)).empty());
        CHECK(d.send(kPlanner, "TaskAccept", accept(kPlanner)).empty());
    }
    SECTION("at most one request; stored with requester = sender") {
        REQUIRE(d.send(kPlanner, "TaskRequest", request("t1", kWorker, std::string("\x00\x01\xff", 3))).empty());
        CHECK(d.send(kPlanner, "TaskRequest", request("t2")) == "INVALID_ENVELOPE");
        CHECK(d.send(kPlanner, "TaskRequest", request("t1")) == "INVALID_ENVELOPE");
        auto st = state_of(d.s);
        const auto& t = st["task"];
        CHECK(std::string(t["task_id"].GetString()) == "t1");
        CHECK(std::string(t["title"].GetString()) == "Build");
        CHECK(std::string(t["instructions"].GetString()) == "Do it");
        CHECK(std::string(t["requested_assignee"].GetString()) == kWorker);
        CHECK(std::string(t["input"].GetString()) == util::base64_encode(std::string("\x00\x01\xff", 3)));
        CHECK(t["deadline_unix_ms"].GetInt64() == 42);  // stored, never enforced
        CHECK(std::string(t["requester"].GetString()) == kPlanner);
    }
}

// ---- task_id matching -------------------------------------------------------------------------------

TEST_CASE("MODE-TASK-4: every Task* needs the request first and its task_id", "[task]") {
    Driver d(make_session({kPlanner, kWorker}));
    CHECK(d.send(kWorker, "TaskAccept", accept()) == "INVALID_ENVELOPE");
    CHECK(d.send(kWorker, "TaskReject", reject()) == "INVALID_ENVELOPE");
    CHECK(d.send(kWorker, "TaskUpdate", update()) == "INVALID_ENVELOPE");
    CHECK(d.send(kWorker, "TaskComplete", complete()) == "INVALID_ENVELOPE");
    CHECK(d.send(kWorker, "TaskFail", failure()) == "INVALID_ENVELOPE");
    REQUIRE(d.send(kPlanner, "TaskRequest", request()).empty());
    CHECK(d.send(kWorker, "TaskAccept", accept("", "t2")) == "INVALID_ENVELOPE");
    CHECK(d.send(kWorker, "TaskAccept", accept("", "")) == "INVALID_ENVELOPE");
    CHECK(d.send(kWorker, "TaskReject", reject("", "t2")) == "INVALID_ENVELOPE");
    REQUIRE(d.send(kWorker, "TaskAccept", accept()).empty());
    CHECK(d.send(kWorker, "TaskUpdate", update(0.5, "")) == "INVALID_ENVELOPE");
    CHECK(d.send(kWorker, "TaskUpdate", update(0.5, "t2")) == "INVALID_ENVELOPE");
    CHECK(d.send(kWorker, "TaskComplete", complete("", "", "t2")) == "INVALID_ENVELOPE");
    CHECK(d.send(kWorker, "TaskFail", failure("", "t2")) == "INVALID_ENVELOPE");
    CHECK(d.send(kWorker, "TaskAccept", "\xff") == "INVALID_ENVELOPE");  // MODE-GEN-4
}

// ---- Eligibility and TaskAccept ---------------------------------------------------------------------------

TEST_CASE("MODE-TASK-5: eligible responders", "[task]") {
    SECTION("the requested assignee only") {
        Driver d(make_session({kPlanner, kWorker, kOther}));
        REQUIRE(d.send(kPlanner, "TaskRequest", request("t1", kWorker)).empty());
        CHECK(d.send(kOther, "TaskAccept", accept()) == "FORBIDDEN");
        CHECK(d.send(kPlanner, "TaskAccept", accept()) == "FORBIDDEN");
        CHECK(d.send(kWorker, "TaskAccept", accept()).empty());
    }
    SECTION("open pool: any participant but the initiator") {
        Driver d(make_session({kPlanner, kWorker, kOther}));
        REQUIRE(d.send(kPlanner, "TaskRequest", request("t1", "")).empty());
        CHECK(d.send(kPlanner, "TaskAccept", accept()) == "FORBIDDEN");
        CHECK(d.send(kOther, "TaskAccept", accept()).empty());
        CHECK(std::string(state_of(d.s)["active_assignee"].GetString()) == kOther);
    }
}

TEST_CASE("MODE-TASK-6: TaskAccept check order", "[task]") {
    SECTION("a second accept while an assignee is active is INVALID_ENVELOPE (competing accept)") {
        Driver d(make_session({kPlanner, kWorker, kOther}));
        REQUIRE(d.send(kPlanner, "TaskRequest", request("t1", "")).empty());
        REQUIRE(d.send(kWorker, "TaskAccept", accept(kWorker)).empty());
        CHECK(d.send(kOther, "TaskAccept", accept()) == "INVALID_ENVELOPE");
        CHECK(d.send(kWorker, "TaskAccept", accept()) == "INVALID_ENVELOPE");
    }
    SECTION("payload assignee must equal the sender") {
        Driver d(make_session({kPlanner, kWorker}));
        REQUIRE(d.send(kPlanner, "TaskRequest", request()).empty());
        CHECK(d.send(kWorker, "TaskAccept", accept(kOther)) == "INVALID_ENVELOPE");
    }
    SECTION("assignee mismatch is checked before eligibility") {
        Driver d(make_session({kPlanner, kWorker, kOther}));
        REQUIRE(d.send(kPlanner, "TaskRequest", request("t1", kWorker)).empty());
        CHECK(d.send(kOther, "TaskAccept", accept(kWorker)) == "INVALID_ENVELOPE");
        CHECK(d.send(kOther, "TaskAccept", accept(kOther)) == "FORBIDDEN");
    }
    SECTION("Q-30 kept: any recorded rejection blocks later accepts under the default policy") {
        Driver d(make_session({kPlanner, kWorker, kOther}));
        REQUIRE(d.send(kPlanner, "TaskRequest", request("t1", "")).empty());
        REQUIRE(d.send(kWorker, "TaskReject", reject()).empty());
        std::vector<std::string> reasons;
        CHECK(d.send(kOther, "TaskAccept", accept(), &reasons) == "POLICY_DENIED");
        CHECK(reasons == std::vector<std::string>{"reassignment after rejection not allowed by policy"});
        // the policy check runs before the assignee and eligibility checks
        CHECK(d.send(kOther, "TaskAccept", accept(kWorker)) == "POLICY_DENIED");
        CHECK(d.send(kPlanner, "TaskAccept", accept()) == "POLICY_DENIED");
    }
    SECTION("allow_reassignment_on_reject lets another eligible participant accept") {
        Driver d(make_session({kPlanner, kWorker, kOther}, make_policy(kAllowReassign)));
        REQUIRE(d.send(kPlanner, "TaskRequest", request("t1", "")).empty());
        REQUIRE(d.send(kWorker, "TaskReject", reject()).empty());
        CHECK(d.send(kOther, "TaskAccept", accept()).empty());
    }
    SECTION("malformed rules fall back to the defaults on the mode side (POL-SCH-8)") {
        Driver d(make_session(
            {kPlanner, kWorker, kOther},
            make_policy(R"({"assignment":{"allow_reassignment_on_reject":true},"commitment":{"authority":7}})")));
        REQUIRE(d.send(kPlanner, "TaskRequest", request("t1", "")).empty());
        REQUIRE(d.send(kWorker, "TaskReject", reject()).empty());
        CHECK(d.send(kOther, "TaskAccept", accept()) == "POLICY_DENIED");
    }
}

// ---- TaskReject -------------------------------------------------------------------------------------------------

TEST_CASE("MODE-TASK-7: TaskReject while an assignee is active", "[task]") {
    SECTION("the active assignee needs allow_reassignment_on_reject") {
        Driver d(make_session({kPlanner, kWorker, kOther}));
        REQUIRE(d.send(kPlanner, "TaskRequest", request("t1", "")).empty());
        REQUIRE(d.send(kWorker, "TaskAccept", accept()).empty());
        std::vector<std::string> reasons;
        CHECK(d.send(kWorker, "TaskReject", reject(), &reasons) == "POLICY_DENIED");
        CHECK(reasons ==
              std::vector<std::string>{"active assignee cannot reject without allow_reassignment_on_reject policy"});
        CHECK(d.send(kOther, "TaskReject", reject()) == "INVALID_ENVELOPE");  // not the active assignee
        CHECK(d.send(kPlanner, "TaskReject", reject()) == "INVALID_ENVELOPE");
    }
    SECTION("with the policy the assignee is cleared and someone else may accept (RFC-0009 §5.3c)") {
        Driver d(make_session({kPlanner, kWorker, kOther}, make_policy(kAllowReassign)));
        REQUIRE(d.send(kPlanner, "TaskRequest", request("t1", "")).empty());
        REQUIRE(d.send(kWorker, "TaskAccept", accept()).empty());
        CHECK(d.send(kOther, "TaskReject", reject()) == "INVALID_ENVELOPE");
        CHECK(d.send(kWorker, "TaskReject", reject(kOther)) == "INVALID_ENVELOPE");  // assignee ≠ sender
        REQUIRE(d.send(kWorker, "TaskReject", reject(kWorker)).empty());
        auto st = state_of(d.s);
        CHECK(st["active_assignee"].IsNull());
        REQUIRE(st["rejections"].Size() == 1);
        CHECK(std::string(st["rejections"][0]["assignee"].GetString()) == kWorker);
        CHECK(d.send(kWorker, "TaskUpdate", update()) == "FORBIDDEN");
        REQUIRE(d.send(kOther, "TaskAccept", accept()).empty());
        CHECK(d.send(kOther, "TaskComplete", complete()).empty());
    }
}

TEST_CASE("MODE-TASK-8: TaskReject with no active assignee", "[task]") {
    Driver d(make_session({kPlanner, kWorker, kOther}));
    REQUIRE(d.send(kPlanner, "TaskRequest", request("t1", kWorker)).empty());
    CHECK(d.send(kWorker, "TaskReject", reject(kOther)) == "INVALID_ENVELOPE");
    CHECK(d.send(kOther, "TaskReject", reject()) == "FORBIDDEN");
    CHECK(d.send(kOther, "TaskReject", reject(kWorker)) == "INVALID_ENVELOPE");  // assignee checked first
    REQUIRE(d.send(kWorker, "TaskReject", answer<tpb::TaskRejectPayload>("t1", kWorker, "busy")).empty());
    CHECK(d.send(kWorker, "TaskReject", reject()) == "INVALID_ENVELOPE");  // only once
    auto st = state_of(d.s);
    REQUIRE(st["rejections"].Size() == 1);
    CHECK(util::to_json(st["rejections"][0]) == R"({"task_id":"t1","assignee":"agent://worker","reason":"busy"})");
    CHECK(st["active_assignee"].IsNull());
}

// ---- Progress and terminal reports ----------------------------------------------------------------------------

TEST_CASE("MODE-TASK-9: TaskUpdate / TaskComplete / TaskFail", "[task]") {
    Driver d(make_session({kPlanner, kWorker, kOther}));
    REQUIRE(d.send(kPlanner, "TaskRequest", request("t1", kWorker)).empty());
    SECTION("only the active assignee") {
        CHECK(d.send(kWorker, "TaskUpdate", update()) == "FORBIDDEN");  // not accepted yet
        CHECK(d.send(kWorker, "TaskComplete", complete()) == "FORBIDDEN");
        REQUIRE(d.send(kWorker, "TaskAccept", accept()).empty());
        CHECK(d.send(kOther, "TaskUpdate", update()) == "FORBIDDEN");
        CHECK(d.send(kOther, "TaskComplete", complete()) == "FORBIDDEN");
        CHECK(d.send(kOther, "TaskFail", failure()) == "FORBIDDEN");
        CHECK(d.send(kPlanner, "TaskFail", failure()) == "FORBIDDEN");
    }
    SECTION("updates append; values are not validated; terminal report is set once") {
        REQUIRE(d.send(kWorker, "TaskAccept", accept()).empty());
        REQUIRE(d.send(kWorker, "TaskUpdate", update(0.5)).empty());
        REQUIRE(d.send(kWorker, "TaskUpdate", update(250.0)).empty());
        REQUIRE(d.send(kWorker, "TaskUpdate", update(-1.0)).empty());
        CHECK(d.send(kWorker, "TaskComplete", complete("", kOther)) == "INVALID_ENVELOPE");
        CHECK(d.send(kWorker, "TaskFail", failure(kOther)) == "INVALID_ENVELOPE");
        REQUIRE(d.send(kWorker, "TaskComplete", complete("out", kWorker)).empty());
        CHECK(d.send(kWorker, "TaskUpdate", update()) == "FORBIDDEN");
        CHECK(d.send(kWorker, "TaskComplete", complete()) == "FORBIDDEN");
        CHECK(d.send(kWorker, "TaskFail", failure()) == "FORBIDDEN");
        auto st = state_of(d.s);
        REQUIRE(st["updates"].Size() == 3);
        CHECK(
            util::to_json(st["updates"][0]) ==
            R"({"task_id":"t1","status":"running","progress":0.5,"message":"half","partial_output":"cGE=","sender":"agent://worker"})");
        CHECK(st["updates"][1]["progress"].GetDouble() == 250.0);
        CHECK(util::to_json(st["terminal_report"]) ==
              R"({"Complete":{"task_id":"t1","assignee":"agent://worker","output":"b3V0","summary":"done"}})");
    }
    SECTION("a TaskFail terminal report") {
        REQUIRE(d.send(kWorker, "TaskAccept", accept()).empty());
        REQUIRE(d.send(kWorker, "TaskFail", failure()).empty());
        CHECK(d.send(kWorker, "TaskComplete", complete()) == "FORBIDDEN");
        CHECK(
            util::to_json(state_of(d.s)["terminal_report"]) ==
            R"({"Fail":{"task_id":"t1","assignee":"agent://worker","error_code":"E1","reason":"broke","retryable":true}})");
    }
    SECTION("deviation: a NaN or infinite progress is refused (it cannot be stored as JSON)") {
        REQUIRE(d.send(kWorker, "TaskAccept", accept()).empty());
        CHECK(d.send(kWorker, "TaskUpdate", update(std::numeric_limits<double>::quiet_NaN())) == "INVALID_ENVELOPE");
        CHECK(d.send(kWorker, "TaskUpdate", update(std::numeric_limits<double>::infinity())) == "INVALID_ENVELOPE");
        CHECK(state_of(d.s)["updates"].Size() == 0);
    }
}

// ---- Commitment -------------------------------------------------------------------------------------------

TEST_CASE("MODE-TASK-10: Commitment", "[task]") {
    Driver d(make_session({kPlanner, kWorker}));
    REQUIRE(d.send(kPlanner, "TaskRequest", request()).empty());
    REQUIRE(d.send(kWorker, "TaskAccept", accept()).empty());
    SECTION("needs a terminal report") {
        REQUIRE(d.send(kWorker, "TaskUpdate", update()).empty());
        CHECK(d.send(kPlanner, "Commitment", commitment()) == "INVALID_ENVELOPE");
    }
    SECTION("shared validation runs first (MODE-CMT-*)") {
        CHECK(d.send(kPlanner, "Commitment", "\xff") == "INVALID_ENVELOPE");
        REQUIRE(d.send(kWorker, "TaskComplete", complete()).empty());
        CHECK(d.send(kPlanner, "Commitment", commitment(true, "", "policy.default", "2.0.0")) == "INVALID_ENVELOPE");
        CHECK(d.send(kPlanner, "Commitment", commitment(true, "", "other.policy")) == "INVALID_ENVELOPE");
        CHECK(d.send(kPlanner, "Commitment", commitment(false, "task.completed")) == "INVALID_ENVELOPE");
        CHECK(d.s.state == kernel::SessionState::Open);
    }
    SECTION("accepted: resolution is the raw commitment, state unchanged; empty policy_version matches (MODE-CMT-4)") {
        REQUIRE(d.send(kWorker, "TaskComplete", complete()).empty());
        auto before = d.s.mode_state.encode();
        auto c = commitment(true, "", "");
        REQUIRE(d.send(kPlanner, "Commitment", c).empty());
        CHECK(d.s.state == kernel::SessionState::Resolved);
        REQUIRE(d.s.resolution.has_value());
        CHECK(*d.s.resolution == c);
        CHECK(d.s.mode_state.encode() == before);
    }
    SECTION("MODE-CMT-8: the action is not checked against the state (task.completed after TaskFail)") {
        REQUIRE(d.send(kWorker, "TaskFail", failure()).empty());
        CHECK(d.send(kPlanner, "Commitment", commitment(true)).empty());
    }
    SECTION("negative commitment after TaskComplete") {
        REQUIRE(d.send(kWorker, "TaskComplete", complete()).empty());
        CHECK(d.send(kPlanner, "Commitment", commitment(false)).empty());
    }
}

TEST_CASE("MODE-TASK-11: state JSON after a full session; replay reproduces the bytes", "[task]") {
    auto run = [] {
        Driver d(make_session({kPlanner, kWorker}));
        REQUIRE(d.send(kPlanner, "TaskRequest", request("t1", kWorker, "in")).empty());
        REQUIRE(d.send(kWorker, "TaskAccept", accept()).empty());
        REQUIRE(d.send(kWorker, "TaskUpdate", update(0.25)).empty());
        REQUIRE(d.send(kWorker, "TaskComplete", complete("out")).empty());
        REQUIRE(d.send(kPlanner, "Commitment", commitment()).empty());
        return d.s.mode_state.encode();
    };
    auto a = run();
    CHECK(a == run());
    CHECK(a ==
          R"({"task":{"task_id":"t1","title":"Build","instructions":"Do it","requested_assignee":"agent://worker",)"
          R"("input":"aW4=","deadline_unix_ms":42,"requester":"agent://planner"},"active_assignee":"agent://worker",)"
          R"("rejections":[],"updates":[{"task_id":"t1","status":"running","progress":0.25,"message":"half",)"
          R"("partial_output":"cGE=","sender":"agent://worker"}],"terminal_report":{"Complete":{"task_id":"t1",)"
          R"("assignee":"agent://worker","output":"b3V0","summary":"done"}}})");
}

TEST_CASE("Task mode state that does not decode is InvalidModeState (INVALID_ENVELOPE)", "[task]") {
    for (const char* bytes :
         {"{not json", "[]", R"({"task":null,"active_assignee":7,"rejections":[],"updates":[],"terminal_report":null})",
          R"({"task":{"task_id":1}})", R"({"updates":[{"progress":"x"}]})", R"({"rejections":[7]})",
          R"({"terminal_report":{"Complete":{},"Fail":{}}})", R"({"task":{"input":"not base64!"}})"}) {
        INFO(bytes);
        auto r = mode().decode_state(bytes);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::InvalidModeState);
        CHECK(std::string(r.error().code()) == "INVALID_ENVELOPE");
    }
    auto empty = mode().decode_state("");  // no state yet: the initial state
    REQUIRE(empty.ok());
    CHECK(empty.value()->encode() == kInitialState);

    Driver d(make_session({kPlanner, kWorker}));
    d.s.mode_state = modes::ModeStateBox(mode().decode_state("").value());
    CHECK(d.send(kPlanner, "TaskRequest", request()).empty());
    d.s.mode_state = modes::ModeStateBox();  // a session holding no task state
    CHECK(d.send(kWorker, "TaskAccept", accept()) == "INVALID_ENVELOPE");
}

TEST_CASE("A decoded task state carries on like the one it was encoded from", "[task]") {
    Driver d(make_session({kPlanner, kWorker, kOther}, make_policy(kAllowReassign)));
    REQUIRE(d.send(kPlanner, "TaskRequest", request("t1", "", std::string("\x00in", 3))).empty());
    REQUIRE(d.send(kWorker, "TaskAccept", accept()).empty());
    REQUIRE(d.send(kWorker, "TaskReject", reject()).empty());
    REQUIRE(d.send(kOther, "TaskAccept", accept()).empty());
    REQUIRE(d.send(kOther, "TaskUpdate", update(1.0 / 3.0)).empty());
    Driver back(d.s);
    back.s.mode_state = modes::ModeStateBox(mode().decode_state(d.s.mode_state.encode()).value());
    for (auto* x : {&d, &back}) {
        CHECK(x->send(kWorker, "TaskReject", reject()) == "INVALID_ENVELOPE");  // not the active assignee
        REQUIRE(x->send(kOther, "TaskComplete", complete("out")).empty());
        REQUIRE(x->send(kPlanner, "Commitment", commitment(true, "", "policy.test")).empty());
    }
    CHECK(back.s.mode_state.encode() == d.s.mode_state.encode());
}

TEST_CASE("apply() leaves the task state alone; the commit step changes it", "[task]") {
    Driver d(make_session({kPlanner, kWorker}));
    const auto before = d.s.mode_state.encode();
    const std::string sender = kPlanner;
    const std::string type = "TaskRequest";
    const std::string payload = request();
    const auto ctx_view = d.s.view();
    modes::MessageContext ctx{ctx_view, sender, type, payload, 1};
    auto out = mode().apply(ctx);
    REQUIRE(out.ok());
    CHECK(d.s.mode_state.encode() == before);
    REQUIRE(out.value().commit);
    out.value().commit(*d.s.mode_state.get());
    CHECK(std::string(state_of(d.s)["task"]["task_id"].GetString()) == "t1");
}

TEST_CASE("Issue #8 cases 1/4: a task state past 16 MiB still encodes and decodes back", "[task]") {
    Driver d(make_session({kPlanner, kWorker}));
    const std::string big(1u << 20, '\x01');  // every byte JSON-escapes to \u0001, six bytes
    tpb::TaskRequestPayload req;
    req.set_task_id("t1");
    req.set_instructions(big);
    REQUIRE(d.send(kPlanner, "TaskRequest", req.SerializeAsString()).empty());
    REQUIRE(d.send(kWorker, "TaskAccept", accept()).empty());
    for (int i = 0; i < 2; ++i) {
        tpb::TaskUpdatePayload u;
        u.set_task_id("t1");
        u.set_status(big);
        REQUIRE(d.send(kWorker, "TaskUpdate", u.SerializeAsString()).empty());
    }
    const std::string bytes = d.s.mode_state.encode();
    CHECK(bytes.size() > util::kMaxJsonBytes);
    auto back = mode().decode_state(bytes);
    REQUIRE(back.ok());
    CHECK(back.value()->encode() == bytes);
    REQUIRE(d.send(kWorker, "TaskComplete", complete("out")).empty());
    CHECK(d.send(kPlanner, "Commitment", commitment()).empty());
}

// ---- Policy -----------------------------------------------------------------------------------------------

TEST_CASE("POL-SCH-5: task rule parsing", "[task][policy]") {
    auto ok = policy::parse_task_rules(make_policy("{}"));
    REQUIRE(ok.ok());
    CHECK_FALSE(ok->allow_reassignment_on_reject);
    CHECK_FALSE(ok->require_output);
    auto both = policy::parse_task_rules(make_policy(
        R"({"assignment":{"allow_reassignment_on_reject":true},"completion":{"require_output":true},"x":1})"));
    REQUIRE(both.ok());
    CHECK(both->allow_reassignment_on_reject);
    CHECK(both->require_output);
    CHECK(policy::parse_task_rules(policy::default_policy()).ok());  // "*" default rules fit the task schema
    for (const char* bad : {R"([])", R"({"assignment":1})", R"({"assignment":{"allow_reassignment_on_reject":"yes"}})",
                            R"({"completion":{"require_output":null}})", R"({"commitment":{"designated_roles":[1]}})",
                            R"({"commitment":{"require_vote_quorum":1}})", "not json"}) {
        CHECK_FALSE(policy::parse_task_rules(make_policy(bad)).ok());
    }
    CHECK_FALSE(policy::task_rules_or_default(nullptr).allow_reassignment_on_reject);
}

TEST_CASE("POL-SCH-8: task rule errors use serde's wording, first error in key order, last duplicate wins",
          "[task][policy]") {
    auto err = [](const char* rules) {
        auto r = policy::parse_task_rules(make_policy(rules));
        REQUIRE_FALSE(r.ok());
        return r.error();
    };
    CHECK(err(R"({"completion":{"require_output":"yes"}})") == R"(invalid type: string "yes", expected a boolean)");
    CHECK(err("[]") == "invalid type: sequence, expected struct TaskPolicyRules");
    CHECK(err(R"({"assignment":1})") == "invalid type: integer `1`, expected struct TaskAssignmentRules");
    CHECK(err(R"({"completion":[true]})") == "invalid type: sequence, expected struct TaskCompletionRules");
    CHECK(err(R"({"commitment":"x"})") == R"(invalid type: string "x", expected struct CommitmentRules)");
    CHECK(err(R"({"commitment":{"designated_roles":"a"}})") == R"(invalid type: string "a", expected a sequence)");
    CHECK(err(R"({"commitment":{"designated_roles":[2.5]}})") ==
          "invalid type: floating point `2.5`, expected a string");
    CHECK(err(R"({"completion":{"require_output":1},"assignment":{"allow_reassignment_on_reject":null}})") ==
          "invalid type: null, expected a boolean");
    auto dup = policy::parse_task_rules(
        make_policy(R"({"completion":{"require_output":"x"},"completion":{"require_output":true}})"));
    REQUIRE(dup.ok());
    CHECK(dup->require_output);
    CHECK(policy::evaluate_task_commitment(&policy::default_policy(), false, true).empty());
    auto bad = make_policy(R"({"assignment":{"allow_reassignment_on_reject":"no"}})");
    CHECK(policy::evaluate_task_commitment(&bad, true, true) ==
          std::vector<std::string>{R"(policy 'policy.test' rules failed to parse at evaluation time: )"
                                   R"(invalid type: string "no", expected a boolean)"});
}

TEST_CASE("POL-TASK-1 (0.6): require_output gates positive commitments only", "[task][policy]") {
    auto pol = make_policy(kRequireOutput);
    CHECK(policy::evaluate_task_commitment(&pol, false, true) ==
          std::vector<std::string>{"policy requires task output before commitment"});
    CHECK(policy::evaluate_task_commitment(&pol, true, true).empty());
    CHECK(policy::evaluate_task_commitment(&pol, false, false).empty());  // Q-30 partly fixed
    CHECK(policy::evaluate_task_commitment(&policy::default_policy(), false, true).empty());
    CHECK(policy::evaluate_task_commitment(nullptr, false, true).empty());

    SECTION("through the mode") {
        Driver d(make_session({kPlanner, kWorker}, pol));
        REQUIRE(d.send(kPlanner, "TaskRequest", request()).empty());
        REQUIRE(d.send(kWorker, "TaskAccept", accept()).empty());
        REQUIRE(d.send(kWorker, "TaskComplete", complete("")).empty());
        std::vector<std::string> reasons;
        CHECK(d.send(kPlanner, "Commitment", commitment(true, "", "policy.test"), &reasons) == "POLICY_DENIED");
        CHECK(reasons == std::vector<std::string>{"policy requires task output before commitment"});
        CHECK(d.s.state == kernel::SessionState::Open);
        CHECK(d.send(kPlanner, "Commitment", commitment(false, "", "policy.test")).empty());
    }
    SECTION("with output") {
        Driver d(make_session({kPlanner, kWorker}, pol));
        REQUIRE(d.send(kPlanner, "TaskRequest", request()).empty());
        REQUIRE(d.send(kWorker, "TaskAccept", accept()).empty());
        REQUIRE(d.send(kWorker, "TaskComplete", complete("artifact")).empty());
        CHECK(d.send(kPlanner, "Commitment", commitment(true, "", "policy.test")).empty());
    }
    SECTION("TaskFail: a negative commitment is allowed, a positive one denied") {
        Driver d(make_session({kPlanner, kWorker}, pol));
        REQUIRE(d.send(kPlanner, "TaskRequest", request()).empty());
        REQUIRE(d.send(kWorker, "TaskAccept", accept()).empty());
        REQUIRE(d.send(kWorker, "TaskFail", failure()).empty());
        CHECK(d.send(kPlanner, "Commitment", commitment(true, "", "policy.test")) == "POLICY_DENIED");
        CHECK(d.send(kPlanner, "Commitment", commitment(false, "", "policy.test")).empty());
    }
}

TEST_CASE("POL-EVAL-1 / POL-SCH-8 (0.6): schema version and evaluation-time parse failures deny", "[task][policy]") {
    auto v3 = make_policy("{}", 3);
    CHECK(policy::evaluate_task_commitment(&v3, true, false) ==
          std::vector<std::string>{"unsupported policy schema version: 3 (supported: [1, 2])"});
    auto v2 = make_policy("{}", 2);
    CHECK(policy::evaluate_task_commitment(&v2, true, true).empty());
    auto broken = make_policy(R"({"completion":{"require_output":"yes"}})");
    auto reasons = policy::evaluate_task_commitment(&broken, true, false);
    REQUIRE(reasons.size() == 1);
    CHECK(reasons[0].rfind("policy 'policy.test' rules failed to parse at evaluation time: ", 0) == 0);

    Driver d(make_session({kPlanner, kWorker}, v3));
    REQUIRE(d.send(kPlanner, "TaskRequest", request()).empty());
    REQUIRE(d.send(kWorker, "TaskAccept", accept()).empty());
    REQUIRE(d.send(kWorker, "TaskFail", failure()).empty());
    std::vector<std::string> got;
    CHECK(d.send(kPlanner, "Commitment", commitment(false, "", "policy.test"), &got) == "POLICY_DENIED");
    CHECK(got == std::vector<std::string>{"unsupported policy schema version: 3 (supported: [1, 2])"});
}

// ---- Conformance fixtures -----------------------------------------------------------------------------------

namespace {

using mode_test::int_member;
using mode_test::str_member;

std::string fixture_payload(const std::string& type, const rapidjson::Value& p) {
    if (type == "Commitment") return mode_test::fixture_commitment(p);
    if (type == "TaskRequest") {
        tpb::TaskRequestPayload r;
        r.set_task_id(str_member(p, "task_id"));
        r.set_title(str_member(p, "title"));
        r.set_instructions(str_member(p, "instructions"));
        r.set_requested_assignee(str_member(p, "requested_assignee"));
        r.set_deadline_unix_ms(int_member(p, "deadline_unix_ms"));
        return r.SerializeAsString();
    }
    if (type == "TaskAccept")
        return answer<tpb::TaskAcceptPayload>(str_member(p, "task_id"), str_member(p, "assignee"),
                                              str_member(p, "reason"));
    if (type == "TaskReject")
        return answer<tpb::TaskRejectPayload>(str_member(p, "task_id"), str_member(p, "assignee"),
                                              str_member(p, "reason"));
    if (type == "TaskComplete") {
        tpb::TaskCompletePayload r;
        r.set_task_id(str_member(p, "task_id"));
        r.set_assignee(str_member(p, "assignee"));
        r.set_summary(str_member(p, "summary"));
        return r.SerializeAsString();
    }
    if (type == "TaskFail") {
        tpb::TaskFailPayload r;
        r.set_task_id(str_member(p, "task_id"));
        r.set_assignee(str_member(p, "assignee"));
        r.set_error_code(str_member(p, "error_code"));
        r.set_reason(str_member(p, "reason"));
        auto rt = p.FindMember("retryable");
        r.set_retryable(rt != p.MemberEnd() && rt->value.IsBool() && rt->value.GetBool());
        return r.SerializeAsString();
    }
    if (type == "TaskUpdate") {
        tpb::TaskUpdatePayload r;
        r.set_task_id(str_member(p, "task_id"));
        r.set_status(str_member(p, "status"));
        auto pr = p.FindMember("progress");
        if (pr != p.MemberEnd() && pr->value.IsNumber()) r.set_progress(pr->value.GetDouble());
        r.set_message(str_member(p, "message"));
        return r.SerializeAsString();
    }
    FAIL("unsupported fixture message type " << type);
    return {};
}

void run_fixture(const std::filesystem::path& path) {
    INFO("fixture " << path.string());
    rapidjson::Document fx;
    mode_test::load_fixture(path, fx);
    REQUIRE(str_member(fx, "mode") == "macp.mode.task.v1");
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
    std::vector<std::pair<std::string, std::pair<std::string, std::string>>> accepted;
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
            if (code.empty()) accepted.push_back({sender, {type, payload}});
        } else {
            CHECK_FALSE(code.empty());
            auto want = str_member(m, "expected_error_code");
            if (!want.empty()) CHECK(code == want);
        }
    }
    auto final_state = str_member(fx, "expected_final_state");
    CHECK(kernel::state_name(d.s.state) == final_state);
    if (fx.HasMember("expect_resolution_present")) {
        CHECK(d.s.resolution.has_value() == fx["expect_resolution_present"].GetBool());
    }
    mode_test::check_expected_resolution(fx, d.s.resolution);  // CONF-14
    if (fx.HasMember("expected_mode_state")) {
        CHECK(mode_test::subset_match(fx["expected_mode_state"], state_of(d.s)));
    }
    // CONF-16: replaying the accepted messages reproduces the mode state bytes.
    Driver r(std::move(replay_session));
    for (const auto& [sender, msg] : accepted) CHECK(r.send(sender, msg.first, msg.second).empty());
    CHECK(r.s.mode_state.encode() == d.s.mode_state.encode());
    CHECK(r.s.resolution == d.s.resolution);
}

}  // namespace

TEST_CASE("Conformance fixtures task_*.json", "[task][conformance]") {
    if (!std::filesystem::exists(mode_test::kConformanceRoot)) {
        WARN("conformance fixtures not found at " << mode_test::kConformanceRoot << "; skipping");
        return;
    }
    int count = 0;
    for (const auto& f : mode_test::conformance_fixtures("task_")) {
        run_fixture(f);
        ++count;
    }
    CHECK(count > 0);
}
