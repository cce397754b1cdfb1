// The policy registry (BEHAVIOR.md §5.1 POL-REG-*, RPC-REGP/UNREGP/LISTP rows; DELTA-0.6
// RPC-POLRO-1, CFG-21, POL-REG-12): validation per mode with the reference's texts behind the
// INVALID_POLICY_DEFINITION prefix, read-only mode, and persistence through a storage backend.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "plugin_host/plugin_host.hpp"
#include "policy/policy_definition.hpp"
#include "policy/registry.hpp"
#include "storage/storage_backend.hpp"

using namespace macp;
using policy::PolicyDefinition;
using policy::PolicyRegistry;

namespace {

const char* kDecision = "macp.mode.decision.v1";
const char* kProposal = "macp.mode.proposal.v1";
const char* kTask = "macp.mode.task.v1";
const char* kHandoff = "macp.mode.handoff.v1";
const char* kQuorum = "macp.mode.quorum.v1";
const std::vector<std::string> kStandardModes = {"*", kDecision, kProposal, kTask, kHandoff, kQuorum};

PolicyDefinition def(std::string id, std::string mode, std::string rules, uint32_t schema_version = 1) {
    return PolicyDefinition{std::move(id), std::move(mode), "test policy", std::move(rules), schema_version, 1234};
}

std::string invalid(const std::string& text) {
    return std::string(policy::kInvalidPolicyPrefix) + text;
}

std::string schema(const std::string& mode, const std::string& detail) {
    return invalid("rules do not match schema for mode '" + mode + "': " + detail);
}

std::unique_ptr<storage::StorageBackend> memory_storage() {
    auto s = plugin_host::PluginHost({}).open_memory_storage();
    REQUIRE(s.ok());
    return std::move(s.value());
}

struct Row {
    const char* row;
    std::string mode;
    std::string rules;
    std::optional<std::string> error;  // nullopt: valid
};

void check_rows(const std::vector<Row>& rows) {
    for (const auto& r : rows) {
        INFO(r.row << " mode=" << r.mode << " rules=" << r.rules);
        auto e = policy::validate_policy(def("policy.t", r.mode, r.rules));
        if (r.error) {
            REQUIRE(e.has_value());
            CHECK(*e == *r.error);
            PolicyRegistry reg;  // the registration path returns the same text
            auto res = reg.register_policy(def("policy.t", r.mode, r.rules));
            REQUIRE_FALSE(res.ok());
            CHECK(res.error() == *r.error);
            CHECK_FALSE(reg.find("policy.t").has_value());
        } else {
            CHECK(e.value_or("<valid>") == "<valid>");
            PolicyRegistry reg;
            CHECK(reg.register_policy(def("policy.t", r.mode, r.rules)).ok());
        }
    }
}

}  // namespace

TEST_CASE("POL-REG-2: the built-in policy.default", "[policy][registry]") {
    PolicyRegistry reg;
    auto d = reg.find("policy.default");
    REQUIRE(d.has_value());
    CHECK(d->mode == "*");
    CHECK(d->schema_version == 1);
    CHECK(d->registered_at_ms == 0);
    CHECK(d->description ==
          "Default policy \u2014 mode built-in rules apply with no additional governance constraints");
    CHECK(policy::validate_policy(*d) == invalid("cannot register with reserved policy_id 'policy.default'"));
    auto all = reg.list();
    REQUIRE(all.size() == 1);
    CHECK(all[0].policy_id == "policy.default");
}

