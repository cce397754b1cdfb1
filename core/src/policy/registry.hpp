// The governance policy registry (RFC-MACP-0012 §3): the built-in default plus registered
// policies, persisted through the storage backend's keyed records so they survive a restart
// (the reference keeps them in memory only: POL-REG-1, STO-REC-9). Policies loaded from
// MACP_POLICIES_DIR (CFG-21, POL-REG-12) are never persisted: the directory is re-read on every
// start, and the registry is then read-only over the wire (RPC-POLRO-1).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "policy/policy_definition.hpp"
#include "storage/storage_backend.hpp"
#include "util/result.hpp"

namespace macp::policy {

inline constexpr const char* kPolicyNamespace = "policies";

// The code every validation failure text starts with (RFC-MACP-0012 §10): RegisterPolicyResponse
// has only `ok` and `error`, so the code travels in the text (as the reference does since 0.6).
inline constexpr const char* kInvalidPolicyPrefix = "INVALID_POLICY_DEFINITION: ";

// RPC-POLRO-1: the text of a register/unregister refused because the registry is read-only.
inline constexpr const char* kReadOnlyMessage =
    "policy registry is read-only: policies are file-loaded via MACP_POLICIES_DIR";

class PolicyRegistry {
public:
    // `storage` may be null (tests): then nothing is persisted.
    explicit PolicyRegistry(storage::StorageBackend* storage = nullptr);

    // Loads persisted registrations; call once at start-up, before recovery.
    Result<size_t, std::string> load();
    // Replaces every registration with the default policy plus what storage holds now: another
    // process of a cluster changed the registry (docs/scale-out.md). Does not call on_change.
    Result<size_t, std::string> reload();

    [[nodiscard]] std::optional<PolicyDefinition> find(const std::string& policy_id) const;
    // The registry's own immutable copy (rules parsed at registration, issue #13), or null: what
    // a session binds without copying the definition.
    [[nodiscard]] std::shared_ptr<const PolicyDefinition> find_shared(const std::string& policy_id) const;
    // RPC-LISTP-1: empty mode = all; otherwise mode matches or is "*"; sorted by id.
    [[nodiscard]] std::vector<PolicyDefinition> list(const std::string& mode = {}) const;

    // RPC-REGP-1, POL-REG-3..8. The error is the reference's free text; validation failures start
    // with kInvalidPolicyPrefix, a duplicate id does not (POL-REG-11). Refused with kReadOnlyMessage
    // while read_only().
    Result<void, std::string> register_policy(PolicyDefinition def);
    // RPC-UNREGP-1. Refused with kReadOnlyMessage while read_only().
    Result<void, std::string> unregister_policy(const std::string& policy_id);

    // POL-REG-12: a policy loaded from MACP_POLICIES_DIR. Same validation and duplicate check as
    // register_policy, but never persisted (the directory is the source of truth on every start)
    // and accepted while read-only.
    Result<void, std::string> register_file_policy(PolicyDefinition def);

    // RPC-POLRO-1, CFG-21: set once at start-up after the policies directory is loaded.
    void set_read_only(bool read_only) { read_only_.store(read_only, std::memory_order_release); }
    [[nodiscard]] bool read_only() const { return read_only_.load(std::memory_order_acquire); }

    // Called after every successful change (WatchPolicies).
    void on_change(std::function<void()> listener) { listener_ = std::move(listener); }

private:
    Result<size_t, std::string> load_stored(bool fresh);
    // What readers see: an immutable map, replaced whole by each change (issue #13), so a
    // reader copies one pointer and never waits for a writer, however slow its storage write.
    using Map = std::map<std::string, std::shared_ptr<const PolicyDefinition>>;
    [[nodiscard]] std::shared_ptr<const Map> snapshot() const { return map_.load(std::memory_order_acquire); }
    void publish(Map next) { map_.store(std::make_shared<const Map>(std::move(next)), std::memory_order_release); }
    Result<void, std::string> add(PolicyDefinition def, bool persist);

    storage::StorageBackend* storage_;
    std::atomic<std::shared_ptr<const Map>> map_;
    // Serializes writers only (check, durable write, publish); readers never take it.
    std::mutex write_mu_;
    std::set<std::string> unpersisted_;  // file-loaded ids: nothing to delete from storage (under write_mu_)
    std::atomic<bool> read_only_{false};
    std::function<void()> listener_;
};

// Validation alone (POL-REG-3..8), shared by RegisterPolicy and policy files: nullopt when valid,
// else the reference's text prefixed with kInvalidPolicyPrefix. `def.rules` is JSON text. The rules
// of decision, "*", proposal, task, handoff and quorum policies are read with the evaluator's own
// parser, so whatever registers is exactly what the evaluator will read (POL-REG-5).
std::optional<std::string> validate_policy(const PolicyDefinition& def);

std::string encode_policy(const PolicyDefinition& def);
std::optional<PolicyDefinition> decode_policy(const std::string& json);

}  // namespace macp::policy
