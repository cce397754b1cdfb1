// Commitment validation shared by every mode (BEHAVIOR.md §4.1 MODE-CMT-*).
#pragma once

#include <string>

#include "protocol/errors.hpp"
#include "modes/session_view.hpp"
#include "macp/v1/core.pb.h"
#include "util/result.hpp"

namespace macp::modes {

// Decodes and validates a CommitmentPayload against the session's bound versions.
Result<macp::v1::CommitmentPayload, protocol::Error> validate_commitment(const SessionView& session,
                                                                         const std::string& payload);

// MODE-CMT-6/7: the action's suffix fixes outcome_positive.
bool outcome_consistent(const std::string& action, bool outcome_positive);

bool is_blank(const std::string& s);

}  // namespace macp::modes
