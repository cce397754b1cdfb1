#include "memory_storage.hpp"

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "macp/plugin/sdk/storage.hpp"

namespace macp::storage {
namespace {

void validate_record_name(const char* what, const std::string& value) {
    if (value.empty()) {
        throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, std::string("empty record ") + what);
    }
}

class MemoryStorage {
public:
    static constexpr std::uint32_t macp_optional_ops =
        sdk::op::append_log_batch | sdk::op::replace_log | sdk::op::health | sdk::op::scan_sessions;

    explicit MemoryStorage(const sdk::Config& /*config*/) {}

    void create_session_storage(const std::string& session_id) {
        std::lock_guard<std::mutex> lock(mu_);
        sessions_[session_id];
    }

    void save_session(const std::string& session_id, std::string_view snapshot) {
        std::lock_guard<std::mutex> lock(mu_);
        sessions_[session_id].snapshot = std::string(snapshot);
    }

    std::optional<std::string> load_session(const std::string& session_id) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = sessions_.find(session_id);
        if (it == sessions_.end()) return std::nullopt;
        return it->second.snapshot;
    }

    void delete_session(const std::string& session_id) {
        std::lock_guard<std::mutex> lock(mu_);
        sessions_.erase(session_id);
    }

    void list_session_ids(const sdk::Emitter& out) {
        std::vector<std::string> ids;
        {
            std::lock_guard<std::mutex> lock(mu_);
            ids.reserve(sessions_.size());
            for (const auto& kv : sessions_) ids.push_back(kv.first);
        }
        for (const auto& id : ids) out(id);
    }

    void scan_sessions(const sdk::ScanSink& out) {
        // From a copy, as load_log: the host's callbacks run without our lock.
        std::vector<std::pair<std::string, Session>> copy;
        {
            std::lock_guard<std::mutex> lock(mu_);
            copy.assign(sessions_.begin(), sessions_.end());
        }
        for (const auto& [id, session] : copy) {
            std::optional<std::string_view> snapshot;
            if (session.snapshot) snapshot = *session.snapshot;
            if (!out.begin_session(id, snapshot)) continue;
            for (const auto& r : session.log) out.log_record(r);
        }
    }

    void append_log_entry(const std::string& session_id, std::string_view record) {
        sdk::check_record(record);  // the durable backends' rule, so any of them could take this log
        std::lock_guard<std::mutex> lock(mu_);
        sessions_[session_id].log.emplace_back(record);
    }

    void load_log(const std::string& session_id, const sdk::Emitter& out) {
        // Emit from a copy: the host's callback then runs without our lock, so a slow consumer
        // never stalls other sessions.
        std::vector<std::string> records;
        {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = sessions_.find(session_id);
            if (it == sessions_.end()) return;
            records = it->second.log;
        }
        for (const auto& r : records) out(r);
    }

    void put_record(const std::string& ns, const std::string& key, std::string_view blob) {
        validate_record_name("namespace", ns);
        validate_record_name("key", key);
        std::lock_guard<std::mutex> lock(mu_);
        records_[ns][key] = std::string(blob);
    }

    void delete_record(const std::string& ns, const std::string& key) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = records_.find(ns);
        if (it == records_.end()) return;
        it->second.erase(key);
        if (it->second.empty()) records_.erase(it);
    }

    void list_records(const std::string& ns, const sdk::Emitter& out) {
        std::map<std::string, std::string> copy;
        {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = records_.find(ns);
            if (it == records_.end()) return;
            copy = it->second;
        }
        for (const auto& kv : copy) {
            out(kv.first);
            out(kv.second);
        }
    }

    // Offered so the host drives every backend through the same group-commit path.
    // Per-item failures are reported item by item (the SDK returns PARTIAL), the first one's text
    // through the call context.
    void append_log_batch(const std::vector<sdk::LogAppend>& items, std::vector<macp_status>& item_status,
                          const sdk::CallContext& cc) {
        const std::vector<bool> writable = sdk::screen_batch(items, item_status, cc);
        std::lock_guard<std::mutex> lock(mu_);
        for (size_t i = 0; i < items.size(); ++i) {
            if (!writable[i]) continue;
            sessions_[std::string(items[i].session_id)].log.emplace_back(items[i].record);
            item_status[i] = MACP_STATUS_OK;
        }
    }

    void replace_log(const std::string& session_id, const std::vector<std::string_view>& records) {
        std::vector<std::string> fresh;
        fresh.reserve(records.size());
        for (const auto r : records) {
            sdk::check_record(r);
            fresh.emplace_back(r);
        }
        std::lock_guard<std::mutex> lock(mu_);
        sessions_[session_id].log = std::move(fresh);
    }

    std::string health() { return "memory storage: nothing survives a restart"; }

private:
    struct Session {
        std::optional<std::string> snapshot;
        std::vector<std::string> log;
    };

    std::mutex mu_;
    std::unordered_map<std::string, Session> sessions_;
    std::map<std::string, std::map<std::string, std::string>> records_;
};

}  // namespace

const macp_plugin_descriptor* memory_plugin_descriptor() {
    static const macp_storage_vtable vtable = sdk::make_storage_vtable<MemoryStorage>();
    static const macp_plugin_descriptor descriptor = {
        sizeof(macp_plugin_descriptor),
        MACP_PLUGIN_ABI_MAJOR,
        MACP_PLUGIN_ABI_MINOR_BASELINE,
        MACP_PLUGIN_KIND_STORAGE,
        MACP_PLUGIN_FLAG_THREAD_SAFE,
        "memory",
        "1.0.0",
        "In-process memory: fast, nothing survives a restart",
        nullptr,
        0,
        &vtable,
    };
    return &descriptor;
}

}  // namespace macp::storage
