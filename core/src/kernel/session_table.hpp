// The in-memory session map. The map lock is held only to find, insert or remove a slot. Each
// slot serializes one session's work (validate -> durable append -> apply): its mutex guards the
// session, and while one of its writes is on its way to storage (`busy`) later work for the
// session waits in the slot's queue instead of in a thread. Different sessions proceed in
// parallel and no lock is held across storage I/O.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kernel/session.hpp"
#include "storage/storage_backend.hpp"

namespace macp::kernel {

struct SessionSlot;
// Replies (acks, RPC results) collected under a slot's lock and run after it is released, so no
// caller's callback ever runs with a session locked.
using Outbox = std::vector<std::function<void()>>;
// Work on one session, run under its slot's lock once no write of the session is in flight.
using SlotWork = std::function<void(SessionSlot&, Outbox&)>;
// Runs after a session's write is durable (status ok) or failed, under the slot's lock.
using Continuation = std::function<void(SessionSlot&, Outbox&, const storage::Status&)>;

// A write a non-blocking backend completed on the caller's thread (StorageBackend::completes_inline),
// waiting for the step that made it to end before its continuation runs, as a committed one would.
struct InlineWrite {
    Continuation then;
    storage::Status status;
};

// Shared by the table and by the continuations of its in-flight writes.
struct SessionSlot : std::enable_shared_from_this<SessionSlot> {
    SessionSlot(std::string id, std::string initiator_) : session_id(std::move(id)), initiator(std::move(initiator_)) {}
    const std::string session_id;
    const std::string initiator;  // immutable, readable without the lock (max_open_sessions)
    std::mutex mu;
    bool live = false;  // false while a SessionStart is being made durable, or after rollback/removal
    // Cluster mode: the fencing token this process held when it made this slot (adopted or
    // started the session); its records go out under it. 0 in a single process.
    uint64_t fence = 0;
    // A write of this session failed: the backend may or may not hold it (storage.h: a failed call
    // has an unknown outcome). The session is reloaded from storage before its next use.
    bool in_doubt = false;
    // A durable write of this session is in flight; its continuation clears it and then runs
    // `waiting` in order. Invariant: `waiting` is empty whenever `busy` is false.
    bool busy = false;
    // Allocated on first use: an empty std::deque costs ~600 bytes, and most sessions never have
    // work waiting (idle sessions must stay small, issue #13).
    std::unique_ptr<std::deque<SlotWork>> waiting;
    [[nodiscard]] bool has_waiting() const { return waiting && !waiting->empty(); }
    // Set only while the step that wrote inline still runs (see Kernel::run_completed).
    std::unique_ptr<InlineWrite> completed;
    Session session;
};

// SS-8: whether `other` takes one of its initiator's max_open_sessions: OPEN and not overdue, or
// possibly becoming OPEN (a SessionStart or a resume on its way to storage: a suspended or not yet
// live slot with a write in flight, or one whose lock is held by someone else right now). The
// caller must not hold `other`'s lock. Counting the uncertain ones keeps two concurrent starts or
// resumes of one initiator from both passing the quota.
bool counts_toward_quota(SessionSlot& other, int64_t now);

class SessionTable {
public:
    std::shared_ptr<SessionSlot> find(const std::string& id) const;
    std::vector<std::shared_ptr<SessionSlot>> all() const;
    size_t size() const;

    // The slots of the sessions one initiator started that are in memory (SS-8's quota counts
    // among these only, never across every session).
    using Slots = std::unordered_set<SessionSlot*>;

    // Inserts `slot` (already locked by the caller) unless the id is taken or tombstoned.
    // `may_reserve` gets the initiator's other slots and runs under the map's exclusive lock, so
    // quota checks are atomic with insertion.
    enum class Reserve { Inserted, Exists, Refused };
    template <class Pred>
    Reserve reserve(const std::shared_ptr<SessionSlot>& slot, Pred&& may_reserve) {
        std::unique_lock lock(mu_);
        if (map_.count(slot->session_id) != 0 || evicted_.count(slot->session_id) != 0) return Reserve::Exists;
        static const Slots kNone;
        auto mine = by_initiator_.find(slot->initiator);
        if (!may_reserve(mine == by_initiator_.end() ? kNone : mine->second)) return Reserve::Refused;
        map_.emplace(slot->session_id, slot);
        by_initiator_[slot->initiator].insert(slot.get());
        return Reserve::Inserted;
    }
    // Runs f(SessionSlot&) for each in-memory slot of `initiator`, under the map's shared lock.
    template <class F>
    void for_each_of(const std::string& initiator, F&& f) const {
        std::shared_lock lock(mu_);
        auto mine = by_initiator_.find(initiator);
        if (mine == by_initiator_.end()) return;
        for (SessionSlot* slot : mine->second) f(*slot);
    }
    void insert(const std::shared_ptr<SessionSlot>& slot);
    void remove(const std::string& id);
    // Removes from memory but remembers the id: it can neither be restarted nor reused, and is
    // still served from storage (STO-RET-2 fix, Q-25).
    void evict(const std::string& id, int64_t started_at_ms);
    bool is_evicted(const std::string& id) const;
    // Evicted sessions started before `cutoff_ms`, dropped from the list (their ids become reusable
    // once the caller has deleted them from storage).
    std::vector<std::string> take_evicted_before(int64_t cutoff_ms);
    // Puts an id back when deleting it from storage failed.
    void restore_evicted(const std::string& id, int64_t started_at_ms);

private:
    mutable std::shared_mutex mu_;
    std::unordered_map<std::string, std::shared_ptr<SessionSlot>> map_;
    std::unordered_map<std::string, int64_t> evicted_;     // id -> started_at (disk GC)
    std::unordered_map<std::string, Slots> by_initiator_;  // initiator -> its slots in map_

    void forget_locked(const std::string& id);
};

}  // namespace macp::kernel
