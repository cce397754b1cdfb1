// Background upkeep (BG-1): TTL expiry sweeps, retention eviction, disk GC, and shutdown.
#include <latch>
#include <memory>

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
    const auto slots = table_.all();
    // Every session is checked in its turn (after any write in flight); the sweep returns when all
    // checks, and the expiries they wrote, are done.
    auto remaining = std::make_shared<std::latch>(static_cast<std::ptrdiff_t>(slots.size()));
    for (const auto& slot : slots) {
        exclusive(slot, [this, now, remaining](SessionSlot& sl, Outbox& out) {
            if (!sl.live) {
                out.push_back([remaining] { remaining->count_down(); });
                return;
            }
            // TTL-5 (and the suspension cap, which the reference leaves lazy: Q-5)
            expire_if_due(sl, now, out, [this, now, remaining](SessionSlot& s2, Outbox& o, bool) {
                const Session& s = s2.session;
                // STO-RET-1 (0.6: CANCELLED too). The session stays readable from storage.
                if (is_terminal(s.state) && s.started_at_ms < now - options_.session_retention_ms) {
                    s2.live = false;
                    table_.evict(s.session_id, s.started_at_ms);
                }
                o.push_back([remaining] { remaining->count_down(); });
            });
        });
    }
    remaining->wait();
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
    snapshots_.flush();  // terminal snapshots queued by the last writes
    // STO-REC-10 differs on purpose (issue #8.6): the log already holds everything acknowledged
    // and terminal sessions were snapshotted when they ended, so shutdown writes nothing per
    // session and finishes within the drain deadline however many sessions there are.
    if (auto st = storage_.flush(); !st) spdlog::warn("storage flush at shutdown failed: {}", st.error().message);
}

}  // namespace macp::kernel
