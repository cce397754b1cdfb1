#include "service/connection_limits.hpp"

#include <functional>

namespace macp::service {

ConnectionLimits::Permit& ConnectionLimits::Permit::operator=(Permit&& o) noexcept {
    if (this != &o) {
        reset();
        table_ = std::move(o.table_);
        peer_ = std::move(o.peer_);
    }
    return *this;
}

void ConnectionLimits::Permit::reset() {
    if (table_) table_->release(peer_);
    table_.reset();
}

ConnectionLimits::Shard& ConnectionLimits::Table::shard(const std::string& peer) {
    return shards[std::hash<std::string>{}(peer) % shards.size()];
}

void ConnectionLimits::Table::release(const std::string& peer) {
    auto& s = shard(peer);
    std::lock_guard lock(s.mu);
    const auto it = s.calls.find(peer);
    if (it != s.calls.end() && --it->second <= 0) s.calls.erase(it);
}

Result<ConnectionLimits::Permit, grpc::Status> ConnectionLimits::acquire(const std::string& peer) {
    auto& s = table_->shard(peer);
    {
        std::lock_guard lock(s.mu);
        auto& n = s.calls[peer];
        if (n < limit_) {
            ++n;
            return Permit(table_, peer);
        }
    }
    return fail(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                             "too many calls in flight on this connection (limit " + std::to_string(limit_) +
                                 ", MACP_CONCURRENCY_LIMIT_PER_CONNECTION); wait for an answer or open another "
                                 "connection"));
}

int64_t ConnectionLimits::in_flight(const std::string& peer) const {
    auto& s = table_->shard(peer);
    std::lock_guard lock(s.mu);
    const auto it = s.calls.find(peer);
    return it == s.calls.end() ? 0 : it->second;
}

}  // namespace macp::service
