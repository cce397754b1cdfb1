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

}  // namespace macp::kernel
