#include "service/session_stream.hpp"

#include <deque>
#include <memory>
#include <mutex>

#include <spdlog/spdlog.h>

#include "modes/commitment.hpp"
#include "service/convert.hpp"
#include "util/echo.hpp"

namespace macp::service {

namespace {

using Request = macp::v1::StreamSessionRequest;
using Response = macp::v1::StreamSessionResponse;
using Feed = ServiceEvents::Feed;

// Live envelopes moved from the feed into the write queue at a time; the rest wait in the
// feed's bounded buffer, whose overflow ends the stream (backpressure without unbounded memory).
constexpr size_t kMaxQueuedWrites = 64;

class SessionStream final : public grpc::ServerBidiReactor<Request, Response> {
public:
    SessionStream(grpc::CallbackServerContext* ctx, kernel::Kernel& kernel, ServiceEvents& events, BlockingWork& work)
        : kernel_(kernel), events_(events), work_(work), core_(std::make_shared<Core>()) {
        core_->owner = this;
        auto id = kernel_.authenticate(metadata_of(*ctx, kernel_.needs_peer_identity()));
        if (!id) {  // RPC-GEN-6 / RPC-STREAM-1: authenticated once, at call setup
            finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "Unauthenticated"));
            return;
        }
        identity_ = std::move(*id);
        auto lease = events_.stream_limits.acquire(identity_.sender);  // issue #13: per-sender stream cap
        if (!lease) {
            finish(lease.error());
            return;
        }
        lease_ = std::move(*lease);
        StartRead(&request_);
    }

    void OnReadDone(bool ok) override {
        if (!ok) {  // half-close: deliver what is queued, then end with OK (STR-SS-11)
            finish(grpc::Status::OK);
            return;
        }
        if (process(request_)) StartRead(&request_);
    }

    void OnWriteDone(bool ok) override {
        std::lock_guard lock(core_->mu);
        core_->writing = false;
        if (!ok) {
            core_->queue.clear();
            finish_locked(grpc::Status::CANCELLED);
            return;
        }
        core_->queue.pop_front();
        pull_locked();
        write_next_locked();
        // Reading stopped while the client did not take its answers; resume once half are out.
        if (core_->read_paused && core_->queue.size() <= kMaxQueuedWrites / 2 && !core_->finishing) {
            core_->read_paused = false;
            StartRead(&request_);
        }
    }

    void OnDone() override {
        std::shared_ptr<Feed::Subscription> sub;
        std::string bound;
        {
            std::lock_guard lock(core_->mu);
            core_->owner = nullptr;  // hooks and workers still holding the core see the stream is gone
            sub = sub_;
            bound = bound_;
        }
        if (sub) events_.release(bound, sub);
        delete this;  // NOLINT(cppcoreguidelines-owning-memory): the callback API's ownership rule
    }

private:
    // State shared with the feed's ready hook, which may run on any publishing thread.
    struct Core {
        std::mutex mu;
        SessionStream* owner = nullptr;
        std::deque<Response> queue;
        bool writing = false;
        bool finishing = false;
        bool finished = false;
        bool replaying = false;
        // The next request is not read while the answers to earlier ones are backed up (a client
        // that writes and never reads): without this, inline errors queue without limit.
        bool read_paused = false;
        grpc::Status final_status;
        std::shared_ptr<Feed::Subscription> sub;
        uint64_t floor = 0;  // live envelopes at or below this sequence were sent as history
    };

    // Returns true when the stream should keep reading.
    bool process(const Request& req) {
        const bool has_env = req.has_envelope();
        const bool has_sub = !req.subscribe_session_id().empty();
        if (has_env && has_sub) {  // STR-SS-3
            return terminal(grpc::StatusCode::INVALID_ARGUMENT,
                            "StreamSessionRequest must not contain both envelope and subscribe_session_id");
        }
        if (!has_env && !has_sub) {
            return terminal(grpc::StatusCode::INVALID_ARGUMENT,
                            "StreamSessionRequest must contain an envelope or subscribe_session_id");
        }
        return has_sub ? subscribe(req.subscribe_session_id(), req.after_sequence()) : envelope(req.envelope());
    }

