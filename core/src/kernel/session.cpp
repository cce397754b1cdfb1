#include "kernel/session.hpp"

#include <algorithm>

namespace macp::kernel {

const char* state_name(SessionState s) {
    switch (s) {
        case SessionState::Open: return "Open";
        case SessionState::Resolved: return "Resolved";
        case SessionState::Expired: return "Expired";
        case SessionState::Suspended: return "Suspended";
        case SessionState::Cancelled: return "Cancelled";
    }
    return "Open";
}

std::optional<SessionState> parse_state_name(const std::string& s) {
    if (s == "Open") return SessionState::Open;
    if (s == "Resolved") return SessionState::Resolved;
    if (s == "Expired") return SessionState::Expired;
    if (s == "Suspended") return SessionState::Suspended;
    if (s == "Cancelled") return SessionState::Cancelled;
    return std::nullopt;
}

bool Session::is_participant(const std::string& sender) const {
    return std::find(participants.begin(), participants.end(), sender) != participants.end();
}

Session Session::metadata() const {
    Session m;
    m.session_id = session_id;
    m.mode = mode;
    m.state = state;
    m.ttl_expiry_ms = ttl_expiry_ms;
    m.ttl_ms = ttl_ms;
    m.started_at_ms = started_at_ms;
    m.resolution = resolution;
    m.participants = participants;
    m.intent = intent;
    m.mode_version = mode_version;
    m.configuration_version = configuration_version;
    m.policy_version = policy_version;
    m.context_id = context_id;
    m.extensions = extensions;
    m.roots = roots;
    m.initiator = initiator;
    m.policy = policy;
    m.suspended_at_ms = suspended_at_ms;
    m.accumulated_suspended_ms = accumulated_suspended_ms;
    m.max_suspend_ms = max_suspend_ms;
    m.semantics_rev = semantics_rev;
    m.activity = activity;
    m.log_entries = log_entries;
    m.envelope_seq = envelope_seq;
    m.state_bytes = state_bytes;
    return m;
}

}  // namespace macp::kernel
