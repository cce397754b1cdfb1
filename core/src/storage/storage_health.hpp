// Storage health monitor (issue #8.7): asks the backend whether it can write, on its own thread,
// every `interval` and at once when poked after a failed write. The gRPC health service reports
// NOT_SERVING while the store cannot write and SERVING again once it can.
//
// Each transition is logged once (error when the store becomes unwritable, with the backend's
// message; info when it recovers); a poll that changes nothing logs nothing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/storage_backend.hpp"

namespace macp::storage {

struct HealthMonitorOptions {
    // Between routine checks (MACP_STORAGE_HEALTH_INTERVAL_MS).
    std::chrono::milliseconds interval{1000};
    // A poke re-checks at once, but a flood of failed writes re-checks at most this often.
    std::chrono::milliseconds min_recheck{100};
};

struct HealthSnapshot {
    bool healthy = true;
    // The backend's error while unhealthy; its readiness/durability note while healthy.
    std::string reason;
    // Counts transitions; a waiter compares it to notice a change it may have slept through.
    uint64_t transitions = 0;
};

class StorageHealthMonitor {
public:
    class Subscription;
    using Listener = std::function<void()>;

    // Checks once before returning (so healthy() is meaningful from the start), then polls on a
    // thread of its own. `backend` must outlive the monitor.
    explicit StorageHealthMonitor(StorageBackend& backend, HealthMonitorOptions options = {});
    // Stops the thread (waiting for a health call already running in the backend, if any).
    ~StorageHealthMonitor();
    StorageHealthMonitor(const StorageHealthMonitor&) = delete;
    StorageHealthMonitor& operator=(const StorageHealthMonitor&) = delete;

    [[nodiscard]] bool healthy() const;
    [[nodiscard]] std::string reason() const;
    [[nodiscard]] HealthSnapshot snapshot() const;
    // Number of completed health calls (tests).
    [[nodiscard]] uint64_t checks() const;

    // Re-check now (rate-limited by min_recheck); never blocks. Call it after a failed write.
    void poke();

    // `listener` runs on the monitor thread after every transition; it must be quick and must not
    // call back into the monitor's subscribe(). It stops being called when the Subscription dies.
    [[nodiscard]] Subscription subscribe(Listener listener);

    // Stops polling now; healthy() keeps its last value. Idempotent; the destructor calls it.
    void stop();

    class Subscription {
    public:
        Subscription() = default;
        ~Subscription() { reset(); }
        Subscription(Subscription&& other) noexcept;
        Subscription& operator=(Subscription&& other) noexcept;
        Subscription(const Subscription&) = delete;
        Subscription& operator=(const Subscription&) = delete;
        // After it returns, the listener is not running and will not run again.
        void reset();

    private:
        friend class StorageHealthMonitor;
        Subscription(StorageHealthMonitor* monitor, std::list<Listener>::iterator it) : monitor_(monitor), it_(it) {}
        StorageHealthMonitor* monitor_ = nullptr;
        std::list<Listener>::iterator it_;
    };

private:
    void run();
    void check();
    void notify_listeners();

    StorageBackend& backend_;
    const HealthMonitorOptions options_;
    const std::string name_;

    mutable std::mutex mu_;  // guards everything below up to listeners_mu_
    std::condition_variable cv_;
    HealthSnapshot state_;
    uint64_t checks_ = 0;
    bool poked_ = false;
    bool stopping_ = false;
    std::chrono::steady_clock::time_point last_check_{};

    std::mutex listeners_mu_;  // held while listeners run, so unsubscribing waits for a running one
    std::list<Listener> listeners_;

    std::once_flag joined_;
    std::thread thread_;  // last: starts after every other member exists
};

// Forwards every call to `inner` and pokes the monitor whenever a write fails, so a store that
// just lost its disk is reported unhealthy at once instead of at the next poll.
class HealthReportingStorage final : public StorageBackend {
public:
    HealthReportingStorage(StorageBackend& inner, StorageHealthMonitor& monitor) : inner_(inner), monitor_(monitor) {}