    bool subscribe(const std::string& session_id, uint64_t after) {
        if (!bound_.empty() && bound_ != session_id) {  // STR-SUB-1
            return terminal(grpc::StatusCode::INVALID_ARGUMENT,
                            "StreamSession may only carry envelopes for one session_id");
        }
        {
            std::lock_guard lock(core_->mu);
            core_->replaying = true;  // live items wait until the history is queued (no reordering)
        }
        // Following may load a finished session and the history is read from storage: both on a
        // worker, never in OnReadDone (issue #13). The worker touches the reactor only under the
        // core's lock while the reactor is alive; reading resumes from there.
        std::weak_ptr<Core> weak = core_;
        auto job = [weak, &kernel = kernel_, identity = identity_, session_id, after] {
            auto core = weak.lock();
            if (!core) return;
            auto attach = [&] {
                std::lock_guard lock(core->mu);
                if (core->owner != nullptr) core->owner->attach_locked(session_id);
            };
            auto upto = kernel.follow(identity, session_id, attach);
            Result<std::vector<macp::v1::Envelope>, std::string> history = std::vector<macp::v1::Envelope>{};
            if (upto) history = kernel.history(session_id, after, *upto);  // STR-SUB-4 (0.6 ordinals)
            std::lock_guard lock(core->mu);
            if (core->owner != nullptr) core->owner->subscribed_locked(session_id, upto, std::move(history));
        };
        try {
            work_.post(std::move(job));
        } catch (const std::exception& e) {
            std::lock_guard lock(core_->mu);
            core_->replaying = false;
            finish_locked(
                grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string("cannot subscribe now: ") + e.what()));
        }
        return false;  // reading resumes from subscribed_locked
    }

    // The subscribe's outcome, on the worker (caller holds core_->mu; the reactor is alive).
    void subscribed_locked(const std::string& session_id, const Result<uint64_t, kernel::RpcError>& upto,
                           Result<std::vector<macp::v1::Envelope>, std::string> history) {
        auto& c = *core_;
        c.replaying = false;
        if (!upto) {
            if (upto.error().code == kernel::RpcError::NotFound) {  // STR-SUB-2
                finish_locked(grpc::Status(grpc::StatusCode::NOT_FOUND, util::bounded_message(upto.error().message)));
                return;
            }
            inline_error_locked("FORBIDDEN", upto.error().message, session_id, {});  // STR-SUB-3: stays open
        } else if (!history) {
            finish_locked(grpc::Status(grpc::StatusCode::INTERNAL, history.error()));
            return;
        } else {
            bound_ = session_id;
            for (auto& env : *history) {
                Response r;
                *r.mutable_envelope() = std::move(env);
                c.queue.push_back(std::move(r));
            }
            c.floor = std::max(c.floor, *upto);
            pull_locked();
            write_next_locked();
        }
        if (!c.finishing) StartRead(&request_);
    }

    bool envelope(const macp::v1::Envelope& env) {
        if (modes::is_blank(env.session_id())) {  // STR-SS-4: no ambient traffic on a session stream
            return terminal(grpc::StatusCode::INVALID_ARGUMENT, "StreamSession requires a non-empty session_id");
        }
        if (modes::is_blank(env.mode())) {
            return terminal(grpc::StatusCode::INVALID_ARGUMENT, "StreamSession requires a non-empty mode");
        }
        if (!bound_.empty() && env.session_id() != bound_) {
            return terminal(grpc::StatusCode::INVALID_ARGUMENT,
                            "StreamSession may only carry envelopes for one session_id");
        }
        // STR-SS-8: bind before processing so the caller's own envelope comes back on the stream.
        // Only callers that may read the session get its envelopes; a SessionStart's sender will
        // be its initiator.
        if (!sub_) {
            if (env.message_type() == "SessionStart") {
                attach(env.session_id());
                bound_ = env.session_id();
            } else if (auto upto = kernel_.follow(identity_, env.session_id(), [&] { attach(env.session_id()); })) {
                bound_ = env.session_id();
                std::lock_guard lock(core_->mu);
                // Deliver from this envelope on; earlier history is for passive subscribe. Envelopes
                // accepted before the attach may still be on their way through the publisher.
                core_->floor = *upto;
            }
        }
        // The next request is read only once this one is answered: one envelope in flight per
        // stream keeps inline errors in request order, and nothing here waits for storage.
        std::weak_ptr<Core> weak = core_;
        kernel_.submit_as(identity_, env, [weak](kernel::Ack ack) {
            auto core = weak.lock();
            if (!core) return;
            std::lock_guard lock(core->mu);
            if (core->owner == nullptr) return;
            if (ack.error) {
                // RFC-0001 §9: application errors are answered inline and the stream stays open
                // (the reference ends the stream for several of them: Q-6).
                core->owner->inline_error_locked(ack.error->code(), ack.error->display(), ack.session_id,
                                                 ack.message_id);
            }
            // Success: the envelope arrives through the feed, no ack frame (STR-SS-10).
            if (core->finishing) return;
            if (core->queue.size() >= kMaxQueuedWrites) {  // issue #15: bounded answers, then backpressure
                core->read_paused = true;
                return;
            }
            core->owner->StartRead(&core->owner->request_);
        });
        return false;  // reading resumes from the answer above
    }

    void attach(const std::string& session_id) {
        std::lock_guard lock(core_->mu);
        attach_locked(session_id);
    }

    // Subscribes to the session's feed (caller holds core_->mu; lock order: session, then core).
    void attach_locked(const std::string& session_id) {
        if (sub_) return;
        bound_ = session_id;  // OnDone gives the subscription back under this id
        feed_ = events_.feed(session_id);
        sub_ = feed_->subscribe();
        std::weak_ptr<Core> weak = core_;
        core_->sub = sub_;
        sub_->set_ready_hook([weak] {
            auto core = weak.lock();
            if (!core) return;
            std::lock_guard lock(core->mu);
            if (core->owner == nullptr) return;
            core->owner->pull_locked();
            core->owner->write_next_locked();
        });
    }

    // Moves live envelopes from the feed into the write queue (caller holds core_->mu).
    void pull_locked() {
        auto& c = *core_;
        if (!c.sub || c.replaying || c.finishing) return;
        ServiceEvents::Sequenced item;
        while (c.queue.size() < kMaxQueuedWrites) {
            auto n = c.sub->try_next(item);
            if (n == Feed::Subscription::Next::Item) {
                if (item.sequence <= c.floor) continue;  // already sent as history (no duplicate)
                c.floor = item.sequence;
                Response r;
                *r.mutable_envelope() = std::move(item.envelope);
                c.queue.push_back(std::move(r));
            } else if (n == Feed::Subscription::Next::Overflow) {  // STR-SS-12 (0.6: resumable)
                c.queue.clear();
                finish_locked(grpc::Status(
                    grpc::StatusCode::RESOURCE_EXHAUSTED,
                    "StreamSession receiver fell behind; re-subscribe with after_sequence=" + std::to_string(c.floor)));
                return;
            } else if (n == Feed::Subscription::Next::Closed) {  // server shutdown
                finish_locked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
                return;
            } else {
                return;
            }
        }
    }

    void write_next_locked() {
        auto& c = *core_;
        if (c.writing || c.finished) return;
        if (!c.queue.empty()) {
            c.writing = true;
            StartWrite(&c.queue.front());
            return;
        }
        if (c.finishing) {
            c.finished = true;
            Finish(c.final_status);
        }
    }

    void finish_locked(grpc::Status status) {
        auto& c = *core_;
        // Already finishing: still finish once the queue is empty (a failed write just cleared it),
        // else the call never ends and keeps its stream slot (issue #13).
        if (!c.finishing) {
            c.finishing = true;
            c.final_status = std::move(status);
        }
        write_next_locked();
    }

    void finish(grpc::Status status) {
        std::lock_guard lock(core_->mu);
        finish_locked(std::move(status));
    }

    bool terminal(grpc::StatusCode code, const std::string& message) {
        finish(grpc::Status(code, message));
        return false;
    }

    void inline_error(const std::string& code, const std::string& message, const std::string& session_id,
                      const std::string& message_id = {}) {
        std::lock_guard lock(core_->mu);
        inline_error_locked(code, message, session_id, message_id);
    }

    void inline_error_locked(const std::string& code, const std::string& message, const std::string& session_id,
                             const std::string& message_id) {
        if (core_->finishing) return;
        Response r;  // STR-SS-2 shape, with the registry code (RFC) rather than the Display text
        auto* e = r.mutable_error();
        e->set_code(code);
        e->set_message(message);
        e->set_session_id(session_id);
        e->set_message_id(message_id);
        core_->queue.push_back(std::move(r));
        write_next_locked();
    }

    kernel::Kernel& kernel_;
    ServiceEvents& events_;
    BlockingWork& work_;
    std::shared_ptr<Core> core_;
    auth::Identity identity_;
    StreamLimits::Lease lease_;  // given back when the reactor is deleted in OnDone
    Request request_;
    std::string bound_;
    std::shared_ptr<Feed> feed_;
    std::shared_ptr<Feed::Subscription> sub_;
};

}  // namespace

grpc::ServerBidiReactor<Request, Response>* make_session_stream(grpc::CallbackServerContext* ctx,
                                                                kernel::Kernel& kernel, ServiceEvents& events,
                                                                BlockingWork& work) {
    return new SessionStream(ctx, kernel, events, work);  // NOLINT(cppcoreguidelines-owning-memory): freed in OnDone
}

}  // namespace macp::service