TEST_CASE("POL-REG-3: the generic checks, their order and texts", "[policy][registry]") {
    struct IdRow {
        const char* row;
        PolicyDefinition d;
        std::string error;
    };
    const std::vector<IdRow> rows = {
        {"POL-REG-3 empty id", def("", kDecision, "{}"), invalid("policy_id must not be empty")},
        {"POL-REG-3 blank id", def(" \t\n", kDecision, "{}"), invalid("policy_id must not be empty")},
        {"POL-REG-3 blank id before schema_version", def(" ", kDecision, "[]", 0),
         invalid("policy_id must not be empty")},
        {"POL-REG-3 reserved id", def("policy.default", "*", "{}"),
         invalid("cannot register with reserved policy_id 'policy.default'")},
        {"POL-REG-3 reserved id before schema_version", def("policy.default", "*", "{}", 0),
         invalid("cannot register with reserved policy_id 'policy.default'")},
        {"POL-REG-3 schema_version 0", def("p", kDecision, "{}", 0), invalid("schema_version must be > 0")},
        {"POL-REG-3 schema_version before rules", def("p", kDecision, "[]", 0), invalid("schema_version must be > 0")},
        {"POL-REG-3 rules an array", def("p", kDecision, "[]"), invalid("rules must be a JSON object")},
        {"POL-REG-3 rules a string", def("p", kDecision, R"("x")"), invalid("rules must be a JSON object")},
        {"POL-REG-3 rules a number", def("p", "ext.x.v1", "5"), invalid("rules must be a JSON object")},
        {"POL-REG-3 rules null", def("p", "ext.x.v1", "null"), invalid("rules must be a JSON object")},
        {"RPC-REGP-2 (deviation) rules not JSON", def("p", kDecision, "{oops"), invalid("rules must be a JSON object")},
        {"POL-REG-3 rules before schema", def("p", kDecision, "[1]"), invalid("rules must be a JSON object")},
    };
    for (const auto& r : rows) {
        INFO(r.row);
        CHECK(policy::validate_policy(r.d) == r.error);
        PolicyRegistry reg;
        auto res = reg.register_policy(r.d);
        REQUIRE_FALSE(res.ok());
        CHECK(res.error() == r.error);
    }
}

TEST_CASE("POL-REG-4: any schema_version > 0 registers", "[policy][registry]") {
    PolicyRegistry reg;
    for (uint32_t v : {1u, 2u, 3u, 99u, 4294967295u}) {
        INFO(v);
        CHECK(reg.register_policy(def("policy.v" + std::to_string(v), kDecision, "{}", v)).ok());
        CHECK(reg.find("policy.v" + std::to_string(v))->schema_version == v);
    }
}

TEST_CASE("POL-REG-5 / POL-SCH-1..3: decision and '*' rules read as the Decision structure", "[policy][registry]") {
    std::vector<Row> rows;
    for (const std::string mode : {"*", kDecision}) {
        auto add = [&](const char* row, const char* rules, std::optional<std::string> detail) {
            rows.push_back({row, mode, rules, detail ? std::optional(schema(mode, *detail)) : std::nullopt});
        };
        add("POL-REG-5 empty object", "{}", std::nullopt);
        add("POL-REG-5 full valid rules",
            R"({"voting":{"algorithm":"majority","threshold":0.6,"quorum":{"type":"percentage","value":50},)"
            R"("weights":{"a":2}},"objection_handling":{"critical_severity_vetoes":true,"veto_threshold":2,)"
            R"("critical_objection_action":"hold"},"evaluation":{"required_before_voting":true,)"
            R"("minimum_confidence":0.7},"commitment":{"authority":"any_participant","designated_roles":["a"],)"
            R"("require_vote_quorum":true,"allow_decline_over_approval":true}})",
            std::nullopt);
        add("POL-REG-5 unknown keys and unknown enum strings pass",
            R"({"x":1,"voting":{"algorithm":"bogus","extra":[1]},"commitment":{"authority":"whoever"}})", std::nullopt);
        add("POL-REG-5 other modes' groups are ignored (DELTA POL-SCH-8)", R"({"threshold":5,"completion":"x"})",
            std::nullopt);
        add("POL-SCH-1 voting.threshold type", R"({"voting":{"threshold":"x"}})",
            R"(invalid type: string "x", expected f64)");
        add("POL-SCH-1 voting.algorithm type", R"({"voting":{"algorithm":5}})",
            "invalid type: integer `5`, expected a string");
        add("POL-SCH-1 voting.quorum type", R"({"voting":{"quorum":5}})",
            "invalid type: integer `5`, expected struct QuorumRules");
        add("POL-SCH-1 voting.quorum.value type", R"({"voting":{"quorum":{"value":"1"}}})",
            R"(invalid type: string "1", expected f64)");
        add("POL-SCH-1 voting.weights type", R"({"voting":{"weights":[1]}})", "invalid type: sequence, expected a map");
        add("POL-SCH-1 voting.weights value type", R"({"voting":{"weights":{"a":"heavy"}}})",
            R"(invalid type: string "heavy", expected f64)");
        add("POL-SCH-1 voting group type", R"({"voting":"majority"})",
            R"(invalid type: string "majority", expected struct VotingRules)");
        add("POL-SCH-1 voting null", R"({"voting":null})", "invalid type: null, expected struct VotingRules");
        add("POL-SCH-1 objection_handling.critical_severity_vetoes type",
            R"({"objection_handling":{"critical_severity_vetoes":1}})",
            "invalid type: integer `1`, expected a boolean");
        add("POL-SCH-1 objection_handling.veto_threshold negative", R"({"objection_handling":{"veto_threshold":-1}})",
            "invalid value: integer `-1`, expected u32");
        add("POL-SCH-1 objection_handling.veto_threshold fractional",
            R"({"objection_handling":{"veto_threshold":1.5}})", "invalid type: floating point `1.5`, expected u32");
        add("POL-SCH-2 critical_objection_action unknown",
            R"({"objection_handling":{"critical_objection_action":"veto"}})",
            "unknown variant `veto`, expected one of `deny`, `finalize_decline`, `hold`");
        add("POL-SCH-2 critical_objection_action finalize_decline",
            R"({"objection_handling":{"critical_objection_action":"finalize_decline"}})", std::nullopt);
        add("POL-SCH-1 evaluation.required_before_voting type", R"({"evaluation":{"required_before_voting":"yes"}})",
            R"(invalid type: string "yes", expected a boolean)");
        add("POL-SCH-1 evaluation.minimum_confidence type", R"({"evaluation":{"minimum_confidence":true}})",
            "invalid type: boolean `true`, expected f64");
        add("POL-SCH-3 commitment.authority type", R"({"commitment":{"authority":5}})",
            "invalid type: integer `5`, expected a string");
        add("POL-SCH-3 commitment.designated_roles type", R"({"commitment":{"designated_roles":"a"}})",
            R"(invalid type: string "a", expected a sequence)");
        add("POL-SCH-3 commitment.require_vote_quorum type", R"({"commitment":{"require_vote_quorum":"no"}})",
            R"(invalid type: string "no", expected a boolean)");
        add("POL-SCH-3 commitment.allow_decline_over_approval type",
            R"({"commitment":{"allow_decline_over_approval":0}})", "invalid type: integer `0`, expected a boolean");
    }
    check_rows(rows);
}

