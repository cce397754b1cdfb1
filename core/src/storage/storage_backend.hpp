// The kernel's view of a storage backend. Plugins (and the built-in memory backend) reach the
// kernel only through this interface, via plugin_host's adapter, so the kernel never sees the C ABI.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.hpp"

namespace macp::storage {

struct StorageError {
    int32_t status = 0;  // a MACP_STATUS_* code from the plugin ABI
    std::string message;
};

// MACP_STATUS_UNSUPPORTED of macp/plugin/abi.h, which the kernel does not include
// (plugin_host/storage_adapter.cpp checks that the two agree).
inline constexpr int32_t kStatusUnsupported = 2;

using Status = Result<void, StorageError>;
template <class T>
using StorageResult = Result<T, StorageError>;

struct LogAppend {
    std::string session_id;
    std::string record;
    // Cluster mode: the fencing token the session held when this record was queued, so that a
    // record queued under a lease this process has since lost and taken back goes out under the
    // old token (and is refused) instead of the new one; 0: the token set_fence() holds now.
    uint64_t fencing_token = 0;
};

// MACP_STATUS_FENCED of macp/plugin/abi.h: a write carried a stale fencing token (storage.h FENCING).
inline constexpr int32_t kStatusFenced = 10;

// What acquire_lease found (storage.h, plugin ABI 1.2).
struct Lease {
    bool granted = false;       // the caller holds the lease now
    uint64_t token = 0;         // the session's current fencing token
    int64_t remaining_ms = -1;  // until the lease expires on the backend's clock; -1 unknown
    std::string holder;         // the current holder, "" when none
};

// Receives the stored sessions of one scan_sessions call (start-up recovery, plugin ABI 1.1).
// Called on one thread at a time, never concurrently; must not throw.
class SessionScanVisitor {
public:
    virtual ~SessionScanVisitor() = default;
    // A stored session (`snapshot` nullopt when it has none). Returns true to receive its log
    // next: then log_record per record, in order, and end_session.
    virtual bool begin_session(const std::string& session_id, std::optional<std::string> snapshot) = 0;
    virtual void log_record(std::string record) = 0;
    virtual void end_session() = 0;
};

class StorageBackend {
public:
    virtual ~StorageBackend() = default;

    [[nodiscard]] virtual std::string name() const = 0;

    virtual Status create_session_storage(const std::string& session_id) = 0;
    virtual Status save_session(const std::string& session_id, std::string_view snapshot) = 0;
    // nullopt when the session has no snapshot.
    virtual StorageResult<std::optional<std::string>> load_session(const std::string& session_id) = 0;
    virtual Status delete_session(const std::string& session_id) = 0;
    virtual StorageResult<std::vector<std::string>> list_session_ids() = 0;

    // Durable when it returns OK (see storage.h DURABILITY).
    virtual Status append_log_entry(const std::string& session_id, std::string_view record) = 0;
    // Group commit; one status per item. Falls back to single appends when unsupported.
    virtual std::vector<Status> append_log_batch(const std::vector<LogAppend>& items) = 0;
    virtual StorageResult<std::vector<std::string>> load_log(const std::string& session_id) = 0;

    // Several sessions' snapshots / logs at once, one result per id in order (start-up recovery).
    // The defaults call load_session / load_log per id; a backend whose every call is a hop to
    // another thread overrides them to read a whole batch per hop.
    virtual std::vector<StorageResult<std::optional<std::string>>> load_sessions(const std::vector<std::string>& ids) {
        std::vector<StorageResult<std::optional<std::string>>> out;
        out.reserve(ids.size());
        for (const auto& id : ids) out.push_back(load_session(id));
        return out;
    }
    virtual std::vector<StorageResult<std::vector<std::string>>> load_logs(const std::vector<std::string>& ids) {
        std::vector<StorageResult<std::vector<std::string>>> out;
        out.reserve(ids.size());
        for (const auto& id : ids) out.push_back(load_log(id));
        return out;
    }

    // Runs `fn` where this backend's calls run cheapest: a plugin backend runs it on the plugin's
    // own thread, so every call `fn` makes there is direct instead of one thread hand-off each
    // (the group committer's whole batch is one hop). The default runs it right here.
    virtual void run_on_storage_thread(const std::function<void()>& fn) { fn(); }
    // True when every call returns at once without blocking (the built-in memory backend): the
    // kernel then stores a message on the calling thread instead of handing it to the group
    // committer, whose batching only pays for itself when a write has to wait for a sync.
    [[nodiscard]] virtual bool completes_inline() const { return false; }

