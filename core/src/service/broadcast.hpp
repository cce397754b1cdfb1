// Fan-out of events to stream subscribers. Each subscriber has its own bounded queue, so a slow
// reader never slows the publisher or other subscribers; a subscriber whose queue overflows is
// marked and its stream ends with RESOURCE_EXHAUSTED (0.6: STR-SIG-1, STR-WS-3).
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace macp::service {

template <class T>
class Broadcast {
public:
    class Subscription {
    public:
        enum class Next { Item, Overflow, Closed, Timeout };
        // Called (outside the subscription's lock) after each push or close; used by callback
        // streams that must not block a thread per subscriber. Set before the first publish.
        void set_ready_hook(std::function<void()> hook) {
            std::lock_guard lock(mu_);
            hook_ = std::move(hook);
        }
        // Waits up to `wait` for the next item. THREADING: one reader per subscription.
        Next next(T& out, std::chrono::milliseconds wait) {
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, wait, [this] { return !queue_.empty() || overflow_ || closed_; });
            return take_locked(out);
        }
        // The next item if one is queued, without waiting. Callback streams poll with this: a
        // zero-length wait_for still sleeps in the kernel for the timer slack (~50 µs) when the
        // queue is empty, once per subscriber per publish (it was most of the fan-out's time).
        Next try_next(T& out) {
            std::lock_guard lock(mu_);
            return take_locked(out);
        }

    private:
        friend class Broadcast;
        Next take_locked(T& out) {
            if (overflow_) return Next::Overflow;
            if (!queue_.empty()) {
                out = std::move(queue_.front());
                queue_.pop_front();
                return Next::Item;
            }
            return closed_ ? Next::Closed : Next::Timeout;
        }
        void push(const T& item, size_t capacity) {
            std::function<void()> hook;
            {
                std::lock_guard lock(mu_);
                if (overflow_ || closed_) return;
                if (queue_.size() >= capacity) {
                    overflow_ = true;
                } else {
                    queue_.push_back(item);
                }
                hook = hook_;
            }
            cv_.notify_one();
            if (hook) hook();
        }
        void close() {
            std::function<void()> hook;
            {
                std::lock_guard lock(mu_);
                closed_ = true;
                hook = hook_;
            }
            cv_.notify_one();
            if (hook) hook();
        }
        std::mutex mu_;
        std::condition_variable cv_;
        std::deque<T> queue_;
        std::function<void()> hook_;
        bool overflow_ = false;
        bool closed_ = false;
    };

    explicit Broadcast(size_t capacity) : capacity_(capacity) {}

    std::shared_ptr<Subscription> subscribe() {
        auto s = std::make_shared<Subscription>();
        bool closed = false;
        {
            std::lock_guard lock(mu_);
            closed = closed_;
            auto next = std::make_shared<List>(*subs_);
            next->push_back(s);
            subs_ = std::move(next);
        }
        if (closed) s->close();
        return s;
    }
    void unsubscribe(const std::shared_ptr<Subscription>& s) {
        std::lock_guard lock(mu_);
        auto next = std::make_shared<List>(*subs_);
        next->erase(std::remove(next->begin(), next->end(), s), next->end());
        subs_ = std::move(next);
    }
    // Pushes to every subscriber without holding the list's lock: a push runs the subscriber's
    // ready hook, which takes that stream's own lock, and a stream subscribes while holding it, so
    // holding the list's lock across the hooks would order the two both ways (TSan's lock-order
    // report, issue #15). The list is copy-on-write: a publish takes one reference to it.
    // publish_mu_ (never taken by subscribe) keeps publishes whole, so every subscriber sees the
    // items in one order.
    void publish(const T& item) {
        std::lock_guard order(publish_mu_);
        const auto subs = snapshot();  // named: a range-for over *snapshot() would outlive it
        for (const auto& s : *subs) s->push(item, capacity_);
    }
    [[nodiscard]] bool empty() {
        std::lock_guard lock(mu_);
        return subs_->empty();
    }
    // Ends every current and future subscription (server shutdown).
    void close_all() {
        std::lock_guard order(publish_mu_);
        {
            std::lock_guard lock(mu_);
            closed_ = true;
        }
        const auto subs = snapshot();
        for (const auto& s : *subs) s->close();
    }

private:
    using List = std::vector<std::shared_ptr<Subscription>>;
    std::shared_ptr<const List> snapshot() {
        std::lock_guard lock(mu_);
        return subs_;
    }

    size_t capacity_;
    std::mutex publish_mu_;  // held across a whole publish or close_all; before mu_, never after
    std::mutex mu_;          // guards subs_ and closed_ only; nothing is called under it
    std::shared_ptr<const List> subs_ = std::make_shared<const List>();  // replaced, never changed
    bool closed_ = false;
};

}  // namespace macp::service
