#include "service/stream_limits.hpp"

#include <utility>

namespace macp::service {

StreamLimits::Lease::Lease(Lease&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), sender_(std::move(other.sender_)) {}

StreamLimits::Lease& StreamLimits::Lease::operator=(Lease&& other) noexcept {
    if (this != &other) {
        reset();
        owner_ = std::exchange(other.owner_, nullptr);
        sender_ = std::move(other.sender_);
    }
    return *this;
}

void StreamLimits::Lease::reset() {
    if (owner_ != nullptr) std::exchange(owner_, nullptr)->release(sender_);
}

void StreamLimits::configure(int64_t per_identity, int64_t anonymous) {
    std::lock_guard lock(mu_);
    per_identity_ = per_identity;
    anonymous_ = anonymous;
}

Result<StreamLimits::Lease, grpc::Status> StreamLimits::acquire(const std::optional<std::string>& sender) {
    std::lock_guard lock(mu_);
    if (!sender) {
        if (anonymous_held_ >= anonymous_) {
            return fail(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                     "too many open streams from callers without credentials (limit " +
                                         std::to_string(anonymous_) +
                                         ", MACP_MAX_ANONYMOUS_STREAMS); authenticate or retry later"));
        }
        ++anonymous_held_;
        ++total_held_;
        return Lease(this, std::nullopt);
    }
    auto& held = by_sender_[*sender];
    if (held >= per_identity_) {
        if (held == 0) by_sender_.erase(*sender);
        return fail(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "too many open streams for sender '" + *sender + "' (limit " +
                                     std::to_string(per_identity_) +
                                     ", MACP_MAX_STREAMS_PER_IDENTITY); close one and retry"));
    }
    ++held;
    ++total_held_;
    return Lease(this, sender);
}

int64_t StreamLimits::held(const std::optional<std::string>& sender) const {
    std::lock_guard lock(mu_);
    if (!sender) return anonymous_held_;
    auto it = by_sender_.find(*sender);
    return it == by_sender_.end() ? 0 : it->second;
}

int64_t StreamLimits::total_held() const {
    std::lock_guard lock(mu_);
    return total_held_;
}

void StreamLimits::release(const std::optional<std::string>& sender) {
    std::lock_guard lock(mu_);
    --total_held_;
    if (!sender) {
        --anonymous_held_;
        return;
    }
    auto it = by_sender_.find(*sender);
    if (it != by_sender_.end() && --it->second <= 0) by_sender_.erase(it);
}

}  // namespace macp::service
