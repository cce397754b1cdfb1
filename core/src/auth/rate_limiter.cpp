#include "auth/rate_limiter.hpp"

namespace macp::auth {

RateLimiter::RateLimiter(int64_t session_starts_per_minute, int64_t messages_per_minute)
    : start_limit_(session_starts_per_minute), message_limit_(messages_per_minute) {}

namespace {
void prune(std::deque<int64_t>& q, int64_t now_ms, int64_t window_ms) {
    while (!q.empty() && now_ms - q.front() > window_ms) q.pop_front();  // RATE-3: strictly older
}
}  // namespace

void RateLimiter::sweep(int64_t now_ms) {
    for (auto it = senders_.begin(); it != senders_.end();) {
        prune(it->second.starts, now_ms, kWindowMs);
        prune(it->second.messages, now_ms, kWindowMs);
        if (it->second.starts.empty() && it->second.messages.empty()) {
            it = senders_.erase(it);
        } else {
            ++it;
        }
    }
}

bool RateLimiter::allow(const std::string& sender, Bucket bucket, int64_t now_ms) {
    std::lock_guard lock(mu_);
    // Amortized clean-up of idle senders keeps the table bounded without a timer thread.
    if (++checks_ % 128 == 0) sweep(now_ms);
    auto& w = senders_[sender];
    auto& q = bucket == Bucket::SessionStart ? w.starts : w.messages;
    const int64_t limit = bucket == Bucket::SessionStart ? start_limit_ : message_limit_;
    prune(q, now_ms, kWindowMs);
    if (static_cast<int64_t>(q.size()) >= limit) return false;  // RATE-2
    q.push_back(now_ms);
    return true;
}

}  // namespace macp::auth
