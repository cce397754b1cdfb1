#include "policy/task_evaluator.hpp"

#include <rapidjson/document.h>

#include "policy/parsed_rules.hpp"
#include "policy/rule_reader.hpp"
#include "util/json.hpp"

namespace macp::policy {

// Rule reading and serde's error wording are shared with the other modes' evaluators.
using rule_reader::check_bool;
using rule_reader::check_commitment_group;
using rule_reader::invalid_type;
using rule_reader::members_in_key_order;

namespace {

// Task and handoff error texts have always spelled a NUL inside a quoted string `\u{0}` where
// Rust writes `\0` (see rule_reader::NulEscape); kept so that no error text changes.
constexpr auto kNul = rule_reader::NulEscape::UnicodeBraces;

}  // namespace

Result<TaskRules, std::string> parse_task_rules(const PolicyDefinition& policy) {
    rapidjson::Document doc;
    if (!util::parse_json_untrusted(policy.rules, doc)) return fail(std::string("rules are not valid JSON"));
    if (!doc.IsObject()) return fail(invalid_type(doc, "struct TaskPolicyRules", kNul));
    TaskRules out;  // POL-SCH-5 defaults; unknown keys are ignored
    for (const auto& [group, g] : members_in_key_order(doc)) {
        if (group == "commitment") {
            if (auto e = check_commitment_group(*g, kNul); !e.empty()) return fail(std::move(e));
            continue;
        }
        const char* field = nullptr;
        bool* target = nullptr;
        const char* type_name = nullptr;
        if (group == "assignment") {
            field = "allow_reassignment_on_reject";
            target = &out.allow_reassignment_on_reject;
            type_name = "struct TaskAssignmentRules";
        } else if (group == "completion") {
            field = "require_output";
            target = &out.require_output;
            type_name = "struct TaskCompletionRules";
        } else {
            continue;
        }
        if (!g->IsObject()) return fail(invalid_type(*g, type_name, kNul));
        for (const auto& [key, v] : members_in_key_order(*g)) {
            if (key != field) continue;
            if (auto e = check_bool(*v, kNul); !e.empty()) return fail(std::move(e));
            *target = v->GetBool();
        }
    }
    return out;
}

TaskRules task_rules_or_default(const PolicyDefinition* policy) {
    if (policy == nullptr) return {};
    const auto parsed = rules_of(*policy);  // read when the policy was bound (issue #13)
    const auto& rules = parsed->task;
    return rules ? rules.value() : TaskRules{};  // POL-SCH-8: mode-side reads fall back to defaults
}

std::vector<std::string> evaluate_task_commitment(const PolicyDefinition* policy, bool has_output,
                                                  bool outcome_positive) {
    if (policy == nullptr) return {};                                       // no bound policy: nothing to enforce
    if (auto reason = unsupported_schema_reason(policy)) return {*reason};  // POL-EVAL-1
    const auto parsed = rules_of(*policy);  // read when the policy was bound (issue #13)
    const auto& rules = parsed->task;
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