TEST_CASE("POL-REG-5 / POL-SCH-3..7: proposal, task, handoff and quorum rules use their own parsers",
          "[policy][registry]") {
    const std::vector<Row> rows = {
        // POL-SCH-4 proposal
        {"POL-SCH-4 valid", kProposal,
         R"({"acceptance":{"criterion":"counterparty"},"counter_proposal":{"max_rounds":3},)"
         R"("rejection":{"terminal_on_any_reject":true}})",
         std::nullopt},
        {"POL-SCH-4 unknown criterion string passes", kProposal, R"({"acceptance":{"criterion":"everyone"}})",
         std::nullopt},
        {"POL-REG-5 decision groups are not read for proposal", kProposal, R"({"voting":{"threshold":"x"}})",
         std::nullopt},
        {"POL-SCH-4 criterion type", kProposal, R"({"acceptance":{"criterion":5}})",
         schema(kProposal, "invalid type: integer `5`, expected a string")},
        {"POL-SCH-4 max_rounds string", kProposal, R"({"counter_proposal":{"max_rounds":"3"}})",
         schema(kProposal, R"(invalid type: string "3", expected usize)")},
        {"POL-SCH-4 max_rounds negative", kProposal, R"({"counter_proposal":{"max_rounds":-1}})",
         schema(kProposal, "invalid value: integer `-1`, expected usize")},
        {"POL-SCH-4 terminal_on_any_reject type", kProposal, R"({"rejection":{"terminal_on_any_reject":"yes"}})",
         schema(kProposal, R"(invalid type: string "yes", expected a boolean)")},
        {"POL-SCH-4 group type", kProposal, R"({"acceptance":[]})",
         schema(kProposal, "invalid type: sequence, expected struct ProposalAcceptanceRules")},
        // POL-SCH-5 task
        {"POL-SCH-5 valid", kTask,
         R"({"assignment":{"allow_reassignment_on_reject":true},"completion":{"require_output":true}})", std::nullopt},
        {"POL-REG-5 decision groups are not read for task", kTask, R"({"voting":{"algorithm":"weighted"}})",
         std::nullopt},
        {"POL-SCH-5 require_output type", kTask, R"({"completion":{"require_output":"yes"}})",
         schema(kTask, R"(invalid type: string "yes", expected a boolean)")},
        {"POL-SCH-5 allow_reassignment_on_reject type", kTask, R"({"assignment":{"allow_reassignment_on_reject":1}})",
         schema(kTask, "invalid type: integer `1`, expected a boolean")},
        {"POL-SCH-5 group type", kTask, R"({"completion":true})",
         schema(kTask, "invalid type: boolean `true`, expected struct TaskCompletionRules")},
        // POL-SCH-6 handoff
        {"POL-SCH-6 valid", kHandoff, R"({"acceptance":{"implicit_accept_timeout_ms":5000}})", std::nullopt},
        {"POL-SCH-6 timeout negative", kHandoff, R"({"acceptance":{"implicit_accept_timeout_ms":-5}})",
         schema(kHandoff, "invalid value: integer `-5`, expected u64")},
        {"POL-SCH-6 timeout string", kHandoff, R"({"acceptance":{"implicit_accept_timeout_ms":"5"}})",
         schema(kHandoff, R"(invalid type: string "5", expected u64)")},
        {"POL-SCH-6 timeout fractional", kHandoff, R"({"acceptance":{"implicit_accept_timeout_ms":1.5}})",
         schema(kHandoff, "invalid type: floating point `1.5`, expected u64")},
        {"POL-SCH-6 group type", kHandoff, R"({"acceptance":"auto"})",
         schema(kHandoff, R"(invalid type: string "auto", expected struct HandoffAcceptanceRules)")},
        // POL-SCH-7 quorum
        {"POL-SCH-7 valid", kQuorum,
         R"({"threshold":{"type":"percentage","value":60},"abstention":{"counts_toward_quorum":true,)"
         R"("interpretation":"implicit_reject"}})",
         std::nullopt},
        {"POL-REG-5 supermajority constraint is decision-only", kQuorum, R"({"voting":{"algorithm":"supermajority"}})",
         std::nullopt},
        {"POL-SCH-7 threshold.value type", kQuorum, R"({"threshold":{"value":"2"}})",
         schema(kQuorum, R"(invalid type: string "2", expected f64)")},
        {"POL-SCH-7 threshold.type type", kQuorum, R"({"threshold":{"type":3}})",
         schema(kQuorum, "invalid type: integer `3`, expected a string")},
        {"POL-SCH-7 scalar threshold", kQuorum, R"({"threshold":5})",
         schema(kQuorum, "invalid type: integer `5`, expected struct QuorumThreshold")},
        {"POL-SCH-7 counts_toward_quorum type", kQuorum, R"({"abstention":{"counts_toward_quorum":"no"}})",
         schema(kQuorum, R"(invalid type: string "no", expected a boolean)")},
        {"POL-SCH-7 interpretation type", kQuorum, R"({"abstention":{"interpretation":1}})",
         schema(kQuorum, "invalid type: integer `1`, expected a string")},
        // POL-SCH-3: the commitment group is part of every standard mode's structure
        {"POL-SCH-3 proposal commitment", kProposal, R"({"commitment":{"authority":5}})",
         schema(kProposal, "invalid type: integer `5`, expected a string")},
        {"POL-SCH-3 task commitment", kTask, R"({"commitment":{"designated_roles":[1]}})",
         schema(kTask, "invalid type: integer `1`, expected a string")},
        {"POL-SCH-3 handoff commitment", kHandoff, R"({"commitment":"any"})",
         schema(kHandoff, R"(invalid type: string "any", expected struct CommitmentRules)")},
        {"POL-SCH-3 quorum commitment", kQuorum, R"({"commitment":{"require_vote_quorum":1}})",
         schema(kQuorum, "invalid type: integer `1`, expected a boolean")},
        // Other mode strings accept any JSON object (POL-REG-5, POL-REG-9)
        {"POL-REG-5 extension mode", "ext.fraud.v1", R"({"voting":{"threshold":"x"},"commitment":{"authority":5}})",
         std::nullopt},
        {"POL-REG-9 empty mode", "", R"({"anything":[1,2,3]})", std::nullopt},
        {"POL-REG-9 unknown standard-looking mode", "macp.mode.unknown.v1", R"({"threshold":"x"})", std::nullopt},
    };
    check_rows(rows);
}

