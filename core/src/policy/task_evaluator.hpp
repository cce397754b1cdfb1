// Task-mode governance rules and the commitment evaluator (BEHAVIOR.md §5 POL-SCH-5, POL-TASK-1;
// DELTA-0.6 POL-SCH-8, POL-EVAL-3, POL-TASK-1).
#pragma once

#include <string>
#include <vector>

#include "policy/policy_definition.hpp"
#include "util/result.hpp"

namespace macp::policy {

// POL-SCH-5: `assignment{allow_reassignment_on_reject=false}`, `completion{require_output=false}`.
struct TaskRules {
    bool allow_reassignment_on_reject = false;
    bool require_output = false;
};

// Reads the task rules out of a policy's rules JSON the way the reference deserializes them:
// missing keys take the defaults and unknown keys are ignored; a value of the wrong type (including
// in the shared `commitment` group, POL-SCH-3) fails the whole rule object with serde's wording,
// e.g. "invalid type: string \"x\", expected a boolean" (first error in key order).
Result<TaskRules, std::string> parse_task_rules(const PolicyDefinition& policy);

// The mode-side read (MODE-TASK-6/7): a null policy or rules that fail to parse give the defaults
// (POL-SCH-8, unchanged in 0.6 for mode-side reads).
TaskRules task_rules_or_default(const PolicyDefinition* policy);

// POL-TASK-1 (0.6): the deny reasons for a Task Commitment; empty means allow. `has_output` is true
// when the terminal report is a TaskComplete with non-empty output. A null policy always allows.
std::vector<std::string> evaluate_task_commitment(const PolicyDefinition* policy, bool has_output,
                                                  bool outcome_positive);

}  // namespace macp::policy
