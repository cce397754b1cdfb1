// The three Prometheus instrument kinds the runtime uses, lock-free so that recording costs a
// relaxed atomic add on the hot path (a Send records several). Reading (a scrape) sees each
// value atomically but not all of them at one instant, which Prometheus tolerates.
//
// Values are integers: durations are kept in nanoseconds and sizes as counts, and converted to
// the exposition's unit (seconds) only when rendered, so no floating-point atomics are needed.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace macp::metrics {

class Counter {
public:
    void inc(uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
    [[nodiscard]] uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> value_{0};
};

class Gauge {
public:
    void set(int64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
    void add(int64_t n) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
    [[nodiscard]] int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<int64_t> value_{0};
};

// Fixed buckets chosen at construction. `bounds` are inclusive upper bounds in the recorded unit,
// strictly increasing; the +Inf bucket is implicit.
class Histogram {
public:
    explicit Histogram(std::vector<uint64_t> bounds);
    Histogram(const Histogram&) = delete;
    Histogram& operator=(const Histogram&) = delete;

    void observe(uint64_t value) noexcept;

    struct Snapshot {
        std::vector<uint64_t> cumulative;  // one per bound, then +Inf (== count)
        uint64_t sum = 0;
    };
    [[nodiscard]] Snapshot snapshot() const;
    [[nodiscard]] const std::vector<uint64_t>& bounds() const { return bounds_; }

    // Bucket bounds for durations, in nanoseconds: 100 us .. 10 s.
    static std::vector<uint64_t> latency_bounds_ns();

private:
    std::vector<uint64_t> bounds_;
    std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // not cumulative; bounds_.size() + 1
    std::atomic<uint64_t> sum_{0};
};

}  // namespace macp::metrics
