// Per-session serialization without threads (issue #13): work on a session runs under its slot's
// lock, one durable write of a session is in flight at a time, and what arrives meanwhile waits in
// the slot's queue and runs from that write's continuation. Replies leave only after the lock is
// released.
#include <chrono>
#include <exception>

#include <spdlog/spdlog.h>

#include "kernel/kernel.hpp"

namespace macp::kernel {

void Kernel::exclusive(const std::shared_ptr<SessionSlot>& slot, SlotWork work) {
    Outbox out;
    {
        std::lock_guard lock(slot->mu);
        if (slot->busy) {
            if (!slot->waiting) slot->waiting = std::make_unique<std::deque<SlotWork>>();
            slot->waiting->push_back(std::move(work));
            return;
        }
        work(*slot, out);
        run_completed(*slot, out);
    }
    deliver(out);
}

void Kernel::write(SessionSlot& slot, std::string record, Continuation then, bool create_session) {
    slot.busy = true;
    if (inline_storage_) {
        // Nothing to wait for, so nothing to hand off: the store is a call, and the continuation
        // runs from run_completed when the step that wrote ends, exactly where a committed
        // write's would run (under the lock, before the work that waited).
        storage::Status st;
        if (create_session) st = storage_.create_session_storage(slot.session_id);
        if (st) {
            const auto started = std::chrono::steady_clock::now();
            st = storage_.append_log_entry(slot.session_id, record);
            metrics_.storage_append_ns.observe(static_cast<uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started)
                    .count()));
            if (!st) metrics_.storage_append_failures.inc();
        }
        slot.completed = std::make_unique<InlineWrite>(InlineWrite{std::move(then), std::move(st)});
        return;
    }
    committer_.submit({slot.session_id, std::move(record), create_session,
                       [this, keep = slot.shared_from_this(), then = std::move(then)](const storage::Status& st) {
                           Outbox out;
                           {
                               std::lock_guard lock(keep->mu);
                               keep->busy = false;
                               then(*keep, out, st);
                               run_completed(*keep, out);
                           }
                           deliver(out);
                       },
                       slot.fence});
}

void Kernel::run_completed(SessionSlot& slot, Outbox& out) {
    for (;;) {
        if (slot.completed) {
            auto done = std::move(slot.completed);
            slot.busy = false;
            done->then(slot, out, done->status);  // may write again (a checkpoint): next round
            continue;
        }
        // Work that waited for a write, in arrival order, until one of them starts a write of
        // its own (it takes the queue over then).
        if (slot.busy || !slot.has_waiting()) return;
        SlotWork next = std::move(slot.waiting->front());
        slot.waiting->pop_front();
        next(slot, out);
    }
}

void Kernel::deliver(Outbox& out) noexcept {
    for (auto& reply : out) {
        try {
            reply();
        } catch (const std::exception& e) {
            spdlog::error("delivering a reply failed: {}", e.what());
        } catch (...) {
            spdlog::error("delivering a reply failed with an unknown exception");
        }
    }
    out.clear();
}

}  // namespace macp::kernel
