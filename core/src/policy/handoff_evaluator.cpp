#include "policy/handoff_evaluator.hpp"

#include <rapidjson/document.h>

#include "policy/parsed_rules.hpp"
#include "policy/rule_reader.hpp"
#include "util/json.hpp"

namespace macp::policy {

// Rule reading and serde's error wording are shared with the other modes' evaluators.
using rule_reader::check_commitment_group;
using rule_reader::check_unsigned;
using rule_reader::invalid_type;
using rule_reader::members_in_key_order;

namespace {

// Task and handoff error texts have always spelled a NUL inside a quoted string `\u{0}` where
// Rust writes `\0` (see rule_reader::NulEscape); kept so that no error text changes.
constexpr auto kNul = rule_reader::NulEscape::UnicodeBraces;

}  // namespace

Result<HandoffRules, std::string> parse_handoff_rules(const PolicyDefinition& policy) {
    rapidjson::Document doc;
    if (!util::parse_json_untrusted(policy.rules, doc)) return fail(std::string("rules are not valid JSON"));
    if (!doc.IsObject()) return fail(invalid_type(doc, "struct HandoffPolicyRules", kNul));
    HandoffRules out;  // POL-SCH-6 defaults; unknown keys are ignored
    for (const auto& [group, g] : members_in_key_order(doc)) {
        if (group == "commitment") {
            if (auto e = check_commitment_group(*g, kNul); !e.empty()) return fail(std::move(e));
            continue;
        }
        if (group != "acceptance") continue;
        if (!g->IsObject()) return fail(invalid_type(*g, "struct HandoffAcceptanceRules", kNul));
        for (const auto& [key, v] : members_in_key_order(*g)) {
            if (key != "implicit_accept_timeout_ms") continue;
            // POL-SCH-6: an unsigned 64-bit integer; negative, fractional or non-numeric values fail.
            if (auto e = check_unsigned(*v, "u64", kNul); !e.empty()) return fail(std::move(e));
            out.implicit_accept_timeout_ms = v->GetUint64();
        }
    }
    return out;
}

HandoffRules handoff_rules_or_default(const PolicyDefinition* policy) {
    if (policy == nullptr) return {};
    const auto parsed = rules_of(*policy);  // read when the policy was bound (issue #13)
    const auto& rules = parsed->handoff;
    return rules ? rules.value() : HandoffRules{};  // POL-SCH-8: mode-side reads fall back to defaults
}

std::vector<std::string> evaluate_handoff_commitment(const PolicyDefinition* policy, bool /*outcome_positive*/) {
    if (policy == nullptr) return {};                                       // no bound policy: nothing to enforce
    if (auto reason = unsupported_schema_reason(policy)) return {*reason};  // POL-EVAL-1
    const auto parsed = rules_of(*policy);  // read when the policy was bound (issue #13)
    const auto& rules = parsed->handoff;
    if (!rules) {  // POL-SCH-8 (0.6): an evaluation-time parse failure denies
        return {"policy '" + policy->policy_id + "' rules failed to parse at evaluation time: " + rules.error()};
    }
    // POL-HOFF-1: otherwise always allow, for both outcomes; the implicit-accept timeout is applied by
    // the mode before evaluation (MODE-HOFF-7).
    return {};
}

}  // namespace macp::policy
