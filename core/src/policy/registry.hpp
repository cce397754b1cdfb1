// The governance policy registry (RFC-MACP-0012). Issue #4 adds registration over gRPC and
// persistence; the core needs lookup of the built-in default and of registered ids.
#pragma once

#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "policy/policy_definition.hpp"

namespace macp::policy {

class PolicyRegistry {
public:
    PolicyRegistry();
    [[nodiscard]] std::optional<PolicyDefinition> find(const std::string& policy_id) const;
    [[nodiscard]] std::vector<PolicyDefinition> list() const;  // sorted by id

private:
    mutable std::shared_mutex mu_;
    std::map<std::string, PolicyDefinition> policies_;
};

}  // namespace macp::policy
