#include "policy/proposal_evaluator.hpp"

#include <rapidjson/document.h>

#include "policy/parsed_rules.hpp"
#include "policy/rule_reader.hpp"
#include "util/json.hpp"

namespace macp::policy {

// Rule reading and serde's error wording are shared with the other modes' evaluators.
using rule_reader::check_bool;
using rule_reader::check_commitment_group;
using rule_reader::check_string;
using rule_reader::check_unsigned;
using rule_reader::invalid_type;
using rule_reader::members_in_key_order;

// POL-SCH-4: acceptance{criterion="all_parties"}, counter_proposal{max_rounds=0},
// rejection{terminal_on_any_reject=false}, commitment{...}.
Result<ProposalPolicyRules, std::string> parse_proposal_rules(std::string_view rules_json) {
    rapidjson::Document doc;
    if (!util::parse_json_untrusted(rules_json, doc)) return fail(std::string("rules are not valid JSON"));
    if (!doc.IsObject()) return fail(invalid_type(doc, "struct ProposalPolicyRules"));
    ProposalPolicyRules out;
    for (const auto& [key, group] : members_in_key_order(doc)) {
        if (key == "commitment") {
            auto err = check_commitment_group(*group);
            if (!err.empty()) return fail(err);
            continue;
        }
        const char* type_name = key == "acceptance"         ? "struct ProposalAcceptanceRules"
                                : key == "counter_proposal" ? "struct CounterProposalRules"
                                : key == "rejection"        ? "struct RejectionRules"
                                                            : nullptr;
        if (type_name == nullptr) continue;  // unknown keys are ignored
        if (!group->IsObject()) return fail(invalid_type(*group, type_name));
        for (const auto& [field, val] : members_in_key_order(*group)) {
            if (key == "acceptance" && field == "criterion") {
                auto err = check_string(*val);
                if (!err.empty()) return fail(err);
                out.acceptance_criterion.assign(val->GetString(), val->GetStringLength());
            } else if (key == "counter_proposal" && field == "max_rounds") {
                auto err = check_unsigned(*val, "usize");
                if (!err.empty()) return fail(err);
                out.counter_proposal_max_rounds = val->GetUint64();
            } else if (key == "rejection" && field == "terminal_on_any_reject") {
                auto err = check_bool(*val);
                if (!err.empty()) return fail(err);
                out.rejection_terminal_on_any_reject = val->GetBool();
            }
        }
    }
    return out;
}

ProposalPolicyRules proposal_rules_or_default(const PolicyDefinition* policy) {
    if (policy == nullptr) return {};
    const auto parsed = rules_of(*policy);  // read when the policy was bound (issue #13)
    if (!parsed->proposal) return {};       // POL-SCH-8: mode-side reads fall back to the defaults
    return parsed->proposal.value();
}

std::vector<std::string> evaluate_proposal_commitment(const PolicyDefinition* policy, uint64_t counter_proposal_count,
                                                      bool outcome_positive) {
    if (policy == nullptr) return {};  // no bound policy: the reference does not evaluate
    if (auto reason = unsupported_schema_reason(policy)) return {*reason};  // POL-EVAL-1
    const auto all = rules_of(*policy);  // read when the policy was bound (issue #13)
    const auto& parsed = all->proposal;
    if (!parsed) {  // POL-SCH-8 (0.6): an evaluation-time parse failure denies
        return {"policy '" + policy->policy_id + "' rules failed to parse at evaluation time: " + parsed.error()};
    }
    const auto& rules = parsed.value();
    std::vector<std::string> deny;
    // POL-PROP-1 (0.6): the round limit gates positive commitments only; a decline is the legitimate
    // exit from an over-long negotiation (POL-EVAL-3).
    if (rules.counter_proposal_max_rounds > 0 && counter_proposal_count > rules.counter_proposal_max_rounds &&
        outcome_positive) {
        deny.push_back("counter-proposal limit exceeded: " + std::to_string(counter_proposal_count) + " of " +
                       std::to_string(rules.counter_proposal_max_rounds) + " allowed");
    }
    return deny;
}

}  // namespace macp::policy
