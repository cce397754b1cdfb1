#include "service/blocking_work.hpp"

#include <pthread.h>

#include <exception>

#include <spdlog/spdlog.h>

namespace macp::service {

BlockingWork::BlockingWork(std::string name, size_t threads)
    : name_(std::move(name)), max_threads_(threads == 0 ? 1 : threads) {}

BlockingWork::~BlockingWork() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
        jobs_.clear();
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
}

void BlockingWork::post(std::function<void()> job) {
    {
        std::lock_guard lock(mu_);
        jobs_.push_back(std::move(job));
        // A new thread only when none is idle: a slow store gets a few threads, not one per call.
        if (idle_ == 0 && threads_.size() < max_threads_) {
            try {
                threads_.emplace_back([this] { run(); });
            } catch (...) {
                if (threads_.empty()) {  // nobody would ever run the job
                    jobs_.pop_back();
                    throw;
                }
            }
        }
    }
    cv_.notify_one();
}

void BlockingWork::run() {
    pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
    std::unique_lock lock(mu_);
    for (;;) {
        ++idle_;
        cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
        --idle_;
        if (stop_) return;
        auto job = std::move(jobs_.front());
        jobs_.pop_front();
        lock.unlock();
        try {
            job();
        } catch (const std::exception& e) {  // a job's failure is its own
            spdlog::error("{}: a background job failed: {}", name_, e.what());
        } catch (...) {
            spdlog::error("{}: a background job failed with an unknown exception", name_);
        }
        job = nullptr;
        lock.lock();
    }
}

}  // namespace macp::service
