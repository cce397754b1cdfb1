// State transitions shared by live processing and replay, so a session rebuilt from its log goes
// through exactly the code that accepted it (DESIGN: replay through the same mode code).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "protocol/errors.hpp"
#include "kernel/records.hpp"
#include "kernel/session.hpp"
#include "macp/v1/core.pb.h"
#include "modes/mode.hpp"
#include "util/result.hpp"

namespace macp::kernel {

// The kernel answers with the protocol's errors (protocol/errors.hpp, below kernel and modes).
using protocol::Error;
using protocol::ErrorKind;

// Everything a SessionStart binds, decided once at acceptance and recorded on its log entry.
struct StartBinding {
    std::string mode_version;
    int64_t max_suspend_ms = kDefaultMaxSuspendMs;
    int semantics_rev = kSemanticsRev;
    std::optional<policy::PolicyDefinition> policy;
    std::string policy_version;
    int64_t ttl_expiry_ms = 0;
};

// Decodes and validates a SessionStartPayload for `mode` (SS-2, SS-3, SS-5, SS-6).
Result<macp::v1::SessionStartPayload, Error> parse_session_start(const std::string& payload, const modes::Mode& mode);

// Builds the OPEN session from an accepted SessionStart and runs the mode's start hook (SS-11,
// SS-15). `mode` becomes the session's definition for its whole life (issue #8.3).
Result<Session, Error> build_session(const LogEntry& start, const macp::v1::SessionStartPayload& payload,
                                     const StartBinding& binding, std::shared_ptr<const modes::Mode> mode,
                                     std::string definition_record);

// Mode authorization + validation + application of one in-session message to an OPEN session,
// without touching dedup or activity (the caller commits those after the durable append).
Result<modes::Outcome, Error> evaluate_message(const Session& s, const modes::Mode& mode, const std::string& sender,
                                               const std::string& message_type, const std::string& payload,
                                               int64_t accepted_at_ms);

// Commits an accepted message: dedup slot, participant activity, mode outcome (MSG-5), and the
// state-growth account (`payload_bytes`, counted unless the message resolves the session).
void commit_message(Session& s, const std::string& message_id, const std::string& sender, int64_t accepted_at_ms,
                    size_t payload_bytes, modes::Outcome outcome);

// Applies a runtime-internal entry (TtlExpired, SessionCancel, SessionSuspend, SessionResume).
// Returns false for an unknown internal type.
bool apply_internal(Session& s, const LogEntry& e);

// Resume bookkeeping (RPC-RESUME-3..5, TTL-2): true when the session is OPEN again, false when
// the suspension cap was exceeded and it became EXPIRED.
bool resume(Session& s, int64_t banked_ms);

LogEntry make_internal_entry(const Session& s, const std::string& type, std::string payload, int64_t now_ms);

}  // namespace macp::kernel