TEST_CASE("POL-REG-6/7: decision voting constraints", "[policy][registry]") {
    std::vector<Row> rows;
    const std::string weighted = invalid("voting.algorithm 'weighted' requires non-empty voting.weights");
    const std::string superm = invalid("voting.algorithm 'supermajority' requires voting.threshold > 0.5");
    for (const std::string mode : {"*", kDecision}) {
        rows.push_back(
            {"POL-REG-6 weighted without weights", mode, R"({"voting":{"algorithm":"weighted"}})", weighted});
        rows.push_back({"POL-REG-6 weighted with empty weights", mode,
                        R"({"voting":{"algorithm":"weighted","weights":{}}})", weighted});
        rows.push_back({"POL-REG-6 weighted with weights", mode,
                        R"({"voting":{"algorithm":"weighted","weights":{"a":2}}})", std::nullopt});
        rows.push_back({"POL-REG-7 supermajority default threshold 0.5", mode,
                        R"({"voting":{"algorithm":"supermajority"}})", superm});
        rows.push_back({"POL-REG-7 supermajority threshold 0.5", mode,
                        R"({"voting":{"algorithm":"supermajority","threshold":0.5}})", superm});
        rows.push_back({"POL-REG-7 supermajority threshold 0.51", mode,
                        R"({"voting":{"algorithm":"supermajority","threshold":0.51}})", std::nullopt});
        rows.push_back({"POL-REG-3 a schema error comes before the constraints", mode,
                        R"({"voting":{"algorithm":"weighted","threshold":"x"}})",
                        schema(mode, R"(invalid type: string "x", expected f64)")});
        rows.push_back({"POL-REG-3 POL-REG-6 before POL-REG-8", mode,
                        R"({"voting":{"algorithm":"weighted"},"commitment":{"authority":"designated_role"}})",
                        weighted});
    }
    for (const std::string mode : {kProposal, kTask, kHandoff, kQuorum, "ext.x.v1"}) {
        rows.push_back({"POL-REG-6 decision-only", mode, R"({"voting":{"algorithm":"weighted"}})", std::nullopt});
    }
    check_rows(rows);
}

