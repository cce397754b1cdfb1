#include "modes/commitment.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>

namespace macp::modes {

using protocol::Error;
using protocol::ErrorKind;

bool is_blank(const std::string& s) {
    return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c) != 0; });
}

namespace {
bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

bool outcome_consistent(const std::string& action, bool outcome_positive) {
    constexpr std::array<std::string_view, 3> negative{"rejected", "failed", "declined"};
    constexpr std::array<std::string_view, 4> positive{"selected", "accepted", "completed", "approved"};
    for (auto s : negative) {
        if (ends_with(action, s)) return !outcome_positive;
    }
    for (auto s : positive) {
        if (ends_with(action, s)) return outcome_positive;
    }
    return true;
}

Result<macp::v1::CommitmentPayload, Error> validate_commitment(const SessionView& session, const std::string& payload) {
    macp::v1::CommitmentPayload c;
    if (!c.ParseFromString(payload))
        return fail(Error(ErrorKind::InvalidPayload, "commitment does not decode"));  // MODE-CMT-1
    if (is_blank(c.commitment_id()) || is_blank(c.action()) || is_blank(c.authority_scope()) || is_blank(c.reason())) {
        return fail(Error(ErrorKind::InvalidPayload, "commitment fields must be non-blank"));  // MODE-CMT-2
    }
    if (c.mode_version() != session.mode_version || c.configuration_version() != session.configuration_version) {
        return fail(Error(ErrorKind::InvalidPayload, "commitment versions differ from the session's"));  // MODE-CMT-3
    }
    // MODE-CMT-4 (0.6 behaviour, fixes Q-1): empty matches whatever policy the session bound.
    if (!c.policy_version().empty() && c.policy_version() != session.policy_version) {
        return fail(Error(ErrorKind::InvalidPayload, "commitment policy_version differs from the session's"));
    }
    if (c.has_supersedes() && (is_blank(c.supersedes().session_id()) || is_blank(c.supersedes().commitment_hash()))) {
        return fail(Error(ErrorKind::InvalidPayload, "supersedes reference is incomplete"));  // MODE-CMT-5
    }
    if (!outcome_consistent(c.action(), c.outcome_positive())) {
        return fail(Error(ErrorKind::InvalidPayload, "outcome_positive contradicts the action"));  // MODE-CMT-6
    }
    return c;
}

}  // namespace macp::modes
