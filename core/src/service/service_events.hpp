// The kernel's EventSink as seen by the service: logs lifecycle transitions and fans events out
// to the Watch* streams. publish() never blocks on a subscriber (bounded queues).
#pragma once

#include "kernel/events.hpp"
#include "macp/v1/core.pb.h"
#include "service/broadcast.hpp"
#include "service/envelope_publisher.hpp"
#include "service/stream_limits.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace macp::service {

// Cluster mode (docs/scale-out.md): hears what this process committed, to tell the other
// processes. Called under the session's lock: must not block.
class EventRelay {
public:
    virtual ~EventRelay() = default;
    virtual void lifecycle(const macp::v1::SessionLifecycleEvent& event) = 0;
    virtual void signal(const macp::v1::Envelope& envelope) = 0;
    virtual void policies_changed() = 0;
    virtual void modes_changed() = 0;
};

class ServiceEvents final : public kernel::EventSink {
public:
    void on_lifecycle(kernel::Lifecycle event, const kernel::Session& session, int64_t observed_at_ms) override;
    void on_envelope(const macp::v1::Envelope& envelope, uint64_t sequence) override;
    void on_signal(const macp::v1::Envelope& envelope) override;

    // Registry change ticks (WatchPolicies, WatchModeRegistry): the payload is the change time.
    void policies_changed();
    void modes_changed();
    void close_all();

    // Cluster mode: set once before serving (null: a single process).
    void set_relay(EventRelay* relay) { relay_.store(relay, std::memory_order_release); }
    // What another process of the cluster committed: delivered to this process's watchers only.
    void remote_lifecycle(const macp::v1::SessionLifecycleEvent& event) { lifecycle.publish(event); }
    void remote_signal(const macp::v1::Envelope& envelope) { signals.publish(envelope); }
    void remote_policies_changed();
    void remote_modes_changed();

    Broadcast<macp::v1::SessionLifecycleEvent> lifecycle{64};  // CFG-13 capacities
    Broadcast<macp::v1::Envelope> signals{256};
    Broadcast<int64_t> policy_changes{16};
    Broadcast<int64_t> mode_changes{16};
    Broadcast<int64_t> shutdown{1};  // never published: only closed, to end idle streams

    // Open StreamSession and Watch* streams per caller (issue #13), configured at start-up.
    StreamLimits stream_limits;

    // Per-session feeds of accepted envelopes for StreamSession (STR-SS-10, STR-SS-12).
    // Delivered by the publisher's thread, not the committer's (service/envelope_publisher.hpp).
    using Sequenced = SequencedEnvelope;
    using Feed = EnvelopePublisher::Feed;
    std::shared_ptr<Feed> feed(const std::string& session_id);
    void release(const std::string& session_id, const std::shared_ptr<Feed::Subscription>& sub);

private:
    kernel::LoggingEventSink log_;
    std::atomic<EventRelay*> relay_{nullptr};
    std::mutex feeds_mu_;
    std::unordered_map<std::string, std::shared_ptr<Feed>> feeds_;
    bool closed_ = false;
    EnvelopePublisher publisher_;  // last: destroyed (and drained) first
};

}  // namespace macp::service
