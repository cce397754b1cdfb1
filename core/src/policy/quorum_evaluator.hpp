// Quorum-mode governance rules and commitment evaluation (BEHAVIOR.md §5 POL-SCH-7, POL-SCH-8,
// POL-SCH-9, POL-EVAL-1..3, POL-QUO-1/2; DELTA-0.6 POL-QUO-1, POL-SCH-8, POL-EVAL-3, Q-47).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy_definition.hpp"
#include "util/result.hpp"

namespace macp::policy {

// POL-SCH-7: the quorum rule schema with its defaults. The JSON key of the threshold type is
// `type` (not `threshold_type`). The `commitment` group is validated for type errors but read
// elsewhere, by may_commit().
struct QuorumPolicyRules {
    std::string threshold_type = "n_of_m";              // threshold.type
    double threshold_value = 0.0;                       // threshold.value
    bool abstention_counts_toward_quorum = false;       // abstention.counts_toward_quorum (no effect since 0.6)
    std::string abstention_interpretation = "neutral";  // abstention.interpretation
};

// Deserializes `rules` the way the reference's serde structs do: missing keys take the defaults,
// unknown keys are ignored, and any type mismatch fails the whole object.
Result<QuorumPolicyRules, std::string> parse_quorum_rules(std::string_view rules_json);

// Mode-side read (MODE-QUO-5): no policy, or rules that fail to parse, give the defaults
// (POL-SCH-8, unchanged in 0.6 for mode reads).
QuorumPolicyRules quorum_rules_or_default(const PolicyDefinition* policy);

// The approval count a policy threshold demands, or nullopt when `threshold.value` is not > 0 (the
// ApprovalRequest's required_approvals then applies). type "percentage": ceil(value/100 × participants)
// on the 0–100 scale (POL-SCH-9), unreachable (UINT64_MAX) with 0 participants; any other type:
// ceil(value). Used by both the mode's readiness check and the evaluator (deliberate difference
// from the reference, Q-47: it truncates non-percentage values in the mode).
std::optional<uint64_t> quorum_policy_required_approvals(const QuorumPolicyRules& rules, size_t participant_count);

struct QuorumTally {
    uint64_t approve = 0;
    uint64_t reject = 0;
    uint64_t abstain = 0;
};

// POL-QUO-1/2 (0.6): deny reasons for a Quorum Commitment; empty = allow. No bound policy = allow
// (the reference skips evaluation). Schema version first (POL-EVAL-1), then a rules parse failure
// denies (POL-SCH-8, 0.6), then the approval threshold gates positive commitments only.
std::vector<std::string> evaluate_quorum_commitment(const PolicyDefinition* policy, const QuorumTally& tally,
                                                    const std::vector<std::string>& participants,
                                                    bool outcome_positive);

}  // namespace macp::policy
