// The kernel's EventSink as seen by the service: logs lifecycle transitions and fans events out
// to the Watch* streams. publish() never blocks on a subscriber (bounded queues).
#pragma once

#include "kernel/events.hpp"
#include "macp/v1/core.pb.h"
#include "service/broadcast.hpp"
#include "service/envelope_publisher.hpp"
#include "service/stream_limits.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace macp::service {

class ServiceEvents final : public kernel::EventSink {
public:
    void on_lifecycle(kernel::Lifecycle event, const kernel::Session& session, int64_t observed_at_ms) override;
    void on_envelope(const macp::v1::Envelope& envelope, uint64_t sequence) override;
    void on_signal(const macp::v1::Envelope& envelope) override;

    // Registry change ticks (WatchPolicies, WatchModeRegistry): the payload is the change time.
    void policies_changed();
    void modes_changed();
    void close_all();

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
    std::mutex feeds_mu_;
    std::unordered_map<std::string, std::shared_ptr<Feed>> feeds_;
    bool closed_ = false;
    EnvelopePublisher publisher_;  // last: destroyed (and drained) first
};

}  // namespace macp::service
