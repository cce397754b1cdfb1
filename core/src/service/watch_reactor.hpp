// The Watch* server streams (BEHAVIOR.md §8.3) on gRPC's callback API (issue #13): an open stream
// costs no thread and no timer. The subscription's ready hook, run by the publishing thread, moves
// items into a small write queue and starts the next write; OnWriteDone continues from there.
// Streams end when the client cancels, when the subscriber falls behind (RESOURCE_EXHAUSTED,
// STR-WS-3 / STR-SIG-1 as of 0.6) and at shutdown, when ServiceEvents::close_all() closes every
// subscription (OK, after what was queued: docs/compatibility.md, STO-REC-10).
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "service/broadcast.hpp"
#include "service/stream_limits.hpp"

namespace macp::service {

// Live items moved from the subscription into the write queue at a time. The rest wait in the
// subscription's own bounded buffer (CFG-13 capacities), whose overflow ends the stream: a client
// that stops reading costs at most this many responses plus that buffer.
inline constexpr size_t kWatchMaxQueuedWrites = 8;

// Ends a call at once with `status` (authentication failure, stream cap).
template <class Response>
class RefusedWatch final : public grpc::ServerWriteReactor<Response> {
public:
    explicit RefusedWatch(const grpc::Status& status) { this->Finish(status); }
    void OnDone() override {
        delete this;  // NOLINT(cppcoreguidelines-owning-memory): the callback API's ownership rule
    }
};

// OWNERSHIP: gRPC holds the reactor until OnDone(), where it deletes itself.
template <class Response>
grpc::ServerWriteReactor<Response>* refuse_watch(const grpc::Status& status) {
    return new RefusedWatch<Response>(status);  // NOLINT(cppcoreguidelines-owning-memory): freed in OnDone
}

template <class Response, class Item>
class WatchReactor final : public grpc::ServerWriteReactor<Response> {
    struct Core;

public:
    using Source = Broadcast<Item>;
    // Produces the initial messages, one per call, false when none is left. Live items are held
    // back until it is done, so nothing is reordered against the initial sync.
    using Initial = std::function<bool(Response&)>;
    // Turns a live item into the response to send; false: nothing to send for this item.
    // Both run with the stream's lock held, never concurrently, on gRPC or publishing threads.
    using Convert = std::function<bool(Item&, Response&)>;

    struct Options {
        StreamLimits::Lease lease{};     // held until OnDone
        std::string overflow_message{};  // RESOURCE_EXHAUSTED when the subscriber falls behind
        Initial initial{};
        Convert convert{};
        bool deferred = false;  // send nothing until Handle::begin() (an initial sync taken elsewhere)
    };

    // Reaches the stream from another thread; a no-op once the stream has ended.
    class Handle {
    public:
        // Starts a deferred stream: `initial`, then live items.
        void begin(Initial initial, Convert convert) const {
            with_owner([&](WatchReactor& r) {
                r.initial_ = std::move(initial);
                r.convert_ = std::move(convert);
                r.core_->deferred = false;
                r.pump_locked();
            });
        }
        void fail(const grpc::Status& status) const {
            with_owner([&](WatchReactor& r) {
                r.drop_queued_locked();
                r.finish_locked(status);
            });
        }

    private:
        friend class WatchReactor;
        explicit Handle(std::weak_ptr<Core> core) : core_(std::move(core)) {}
        template <class F>
        void with_owner(F&& f) const {
            auto core = core_.lock();
            if (!core) return;
            std::lock_guard lock(core->mu);
            if (core->owner != nullptr) f(*core->owner);
        }
        std::weak_ptr<Core> core_;
    };

    // Subscribes before any initial message is produced, so no event between the initial sync and
    // the live feed is lost (STR-WS-1).
    WatchReactor(Source& source, Options options)
        : source_(source),
          core_(std::make_shared<Core>()),
          lease_(std::move(options.lease)),
          overflow_message_(std::move(options.overflow_message)),
          initial_(std::move(options.initial)),
          convert_(std::move(options.convert)) {
        sub_ = source_.subscribe();
        std::lock_guard lock(core_->mu);
        core_->owner = this;
        core_->deferred = options.deferred;
        std::weak_ptr<Core> weak = core_;
        sub_->set_ready_hook([weak] {
            auto core = weak.lock();
            if (!core) return;
            std::lock_guard hook_lock(core->mu);
            if (core->owner != nullptr) core->owner->pump_locked();
        });
        pump_locked();  // the initial messages, and items published before the hook was set
    }

