// Session ownership across the processes of one deployment (docs/scale-out.md, issue #16).
//
// Each open session is served by exactly one process at a time: the one holding its lease in the
// store (storage.h FENCING). Holding it, this process writes the session with the lease's fencing
// token, so that once another process takes the session over, every write of ours is refused by
// the store itself. Without it, the session is forwarded to its holder or, when nobody holds it
// (its owner crashed and the lease ran out), taken over: its lease acquired and the session
// rebuilt from its stored log.
//
// THREADING: every public member may be called from any thread. route() may block on the store
// (call it off gRPC's callback threads); owns() never blocks. One background thread renews the
// leases, lets go of sessions the kernel no longer holds, and adopts orphaned open sessions.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kernel/kernel.hpp"
#include "storage/storage_backend.hpp"

namespace macp::cluster {

struct ClusterOptions {
    std::string node_id;                               // MACP_NODE_ID
    std::string advertise_addr;                        // MACP_ADVERTISE_ADDR: where the other processes reach this one
    std::chrono::milliseconds lease_ttl{10'000};       // MACP_CLUSTER_LEASE_TTL_MS
    std::chrono::milliseconds renew_interval{3'000};   // MACP_CLUSTER_RENEW_INTERVAL_MS
    std::chrono::milliseconds adopt_interval{10'000};  // MACP_CLUSTER_ADOPT_INTERVAL_MS
};

// Where a session's calls go.
struct Route {
    enum Kind { Local, Remote, Unavailable };
    Kind kind = Unavailable;
    std::string address;  // Remote: the owner's advertised gRPC address
    std::string owner;    // Remote: the owner's holder name
    std::string detail;   // Unavailable: why (for logs and the gRPC status)
    // Unavailable: when asking again may succeed (the current lease's remaining time), 0 = now.
    std::chrono::milliseconds retry_after{0};
    // Unavailable because the store failed (not because another process holds the session):
    // asking again at once is pointless, and the caller is answered as a failed write would be.
    bool store_failed = false;
};

// The holder name of a process incarnation: "<node id>@<address>#<incarnation>", so that a
// refused acquire names where to forward to.
std::string holder_name(const std::string& node_id, const std::string& address, uint64_t incarnation);
// The address part of a holder name; "" when it has none.
std::string holder_address(const std::string& holder);

class Ownership {
public:
    Ownership(ClusterOptions options, storage::StorageBackend& storage, kernel::Kernel& kernel);
    ~Ownership();  // stops the background thread; leases are left to expire (see release_all)
    Ownership(const Ownership&) = delete;
    Ownership& operator=(const Ownership&) = delete;

    // Refuses unfenced session writes from now on, then adopts the orphaned sessions once (the
    // cluster's recovery) and starts the background thread. Call before serving.
    void start();
    // Stops the background thread and lets go of every lease (after the kernel's shutdown saved
    // its snapshots), so that the other processes take the sessions over at once.
    void release_all();

    // Whether this process holds the session's lease (as far as it knows). Never blocks.
    [[nodiscard]] bool owns(const std::string& session_id) const;
    // Where calls for `session_id` go; takes the session over when nobody holds it. May block.
    Route route(const std::string& session_id);
    // The owner route() last found for a session another process holds, while that lease is known
    // to last (no store round trip): nullopt when unknown. Never blocks.
    [[nodiscard]] std::optional<Route> known_remote(const std::string& session_id) const;
    // A forward to that owner failed: ask the store again next time.
    void forget_remote(const std::string& session_id);

    [[nodiscard]] const std::string& holder() const { return holder_; }
    [[nodiscard]] const ClusterOptions& options() const { return options_; }
    [[nodiscard]] size_t owned_count() const;
    // Sessions taken over with a stored history (a crashed or stopped owner's), and sessions this
    // process lost to another (metrics: macp_cluster_*).
    [[nodiscard]] uint64_t takeovers() const { return takeovers_.load(std::memory_order_relaxed); }
    [[nodiscard]] uint64_t losses() const { return losses_.load(std::memory_order_relaxed); }

private:
    struct Held {
        uint64_t token = 0;
        std::chrono::steady_clock::time_point since;
    };

    void run();
    void tick();
    void renew();
    void adopt_orphans();
    // The store refused a write of ours for `session_id`: another process holds it now.
    void lost(const std::string& session_id);
    void forget(const std::string& session_id, bool release);
    std::mutex& claim_lock(const std::string& session_id);

    const ClusterOptions options_;
    storage::StorageBackend& storage_;
    kernel::Kernel& kernel_;
    const std::string holder_;

    mutable std::shared_mutex mu_;
    std::unordered_map<std::string, Held> owned_;
    // Sessions the store refused us, for the background thread to drop from the kernel.
    std::vector<std::string> lost_;
    // Orphan scan memory: finished sessions (never adopted by the scan) and sessions held by
    // another process until about when their lease could run out.
    std::unordered_set<std::string> finished_;
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> held_elsewhere_;

    std::array<std::mutex, 64> claim_mu_;  // one claim of a session at a time
    std::atomic<uint64_t> takeovers_{0};
    std::atomic<uint64_t> losses_{0};

    // Owners of sessions held elsewhere, until their lease's known end (bounded by what was
    // routed within one lease; expired entries are dropped by the background thread).
    struct Remote {
        std::string address;
        std::string owner;
        std::chrono::steady_clock::time_point until;
    };
    mutable std::mutex remote_mu_;
    std::unordered_map<std::string, Remote> remote_;

    std::mutex thread_mu_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace macp::cluster
