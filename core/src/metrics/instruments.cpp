#include "metrics/instruments.hpp"

#include <algorithm>

namespace macp::metrics {

Histogram::Histogram(std::vector<uint64_t> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
    for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(uint64_t value) noexcept {
    // A dozen bounds: the binary search is a handful of compares, cheaper than any lock.
    const auto at = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
    counts_[static_cast<size_t>(at)].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
    Snapshot s;
    s.cumulative.reserve(bounds_.size() + 1);
    uint64_t running = 0;
    for (size_t i = 0; i <= bounds_.size(); ++i) {
        running += counts_[i].load(std::memory_order_relaxed);
        s.cumulative.push_back(running);
    }
    s.sum = sum_.load(std::memory_order_relaxed);
    return s;
}

std::vector<uint64_t> Histogram::latency_bounds_ns() {
    constexpr uint64_t us = 1000;
    constexpr uint64_t ms = 1000 * us;
    return {100 * us, 250 * us, 500 * us, 1 * ms,   2500 * us, 5 * ms,    10 * ms,   25 * ms,
            50 * ms,  100 * ms, 250 * ms, 500 * ms, 1000 * ms, 2500 * ms, 5000 * ms, 10000 * ms};
}

}  // namespace macp::metrics