    [[nodiscard]] Handle handle() const { return Handle(core_); }

    void OnWriteDone(bool ok) override {
        std::lock_guard lock(core_->mu);
        auto& c = *core_;
        c.writing = false;
        if (!c.queue.empty()) c.queue.pop_front();
        if (!ok) {  // the client is gone
            c.queue.clear();
            finish_locked(grpc::Status::CANCELLED);
            return;
        }
        pump_locked();
    }

    void OnCancel() override {  // client cancel, deadline, or the server's hard shutdown
        std::lock_guard lock(core_->mu);
        drop_queued_locked();
        finish_locked(grpc::Status::CANCELLED);
    }

    void OnDone() override {
        {
            std::lock_guard lock(core_->mu);
            core_->owner = nullptr;  // hooks and handles still holding the core see the stream is gone
        }
        source_.unsubscribe(sub_);
        delete this;  // NOLINT(cppcoreguidelines-owning-memory): the callback API's ownership rule
    }

private:
    // State shared with the ready hook and handles, which may run on any thread.
    struct Core {
        std::mutex mu;
        WatchReactor* owner = nullptr;
        std::deque<Response> queue;  // front() is being written while `writing`
        bool writing = false;
        bool deferred = false;
        bool finishing = false;
        bool finished = false;
        grpc::Status final_status;
    };
    using Next = typename Source::Subscription::Next;

    // Fills the write queue (initial messages first, then live items) and keeps a write going.
    // Never throws: it runs on publishing threads too.
    void pump_locked() noexcept {
        auto& c = *core_;
        try {
            while (!c.finishing && !c.deferred && c.queue.size() < kWatchMaxQueuedWrites) {
                Response r;
                if (initial_) {
                    if (initial_(r)) {
                        c.queue.push_back(std::move(r));
                        continue;
                    }
                    initial_ = nullptr;  // done (and whatever it held is freed)
                }
                Item item;
                const auto n = sub_->try_next(item);
                if (n == Next::Item) {
                    if (convert_ && convert_(item, r)) c.queue.push_back(std::move(r));
                } else if (n == Next::Overflow) {
                    drop_queued_locked();
                    finish_locked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, overflow_message_));
                } else if (n == Next::Closed) {  // server shutdown: what is queued, then OK
                    finish_locked(grpc::Status::OK);
                } else {
                    break;  // nothing more for now; the ready hook calls again
                }
            }
        } catch (...) {  // out of memory converting an item: end this stream, not the publisher
            drop_queued_locked();
            finish_locked(grpc::Status(grpc::StatusCode::INTERNAL, "internal error"));
        }
        write_next_locked();
    }

    void write_next_locked() {
        auto& c = *core_;
        if (c.writing || c.finished) return;
        if (!c.queue.empty()) {
            c.writing = true;
            this->StartWrite(&c.queue.front());
            return;
        }
        if (c.finishing) {
            c.finished = true;
            this->Finish(c.final_status);
        }
    }

    // The first reason to end wins; the status goes out once the queue is drained.
    void finish_locked(const grpc::Status& status) {
        auto& c = *core_;
        if (!c.finishing) {
            c.finishing = true;
            c.final_status = status;
        }
        write_next_locked();
    }

    // Drops queued responses; the one being written stays alive until OnWriteDone (StartWrite's contract).
    void drop_queued_locked() {
        auto& q = core_->queue;
        q.erase(core_->writing && !q.empty() ? std::next(q.begin()) : q.begin(), q.end());
    }

    Source& source_;
    std::shared_ptr<typename Source::Subscription> sub_;
    std::shared_ptr<Core> core_;
    StreamLimits::Lease lease_;
    std::string overflow_message_;
    Initial initial_;  // guarded by core_->mu
    Convert convert_;  // guarded by core_->mu
};

// An Initial producing exactly `response`.
template <class Response>
std::function<bool(Response&)> once(Response response) {
    return [r = std::move(response), sent = false](Response& out) mutable {
        if (sent) return false;
        out = std::move(r);
        sent = true;
        return true;
    };
}

}  // namespace macp::service
