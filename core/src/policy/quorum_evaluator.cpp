#include "policy/quorum_evaluator.hpp"

#include <cmath>
#include <limits>

#include <rapidjson/document.h>

#include "policy/parsed_rules.hpp"
#include "policy/rule_reader.hpp"
#include "util/json.hpp"

namespace macp::policy {

// Rule reading and serde's error wording are shared with the other modes' evaluators.
using rule_reader::check_bool;
using rule_reader::check_commitment_group;
using rule_reader::check_f64;
using rule_reader::check_string;
using rule_reader::f64_digits;
using rule_reader::invalid_type;
using rule_reader::members_in_key_order;

namespace {

// Rust's saturating `f64 as u64`: NaN and negatives give 0, too-large values give the maximum.
uint64_t saturating_u64(double x) {
    if (!(x > 0.0)) return 0;
    if (x >= 18446744073709551616.0) return std::numeric_limits<uint64_t>::max();
    return static_cast<uint64_t>(x);
}

}  // namespace

// POL-SCH-7: threshold{type="n_of_m", value=0.0}, abstention{counts_toward_quorum=false,
// interpretation="neutral"}, commitment{...}.
Result<QuorumPolicyRules, std::string> parse_quorum_rules(std::string_view rules_json) {
    rapidjson::Document doc;
    if (!util::parse_json_untrusted(rules_json, doc)) return fail(std::string("rules are not valid JSON"));
    if (!doc.IsObject()) return fail(invalid_type(doc, "struct QuorumPolicyRules"));
    QuorumPolicyRules out;
    for (const auto& [key, group] : members_in_key_order(doc)) {
        if (key == "commitment") {
            auto err = check_commitment_group(*group);
            if (!err.empty()) return fail(err);
            continue;
        }
        const char* type_name = key == "threshold"    ? "struct QuorumThreshold"
                                : key == "abstention" ? "struct AbstentionRules"
                                                      : nullptr;
        if (type_name == nullptr) continue;  // unknown keys are ignored
        if (!group->IsObject()) return fail(invalid_type(*group, type_name));
        for (const auto& [field, val] : members_in_key_order(*group)) {
            std::string err;
            if (key == "threshold" && field == "type") {
                err = check_string(*val);
                if (err.empty()) out.threshold_type.assign(val->GetString(), val->GetStringLength());
            } else if (key == "threshold" && field == "value") {
                err = check_f64(*val);
                if (err.empty()) out.threshold_value = val->GetDouble();
            } else if (key == "abstention" && field == "counts_toward_quorum") {
                err = check_bool(*val);
                if (err.empty()) out.abstention_counts_toward_quorum = val->GetBool();
            } else if (key == "abstention" && field == "interpretation") {
                err = check_string(*val);
                if (err.empty()) out.abstention_interpretation.assign(val->GetString(), val->GetStringLength());
            }
            if (!err.empty()) return fail(err);
        }
    }
    return out;
}

QuorumPolicyRules quorum_rules_or_default(const PolicyDefinition* policy) {
    if (policy == nullptr) return {};
    const auto parsed = rules_of(*policy);  // read when the policy was bound (issue #13)
    if (!parsed->quorum) return {};         // POL-SCH-8: mode-side reads fall back to the defaults
    return parsed->quorum.value();
}

std::optional<uint64_t> quorum_policy_required_approvals(const QuorumPolicyRules& rules, size_t participant_count) {
    if (!(rules.threshold_value > 0.0)) return std::nullopt;  // MODE-QUO-5 / POL-QUO-1: only value > 0
    if (rules.threshold_type == "percentage") {
        // POL-SCH-9: 0–100 scale; POL-QUO-1 (0.6): zero participants can never meet it.
        if (participant_count == 0) return std::numeric_limits<uint64_t>::max();
        return saturating_u64(std::ceil(rules.threshold_value / 100.0 * static_cast<double>(participant_count)));
    }
    // "n_of_m", "count" and unknown types: ceil(value). Q-47: the reference mode truncates here while
    // its evaluator rounds up; we round up in both places so readiness and the gate agree.
    return saturating_u64(std::ceil(rules.threshold_value));
}

std::vector<std::string> evaluate_quorum_commitment(const PolicyDefinition* policy, const QuorumTally& tally,
                                                    const std::vector<std::string>& participants,
                                                    bool outcome_positive) {
    if (policy == nullptr) return {};  // no bound policy: the reference does not evaluate
    if (auto reason = unsupported_schema_reason(policy)) return {*reason};  // POL-EVAL-1
    const auto all = rules_of(*policy);  // read when the policy was bound (issue #13)
    const auto& parsed = all->quorum;
    if (!parsed) {  // POL-SCH-8 (0.6): an evaluation-time parse failure denies
        return {"policy '" + policy->policy_id + "' rules failed to parse at evaluation time: " + parsed.error()};
    }
    const auto& rules = parsed.value();
    std::vector<std::string> deny;
    // POL-QUO-1 (0.6): `threshold` is an approval-count bar for positive commitments only; a decline
    // is never gated by it (POL-EVAL-3), and abstention.counts_toward_quorum no longer matters.
    if (auto required = quorum_policy_required_approvals(rules, participants.size())) {
        if (outcome_positive && tally.approve < *required) {
            deny.push_back("approval threshold not met: " + std::to_string(tally.approve) + " of " +
                           std::to_string(*required) + " required approvals (" + f64_digits(rules.threshold_value) +
                           " " + rules.threshold_type + ")");
        }
    }
    // POL-QUO-2: abstention.interpretation ("implicit_reject" included) only ever adds an
    // informational allow reason in the reference; it never gates, so nothing to do here.
    return deny;
}

}  // namespace macp::policy
