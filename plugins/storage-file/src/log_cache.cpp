#include "log_cache.hpp"

namespace macp::storage_file {

std::shared_ptr<LogHandle> LogCache::acquire(const std::string& session_id, const Opener& open) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = entries_.find(session_id);
        if (it != entries_.end()) {
            lru_.splice(lru_.begin(), lru_, it->second.lru_pos);
            return it->second.handle;
        }
    }
    std::shared_ptr<LogHandle> fresh = open();

    std::lock_guard<std::mutex> lock(mu_);
    // Calls for one session are never concurrent, so nobody can have inserted this session in
    // the meantime; stay correct anyway and keep the first handle.
    auto it = entries_.find(session_id);
    if (it != entries_.end()) return it->second.handle;
    lru_.push_front(session_id);
    entries_.emplace(session_id, Entry{fresh, lru_.begin()});
    while (entries_.size() > capacity_) {
        entries_.erase(lru_.back());
        lru_.pop_back();
    }
    return fresh;
}

void LogCache::invalidate(const std::string& session_id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(session_id);
    if (it == entries_.end()) return;
    lru_.erase(it->second.lru_pos);
    entries_.erase(it);
}

void LogCache::clear() {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.clear();
    lru_.clear();
}

std::vector<std::shared_ptr<LogHandle>> LogCache::handles() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::shared_ptr<LogHandle>> out;
    out.reserve(entries_.size());
    for (const auto& kv : entries_) out.push_back(kv.second.handle);
    return out;
}

}  // namespace macp::storage_file
