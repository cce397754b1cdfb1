#include "metrics/runtime_metrics.hpp"

namespace macp::metrics {

RuntimeMetrics::RuntimeMetrics() = default;

Counter& RuntimeMetrics::rejected_counter(std::string_view code) {
    std::lock_guard lock(rejected_mu_);
    auto it = rejected_.find(code);
    if (it == rejected_.end()) it = rejected_.emplace(std::string(code), std::make_unique<Counter>()).first;
    return *it->second;
}

void RuntimeMetrics::render(Exposition& out) const {
    out.family("macp_messages_accepted_total", "counter",
               "Envelopes accepted (made durable and applied), duplicates not included.");
    out.sample("macp_messages_accepted_total", {}, messages_accepted.value());
    out.family("macp_messages_duplicate_total", "counter",
               "Envelopes answered as duplicates of an accepted message_id (nothing written).");
    out.sample("macp_messages_duplicate_total", {}, messages_duplicate.value());
    out.family("macp_messages_rejected_total", "counter", "Envelopes rejected, by MACP error code.");
    {
        std::lock_guard lock(rejected_mu_);
        for (const auto& [code, counter] : rejected_)
            out.sample("macp_messages_rejected_total", {{"code", code}}, counter->value());
    }
    const struct {
        const char* name;
        const char* help;
        const Counter& counter;
    } lifecycle[] = {
        {"macp_sessions_started_total", "Sessions started.", sessions_started},
        {"macp_sessions_resolved_total", "Sessions resolved.", sessions_resolved},
        {"macp_sessions_expired_total", "Sessions expired (TTL).", sessions_expired},
        {"macp_sessions_cancelled_total", "Sessions cancelled.", sessions_cancelled},
        {"macp_sessions_suspended_total", "Sessions suspended.", sessions_suspended},
        {"macp_sessions_resumed_total", "Sessions resumed.", sessions_resumed},
    };
    for (const auto& l : lifecycle) {
        out.family(l.name, "counter", l.help);
        out.sample(l.name, {}, l.counter.value());
    }
    out.family(
        "macp_storage_append_seconds", "histogram",
        "Duration of one durable append call to the storage backend (a group-commit batch or one inline write).");
    out.histogram("macp_storage_append_seconds", {}, storage_append_ns, 1e9);
    out.family("macp_storage_append_failures_total", "counter", "Storage append calls that failed.");
    out.sample("macp_storage_append_failures_total", {}, storage_append_failures.value());
    out.family("macp_group_commit_batch_size", "histogram", "Log records made durable together by one group commit.");
    out.histogram("macp_group_commit_batch_size", {}, commit_batch_size, 1);
    out.family("macp_recovery_duration_seconds", "gauge",
               "Duration of the start-up recovery (replay of stored sessions).");
    out.sample("macp_recovery_duration_seconds", {}, static_cast<double>(recovery_ns.value()) / 1e9);
    out.family("macp_recovered_sessions", "gauge", "Sessions rebuilt by the start-up recovery.");
    out.sample("macp_recovered_sessions", {}, recovered_sessions.value());
    out.family("macp_recovery_skipped_sessions", "gauge", "Stored sessions the start-up recovery could not rebuild.");
    out.sample("macp_recovery_skipped_sessions", {}, recovery_skipped_sessions.value());
}

}  // namespace macp::metrics
