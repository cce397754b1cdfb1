// Handoff-mode governance rules and the commitment evaluator (BEHAVIOR.md §5 POL-SCH-6, POL-HOFF-1;
// DELTA-0.6 POL-SCH-8, POL-HOFF-1).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "policy/policy_definition.hpp"
#include "util/result.hpp"

namespace macp::policy {

// POL-SCH-6: `acceptance{implicit_accept_timeout_ms=0}` (an unsigned integer; 0 = no implicit accept).
struct HandoffRules {
    uint64_t implicit_accept_timeout_ms = 0;
};

// Reads the handoff rules out of a policy's rules JSON the way the reference deserializes them:
// missing keys take the defaults and unknown keys are ignored; a value of the wrong type (including
// in the shared `commitment` group, POL-SCH-3) fails the whole rule object with serde's wording,
// e.g. "invalid type: string \"x\", expected a boolean" (first error in key order).
Result<HandoffRules, std::string> parse_handoff_rules(const PolicyDefinition& policy);

// The mode-side read (MODE-HOFF-7): a null policy or rules that fail to parse give the defaults
// (POL-SCH-8, unchanged in 0.6 for mode-side reads).
HandoffRules handoff_rules_or_default(const PolicyDefinition* policy);

// POL-HOFF-1: the deny reasons for a Handoff Commitment; empty means allow. Only the schema-version
// check (POL-EVAL-1) and the evaluation-time parse (POL-SCH-8, 0.6) can deny, for either outcome.
std::vector<std::string> evaluate_handoff_commitment(const PolicyDefinition* policy, bool outcome_positive);

}  // namespace macp::policy
