// Background upkeep (BG-1): TTL expiry sweeps, retention eviction, disk GC, and shutdown.
#include <spdlog/spdlog.h>

#include "kernel/kernel.hpp"
#include "kernel/transitions.hpp"

namespace macp::kernel {

void Kernel::start_sweeper(std::chrono::milliseconds interval) {
    sweeper_ = std::thread([this, interval] {
        std::unique_lock lock(sweeper_mu_);
        while (!sweeper_stop_) {
            lock.unlock();
            sweep();  // BG-1: first tick at start-up
            lock.lock();
            sweeper_cv_.wait_for(lock, interval, [this] { return sweeper_stop_; });
        }
    });
}

void Kernel::sweep() {
    const int64_t now = now_ms();
    for (const auto& slot : table_.all()) {
        std::lock_guard lock(slot->mu);
        if (!slot->live) continue;
        expire_if_due(*slot, now);  // TTL-5 (and the suspension cap, which the reference leaves lazy: Q-5)
        const Session& s = slot->session;
        // STO-RET-1 (0.6: CANCELLED too). The session stays readable from storage.
        if (is_terminal(s.state) && s.started_at_ms < now - options_.session_retention_ms) {
            slot->live = false;
            table_.evict(s.session_id, s.started_at_ms);
        }
    }
    // STO-RET-4 (0.6 disk GC): finished sessions older than the disk retention leave storage;
    // only then may their ids be reused (until then the tombstone keeps Q-25 from happening).
    if (options_.session_disk_retention_ms > 0) {
        for (const auto& id : table_.take_evicted_before(now - options_.session_disk_retention_ms)) {
            if (auto st = storage_.delete_session(id); !st) {
                spdlog::warn("session {}: disk GC failed: {}", id, st.error().message);
                table_.restore_evicted(id, now);  // retried after another retention period
            } else {
                spdlog::info("session {} removed from storage (MACP_SESSION_DISK_RETENTION_SECS)", id);
            }
        }
    }
}

void Kernel::shutdown() {
    {
        std::lock_guard lock(sweeper_mu_);
        sweeper_stop_ = true;
    }
    sweeper_cv_.notify_all();
    if (sweeper_.joinable()) sweeper_.join();
    // STO-REC-10 differs on purpose (issue #8.6): the log already holds everything acknowledged
    // and terminal sessions were snapshotted when they ended, so shutdown writes nothing per
    // session and finishes within the drain deadline however many sessions there are.
    if (auto st = storage_.flush(); !st) spdlog::warn("storage flush at shutdown failed: {}", st.error().message);
}

}  // namespace macp::kernel
