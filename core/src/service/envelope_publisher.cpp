#include "service/envelope_publisher.hpp"

#include <pthread.h>

#include <exception>

#include <spdlog/spdlog.h>

namespace macp::service {

EnvelopePublisher::EnvelopePublisher(size_t capacity)
    : capacity_(capacity == 0 ? 1 : capacity), thread_([this] { run(); }) {}

EnvelopePublisher::~EnvelopePublisher() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    work_.notify_all();
    thread_.join();
}

void EnvelopePublisher::publish(std::shared_ptr<Feed> feed, SequencedEnvelope item) {
    std::unique_lock lock(mu_);
    space_.wait(lock, [this] { return queue_.size() < capacity_ || stopping_; });
    queue_.push_back(Job{std::move(feed), std::move(item)});
    if (queue_.size() == 1) work_.notify_one();
}

void EnvelopePublisher::drain() {
    std::unique_lock lock(mu_);
    space_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

void EnvelopePublisher::run() {
    pthread_setname_np(pthread_self(), "macp-publish");
    std::unique_lock lock(mu_);
    for (;;) {
        work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping and drained
        Job job = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
        lock.unlock();
        try {
            job.feed->publish(job.item);
        } catch (const std::exception& e) {  // a subscriber's hook failed: the others still get theirs
            spdlog::error("StreamSession delivery failed: {}", e.what());
        }
        job = Job{};  // the feed may be the last reference to a closed session's subscribers
        lock.lock();
        busy_ = false;
        space_.notify_all();
    }
}

}  // namespace macp::service
