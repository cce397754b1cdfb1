// Per-sender sliding-window rate limits (RATE-1..3): one bucket for SessionStart, one for
// everything else.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace macp::auth {

class RateLimiter {
public:
    enum class Bucket { SessionStart, Message };
    RateLimiter(int64_t session_starts_per_minute, int64_t messages_per_minute);

    // Records the event and returns true when under the limit; rejected attempts are not recorded.
    bool allow(const std::string& sender, Bucket bucket, int64_t now_ms);

private:
    static constexpr int64_t kWindowMs = 60'000;
    struct Windows {
        std::deque<int64_t> starts;
        std::deque<int64_t> messages;
    };
    void sweep(int64_t now_ms);

    int64_t start_limit_;
    int64_t message_limit_;
    std::mutex mu_;
    std::unordered_map<std::string, Windows> senders_;
    uint64_t checks_ = 0;
};

}  // namespace macp::auth
