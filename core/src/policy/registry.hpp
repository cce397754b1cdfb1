// The governance policy registry (RFC-MACP-0012 §3): the built-in default plus registered
// policies, persisted through the storage backend's keyed records so they survive a restart
// (the reference keeps them in memory only: POL-REG-1, STO-REC-9).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "policy/policy_definition.hpp"
#include "storage/storage_backend.hpp"
#include "util/result.hpp"

namespace macp::policy {

inline constexpr const char* kPolicyNamespace = "policies";

class PolicyRegistry {
public:
    // `storage` may be null (tests): then nothing is persisted.
    explicit PolicyRegistry(storage::StorageBackend* storage = nullptr);

    // Loads persisted registrations; call once at start-up, before recovery.
    Result<size_t, std::string> load();

    [[nodiscard]] std::optional<PolicyDefinition> find(const std::string& policy_id) const;
    // RPC-LISTP-1: empty mode = all; otherwise mode matches or is "*"; sorted by id.
    [[nodiscard]] std::vector<PolicyDefinition> list(const std::string& mode = {}) const;

    // RPC-REGP-1, POL-REG-3..8. The error is the reference's free text.
    Result<void, std::string> register_policy(PolicyDefinition def);
    // RPC-UNREGP-1.
    Result<void, std::string> unregister_policy(const std::string& policy_id);

    // Called after every successful change (WatchPolicies).
    void on_change(std::function<void()> listener) { listener_ = std::move(listener); }

private:
    storage::StorageBackend* storage_;
    mutable std::shared_mutex mu_;
    std::map<std::string, PolicyDefinition> policies_;
    std::function<void()> listener_;
};

// Validation alone (POL-REG-3..8), shared by RegisterPolicy and policy files.
std::optional<std::string> validate_policy(const PolicyDefinition& def);

std::string encode_policy(const PolicyDefinition& def);
std::optional<PolicyDefinition> decode_policy(const std::string& json);

}  // namespace macp::policy
