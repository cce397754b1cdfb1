#include "policy/handoff_evaluator.hpp"

#include <optional>

#include <rapidjson/document.h>

#include "util/json.hpp"

namespace macp::policy {

namespace {

// POL-SCH-3: the shared `commitment` group is part of every mode's rule struct, so a mistyped field
// there makes the handoff rules fail to parse as a whole.
std::optional<std::string> commitment_group_problem(const rapidjson::Value& rules) {
    auto c = rules.FindMember("commitment");
    if (c == rules.MemberEnd()) return std::nullopt;
    if (!c->value.IsObject()) return "commitment must be an object";
    const auto& g = c->value;
    auto a = g.FindMember("authority");
    if (a != g.MemberEnd() && !a->value.IsString()) return "commitment.authority must be a string";
    auto r = g.FindMember("designated_roles");
    if (r != g.MemberEnd()) {
        if (!r->value.IsArray()) return "commitment.designated_roles must be an array of strings";
        for (const auto& role : r->value.GetArray()) {
            if (!role.IsString()) return "commitment.designated_roles must be an array of strings";
        }
    }
    for (const char* key : {"require_vote_quorum", "allow_decline_over_approval"}) {
        auto b = g.FindMember(key);
        if (b != g.MemberEnd() && !b->value.IsBool()) return "commitment." + std::string(key) + " must be a boolean";
    }
    return std::nullopt;
}

}  // namespace

Result<HandoffRules, std::string> parse_handoff_rules(const PolicyDefinition& policy) {
    rapidjson::Document doc;
    if (!util::parse_json_untrusted(policy.rules, doc)) return fail(std::string("rules are not valid JSON"));
    if (!doc.IsObject()) return fail(std::string("rules must be a JSON object"));
    HandoffRules out;  // POL-SCH-6 defaults
    auto g = doc.FindMember("acceptance");
    if (g != doc.MemberEnd()) {
        if (!g->value.IsObject()) return fail(std::string("acceptance must be an object"));
        auto v = g->value.FindMember("implicit_accept_timeout_ms");
        if (v != g->value.MemberEnd()) {
            // POL-SCH-6: an unsigned integer; negative, fractional or non-numeric values do not parse.
            if (!v->value.IsUint64()) {
                return fail(std::string("acceptance.implicit_accept_timeout_ms must be a non-negative integer"));
            }
            out.implicit_accept_timeout_ms = v->value.GetUint64();
        }
    }
    if (auto p = commitment_group_problem(doc)) return fail(std::move(*p));
    return out;
}

HandoffRules handoff_rules_or_default(const PolicyDefinition* policy) {
    if (policy == nullptr) return {};
    auto rules = parse_handoff_rules(*policy);
    return rules ? rules.value() : HandoffRules{};  // POL-SCH-8: mode-side reads fall back to defaults
}

std::vector<std::string> evaluate_handoff_commitment(const PolicyDefinition* policy, bool /*outcome_positive*/) {
    if (policy == nullptr) return {};  // no bound policy: nothing to enforce
    if (auto reason = unsupported_schema_reason(policy)) return {*reason};  // POL-EVAL-1
    auto rules = parse_handoff_rules(*policy);
    if (!rules) {  // POL-SCH-8 (0.6): an evaluation-time parse failure denies
        return {"policy '" + policy->policy_id + "' rules failed to parse at evaluation time: " + rules.error()};
    }
    // POL-HOFF-1: otherwise always allow, for both outcomes; the implicit-accept timeout is applied by
    // the mode before evaluation (MODE-HOFF-7).
    return {};
}

}  // namespace macp::policy
