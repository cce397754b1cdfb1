// What the kernel publishes after it has committed something. The service layer implements it
// (WatchSessions, WatchSignals, StreamSession fan-out); the kernel only calls it, never waits on it.
#pragma once

#include <cstdint>

#include "kernel/session.hpp"
#include "macp/v1/envelope.pb.h"

namespace macp::kernel {

enum class Lifecycle { Created, Resolved, Expired, Suspended, Resumed, Cancelled };

class EventSink {
public:
    virtual ~EventSink() = default;
    // Called with the session's state right after the transition, under the session's lock, so
    // events of one session arrive in commit order. Implementations must not block.
    virtual void on_lifecycle(Lifecycle event, const Session& session, int64_t observed_at_ms) = 0;
    // An accepted in-session envelope (sender already bound) with its 1-based sequence in the
    // session, in acceptance order, under the session's lock.
    virtual void on_envelope(const macp::v1::Envelope& envelope, uint64_t sequence) = 0;
    // An accepted ambient Signal or Progress (SIG-4).
    virtual void on_signal(const macp::v1::Envelope& envelope) = 0;
};

// Logs lifecycle transitions; the default sink until streaming is wired.
class LoggingEventSink : public EventSink {
public:
    void on_lifecycle(Lifecycle event, const Session& session, int64_t observed_at_ms) override;
    void on_envelope(const macp::v1::Envelope&, uint64_t) override {}
    void on_signal(const macp::v1::Envelope&) override {}
};

const char* lifecycle_name(Lifecycle e);

}  // namespace macp::kernel
