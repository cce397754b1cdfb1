// A governance policy as bound to a session (RFC-MACP-0012). Issue #4 grows the evaluators; the
// core needs the definition, the built-in default and the commitment-authority rule.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace macp::policy {

inline constexpr const char* kDefaultPolicyId = "policy.default";

struct ParsedRules;  // policy/parsed_rules.hpp

struct PolicyDefinition {
    std::string policy_id;
    std::string mode;  // "*" or a mode name
    std::string description;
    std::string rules;  // compact JSON object
    uint32_t schema_version = 1;
    int64_t registered_at_ms = 0;  // set by the runtime at registration; 0 for the built-in default
    // `rules` as every mode's parser read them, when the policy was registered or bound (issue
    // #13); copies share it. Not part of the policy's value: never encoded, and rules_of() reads
    // the rules again if they no longer match.
    std::shared_ptr<const ParsedRules> parsed{};
};

// The one shared, immutable copy of a definition equal to `def` (every field but `parsed`), its
// rules parsed: sessions bound to the same policy hold one copy between them instead of one each
// (issue #13: memory per session). Thread-safe.
std::shared_ptr<const PolicyDefinition> share_policy(const PolicyDefinition& def);

// The policy a session is bound to, or none: an optional<PolicyDefinition> whose value is shared
// (share_policy) and never changes. Assigning a definition binds its shared copy.
class BoundPolicy {
public:
    BoundPolicy() = default;
    BoundPolicy(std::nullopt_t) {}                                         // NOLINT(google-explicit-constructor)
    BoundPolicy(const PolicyDefinition& def) : def_(share_policy(def)) {}  // NOLINT(google-explicit-constructor)
    BoundPolicy(const std::optional<PolicyDefinition>& def)                // NOLINT(google-explicit-constructor)
        : def_(def ? share_policy(*def) : nullptr) {}
    BoundPolicy(std::shared_ptr<const PolicyDefinition> def) : def_(std::move(def)) {}  // NOLINT

    [[nodiscard]] explicit operator bool() const { return def_ != nullptr; }
    [[nodiscard]] bool has_value() const { return def_ != nullptr; }
    [[nodiscard]] const PolicyDefinition& operator*() const { return *def_; }
    [[nodiscard]] const PolicyDefinition* operator->() const { return def_.get(); }
    [[nodiscard]] const PolicyDefinition& value() const { return *def_; }
    [[nodiscard]] const PolicyDefinition* get() const { return def_.get(); }
    [[nodiscard]] const std::shared_ptr<const PolicyDefinition>& shared() const { return def_; }
    void reset() { def_.reset(); }

private:
    std::shared_ptr<const PolicyDefinition> def_;
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
