// A small bounded thread pool that runs every call into a plugin instance.
//
// Why: plugin calls are synchronous and may block on disk or network (abi.h THREADING), so they
// must never run on a gRPC thread. Each plugin instance gets its own pool; the caller blocks on a
// future until its call has run. The queue is bounded so a stalled backend applies back-pressure
// (callers wait for a slot) instead of growing memory without limit.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace macp::plugin_host {

class BoundedExecutor {
public:
    // `name` shows up as the threads' name (truncated to 15 characters) in ps/gdb/perf.
    BoundedExecutor(std::string name, std::size_t threads, std::size_t queue_capacity);
    // Runs every job still queued (their callers are waiting for them), then joins the threads.
    ~BoundedExecutor();
    BoundedExecutor(const BoundedExecutor&) = delete;
    BoundedExecutor& operator=(const BoundedExecutor&) = delete;

    // Runs `fn` on a pool thread and returns its result; an exception thrown by `fn` is rethrown
    // here. Blocks while the queue is full. Called from one of this pool's own threads it runs
    // `fn` inline, because queueing and waiting there could deadlock the pool.
    template <class F>
    std::invoke_result_t<F&> run(F&& fn) {
        using R = std::invoke_result_t<F&>;
        if (is_current_worker()) return fn();
        // The inner task references `fn` on our stack: safe because we wait for the result below.
        // The worker owns the task object itself, so its shared state outlives our wake-up.
        std::packaged_task<R()> task([&fn]() -> R { return fn(); });
        std::future<R> result = task.get_future();
        post(std::packaged_task<void()>([t = std::move(task)]() mutable { t(); }));
        return result.get();
    }

    [[nodiscard]] std::size_t thread_count() const { return threads_.size(); }

private:
    void post(std::packaged_task<void()> job);
    void worker_loop();
    [[nodiscard]] bool is_current_worker() const;

    std::string name_;
    std::size_t capacity_;
    std::mutex mutex_;
    std::condition_variable not_empty_;
    std::condition_variable not_full_;
    std::deque<std::packaged_task<void()>> queue_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;  // last: started after every other member is ready
};

}  // namespace macp::plugin_host
