// Cluster mode (issue #16, docs/scale-out.md): the processes of one deployment tell each other what
// they committed through the store's events (plugin ABI 1.2 publish/subscribe_events; Redis
// pub/sub with storage-redis), so that a watcher on any process sees every process's sessions and
// signals, and every process's registries follow registrations made anywhere.
//
// What is relayed: session lifecycle events (WatchSessions), ambient signals (WatchSignals) and
// registry changes (WatchPolicies, WatchModeRegistry; the receiver reloads its registry from the
// store first). Accepted in-session envelopes are not: StreamSession runs at the session's owner.
// Delivery is at most once (pub/sub): while a subscription is down, events are missed and a
// warning is logged; registries are reloaded when it comes back.
//
// THREADING: the relay side is called under session locks and only queues; one thread publishes
// the queue in batches. Received events are handled on the store's subscriber thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "modes/registry.hpp"
#include "policy/registry.hpp"
#include "service/service_events.hpp"
#include "storage/storage_backend.hpp"

namespace macp::service {

class ClusterEvents final : public EventRelay {
public:
    // `origin` names this process incarnation (its lease holder name): its own events, heard back
    // from the store, are skipped.
    ClusterEvents(storage::StorageBackend& storage, ServiceEvents& events, modes::ModeRegistry& modes,
                  policy::PolicyRegistry& policies, std::string origin);
    ~ClusterEvents() override;  // stops: unsubscribes, then publishes what is queued and joins
    ClusterEvents(const ClusterEvents&) = delete;
    ClusterEvents& operator=(const ClusterEvents&) = delete;

    // Subscribes and starts publishing; then sets itself as the events' relay.
    Result<void, std::string> start();

    void lifecycle(const macp::v1::SessionLifecycleEvent& event) override;
    void signal(const macp::v1::Envelope& envelope) override;
    void policies_changed() override;
    void modes_changed() override;

    // Events dropped because the queue was full or the store refused them, published, and received
    // from the other processes (metrics: macp_cluster_events_*).
    [[nodiscard]] uint64_t dropped() const;
    [[nodiscard]] uint64_t published() const { return published_.load(std::memory_order_relaxed); }
    [[nodiscard]] uint64_t received() const { return received_.load(std::memory_order_relaxed); }

private:
    void enqueue(char kind, const std::string& payload);
    void run();
    void receive(std::string_view frame);
    void reload_registries();

    storage::StorageBackend& storage_;
    ServiceEvents& events_;
    modes::ModeRegistry& modes_;
    policy::PolicyRegistry& policies_;
    const std::string origin_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::string> queue_;
    uint64_t dropped_ = 0;
    std::atomic<uint64_t> published_{0};
    std::atomic<uint64_t> received_{0};
    bool stop_ = false;
    std::thread publisher_;
    std::unique_ptr<storage::StorageBackend::EventSubscription> subscription_;
};

}  // namespace macp::service
