// What the kernel and the storage path record: messages accepted and rejected (by MACP error
// code), session lifecycle transitions, storage append latency, group-commit batch sizes and the
// start-up recovery. Names follow the reference runtime's `macp_*` families where it has one
// (docs/metrics.md lists every family and where we differ).
//
// THREADING: recording is lock-free from any thread. rejected_counter() takes a lock; call it
// when wiring (the kernel caches one pointer per error kind), not per message.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "metrics/exposition.hpp"
#include "metrics/instruments.hpp"

namespace macp::metrics {

class RuntimeMetrics {
public:
    RuntimeMetrics();

    Counter messages_accepted;
    Counter messages_duplicate;
    // The counter of one MACP error code ("RATE_LIMITED"), created at 0 on first request so a
    // scrape shows every code the runtime can answer, not only those already seen.
    Counter& rejected_counter(std::string_view code);

    Counter sessions_started;
    Counter sessions_resolved;
    Counter sessions_expired;
    Counter sessions_cancelled;
    Counter sessions_suspended;
    Counter sessions_resumed;

    // One backend append call (a group-commit batch, or one inline write), nanoseconds.
    Histogram storage_append_ns{Histogram::latency_bounds_ns()};
    Counter storage_append_failures;
    // Records per group-commit batch.
    Histogram commit_batch_size{{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}};

    // Start-up recovery: how long it took and what it rebuilt.
    Gauge recovery_ns;
    Gauge recovered_sessions;
    Gauge recovery_skipped_sessions;

    void render(Exposition& out) const;

private:
    mutable std::mutex rejected_mu_;
    std::map<std::string, std::unique_ptr<Counter>, std::less<>> rejected_;
};

}  // namespace macp::metrics
