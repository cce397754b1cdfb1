#include "service/call_deadlines.hpp"

#include <pthread.h>

#include <exception>
#include <vector>

#include <spdlog/spdlog.h>

namespace macp::service {

namespace {
constexpr std::chrono::milliseconds kTick{100};
}

CallDeadlines::CallDeadlines() : thread_([this] { run(); }) {}

CallDeadlines::~CallDeadlines() {
    {
        std::lock_guard lock(stop_mu_);
        stop_ = true;
    }
    stop_cv_.notify_all();
    thread_.join();
}

CallDeadlines::Watch& CallDeadlines::Watch::operator=(Watch&& o) noexcept {
    if (this != &o) {
        release();
        table_ = std::move(o.table_);
        id_ = o.id_;
    }
    return *this;
}

void CallDeadlines::Watch::release() {
    if (!table_) return;
    const auto table = std::move(table_);  // cleared first: dropping the callback may destroy *this
    auto& shard = table->shard(id_);
    std::function<void()> dropped;  // destroyed outside the lock: it may own the call's state
    std::lock_guard lock(shard.mu);
    const auto it = shard.entries.find(id_);
    if (it == shard.entries.end()) return;
    dropped = std::move(it->second.expired);
    shard.entries.erase(it);
}

CallDeadlines::Watch CallDeadlines::watch(std::chrono::steady_clock::time_point deadline,
                                          std::function<void()> expired) {
    const uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
    auto& shard = table_->shard(id);
    std::lock_guard lock(shard.mu);
    shard.entries.emplace(id, Entry{deadline, std::move(expired)});
    return Watch(table_, id);
}

void CallDeadlines::sweep() {
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::function<void()>> due;
    for (auto& shard : table_->shards) {
        std::lock_guard lock(shard.mu);
        for (auto it = shard.entries.begin(); it != shard.entries.end();) {
            if (it->second.deadline <= now) {
                due.push_back(std::move(it->second.expired));
                it = shard.entries.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (auto& f : due) {
        try {
            f();
        } catch (const std::exception& e) {
            spdlog::error("request timeout: answering an expired call failed: {}", e.what());
        }
    }
}

void CallDeadlines::run() {
    pthread_setname_np(pthread_self(), "macp-deadlines");
    std::unique_lock lock(stop_mu_);
    while (!stop_cv_.wait_for(lock, kTick, [this] { return stop_; })) {
        lock.unlock();
        sweep();
        lock.lock();
    }
    lock.unlock();
    for (auto& shard : table_->shards) {
        std::unordered_map<uint64_t, Entry> dropped;
        {
            std::lock_guard shard_lock(shard.mu);
            dropped.swap(shard.entries);
        }
    }
}

}  // namespace macp::service
