// Per-session serialization without threads (issue #13): work on a session runs under its slot's
// lock, one durable write of a session is in flight at a time, and what arrives meanwhile waits in
// the slot's queue and runs from that write's continuation. Replies leave only after the lock is
// released.
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
    }
    deliver(out);
}

void Kernel::write(SessionSlot& slot, std::string record, Continuation then, bool create_session) {
    slot.busy = true;
    committer_.submit({slot.session_id, std::move(record), create_session,
                       [this, keep = slot.shared_from_this(), then = std::move(then)](const storage::Status& st) {
                           Outbox out;
                           {
                               std::lock_guard lock(keep->mu);
                               keep->busy = false;
                               then(*keep, out, st);
                               // Work that waited for this write, in arrival order, until one of
                               // them starts a write of its own (it takes the queue over then).
                               while (!keep->busy && keep->has_waiting()) {
                                   SlotWork next = std::move(keep->waiting->front());
                                   keep->waiting->pop_front();
                                   next(*keep, out);
                               }
                           }
                           deliver(out);
                       }});
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
