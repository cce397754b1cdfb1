// Proposal-mode governance rules and commitment evaluation (BEHAVIOR.md §5 POL-SCH-4,
// POL-SCH-8, POL-EVAL-1..3, POL-PROP-1; DELTA-0.6 POL-PROP-1, POL-SCH-8, POL-EVAL-3).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy_definition.hpp"
#include "util/result.hpp"

namespace macp::policy {

// POL-SCH-4: the proposal rule schema with its defaults (the `commitment` group is validated for
// type errors but read elsewhere, by may_commit()).
struct ProposalPolicyRules {
    std::string acceptance_criterion = "all_parties";  // acceptance.criterion
    uint64_t counter_proposal_max_rounds = 0;          // counter_proposal.max_rounds
    bool rejection_terminal_on_any_reject = false;     // rejection.terminal_on_any_reject
};

// Deserializes `rules` the way the reference's serde structs do: missing keys take the defaults,
// unknown keys are ignored, and any type mismatch fails the whole object. The error text follows
// serde's wording ("invalid type: string \"x\", expected usize").
Result<ProposalPolicyRules, std::string> parse_proposal_rules(std::string_view rules_json);

// Mode-side reads (criterion, max_rounds, terminal_on_any_reject): no policy, or rules that fail to
// parse, silently give the defaults (POL-SCH-8, unchanged in 0.6 for mode reads).
ProposalPolicyRules proposal_rules_or_default(const PolicyDefinition* policy);

// POL-PROP-1 (0.6): deny reasons for a Proposal Commitment; empty = allow. No bound policy = allow
// (the reference skips evaluation). Schema version first (POL-EVAL-1), then a rules parse failure
// denies (POL-SCH-8, 0.6), then `max_rounds` gates positive commitments only.
std::vector<std::string> evaluate_proposal_commitment(const PolicyDefinition* policy, uint64_t counter_proposal_count,
                                                      bool outcome_positive);

}  // namespace macp::policy
