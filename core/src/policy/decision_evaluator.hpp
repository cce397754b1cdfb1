// Governance evaluation of a Decision-mode Commitment (BEHAVIOR.md §5.5 POL-DEC-*) and the
// Decision rule schema (POL-SCH-1/2/3). Pure functions: no clock, no registry (POL-MISC-1).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy_definition.hpp"

namespace macp::policy {

// ---------------------------------------------------------------------------------------------
// Decision mode domain state (MODE-DEC-11). It lives here, next to its evaluator, so that the
// policy layer does not depend on modes/ (modes/decision.hpp re-exports it).

enum class DecisionPhase { Proposal, Evaluation, Voting, Committed };

const char* phase_name(DecisionPhase p);  // "Proposal", "Evaluation", "Voting", "Committed"

struct DecisionProposal {
    std::string proposal_id;
    std::string option;
    std::string rationale;
    std::string sender;
};

struct DecisionEvaluation {
    std::string proposal_id;
    std::string recommendation;  // upper case: APPROVE, REVIEW, BLOCK, REJECT
    double confidence = 0.0;
    std::string reason;
    std::string sender;
};

struct DecisionObjection {
    std::string proposal_id;
    std::string reason;
    std::string severity;  // lower case: critical, high, medium, low
    std::string sender;
};

struct DecisionVote {
    std::string proposal_id;
    std::string vote;  // upper case: APPROVE, REJECT, ABSTAIN
    std::string reason;
    std::string sender;
};

struct DecisionState {
    std::map<std::string, DecisionProposal> proposals;                 // by proposal_id
    std::vector<DecisionEvaluation> evaluations;                       // arrival order
    std::vector<DecisionObjection> objections;                         // arrival order
    std::map<std::string, std::map<std::string, DecisionVote>> votes;  // proposal_id -> sender -> vote
    DecisionPhase phase = DecisionPhase::Proposal;
};

// ---------------------------------------------------------------------------------------------
// Decision rule schema (POL-SCH-1/2/3), with the reference's defaults.

enum class CriticalObjectionAction { Deny, FinalizeDecline, Hold };  // POL-SCH-2

struct DecisionRules {
    struct Voting {
        std::string algorithm = "none";
        double threshold = 0.5;
        std::string quorum_type = "count";  // JSON key "quorum":{"type":...}
        double quorum_value = 0.0;
        std::map<std::string, double> weights;
    } voting;
    struct ObjectionHandling {
        bool critical_severity_vetoes = false;
        uint32_t veto_threshold = 1;
        CriticalObjectionAction critical_objection_action = CriticalObjectionAction::Deny;
    } objection_handling;
    struct Evaluation {
        bool required_before_voting = false;
        double minimum_confidence = 0.0;
    } evaluation;
    struct Commitment {  // POL-SCH-3
        std::string authority = "initiator_only";
        std::vector<std::string> designated_roles;
        bool require_vote_quorum = false;
        bool allow_decline_over_approval = false;
    } commitment;
};

// Reads `rules_json` the way the reference deserializes DecisionPolicyRules: missing keys take
// the POL-SCH defaults, unknown keys are ignored, a later duplicate key wins, and any type
// mismatch (or an unknown critical_objection_action) fails. On failure returns false and sets
// `error` to a serde-style detail ("invalid type: string \"x\", expected f64"). Also usable by
// RegisterPolicy's schema check (POL-REG-5..7).
bool parse_decision_rules(std::string_view rules_json, DecisionRules& out, std::string& error);

// POL-EVAL-1, POL-SCH-8 (0.6), POL-DEC-1..12: the deny reasons for committing `state` with
// `outcome_positive` under `policy`; empty means allow. A null policy imposes nothing (the
// reference skips evaluation when no definition is bound).
std::vector<std::string> evaluate_decision_commitment(const PolicyDefinition* policy, const DecisionState& state,
                                                      const std::vector<std::string>& participants,
                                                      bool outcome_positive);

}  // namespace macp::policy
