#include "policy/task_evaluator.hpp"

#include <optional>

#include <rapidjson/document.h>

#include "util/json.hpp"

namespace macp::policy {

namespace {

// POL-SCH-3: the shared `commitment` group is part of every mode's rule struct, so a mistyped field
// there makes the task rules fail to parse as a whole.
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

// Reads `<group>.<key>` as a boolean into `out`; an absent group or key leaves the default.
std::optional<std::string> read_bool(const rapidjson::Value& rules, const char* group, const char* key, bool& out) {
    auto g = rules.FindMember(group);
    if (g == rules.MemberEnd()) return std::nullopt;
    if (!g->value.IsObject()) return std::string(group) + " must be an object";
    auto v = g->value.FindMember(key);
    if (v == g->value.MemberEnd()) return std::nullopt;
    if (!v->value.IsBool()) return std::string(group) + "." + key + " must be a boolean";
    out = v->value.GetBool();
    return std::nullopt;
}

}  // namespace

Result<TaskRules, std::string> parse_task_rules(const PolicyDefinition& policy) {
    rapidjson::Document doc;
    if (!util::parse_json_untrusted(policy.rules, doc)) return fail(std::string("rules are not valid JSON"));
    if (!doc.IsObject()) return fail(std::string("rules must be a JSON object"));
    TaskRules out;  // POL-SCH-5 defaults
    if (auto p = read_bool(doc, "assignment", "allow_reassignment_on_reject", out.allow_reassignment_on_reject)) {
        return fail(std::move(*p));
    }
    if (auto p = read_bool(doc, "completion", "require_output", out.require_output)) return fail(std::move(*p));
    if (auto p = commitment_group_problem(doc)) return fail(std::move(*p));
    return out;
}

TaskRules task_rules_or_default(const PolicyDefinition* policy) {
    if (policy == nullptr) return {};
    auto rules = parse_task_rules(*policy);
    return rules ? rules.value() : TaskRules{};  // POL-SCH-8: mode-side reads fall back to defaults
}

std::vector<std::string> evaluate_task_commitment(const PolicyDefinition* policy, bool has_output,
                                                  bool outcome_positive) {
    if (policy == nullptr) return {};  // no bound policy: nothing to enforce
    if (auto reason = unsupported_schema_reason(policy)) return {*reason};  // POL-EVAL-1
    auto rules = parse_task_rules(*policy);
    if (!rules) {  // POL-SCH-8 (0.6): an evaluation-time parse failure denies
        return {"policy '" + policy->policy_id + "' rules failed to parse at evaluation time: " + rules.error()};
    }
    std::vector<std::string> deny;
    // POL-TASK-1 (0.6, Q-30 partly fixed): require_output gates positive commitments only; a negative
    // commitment (e.g. after TaskFail) legitimately has no output.
    if (rules->require_output && !has_output && outcome_positive) {
        deny.emplace_back("policy requires task output before commitment");
    }
    return deny;
}

}  // namespace macp::policy
