// A governance policy as bound to a session (RFC-MACP-0012). Issue #4 grows the evaluators; the
// core needs the definition, the built-in default and the commitment-authority rule.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace macp::policy {

inline constexpr const char* kDefaultPolicyId = "policy.default";

struct PolicyDefinition {
    std::string policy_id;
    std::string mode;  // "*" or a mode name
    std::string description;
    std::string rules;  // compact JSON object
    uint32_t schema_version = 1;
    int64_t registered_at_ms = 0;  // set by the runtime at registration; 0 for the built-in default
};

// POL-REG-2: the built-in neutral default.
const PolicyDefinition& default_policy();

// Commitment authority (POL-AUTH-1..3), also used for Cancel/Suspend/Resume (RPC-CANCEL-2).
struct CommitmentAuthority {
    std::string authority = "initiator_only";
    std::vector<std::string> designated_roles;
};

// POL-SCH-8: rules that fail to parse fall back to the defaults.
CommitmentAuthority commitment_authority(const PolicyDefinition* policy);

// True when `sender` may commit (or cancel/suspend/resume) under `policy`.
bool may_commit(const PolicyDefinition* policy, const std::string& sender, const std::string& initiator,
                const std::vector<std::string>& participants);

// POL-EVAL-1: a deny reason when the policy's schema_version is not 1 or 2.
std::optional<std::string> unsupported_schema_reason(const PolicyDefinition* policy);

}  // namespace macp::policy
