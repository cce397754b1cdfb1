// Lets one line through per period and counts the rest, so that a failure repeated by every
// request (a full disk under load) is reported, not repeated thousands of times a second.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace macp::util {

class LogThrottle {
public:
    explicit LogThrottle(std::chrono::steady_clock::duration period) : period_(period) {}

    // True when a line may be written now; `suppressed` then holds how many were held back since
    // the previous one.
    bool allow(uint64_t& suppressed) {
        std::lock_guard lock(mu_);
        const auto now = std::chrono::steady_clock::now();
        if (any_ && now - last_ < period_) {
            ++held_back_;
            return false;
        }
        any_ = true;
        last_ = now;
        suppressed = held_back_;
        held_back_ = 0;
        return true;
    }

private:
    std::mutex mu_;
    std::chrono::steady_clock::duration period_;
    std::chrono::steady_clock::time_point last_{};
    bool any_ = false;
    uint64_t held_back_ = 0;
};

}  // namespace macp::util