TEST_CASE("POL-REG-8: designated_role needs designated_roles, in every mode", "[policy][registry]") {
    const std::string err =
        invalid("commitment.authority 'designated_role' requires non-empty commitment.designated_roles");
    std::vector<Row> rows;
    std::vector<std::string> modes = kStandardModes;
    modes.emplace_back("ext.fraud.v1");
    modes.emplace_back("");
    for (const auto& mode : modes) {
        rows.push_back({"POL-REG-8 roles missing", mode, R"({"commitment":{"authority":"designated_role"}})", err});
        rows.push_back({"POL-REG-8 roles empty", mode,
                        R"({"commitment":{"authority":"designated_role","designated_roles":[]}})", err});
        rows.push_back({"POL-REG-8 roles given", mode,
                        R"({"commitment":{"authority":"designated_role","designated_roles":["agent://a"]}})",
                        std::nullopt});
        rows.push_back({"POL-AUTH-3 other authorities need no roles", mode,
                        R"({"commitment":{"authority":"any_participant"}})", std::nullopt});
    }
    // A commitment group that does not deserialize is not checked by POL-REG-8 (extension modes
    // never check its types at all).
    rows.push_back({"POL-REG-8 skipped for an undeserializable group", "ext.fraud.v1",
                    R"({"commitment":{"authority":"designated_role","designated_roles":"x"}})", std::nullopt});
    check_rows(rows);
}

