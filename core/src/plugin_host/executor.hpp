// A small bounded thread pool that runs every call into a plugin instance.
//
// Why: plugin calls are synchronous and may block on disk or network (abi.h THREADING), so they
// must never run on a gRPC thread. Each plugin instance gets its own pool; the caller blocks
// until its call has run. The queue is bounded so a stalled backend applies back-pressure
// (callers wait for a slot) instead of growing memory without limit.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace macp::plugin_host {

class BoundedExecutor {
public:
    // `name` shows up as the threads' name (truncated to 15 characters) in ps/gdb/perf. With no
    // threads every call runs on its caller's thread (only for code that never blocks).
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
        if (threads_.empty() || is_current_worker()) return fn();
        Call<F> call(fn);  // lives on our stack: we do not return before the worker is done with it
        post(call);
        return call.wait_and_take();
    }

    [[nodiscard]] std::size_t thread_count() const { return threads_.size(); }

private:
    class Job {
    public:
        virtual void execute() noexcept = 0;

    protected:
        ~Job() = default;
    };

    // One pending call, owned by the waiting caller. The result (value or exception) is handed
    // over under the call's own mutex, so the worker never touches the call after the caller can
    // see it finished, and the caller alone destroys result and exception. (std::packaged_task
    // would leave the worker releasing shared state, including exception objects, after the
    // caller has woken — correct, but reported as a race by ThreadSanitizer.)
    template <class F>
    class Call final : public Job {
        using R = std::invoke_result_t<F&>;
        static_assert(!std::is_reference_v<R>, "plugin calls return values");
        using Stored = std::conditional_t<std::is_void_v<R>, bool, std::optional<R>>;

    public:
        explicit Call(F& fn) : fn_(fn) {}

        void execute() noexcept override {
            try {
                if constexpr (std::is_void_v<R>) {
                    fn_();
                } else {
                    value_.emplace(fn_());
                }
            } catch (...) {
                error_ = std::current_exception();
            }
            // Notify while holding the lock: once it is released the caller may destroy us.
            std::lock_guard lock(mutex_);
            done_ = true;
            done_cv_.notify_one();
        }

        R wait_and_take() {
            {
                std::unique_lock lock(mutex_);
                done_cv_.wait(lock, [this] { return done_; });
            }
            if (error_) std::rethrow_exception(error_);
            if constexpr (!std::is_void_v<R>) return std::move(*value_);
        }

    private:
        F& fn_;
        Stored value_{};
        std::exception_ptr error_;
        std::mutex mutex_;
        std::condition_variable done_cv_;
        bool done_ = false;
    };

    void post(Job& job);
    void worker_loop();
    [[nodiscard]] bool is_current_worker() const;

    std::string name_;
    std::size_t capacity_;
    std::mutex mutex_;
    std::condition_variable not_empty_;
    std::condition_variable not_full_;
    std::deque<Job*> queue_;  // borrowed: each job is owned by its waiting caller
    bool stopping_ = false;
    std::vector<std::thread> threads_;  // last: started after every other member is ready
};

}  // namespace macp::plugin_host
