// storage::StorageBackend implemented over a storage plugin's C vtable.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "macp/plugin/storage.h"
#include "plugin_host/plugin_instance.hpp"
#include "storage/storage_backend.hpp"

namespace macp::plugin_host {

class StorageAdapter final : public storage::StorageBackend {
    struct Key {
        explicit Key() = default;
    };

public:
    // `plugin` must have passed check_descriptor for MACP_PLUGIN_KIND_STORAGE.
    static Result<std::unique_ptr<StorageAdapter>, std::string> create(std::shared_ptr<LoadedPlugin> plugin,
                                                                       const ConfigPairs& config,
                                                                       ExecutorOptions options = {});

    StorageAdapter(Key, const macp_storage_vtable& vtable, std::unique_ptr<PluginInstance> instance);

    [[nodiscard]] std::string name() const override;

    storage::Status create_session_storage(const std::string& session_id) override;
    storage::Status save_session(const std::string& session_id, std::string_view snapshot) override;
    storage::StorageResult<std::optional<std::string>> load_session(const std::string& session_id) override;
    storage::Status delete_session(const std::string& session_id) override;
    storage::StorageResult<std::vector<std::string>> list_session_ids() override;

    storage::Status append_log_entry(const std::string& session_id, std::string_view record) override;
    void run_on_storage_thread(const std::function<void()>& fn) override;
    [[nodiscard]] bool completes_inline() const override;
    std::vector<storage::Status> append_log_batch(const std::vector<storage::LogAppend>& items) override;
    storage::StorageResult<std::vector<std::string>> load_log(const std::string& session_id) override;
    std::vector<storage::StorageResult<std::optional<std::string>>> load_sessions(
        const std::vector<std::string>& ids) override;
    std::vector<storage::StorageResult<std::vector<std::string>>> load_logs(
        const std::vector<std::string>& ids) override;

    [[nodiscard]] bool supports_scan() const override;
    storage::Status scan_sessions(storage::SessionScanVisitor& visitor) override;

    storage::Status put_record(const std::string& ns, const std::string& key, std::string_view blob) override;
    storage::Status delete_record(const std::string& ns, const std::string& key) override;
    storage::StorageResult<std::vector<std::pair<std::string, std::string>>> list_records(
        const std::string& ns) override;

    [[nodiscard]] bool supports_replace_log() const override;
    storage::Status replace_log(const std::string& session_id, const std::vector<std::string>& records) override;
    storage::Status flush() override;
    storage::StorageResult<std::string> health() override;
    storage::StorageResult<std::vector<std::string>> recover() override;

    [[nodiscard]] bool supports_leases() const override;
    storage::StorageResult<storage::Lease> acquire_lease(const std::string& session_id, const std::string& holder,
                                                         uint32_t ttl_ms, uint64_t held_token) override;
    storage::Status release_lease(const std::string& session_id, const std::string& holder, uint64_t token) override;
    storage::StorageResult<std::vector<bool>> renew_leases(
        const std::string& holder, uint32_t ttl_ms, const std::vector<std::pair<std::string, uint64_t>>& held) override;
    void set_fence(const std::string& session_id, uint64_t token) override;
    [[nodiscard]] uint64_t fence_token(const std::string& session_id) const override;
    void require_fences(bool on) override;
    void on_fenced(const std::function<void(const std::string&)>& fn) override;
    [[nodiscard]] bool supports_events() const override;
    storage::Status publish_events(const std::string& channel, const std::vector<std::string>& messages) override;
    storage::StorageResult<std::unique_ptr<EventSubscription>> subscribe_events(const std::string& channel,
                                                                                const EventHandlers& handlers) override;

private:
    // Runs one write of one session with its fencing token on the call context; reports a FENCED
    // answer to the listener. Refused without calling the plugin when fences are required and
    // this process holds none for the session.
    template <class F>
    storage::Status fenced_call(const char* op, const std::string& session_id, F&& fn);
    // The token writes of `session_id` carry: 0 when unfenced, nullopt when a fence is required
    // and missing.
    [[nodiscard]] std::optional<uint64_t> fence_of(const std::string& session_id) const;
    // The token an append item goes out under: its own when it carries one, else fence_of().
    [[nodiscard]] std::optional<uint64_t> fence_of(const storage::LogAppend& item) const;
    void report_fenced(const std::string& session_id) const;
    // The same for a refused write that carried `token`: reported only when it is still the
    // session's current token here (a stale record's refusal says nothing about the lease held now).
    void report_fenced(const std::string& session_id, uint64_t token) const;
    // Runs one plugin operation that reports only a status.
    template <class F>
    storage::Status simple_call(const char* op, F&& fn);
    // Runs one plugin operation that emits items; returns them or the error.
    template <class F>
    storage::StorageResult<std::vector<std::string>> collecting_call(const char* op, F&& fn);
    [[nodiscard]] storage::StorageError error(const char* op, macp_status status, const std::string& message) const;
    // Per-item results of one append_log_batch call (see the rule in the .cpp).
    [[nodiscard]] std::vector<storage::Status> batch_outcome(macp_status overall,
                                                             const std::vector<macp_status>& item_status,
                                                             const std::string& message) const;

    macp_storage_vtable vt_;                    // host copy; members beyond the plugin's struct_size are NULL
    std::unique_ptr<PluginInstance> instance_;  // owns the executor and keeps the library loaded

    // Fencing (docs/scale-out.md): empty and unchecked in a single-process deployment.
    mutable std::shared_mutex fences_mu_;
    std::unordered_map<std::string, uint64_t> fences_;
    std::atomic<bool> fencing_{false};                         // a fence was ever set or required: look the table up
    bool fences_required_ = false;                             // under fences_mu_
    std::function<void(const std::string&)> fenced_listener_;  // under fences_mu_
};

}  // namespace macp::plugin_host
