#include "kernel/session_table.hpp"

namespace macp::kernel {

bool counts_toward_quota(SessionSlot& other, int64_t now) {
    std::unique_lock lock(other.mu, std::try_to_lock);
    if (!lock.owns_lock()) return true;
    if (!other.live) return other.busy;  // a SessionStart not yet durable
    const Session& s = other.session;
    if (s.state == SessionState::Open) return now <= s.ttl_expiry_ms;
    if (s.state == SessionState::Suspended) return other.busy;  // maybe resuming
    return false;
}

std::shared_ptr<SessionSlot> SessionTable::find(const std::string& id) const {
    std::shared_lock lock(mu_);
    auto it = map_.find(id);
    return it == map_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<SessionSlot>> SessionTable::all() const {
    std::shared_lock lock(mu_);
    std::vector<std::shared_ptr<SessionSlot>> out;
    out.reserve(map_.size());
    for (const auto& [id, slot] : map_) out.push_back(slot);
    return out;
}

size_t SessionTable::size() const {
    std::shared_lock lock(mu_);
    return map_.size();
}

void SessionTable::insert(const std::shared_ptr<SessionSlot>& slot) {
    std::unique_lock lock(mu_);
    forget_locked(slot->session_id);
    map_[slot->session_id] = slot;
    by_initiator_[slot->initiator].insert(slot.get());
}

void SessionTable::forget_locked(const std::string& id) {
    auto it = map_.find(id);
    if (it == map_.end()) return;
    auto mine = by_initiator_.find(it->second->initiator);
    if (mine != by_initiator_.end()) {
        mine->second.erase(it->second.get());
        if (mine->second.empty()) by_initiator_.erase(mine);
    }
    map_.erase(it);
}

void SessionTable::remove(const std::string& id) {
    std::unique_lock lock(mu_);
    forget_locked(id);
}

void SessionTable::evict(const std::string& id, int64_t started_at_ms) {
    std::unique_lock lock(mu_);
    forget_locked(id);
    evicted_[id] = started_at_ms;
}

std::vector<std::string> SessionTable::take_evicted_before(int64_t cutoff_ms) {
    std::unique_lock lock(mu_);
    std::vector<std::string> out;
    for (auto it = evicted_.begin(); it != evicted_.end();) {
        if (it->second < cutoff_ms) {
            out.push_back(it->first);
            it = evicted_.erase(it);
        } else {
            ++it;
        }
    }
    return out;
}

void SessionTable::restore_evicted(const std::string& id, int64_t started_at_ms) {
    std::unique_lock lock(mu_);
    evicted_[id] = started_at_ms;
}

bool SessionTable::is_evicted(const std::string& id) const {
    std::shared_lock lock(mu_);
    return evicted_.count(id) != 0;
}

}  // namespace macp::kernel