    [[nodiscard]] std::string name() const override { return inner_.name(); }
    Status create_session_storage(const std::string& session_id) override;
    Status save_session(const std::string& session_id, std::string_view snapshot) override;
    StorageResult<std::optional<std::string>> load_session(const std::string& session_id) override {
        return inner_.load_session(session_id);
    }
    Status delete_session(const std::string& session_id) override;
    StorageResult<std::vector<std::string>> list_session_ids() override { return inner_.list_session_ids(); }
    Status append_log_entry(const std::string& session_id, std::string_view record) override;
    std::vector<Status> append_log_batch(const std::vector<LogAppend>& items) override;
    std::vector<StorageResult<std::optional<std::string>>> load_sessions(const std::vector<std::string>& ids) override {
        return inner_.load_sessions(ids);
    }
    std::vector<StorageResult<std::vector<std::string>>> load_logs(const std::vector<std::string>& ids) override {
        return inner_.load_logs(ids);
    }
    StorageResult<std::vector<std::string>> load_log(const std::string& session_id) override {
        return inner_.load_log(session_id);
    }
    Status put_record(const std::string& ns, const std::string& key, std::string_view blob) override;
    Status delete_record(const std::string& ns, const std::string& key) override;
    StorageResult<std::vector<std::pair<std::string, std::string>>> list_records(const std::string& ns) override {
        return inner_.list_records(ns);
    }
    // Where and how the inner backend's calls run is the inner backend's business (the group
    // committer's placement and the inline path depend on it: forgetting these two cost a thread
    // hop per batch unnoticed).
    void run_on_storage_thread(const std::function<void()>& fn) override { inner_.run_on_storage_thread(fn); }
    [[nodiscard]] bool completes_inline() const override { return inner_.completes_inline(); }
    [[nodiscard]] bool supports_replace_log() const override { return inner_.supports_replace_log(); }
    [[nodiscard]] bool supports_scan() const override { return inner_.supports_scan(); }
    Status scan_sessions(SessionScanVisitor& visitor) override { return inner_.scan_sessions(visitor); }
    Status replace_log(const std::string& session_id, const std::vector<std::string>& records) override;
    Status flush() override;
    StorageResult<std::string> health() override { return inner_.health(); }
    [[nodiscard]] bool supports_leases() const override { return inner_.supports_leases(); }
    StorageResult<Lease> acquire_lease(const std::string& session_id, const std::string& holder, uint32_t ttl_ms,
                                       uint64_t held_token) override {
        return inner_.acquire_lease(session_id, holder, ttl_ms, held_token);
    }
    Status release_lease(const std::string& session_id, const std::string& holder, uint64_t token) override {
        return inner_.release_lease(session_id, holder, token);
    }
    StorageResult<std::vector<bool>> renew_leases(const std::string& holder, uint32_t ttl_ms,
                                                  const std::vector<std::pair<std::string, uint64_t>>& held) override {
        return inner_.renew_leases(holder, ttl_ms, held);
    }
    void set_fence(const std::string& session_id, uint64_t token) override { inner_.set_fence(session_id, token); }
    [[nodiscard]] uint64_t fence_token(const std::string& session_id) const override {
        return inner_.fence_token(session_id);
    }
    void require_fences(bool on) override { inner_.require_fences(on); }
    void on_fenced(const std::function<void(const std::string&)>& fn) override { inner_.on_fenced(fn); }
    [[nodiscard]] bool supports_events() const override { return inner_.supports_events(); }
    Status publish_events(const std::string& channel, const std::vector<std::string>& messages) override {
        return inner_.publish_events(channel, messages);
    }
    StorageResult<std::unique_ptr<EventSubscription>> subscribe_events(const std::string& channel,
                                                                       const EventHandlers& handlers) override {
        return inner_.subscribe_events(channel, handlers);
    }
    StorageResult<std::vector<std::string>> recover() override { return inner_.recover(); }

private:
    Status watched(Status st) {
        // A fenced write says this process lost a session, not that the store cannot write.
        if (!st && st.error().status != kStatusFenced) monitor_.poke();
        return st;
    }
    StorageBackend& inner_;
    StorageHealthMonitor& monitor_;
};

}  // namespace macp::storage
