// MACP_REQUEST_TIMEOUT_SECS for Send (CFG-19, issue #14): a call whose answer is not ready when its
// server-side deadline passes is answered DEADLINE_EXCEEDED by the sweeper thread here.
//
// Why a sweeper and not one timer per call: Send's answer comes from the thread that made the
// message durable, so a timer would have to be cancelled on every ack; here an ack only removes
// its entry from one of several sharded tables, and one thread checks the calls still waiting
// every 100 ms (a deadline of whole seconds does not need more precision).
//
// THREADING: watch() and Watch destruction from any thread; expiry callbacks run on the sweeper
// thread, outside every lock, at most once, and never after their Watch was released.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace macp::service {

class CallDeadlines {
    struct Entry {
        std::chrono::steady_clock::time_point deadline;
        std::function<void()> expired;
    };
    struct Shard {
        std::mutex mu;
        std::unordered_map<uint64_t, Entry> entries;
    };
    // Shared with every Watch, so a Watch released after the sweeper is gone (an ack arriving
    // during shutdown) touches live memory.
    struct Table {
        std::array<Shard, 16> shards;
        Shard& shard(uint64_t id) { return shards[id % shards.size()]; }
    };

public:
    CallDeadlines();
    // Drops every pending callback unrun, then joins the sweeper.
    ~CallDeadlines();
    CallDeadlines(const CallDeadlines&) = delete;
    CallDeadlines& operator=(const CallDeadlines&) = delete;

    // One watched call; releasing it (or destroying it) withdraws its callback.
    class Watch {
    public:
        Watch() = default;
        Watch(Watch&& o) noexcept = default;
        Watch& operator=(Watch&& o) noexcept;
        Watch(const Watch&) = delete;
        Watch& operator=(const Watch&) = delete;
        ~Watch() { release(); }
        void release();

    private:
        friend class CallDeadlines;
        Watch(std::shared_ptr<Table> table, uint64_t id) : table_(std::move(table)), id_(id) {}
        std::shared_ptr<Table> table_;
        uint64_t id_ = 0;
    };

    // Runs `expired` once `deadline` has passed, unless the Watch is released first. A callback
    // already taken by the sweeper may still run while the Watch is being released: the caller
    // decides who answers with its own once-only flag.
    Watch watch(std::chrono::steady_clock::time_point deadline, std::function<void()> expired);

private:
    void sweep();
    void run();

    std::atomic<uint64_t> next_id_{1};
    const std::shared_ptr<Table> table_ = std::make_shared<Table>();
    std::mutex stop_mu_;
    std::condition_variable stop_cv_;
    bool stop_ = false;
    std::thread thread_;  // last: starts once the rest exists
};

}  // namespace macp::service
