#include "policy/registry.hpp"

#include <mutex>

namespace macp::policy {

PolicyRegistry::PolicyRegistry() { policies_.emplace(kDefaultPolicyId, default_policy()); }

std::optional<PolicyDefinition> PolicyRegistry::find(const std::string& policy_id) const {
    std::shared_lock lock(mu_);
    auto it = policies_.find(policy_id);
    if (it == policies_.end()) return std::nullopt;
    return it->second;
}

std::vector<PolicyDefinition> PolicyRegistry::list() const {
    std::shared_lock lock(mu_);
    std::vector<PolicyDefinition> out;
    for (const auto& [id, p] : policies_) out.push_back(p);
    return out;
}

}  // namespace macp::policy
