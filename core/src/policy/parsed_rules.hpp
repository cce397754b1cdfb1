// A policy's rules JSON read once, when the policy is registered or bound, instead of on every
// Commitment or mode-side read (issue #13). Every mode's reader runs once over the rules and its
// result (the typed rules, or the serde-style error text) is kept, so what an evaluator sees is
// exactly what its parser returned at that time (POL-SCH-8 keeps its meaning: a parse failure is
// remembered and denies or falls back to the defaults where it did before).
#pragma once

#include <memory>
#include <string>

#include "policy/decision_evaluator.hpp"
#include "policy/handoff_evaluator.hpp"
#include "policy/policy_definition.hpp"
#include "policy/proposal_evaluator.hpp"
#include "policy/quorum_evaluator.hpp"
#include "policy/task_evaluator.hpp"
#include "util/result.hpp"

namespace macp::policy {

struct ParsedRules {
    explicit ParsedRules(const PolicyDefinition& def);

    std::string source;             // the rules text all of the below was read from
    CommitmentAuthority authority;  // POL-AUTH-1..3 (defaults when malformed, POL-SCH-8)
    // POL-SCH-1/2/3. Declared in this order because `decision` is initialized by the call that
    // also sets the other two.
    bool decision_ok = false;
    std::string decision_error;                         // the parser's text when !decision_ok
    DecisionRules decision;                             // valid when decision_ok
    Result<ProposalPolicyRules, std::string> proposal;  // POL-SCH-4
    Result<QuorumPolicyRules, std::string> quorum;      // POL-SCH-7
    Result<TaskRules, std::string> task;                // POL-SCH-5
    Result<HandoffRules, std::string> handoff;          // POL-SCH-6
};

// Reads `def.rules` with every mode's parser.
std::shared_ptr<const ParsedRules> parse_rules(const PolicyDefinition& def);

// The parsed rules of `def`: those it carries when they were read from its current rules text,
// otherwise read now (a definition built by hand, e.g. in tests, or changed after binding).
std::shared_ptr<const ParsedRules> rules_of(const PolicyDefinition& def);

}  // namespace macp::policy
