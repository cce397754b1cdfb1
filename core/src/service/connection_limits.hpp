// MACP_CONCURRENCY_LIMIT_PER_CONNECTION (CFG-18, issue #14): how many unary calls one client
// connection may have in flight at once. One more is answered at once with RESOURCE_EXHAUSTED
// instead of queueing, so one connection cannot occupy the server's threads and leave nothing
// for the others; the client sees the limit and backs off.
//
// A connection is what gRPC's peer string names ("ipv4:10.0.0.7:53122": address and source port,
// unique per TCP connection while it is open). Streams are not counted here: they are capped by
// MACP_MAX_STREAMS_PER_IDENTITY and MACP_MAX_CONCURRENT_STREAMS.
//
// THREADING: acquire() and permits from any thread. The table is split into shards by peer, so
// calls of different connections rarely share a lock; only connections with calls in flight
// hold an entry (no growth with the number of connections ever seen).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <grpcpp/support/status.h>

#include "util/result.hpp"

namespace macp::service {

class ConnectionLimits {
public:
    // `limit` >= 1 (config validates it).
    explicit ConnectionLimits(int64_t limit) : limit_(limit) {}
    ConnectionLimits(const ConnectionLimits&) = delete;
    ConnectionLimits& operator=(const ConnectionLimits&) = delete;

private:
    struct Shard {
        mutable std::mutex mu;
        std::unordered_map<std::string, int64_t> calls;
    };
    struct Table {
        std::array<Shard, 16> shards;
        Shard& shard(const std::string& peer);
        void release(const std::string& peer);
    };

public:
    // One call in flight, released when destroyed. It shares the table, so a permit released
    // after the service is gone (a write completing during shutdown) is still safe.
    class Permit {
    public:
        Permit() = default;
        Permit(Permit&& o) noexcept = default;
        Permit& operator=(Permit&& o) noexcept;
        Permit(const Permit&) = delete;
        Permit& operator=(const Permit&) = delete;
        ~Permit() { reset(); }
        void reset();

    private:
        friend class ConnectionLimits;
        Permit(std::shared_ptr<Table> table, std::string peer) : table_(std::move(table)), peer_(std::move(peer)) {}
        std::shared_ptr<Table> table_;
        std::string peer_;
    };

    // A permit for one more call of `peer`, or the RESOURCE_EXHAUSTED status to answer with.
    Result<Permit, grpc::Status> acquire(const std::string& peer);
    // Calls of `peer` in flight now.
    [[nodiscard]] int64_t in_flight(const std::string& peer) const;
    [[nodiscard]] int64_t limit() const { return limit_; }

private:
    const int64_t limit_;
    const std::shared_ptr<Table> table_ = std::make_shared<Table>();
};

}  // namespace macp::service
