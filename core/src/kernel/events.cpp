#include "kernel/events.hpp"

#include <spdlog/spdlog.h>

namespace macp::kernel {

const char* lifecycle_name(Lifecycle e) {
    switch (e) {
        case Lifecycle::Created: return "created";
        case Lifecycle::Resolved: return "resolved";
        case Lifecycle::Expired: return "expired";
        case Lifecycle::Suspended: return "suspended";
        case Lifecycle::Resumed: return "resumed";
        case Lifecycle::Cancelled: return "cancelled";
    }
    return "?";
}

void LoggingEventSink::on_lifecycle(Lifecycle event, const Session& s, int64_t) {
    spdlog::info("session {} {} (mode {}, initiator {})", s.session_id, lifecycle_name(event), s.mode, s.initiator);
}

}  // namespace macp::kernel