    // True when scan_sessions reads every session in one pass (cheaper than list + load each).
    [[nodiscard]] virtual bool supports_scan() const { return false; }
    // Every stored session, once each (see SessionScanVisitor). Only when supports_scan().
    virtual Status scan_sessions(SessionScanVisitor& /*visitor*/) {
        return fail(StorageError{kStatusUnsupported, "storage backend " + name() + " has no scan_sessions"});
    }

    // ---- session leases and fencing (multi-process deployments, docs/scale-out.md) ----
    // True when the backend implements acquire_lease / release_lease (storage.h FENCING).
    [[nodiscard]] virtual bool supports_leases() const { return false; }
    // held_token 0: acquire (or renew one's own live lease); non-zero: renew, FENCED when lost.
    virtual StorageResult<Lease> acquire_lease(const std::string& /*session_id*/, const std::string& /*holder*/,
                                               uint32_t /*ttl_ms*/, uint64_t /*held_token*/) {
        return fail(StorageError{kStatusUnsupported, "storage backend " + name() + " has no session leases"});
    }
    virtual Status release_lease(const std::string& /*session_id*/, const std::string& /*holder*/, uint64_t /*token*/) {
        return fail(StorageError{kStatusUnsupported, "storage backend " + name() + " has no session leases"});
    }
    // Renews many leases: one entry per id, true = renewed, false = lost (FENCED). An error when
    // the call failed as a whole (then nothing counts as renewed).
    virtual StorageResult<std::vector<bool>> renew_leases(
        const std::string& /*holder*/, uint32_t /*ttl_ms*/,
        const std::vector<std::pair<std::string, uint64_t>>& /*held*/) {
        return fail(StorageError{kStatusUnsupported, "storage backend " + name() + " has no session leases"});
    }
    // Every later write for `session_id` carries `token` (0: the session is no longer fenced by
    // this process). With require_fences(true), a write for a session without a token is refused
    // (FENCED) instead of being stored unfenced: in a cluster only a lease holder may write.
    virtual void set_fence(const std::string& /*session_id*/, uint64_t /*token*/) {}
    // The token set_fence() holds for the session now; 0 when none.
    [[nodiscard]] virtual uint64_t fence_token(const std::string& /*session_id*/) const { return 0; }
    virtual void require_fences(bool /*on*/) {}
    // `fn(session_id)` runs (on the writing thread, must not block) whenever a write is refused
    // FENCED: this process lost the session. An empty `fn` stops the calls.
    virtual void on_fenced(const std::function<void(const std::string&)>& /*fn*/) {}

    // ---- events between processes (plugin ABI 1.2 publish/subscribe_events) ----
    [[nodiscard]] virtual bool supports_events() const { return false; }
    // Publishes messages on `channel`, in order; any thread, never behind the log's writes.
    virtual Status publish_events(const std::string& /*channel*/, const std::vector<std::string>& /*messages*/) {
        return fail(StorageError{kStatusUnsupported, "storage backend " + name() + " has no events"});
    }
    // Delivers what is published on `channel` to `deliver` and connection changes to `state`
    // (false: events may be missed until the next true), from a thread of the backend's, until
    // the returned subscription is destroyed. Neither callback may block or throw.
    struct EventHandlers {
        std::function<void(std::string_view)> deliver;
        std::function<void(bool connected, const std::string& detail)> state;
    };
    class EventSubscription {
    public:
        EventSubscription() = default;
        virtual ~EventSubscription() = default;
        EventSubscription(const EventSubscription&) = delete;
        EventSubscription& operator=(const EventSubscription&) = delete;
    };
    virtual StorageResult<std::unique_ptr<EventSubscription>> subscribe_events(const std::string& /*channel*/,
                                                                               const EventHandlers& /*handlers*/) {
        return fail(StorageError{kStatusUnsupported, "storage backend " + name() + " has no events"});
    }

    virtual Status put_record(const std::string& ns, const std::string& key, std::string_view blob) = 0;
    virtual Status delete_record(const std::string& ns, const std::string& key) = 0;
    virtual StorageResult<std::vector<std::pair<std::string, std::string>>> list_records(const std::string& ns) = 0;

    [[nodiscard]] virtual bool supports_replace_log() const = 0;
    virtual Status replace_log(const std::string& session_id, const std::vector<std::string>& records) = 0;
    virtual Status flush() = 0;
    // A human-readable durability/readiness note, or the error.
    virtual StorageResult<std::string> health() = 0;
    // Start-up repairs performed (one line each).
    virtual StorageResult<std::vector<std::string>> recover() = 0;
};

}  // namespace macp::storage
