// Caps on long-lived streams (issue #13). Every StreamSession and Watch* stream holds a slot from
// the moment its call is accepted until OnDone: per authenticated sender, and one shared pool for
// callers of the watches that need no token (RPC-GEN-3) and present none that authenticates.
// A call over its cap ends at once with RESOURCE_EXHAUSTED. The reference has no such cap: without
// one, a single caller could open streams until the server runs out of memory.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <grpcpp/support/status.h>

#include "util/result.hpp"

namespace macp::service {

class StreamLimits {
public:
    static constexpr int64_t kDefaultPerIdentity = 1000;  // MACP_MAX_STREAMS_PER_IDENTITY
    static constexpr int64_t kDefaultAnonymous = 1000;    // MACP_MAX_ANONYMOUS_STREAMS

    // One held slot, given back when the lease is destroyed. OWNERSHIP: the StreamLimits must
    // outlive its leases (it lives in ServiceEvents, which outlives the gRPC server).
    class Lease {
    public:
        Lease() = default;
        Lease(Lease&& other) noexcept;
        Lease& operator=(Lease&& other) noexcept;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease() { reset(); }
        void reset();

    private:
        friend class StreamLimits;
        Lease(StreamLimits* owner, std::optional<std::string> sender) : owner_(owner), sender_(std::move(sender)) {}
        StreamLimits* owner_ = nullptr;
        std::optional<std::string> sender_;  // nullopt: the anonymous pool
    };

    // Set once at start-up, before the server accepts calls. per_identity >= 1, anonymous >= 0
    // (0: the watches that need no token are refused to callers without one).
    void configure(int64_t per_identity, int64_t anonymous);

    // A slot for a stream of `sender` (nullopt: an unauthenticated caller), or the
    // RESOURCE_EXHAUSTED status to end the call with when that caller is at its cap.
    Result<Lease, grpc::Status> acquire(const std::optional<std::string>& sender);

    // Slots held right now by `sender` (nullopt: the anonymous pool).
    [[nodiscard]] int64_t held(const std::optional<std::string>& sender) const;
    // Slots held right now by everyone: the open streams (the active-streams metric).
    [[nodiscard]] int64_t total_held() const;

private:
    void release(const std::optional<std::string>& sender);

    mutable std::mutex mu_;
    int64_t per_identity_ = kDefaultPerIdentity;
    int64_t anonymous_ = kDefaultAnonymous;
    std::unordered_map<std::string, int64_t> by_sender_;  // only senders holding a slot: no growth
    int64_t anonymous_held_ = 0;
    int64_t total_held_ = 0;
};

}  // namespace macp::service
