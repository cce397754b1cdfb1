#include "plugin_host/executor.hpp"

#include <pthread.h>

#include <algorithm>
#include <stdexcept>

namespace macp::plugin_host {
namespace {

// The pool the current thread belongs to (nullptr on every other thread); lets run() detect a
// re-entrant call instead of deadlocking on its own queue.
thread_local const BoundedExecutor* current_executor = nullptr;

}  // namespace

BoundedExecutor::BoundedExecutor(std::string name, std::size_t threads, std::size_t queue_capacity)
    : name_(std::move(name)), capacity_(std::max<std::size_t>(queue_capacity, 1)) {
    const std::size_t count = threads;  // 0: every call runs on its caller's thread
    threads_.reserve(count);
    try {
        for (std::size_t i = 0; i < count; ++i) threads_.emplace_back([this] { worker_loop(); });
    } catch (...) {
        // Thread creation failed part-way: stop and join what was started, then report.
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        not_empty_.notify_all();
        for (auto& t : threads_) t.join();
        throw;
    }
}

BoundedExecutor::~BoundedExecutor() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
    for (auto& t : threads_) t.join();
}

bool BoundedExecutor::is_current_worker() const {
    return current_executor == this;
}

void BoundedExecutor::post(Job& job) {
    {
        std::unique_lock lock(mutex_);
        not_full_.wait(lock, [this] { return stopping_ || queue_.size() < capacity_; });
        if (stopping_) throw std::runtime_error("plugin executor " + name_ + " is shutting down");
        queue_.push_back(&job);
    }
    not_empty_.notify_one();
}

void BoundedExecutor::worker_loop() {
    current_executor = this;
    // Linux limits thread names to 15 characters; a failure here is cosmetic only.
    const std::string thread_name = name_.substr(0, 15);
    (void)pthread_setname_np(pthread_self(), thread_name.c_str());
    for (;;) {
        Job* job = nullptr;
        {
            std::unique_lock lock(mutex_);
            not_empty_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            // Drain before exiting: every queued job has a caller blocked waiting for it.
            if (queue_.empty()) return;
            job = queue_.front();
            queue_.pop_front();
        }
        not_full_.notify_one();
        job->execute();  // never throws: the outcome, exception included, goes to the caller
    }
}

}  // namespace macp::plugin_host