TEST_CASE("register / find / list / unregister (POL-REG-10/11, RPC-REGP/UNREGP/LISTP)", "[policy][registry]") {
    PolicyRegistry reg;
    int changes = 0;
    reg.on_change([&] { ++changes; });

    SECTION("RPC-REGP-2: empty rules mean {}; RPC-POLDESC-1: rules stored compact with sorted keys") {
        REQUIRE(reg.register_policy(def("policy.empty", kTask, "")).ok());
        CHECK(reg.find("policy.empty")->rules == "{}");
        REQUIRE(reg.register_policy(
                       def("policy.sorted", kDecision, R"({ "voting" : {"threshold":0.6,"algorithm":"majority"} })"))
                    .ok());
        CHECK(reg.find("policy.sorted")->rules == R"({"voting":{"algorithm":"majority","threshold":0.6}})");
        CHECK(reg.find("policy.sorted")->registered_at_ms == 1234);
        CHECK(changes == 2);
    }
    SECTION("POL-REG-11: duplicates are refused with the plain text; no notification") {
        REQUIRE(reg.register_policy(def("policy.a", kDecision, "{}")).ok());
        auto r = reg.register_policy(def("policy.a", kTask, "{}"));
        REQUIRE_FALSE(r.ok());
        CHECK(r.error() == "policy 'policy.a' is already registered");
        CHECK(reg.find("policy.a")->mode == kDecision);
        CHECK(changes == 1);
    }
    SECTION("POL-REG-3: validation comes before the duplicate check") {
        REQUIRE(reg.register_policy(def("policy.a", kDecision, "{}")).ok());
        CHECK(reg.register_policy(def("policy.a", kDecision, "[]")).error() == invalid("rules must be a JSON object"));
    }
    SECTION("RPC-UNREGP-1: texts and notification") {
        auto r = reg.unregister_policy("policy.default");
        REQUIRE_FALSE(r.ok());
        CHECK(r.error() == "cannot unregister the built-in default policy");
        r = reg.unregister_policy("policy.nope");
        REQUIRE_FALSE(r.ok());
        CHECK(r.error() == "policy 'policy.nope' not found");
        CHECK(changes == 0);
        REQUIRE(reg.register_policy(def("policy.a", kDecision, "{}")).ok());
        REQUIRE(reg.unregister_policy("policy.a").ok());
        CHECK_FALSE(reg.find("policy.a").has_value());
        CHECK(changes == 2);
        CHECK(reg.register_policy(def("policy.a", kTask, "{}")).ok());  // the id is free again
    }
    SECTION("RPC-LISTP-1: mode filter includes '*', always sorted by id") {
        REQUIRE(reg.register_policy(def("policy.z", kTask, "{}")).ok());
        REQUIRE(reg.register_policy(def("policy.b", "*", "{}")).ok());
        REQUIRE(reg.register_policy(def("policy.a", kDecision, "{}")).ok());
        auto ids = [](const std::vector<PolicyDefinition>& v) {
            std::vector<std::string> out;
            for (const auto& p : v) out.push_back(p.policy_id);
            return out;
        };
        CHECK(ids(reg.list()) == std::vector<std::string>{"policy.a", "policy.b", "policy.default", "policy.z"});
        CHECK(ids(reg.list(kTask)) == std::vector<std::string>{"policy.b", "policy.default", "policy.z"});
        CHECK(ids(reg.list(kDecision)) == std::vector<std::string>{"policy.a", "policy.b", "policy.default"});
        CHECK(ids(reg.list("ext.none.v1")) == std::vector<std::string>{"policy.b", "policy.default"});
    }
}

TEST_CASE("RPC-POLRO-1 / CFG-21: a read-only registry refuses register and unregister", "[policy][registry]") {
    auto storage = memory_storage();
    PolicyRegistry reg(storage.get());
    REQUIRE(reg.register_policy(def("policy.rpc", kDecision, "{}")).ok());
    CHECK_FALSE(reg.read_only());
    reg.set_read_only(true);
    CHECK(reg.read_only());
    const std::string ro = "policy registry is read-only: policies are file-loaded via MACP_POLICIES_DIR";
    CHECK(std::string(policy::kReadOnlyMessage) == ro);

    auto r = reg.register_policy(def("policy.new", kDecision, "{}"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == ro);
    // The read-only refusal comes before validation and the duplicate / default checks.
    CHECK(reg.register_policy(def("", kDecision, "[]")).error() == ro);
    CHECK(reg.register_policy(def("policy.rpc", kDecision, "{}")).error() == ro);
    CHECK(reg.unregister_policy("policy.rpc").error() == ro);
    CHECK(reg.unregister_policy("policy.default").error() == ro);
    CHECK(reg.unregister_policy("policy.nope").error() == ro);
    CHECK(reg.find("policy.rpc").has_value());
    CHECK_FALSE(reg.find("policy.new").has_value());

    // Reads are unaffected; file loading still registers (POL-REG-12).
    CHECK(reg.list().size() == 2);
    REQUIRE(reg.register_file_policy(def("policy.file", kTask, R"({"completion":{"require_output":true}})")).ok());
    CHECK(reg.find("policy.file")->rules == R"({"completion":{"require_output":true}})");
    CHECK(reg.register_file_policy(def("policy.bad", kTask, R"({"completion":{"require_output":1}})")).error() ==
          schema(kTask, "invalid type: integer `1`, expected a boolean"));
    CHECK(reg.register_file_policy(def("policy.file", kTask, "{}")).error() ==
          "policy 'policy.file' is already registered");
    CHECK(reg.register_file_policy(def("policy.default", "*", "{}")).error() ==
          invalid("cannot register with reserved policy_id 'policy.default'"));

    reg.set_read_only(false);
    CHECK(reg.register_policy(def("policy.new", kDecision, "{}")).ok());
    CHECK(reg.unregister_policy("policy.new").ok());
}

TEST_CASE("POL-REG-1 (deviation), STO-REC-9: registrations persist through the storage backend", "[policy][registry]") {
    auto storage = memory_storage();
    {
        PolicyRegistry reg(storage.get());
        REQUIRE(reg.load().value() == 0);
        REQUIRE(reg.register_policy(def("policy.a", kQuorum, R"({"threshold":{"value":2,"type":"n_of_m"}})", 2)).ok());
        REQUIRE(reg.register_policy(def("policy.b", kDecision, "{}")).ok());
        REQUIRE(reg.register_policy(def("policy.c", kTask, "{}")).ok());
        REQUIRE(reg.unregister_policy("policy.c").ok());
        // File-loaded policies are never written (the directory is re-read on every start).
        REQUIRE(reg.register_file_policy(def("policy.file", kTask, "{}")).ok());
        auto records = storage->list_records(policy::kPolicyNamespace);
        REQUIRE(records.ok());
        std::vector<std::string> keys;
        for (const auto& [k, v] : *records) keys.push_back(k);
        std::sort(keys.begin(), keys.end());
        CHECK(keys == std::vector<std::string>{"policy.a", "policy.b"});
        // Unregistering a file-loaded policy (possible only when not read-only) touches no record.
        REQUIRE(reg.unregister_policy("policy.file").ok());
    }
    PolicyRegistry again(storage.get());
    auto loaded = again.load();
    REQUIRE(loaded.ok());
    CHECK(loaded.value() == 2);
    auto a = again.find("policy.a");
    REQUIRE(a.has_value());
    CHECK(a->mode == kQuorum);
    CHECK(a->description == "test policy");
    CHECK(a->rules == R"({"threshold":{"type":"n_of_m","value":2}})");
    CHECK(a->schema_version == 2);
    CHECK(a->registered_at_ms == 1234);
    CHECK(again.find("policy.b").has_value());
    CHECK_FALSE(again.find("policy.c").has_value());
    CHECK_FALSE(again.find("policy.file").has_value());
    CHECK(again.find("policy.default").has_value());

    SECTION("a corrupt stored record stops loading") {
        REQUIRE(storage->put_record(policy::kPolicyNamespace, "policy.x", "not json").ok());
        PolicyRegistry third(storage.get());
        auto r = third.load();
        REQUIRE_FALSE(r.ok());
        CHECK(r.error() == "stored policy 'policy.x' is corrupt");
    }
}

TEST_CASE("encode_policy / decode_policy round trip", "[policy][registry]") {
    auto d = def("policy.rt", "*", R"({"voting":{"algorithm":"majority"}})", 7);
    d.description = "quotes \" and \\ and \u00e9";
    auto back = policy::decode_policy(policy::encode_policy(d));
    REQUIRE(back.has_value());
    CHECK(back->policy_id == d.policy_id);
    CHECK(back->mode == d.mode);
    CHECK(back->description == d.description);
    CHECK(back->rules == d.rules);
    CHECK(back->schema_version == 7);
    CHECK(back->registered_at_ms == 1234);
    CHECK_FALSE(policy::decode_policy("[]").has_value());
    CHECK_FALSE(policy::decode_policy(R"({"policy_id":""})").has_value());
}
